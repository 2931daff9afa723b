"""Situations are derived once, and the digest keeps its promises to a frightened reader.

Each test here pins one finding of the "frightened user" review: no court
warning for a bill that names no court, a one-bill digest that fits a phone
screen, evidence quoted as the message wrote it, one number per message,
alerts for mail that cannot wait, and help lists that contain what the advice
points at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailguard.detect.quotes import readable_quote
from mailguard.digest import DigestItem, DigestReason, render_digest
from mailguard.digest.nextsteps import countries_data, help_section
from mailguard.situations import ReasonFacts, alert_reasons, derive_situations
from mailguard.vocabulary import Situation

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=JST)


def facts(*rows: tuple[str, str, float, str]) -> list[ReasonFacts]:
    return [ReasonFacts(rule, family, weight, evidence) for rule, family, weight, evidence in rows]


ADULT_SITE_BILL = facts(
    ("ja.registration.complete", "registration", 3.0, "ご登録ありがとうございます"),
    ("ja.legal.steps", "legal", 3.0, "法的手続きに移行"),
    ("ja.urgency.today", "urgency", 1.5, "本日中にご連絡"),
)


# ---------------------------------------------------------------- official claims


def test_a_legal_threat_from_a_company_is_not_a_court_claim() -> None:
    sits = derive_situations(
        verdict="scam",
        category="fake_billing",
        reasons=ADULT_SITE_BILL,
        sender_name="ピンクチャンネル 運営事務局",
        subject="【重要】未払い料金のご案内",
    )
    assert sits == {Situation.FAKE_BILL}


@pytest.mark.parametrize(
    ("sender", "evidence"),
    [
        ("法務省管轄支局 民事訴訟管理センター", ""),
        ("", "東京地方裁判所より通知"),
        ("山田総合法律事務所", ""),
        ("Court Services Department", ""),
    ],
)
def test_a_sender_presenting_itself_as_court_or_law_office_is(sender: str, evidence: str) -> None:
    reasons = facts(("x.official", "official", 3.0, evidence)) if evidence else ADULT_SITE_BILL
    sits = derive_situations(
        verdict="scam", category="fake_billing", reasons=reasons, sender_name=sender
    )
    assert Situation.OFFICIAL_CLAIM in sits


def test_bnpl_style_lawyer_wording_is_not_an_official_claim() -> None:
    reasons = facts(("ja.legal.lawyer", "legal", 2.0, "弁護士への回収委任もしくは法的手続き"))
    sits = derive_situations(verdict="scam", category="fake_billing", reasons=reasons)
    assert Situation.OFFICIAL_CLAIM not in sits


def test_a_bill_that_invites_withdrawal_contact_is_also_a_withdrawal_lure() -> None:
    reasons = [*ADULT_SITE_BILL, *facts(("ja.withdrawal.contact", "withdrawal", 2.0, "退会"))]
    sits = derive_situations(verdict="scam", category="fake_billing", reasons=reasons)
    assert {Situation.FAKE_BILL, Situation.WITHDRAWAL_LURE} <= sits


def test_contact_or_follow_up_wording_means_after_contact() -> None:
    assert Situation.AFTER_CONTACT in derive_situations(
        verdict="scam", category="withdrawal", reasons=(), contacted=True
    )
    follow = facts(("ja.postcontact.thanks", "postcontact", 3.0, "お電話ありがとうございました"))
    assert Situation.AFTER_CONTACT in derive_situations(
        verdict="scam", category="withdrawal", reasons=follow
    )
    assert derive_situations(verdict="clean", category=None, reasons=follow) == frozenset()


def _item(sits: frozenset[Situation], **kw: object) -> DigestItem:
    base: dict[str, object] = {
        "id": 9,
        "arrived": datetime(2026, 11, 28, 6, 14, tzinfo=UTC),
        "sender_name": "ピンクチャンネル 運営事務局",
        "sender_addr": "info@pink-ch.example",
        "subject": "【重要】ご登録ありがとうございました（利用料金 99,000円）",
        "category": "fake_billing",
        "verdict": "scam",
        "reasons": (
            DigestReason("r.a", "登録完了を告げている", "Claims you registered", "ご登録", 3.0),
            DigestReason("r.b", "法的手続きをほのめかす", "Threatens legal steps", "法的", 3.0),
        ),
        "folder": "Quarantine",
        "original_folder": "INBOX",
        "phones": ("03-5555-0101",),
        "urls": ("https://pink-ch.example/pay",),
        "situations": sits,
    }
    base.update(kw)
    return DigestItem(**base)  # type: ignore[arg-type]


def _render(items: list[DigestItem], lang: str, country: str = "JP", kind: str = "digest"):  # type: ignore[no-untyped-def]
    return render_digest(
        items,
        language=lang,
        country=country,
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
        kind=kind,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_court_text_for_a_bill_naming_no_court(lang: str) -> None:
    sits = derive_situations(
        verdict="scam", category="fake_billing", reasons=ADULT_SITE_BILL,
        sender_name="ピンクチャンネル 運営事務局",
    )  # fmt: skip
    out = _render([_item(sits)], lang)
    for text in (out.text, out.html):
        assert "特別送達" not in text and "裁判所" not in text and "court" not in text.lower()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_court_text_when_the_sender_claims_a_court(lang: str) -> None:
    sits = derive_situations(
        verdict="scam", category="fake_billing", reasons=ADULT_SITE_BILL,
        sender_name="法務省管轄支局",
    )  # fmt: skip
    text = _render([_item(sits, sender_name="法務省管轄支局")], lang).text
    assert "特別送達" in text


# ---------------------------------------------------------------- length, numbers, quotes


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("country", ["JP", "US", "GB", "other"])
def test_a_one_bill_digest_fits_a_phone_screen(lang: str, country: str) -> None:
    text = _render([_item(frozenset({Situation.FAKE_BILL}))], lang, country).text
    assert len(text.splitlines()) <= 40, text


def test_one_number_per_message_everywhere() -> None:
    text = _render([_item(frozenset({Situation.FAKE_BILL}), id=77)], "ja").text
    assert "[77]" in text and "mailguard release 77" in text
    assert "\n1. " not in text


def test_at_most_two_short_urls_with_a_count_of_the_rest() -> None:
    urls = tuple(f"https://t{n}.track.example/c?id=" + "x" * 200 for n in range(5))
    text = _render([_item(frozenset({Situation.FAKE_BILL}), urls=urls)], "en").text
    line = next(ln for ln in text.splitlines() if "do not visit" in ln)
    assert line.count("hxxps://") == 2 and "and 3 more" in line
    assert len(line) < 200


def test_quotes_keep_the_original_spelling_and_finish_the_phrase() -> None:
    original = (
        "【民事訴訟最終告知】総合消費料金未\n納に関する訴訟のお知らせ\n\n"
        "If you did not authorize this charge, call PayPal Billing Support at +1-808-555-0100."
    )
    ja = readable_quote("【民事訴訟最終告知】総合消費料金未", original)
    assert ja == "【民事訴訟最終告知】総合消費料金未納に関する訴訟のお知らせ"
    en = readable_quote("did not authorize this charge, call paypal billin…", original)
    assert en.endswith("call PayPal Billing") and "paypal" not in en
    assert readable_quote("not in the message", original) == "not in the message"


def test_long_quotes_are_cut_after_a_word_with_an_ellipsis() -> None:
    original = "Please call our billing department immediately to cancel the renewal of your plan"
    quote = readable_quote(original.lower(), original, limit=40)
    assert quote.endswith("…") and len(quote) <= 40
    assert quote[:-1].rstrip().split()[-1] in original.split()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_arrival_from_the_sender_header_is_labelled(lang: str) -> None:
    it = _item(frozenset({Situation.FAKE_BILL}), arrived_from_header=True)
    text = _render([it], lang).text
    assert (
        ("送信者が書いた日時" in text) if lang == "ja" else ("date written by the sender" in text)
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_copy_only_says_the_original_is_still_there(lang: str) -> None:
    text = _render([_item(frozenset({Situation.FAKE_BILL}), copy_only=True)], lang).text
    assert (
        ("元のメールは INBOX にも残っています" in text)
        if lang == "ja"
        else ("the original is still in INBOX" in text)
    )


# ---------------------------------------------------------------- alerts


def test_alert_for_a_read_bill_or_a_same_day_deadline() -> None:
    bill = frozenset({Situation.FAKE_BILL})
    plain = facts(("ja.registration.complete", "registration", 3.0, "ご登録ありがとうございます"))
    assert alert_reasons(bill, flags=(), reasons=plain) == ()
    assert alert_reasons(bill, flags=("\\Seen",), reasons=plain) == ("seen",)
    today = facts(("ja.urgency.today", "urgency", 1.5, "本日中にご連絡ください"))
    assert "deadline" in alert_reasons(bill, reasons=today)
    assert "deadline" in alert_reasons(
        bill, reasons=plain, subject="Final notice: pay within 24 hours"
    )
    assert "legal" in alert_reasons(bill, reasons=ADULT_SITE_BILL)


def test_alert_for_lures_and_after_contact_but_not_for_mail_left_in_place() -> None:
    assert "withdrawal" in alert_reasons(frozenset({Situation.WITHDRAWAL_LURE}))
    assert "after_contact" in alert_reasons(
        frozenset({Situation.FAKE_BILL, Situation.AFTER_CONTACT})
    )
    assert alert_reasons(frozenset({Situation.SUSPICIOUS}), flags=("\\Seen",)) == ()


# ---------------------------------------------------------------- help lists


@pytest.mark.parametrize("country", sorted(countries_data()))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_country_has_the_police_line_the_advice_points_at(country: str, lang: str) -> None:
    section = help_section(lang, country)
    assert any(line.police for line in section.lines), f"{country}.{lang} has no police line"


def test_us_lists_local_police_and_ic3_gb_action_fraud_and_159() -> None:
    us = " ".join(f"{ln.label} {ln.value} {ln.note}" for ln in help_section("en", "US").lines)
    assert "local police" in us and "ic3.gov" in us
    gb = " ".join(f"{ln.label} {ln.value} {ln.note}" for ln in help_section("en", "GB").lines)
    assert "Action Fraud" in gb and "0300 123 2040" in gb and "159" in gb
