"""Fast MIME splitting into ordinary stdlib ``email.message.Message`` objects.

The stdlib feed parser reads every line of every part through Python code
(its line buffer, boundary regex and state machine run once per line of a
base64 attachment), and that was the largest single cost of parsing. This
module finds the header/body split and the multipart delimiters with
``bytes.find`` and groups header lines with ``str.splitlines`` and list
operations instead, then builds the same compat32
``Message`` tree the feed parser would, so everything downstream (parameter
and RFC 2231 handling, ``get_filename``, ``get_content_charset``) is still
the stdlib's own code.

The rules follow the feed parser's: header lines are ``name:`` lines and
their continuations, a line that is neither ends the header block (with a
MissingHeaderBodySeparator defect), delimiters are whole lines
``--boundary`` with optional trailing ``--`` and whitespace, the line break
before a delimiter belongs to it, and everything after the close delimiter
is epilogue; even the feed parser's quirks are kept (a delimiter line right
after another is swallowed). Deliberate differences: message/delivery-status
stays one text part, and depth, part counts and bytes copied are capped.
There is no recursion: a hostile 10,000-deep nesting costs a loop, not the
stack (the stdlib parser recurses and dies with RecursionError on it).
``tests/unit/test_parse_split.py`` compares both parsers on tricky and
generated input, ``tests/corpus/test_corpus_parse.py`` on every message of
the real corpus; ``parse_message`` falls back to the stdlib parser whenever
this one raises (it does so on purpose for input it does not handle, such as
bare-CR line endings).
"""

from __future__ import annotations

from collections.abc import Generator
from email import errors
from email.message import Message
from itertools import accumulate

# How deep message/rfc822 and multipart parts are split into a tree. Deeper
# nesting is not a stack problem any more (the walk below is iterative) but
# each level copies its body: the byte budget bounds that work, the part
# budget bounds the tree. What is not split stays in the tree as text.
_MAX_DEPTH = 5000
_MAX_SPLIT_BYTES = 64 * 1024 * 1024

# A part asks the driver to split a child: (raw bytes, depth, default content type).
_Request = tuple[bytes, int, str]
_PartGen = Generator[_Request, Message, Message]


class SplitLimits:
    """Counts parts and bytes across the whole tree so a hostile message cannot explode it."""

    __slots__ = ("bytes_left", "parts_left")

    def __init__(self, max_parts: int, max_bytes: int = _MAX_SPLIT_BYTES) -> None:
        self.parts_left = max_parts
        self.bytes_left = max_bytes


class NestingLimitDefect(errors.MessageDefect):
    """A multipart was left unsplit (kept as text) because a depth or size budget ran out."""


def split_message(raw: bytes, max_parts: int = 1000) -> Message:
    """Parse ``raw`` into a compat32 Message tree (may raise; callers fall back)."""
    root = _drive(raw, SplitLimits(max_parts))
    if root.get_content_maintype() == "multipart" and not root.is_multipart():
        root.defects.append(errors.MultipartInvariantViolationDefect())  # as the feed parser does
    return root


def _drive(raw: bytes, limits: SplitLimits) -> Message:
    """Run the part generators with an explicit stack: no recursion, whatever the nesting.

    Each part is a generator that yields a request for every child and
    receives the finished child back, so the tree is built in the same
    depth-first order as a recursive descent would (the part budget is spent
    in the same order), but Python's stack stays flat.
    """
    stack: list[_PartGen] = [_parse(raw, 0, "", limits)]
    del raw
    done: Message | None = None
    while stack:
        try:
            request = stack[-1].send(done)  # type: ignore[arg-type]  # None starts a generator
        except StopIteration as finished:
            stack.pop()
            done = finished.value
            continue
        stack.append(_parse(*request, limits))
        del request  # the child's frame owns its bytes now; it drops them once split
        done = None
    assert done is not None
    return done


def _header_block(raw: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line; no empty line means all headers (or all body)."""
    if raw[:1] == b"\n":
        return b"", raw[1:]
    if raw[:2] == b"\r\n":
        return b"", raw[2:]
    cuts = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    if not cuts:
        if b"\r\r" in raw:  # old Mac line endings: leave them to the stdlib parser
            raise ValueError("bare-CR line endings")
        return raw, b""
    i = min(cuts)
    blank_end = i + 2 if raw[i + 1 : i + 2] == b"\n" else i + 3
    return raw[: i + 1], raw[blank_end:]


def _parse(raw: bytes, depth: int, default_type: str, limits: SplitLimits) -> _PartGen:
    msg = Message()
    if default_type:  # children of multipart/digest default to message/rfc822
        msg.set_default_type(default_type)
    limits.parts_left -= 1
    limits.bytes_left -= len(raw)
    head, body = _header_block(raw)
    pushed_back = _read_headers(msg, head.decode("ascii", "surrogateescape"))
    if pushed_back is not None:  # some header-block lines turned out to be body
        offset, ended_early = pushed_back
        body = raw[offset:] if ended_early else head[offset:] + body
    del raw, head  # a deep chain must not keep every level's copy alive
    maintype = msg.get_content_maintype()
    if maintype == "multipart":
        plan = _split_multipart(msg, body, depth, limits)
        del body
        if plan is not None:
            chunks, child_default = plan
            while chunks:
                if limits.parts_left <= 0:
                    break
                child = yield (chunks.pop(), depth + 1, child_default)
                _drop_delimiter_newline(child)
                msg.attach(child)
            if msg.get_payload() is None:  # every part was dropped by the limits
                msg.set_payload([])
    elif (
        maintype == "message"
        and msg.get_content_type() != "message/delivery-status"  # kept whole, as text
        and depth < _MAX_DEPTH
        and limits.parts_left > 0
        and limits.bytes_left > 0
    ):
        pending = [body]  # handed over by pop(): no frame of ours keeps the copy alive
        del body
        inner = yield (pending.pop(), depth + 1, "")
        msg.attach(inner)
    else:
        msg.set_payload(body.decode("ascii", "surrogateescape"))
    return msg


class _HeaderBlock:
    """A header block cut into lines and fields, with byte offsets into ``head``.

    ``starts`` are the indexes of the lines that start a field (no leading
    white space), ``bounds`` the same plus the end, ``firsts`` each field's
    first line without its break, and ``offsets`` each line's offset.
    """

    __slots__ = ("bounds", "firsts", "head", "lines", "offsets", "starts")

    def __init__(self, head: str, lines: list[str]) -> None:
        self.head = head
        self.lines = lines
        self.offsets = [0, *accumulate(map(len, lines))]
        self.starts = [i for i, line in enumerate(lines) if line[0] not in " \t"]
        self.bounds = [*self.starts, len(lines)]
        self.firsts = [lines[a].rstrip("\r\n") for a in self.starts]

    def start(self, i: int) -> int:
        """Offset of field i in ``head``."""
        return self.offsets[self.starts[i]]

    def continued(self, i: int) -> bool:
        """Field i has continuation lines."""
        return self.bounds[i + 1] > self.starts[i] + 1

    def continuations(self, i: int) -> list[str]:
        return self.lines[self.starts[i] + 1 : self.bounds[i + 1]]


def _read_headers(msg: Message, head: str) -> tuple[int, bool] | None:
    """Store header fields on ``msg`` as the feed parser would.

    Returns None when the whole block was headers, else ``(offset, ended_early)``:
    the body really starts at ``offset`` in ``head`` (``head`` is the header
    bytes decoded one byte per character, so offsets are byte offsets).
    ``ended_early`` means a non-header line stopped the headers before the
    blank line, so the body runs on through the rest of the raw message;
    otherwise only a trailing "From " line was pushed back into the body.

    Lines come from str.splitlines and are grouped into fields (a first line
    plus its continuation lines) with list operations, not a per-line state
    machine: real headers are long folded signatures and anti-spam blobs,
    hundreds of lines and ~7 KB per message.
    """
    if not head:
        return None
    lines = head.splitlines(True)  # C speed; the field grouping below is cheap
    breaks = head.count("\n") + head.count("\r") - head.count("\r\n")
    if len(lines) != breaks + (head[-1] not in "\r\n"):
        raise ValueError("line breaks only str.splitlines sees")  # let the stdlib do it
    block = _HeaderBlock(head, lines)
    starts = block.starts
    for line in lines[: starts[0] if starts else len(lines)]:  # continuation lines first
        msg.defects.append(errors.FirstHeaderLineIsContinuationDefect(line.rstrip("\r\n")))
    if _read_plain_fields(msg, block):
        return None
    for i, first in enumerate(block.firsts):
        read = _envelope_line if first.startswith("From ") else _field
        body_start = read(msg, block, i)
        if body_start is not None:
            return body_start
    return None


def _read_plain_fields(msg: Message, block: _HeaderBlock) -> bool:
    """The common case, done with list operations: every field is "name: value".

    Returns False, having stored nothing, when some field is not like that;
    the caller then reads the fields one by one. ("From " lines have a
    space before any colon, so they never pass here.)
    """
    firsts = block.firsts
    colons = [first.find(":") for first in firsts]
    names = [first[:colon] for first, colon in zip(firsts, colons, strict=True)]
    if not (min(colons, default=1) > 0 and _is_field_name("!".join(names))):
        return False
    head, offsets, starts = block.head, block.offsets, block.starts
    ends = [offsets[b] for b in block.bounds[1:]]
    for j, name in enumerate(names):
        start = offsets[starts[j]] + colons[j] + 1
        msg.set_raw(name, head[start : ends[j]].lstrip(" \t").rstrip("\r\n"))
    return True


def _envelope_line(msg: Message, block: _HeaderBlock, i: int) -> tuple[int, bool] | None:
    """A "From " line at field i: the envelope if first, else a defect or the body's start.

    Returns None to go on, or where the body starts (as ``_read_headers``).
    """
    firsts = block.firsts
    first = firsts[i]
    start = block.start(i)
    more = i + 1 < len(firsts)
    last = not more or not _is_header_line(firsts[i + 1])
    if last and more:
        msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
    if start == 0:
        msg.set_unixfrom(first)
    elif last and not block.continued(i):  # the body's first line: push it back
        return (start, more)
    else:
        msg.defects.append(errors.MisplacedEnvelopeHeaderDefect(first))
    _orphan_continuations(msg, block.continuations(i))
    if last and more:
        return (block.start(i + 1), True)
    return None


def _field(msg: Message, block: _HeaderBlock, i: int) -> tuple[int, bool] | None:
    """Field i when it is not a "From " line: stored, or skipped, or the body's start.

    Returns None to go on, or where the body starts (as ``_read_headers``).
    """
    first = block.firsts[i]
    start = block.start(i)
    colon = first.find(":")
    if colon < 0 or not _is_field_name(first[:colon]):
        msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
        return (start, True)
    if colon == 0:
        msg.defects.append(errors.InvalidHeaderDefect("Missing header name."))
        _orphan_continuations(msg, block.continuations(i))
        return None
    if block.continued(i):
        text = block.head[start + colon + 1 : block.offsets[block.bounds[i + 1]]]
    else:
        text = first[colon + 1 :]
    msg.set_raw(first[:colon], text.lstrip(" \t").rstrip("\r\n"))
    return None


def _is_field_name(name: str) -> bool:
    """Printable ASCII without space or colon (the colon was split off already)."""
    return not name or (name.isascii() and name.isprintable() and " " not in name)


def _is_header_line(line: str) -> bool:
    colon = line.find(":")
    return line.startswith("From ") or (colon >= 0 and _is_field_name(line[:colon]))


def _orphan_continuations(msg: Message, lines: list[str]) -> None:
    """Continuation lines after a line that started no header: defects, as in the stdlib."""
    for line in lines:
        msg.defects.append(errors.FirstHeaderLineIsContinuationDefect(line.rstrip("\r\n")))


def _split_multipart(
    msg: Message, body: bytes, depth: int, limits: SplitLimits
) -> tuple[list[bytes], str] | None:
    """Set preamble, epilogue and defects of ``msg``; return its children's bytes, last first.

    None means the body stays ``msg``'s text payload (no usable boundary, or
    a budget ran out). The caller splits the children one by one, popping
    them off the list so that each copy is freed as soon as it is parsed.
    """
    cte = str(msg.get("content-transfer-encoding", "8bit")).lower()
    if cte not in ("7bit", "8bit", "binary"):
        msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
    boundary = msg.get_boundary()
    if not boundary or not _within_budget(msg, depth, limits):
        if not boundary:
            msg.defects.append(errors.NoBoundaryInMultipartDefect())
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return None
    child_default = "message/rfc822" if msg.get_content_type() == "multipart/digest" else ""
    sep = b"--" + boundary.encode("ascii", "surrogateescape")
    # A folded boundary parameter can contain a line break: it can never match a line.
    if "\n" in boundary or "\r" in boundary:
        starts: list[tuple[int, int, bool]] = []
    else:
        starts = _delimiters(body, sep)
    if not starts or starts[0][2]:
        # No opening delimiter: the text before a premature close (or all of it) is the payload.
        msg.defects.append(errors.StartBoundaryNotFoundDefect())
        text = body[: starts[0][0]] if starts else body
        msg.set_payload(text.decode("ascii", "surrogateescape"))
        msg.epilogue = ""
        return None
    bounds = _part_bounds(msg, body, starts)
    return [body[start:stop] for start, stop in reversed(bounds)], child_default


def _within_budget(msg: Message, depth: int, limits: SplitLimits) -> bool:
    """Whether this multipart may still be split (depth, part and byte budgets left).

    Only a spent depth or byte budget leaves a NestingLimitDefect (reported
    as "mime:too-deep"); a spent part budget just keeps the rest as text.
    """
    if depth < _MAX_DEPTH and limits.parts_left > 0 and limits.bytes_left > 0:
        return True
    if depth >= _MAX_DEPTH or limits.bytes_left <= 0:
        msg.defects.append(NestingLimitDefect())
    return False


def _part_bounds(
    msg: Message, body: bytes, starts: list[tuple[int, int, bool]]
) -> list[tuple[int, int]]:
    """Set preamble and epilogue from the delimiter lines; return each child's (start, stop).

    The epilogue is set now because the children never touch their
    parent's epilogue; without a close delimiter the last part runs to the
    end of the body (a CloseBoundaryNotFound defect, as in the stdlib).
    """
    preamble = body[: _strip_final_newline(body, starts[0][0])]
    if starts[0][0] > 0:  # some lines before the first delimiter, even if only a newline
        msg.preamble = preamble.decode("ascii", "surrogateescape")
    bounds = [(starts[i][1], starts[i + 1][0]) for i in range(len(starts) - 1)]
    if starts[-1][2]:
        epilogue = body[starts[-1][1] :]
        msg.epilogue = epilogue.decode("ascii", "surrogateescape") if epilogue else ""
    else:
        msg.defects.append(errors.CloseBoundaryNotFoundDefect())
        bounds.append((starts[-1][1], len(body)))
    return bounds


def _delimiters(body: bytes, sep: bytes) -> list[tuple[int, int, bool]]:
    """Delimiter lines as (line start, line end with its break, is_close), up to the close.

    bytes.find rather than a regex: a pattern per boundary would have to be
    compiled per message, which cost more than the search.
    """
    found: list[tuple[int, int, bool]] = []
    n = len(body)
    pos = 0
    while True:
        i = body.find(sep, pos)
        if i < 0:
            return found
        pos = i + 1
        if i > 0 and body[i - 1] not in (0x0A, 0x0D):
            continue  # not at the start of a line
        j = i + len(sep)
        close = body[j : j + 2] == b"--"
        if close:
            j += 2
        while j < n and body[j] in (0x20, 0x09):
            j += 1
        if j < n and body[j] not in (0x0A, 0x0D):
            continue  # "--boundaryX": some other line
        end = j + 2 if body[j : j + 2] == b"\r\n" else min(j + 1, n)
        if found and i == found[-1][1]:
            # The feed parser swallows a delimiter line that directly follows another.
            found[-1] = (found[-1][0], end, found[-1][2])
            continue
        found.append((i, end, close))
        if close:
            return found


def _strip_final_newline(body: bytes, stop: int, start: int = 0) -> int:
    """The line break before a delimiter belongs to the delimiter, not to the part."""
    if stop >= start + 2 and body[stop - 2 : stop] == b"\r\n":
        return stop - 2
    if stop >= start + 1 and body[stop - 1 : stop] in (b"\n", b"\r"):
        return stop - 1
    return stop


def _drop_delimiter_newline(part: Message) -> None:
    """Give the line break before a delimiter back to the delimiter, as the feed parser does.

    It takes it from the epilogue of a multipart part, else from the payload
    of the innermost message of a message/* part, else from the part's own
    payload; and it does so at end of input too, where there is no delimiter.
    """
    # ``_payload`` directly, as the feed parser does: get_payload() would hand back
    # a copy of 8-bit text already decoded (lossily) with the declared charset.
    last = part
    while last.get_content_maintype() != "multipart":
        payload = last._payload  # type: ignore[attr-defined]
        if not isinstance(payload, list) or not payload:
            break
        last = payload[0]  # message/rfc822: the enclosed message
    if last.get_content_maintype() == "multipart":
        epilogue = last.epilogue
        if epilogue == "":
            last.epilogue = None
        elif epilogue:
            last.epilogue = _without_final_newline(epilogue)
        return
    payload = last._payload  # type: ignore[attr-defined]
    if isinstance(payload, str) and payload:
        last._payload = _without_final_newline(payload)  # type: ignore[attr-defined]


def _without_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text
