"""Logging: one setup function, one helper for structured events, and secret redaction.

Every component logs through :func:`log_event` with a stable event name (see
``docs/DESIGN.md``) and keyword fields, so an operator can grep or query
``event=message.quarantined account=alice`` for months without the wording of
a message mattering. Two line formats exist:

* ``text`` (default) for people: ``2025-01-02T08:00:00+09:00 INFO poll.done
  account=alice scanned=3``. When stderr is connected to journald
  (``$JOURNAL_STREAM``), the timestamp is dropped (the journal has its own) and
  a ``<N>`` syslog priority prefix is added so ``journalctl -p warning`` works.
* ``json``: one JSON object per line with ``ts``, ``level``, ``event``,
  ``message``, ``logger`` and the event's fields at top level.

Secrets must never reach a log line, even by accident (an exception message
that quotes a server reply, a debug dump of an IMAP exchange). Code that
obtains a secret registers it with :func:`register_secret`; the handler that
:func:`setup_logging` installs then replaces every registered value, and its
common encodings, with ``***`` in the message, the fields, and the traceback,
and the formatters redact their finished output once more. This is a second
line of defence: the first is not logging secrets at all.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import traceback
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Literal

__all__ = [
    "EVENTS",
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "WireFilter",
    "forget_secret",
    "log_event",
    "redact",
    "register_secret",
    "setup_logging",
    "summarize_wire",
]

REDACTED = "***"

#: Event names with a documented meaning. Others are allowed (the format is
#: checked, not membership), but dashboards and alerts should only rely on these.
EVENTS: frozenset[str] = frozenset(
    {
        # docs/DESIGN.md
        "poll.start",
        "poll.done",
        "message.scanned",
        "message.quarantined",
        "message.suspicious",
        "message.skipped",
        "message.released",
        "move.intent",
        "move.confirmed",
        "move.reconciled",
        "digest.sent",
        "digest.failed",
        "account.error",
        "daemon.start",
        "daemon.stop",
        # added by logs / oauth2 / notify
        "daemon.crash",
        "oauth2.refreshed",
        "oauth2.refresh_token_rotated",
        "oauth2.error",
        "notify.error",
    }
)

_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+$")
#: Keys that every JSON line owns; a field with one of these names gets a ``_`` suffix.
_RESERVED = frozenset({"ts", "level", "event", "message", "logger", "exc", "stack"})
_DEFAULT_EVENT = "log"
_OURS = "_mailguard_handler"

# ---------------------------------------------------------------------------------------
# redaction
# ---------------------------------------------------------------------------------------

#: Values shorter than this are not redacted: replacing every "a" in a log would
#: make it unreadable and protect nothing. Real passwords and tokens are longer.
MIN_SECRET_LENGTH = 4
#: Long-lived secrets (passwords, refresh tokens) kept for redaction; in practice
#: one or two per account, so the cap only guards against a pathological caller.
_MAX_PERSISTENT = 1024
#: Short-lived secrets (access tokens, device codes) kept; the oldest are dropped
#: first, which is safe because an expired access token is worthless.
_MAX_EPHEMERAL = 128


def _variants(value: str) -> set[str]:
    """The secret as it may appear once escaped by repr(), JSON, a URL form or IMAP quoting."""
    out = {value}
    out.add(json.dumps(value)[1:-1])
    out.add(json.dumps(value, ensure_ascii=False)[1:-1])
    out.add(repr(value)[1:-1])
    out.add(repr(value.encode("utf-8", "backslashreplace"))[2:-1])
    out.add(urllib.parse.quote(value, safe=""))
    out.add(urllib.parse.quote_plus(value, safe=""))
    return {v for v in out if len(v) >= MIN_SECRET_LENGTH}


class _Redactor:
    """Registered secret values and the snapshot of strings to replace (longest first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._persistent: OrderedDict[str, None] = OrderedDict()
        self._ephemeral: OrderedDict[str, None] = OrderedDict()
        self._needles: tuple[str, ...] = ()

    def register(self, value: str, *, ephemeral: bool) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if ephemeral:
                table, cap = self._ephemeral, _MAX_EPHEMERAL
            else:
                table, cap = self._persistent, _MAX_PERSISTENT
            if value in table:
                table.move_to_end(value)
                return
            table[value] = None
            while len(table) > cap:
                table.popitem(last=False)
            self._rebuild()

    def forget(self, value: str) -> None:
        with self._lock:
            self._persistent.pop(value, None)
            self._ephemeral.pop(value, None)
            self._rebuild()

    def clear(self) -> None:
        with self._lock:
            self._persistent.clear()
            self._ephemeral.clear()
            self._rebuild()

    def _rebuild(self) -> None:
        needles: set[str] = set()
        for v in (*self._persistent, *self._ephemeral):
            needles |= _variants(v)
        # Longest first, so a secret that contains another is replaced whole.
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    def redact(self, text: str) -> str:
        needles = self._needles  # an immutable snapshot; no lock needed to read it
        if not needles or not text:
            return text
        for n in needles:
            if n in text:
                text = text.replace(n, REDACTED)
        return text


_redactor = _Redactor()


def register_secret(value: str, *, ephemeral: bool = False) -> None:
    """Make every later log line replace ``value`` (and its escaped forms) with ``***``.

    Call it for everything secret the moment it is obtained. ``ephemeral=True``
    is for values that expire on their own (OAuth2 access tokens, device
    codes): only the newest of those are kept, so hourly tokens over months do
    not grow the list without bound.
    """
    _redactor.register(value, ephemeral=ephemeral)


def forget_secret(value: str) -> None:
    """Stop redacting ``value`` (mainly for tests)."""
    _redactor.forget(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return _redactor.redact(text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is rendered now, so a secret inside its str() is caught too.
    return redact(str(value))


def _format_exception(exc_info: Any) -> str:
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


class RedactingFilter(logging.Filter):
    """Handler filter that freezes a record's message and removes registered secrets.

    It is attached to the *handler* (logger filters do not see records
    propagated from child loggers). It renders ``msg % args`` and the
    traceback now, redacts them, and stores the results back on the record, so
    any formatter after it only sees redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not lose the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _format_exception(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = getattr(record, "mg_fields", None)
        if isinstance(fields, Mapping):
            record.mg_fields = {k: _redact_value(v) for k, v in fields.items()}
        return True


# ---------------------------------------------------------------------------------------
# IMAP wire logging
# ---------------------------------------------------------------------------------------

#: Loggers that carry the IMAP exchange: imapclient's command log and the
#: imaplib protocol dump it redirects (at DEBUG, every line both ways,
#: including the FETCHed messages and the APPENDed digest).
_WIRE_LOGGERS = ("imapclient",)
_WIRE_TOKEN = re.compile(r"^[A-Za-z0-9*+.\-\[\]]{1,40}$")
_WIRE_DIRECTION = re.compile(r"^\s*(\(literal\)\s*)?([<>])\s?")
_WIRE_BYTES_REPR = re.compile(r"^b(['\"])(.*)\1$", re.S)
_WIRE_UNTAGGED = re.compile(r"^(untagged_responses\[[A-Za-z0-9-]{1,40}\])")
_WIRE_SAFE = re.compile(r"^(read literal size \d+|[A-Za-z][A-Za-z0-9 ,.:;/'()-]{0,80})$")


def summarize_wire(message: str) -> str:
    """One IMAP protocol log line reduced to its command (tag, verb) and its size.

    What mail people receive (bodies, subjects, addresses in ENVELOPE or
    SEARCH) and the digests we APPEND must not land in a DEBUG log: a log is
    copied into bug reports and kept for months. The tag and the command
    words say what happened; the byte count says how much. ``--log-wire``
    turns this off for protocol debugging.
    """
    m = _WIRE_DIRECTION.match(message)
    if m:
        literal, direction = m.group(1), m.group(2)
        rest = message[m.end() :]
        inner = _WIRE_BYTES_REPR.match(rest.strip())
        payload = inner.group(2) if inner else rest
        if literal:
            return f"(literal) {direction} [{len(payload)} bytes]"
        words: list[str] = []
        for token in payload.split()[:3]:
            if not _WIRE_TOKEN.match(token):
                break
            words.append(token)
        return f"{direction} {' '.join(words)} [{len(payload)} bytes]".replace("  ", " ")
    u = _WIRE_UNTAGGED.match(message)
    if u:
        return f"{u.group(1)} [{len(message)} bytes]"
    if _WIRE_SAFE.match(message):
        return message
    return f"[imap protocol detail, {len(message)} bytes; --log-wire shows it]"


class WireFilter(logging.Filter):
    """Handler filter: IMAP protocol log lines show commands and sizes, not content."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_WIRE_LOGGERS):
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = summarize_wire(message)
        record.args = None
        return True


# ---------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def _escape(text: str) -> str:
    """Neutralise line breaks and control characters.

    Subjects and sender names come from attackers; a newline in one must not
    forge a second log line in the text format.
    """
    return text.translate(_CONTROL)


def _text_value(value: Any) -> str:
    s = _escape(str(value))
    if s == "" or any(c in s for c in ' ="'):
        s = '"' + s.replace('"', '\\"') + '"'
    return s


def _record_event(record: logging.LogRecord) -> str:
    event = getattr(record, "mg_event", None)
    return event if isinstance(event, str) else _DEFAULT_EVENT


def _record_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "mg_fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        return str(record.msg)


def _exc_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = _format_exception(record.exc_info)
    return record.exc_text or None


_SYSLOG_PRIORITY = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def _syslog_priority(levelno: int) -> int:
    for threshold, prio in _SYSLOG_PRIORITY:
        if levelno >= threshold:
            return prio
    return 7


class TextFormatter(logging.Formatter):
    """``TIME LEVEL event message key=value …``; for journald ``<N>event message …``."""

    def __init__(self, *, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        event = _record_event(record)
        parts: list[str] = []
        if self.journal:
            parts.append(f"<{_syslog_priority(record.levelno)}>{event}")
        else:
            ts = datetime.fromtimestamp(record.created).astimezone()
            parts.append(ts.isoformat(timespec="seconds"))
            parts.append(record.levelname)
            parts.append(event if event != _DEFAULT_EVENT else record.name)
        message = _message(record)
        if message and message != event:
            parts.append(_escape(message))
        parts.extend(f"{k}={_text_value(v)}" for k, v in _record_fields(record).items())
        line = " ".join(parts)
        exc = _exc_text(record)
        if exc:
            line += "\n" + exc
        if record.stack_info:
            line += "\n" + record.stack_info
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields at top level, UTC timestamps with milliseconds."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        obj: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "event": _record_event(record),
            "message": _message(record),
            "logger": record.name,
        }
        for k, v in _record_fields(record).items():
            obj[k] = v
        exc = _exc_text(record)
        if exc:
            obj["exc"] = exc
        if record.stack_info:
            obj["stack"] = record.stack_info
        line = json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
        return redact(line)


# ---------------------------------------------------------------------------------------
# the helper everything uses
# ---------------------------------------------------------------------------------------

_DEFAULT_MESSAGES = {
    "poll.start": "polling started",
    "poll.done": "polling finished",
    "message.quarantined": "message moved to quarantine",
    "message.released": "message released from quarantine",
    "digest.sent": "digest sent",
    "digest.failed": "digest could not be sent",
    "account.error": "account could not be scanned",
    "daemon.start": "daemon started",
    "daemon.stop": "daemon stopped",
}


def log_event(
    logger: logging.Logger,
    event: str,
    /,
    level: int = logging.INFO,
    message: str | None = None,
    *,
    exc_info: Any = None,
    **fields: Any,
) -> None:
    """Log one structured event: a stable ``event`` name plus keyword ``fields``.

    ``message`` is optional free text for people; without it a short default
    is used. Field names that clash with the line's own keys (``ts``,
    ``event``, ``logger``, ``exc``, ``stack``) get a trailing ``_``; ``level``
    and ``message`` are this function's own arguments. The event name is
    checked for shape (``area.what``) but a malformed one is logged anyway,
    with a ``bad_event`` flag: logging must never raise in the middle of
    moving someone's mail.
    """
    if not logger.isEnabledFor(level):
        return
    clean: dict[str, Any] = {}
    if not isinstance(event, str) or not _EVENT_RE.match(event):
        clean["bad_event"] = True
        event = str(event)
    for k, v in fields.items():
        clean[f"{k}_" if k in _RESERVED else k] = v
    if message is None:
        message = _DEFAULT_MESSAGES.get(event, event)
    logger.log(
        level,
        "%s",
        message,
        exc_info=exc_info,
        extra={"mg_event": event, "mg_fields": clean},
        stacklevel=2,
    )


# ---------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------


def _is_journal_stream(stream: IO[str]) -> bool:
    """True when ``stream`` is the journald socket systemd connected us to.

    ``$JOURNAL_STREAM`` holds ``DEVICE:INODE`` of that socket; comparing it with
    the stream's fd tells a redirected stderr (``2>file``) from the journal.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def _install_excepthooks() -> None:
    """Send uncaught exceptions through logging, so their tracebacks are redacted too."""
    crash_log = logging.getLogger("mailguard")

    def hook(
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log_event(
            crash_log,
            "daemon.crash",
            logging.CRITICAL,
            f"uncaught {exc_type.__name__}",
            exc_info=(exc_type, exc, tb),
        )

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        log_event(
            crash_log,
            "daemon.crash",
            logging.CRITICAL,
            f"uncaught {args.exc_type.__name__} in thread "
            f"{args.thread.name if args.thread else '?'}",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook


def setup_logging(
    level: str | int = "INFO",
    fmt: Literal["text", "json"] = "text",
    stream: IO[str] | None = None,
    *,
    journal: bool | None = None,
    capture_uncaught: bool = True,
    wire: bool = False,
) -> logging.Handler:
    """Configure the root logger once; calling it again replaces our handler, not others'.

    Unless ``wire`` is true (``--log-wire``), IMAP protocol lines are reduced
    to command and size by :class:`WireFilter` before anything else sees them.

    ``journal=None`` detects journald from ``$JOURNAL_STREAM``. With
    ``capture_uncaught`` (the default) uncaught exceptions in any thread are
    logged as ``daemon.crash`` through the same redacting handler instead of
    being printed raw by Python.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    out = stream if stream is not None else sys.stderr
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _OURS, False):
            root.removeHandler(h)
            h.close()
    handler: logging.Handler = logging.StreamHandler(out)
    setattr(handler, _OURS, True)
    if not wire:
        handler.addFilter(WireFilter())
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        use_journal = _is_journal_stream(out) if journal is None else journal
        handler.setFormatter(TextFormatter(journal=use_journal))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # APScheduler logs three INFO lines per job run ("Running job", "executed
    # successfully", ...); poll.start/poll.done already say it. Keep its warnings.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    if capture_uncaught:
        _install_excepthooks()
    return handler
