"""Password sources: each one works, each failure says how to fix it, none leaks the secret."""

from __future__ import annotations

import os
import pickle
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard import logs
from mailguard.config import SecretSource
from mailguard.secrets import (
    Secret,
    SecretError,
    resolve,
    resolve_secret,
    run_secret_command,
    write_secret_file,
)

CANARY = "canary-Pa55w0rd-7f3a"


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    logs._redactor.clear()
    yield
    logs._redactor.clear()


def _secret_file(tmp_path: Path, content: str | bytes, mode: int = 0o600) -> Path:
    p = tmp_path / "secret"
    if isinstance(content, str):
        content = content.encode()
    p.write_bytes(content)
    p.chmod(mode)
    return p


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# -- password_env ------------------------------------------------------------------------


def test_env_returns_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_PW", CANARY)
    assert resolve_secret(SecretSource(password_env="MG_TEST_PW"), what="account a") == CANARY


def test_env_missing_names_the_key_not_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # password_env = "<the password>" is the classic mistake: the name is not echoed.
    monkeypatch.delenv("MG_TEST_PW", raising=False)
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_env="MG_TEST_PW"), what="account a")
    assert "password_env" in str(e.value)
    assert "MG_TEST_PW" not in str(e.value)
    assert "not set" in str(e.value)
    assert str(e.value).startswith("account a: ")


def test_env_empty_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_PW", "")
    with pytest.raises(SecretError, match=r"password_env is empty") as e:
        resolve_secret(SecretSource(password_env="MG_TEST_PW"), what="account a")
    assert "MG_TEST_PW" not in str(e.value)


# -- password_file -----------------------------------------------------------------------


def test_file_strips_exactly_one_trailing_newline(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, CANARY + " \n\n")
    assert resolve_secret(SecretSource(password_file=p), what="a") == CANARY + " \n"


def test_file_strips_a_crlf(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, CANARY + "\r\n")
    assert resolve_secret(SecretSource(password_file=p), what="a") == CANARY


def test_file_without_newline(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, CANARY)
    assert resolve_secret(SecretSource(password_file=p), what="a") == CANARY


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_file_readable_by_others_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    p = _secret_file(tmp_path, CANARY, mode)
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_file=p), what="account a")
    msg = str(e.value)
    assert "chmod 600" in msg
    assert "password_file" in msg
    assert str(p) not in msg  # the key is named, its value (maybe a pasted password) is not
    assert f"{mode:04o}" in msg
    assert CANARY not in msg


def test_file_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, CANARY, 0o400)
    assert resolve_secret(SecretSource(password_file=p), what="a") == CANARY


def test_file_missing(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        resolve_secret(SecretSource(password_file=tmp_path / "nope"), what="a")


def test_file_that_is_a_directory(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(SecretError, match="not a regular file"):
        resolve_secret(SecretSource(password_file=d), what="a")


def test_file_empty(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, "\n")
    with pytest.raises(SecretError, match="empty"):
        resolve_secret(SecretSource(password_file=p), what="a")


def test_file_not_utf8_does_not_echo_bytes(tmp_path: Path) -> None:
    p = _secret_file(tmp_path, b"\xff\xfe" + CANARY.encode())
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_file=p), what="a")
    assert "UTF-8" in str(e.value)
    assert CANARY not in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


# -- password_command --------------------------------------------------------------------


def test_command_list_form() -> None:
    src = SecretSource(password_command=_py(f"print({CANARY!r})"))
    assert resolve_secret(src, what="a") == CANARY


def test_command_string_form_is_split_like_a_shell(tmp_path: Path) -> None:
    script = tmp_path / "pw helper.py"
    script.write_text(f"print({CANARY!r})\n")
    cmd = f"{sys.executable} '{script}'"
    assert resolve_secret(SecretSource(password_command=cmd), what="a") == CANARY


def test_command_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    cmd = f"/bin/echo $HOME; touch {marker}"
    out = resolve_secret(SecretSource(password_command=cmd), what="a")
    assert out == f"$HOME; touch {marker}"  # echo got the words literally
    assert not marker.exists()


def test_command_keeps_inner_whitespace_but_strips_line_breaks() -> None:
    src = SecretSource(password_command=_py("print(' a b ', end='\\r\\n\\n')"))
    assert resolve_secret(src, what="a") == " a b "


def test_command_failure_reports_status_not_output() -> None:
    code = (
        "import sys\n"
        f"print({CANARY!r})\n"
        f"print('gpg: decryption failed for ' + {CANARY!r}, file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_command=_py(code)), what="account a")
    msg = str(e.value)
    assert "status 3" in msg
    assert "gpg: decryption failed" not in msg  # stderr may echo the secret: never shown
    assert CANARY not in msg


def test_command_failure_shows_no_stderr_even_unregistered() -> None:
    # A secret mailguard has never seen (so redaction cannot know it) on stderr.
    code = "import sys; print('oops Unregistered-Pw-7731', file=sys.stderr); sys.exit(1)"
    with pytest.raises(SecretError) as e:
        run_secret_command(_py(code), what="a")
    assert "Unregistered-Pw-7731" not in str(e.value)
    assert "oops" not in str(e.value)
    assert "exited with status 1" in str(e.value)


def test_command_errors_do_not_quote_the_command_line() -> None:
    missing = ["/nonexistent/Hunter2-in-argv", "Hunter2-arg"]
    with pytest.raises(SecretError) as e:
        run_secret_command(missing, what="a")
    assert "Hunter2" not in str(e.value)
    assert "password_command" in str(e.value)
    with pytest.raises(SecretError) as e:
        run_secret_command([*_py("import sys; sys.exit(2)"), "Hunter2-arg"], what="a")
    assert "Hunter2" not in str(e.value)


def test_command_timeout_kills_the_whole_group() -> None:
    # The helper leaves a grandchild holding stdout open; a plain kill of the
    # child would leave communicate() waiting for it.
    cmd = ["/bin/sh", "-c", "sleep 60 & sleep 60"]
    with pytest.raises(SecretError, match=r"did not finish within 0\.5s"):
        run_secret_command(cmd, what="a", timeout=0.5)


def test_command_not_found() -> None:
    with pytest.raises(SecretError, match="not found"):
        run_secret_command(["/nonexistent/pw-helper"], what="a")


def test_command_printing_nothing() -> None:
    with pytest.raises(SecretError, match="printed nothing"):
        run_secret_command(_py("pass"), what="a")


def test_command_gets_no_stdin() -> None:
    # A helper that tries to prompt must see EOF, not hang on the daemon's stdin.
    code = "import sys; print('eof' if sys.stdin.read() == '' else 'data')"
    assert run_secret_command(_py(code), what="a") == "eof"


def test_unbalanced_quotes_in_command() -> None:
    with pytest.raises(SecretError, match="cannot be split"):
        run_secret_command("pass show 'mail", what="a")


# -- password_credential -----------------------------------------------------------------


def test_credential_read_from_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alice-imap").write_text(CANARY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    src = SecretSource(password_credential="alice-imap")
    assert resolve_secret(src, what="a") == CANARY


def test_credential_without_credentials_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_credential="alice-imap"), what="a")
    assert "CREDENTIALS_DIRECTORY" in str(e.value)
    assert "LoadCredential=" in str(e.value)


def test_credential_missing_file_says_which_line_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(SecretError) as e:
        resolve_secret(SecretSource(password_credential="alice-imap"), what="a")
    assert "LoadCredential=NAME:" in str(e.value)
    assert "alice-imap" not in str(e.value)


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".."])
def test_credential_name_cannot_escape_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(SecretError, match="not a valid credential name"):
        resolve_secret(SecretSource(password_credential=name), what="a")


# -- Secret and redaction ----------------------------------------------------------------


def test_secret_wrapper_never_prints_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_PW", CANARY)
    s = resolve(SecretSource(password_env="MG_TEST_PW"), what="a")
    assert isinstance(s, Secret)
    shown_forms = (repr(s), str(s), f"{s}", f"{s!r}", "%s" % (s,),  # noqa: UP031
                   repr([s]), repr({"pw": s}))
    for shown in shown_forms:
        assert CANARY not in shown
    assert s.reveal() == CANARY
    assert s == Secret(CANARY)
    assert s != Secret(CANARY + "x")
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        hash(s)


def test_resolved_secret_is_registered_for_log_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_PW", CANARY)
    assert logs.redact(f"login failed for {CANARY}") == f"login failed for {CANARY}"
    resolve_secret(SecretSource(password_env="MG_TEST_PW"), what="a")
    assert logs.redact(f"login failed for {CANARY}") == "login failed for ***"


# -- write_secret_file -------------------------------------------------------------------


def test_write_secret_file_is_private_and_atomic(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "token"
    write_secret_file(target, "first")
    write_secret_file(target, CANARY)
    assert target.read_text() == CANARY + "\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert os.listdir(target.parent) == ["token"]  # no temporary file left behind
    # …and it reads back through the normal, permission-checking path.
    assert resolve_secret(SecretSource(password_file=target), what="a") == CANARY
