"""Turn bytes of unknown or mislabelled encoding into correct Unicode.

Real mail lies about its charset all the time, and Japanese scam mail most of
all: Shift_JIS labelled ISO-2022-JP, UTF-8 labelled ISO-2022-JP, no label at
all, CP932-only characters (①, ㈱, Ⅰ, ㍉) inside "ISO-2022-JP". A scam we
decode to mojibake is a scam we miss, so :func:`decode_bytes` never trusts the
label blindly: it tries the candidates that fit the bytes, strictly, and keeps
the first (or the most Japanese-looking) one that decodes without errors.
Only when nothing decodes cleanly does it fall back to replacement characters,
and it says so in the returned defects.

Everything here is pure and bounded; nothing raises on any input.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache

# Canonical family names we report in ``TextPart.charset``.
ASCII = "us-ascii"
UTF8 = "utf-8"
ISO2022JP = "iso-2022-jp"
CP932 = "cp932"  # the Microsoft superset of Shift_JIS that real mail uses
EUCJP = "euc-jp"
CP1252 = "windows-1252"  # the superset every "iso-8859-1" mail is really written in
LATIN1 = "iso-8859-1"

_JAPANESE = frozenset({ISO2022JP, CP932, EUCJP})

_ALIASES: dict[str, str] = {
    "us-ascii": ASCII,
    "ascii": ASCII,
    "ansi_x3.4-1968": ASCII,
    "iso646-us": ASCII,
    "utf8": UTF8,
    "utf-8": UTF8,
    "unicode-1-1-utf-8": UTF8,
    "iso-2022-jp": ISO2022JP,
    "iso2022-jp": ISO2022JP,
    "iso2022jp": ISO2022JP,
    "csiso2022jp": ISO2022JP,
    "iso-2022-jp-1": ISO2022JP,
    "iso-2022-jp-2": ISO2022JP,
    "iso-2022-jp-3": ISO2022JP,
    "iso-2022-jp-2004": ISO2022JP,
    "iso-2022-jp-ext": ISO2022JP,
    "iso-2022-jp-ms": ISO2022JP,
    "jis": ISO2022JP,
    "shift_jis": CP932,
    "shift-jis": CP932,
    "shiftjis": CP932,
    "sjis": CP932,
    "x-sjis": CP932,
    "x-shift_jis": CP932,
    "ms_kanji": CP932,
    "csshiftjis": CP932,
    "windows-31j": CP932,
    "cswindows31j": CP932,
    "cp932": CP932,
    "ms932": CP932,
    "x-ms-cp932": CP932,
    "shift_jis-2004": CP932,
    "shift_jisx0213": CP932,
    "euc-jp": EUCJP,
    "eucjp": EUCJP,
    "euc_jp": EUCJP,
    "x-euc-jp": EUCJP,
    "x-euc": EUCJP,
    "cseucpkdfmtjapanese": EUCJP,
    "eucjp-ms": EUCJP,
    "euc-jis-2004": EUCJP,
    "cp51932": EUCJP,
    "iso-8859-1": CP1252,
    "iso8859-1": CP1252,
    "iso_8859-1": CP1252,
    "latin1": CP1252,
    "latin-1": CP1252,
    "l1": CP1252,
    "windows-1252": CP1252,
    "cp1252": CP1252,
    "x-cp1252": CP1252,
    # Supersets that real senders mean when they say the smaller name.
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "big5": "big5hkscs",
    "x-mac-roman": "mac-roman",
}

# Codecs that exist in Python but are not charsets a mail could legitimately name.
_FORBIDDEN = frozenset(
    {
        "undefined",
        "unicode_escape",
        "raw_unicode_escape",
        "idna",
        "punycode",
        "mbcs",
        "oem",
        "charmap",
        "unicode_internal",
    }
)

_UTF16_32 = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


@dataclass(frozen=True, slots=True)
class Decoded:
    """The text, the charset we really used, and what went wrong on the way."""

    text: str
    charset: str
    defects: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def canonical_charset(label: str | None) -> str | None:
    """Map a declared label to the decoder we use, or None when unknown/absent.

    Labels are matched case-insensitively after stripping quotes and RFC 2231
    language suffixes ("utf-8*ja"). Unknown or dangerous codec names give None,
    so the caller sniffs instead of trusting them.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if not name or len(name) > 40:
        return None
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _FORBIDDEN:
        return None
    codec = info.name
    for alias, target in _ALIASES.items():  # e.g. "iso8859-1" via codecs.lookup
        if alias == codec:
            return target
    return {
        "ascii": ASCII,
        "utf-8": UTF8,
        "iso2022_jp": ISO2022JP,
        "iso2022_jp_1": ISO2022JP,
        "iso2022_jp_2": ISO2022JP,
        "iso2022_jp_2004": ISO2022JP,
        "iso2022_jp_3": ISO2022JP,
        "iso2022_jp_ext": ISO2022JP,
        "shift_jis": CP932,
        "shift_jis_2004": CP932,
        "shift_jisx0213": CP932,
        "cp932": CP932,
        "euc_jp": EUCJP,
        "euc_jis_2004": EUCJP,
        "euc_jisx0213": EUCJP,
        "latin-1": CP1252,
        "iso8859-1": CP1252,
        "cp1252": CP1252,
        "gb2312": "gb18030",
        "gbk": "gb18030",
        "euc_kr": "cp949",
        "big5": "big5hkscs",
    }.get(codec, codec)


# --- strict decoding helpers -------------------------------------------------


def _strict(data: bytes, codec: str) -> str | None:
    """Decode strictly; tolerate only an incomplete sequence cut off at the very end."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.end >= len(data) and exc.start > 0:
            try:
                return data[: exc.start].decode(codec)
            except UnicodeDecodeError:
                return None
        return None
    except (LookupError, ValueError, TypeError):
        return None


def _decode_cp932(data: bytes) -> str | None:
    return _strict(data, "cp932")


def _decode_eucjp(data: bytes) -> str | None:
    text = _strict(data, "euc_jp")
    if text is None:  # eucJP-ms / JIS X 0213 extensions (①, ㈱ in row 13)
        text = _strict(data, "euc_jis_2004")
    return text


# --- ISO-2022-JP with vendor extensions --------------------------------------

_ESC_SEQ = re.compile(
    rb"\x1b(?:\(B|\(J|\(H|\(I|\$@|\$B|&@\x1b\$B|\$\(D|\$\(O|\$\(P|\$\(Q|\$A|\$\(C|\.A|N)"
)
_SHIFT = re.compile(rb"[\x1b\x0e\x0f]")
_ISO2022_HINT = re.compile(rb"\x1b(?:\$[@B(]|\([BJI])")


def looks_iso2022jp(data: bytes) -> bool:
    return b"\x1b" in data and _ISO2022_HINT.search(data) is not None


def _jis_tables() -> tuple[bytes, bytes, bytes, bytes]:
    valid = bytes(range(0x21, 0x7F))
    lead = bytearray(256)
    parity = bytearray(256)
    trail = bytearray(256)
    for c in range(0x21, 0x7F):
        lead[c] = ((c + 1) >> 1) + (0x70 if c <= 0x5E else 0xB0)
        parity[c] = 0x80 if c & 1 else 0
        trail[c] = c + 0x7E  # even lead byte
        trail[c | 0x80] = c + (0x1F if c <= 0x5F else 0x20)  # odd lead byte
    return valid, bytes(lead), bytes(parity), bytes(trail)


_JIS_BYTES, _JIS_LEAD, _JIS_PARITY, _JIS_TRAIL = _jis_tables()


def _jis_pair_to_sjis(c1: int, c2: int) -> bytes:
    """One JIS X 0208 code (row/cell as 0x21-0x7E bytes) to its Shift_JIS bytes.

    Going through Shift_JIS lets the cp932 codec supply NEC row 13 (①, ㈱, Ⅰ,
    ㍉) and the IBM extensions, which no ISO-2022-JP codec in Python knows.
    """
    s1 = ((c1 + 1) >> 1) + (0x70 if c1 <= 0x5E else 0xB0)
    s2 = c2 + ((0x1F if c2 <= 0x5F else 0x20) if c1 & 1 else 0x7E)
    return bytes((s1, s2))


def _decode_iso2022jp_ext(data: bytes, errors: str) -> str:
    """Decode ISO-2022-JP and its real-world supersets by hand.

    Handles ESC ( B / ( J / ( I, ESC $ @ / $ B (through cp932, so CP932
    extensions work), JIS X 0212 and 0213 designations (through Python's
    codecs), SO/SI katakana and raw 8-bit half-width katakana ("JIS8").
    Raises UnicodeDecodeError in strict mode on anything else.
    """
    out: list[str] = []
    mode = "ascii"
    pos = 0
    n = len(data)
    while pos < n:
        byte = data[pos]
        if byte in (0x0E, 0x0F):  # SO / SI: shift to and from half-width katakana
            mode = "kana" if byte == 0x0E else "ascii"
            pos += 1
            continue
        m = _ESC_SEQ.match(data, pos) if byte == 0x1B else None
        if m is None and byte == 0x1B:  # an escape we do not know: never loop on it
            if errors == "strict":
                raise _fail(data, pos, "unknown escape sequence")
            out.append("\ufffd")
            pos += 1
            continue
        if m is not None:
            seq = m.group()
            pos = m.end()
            if seq in (b"\x1b(B", b"\x1b(J", b"\x1b(H"):
                mode = "ascii"
            elif seq == b"\x1b(I":
                mode = "kana"
            elif seq in (b"\x1b$@", b"\x1b$B", b"\x1b&@\x1b$B"):
                mode = "jis"
            elif seq == b"\x1b$(D":
                mode = "jis0212"
            elif seq in (b"\x1b$(O", b"\x1b$(P", b"\x1b$(Q"):
                mode = "jis0213:" + seq.decode("ascii")
            else:  # Chinese/Korean designations or single shifts: not Japanese
                mode = "ascii"
            continue
        # Take the run up to the next ESC, SO or SI.
        nxt = _SHIFT.search(data, pos)
        end = nxt.start() if nxt is not None else n
        chunk = data[pos:end]
        start = pos
        pos = end
        if mode == "ascii":
            out.append(_ascii_with_kana(chunk, errors, start, data))
        elif mode == "kana":
            out.append("".join(_kana(b, errors, start, data) for b in chunk))
        elif mode == "jis":
            out.append(_jis0208_chunk(chunk, errors, start, data))
        else:
            prefix = b"\x1b$(D" if mode == "jis0212" else mode.split(":", 1)[1].encode("ascii")
            codec = "iso2022_jp_2" if mode == "jis0212" else "iso2022_jp_2004"
            out.append((prefix + chunk).decode(codec, errors))
    return "".join(out)


def _fail(data: bytes, at: int, why: str) -> UnicodeDecodeError:
    return UnicodeDecodeError("iso-2022-jp", data, at, at + 1, why)


def _kana(b: int, errors: str, at: int, data: bytes) -> str:
    if 0x21 <= b <= 0x5F:
        return chr(0xFF61 + b - 0x21)
    if 0xA1 <= b <= 0xDF:
        return chr(0xFF61 + b - 0xA1)
    if b < 0x21:
        return chr(b)
    if errors == "strict":
        raise _fail(data, at, "bad katakana byte")
    return "\ufffd"


def _ascii_with_kana(chunk: bytes, errors: str, at: int, data: bytes) -> str:
    if chunk.isascii():
        return chunk.decode("ascii")
    parts: list[str] = []
    for i, b in enumerate(chunk):
        if b < 0x80:
            parts.append(chr(b))
        elif 0xA1 <= b <= 0xDF:
            parts.append(chr(0xFF61 + b - 0xA1))
        elif errors == "strict":
            raise _fail(data, at + i, "8-bit byte in ISO-2022-JP")
        else:
            parts.append("\ufffd")
    return "".join(parts)


def _jis_to_sjis_bulk(chunk: bytes) -> bytes | None:
    """Convert a clean run of JIS pairs to Shift_JIS without a Python loop per pair.

    Even bytes map through one table; odd bytes through another chosen by the
    parity of their lead byte, folded into bit 7 with one big-int OR. Returns
    None for runs that are not pure 0x21-0x7E pairs (the slow path handles them).
    """
    if len(chunk) % 2 or chunk.translate(None, _JIS_BYTES):
        return None
    leads = chunk[0::2]
    trails = chunk[1::2]
    n = len(leads)
    parity = leads.translate(_JIS_PARITY)  # 0x80 where the lead byte is odd
    keyed = (int.from_bytes(trails, "big") | int.from_bytes(parity, "big")).to_bytes(n, "big")
    out = bytearray(2 * n)
    out[0::2] = leads.translate(_JIS_LEAD)
    out[1::2] = keyed.translate(_JIS_TRAIL)
    return bytes(out)


def _jis0208_chunk(chunk: bytes, errors: str, at: int, data: bytes) -> str:
    # Fast path: Python's own codec knows plain JIS X 0208.
    try:
        return (b"\x1b$B" + chunk).decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    sjis = _jis_to_sjis_bulk(chunk)  # CP932 extensions: the whole run through cp932
    if sjis is not None:
        try:
            return sjis.decode("cp932")
        except UnicodeDecodeError:
            pass  # an unmapped code somewhere: find it pair by pair below
    parts: list[str] = []
    i = 0
    n = len(chunk)
    while i < n:
        b = chunk[i]
        if b < 0x21 or b == 0x7F:  # newline etc. inside a JIS run: broken but common
            parts.append(chr(b))
            i += 1
            continue
        if i + 1 < n and 0x21 <= b <= 0x7E and 0x21 <= chunk[i + 1] <= 0x7E:
            try:
                parts.append(_jis_pair_to_sjis(b, chunk[i + 1]).decode("cp932"))
            except UnicodeDecodeError:
                if errors == "strict":
                    raise _fail(data, at + i, "unmapped JIS code") from None
                parts.append("\ufffd")
            i += 2
            continue
        if errors == "strict":
            raise _fail(data, at + i, "broken JIS pair")
        parts.append("\ufffd")
        i += 1
    return "".join(parts)


def decode_iso2022jp(data: bytes, errors: str = "strict") -> str:
    """ISO-2022-JP with CP932, JIS X 0212/0213 and half-width kana extensions."""
    if b"\x0e" not in data:  # Python's codec passes SO/SI through as controls
        try:
            return data.decode("iso2022_jp")
        except UnicodeDecodeError:
            pass
    try:
        return _decode_iso2022jp_ext(data, "strict")
    except UnicodeDecodeError:
        if errors == "strict":
            raise
    return _decode_iso2022jp_ext(data, "replace")


def _strict_iso2022jp(data: bytes) -> str | None:
    try:
        return decode_iso2022jp(data)
    except UnicodeDecodeError:
        return None


# --- how Japanese does a decoding look? --------------------------------------

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_GOOD_JA = re.compile(
    r"[\u3041-\u30ff\u3000-\u303f\uff01-\uff5e\u2460-\u24ff\u2160-\u217f\u3220-\u33ff]"
    r"|[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\u3005]{2,}"
)
_BAD_JA = re.compile(r"[\uff61-\uff9f\ue000-\uf8ff\x80-\x9f\ufffd\u0080-\u00ff]")
_SAMPLE = 8192


def japanese_quality(text: str) -> float:
    """Share of non-ASCII characters that look like real Japanese (0.0-1.0).

    Kana, Japanese punctuation, full-width forms and runs of two or more kanji
    count as good; half-width katakana, private-use and Latin-1 characters
    count against. Latin text decoded as cp932 gives isolated kanji and
    half-width kana, so it scores low; real Japanese scores near 1.
    """
    sample = text[:_SAMPLE]
    total = len(_NON_ASCII.findall(sample))
    if total == 0:
        return 0.0
    good = sum(len(m) for m in _GOOD_JA.findall(sample))
    bad = len(_BAD_JA.findall(sample))
    return max(0.0, (good - 2 * bad) / total)


def _best_japanese(data: bytes, prefer: str | None) -> tuple[str, str, float] | None:
    """Strict cp932 and EUC-JP decodings, best first (ties go to ``prefer``)."""
    found: list[tuple[float, int, str, str]] = []
    for codec, fn in ((CP932, _decode_cp932), (EUCJP, _decode_eucjp)):
        text = fn(data)
        if text is not None:
            found.append((japanese_quality(text), 1 if codec == prefer else 0, codec, text))
    if not found:
        return None
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    quality, _, codec, text = found[0]
    return text, codec, quality


def _plausibly_japanese(quality: float) -> bool:
    return quality >= 0.5


# --- the entry point ---------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, UTF8),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_bytes(data: bytes, declared: str | None) -> Decoded:
    """Decode ``data`` that claims to be in ``declared`` (a MIME charset label or None).

    Returns the text, the charset actually used and defects such as
    ``charset:mislabelled:iso-2022-jp->cp932``. Never raises.
    """
    try:
        return _decode(data, declared)
    except Exception as exc:  # last resort: a codec bug must not lose the message
        return Decoded(data.decode("latin-1"), LATIN1, (f"charset:error:{type(exc).__name__}",))


def _decode(data: bytes, declared: str | None) -> Decoded:
    cs = canonical_charset(declared)
    defects: list[str] = []
    if declared and cs is None:
        defects.append(f"charset:unknown:{_label(declared)}")
    if not data:
        return Decoded("", cs or ASCII, tuple(defects))

    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _result(data.decode(codec, "replace"), codec, cs, declared, defects)

    if cs in _UTF16_32:
        text = _strict(data, cs)
        if text is not None:
            return Decoded(text, cs, tuple(defects))
        defects.append(f"charset:undecodable:{cs}")
        return Decoded(data.decode(cs, "replace"), cs, tuple(defects))

    if data.isascii():
        if looks_iso2022jp(data) and cs not in ("iso2022_kr", "iso2022_jp_2"):
            text = _strict_iso2022jp(data)
            if text is None:
                defects.append("charset:undecodable:iso-2022-jp")
                text = decode_iso2022jp(data, "replace")
            return _result(text, ISO2022JP, cs, declared, defects)
        if cs == "utf-7":
            text = _strict(data, "utf-7")
            if text is not None:
                return _result(text, "utf-7", cs, declared, defects)
        if cs is not None and cs not in (ASCII, UTF8, CP1252, CP932, EUCJP, ISO2022JP):
            text = _strict(data, cs)  # e.g. HZ-GB-2312 is 7-bit
            if text is not None:
                return Decoded(text, cs, tuple(defects))
        return Decoded(data.decode("ascii"), cs or ASCII, tuple(defects))

    # 8-bit data from here on.
    text = _strict(data, UTF8)
    if text is not None and not _declared_reads_better(data, cs, text):
        # Valid multi-byte UTF-8 is practically never an accident -- except in a
        # few bytes: EUC-JP 「未納」 (CC A4 C7 BC) is valid UTF-8 for "̤Ǽ".
        return _result(text, UTF8, cs, declared, defects)

    if cs == ISO2022JP and looks_iso2022jp(data):  # ESC runs plus raw 8-bit kana
        text = _strict_iso2022jp(data)
        if text is not None:
            return _result(text, ISO2022JP, cs, declared, defects)

    if cs == CP932 and _halfwidth_kana_only(data):
        text = _decode_cp932(data)
        if text is not None:
            return _result(text, CP932, cs, declared, defects)
    if cs in _JAPANESE:
        best = _best_japanese(data, cs if cs != ISO2022JP else CP932)
        if best is not None:
            return _result(best[0], best[1], cs, declared, defects)
    elif cs is not None and cs not in (ASCII, UTF8, CP1252):
        # A real non-Japanese legacy label (koi8-r, gb2312, ...): trust it if it decodes.
        text = _strict(data, cs)
        if text is not None:
            return Decoded(text, cs, tuple(defects))
    else:
        # No label, us-ascii, utf-8 or latin-1/cp1252 label. UTF-8 with a few broken
        # bytes is still UTF-8 (cp932 would "decode" it to fluent-looking mojibake);
        # otherwise Japanese only if it clearly is.
        lossy = _mostly_utf8(data) if cs != CP1252 else None
        if lossy is not None:
            defects.append(f"charset:undecodable:{UTF8}")
            return _result(lossy, UTF8, cs, declared, defects)
        best = _best_japanese(data, None)
        if best is not None and _plausibly_japanese(best[2]):
            return _result(best[0], best[1], cs, declared, defects)

    return _fallback(data, cs, declared, defects)


def _halfwidth_kana_only(data: bytes) -> bool:
    """Every 8-bit byte is a Shift_JIS half-width katakana (0xA1-0xDF).

    Such text ("ﾀｲｶｲ ｼｮﾘ ｶﾞ ﾐｶﾝﾘｮｳ", the style of old phones and of SMS-born
    scams) is also valid EUC-JP, where it reads as random kanji that score as
    "real Japanese". Real EUC-JP text practically never keeps every byte below
    0xE0 (most kanji and half the hiragana need one), so a Shift_JIS label on
    such bytes is believed.
    """
    high = [b for b in data if b >= 0x80]
    return bool(high) and all(0xA1 <= b <= 0xDF for b in high)


def _declared_reads_better(data: bytes, cs: str | None, utf8_text: str) -> bool:
    """A Japanese label whose strict decoding is clearly more Japanese than the UTF-8 one."""
    if cs not in (EUCJP, CP932):
        return False
    declared = _decode_eucjp(data) if cs == EUCJP else _decode_cp932(data)
    if declared is None:
        return False
    quality = japanese_quality(declared)
    return _plausibly_japanese(quality) and quality > japanese_quality(utf8_text)


def _mostly_utf8(data: bytes) -> str | None:
    """The lossy UTF-8 decoding when nearly all non-ASCII bytes form valid UTF-8."""
    lossy = data.decode(UTF8, "replace")
    bad = lossy.count("\ufffd")
    good = len(_NON_ASCII.findall(lossy)) - bad
    return lossy if good > 3 * bad else None


def _fallback(data: bytes, cs: str | None, declared: str | None, defects: list[str]) -> Decoded:
    """Nothing fitted strictly: pick the least damaging lossy decoding."""
    if cs in _JAPANESE:
        defects.append(f"charset:undecodable:{cs}")
        if cs == ISO2022JP and looks_iso2022jp(data):
            return Decoded(decode_iso2022jp(data, "replace"), ISO2022JP, tuple(defects))
        codec = "euc_jp" if cs == EUCJP else "cp932"
        return Decoded(data.decode(codec, "replace"), cs, tuple(defects))
    if cs is not None and cs not in (ASCII, UTF8, CP1252):
        defects.append(f"charset:undecodable:{cs}")
        return Decoded(data.decode(cs, "replace"), cs, tuple(defects))
    text = _strict(data, "cp1252")
    if text is not None:
        return _result(text, CP1252, cs, declared, defects)
    return _result(data.decode("latin-1"), LATIN1, cs, declared, defects)


def _result(
    text: str, used: str, cs: str | None, declared: str | None, defects: list[str]
) -> Decoded:
    """Record a defect when the label named one charset family and the bytes were another."""
    if declared and cs is not None and used != cs and not _compatible(cs, used):
        defects.append(f"charset:mislabelled:{_label(declared)}->{used}")
    return Decoded(text, used, tuple(defects))


def _compatible(declared: str, used: str) -> bool:
    return (declared, used) in {(CP1252, LATIN1), (UTF8, ASCII), (CP1252, ASCII)}


def _label(declared: str) -> str:
    return declared.strip().strip("\"'").lower()[:30]


def decode_header_bytes(data: bytes) -> str:
    """Undeclared 8-bit header bytes: UTF-8, else ISO-2022-JP, else cp932/EUC-JP, else cp1252."""
    if looks_iso2022jp(data):
        text = _strict_iso2022jp(data)
        if text is not None:
            return text
    if data.isascii():
        return data.decode("ascii")
    text = _strict(data, UTF8)
    if text is not None:
        return text
    best = _best_japanese(data, CP932)
    if best is not None and best[2] >= 0.5:
        return best[0]
    return decode_bytes(data, None).text
