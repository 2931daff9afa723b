"""Fast MIME splitting into ordinary stdlib ``email.message.Message`` objects.

The stdlib feed parser reads every line of every part through Python code
(its line buffer, boundary regex and state machine run once per line of a
base64 attachment), and that was the largest single cost of parsing. This
module finds the header/body split and the multipart delimiters with
``bytes.find`` and compiled regexes instead, then builds the same compat32
``Message`` tree the feed parser would, so everything downstream (parameter
and RFC 2231 handling, ``get_filename``, ``get_content_charset``) is still
the stdlib's own code.

The rules follow the feed parser's: header lines are ``name:`` lines and
their continuations, a line that is neither ends the header block (with a
MissingHeaderBodySeparator defect), delimiters are whole lines
``--boundary`` with optional trailing ``--`` and whitespace, the line break
before a delimiter belongs to it, and everything after the close delimiter
is epilogue. ``tests/corpus/test_corpus_parse.py`` checks that both parsers
give the same result on every message of the real corpus; ``parse_message``
falls back to the stdlib parser if this one raises.
"""

from __future__ import annotations

import re
from email import errors
from email.message import Message

_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n|\r\n\r?\n")
_LINE_END = re.compile(r"\r\n|\r|\n")
_MAX_DEPTH = 40


class SplitLimits:
    """Counts parts across the whole tree so a hostile message cannot explode it."""

    __slots__ = ("parts_left",)

    def __init__(self, max_parts: int) -> None:
        self.parts_left = max_parts


def split_message(raw: bytes, max_parts: int = 1000) -> Message:
    """Parse ``raw`` into a compat32 Message tree (may raise; callers fall back)."""
    root = _parse(raw, 0, SplitLimits(max_parts))
    if root.get_content_maintype() == "multipart" and not root.is_multipart():
        root.defects.append(errors.MultipartInvariantViolationDefect())  # as the feed parser does
    return root


def _header_block(raw: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line; no empty line means all headers (or all body)."""
    if raw[:1] == b"\n":
        return b"", raw[1:]
    if raw[:2] == b"\r\n":
        return b"", raw[2:]
    m = _BLANK_LINE.search(raw)
    if m is None:
        return raw, b""
    cut = m.start() + (2 if raw[m.start() : m.start() + 2] == b"\r\n" else 1)
    return raw[:cut], raw[m.end() :]


def _parse(raw: bytes, depth: int, limits: SplitLimits) -> Message:
    msg = Message()
    limits.parts_left -= 1
    head, body = _header_block(raw)
    pushed_back = _read_headers(msg, head.decode("ascii", "surrogateescape"))
    if pushed_back is not None:  # some header-block lines turned out to be body
        offset, ended_early = pushed_back
        body = raw[offset:] if ended_early else head[offset:] + body
    maintype = msg.get_content_maintype()
    if maintype == "multipart":
        _split_multipart(msg, body, depth, limits)
    elif (
        maintype == "message"
        and msg.get_content_type() != "message/delivery-status"  # kept whole, as text
        and depth < _MAX_DEPTH
        and limits.parts_left > 0
    ):
        msg.attach(_parse(body, depth + 1, limits))
    else:
        msg.set_payload(body.decode("ascii", "surrogateescape"))
    return msg


def _read_headers(msg: Message, head: str) -> tuple[int, bool] | None:
    """Store header lines on ``msg`` as the feed parser would.

    Returns None when the whole block was headers, else ``(offset, ended_early)``:
    the body really starts at ``offset`` in ``head`` (``head`` is the header
    bytes decoded one byte per character, so offsets are byte offsets).
    ``ended_early`` means a non-header line stopped the headers before the
    blank line, so the body runs on through the rest of the raw message;
    otherwise only a trailing "From " line was pushed back into the body.
    """
    if not head:
        return None
    lines = _LINE_END.split(head)
    ends = _LINE_END.findall(head)
    if lines and lines[-1] == "":
        lines.pop()
    offsets: list[int] = []
    pos = 0
    stop = len(lines)  # index of the first line that is not a header line
    for i, line in enumerate(lines):
        offsets.append(pos)
        pos += len(line) + (len(ends[i]) if i < len(ends) else 0)
        if stop == len(lines) and not (
            line[:1] in (" ", "\t") or line.startswith("From ") or _HEADER_NAME.match(line)
        ):
            stop = i
    result: tuple[int, bool] | None = None
    if stop < len(lines):
        msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
        result = (offsets[stop], True)

    name: str | None = None
    value_lines: list[str] = []

    def flush() -> None:
        if name is not None:
            value = value_lines[0][len(name) + 1 :].lstrip(" \t") + "".join(value_lines[1:])
            msg.set_raw(name, value.rstrip("\r\n"))

    for i in range(stop):
        line = lines[i]
        full = line + (ends[i] if i < len(ends) else "")
        if line[:1] in (" ", "\t"):
            if name is None:
                msg.defects.append(errors.FirstHeaderLineIsContinuationDefect(line))
            else:
                value_lines.append(full)
            continue
        flush()
        name = None
        if line.startswith("From "):
            if i == 0:
                msg.set_unixfrom(line.rstrip("\r\n"))
            elif i == stop - 1:  # looks like the body's first line: push it back
                return (offsets[i], result is not None)
            else:
                msg.defects.append(errors.MisplacedEnvelopeHeaderDefect(line))
            continue
        if line[:1] == ":":
            msg.defects.append(errors.InvalidHeaderDefect("Missing header name."))
            continue
        name = line[: line.find(":")]
        value_lines = [full]
    flush()
    return result


def _split_multipart(msg: Message, body: bytes, depth: int, limits: SplitLimits) -> None:
    cte = str(msg.get("content-transfer-encoding", "8bit")).lower()
    if cte not in ("7bit", "8bit", "binary"):
        msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
    boundary = msg.get_boundary()
    if not boundary:
        msg.defects.append(errors.NoBoundaryInMultipartDefect())
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return
    if depth >= _MAX_DEPTH or limits.parts_left <= 0:
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return
    if msg.get_content_type() == "multipart/digest":
        child_default = "message/rfc822"
    else:
        child_default = "text/plain"
    sep = b"--" + boundary.encode("ascii", "surrogateescape")
    delim = re.compile(rb"^" + re.escape(sep) + rb"(--)?[ \t]*\r?$", re.M)
    starts: list[tuple[int, int, bool]] = []  # (line start, line end incl. newline, is_close)
    for m in delim.finditer(body):
        end = m.end()
        if body[end : end + 1] == b"\n":
            end += 1
        starts.append((m.start(), end, m.group(1) is not None))
        if m.group(1) is not None:
            break
    if not starts or starts[0][2]:
        msg.defects.append(errors.StartBoundaryNotFoundDefect())
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return
    preamble = body[: _strip_final_newline(body, starts[0][0])]
    msg.preamble = preamble.decode("ascii", "surrogateescape") if preamble else None
    closed = starts[-1][2]
    if not closed:
        msg.defects.append(errors.CloseBoundaryNotFoundDefect())
    bounds = [(starts[i][1], starts[i + 1][0]) for i in range(len(starts) - 1)]
    if not closed:
        bounds.append((starts[-1][1], len(body)))
    for start, stop in bounds:
        if limits.parts_left <= 0:
            break
        # The feed parser drops the last line break of a part even at end of input.
        chunk = body[start : _strip_final_newline(body, stop, start)]
        child = _parse(chunk, depth + 1, limits)
        if child_default != "text/plain" and "content-type" not in child:
            child.set_default_type(child_default)
        msg.attach(child)
    if closed:
        epilogue = body[starts[-1][1] :]
        msg.epilogue = epilogue.decode("ascii", "surrogateescape") if epilogue else ""
    if msg.get_payload() is None:  # every part was dropped by the limits
        msg.set_payload([])


def _strip_final_newline(body: bytes, stop: int, start: int = 0) -> int:
    """The line break before a delimiter belongs to the delimiter, not to the part."""
    if stop >= start + 2 and body[stop - 2 : stop] == b"\r\n":
        return stop - 2
    if stop >= start + 1 and body[stop - 1 : stop] in (b"\n", b"\r"):
        return stop - 1
    return stop
