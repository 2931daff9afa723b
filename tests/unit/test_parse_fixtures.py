"""End to end: each wire-format fixture parses to the right Japanese or English text."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from mailguard.parse import ParsedMessage, parse_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"

# The texts the fixture script encodes (tests/fixtures/parse/make_parse_fixtures.py).
SUBJECT = "【重要】ご利用料金未納のお知らせ"
SENDER = "ニホン債権管理センター"
CP932_LINES = [
    "有料動画サイトのご利用料金９万９千円が未納となっております。",
    "お問い合わせ：０３‐１２３４‐５６７８（㈱ニホン債権管理センター）",
    "① 退会手続きが完了しておりません",
    "② 延滞金が発生します（Ⅰ期分 ㍉）",
]
PLAIN_LINES = [
    "登録完了のお知らせです。退会手続きがお済みでない場合は、",
    "本日中に090-1234-5678までお電話ください。料金は10万円です。",
]


def load(name: str, **limits: int) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes(), **limits)


def generator() -> ModuleType:
    script = FIXTURES / "make_parse_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_parse_fixtures", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_fixtures_match_the_generator() -> None:
    built = generator().build()
    on_disk = {p.name for p in FIXTURES.glob("*.eml")}
    assert on_disk == set(built)
    for name, data in built.items():
        assert (FIXTURES / name).read_bytes() == data, f"{name} is stale: rerun the script"


@pytest.mark.parametrize(
    ("name", "declared", "used", "defect"),
    [
        ("ja_iso2022jp_cp932_ext.eml", "iso-2022-jp", "iso-2022-jp", None),
        ("ja_shift_jis.eml", "shift_jis", "cp932", None),
        ("ja_sjis_labelled_iso2022jp.eml", "iso-2022-jp", "cp932", "iso-2022-jp->cp932"),
        ("ja_utf8_labelled_iso2022jp.eml", "iso-2022-jp", "utf-8", "iso-2022-jp->utf-8"),
        ("ja_missing_charset_cp932.eml", None, "cp932", None),
        ("ja_missing_charset_iso2022jp.eml", None, "iso-2022-jp", None),
        ("ja_ascii_labelled_but_cp932.eml", "us-ascii", "cp932", "us-ascii->cp932"),
        ("ja_utf8_base64.eml", "utf-8", "utf-8", None),
    ],
)
def test_japanese_body_with_cp932_extensions(
    name: str, declared: str | None, used: str, defect: str | None
) -> None:
    msg = load(name)
    (part,) = msg.text_parts
    assert part.content_type == "text/plain"
    assert part.declared_charset == declared
    assert part.charset == used
    for line in CP932_LINES:
        assert line in part.text
    assert "\ufffd" not in part.text
    assert "\x1b" not in part.text
    mislabelled = [d for d in msg.defects if d.startswith("charset:mislabelled:")]
    assert mislabelled == ([f"charset:mislabelled:{defect}"] if defect else [])
    assert msg.subject == SUBJECT
    assert msg.from_ is not None and msg.from_.name == SENDER


@pytest.mark.parametrize(
    ("name", "used"),
    [
        ("ja_iso2022jp_7bit.eml", "iso-2022-jp"),
        ("ja_euc_jp.eml", "euc-jp"),
        ("ja_utf8_labelled_but_euc_jp.eml", "euc-jp"),
        ("ja_raw_8bit_headers.eml", "utf-8"),
    ],
)
def test_japanese_body_plain_jis(name: str, used: str) -> None:
    msg = load(name)
    (part,) = msg.text_parts
    assert part.charset == used
    for line in PLAIN_LINES:
        assert line in part.text
    assert msg.subject == SUBJECT
    assert [p.digits for p in msg.phones] == ["09012345678"]
    assert [(a.value, a.currency) for a in msg.amounts] == [(100000.0, "JPY")]


def test_iso2022jp_7bit_body_is_not_left_as_escape_sequences() -> None:
    msg = load("ja_iso2022jp_7bit.eml")
    assert msg.text_parts[0].text.startswith("お客様各位\n登録完了")
    assert "$B" not in msg.body_text


def test_split_encoded_words_subject() -> None:
    msg = load("ja_split_encoded_words.eml")
    assert msg.subject == SUBJECT
    assert msg.headers["subject"] == SUBJECT
    assert msg.body_text == "退会手続きのご案内です。"


def test_undeclared_8bit_headers() -> None:
    msg = load("ja_raw_8bit_headers.eml")
    assert msg.subject == SUBJECT
    assert msg.from_ is not None and msg.from_.name == SENDER  # Shift_JIS bytes
    assert msg.from_.addr == "info@nihon-saiken.example"
    assert [(a.name, a.addr) for a in msg.reply_to] == [("返信窓口", "reply@free-mail.example")]


def test_japanese_features_from_cp932_fixture() -> None:
    msg = load("ja_iso2022jp_cp932_ext.eml")
    assert [p.digits for p in msg.phones] == ["0312345678"]
    assert [(a.value, a.currency) for a in msg.amounts] == [(99000.0, "JPY")]
    assert "(株)ニホン債権管理センター" in msg.normalized  # NFKC folds ㈱
    assert "03‐1234‐5678" in msg.normalized
    assert msg.date is not None and msg.date.utcoffset() is not None
    assert msg.message_id == "<fixture-1@nihon-saiken.example>"


def test_html_only_message_drops_hidden_text_and_keeps_links() -> None:
    msg = load("en_html_only_hidden.eml")
    body = msg.body_text
    assert "Your Norton 360 subscription was renewed for $499.99." in body
    assert "Shown on desktop" in body
    for hidden in ("INVISIBLE TITLE", "scriptword", "preheader", "hidden innocent", "hidden by"):
        assert hidden not in body
    assert "comment text" not in body
    assert [(link.text, link.href) for link in msg.links] == [
        ("+1 – (888) – (611) – (3596)", "tel:+18886113596"),
        ("our portal", "https://User@Billing-Help.Example.COM:8443/cancel?id=1&x=2"),
    ]
    assert [u.domain for u in msg.urls] == ["billing-help.example.com"]
    assert [p.digits for p in msg.phones] == ["+18886113596"]
    assert msg.plain_text == ""
    assert msg.text_parts[0].content_type == "text/html"


def test_qp_utf8_with_invisible_characters() -> None:
    msg = load("en_utf8_qp_invisible.eml")
    assert "Order confirmed – #8841" in msg.normalized
    assert "Your order has been confirmed." in msg.normalized
    assert "Invoice total: US$ 349.00" in msg.normalized
    assert "GeekSquad support" in msg.normalized
    assert [p.digits for p in msg.phones] == ["18102288708"]
    assert [(a.value, a.currency) for a in msg.amounts] == [(349.0, "USD")]
    assert msg.reply_to[0].addr == "refunds.desk@free-mail.example"


def test_blank_body_with_pdf_invoice() -> None:
    msg = load("en_blank_body_pdf.eml")
    (pdf,) = msg.attachments
    assert pdf.filename == "Invoice №77120.pdf"
    assert pdf.content_type == "application/pdf"
    assert pdf.size > 500
    assert "Amount charged: $389.99" in pdf.text
    assert "To cancel call +1-888-611-3596 within 24 hours" in msg.body_text
    assert [p.digits for p in msg.phones] == ["+18886113596"]


def test_pdf_over_the_part_limit_is_not_opened() -> None:
    msg = load("en_blank_body_pdf.eml", max_part_size=100)
    assert msg.attachments[0].text == ""
    assert "pdf:too-large" in msg.defects


def test_calendar_invite_description() -> None:
    msg = load("en_calendar_invite.eml")
    (invite,) = msg.attachments
    assert invite.content_type == "text/calendar"
    assert invite.filename == "invite.ics"
    assert "PayPal payment of $549.00 processed" in invite.text
    assert "If you did not authorize this, call our billing team at (888) 611-3596;" in invite.text
    assert "refunds\tclose today." in invite.text
    assert invite.text in msg.body_text
    assert [p.digits for p in msg.phones] == ["8886113596"]


def test_headers_addresses_and_authentication() -> None:
    msg = load("en_headers_auth.eml")
    assert msg.return_path == "bounce+123@mailer.example.net"
    assert msg.from_ is not None and str(msg.from_) == "PayPal Service <service@paypal.example>"
    assert msg.sender is not None and msg.sender.addr == "bulk@mailer.example.net"
    reply_to = [a.addr for a in msg.reply_to]
    assert reply_to == ["paypal.refunds@free-mail.example", "desk@other.example"]
    assert [(a.name, a.addr) for a in msg.to] == [("", "a@example.com"), ("山田", "b@example.com")]
    assert msg.message_id == "<abc.123@mailer.example.net>"
    assert msg.list_id == "Billing notices <billing.mailer.example.net>"
    assert msg.list_unsubscribe.startswith("<mailto:unsub@mailer.example.net>")
    assert msg.auth.spf == "softfail"
    assert msg.auth.spf_domain == "mailer.example.net"
    assert msg.auth.dkim == "pass"
    assert msg.auth.dkim_domains == ("mailer.example.net", "paypal.example")
    assert msg.auth.dmarc == "fail"
    assert msg.auth.dmarc_domain == "paypal.example"
    assert msg.header("Subject") == "Invoice from PayPal"
    assert msg.headers["authentication-results"].startswith("mx.example.com;")
    assert [p.digits for p in msg.phones] == ["18102288708"]


def test_oversized_message_is_truncated_not_rejected() -> None:
    raw = (FIXTURES / "en_oversized.eml").read_bytes()
    msg = parse_message(raw, max_message_size=2000, max_part_size=500)
    assert msg.raw_size == len(raw)
    assert msg.truncated
    assert "truncated:message" in msg.defects
    (part,) = msg.text_parts
    assert part.truncated
    assert len(part.text) == 500
    assert "truncated:part" in msg.defects
    assert [p.digits for p in msg.phones] == ["18886113596"]
    whole = parse_message(raw)
    assert not whole.truncated
    assert not whole.text_parts[0].truncated
