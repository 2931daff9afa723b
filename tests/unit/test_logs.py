"""Log lines: JSON that parses, stable event names with fields, and no secret ever."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard import logs
from mailguard.logs import log_event, register_secret, setup_logging

CANARY = "canary-S3cr3t-q9Zx"


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Leave the root logger, the excepthooks and the redactor as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    logs._redactor.clear()
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
    logs._redactor.clear()


def _setup(fmt: str, level: str = "DEBUG") -> io.StringIO:
    stream = io.StringIO()
    setup_logging(level=level, fmt=fmt, stream=stream)  # type: ignore[arg-type]
    return stream


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


log = logging.getLogger("mailguard.test")


# -- JSON --------------------------------------------------------------------------------


def test_json_lines_parse_and_carry_event_and_fields() -> None:
    stream = _setup("json")
    log_event(log, "poll.start", account="alice")
    log_event(log, "message.quarantined", account="alice", folder="INBOX", uid=42,
              score=9.5, category="withdrawal")
    log_event(log, "account.error", logging.ERROR, "login refused", account="bob")
    lines = _json_lines(stream)
    assert [x["event"] for x in lines] == ["poll.start", "message.quarantined", "account.error"]
    q = lines[1]
    assert q["account"] == "alice" and q["folder"] == "INBOX" and q["uid"] == 42
    assert q["score"] == 9.5 and q["category"] == "withdrawal"
    assert q["level"] == "INFO" and q["logger"] == "mailguard.test"
    assert isinstance(q["message"], str) and q["message"]
    assert str(q["ts"]).endswith("Z")
    assert lines[2]["level"] == "ERROR" and lines[2]["message"] == "login refused"


def test_json_plain_logger_calls_get_a_generic_event() -> None:
    stream = _setup("json")
    logging.getLogger("imapclient").warning("server said %s", "BYE")
    (line,) = _json_lines(stream)
    assert line["event"] == "log"
    assert line["message"] == "server said BYE"


def test_json_reserved_field_names_do_not_overwrite_the_line() -> None:
    stream = _setup("json")
    log_event(log, "poll.done", ts="x", event="y", logger="z", exc="w")
    (line,) = _json_lines(stream)
    assert line["event"] == "poll.done" and line["logger"] == "mailguard.test"
    assert line["ts_"] == "x" and line["event_"] == "y" and line["logger_"] == "z"
    assert line["exc_"] == "w" and "exc" not in line


def test_json_non_serialisable_field_values_are_rendered() -> None:
    stream = _setup("json")
    log_event(log, "digest.sent", path=Path("/var/lib/mailguard/state.db"), items={1, 2} and 2)
    (line,) = _json_lines(stream)
    assert line["path"] == "/var/lib/mailguard/state.db"


def test_malformed_event_name_is_logged_and_flagged() -> None:
    stream = _setup("json")
    log_event(log, "Poll Done!", account="alice")
    (line,) = _json_lines(stream)
    assert line["bad_event"] is True and line["account"] == "alice"


def test_json_exception_is_one_line_with_traceback_field() -> None:
    stream = _setup("json")
    try:
        raise ValueError("boom")
    except ValueError:
        log_event(log, "account.error", logging.ERROR, exc_info=True, account="a")
    (line,) = _json_lines(stream)
    assert "ValueError: boom" in str(line["exc"])
    assert "Traceback" in str(line["exc"])


def test_level_filters_events() -> None:
    stream = _setup("json", level="WARNING")
    log_event(log, "poll.start", account="a")
    log_event(log, "account.error", logging.ERROR, account="a")
    assert [x["event"] for x in _json_lines(stream)] == ["account.error"]


# -- text --------------------------------------------------------------------------------


def test_text_line_has_event_and_key_values() -> None:
    stream = _setup("text")
    log_event(log, "message.quarantined", account="alice", folder="Inbox old", uid=7)
    line = stream.getvalue().strip()
    assert " INFO message.quarantined " in line
    assert "account=alice" in line and 'folder="Inbox old"' in line and "uid=7" in line


def test_text_attacker_newlines_cannot_forge_a_log_line() -> None:
    stream = _setup("text")
    subject = "Invoice\n2025-01-01T00:00:00+09:00 INFO message.released account=alice"
    log_event(log, "message.suspicious", account="alice", subject=subject)
    log.info("subject was %s", subject)
    out = stream.getvalue()
    assert len(out.splitlines()) == 2
    assert "\\n2025-01-01" in out


def test_journal_mode_has_syslog_priority_and_no_timestamp() -> None:
    stream = io.StringIO()
    setup_logging(level="INFO", fmt="text", stream=stream, journal=True)
    log_event(log, "account.error", logging.WARNING, account="a")
    log_event(log, "poll.done", account="a")
    first, second = stream.getvalue().splitlines()
    assert first.startswith("<4>account.error ")
    assert second.startswith("<6>poll.done ")


def test_journal_detected_from_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "journal-standin"
    with target.open("w") as f:
        st = target.stat()
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        setup_logging(level="INFO", fmt="text", stream=f)
        log_event(log, "poll.start", account="a")
    assert target.read_text().startswith("<6>poll.start")


def test_setup_twice_keeps_one_handler() -> None:
    setup_logging(fmt="text", stream=io.StringIO())
    stream = _setup("json")
    ours = [h for h in logging.getLogger().handlers if getattr(h, logs._OURS, False)]
    assert len(ours) == 1
    log_event(log, "poll.start")
    assert len(_json_lines(stream)) == 1


# -- redaction ---------------------------------------------------------------------------


def _leaky_calls() -> None:
    """Every way a secret could slip into a log line."""
    log.info("password is %s", CANARY)
    log.info(f"password is {CANARY}")
    log_event(log, "account.error", logging.ERROR, account="a", error=f"LOGIN {CANARY} failed")
    log_event(log, "account.error", logging.ERROR, account="a", detail={"pw": CANARY})
    log.debug("> %r", b'A001 LOGIN alice "' + CANARY.encode() + b'"')
    try:
        raise RuntimeError(f"server rejected {CANARY!r}")
    except RuntimeError:
        log.exception("login failed")
    try:
        try:
            raise KeyError(CANARY)
        except KeyError as inner:
            raise ValueError("wrapped") from inner
    except ValueError:
        log_event(log, "account.error", logging.ERROR, exc_info=True, account="a")
    log.info("stack", stack_info=True, extra={"note": CANARY})


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_registered_canary_never_appears(fmt: str) -> None:
    stream = _setup(fmt)
    register_secret(CANARY)
    _leaky_calls()
    out = stream.getvalue()
    assert CANARY not in out
    assert "***" in out
    assert "Traceback" in out  # the tracebacks were logged, only redacted
    if fmt == "json":
        assert len(_json_lines(stream)) == 8


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_escaped_forms_of_a_secret_are_redacted(fmt: str) -> None:
    secret = 'pa"ss\\wörd+/=&x'
    stream = _setup(fmt)
    register_secret(secret)
    import urllib.parse

    log.info("repr %r", secret)
    log.info("json %s", json.dumps({"pw": secret}))
    log.info("form refresh_token=%s", urllib.parse.quote_plus(secret))
    log_event(log, "poll.done", pw=secret)
    out = stream.getvalue()
    for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
                 urllib.parse.quote_plus(secret)):
        assert form not in out


def test_uncaught_exception_in_a_thread_is_logged_redacted() -> None:
    stream = _setup("json")
    register_secret(CANARY)

    def work() -> None:
        raise RuntimeError(f"token {CANARY} rejected")

    t = threading.Thread(target=work, name="poller")
    t.start()
    t.join()
    (line,) = _json_lines(stream)
    assert line["event"] == "daemon.crash" and line["level"] == "CRITICAL"
    assert "RuntimeError" in str(line["exc"])
    assert CANARY not in stream.getvalue()


def test_uncaught_exception_in_main_goes_through_logging() -> None:
    stream = _setup("text")
    register_secret(CANARY)
    try:
        raise OSError(f"cannot log in with {CANARY}")
    except OSError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    out = stream.getvalue()
    assert "daemon.crash" in out and "OSError" in out
    assert CANARY not in out


def test_short_values_are_not_redacted() -> None:
    # Redacting "abc" everywhere would shred the log and protect nothing.
    register_secret("abc")
    assert logs.redact("abc abcdef") == "abc abcdef"


def test_ephemeral_secrets_are_bounded_but_persistent_ones_stay() -> None:
    register_secret("persistent-password")
    for i in range(logs._MAX_EPHEMERAL + 10):
        register_secret(f"access-token-{i:04d}", ephemeral=True)
    assert logs.redact("persistent-password") == "***"
    assert logs.redact("access-token-0000") == "access-token-0000"  # expired long ago
    assert logs.redact(f"access-token-{logs._MAX_EPHEMERAL + 9:04d}") == "***"


def test_longer_secret_containing_a_shorter_one_is_redacted_whole() -> None:
    register_secret("hunter22")
    register_secret("hunter22-and-more")
    assert logs.redact("x hunter22-and-more y") == "x *** y"
