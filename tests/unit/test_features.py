"""Derived features: normalisation, phones, amounts, URLs and the visible body."""

from __future__ import annotations

import pytest

from mailguard.parse import parse_message
from mailguard.parse.features import (
    extract_amounts,
    extract_phones,
    normalize,
    parse_japanese_number,
    url_domain,
)


def phones(text: str) -> list[str]:
    return [p.digits for p in extract_phones(normalize(text))]


def amounts(text: str) -> list[tuple[float, str]]:
    return [(a.value, a.currency) for a in extract_amounts(normalize(text))]


# --- normalize ---------------------------------------------------------------


def test_normalize_folds_width_and_removes_invisible_characters() -> None:
    assert normalize("ｃａｌｌ　０３‐１２３４") == "call 03‐1234"
    hidden = "con\u200bfirm\u200d In\u00advoice\ufeff Pay\u2060Pal"
    assert normalize(hidden) == "confirm Invoice PayPal"
    assert normalize("No\u034frton\ufe0f\U000e0101 ㈱") == "Norton (株)"
    assert normalize("\u202eevil\u202c") == "evil"
    assert normalize("Mixed Case stays") == "Mixed Case stays"


# --- phones ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("お問い合わせ 03-1234-5678 まで", "0312345678"),
        ("フリーダイヤル 0120-123-456", "0120123456"),
        ("携帯 090-1234-5678", "09012345678"),
        ("０３‐１２３４‐５６７８", "0312345678"),
        ("０３ー１２３４ー５６７８", "0312345678"),
        ("０３−１２３４−５６７８", "0312345678"),
        ("０３－１２３４－５６７８", "0312345678"),
        ("０３―１２３４―５６７８", "0312345678"),
        ("(03)1234-5678", "0312345678"),
        ("電話：0312345678", "0312345678"),
        ("+1 – (888) – (611) – (3596)", "+18886113596"),
        ("call 1.810.228.8708 now", "18102288708"),
        ("(888) 611-3596", "8886113596"),
        ("+1-888-611-3596", "+18886113596"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+81 3-1234-5678", "+81312345678"),
        ("Call us at 8886113596", "8886113596"),
        ("1 (888) 611-3596", "18886113596"),
        # Bare Japanese numbers: the cue follows, or the prefix says "phone".
        ("至急 0345678901 料金センター迄ご連絡下さい", "0345678901"),
        ("0345678901までお電話ください", "0345678901"),
        ("０３４５６７８９０１（サポート窓口）", "0345678901"),
        ("0120987654", "0120987654"),
        ("問題があれば 08009876543", "08009876543"),
        ("未納です。09087654321", "09087654321"),
        ("05012349876 へ", "05012349876"),
        # Opening hours glued to the number in parentheses, and a parenthesised exchange.
        ("0120-386-914（24時間受付）までお電話ください", "0120386914"),
        ("お問い合わせ 0120-415-293（9:00～20:00）", "0120415293"),
        ("電話 03(3581)4321", "0335814321"),
        ("call 1-800-555-0199(24/7)", "18005550199"),
        # The UK's five-plus-six layout, landline and mobile.
        ("Call 01632 960123 now", "01632960123"),
        ("text 07700 900123", "07700900123"),
    ],
)
def test_phone_forms(text: str, digits: str) -> None:
    assert phones(text) == [digits]


@pytest.mark.parametrize(
    "text",
    [
        "Date 2024-01-15",
        "on 2024/01/15 10:30",
        "12/25/2023 and 06/08/2002",
        "Order #112-3456789-1234567",
        "Order 0312345678",
        "reference 8886113596",
        "ZIP 90210-1234",
        "〒100-0001",
        "server 192.168.100.200",
        "total $1,234.56",
        "Invoice 2023-10-1234",
        "card 4111 1111 1111 1111",
        "version 0.2 10024 604",
        "1999-2024",
        # Bare numbers without a cue, or labelled as identifiers.
        "0345678901",
        "Order 0345678901. Questions? Call us",
        "注文番号 09087654321 のお問い合わせは下記まで",
        "会員ID：0120987654",
        "伝票 0345678901 の配達についてはサポートへ",
        "0345678901。ご連絡ください",
        "8886113596 call us",
    ],
)
def test_things_that_are_not_phones(text: str) -> None:
    assert phones(text) == []


def test_phone_found_next_to_a_date_and_several_in_one_run() -> None:
    assert phones("2024-01-15 03-1234-5678") == ["0312345678"]
    assert phones("TEL 03-1234-5678 / 03-1234-5679") == ["0312345678", "0312345679"]


def test_phone_raw_and_international_flag() -> None:
    (phone,) = extract_phones(normalize("Call +1 (888) 611-3596."))
    assert phone.raw == "+1 (888) 611-3596"
    assert phone.international
    (domestic,) = extract_phones("03-1234-5678")
    assert not domestic.international


# --- amounts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("料金9万9千円を", 99000, "JPY"),
        ("99,000円", 99000, "JPY"),
        ("¥99,000", 99000, "JPY"),
        ("￥９９，０００", 99000, "JPY"),
        ("10万円", 100000, "JPY"),
        ("１０万円", 100000, "JPY"),
        ("九万九千円", 99000, "JPY"),
        ("1万5000円", 15000, "JPY"),
        ("¥99,000円", 99000, "JPY"),
        ("ご請求額 \\12,800- となります", 12800, "JPY"),  # 0x5C written for ¥ (ISO-2022-JP/SJIS)
        ("12,000 yen", 12000, "JPY"),
        ("$499.99", 499.99, "USD"),
        ("USD 299", 299, "USD"),
        ("US$1,299.00", 1299, "USD"),
        ("500 dollars", 500, "USD"),
        ("£49.99", 49.99, "GBP"),
        ("GBP 20", 20, "GBP"),
        ("€1.234,56", 1234.56, "EUR"),
        ("99 EUR", 99, "EUR"),
    ],
)
def test_amount_forms(text: str, value: float, currency: str) -> None:
    assert amounts(text) == [(pytest.approx(value), currency)]


def test_not_amounts() -> None:
    assert amounts("数万円の請求") == []
    assert amounts("Call 1-800-555-0199 about order 12345") == []
    assert amounts("Saved to C:\\2024\\reports\\0315.txt") == [], "a path is no yen amount"


def test_amounts_are_distinct_and_keep_raw_text() -> None:
    found = extract_amounts(normalize("Total $499.99. You were charged $499.99 and ¥5,000."))
    assert [(a.raw, a.value, a.currency) for a in found] == [
        ("$499.99", 499.99, "USD"),
        ("¥5,000", 5000.0, "JPY"),
    ]


def test_amounts_after_characters_that_grow_when_lower_cased() -> None:
    assert amounts("İİİ total 500 USD, İ 20 Euro") == [(500, "USD"), (20, "EUR")]


def test_japanese_numbers() -> None:
    assert parse_japanese_number("9万9千") == 99000
    assert parse_japanese_number("百万") == 1_000_000
    assert parse_japanese_number("二〇二四") == 2024
    assert parse_japanese_number("3.5万") == 35000


def test_long_digit_runs_are_fast_enough_to_finish() -> None:
    text = "1" * 50_000 + "円 " + "9," * 20_000 + "$ " + "一" * 20_000 + "円"
    assert isinstance(extract_amounts(text), tuple)
    assert isinstance(extract_phones("0" * 50_000 + " " + "1-" * 20_000), tuple)


# --- URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://User:pw@EVIL.Example:8443/x", "evil.example"),
        ("http://[::1]:80/", "::1"),
        ("http://[broken", "broken"),
        ("www.Example.co.jp.", "www.example.co.jp"),
        ("https://a.example\\@b.example/", "a.example"),
        ("http://host.example?q=1", "host.example"),
    ],
)
def test_url_domain(url: str, domain: str) -> None:
    assert url_domain(url) == domain


def _msg(body: str, ctype: str = "text/plain") -> bytes:
    return (
        f"From: a@b.example\r\nSubject: s\r\nContent-Type: {ctype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body.encode()


def test_urls_from_text_and_hrefs() -> None:
    html = (
        '<p>Go to <a href="https://Evil.Example:8080/pay?x=1&amp;y=2">paypal.com</a> or '
        '<a href="//cdn.example/x">cdn</a> or <a href="mailto:a@b.example">mail</a>.</p>'
        "<p>Also https://text-url.example/path). and www.plain.example, and ｈｔｔｐｓ://ｗｉｄｅ.example</p>"
    )
    urls = parse_message(_msg(html, "text/html")).urls
    assert [(u.url, u.domain) for u in urls] == [
        ("https://Evil.Example:8080/pay?x=1&y=2", "evil.example"),
        ("http://cdn.example/x", "cdn.example"),
        ("https://text-url.example/path", "text-url.example"),
        ("www.plain.example", "www.plain.example"),
        ("https://wide.example", "wide.example"),
    ]


def test_bare_host_names_are_links_unless_they_are_a_links_disguise() -> None:
    plain = "Sign in to zoom.us to update your card, or pay at cutt.ly/3xYz. See invoice.pdf."
    urls = parse_message(_msg(plain)).urls
    assert [(u.url, u.domain) for u in urls] == [
        ("http://zoom.us", "zoom.us"),
        ("http://cutt.ly/3xYz", "cutt.ly"),
    ], "file names and sentence dots are no hosts"
    reserved = "Log in at courier-paper.example/myaccount or pay at kx7r.test/a/9f."
    urls = parse_message(_msg(reserved)).urls
    assert [u.domain for u in urls] == ["courier-paper.example", "kx7r.test"], (
        "the reserved TLDs our own texts use read as the real ones they stand for"
    )
    html = '<p>Log in at <a href="https://evil.example/x">paypal.com</a> today.</p>'
    urls = parse_message(_msg(html, "text/html")).urls
    assert [u.domain for u in urls] == ["evil.example"], "the shown host is where the href goes"


# --- visible body ------------------------------------------------------------


def _alternative(plain: str, html: str) -> bytes:
    return (
        "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{plain}\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{html}\r\n--b--\r\n"
    ).encode()


def test_visible_body_uses_plain_when_html_says_the_same() -> None:
    html = "<p>Your <b>order</b> shipped today.</p>"
    msg = parse_message(_alternative("Your order shipped today.", html))
    assert msg.body_text == "Your order shipped today."


def test_visible_body_keeps_both_alternatives_when_they_differ() -> None:
    html = "<p>Call +1 888 611 3596 to cancel your renewal.</p>"
    msg = parse_message(_alternative("Thanks for your order.", html))
    assert "Thanks for your order." in msg.body_text
    assert "to cancel your renewal" in msg.body_text
    assert [p.digits for p in msg.phones] == ["+18886113596"]


def test_visible_body_takes_the_html_when_only_it_shows_the_quotation() -> None:
    """A bank's warning quotes the fake in a <blockquote>; its generated plain part
    has the same words without the "> ". The quoted lines must stay quoted."""
    fake = "Your card payment failed. Pay today or your card will be stopped."
    html = f"<p>This fake mail is going round:</p><blockquote>{fake}</blockquote><p>Ignore it.</p>"
    plain = f"This fake mail is going round:\n{fake}\nIgnore it."
    msg = parse_message(_alternative(plain, html))
    assert f"> {fake}" in msg.body_text.splitlines()
    # Both quoting: the plain part as ever.
    msg = parse_message(_alternative(plain.replace(fake, "> " + fake), html))
    assert msg.body_text == plain.replace(fake, "> " + fake)


def test_normalized_includes_subject_and_is_folded() -> None:
    subject = b"Subject: =?utf-8?B?44CQ6YeN6KaB44CR?="  # 【重要】
    raw = _msg("ご連絡は０３‐１２３４‐５６７８へ").replace(b"Subject: s", subject)
    msg = parse_message(raw)
    assert msg.normalized.startswith("【重要】\n")
    assert "03‐1234‐5678" in msg.normalized
