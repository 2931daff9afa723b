"""Turn a password *source* from the config into the secret itself, at connect time.

The config only says where a secret lives (:class:`mailguard.config.SecretSource`):

* ``password_env``: an environment variable (for containers and ``EnvironmentFile=``);
* ``password_file``: a file that only its owner may read (``chmod 600``);
* ``password_command``: a program whose standard output is the secret
  (``pass show mail/alice``, ``secret-tool lookup …``), run without a shell;
* ``password_credential``: a systemd credential (``LoadCredential=NAME:PATH`` in
  the unit), read from ``$CREDENTIALS_DIRECTORY/NAME``.

Secrets are resolved again at every connect rather than cached, so a changed
password file takes effect without a restart and the value lives in memory
only for as long as a login takes.

Every error message here names the *key* that says where the secret was
looked for and how to fix it, never the secret and never the key's value (an
environment variable name, a path, a command line: any of them may be the
password pasted into the wrong key): the messages end up in logs, in
``check-config`` output, in the state database and in ``status``. Every
resolved value is registered with :func:`mailguard.logs.register_secret`, so
even an accidental log line that contains it is redacted.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import shlex
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

from mailguard.config import SecretSource
from mailguard.logs import register_secret

__all__ = [
    "COMMAND_TIMEOUT",
    "Secret",
    "SecretError",
    "read_secret_file",
    "resolve",
    "resolve_secret",
    "run_secret_command",
    "write_secret_file",
]

#: How long a ``password_command`` may take. Long enough for a gpg-agent that has
#: to start up; short enough that a hung helper does not stall a poll for long.
COMMAND_TIMEOUT = 20.0
#: No real password or token is this big; a larger file or output is a mistake
#: (the wrong path, a command printing a whole document) and is refused.
MAX_SECRET_BYTES = 64 * 1024


class SecretError(Exception):
    """A secret could not be obtained. The message says how to fix it and never holds the secret."""


class Secret:
    """A secret value that does not print itself.

    ``repr()``, ``str()`` and f-strings give ``***``; only :meth:`reveal`
    returns the value. Pickling is refused so it cannot end up in a cache or
    a queue by accident. Use it to carry a secret through code that might log
    or raise with its arguments.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call this at the last moment, where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def _fail(what: str, problem: str) -> NoReturn:
    # "from None": the underlying error (a UnicodeDecodeError holds the raw bytes)
    # must not be printed as context under our message.
    raise SecretError(f"{what}: {problem}") from None


def _decode(data: bytes, what: str, origin: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        _fail(what, f"{origin} is not valid UTF-8")


def _strip_one_newline(text: str) -> str:
    """Editors add one final newline; anything else may be part of the password."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def read_secret_file(path: Path | str, *, what: str, option: str = "password_file") -> str:
    """Read a secret file that only its owner may read; one trailing newline is removed.

    A group- or world-readable file is refused: on a shared server every
    other user could read the mailbox password, and refusing is the only way
    such a mistake gets noticed.
    """
    p = Path(path).expanduser()
    # The path is named by its key, never quoted: the classic mistake is the
    # password itself pasted into password_file.
    try:
        st = os.stat(p)
    except FileNotFoundError:
        _fail(what, f"the file named by {option} does not exist")
    except PermissionError:
        _fail(what, f"the file named by {option} is not accessible to user id {os.getuid()}")
    except OSError as e:
        _fail(what, f"the file named by {option} cannot be read: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        _fail(what, f"the file named by {option} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o044:
        _fail(
            what,
            f"the file named by {option} is readable by group or others (mode {mode:04o}); "
            "run chmod 600 on it",
        )
    if st.st_size > MAX_SECRET_BYTES:
        _fail(what, f"the file named by {option} is {st.st_size} bytes; not a password file")
    try:
        data = p.read_bytes()
    except PermissionError:
        _fail(what, f"the file named by {option} is not readable by user id {os.getuid()}")
    except OSError as e:
        _fail(what, f"the file named by {option} cannot be read: {e.strerror}")
    value = _strip_one_newline(_decode(data, what, f"the file named by {option}"))
    if not value:
        _fail(what, f"the file named by {option} is empty")
    return value


def _command_argv(command: list[str] | str, what: str, option: str) -> list[str]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as e:
            _fail(what, f"{option} cannot be split into words ({e})")
    else:
        argv = list(command)
    if not argv or not argv[0]:
        _fail(what, f"{option} is empty")
    argv[0] = os.path.expanduser(argv[0])
    return argv


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The helper runs in its own session, so this also ends anything it started
    # (a pinentry, a pipeline) that would otherwise keep the pipes open.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_secret_command(
    command: list[str] | str,
    *,
    what: str,
    option: str = "password_command",
    timeout: float = COMMAND_TIMEOUT,
) -> str:
    """Run a helper without a shell and return its standard output, line breaks stripped.

    A string is split like a shell would (``shlex``), but no shell runs it:
    no globbing, no ``$VAR``, no pipes, so a config value cannot inject
    commands. Standard input is ``/dev/null`` (a daemon has no one to type a
    passphrase). On a non-zero exit or a timeout the error gives the exit
    status only: never stdout, never stderr, never the command line.
    """
    argv = _command_argv(command, what, option)
    # Neither the program nor its arguments are quoted in errors: they are
    # config values, and a password pasted into the command line is the
    # mistake these messages must not spread.
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
        )
    except FileNotFoundError:
        _fail(what, f"the program named in {option} was not found")
    except PermissionError:
        _fail(what, f"the program named in {option} is not executable")
    except OSError as e:
        _fail(what, f"the program named in {option} cannot be run: {e.strerror}")
    try:
        stdout, _stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
        _fail(what, f"{option} did not finish within {timeout:g}s and was killed")
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    if proc.returncode != 0:
        # Only the exit status: a failing helper may print the secret (or its
        # input) on stderr, and this message goes to logs, the state database
        # and ``status``. Run the command by hand to see what it says.
        code = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exited with status {proc.returncode}"
        )
        _fail(what, f"{option} {code} (run it by hand to see its error output)")
    if len(stdout) > MAX_SECRET_BYTES:
        _fail(what, f"{option} printed {len(stdout)} bytes; expected one secret")
    value = _decode(stdout, what, f"the output of {option}").rstrip("\r\n")
    if not value:
        _fail(what, f"{option} printed nothing")
    return value


def _read_env(name: str, what: str) -> str:
    # The variable's name is not quoted: ``password_env = "<the password>"``
    # is the classic mistake, and this message reaches logs and ``status``.
    value = os.environ.get(name)
    if value is None:
        _fail(what, "the environment variable named by password_env is not set")
    if not value:
        _fail(what, "the environment variable named by password_env is empty")
    return value


def _read_credential(name: str, what: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        _fail(what, "password_credential is not a valid credential name")
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        _fail(
            what,
            "password_credential needs systemd's LoadCredential=, but "
            "$CREDENTIALS_DIRECTORY is not set (not running under the service? "
            "try: systemd-run -P -p LoadCredential=NAME:/path/to/secret mailguard …, "
            "or use password_file for interactive runs)",
        )
    path = Path(directory) / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        _fail(
            what,
            "the credential named by password_credential is not in $CREDENTIALS_DIRECTORY; "
            "add LoadCredential=NAME:/etc/mailguard/credentials/NAME to the unit",
        )
    except OSError as e:
        _fail(what, f"the credential named by password_credential cannot be read: {e.strerror}")
    if len(data) > MAX_SECRET_BYTES:
        _fail(what, f"the credential named by password_credential is {len(data)} bytes; too big")
    # No permission check: systemd makes the credential readable by this service only.
    value = _strip_one_newline(_decode(data, what, "the credential named by password_credential"))
    if not value:
        _fail(what, "the credential named by password_credential is empty")
    return value


def resolve(source: SecretSource, *, what: str, timeout: float = COMMAND_TIMEOUT) -> Secret:
    """Like :func:`resolve_secret`, but wrapped in a :class:`Secret` that prints as ``***``."""
    if source.password_env:
        value = _read_env(source.password_env, what)
    elif source.password_file is not None and str(source.password_file):
        value = read_secret_file(source.password_file, what=what)
    elif source.password_command:
        value = run_secret_command(source.password_command, what=what, timeout=timeout)
    elif source.password_credential:
        value = _read_credential(source.password_credential, what)
    else:
        _fail(
            what,
            "no password source is configured (password_env, password_file, "
            "password_command or password_credential)",
        )
    register_secret(value)
    return Secret(value)


def resolve_secret(source: SecretSource, *, what: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Return the secret that ``source`` points to; raise :class:`SecretError` if it cannot.

    ``what`` names the secret's owner in error messages, e.g. ``"account
    alice"``. The value is registered for log redaction before it is returned.
    """
    return resolve(source, what=what, timeout=timeout).reveal()


def write_secret_file(path: Path | str, value: str) -> None:
    """Atomically write ``value`` to ``path`` with mode 0600 (directory created 0700).

    The temporary file is created 0600 from the start, so the secret is never
    readable by others, not even for a moment; ``os.replace`` makes readers see
    either the old or the new secret, never half of one.
    """
    p = Path(path).expanduser()
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
