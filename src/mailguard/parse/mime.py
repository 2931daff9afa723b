"""Walk the MIME tree: decode every text part, describe every attachment.

We walk iteratively with a part-count limit (a recursive walk dies on a
hostile 10,000-deep multipart; nesting past ``MAX_DEPTH`` is flattened and
reported, not dropped), undo the transfer encoding ourselves (the
stdlib silently returns raw base64 when the Content-Transfer-Encoding header
has stray whitespace or odd case) and hand bytes to our own charset logic.
Each part is processed in its own try block so that one broken part does not
cost us the rest of the message.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.message import Message

from mailguard.parse.b64 import decode_lenient
from mailguard.parse.charset import decode_bytes
from mailguard.parse.extract import PDF_TIME_BUDGET_S, calendar_text, pdf_clock, pdf_text
from mailguard.parse.headers import decode_header
from mailguard.parse.html import html_to_text
from mailguard.parse.model import Attachment, Link, TextPart
from mailguard.parse.split import NestingLimitDefect

MAX_DEPTH = 32
MAX_PARTS = 500
MAX_CONTAINERS = 5000
MAX_LINKS = 1000
MAX_PDFS = 5  # PDFs whose text is read per message
PDF_MESSAGE_BUDGET_S = 1.0  # CPU seconds (extract.pdf_clock) for all of a message's PDFs


@dataclass
class MimeResult:
    text_parts: list[TextPart] = field(default_factory=list)
    html_texts: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    # One message may carry hundreds of hostile PDFs: the per-PDF budgets of
    # extract.py are shared out from one per-message budget.
    pdfs_read: int = 0
    pdf_seconds_left: float = PDF_MESSAGE_BUDGET_S


def _raw_payload(part: Message) -> bytes:
    """The still transfer-encoded body bytes, with 8-bit bytes restored."""
    # Private, but get_payload() would lossily decode 8-bit text with the declared charset.
    payload = part._payload  # type: ignore[attr-defined]
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def decode_base64(data: bytes) -> tuple[bytes, bool]:
    """Lenient base64 (:mod:`mailguard.parse.b64`). Returns (bytes, was_clean)."""
    return decode_lenient(data) or (b"", False)


def transfer_decode(part: Message, defects: list[str], headers: Message | None = None) -> bytes:
    """Undo Content-Transfer-Encoding (base64, quoted-printable, uuencode)."""
    raw = _raw_payload(part)
    source = part if headers is None else headers
    cte = str(source.get("content-transfer-encoding", "") or "").strip().strip("\"'").lower()
    if cte == "base64":
        data, clean = decode_base64(raw)
        if not clean:
            defects.append("base64:invalid")
        return data
    if cte in ("quoted-printable", "quoted_printable", "qp"):
        try:
            return binascii.a2b_qp(raw)
        except (binascii.Error, ValueError):
            defects.append("qp:invalid")
            return raw
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        try:
            decoded = part.get_payload(decode=True)
        except Exception:
            decoded = None
        return decoded if isinstance(decoded, bytes) else raw
    return raw


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        return ""
    if isinstance(name, tuple):  # RFC 2231 value the stdlib did not collapse
        name = name[2] if len(name) == 3 else ""
    return decode_header(str(name))[:255] if name else ""


def _charset(part: Message) -> str | None:
    try:
        cs = part.get_content_charset()
    except Exception:
        return None
    if cs is None:
        return None
    cs = str(cs).encode("utf-8", "surrogateescape").decode("ascii", "ignore").strip()
    return cs or None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _walk(msg: Message, defects: list[str]) -> list[Message]:
    """Leaf parts in document order, bounded in count; nesting past MAX_DEPTH is flattened.

    Nesting a scam body 40 multiparts deep is an evasion trick, not a reason
    to stop reading: past ``MAX_DEPTH`` the deeper parts are still collected
    (the part and size caps bound the work) and the nesting itself is
    recorded as ``mime:too-deep``, which detection treats as evidence.
    """
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    containers = 0
    too_deep = False
    while stack:
        part, depth = stack.pop()
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, list):
            # Containers are cheap; only leaves are decoded, so only they count
            # against MAX_PARTS (a 1,000-deep chain must still reach its text).
            containers += 1
            if containers > MAX_CONTAINERS:
                defects.append("mime:too-many-parts")
                break
            if depth >= MAX_DEPTH and not too_deep:
                too_deep = True
                defects.append("mime:too-deep")
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
        else:
            if len(leaves) >= MAX_PARTS:
                defects.append("mime:too-many-parts")
                break
            leaves.append(part)
    return leaves


def _stdlib_defects(part: Message, out: list[str]) -> None:
    for d in getattr(part, "defects", ()) or ():
        if isinstance(d, NestingLimitDefect):  # the splitter gave up on nesting: same evidence
            out.append("mime:too-deep")
        else:
            out.append("mime:" + type(d).__name__.removesuffix("Defect"))


# PDF text is extracted only while the visible body read so far is shorter than this.
PDF_WHEN_BODY_UNDER = 2000


def _body_chars(result: MimeResult) -> int:
    return sum(len(p.text) for p in result.text_parts if p.content_type == "text/plain") + sum(
        len(t) for t in result.html_texts
    )


def walk_message(msg: Message, *, max_part_size: int) -> MimeResult:
    """Decode every leaf part of ``msg`` into text parts, HTML text, links and attachments."""
    result = MimeResult()
    _stdlib_defects(msg, result.defects)
    for part in _walk(msg, result.defects):
        if part is not msg:
            _stdlib_defects(part, result.defects)
        try:
            _one_part(part, result, max_part_size)
        except Exception as exc:  # one broken part must not cost us the others
            result.defects.append(f"part:error:{type(exc).__name__}")
    return result


def _decode_text(
    data: bytes, declared: str | None, limit: int, defects: list[str]
) -> tuple[str, str, bool]:
    decoded = decode_bytes(data, declared)
    defects.extend(decoded.defects)
    text = decoded.text
    if "\r" in text:  # one line-ending convention for everything downstream
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    truncated = len(text) > limit
    if truncated:
        text = text[:limit]
        defects.append("truncated:part")
    return text, decoded.charset, truncated


def _mime_view(part: Message) -> Message:
    """The part's Content-* headers alone, when it has many headers.

    Message.get() lower-cases every header name on every lookup, and the
    top-level part of real mail has dozens of trace and anti-spam headers;
    the MIME lookups below make about ten gets per part.
    """
    if len(part) <= 12:
        return part
    view = Message()
    for name, value in part.raw_items():
        if name[:8].lower() == "content-":
            view.set_raw(name, value)
    view.set_default_type(part.get_default_type())
    return view


def _one_part(part: Message, result: MimeResult, limit: int) -> None:
    headers = _mime_view(part)
    ctype = _content_type(headers)
    if ctype.startswith("multipart/"):  # multipart without a usable boundary: read it as text
        ctype = "text/plain"
    disposition = _disposition(headers)
    wants_name = disposition is not None or ctype not in ("text/plain", "text/html")
    filename = _filename(headers) if wants_name else ""
    data = transfer_decode(part, result.defects, headers)
    lower_name = filename.lower()
    is_calendar = ctype in ("text/calendar", "application/ics") or lower_name.endswith(".ics")
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not is_calendar:
        _body_part(headers, ctype, data, result, limit)
        return
    if is_calendar:
        ics, _, _ = _decode_text(data, _charset(headers) or "utf-8", limit * 2, [])
        text = calendar_text(ics, limit)
    elif _is_pdf(ctype, lower_name):
        text = _pdf_attachment_text(data, result, limit)
    elif ctype.startswith("text/"):
        text, _, _ = _decode_text(data, _charset(headers), limit, result.defects)
        if ctype == "text/html":
            text = html_to_text(text).text
    else:
        text = ""
    result.attachments.append(Attachment(filename, ctype, len(data), text))


def _is_pdf(ctype: str, lower_name: str) -> bool:
    """A PDF by type, or by name when the type is a generic binary one."""
    return ctype == "application/pdf" or (
        lower_name.endswith(".pdf") and ctype in ("application/octet-stream", "application/x-pdf")
    )


def _body_part(headers: Message, ctype: str, data: bytes, result: MimeResult, limit: int) -> None:
    """An inline text/plain or text/html part: what the reader sees as the message body."""
    declared = _charset(headers)
    text, used, truncated = _decode_text(data, declared, limit, result.defects)
    if ctype == "text/plain" and _is_markup(text):
        # Mass mailers (and phishing kits) put the HTML source in the plain
        # alternative too; read as plain text it is tags, styles and entities.
        result.defects.append("mime:html-in-text-plain")
        ctype = "text/html"
    result.text_parts.append(TextPart(ctype, text, declared, used, truncated))
    if ctype == "text/html":
        rendered = html_to_text(text)
        result.html_texts.append(rendered.text)
        room = MAX_LINKS - len(result.links)
        if room > 0:
            result.links.extend(rendered.links[:room])


_MARKUP_TAG = re.compile(
    r"<(?:html|body|head|table|tr|td|div|p|br|span|font|img|a\s|style|meta)\b", re.IGNORECASE
)


def _is_markup(text: str) -> bool:
    """A "plain" body that is HTML source: it opens with a tag and is full of them."""
    head = text[:4000]
    return head.lstrip()[:1] == "<" and len(_MARKUP_TAG.findall(head)) >= 5


def _pdf_attachment_text(data: bytes, result: MimeResult, limit: int) -> str:
    """Text of a PDF attachment, read only when the body is short and the budgets allow.

    The message speaks for itself when its body is long; PDF text is for the
    blank-body invoice trick and costs more than the rest of the parse, so
    the count and the time spent are capped per message.
    """
    if _body_chars(result) >= PDF_WHEN_BODY_UNDER:
        result.defects.append("pdf:not-read:body-present")
        return ""
    if result.pdfs_read >= MAX_PDFS or result.pdf_seconds_left <= 0:
        result.defects.append("pdf:budget-exceeded:message")
        return ""
    if len(data) > limit:
        result.defects.append("pdf:too-large")
        return ""
    result.pdfs_read += 1
    started = pdf_clock()
    budget = min(PDF_TIME_BUDGET_S, result.pdf_seconds_left)
    text, problem = pdf_text(data, limit, budget_s=budget)
    result.pdf_seconds_left -= pdf_clock() - started
    if problem:
        result.defects.append(problem)
    return text
