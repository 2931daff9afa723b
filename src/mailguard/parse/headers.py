"""Header decoding: encoded words, raw 8-bit values, addresses, dates, auth results.

The stdlib's compat32 parser hands us header values as ASCII strings with the
original 8-bit bytes smuggled in as surrogate escapes, and with encoded words
(RFC 2047) still encoded. We decode both ourselves because the stdlib gets
the Japanese cases wrong: an ISO-2022-JP subject is often split into several
encoded words with the escape sequences split between them, so the raw bytes
of adjacent words must be joined *before* decoding.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from mailguard.parse.b64 import decode_lenient
from mailguard.parse.charset import decode_bytes, decode_header_bytes, looks_iso2022jp
from mailguard.parse.model import Address, AuthResults

_CTRL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60}?)\?([BbQq])\?([^?]*?)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*\Z")
_MAX_HEADER = 16384
_ANGLE_ADDR = re.compile(r"<([^<>]*)>")
_MSGID = re.compile(r"<[^<>\s]*>")


def unfold(value: str) -> str:
    """Join folded lines (RFC 5322 2.2.3): drop the line breaks, keep the white space.

    Every line break inside a parsed header value starts a continuation line,
    so dropping every line break does it; a regex here cost more than all
    other header work together.
    """
    if "\n" in value or "\r" in value:
        return "".join(value.splitlines())  # one C pass; also drops stray \v \f \x1c-\x1e
    return value


def raw_to_text(value: str) -> str:
    """Undo the parser's surrogate escapes: recover 8-bit header bytes and decode them."""
    if _SURROGATE.search(value) is None:
        if "\x1b" in value and looks_iso2022jp(value.encode("ascii", "ignore")):
            return decode_header_bytes(value.encode("ascii", "ignore"))
        return value
    data = value.encode("utf-8", "surrogateescape")
    return decode_header_bytes(data)


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "Bb":
        decoded = decode_lenient(payload.encode("ascii", "replace"))
        return decoded[0] if decoded is not None else payload.encode("ascii", "replace")
    try:
        return binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return payload.encode("ascii", "replace")


def decode_encoded_words(value: str) -> str:
    """Decode every RFC 2047 encoded word in ``value``, leniently.

    Adjacent words (only whitespace between them) that share a charset are
    joined as bytes before decoding, which repairs multi-byte characters and
    ISO-2022-JP escape sequences split across words. Words also decode inside
    quoted strings and mid-word, as real mail user agents do.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    group_cs: str | None = None
    group: list[bytes] = []

    def flush() -> None:
        nonlocal group_cs
        if group_cs is not None:
            out.append(decode_bytes(b"".join(group), group_cs).text)
            group.clear()
            group_cs = None

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        charset = m.group(1).split("*", 1)[0].lower()
        if group_cs is not None and _ONLY_SPACE.match(gap):
            if charset != group_cs:
                flush()
        else:
            flush()
            out.append(gap)
        group_cs = charset
        group.append(_word_bytes(m.group(2), m.group(3)))
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def decode_header(value: str) -> str:
    """A raw compat32 header value to clean display text (one line)."""
    if len(value) > _MAX_HEADER:
        value = value[:_MAX_HEADER]
    if value.isascii() and "=?" not in value and "\x1b" not in value:
        if value.isprintable():  # the common case: nothing to decode
            return value.strip()
        return _CTRL.sub(" ", unfold(value)).strip()
    value = unfold(value)
    value = decode_encoded_words(raw_to_text(value))
    return _CTRL.sub(" ", value).strip()


def decode_opaque(value: str) -> str:
    """A machine-written header: unfold and make it valid text, but decode nothing."""
    value = unfold(value[:_MAX_HEADER])
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return (value if value.isprintable() else _CTRL.sub(" ", value)).strip()


# --- addresses ---------------------------------------------------------------

_SIMPLE_ADDR = re.compile(
    r'\s*(?:"([^"\\]*)"|([^<>",;\\]*?))\s*<([^<>\s",;:()\\\[\]]+@[^<>\s",;:()\\\[\]]+)>\s*\Z'
    r'|\s*([^<>\s",;:()\\\[\]]+@[^<>\s",;:()\\\[\]]+)\s*\Z'
)
_ANGLE = re.compile(r"^(.*)<([^<>]*)>[^<>]*$", re.S)
_BARE_ADDR = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")


def _clean_addr(addr: str) -> str:
    return addr.strip().strip("<>").strip().lower()


def _clean_name(name: str) -> str:
    name = decode_encoded_words(name)
    if not name.isprintable():
        name = _CTRL.sub(" ", name)
    name = " ".join(name.split())  # runs of white space become one space, as in the stdlib
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def parse_addresses(value: str, limit: int = 100) -> tuple[Address, ...]:
    """All mailboxes in an address header; display names decoded.

    Parses the still-encoded value so that a decoded name containing commas
    or angle brackets cannot break the split. Falls back to a regex when the
    stdlib refuses malformed input.
    """
    value = raw_to_text(unfold(value[:_MAX_HEADER]))
    if not value.strip():
        return ()
    fast = _simple_addresses(value, limit)
    if fast is not None:
        return fast
    try:
        pairs = getaddresses([value])
    except Exception:
        pairs = []
    result: list[Address] = []
    for name, addr in pairs[:limit]:
        if not name and not addr:
            continue
        result.append(Address(name=_clean_name(name), addr=_clean_addr(addr)))
    if not result or all(not a.addr for a in result):
        fallback = _fallback_address(value)
        return (fallback,) if fallback is not None else tuple(result)
    return tuple(result)


def _simple_addresses(value: str, limit: int) -> tuple[Address, ...] | None:
    """'Name <a@b>', '"Name" <a@b>', 'a@b' and comma lists of them, without the
    stdlib's character-by-character address parser (None: not that simple)."""
    pieces = [value] if "," not in value or '"' in value or "(" in value else value.split(",")
    found: list[Address] = []
    for piece in pieces[:limit]:
        m = _SIMPLE_ADDR.match(piece)
        if m is None:
            if piece.strip() or len(pieces) == 1:
                return None
            continue  # "a@b, , c@d": an empty list element
        name = m.group(1) if m.group(1) is not None else m.group(2) or ""
        found.append(Address(name=_clean_name(name), addr=_clean_addr(m.group(3) or m.group(4))))
    return tuple(found)


def _fallback_address(value: str) -> Address | None:
    m = _ANGLE.match(value.strip())
    if m:
        found = Address(name=_clean_name(m.group(1)), addr=_clean_addr(m.group(2)))
        return found if found.name or found.addr else None
    m2 = _BARE_ADDR.search(value)
    if m2:
        name = (value[: m2.start()] + value[m2.end() :]).strip(" \t<>()\"'")
        return Address(name=_clean_name(name), addr=_clean_addr(m2.group()))
    name = _clean_name(value)
    if not name or name.rstrip().endswith(":;"):  # empty group, e.g. undisclosed-recipients:;
        return None
    return Address(name=name, addr="")


def parse_return_path(value: str) -> str:
    value = unfold(value[:_MAX_HEADER]).strip()
    m = _ANGLE_ADDR.search(value)
    return _clean_addr(m.group(1) if m else value.split()[0] if value.split() else "")


def parse_message_id(value: str) -> str:
    value = unfold(value[:_MAX_HEADER]).strip()
    m = _MSGID.search(value)
    return m.group() if m else value[:998]


def parse_message_ids(value: str, limit: int = 100) -> tuple[str, ...]:
    """The ``<id>`` tokens of an In-Reply-To or References value, in order, at most ``limit``.

    Long threads carry References with hundreds of ids; the oldest and the
    newest matter (RFC 5322 3.6.4 keeps the first and trims the middle), so
    beyond ``limit`` the first and the last ``limit - 1`` are kept.
    """
    ids = _MSGID.findall(unfold(value[: _MAX_HEADER * 4]))
    if len(ids) > limit:
        ids = ids[:1] + ids[-(limit - 1) :]
    return tuple(ids)


# --- dates -------------------------------------------------------------------

_DATE_NOISE = re.compile(r"\([^)]*\)|\s+(?=[,:])")


def parse_date(value: str) -> datetime | None:
    """RFC 5322 date to an aware datetime; naive/-0000 dates are taken as UTC."""
    value = unfold(value[:200]).strip()
    if not value:
        return None
    for candidate in (value, _DATE_NOISE.sub("", value).strip()):
        try:
            dt = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if dt is None:
            continue
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return None


# --- Authentication-Results --------------------------------------------------

_COMMENT = re.compile(r"\([^()]*\)")
_METHOD = re.compile(r"^\s*(spf|dkim|dmarc)\s*=\s*([A-Za-z]+)", re.I)
_PROP = re.compile(
    r"\b(smtp\.mailfrom|smtp\.helo|header\.d|header\.i|header\.from)\s*=\s*\"?([^\s;\"]+)", re.I
)
_RECEIVED_SPF = re.compile(r"^\s*([A-Za-z]+)")
_NO_DOMAIN = frozenset({"none", "unknown", ""})


def _domain_of(value: str) -> str:
    value = value.strip().strip("<>").lower()
    if "@" in value:
        value = value.rpartition("@")[2]
    return value.rstrip(".")


def _known_domain(value: str | None) -> str | None:
    """The domain named by a property, or None for "none", "unknown" or nothing."""
    dom = _domain_of(value or "")
    return dom if dom not in _NO_DOMAIN else None


def _method_clauses(raw: str) -> Iterator[tuple[str, str, str]]:
    """``(method, result, properties text)`` for each ``method=result`` clause of one header.

    Comments are removed first (three passes for nested ones), because
    forgers hide "spf=pass" inside them.
    """
    text = unfold(raw[:_MAX_HEADER])
    for _ in range(3):  # nested comments
        text = _COMMENT.sub(" ", text)
    for clause in text.split(";"):
        m = _METHOD.match(clause)
        if m is not None:
            yield m.group(1).lower(), m.group(2).lower(), clause[m.end() :]


def _props(text: str) -> dict[str, str]:
    return {k.lower(): v for k, v in _PROP.findall(text)}


class _AuthReader:
    """The verdicts found so far, filled header by header, topmost first.

    A method is taken from the first header that names it and then frozen:
    lower headers may have been added by the sender. SPF and DMARC take
    their first clause; DKIM looks at every clause of its header, because
    one message can carry several signatures and one passing is enough.
    """

    __slots__ = ("dkim", "dkim_domains", "dmarc", "dmarc_domain", "spf", "spf_domain")

    def __init__(self) -> None:
        self.spf: str | None = None
        self.dkim: str | None = None
        self.dmarc: str | None = None
        self.spf_domain: str | None = None
        self.dmarc_domain: str | None = None
        self.dkim_domains: list[str] = []

    @property
    def complete(self) -> bool:
        return self.spf is not None and self.dkim is not None and self.dmarc is not None

    def read_header(self, raw: str) -> None:
        dkim_here: list[tuple[str, str | None]] = []
        for method, result, rest in _method_clauses(raw):
            if method == "spf" and self.spf is None:
                props = _props(rest)
                self.spf = result
                self.spf_domain = _known_domain(
                    props.get("smtp.mailfrom") or props.get("smtp.helo")
                )
            elif method == "dkim" and self.dkim is None:
                props = _props(rest)
                dkim_here.append(
                    (result, _known_domain(props.get("header.d") or props.get("header.i")))
                )
            elif method == "dmarc" and self.dmarc is None:
                self.dmarc = result
                self.dmarc_domain = _known_domain(_props(rest).get("header.from"))
        if dkim_here:
            self._take_dkim(dkim_here)

    def _take_dkim(self, found: list[tuple[str, str | None]]) -> None:
        """One header's DKIM clauses: pass if any passed, else the first result; all domains."""
        results = [r for r, _ in found]
        self.dkim = "pass" if "pass" in results else results[0]
        for _, dom in found:
            if dom is not None and dom not in self.dkim_domains:
                self.dkim_domains.append(dom)

    def read_received_spf(self, received_spf: list[str] | None) -> None:
        """``Received-SPF`` fills in SPF only when no Authentication-Results named it."""
        if self.spf is None and received_spf:
            m = _RECEIVED_SPF.match(unfold(received_spf[0][:_MAX_HEADER]))
            if m:
                self.spf = m.group(1).lower()

    def result(self) -> AuthResults:
        return AuthResults(
            spf=self.spf,
            dkim=self.dkim,
            dmarc=self.dmarc,
            spf_domain=self.spf_domain,
            dkim_domains=tuple(self.dkim_domains),
            dmarc_domain=self.dmarc_domain,
        )


def parse_auth_results(values: list[str], received_spf: list[str] | None = None) -> AuthResults:
    """Verdicts from Authentication-Results headers, topmost header first.

    The topmost header is the one our own receiving server added, so for each
    method the first header that mentions it wins; lower ones may be forged.
    A DKIM pass anywhere in that header counts as pass, and every signing
    domain is kept. ``Received-SPF`` fills in SPF when no result names it.
    """
    reader = _AuthReader()
    for raw in values:
        reader.read_header(raw)
        if reader.complete:
            break
    reader.read_received_spf(received_spf)
    return reader.result()
