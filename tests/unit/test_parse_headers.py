"""Header decoding: encoded words (split ISO-2022-JP too), raw 8-bit, addresses, dates, auth."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailguard.parse.headers import (
    decode_encoded_words,
    decode_header,
    parse_addresses,
    parse_auth_results,
    parse_date,
    parse_message_id,
    parse_return_path,
)

SUBJECT = "【重要】退会手続きが完了しておりません"


def b_word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def test_single_encoded_words() -> None:
    assert decode_header(b_word("ISO-2022-JP", SUBJECT.encode("iso2022_jp"))) == SUBJECT
    assert decode_header(b_word("utf-8", SUBJECT.encode())) == SUBJECT
    assert decode_header("=?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?=") == "Café crème"
    assert decode_header(b_word("Shift_JIS", "①㈱".encode("cp932"))) == "①㈱"


@pytest.mark.parametrize("cut", range(1, 20))
def test_iso2022jp_split_anywhere_across_words(cut: int) -> None:
    raw = SUBJECT.encode("iso2022_jp")
    words = [b_word("ISO-2022-JP", raw[:cut]), b_word("ISO-2022-JP", raw[cut:])]
    assert decode_header("\r\n ".join(words)) == SUBJECT


def test_utf8_character_split_across_q_words() -> None:
    raw = "退会".encode()
    q = "".join(f"={b:02X}" for b in raw)
    value = f"=?utf-8?q?{q[:6]}?= =?utf-8?q?{q[6:]}?="  # two bytes, then the other four
    assert decode_header(value) == "退会"


def test_space_between_words_and_text_is_kept_only_where_rfc2047_says() -> None:
    words = b_word("utf-8", "退会".encode()) + " " + b_word("utf-8", "手続き".encode())
    value = "Re: " + words + " now"
    assert decode_header(value) == "Re: 退会手続き now"


def test_mixed_charsets_in_adjacent_words() -> None:
    first = b_word("iso-2022-jp", "未納".encode("iso2022_jp"))
    value = first + " " + b_word("utf-8", "料金".encode())
    assert decode_encoded_words(value) == "未納料金"


def test_sloppy_encoded_words_still_decode() -> None:
    unpadded = base64.b64encode("請求書".encode()).decode().rstrip("=")
    assert decode_header(f"=?UTF-8?B?{unpadded}?=") == "請求書"
    with_language = "=?utf-8*ja?B?" + base64.b64encode("請求".encode()).decode() + "?="
    assert decode_header(with_language) == "請求"
    assert decode_header("=?iso-2022-jp?B?!!!?=") == ""  # junk base64: no crash


def test_raw_8bit_headers_are_sniffed() -> None:
    def raw(value: bytes) -> str:  # how compat32 hands 8-bit header bytes to us
        return value.decode("ascii", "surrogateescape")

    assert decode_header(raw(SUBJECT.encode("utf-8"))) == SUBJECT
    assert decode_header(raw(SUBJECT.encode("cp932"))) == SUBJECT
    assert decode_header(raw(SUBJECT.encode("euc_jp"))) == SUBJECT
    assert decode_header(SUBJECT.encode("iso2022_jp").decode("ascii")) == SUBJECT


def test_folding_and_control_characters() -> None:
    assert decode_header("Your order\r\n\thas shipped") == "Your order\thas shipped"
    assert decode_header("=?utf-8?q?a=0Ab?=") == "a b"


def test_addresses_decode_display_names() -> None:
    name = b_word("ISO-2022-JP", "ニホン債権管理センター".encode("iso2022_jp"))
    (addr,) = parse_addresses(f"{name} <Info@Saiken.EXAMPLE>")
    assert addr.name == "ニホン債権管理センター"
    assert addr.addr == "info@saiken.example"
    assert addr.domain == "saiken.example"


def test_address_forms() -> None:
    quoted = parse_addresses('"PayPal <service@paypal.com>" <scam@evil.example>')
    assert quoted[0].name == "PayPal <service@paypal.com>"
    assert quoted[0].addr == "scam@evil.example"
    unquoted = parse_addresses("PayPal service@paypal.com <scam@evil.example>")
    assert unquoted[0].addr == "scam@evil.example"
    many = parse_addresses("a@x.example, Bob <b@y.example>, \"Doe, J\" <c@z.example>")
    assert [a.addr for a in many] == ["a@x.example", "b@y.example", "c@z.example"]
    assert many[2].name == "Doe, J"
    assert parse_addresses("undisclosed-recipients:;") == ()
    assert parse_addresses("") == ()
    assert parse_addresses("<>") == ()


def test_raw_8bit_display_name() -> None:
    value = ("返信窓口".encode("euc_jp") + b" <r@free.example>").decode("ascii", "surrogateescape")
    (addr,) = parse_addresses(value)
    assert addr.name == "返信窓口"


def test_dates() -> None:
    jst = timezone(timedelta(hours=9))
    expected = datetime(2024, 1, 15, 10, 30, tzinfo=jst)
    assert parse_date("Mon, 15 Jan 2024 10:30:00 +0900") == expected
    naive = parse_date("Sat, 6 Jul 2024 01:02:03 -0000")
    assert naive == datetime(2024, 7, 6, 1, 2, 3, tzinfo=UTC)
    assert parse_date("15 Jan 2024 10:30:00 +0900 (JST)") is not None
    assert parse_date("not a date") is None
    assert parse_date("") is None
    assert parse_date("Mon, 99 Foo 99999 99:99:99 +9999") is None


def test_message_id_and_return_path() -> None:
    assert parse_message_id("  <abc@x.example> (comment)") == "<abc@x.example>"
    assert parse_return_path("<Bounce@Mailer.Example>") == "bounce@mailer.example"
    assert parse_return_path("<>") == ""


def test_authentication_results_topmost_header_wins() -> None:
    top = (
        "mx.example.com; dkim=pass header.i=@mailer.example; dkim=fail header.d=paypal.example;"
        " spf=softfail (sender not allowed) smtp.mailfrom=Bounce@Mailer.Example;"
        " dmarc=fail (p=REJECT) header.from=paypal.example"
    )
    forged = "evil.example; spf=pass smtp.mailfrom=paypal.example; dmarc=pass header.from=p.example"
    auth = parse_auth_results([top, forged])
    assert auth.spf == "softfail"
    assert auth.spf_domain == "mailer.example"
    assert auth.dkim == "pass"
    assert auth.dkim_domains == ("mailer.example", "paypal.example")
    assert auth.dmarc == "fail"
    assert auth.dmarc_domain == "paypal.example"
    assert auth.any_fail


def test_authentication_results_microsoft_style_and_received_spf() -> None:
    ms = "spf=none (sender IP is 1.2.3.4) smtp.mailfrom=x.example; dkim=none (message not signed)"
    ms += " header.d=none;dmarc=none action=none header.from=x.example;compauth=fail reason=001"
    auth = parse_auth_results([ms])
    assert (auth.spf, auth.dkim, auth.dmarc) == ("none", "none", "none")
    assert auth.dkim_domains == ()
    assert not auth.any_fail
    only_received = parse_auth_results([], ["Fail (mx: domain of a@b does not designate)"])
    assert only_received.spf == "fail"
    assert parse_auth_results([]).spf is None
