"""Charset decoding: Japanese wire formats, lying labels, and sniffing without a label."""

from __future__ import annotations

import pytest

from mailguard.parse.charset import (
    canonical_charset,
    decode_bytes,
    decode_header_bytes,
    decode_iso2022jp,
    japanese_quality,
)

JA = "【重要】未納料金のお知らせ。本日中にご連絡ください。"
CP932_EXT = "①㈱Ⅰ㍉の請求書"


def jis_from_cp932(text: str) -> bytes:
    """ISO-2022-JP bytes for text that may contain CP932-only characters."""
    out = bytearray()
    jis = False
    for ch in text:
        if ord(ch) < 0x80:
            if jis:
                out += b"\x1b(B"
                jis = False
            out += ch.encode()
            continue
        b1, b2 = ch.encode("cp932")
        if b1 >= 0xE0:
            b1 -= 0x40
        row = (b1 - 0x81) * 2 + 0x21
        if b2 >= 0x9F:
            row, cell = row + 1, b2 - 0x9F + 0x21
        else:
            cell = b2 - 0x40 + 0x21 - (1 if b2 >= 0x80 else 0)
        if not jis:
            out += b"\x1b$B"
            jis = True
        out += bytes((row, cell))
    if jis:
        out += b"\x1b(B"
    return bytes(out)


def test_plain_iso2022jp_decodes_to_japanese() -> None:
    result = decode_bytes(JA.encode("iso2022_jp"), "ISO-2022-JP")
    assert result.text == JA
    assert result.charset == "iso-2022-jp"
    assert result.defects == ()


def test_iso2022jp_with_cp932_extensions_has_no_replacement_characters() -> None:
    data = jis_from_cp932(CP932_EXT)
    with pytest.raises(UnicodeDecodeError):
        data.decode("iso2022_jp")  # the stdlib codec really cannot do this
    result = decode_bytes(data, "iso-2022-jp")
    assert result.text == CP932_EXT
    assert "\ufffd" not in result.text


def test_iso2022jp_halfwidth_katakana_and_jis_x_0212() -> None:
    assert decode_iso2022jp(b"\x1b(I\x31\x32\x1b(B") == "ｱｲ"
    assert decode_iso2022jp(b"A\x0e\x31\x0fB") == "AｱB"
    assert decode_iso2022jp("丂".encode("iso2022_jp_2")) == "丂"  # JIS X 0212 designation


def test_broken_iso2022jp_is_decoded_lossily_with_a_defect() -> None:
    data = b"\x1b$B\x29\x21\x24\x22\x1b(B"  # row 9 is empty in JIS X 0208 and CP932
    result = decode_bytes(data, "iso-2022-jp")
    assert "あ" in result.text
    assert "charset:undecodable:iso-2022-jp" in result.defects


@pytest.mark.parametrize("label", ["shift_jis", "Shift-JIS", "x-sjis", "windows-31j", "cp932"])
def test_shift_jis_family_decodes_with_cp932(label: str) -> None:
    result = decode_bytes((JA + CP932_EXT).encode("cp932"), label)
    assert result.text == JA + CP932_EXT
    assert result.charset == "cp932"
    assert result.defects == ()


def test_euc_jp_including_row_13() -> None:
    assert decode_bytes(JA.encode("euc_jp"), "EUC-JP").text == JA
    assert decode_bytes("①㈱の請求".encode("euc_jis_2004"), "euc-jp").text == "①㈱の請求"


@pytest.mark.parametrize(
    ("data", "label", "used"),
    [
        ((JA + CP932_EXT).encode("cp932"), "iso-2022-jp", "cp932"),
        ((JA + CP932_EXT).encode("utf-8"), "iso-2022-jp", "utf-8"),
        ((JA + CP932_EXT).encode("cp932"), "us-ascii", "cp932"),
        ((JA + CP932_EXT).encode("cp932"), "utf-8", "cp932"),
        (JA.encode("euc_jp"), "utf-8", "euc-jp"),
        (JA.encode("iso2022_jp"), "utf-8", "iso-2022-jp"),
        (JA.encode("cp932"), "iso-8859-1", "cp932"),
    ],
)
def test_lying_labels_are_overruled_and_recorded(data: bytes, label: str, used: str) -> None:
    result = decode_bytes(data, label)
    assert result.text.startswith(JA[:10])
    assert result.charset == used
    assert f"charset:mislabelled:{label}->{used}" in result.defects


@pytest.mark.parametrize(
    ("data", "used"),
    [
        (JA.encode("utf-8"), "utf-8"),
        (jis_from_cp932(JA + CP932_EXT), "iso-2022-jp"),
        ((JA + CP932_EXT).encode("cp932"), "cp932"),
        (JA.encode("euc_jp"), "euc-jp"),
        (b"plain ascii", "us-ascii"),
        ("Café crème, déjà vu".encode("cp1252"), "windows-1252"),
    ],
)
def test_missing_charset_is_sniffed(data: bytes, used: str) -> None:
    result = decode_bytes(data, None)
    assert result.charset == used
    assert "\ufffd" not in result.text
    assert result.defects == ()


def test_latin1_text_is_not_mistaken_for_japanese() -> None:
    text = "Résumé: naïve café owners paid €20 — “thanks”"
    result = decode_bytes(text.encode("cp1252"), "utf-8")
    assert result.text == text
    assert result.charset == "windows-1252"


def test_mostly_utf8_with_a_broken_byte_stays_utf8() -> None:
    data = ("お知らせ" * 5).encode("utf-8") + b"\xff" + "です".encode()
    result = decode_bytes(data, "utf-8")
    assert result.text.startswith("お知らせ")
    assert result.charset == "utf-8"
    assert "charset:undecodable:utf-8" in result.defects


def test_utf8_cut_mid_character_at_the_end_is_not_a_lie() -> None:
    data = JA.encode("utf-8")[:-1]
    result = decode_bytes(data, "utf-8")
    assert result.charset == "utf-8"
    assert result.text == JA[:-1]


def test_unknown_and_dangerous_labels_are_sniffed_instead() -> None:
    assert canonical_charset("x-unknown-charset") is None
    assert canonical_charset("unicode_escape") is None
    assert canonical_charset("rot13") is None
    result = decode_bytes(JA.encode("utf-8"), "x-unknown-charset")
    assert result.text == JA
    assert "charset:unknown:x-unknown-charset" in result.defects


def test_other_legacy_charsets_still_work() -> None:
    assert decode_bytes("Привет".encode("koi8-r"), "koi8-r").text == "Привет"
    assert decode_bytes("你好".encode("gb2312"), "GB2312").text == "你好"
    assert decode_bytes("x".encode("utf-16"), "utf-16").text == "x"


def test_decode_never_raises_on_junk() -> None:
    for data in (b"\x1b$B\x1b", b"\x1b$(Q\xff", bytes(range(256)), b"\x00" * 5):
        for label in (None, "iso-2022-jp", "utf-8", "utf-16", "euc-jp", "bogus"):
            assert isinstance(decode_bytes(data, label).text, str)


def test_header_bytes_without_a_label() -> None:
    assert decode_header_bytes(JA.encode("utf-8")) == JA
    assert decode_header_bytes(JA.encode("cp932")) == JA
    assert decode_header_bytes("返信窓口".encode("euc_jp")) == "返信窓口"
    assert decode_header_bytes("Réponse".encode("latin-1")) == "Réponse"


def test_japanese_quality_separates_real_text_from_mojibake() -> None:
    assert japanese_quality(JA) > 0.9
    garbage = "Café crème résumé".encode("cp1252").decode("cp932", "replace")
    assert japanese_quality(garbage) < 0.5


def test_half_width_katakana_shift_jis_keeps_its_label() -> None:
    """All-half-width text is valid EUC-JP too (as random kanji); the Shift_JIS label wins."""
    text = "ﾀｲｶｲｼｮﾘｶﾞﾐｶﾝﾘｮｳﾃﾞｽ ﾎﾝｼﾞﾂﾁｭｳﾆ ｺﾞﾚﾝﾗｸｸﾀﾞｻｲ 03-5555-0101"
    decoded = decode_bytes(text.encode("cp932"), "Shift_JIS")
    assert decoded.text == text and decoded.charset == "cp932" and not decoded.defects
    # Real EUC-JP under a Shift_JIS label is still recognised as the lie it is.
    lie = decode_bytes(JA.encode("euc_jp"), "Shift_JIS")
    assert lie.text == JA and lie.charset == "euc-jp"


def test_short_euc_jp_that_is_also_valid_utf8_keeps_its_label() -> None:
    """EUC-JP 「未納」 (CC A4 C7 BC) is valid UTF-8 for "̤Ǽ"; the label's reading wins."""
    data = "未納".encode("euc_jp")
    assert data.decode("utf-8") != "未納", "the premise: these bytes are valid UTF-8"
    assert decode_bytes(data, "EUC-JP").text == "未納"
    from mailguard.parse.headers import decode_header

    assert decode_header("=?EUC-JP?B?zKTHvA==?=") == "未納"
    # Real UTF-8 under a Japanese label is still read as UTF-8.
    assert decode_bytes(JA.encode("utf-8"), "EUC-JP").text == JA
