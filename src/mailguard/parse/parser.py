"""``parse_message``: raw RFC 5322 bytes to an immutable :class:`ParsedMessage`.

It never raises. Mail is hostile input, and a scam that crashes the parser
must still be quarantined, so every stage records what went wrong in
``defects`` and carries on with what it has; a last-resort handler returns a
mostly empty model rather than an exception.

MIME splitting produces stdlib ``email`` compat32 ``Message`` objects (several
times faster than ``policy.default``, and the stdlib still does parameter and
RFC 2231 parsing). They come from our own splitter (``split.py``, ~3x faster
than the stdlib feed parser and checked against it), with the feed parser as
the fallback. Decoding (charsets, encoded words, transfer encodings) is ours.
"""

from __future__ import annotations

import email
from email import policy
from email.message import Message

from mailguard.parse.headers import (
    decode_header,
    decode_opaque,
    parse_addresses,
    parse_auth_results,
    parse_date,
    parse_message_id,
    parse_return_path,
)
from mailguard.parse.mime import walk_message
from mailguard.parse.model import Address, AuthResults, ParsedMessage
from mailguard.parse.split import split_message

DEFAULT_MAX_MESSAGE_SIZE = 2 * 1024 * 1024
DEFAULT_MAX_PART_SIZE = 512 * 1024
MAX_HEADERS = 500
MAX_DEFECTS = 64
MAX_SPLIT_PARTS = 1000
# Machine-written headers (anti-spam blobs, signatures, trace) never hold
# encoded words meant for people, but often hold "=?" by accident; decoding
# them was a third of all header time.
_OPAQUE = (
    "x-microsoft-antispam",
    "x-ms-exchange-",
    "x-forefront-antispam",
    "x-sg-",
    "dkim-signature",
    "x-google-dkim-signature",
    "domainkey-signature",
    "arc-",
    "received",
    "x-received",
)


def parse_message(
    raw: bytes,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_part_size: int = DEFAULT_MAX_PART_SIZE,
) -> ParsedMessage:
    """Parse ``raw`` into a :class:`ParsedMessage`; never raises.

    Only the first ``max_message_size`` bytes are parsed (``truncated`` is then
    True); each part's decoded text is capped at ``max_part_size`` characters.
    """
    try:
        data = _as_bytes(raw)
    except Exception:
        data = b""
    try:
        return _parse(data, max(0, int(max_message_size)), max(0, int(max_part_size)))
    except Exception as exc:
        defect = f"parse:error:{type(exc).__name__}"
        try:
            truncated = len(data) > int(max_message_size)
        except Exception:
            truncated = False
        return _empty(len(data), truncated, [defect])


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _empty(raw_size: int, truncated: bool, defects: list[str]) -> ParsedMessage:
    return ParsedMessage(
        raw_size=raw_size,
        truncated=truncated,
        message_id="",
        subject="",
        date=None,
        from_=None,
        reply_to=(),
        sender=None,
        return_path="",
        to=(),
        auth=AuthResults(),
        list_id="",
        list_unsubscribe="",
        headers={},
        text_parts=(),
        html_text="",
        links=(),
        attachments=(),
        defects=tuple(defects),
    )


def _split(data: bytes, defects: list[str]) -> Message:
    """Our fast splitter; the stdlib feed parser if it fails on something; then a lenient retry.

    The stdlib parser recurses once per nesting level, so a deep multipart
    that our splitter hands over (it does for odd line breaks such as a
    vertical tab in a header) ends in ``RecursionError``. An empty message
    would then be classified clean, so the last resort normalises the line
    breaks our splitter refuses and splits again, iteratively.
    """
    try:
        return split_message(data, max_parts=MAX_SPLIT_PARTS)
    except Exception:
        pass
    if data.lower().count(b"multipart/") > _STDLIB_MAX_MULTIPARTS:
        # Every line passes through one feed-parser generator per level: a
        # few hundred levels of a 2 MB message cost seconds before failing.
        defects.append("parse:stdlib-skipped:deep")
    else:
        try:
            return email.message_from_bytes(data, policy=policy.compat32)
        except Exception as exc:  # RecursionError on deep nesting, or worse
            defects.append(f"parse:stdlib-failed:{type(exc).__name__}")
    lenient = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").translate(_ODD_BREAKS)
    return split_message(lenient, max_parts=MAX_SPLIT_PARTS)


# More multiparts than this and the stdlib parser is not tried (see _split).
_STDLIB_MAX_MULTIPARTS = 64
# Characters str.splitlines treats as line breaks but RFC 5322 does not.
_ODD_BREAKS = bytes.maketrans(b"\x0b\x0c\x1c\x1d\x1e", b"     ")


def _raw_headers(msg: Message) -> tuple[dict[str, str], list[str], list[str]]:
    """First raw value of each header, plus every Authentication-Results / Received-SPF."""
    first: dict[str, str] = {}
    auth: list[str] = []
    received_spf: list[str] = []
    for i, (name, value) in enumerate(msg.raw_items()):
        if i >= MAX_HEADERS:
            break
        key = str(name).strip().lower()
        value = value if isinstance(value, str) else str(value)
        if key not in first:
            first[key] = value
        if key == "authentication-results":
            auth.append(value)
        elif key == "received-spf":
            received_spf.append(value)
    return first, auth, received_spf


def _first_address(value: str | None) -> Address | None:
    if not value:
        return None
    found = parse_addresses(value, limit=1)
    return found[0] if found else None


def _parse(raw: bytes, max_message_size: int, max_part_size: int) -> ParsedMessage:
    defects: list[str] = []
    truncated = len(raw) > max_message_size
    data = raw[:max_message_size] if truncated else raw
    if truncated:
        defects.append("truncated:message")
    msg = _split(data, defects)

    raw_first, auth_values, received_spf = _raw_headers(msg)
    headers: dict[str, str] = {}
    for key, value in raw_first.items():
        try:
            opaque = key.startswith(_OPAQUE)
            headers[key] = decode_opaque(value) if opaque else decode_header(value)
        except Exception as exc:
            headers[key] = ""
            defects.append(f"header:error:{type(exc).__name__}")

    mime = walk_message(msg, max_part_size=max_part_size)
    defects.extend(mime.defects)

    return ParsedMessage(
        raw_size=len(raw),
        truncated=truncated,
        message_id=parse_message_id(raw_first.get("message-id", "")),
        subject=headers.get("subject", ""),
        date=parse_date(raw_first.get("date", "")),
        from_=_first_address(raw_first.get("from")),
        reply_to=parse_addresses(raw_first.get("reply-to", "")),
        sender=_first_address(raw_first.get("sender")),
        return_path=parse_return_path(raw_first.get("return-path", "")),
        to=parse_addresses(raw_first.get("to", "")),
        auth=parse_auth_results(auth_values, received_spf),
        list_id=headers.get("list-id", ""),
        list_unsubscribe=headers.get("list-unsubscribe", ""),
        headers=headers,
        text_parts=tuple(mime.text_parts),
        html_text="\n".join(t for t in mime.html_texts if t),
        links=tuple(mime.links),
        attachments=tuple(mime.attachments),
        defects=_dedupe(defects),
    )


def _dedupe(defects: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for d in defects:
        seen.setdefault(d[:80], None)
        if len(seen) >= MAX_DEFECTS:
            break
    return tuple(seen)
