"""Wire-format helpers shared by the mail fixture generator and the spec renderer.

Shared by ``mailguard.testing.mailspec`` (own data sets) and
``mailguard.testing.fixturemail`` (the test fixtures) so that both write
Japanese mail the same way real mailers do: ISO-2022-JP line by line (each
line ends in ASCII, RFC 1468), CP932 for Shift_JIS, NEC special characters as
JIS row 13 codes, RFC 2047 encoded words of at most 75 characters, and a tiny
uncompressed PDF writer whose text pypdf can read back. All functions work on
LF line endings; callers convert to CRLF once at the end.
"""

from __future__ import annotations

import base64
from email import quoprimime


def _sjis_pair_to_jis(b1: int, b2: int) -> tuple[int, int]:
    if b1 >= 0xE0:
        b1 -= 0x40
    row = b1 - 0x81
    if b2 >= 0x80:
        b2 -= 1
    if b2 >= 0x9E:
        return row * 2 + 0x22, b2 - 0x9E + 0x21
    return row * 2 + 0x21, b2 - 0x40 + 0x21


def cp932_to_jis_line(line: str) -> bytes:
    """Encode one line as ISO-2022-JP using CP932's repertoire.

    Each double-byte CP932 character is converted to its JIS row/cell, so
    NEC row 13 (①, ㈱, ㍉ …) ends up inside ESC $ B runs, which a strict
    ISO-2022-JP decoder rejects and a CP932-aware one reads correctly.
    """
    out = bytearray()
    kanji = False
    for ch in line:
        if ord(ch) < 0x80:
            if kanji:
                out += b"\x1b(B"
                kanji = False
            out += ch.encode("ascii")
            continue
        sj = ch.encode("cp932")
        if len(sj) != 2 or not (0x81 <= sj[0] <= 0x9F or 0xE0 <= sj[0] <= 0xEF):
            raise ValueError(f"{ch!r} has no JIS row/cell")
        if not kanji:
            out += b"\x1b$B"
            kanji = True
        out += bytes(_sjis_pair_to_jis(sj[0], sj[1]))
    if kanji:
        out += b"\x1b(B"
    return bytes(out)


def _jis_or_cp932_line(line: str) -> bytes:
    try:
        return line.encode("iso2022_jp")
    except UnicodeEncodeError:
        return cp932_to_jis_line(line)


def encode_text(text: str, codec: str) -> bytes:
    """Text (LF line endings) to bytes (LF line endings), strictly."""
    lines = text.split("\n")
    if codec == "cp932-jis":
        return b"\n".join(cp932_to_jis_line(x) for x in lines)
    if codec == "iso2022_jp+cp932":
        # what Windows mailers send: standard ISO-2022-JP where it suffices,
        # the NEC/CP932 row 13 codes (①, ㈱, ～) only on lines that need them
        return b"\n".join(_jis_or_cp932_line(x) for x in lines)
    if codec.replace("-", "").replace("_", "").lower() == "iso2022jp":
        # encode line by line so that every line ends in ASCII (RFC 1468)
        return b"\n".join(x.encode("iso2022_jp") for x in lines)
    return text.encode(codec)


def b64_lines(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\n".join(enc[i : i + 76] for i in range(0, len(enc), 76))


def apply_cte(data: bytes, cte: str) -> bytes:
    if cte == "7bit":
        assert all(b < 0x80 for b in data), "7bit part holds 8-bit bytes"
        return data
    if cte == "8bit":
        return data
    if cte == "base64":
        return b64_lines(data.replace(b"\n", b"\r\n"))
    if cte == "quoted-printable":
        enc = quoprimime.body_encode(data.decode("latin-1"), maxlinelen=76, eol="\n")
        return enc.encode("ascii")
    raise ValueError(cte)


def py_codec(label: str) -> str:
    # Shift_JIS mail is written by Windows software: its repertoire is CP932.
    return {"iso-2022-jp": "iso2022_jp", "us-ascii": "ascii", "shift_jis": "cp932"}.get(
        label.lower(), label
    )


def encoded_words(text: str, charset: str, mode: str = "B", split: int | None = None) -> list[str]:
    """RFC 2047 encoded words, each at most 75 characters.

    Normally each word holds whole characters and, for ISO-2022-JP, a
    complete escape sequence. With ``split`` the whole string is encoded once
    and the raw bytes are cut every ``split`` bytes, so escape sequences and
    double-byte characters straddle words (seen in the wild).
    """
    codec = py_codec(charset)
    prefix = f"=?{charset}?{mode}?"

    def word(raw: bytes) -> str:
        if mode == "B":
            return prefix + base64.b64encode(raw).decode() + "?="
        q = quoprimime.header_encode(raw, charset="latin-1")
        return prefix + q[len("=?latin-1?q?") : -2] + "?="

    if split:
        raw = encode_text(text, codec)
        return [word(raw[i : i + split]) for i in range(0, len(raw), split)]
    words: list[str] = []
    chunk = ""
    for ch in text:
        trial = chunk + ch
        if chunk and len(word(encode_text(trial, codec))) > 75:
            words.append(word(encode_text(chunk, codec)))
            chunk = ch
        else:
            chunk = trial
    if chunk:
        words.append(word(encode_text(chunk, codec)))
    return words


def fold_ascii(name: str, value: str) -> str:
    """Fold an ASCII header at spaces so that lines stay under 78 columns."""
    out = f"{name}: "
    line_len = len(out)
    first = True
    for tok in value.split(" "):
        if not first and line_len + 1 + len(tok) > 76:
            out += "\n " + tok
            line_len = 1 + len(tok)
        else:
            out += ("" if first else " ") + tok
            line_len += (0 if first else 1) + len(tok)
        first = False
    return out


def quote_phrase(name: str) -> str:
    if any(c in name for c in '()<>[]:;@\\,."'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _pdf_doc(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def _pdf_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[tuple[int, str]], title: str, japanese: bool = False) -> bytes:
    """One A4 page; ``lines`` are (font size, text). Japanese uses a
    non-embedded HeiseiKakuGo-W5 with UniJIS-UCS2-H (text as UTF-16BE)."""
    ops = ["BT", "72 770 Td"]
    prev = 0
    for size, text in lines:
        if prev:
            ops.append(f"0 -{int(prev * 1.6)} Td")
        ops.append(f"/F1 {size} Tf")
        if japanese:
            ops.append(f"<{text.encode('utf-16-be').hex().upper()}> Tj")
        else:
            ops.append(f"({_pdf_escape(text)}) Tj")
        prev = size
    ops.append("ET")
    # Latin text is in the font's WinAnsiEncoding (cp1252: £, €, é); a character it
    # lacks becomes "?" rather than failing the whole spec.
    content = "\n".join(ops).encode("ascii" if japanese else "cp1252", "replace")
    if japanese:
        font = [
            b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiKakuGo-W5 "
            b"/Encoding /UniJIS-UCS2-H /DescendantFonts [6 0 R] >>",
            b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiKakuGo-W5 "
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> "
            b"/FontDescriptor 7 0 R >>",
            b"<< /Type /FontDescriptor /FontName /HeiseiKakuGo-W5 /Flags 4 "
            b"/FontBBox [-92 -250 1010 922] /ItalicAngle 0 /Ascent 880 /Descent -120 "
            b"/CapHeight 737 /StemV 93 >>",
        ]
    else:
        font = [
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
        ]
    title_hex = ("\ufeff" + title).encode("utf-16-be").hex().upper()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *font,
        f"<< /Title <{title_hex}> /Producer (Report Writer 4.2) "
        f"/CreationDate (D:20240301090000Z) >>".encode(),
    ]
    return _pdf_doc(objects)


def html_doc(body: str, title: str = "", lang: str = "ja") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="' + lang + '">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n{body.strip()}\n</body>\n</html>\n"
    )


def para_html(text: str) -> str:
    """Plain text to simple HTML paragraphs (used for text+HTML alternatives)."""
    blocks = [b for b in text.strip("\n").split("\n\n") if b.strip()]
    out = []
    for b in blocks:
        lines = [
            ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            for ln in b.split("\n")
        ]
        out.append("<p>" + "<br>\n".join(lines) + "</p>")
    return "\n".join(out)
