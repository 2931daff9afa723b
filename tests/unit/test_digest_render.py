"""What the digest says, checked independently of the golden files.

Golden files catch any change; these tests say which facts must never be
lost: the right help lines per country, the right advice per situation, the
summary first, and no retired or superseded service presented as current.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from mailguard.digest import DigestItem, DigestReason, RenderedDigest, render_digest
from mailguard.digest.render import MAX_LISTED
from mailguard.situations import derive_situations
from mailguard.vocabulary import Situation

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=JST)
LANGS = ("ja", "en")
COUNTRIES = ("JP", "US", "GB", "other")


def item(**kw: object) -> DigestItem:
    base: dict[str, object] = {
        "id": 7,
        "arrived": datetime(2026, 11, 27, 12, 14, tzinfo=UTC),
        "sender_name": "Billing Center",
        "sender_addr": "billing@bill-center.example",
        "subject": "ご利用料金のお支払いについて",
        "category": "fake_billing",
        "verdict": "scam",
        "reasons": (
            DigestReason("r.a", "登録完了を告げている", "Claims you registered", "登録完了", 3.0),
            DigestReason(
                "r.b", "本日中の支払いを求めている", "Demands payment today", "本日中", 2.0
            ),
        ),
        "folder": "Quarantine",
        "original_folder": "INBOX",
    }
    # Tests name the situations they want on top of those the verdict implies.
    court_claim = bool(kw.pop("court_claim", False))
    followup = bool(kw.pop("followup", False))
    base.update(kw)
    if court_claim or followup:
        sits = set(
            derive_situations(
                verdict=str(base["verdict"]),
                category=base["category"],  # type: ignore[arg-type]
                reasons=(),
                contacted=base.get("contacted_on") is not None,
            )
        )
        sits |= {Situation.OFFICIAL_CLAIM} if court_claim else set()
        sits |= {Situation.AFTER_CONTACT} if followup else set()
        base["situations"] = frozenset(sits)
    return DigestItem(**base)  # type: ignore[arg-type]


def render(
    items: list[DigestItem], lang: str = "en", country: str = "JP", kind: str = "digest"
) -> RenderedDigest:
    return render_digest(
        items,
        language=lang,
        country=country,
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
        kind=kind,  # type: ignore[arg-type]
    )


def both(r: RenderedDigest) -> str:
    return r.subject + "\n" + r.text + "\n" + r.html


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(r: RenderedDigest) -> str:
    """Subject, plain text and the text content of the HTML (no markup)."""
    p = _TextOnly()
    p.feed(r.html)
    p.close()
    return r.subject + "\n" + r.text + "\n" + "".join(p.parts)


# ---------------------------------------------------------------- help lines per country


@pytest.mark.parametrize("lang", LANGS)
def test_japan_help_lines(lang: str) -> None:
    out = both(render([item()], lang, "JP"))
    for needle in ("188", "#9110", "0570-078374", "meiwaku@dekyo.or.jp", "info@antiphishing.jp"):
        assert needle in out


@pytest.mark.parametrize("lang", LANGS)
def test_us_help_lines(lang: str) -> None:
    out = both(render([item()], lang, "US"))
    for needle in ("ReportFraud.ftc.gov", "reportphishing@apwg.org", "7726", "ic3.gov"):
        assert needle in out


@pytest.mark.parametrize("lang", LANGS)
def test_gb_help_lines(lang: str) -> None:
    out = both(render([item()], lang, "GB"))
    for needle in ("reportfraud.police.uk", "0300 123 2040", "report@phishing.gov.uk", "159"):
        assert needle in out
    assert "Police Scotland" in out and "101" in out


@pytest.mark.parametrize("lang", LANGS)
def test_other_country_help_lines(lang: str) -> None:
    out = both(render([item()], lang, "other"))
    assert ("European Consumer Centre" in out) or ("欧州消費者センター" in out)
    assert "188" not in render([item()], lang, "other").text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("verdict", ["scam", "suspicious"])
def test_retired_services_never_presented_as_current(lang: str, country: str, verdict: str) -> None:
    out = both(render([item(verdict=verdict, court_claim=True, contacted_on=NOW)], lang, country))
    assert "spam@uce.gov" not in out.lower()
    # Action Fraud may only be named as what Report Fraud replaced.
    for m in re.finditer("Action Fraud", out):
        before = out[max(0, m.start() - 9) : m.start()]
        assert before.endswith(("formerly ", "旧 ")), out[m.start() - 40 : m.end() + 10]


def test_language_and_country_are_independent() -> None:
    ja_us = render([item()], "ja", "US").text
    assert "請求について" in ja_us and "ReportFraud.ftc.gov" in ja_us
    assert "消費者ホットライン" not in ja_us
    en_jp = render([item()], "en", "JP").text
    assert "About the bill" in en_jp and "188" in en_jp and "Consumer Hotline" in en_jp


def test_unknown_country_falls_back_to_general_advice() -> None:
    assert render([item()], "en", "FR").text == render([item()], "en", "other").text


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="language"):
        render([item()], "de", "JP")


# ---------------------------------------------------------------- advice per situation


@pytest.mark.parametrize("country", COUNTRIES)
def test_court_claim_explains_how_to_verify(country: str) -> None:
    en = render([item(court_claim=True)], "en", country).text
    assert "About messages that claim to come from a court" in en
    assert "look up the court's number on its official website" in en
    assert "do not ignore" in en.lower()  # never "just ignore it" for anything court-shaped
    ja = render([item(court_claim=True)], "ja", country).text
    assert "裁判所などを名乗るメールについて" in ja
    assert "調べた番号に自分で電話" in ja
    assert "無視しないでください" in ja


@pytest.mark.parametrize("lang", LANGS)
def test_court_claim_in_japan_names_special_delivery_and_deadline(lang: str) -> None:
    text = render([item(court_claim=True)], lang, "JP").text
    assert "特別送達" in text
    assert "支払督促" in text
    assert ("2週間" in text) if lang == "ja" else ("within 2 weeks" in text)
    assert ("本物の特別送達は、無視しないでください" in text) or (
        "Do not ignore a real 特別送達" in text
    )


@pytest.mark.parametrize("lang", LANGS)
def test_no_court_text_without_a_court_claim(lang: str) -> None:
    text = render([item()], lang, "JP").text
    assert "特別送達" not in text
    assert "court" not in text.lower() and "裁判所" not in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "trigger",
    [
        {"contacted_on": datetime(2026, 11, 20, tzinfo=UTC)},
        {"followup": True, "category": "withdrawal"},
    ],
    ids=["sent-folder", "followup-wording"],
)
def test_post_contact_gives_card_issuer_and_blocking_advice(
    lang: str, trigger: dict[str, object]
) -> None:
    text = render([item(**trigger)], lang, "JP").text
    if lang == "en":
        assert "If you have already been in touch with the sender" in text
        assert "call your card issuer" in text
        assert "Block the numbers they used" in text
        assert "More e-mails and calls may come" in text
        assert "Tell your family" in text
    else:
        assert "すでに相手と連絡を取ってしまった場合" in text
        assert "カード会社に電話し、カードを止めてもらってください" in text
        assert "着信拒否" in text
        assert "ご家族にも伝えておく" in text


@pytest.mark.parametrize("lang", LANGS)
def test_fake_billing_only_has_no_post_contact_block(lang: str) -> None:
    r = render([item(), item(id=8, subject="Invoice #123")], lang, "JP")
    text = r.text
    if lang == "en":
        assert "You owe nothing" in text
        assert "Do not pay anything" in text
        assert "kept as evidence" in text
        assert "already been in touch" not in text
        assert "card issuer" not in text
        assert "cancel" not in text.lower() or "withdraw" not in text.lower()
    else:
        assert "支払う必要はありません" in text
        assert "すでに相手と連絡を取ってしまった場合" not in text
        assert "カード会社" not in text


def test_withdrawal_advice_and_short_contact_note() -> None:
    text = render([item(category="withdrawal")], "en", "JP").text
    assert "There is nothing to cancel" in text
    assert "Do not call, write or fill in a form" in text
    # Without evidence of contact, one short "if you already called" step, not the full block.
    assert "If you have already called or written to them" in text
    assert "already been in touch with the sender" not in text
    # With evidence, the full block replaces the short step.
    both_ = render([item(category="withdrawal", contacted_on=NOW)], "en", "JP").text
    assert "already been in touch with the sender" in both_
    assert "If you have already called or written to them" not in both_


def test_steps_are_not_repeated_across_blocks() -> None:
    text = render([item(), item(id=8, category="withdrawal")], "en", "JP").text
    assert text.count("Do not pay anything") == 1
    assert text.count("Do not call any number in the message") == 1


def test_suspicious_only_does_not_claim_a_scam() -> None:
    r = render([item(verdict="suspicious", folder="INBOX")], "en", "US")
    text = r.text
    assert text.splitlines()[2] == "1 message mailguard was not sure about was left where it was."
    assert "scam message" not in text
    assert "You owe nothing" not in text
    assert "== Quarantined" not in text
    assert "mailguard release" not in text
    assert "mailguard was not sure about these" in text
    assert "ReportFraud.ftc.gov" in text
    assert "Fake bill (not certain)" in text


def test_empty_digest_is_short_and_calm() -> None:
    r = render([], "en", "JP")
    assert r.subject == "mailguard digest: no new scam messages (alice)"
    assert "No new scam or suspicious messages" in r.text
    assert "About the bill" not in r.text and "188" not in r.text
    ja = render([], "ja", "JP")
    assert "新しい詐欺メールや不審なメールはありませんでした" in ja.text


# ---------------------------------------------------------------- layout and per-item facts


def test_summary_line_comes_first() -> None:
    items = [item(), item(id=8), item(id=9, verdict="suspicious", folder="INBOX")]
    lines = render(items, "en", "JP").text.splitlines()
    assert lines[0] == "mailguard digest for alice, 28 Nov 2026, 08:00"
    assert lines[2].startswith("mailguard moved 2 scam messages to the folder “Quarantine”.")
    assert lines[3] == "1 message mailguard was not sure about was left where it was."
    ja = render(items, "ja", "JP").text.splitlines()
    assert ja[2].startswith("詐欺メール2件を「Quarantine」フォルダに移しました。")
    assert ja[3] == "詐欺か判断できないメール1件は、元の場所に残してあります。"
    # the held messages come before any advice
    text = "\n".join(lines)
    assert text.index("== Quarantined") < text.index("== About the bill")


def test_says_what_was_done_and_that_it_is_harmless() -> None:
    text = render([item()], "en", "JP").text
    assert "It is harmless there and kept as evidence." in text
    ja = render([item()], "ja", "JP").text
    assert "そこに置いたままで害はなく" in ja


@pytest.mark.parametrize("lang", LANGS)
def test_each_item_has_its_facts(lang: str) -> None:
    it = item(
        id=42,
        sender_name="Norton Team",
        sender_addr="n@norton-billing.example",
        subject="Renewal $399",
        phones=("+1 (888) 555-0199",),
    )
    r = render([it], lang, "US")
    for out in (r.text, r.html):
        assert "Norton Team" in out
        assert "n@norton-billing[.]example" in out
        assert "Renewal $399" in out
        assert "mailguard release 42" in out
        assert "+1 (888) 555-0199" in out
        assert "Quarantine" in out and "INBOX" in out
    if lang == "en":
        assert "27 Nov 2026, 21:14" in r.text  # 12:14 UTC shown in the reader's zone (JST)
        assert "Fake bill" in r.text
        assert "Scammer's number, do not call: +1 (888) 555-0199" in r.text
        assert "Claims you registered: “登録完了”" in r.text
    else:
        assert "2026年11月27日 21:14" in r.text
        assert "架空請求" in r.text
        assert "相手の電話番号（かけないでください）: +1 (888) 555-0199" in r.text
        assert "登録完了を告げている「登録完了」" in r.text


def test_reasons_top_two_by_weight_in_reader_language() -> None:
    ranked = tuple(
        DigestReason(f"r{w}", f"理由{w}", f"reason {w}", "", float(w)) for w in (1, 5, 3, 4)
    )
    reasons = (*ranked, DigestReason("trusted", "信頼済み", "trusted sender", "", -4.0))
    text = render([item(reasons=reasons)], "en", "JP").text
    assert "reason 5" in text and "reason 4" in text
    assert "reason 3" not in text and "reason 1" not in text and "trusted sender" not in text
    assert text.index("reason 5") < text.index("reason 4")
    ja = render([item(reasons=reasons)], "ja", "JP").text
    assert "理由5" in ja and "reason 5" not in ja


def test_missing_description_falls_back_to_other_language() -> None:
    r = (DigestReason("r.x", "日本語だけ", "", "", 1.0),)
    assert "日本語だけ" in render([item(reasons=r)], "en", "JP").text


def test_contacted_and_court_notes_per_item() -> None:
    text = render(
        [item(contacted_on=datetime(2026, 11, 20, 3, tzinfo=UTC), court_claim=True)], "en", "JP"
    ).text
    assert "your Sent folder has mail from you to this sender (20 Nov 2026)" in text
    assert "== About messages that claim to come from a court" in text
    # the most urgent advice first: after contact, then the court caveat, then the bill
    assert (
        text.index("== If you have already been in touch")
        < text.index("== About messages that claim")
        < text.index("== About the bill")
    )


def test_one_number_per_message_and_newest_first() -> None:
    older = item(id=1, arrived=datetime(2026, 11, 1, tzinfo=UTC), subject="SUBJ-OLD")
    newer = item(id=2, arrived=datetime(2026, 11, 2, tzinfo=UTC), subject="SUBJ-NEW")
    unsure = item(id=3, verdict="suspicious", folder="INBOX", subject="SUBJ-UNSURE")
    text = render([older, newer, unsure], "en", "JP").text
    assert text.index("SUBJ-NEW") < text.index("SUBJ-OLD") < text.index("SUBJ-UNSURE")
    # the label is the record id, the number `mailguard release` takes
    assert "\n[3] Fake bill (not certain)" in text
    assert "\n[2] Fake bill\n" in text and "mailguard release 2" in text


def test_long_lists_are_capped_with_a_count() -> None:
    many = [item(id=n) for n in range(MAX_LISTED + 10)]
    r = render(many, "en", "JP")
    assert r.text.count("mailguard release ") == MAX_LISTED
    assert "... and 10 more, all in the folder “Quarantine”." in r.text
    assert f"moved {MAX_LISTED + 10} scam messages" in r.text


def test_alert_is_marked_and_asks_to_read_before_answering() -> None:
    items = [item(category="withdrawal", followup=True)]
    r = render(items, "en", "JP", kind="alert")
    assert r.subject.startswith("mailguard: please read before answering")
    assert "mailguard has just moved 1 scam message" in r.text
    assert "before you answer any call or message about it" in r.text
    assert "already been in touch with the sender" in r.text
    ja = render(items, "ja", "JP", kind="alert")
    assert "連絡する前にお読みください" in ja.subject
    assert "電話や返信をする前に、下をお読みください" in ja.text


def test_bad_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        render([item()], "en", "JP", kind="weekly")


def test_bad_verdict_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="verdict"):
        item(verdict="clean")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_tone_no_exclamation_or_shouting(lang: str, country: str) -> None:
    items = [
        item(contacted_on=NOW, court_claim=True),
        item(id=8, category="withdrawal"),
        item(id=9, category=None),
        item(id=10, verdict="suspicious", folder="INBOX"),
    ]
    for kind in ("digest", "alert"):
        out = visible(render(items, lang, country, kind=kind))
        assert "!" not in out and "！" not in out
        for word in ("URGENT", "WARNING", "IMMEDIATELY", "緊急", "至急", "危険"):
            assert word not in out


def test_subject_carries_no_message_data() -> None:
    r = render([item(subject="SECRET-SUBJECT", sender_name="SECRET-NAME")], "en", "JP")
    assert "SECRET" not in r.subject
    assert "\n" not in r.subject


def test_quarantine_folder_name_is_escaped_in_html() -> None:
    r = render_digest(
        [item(folder="Q&A <x>")],
        language="en",
        country="JP",
        account_name="alice",
        quarantine_folder="Q&A <x>",
        now=NOW,
    )
    assert "Q&amp;A &lt;x&gt;" in r.html and "<x>" not in r.html
    assert "“Q&A <x>”" in r.text


def test_replace_keeps_items_hashable() -> None:
    # DigestItem is frozen: the pipeline can use it as a dict key or set member.
    a = item()
    assert {a, replace(a)} == {a}


def test_rule_reasons_come_before_the_text_model() -> None:
    """A rule says what the message does; the model only that it reads like a scam."""
    model = DigestReason("model.en", "文面", "The wording is typical (text model)", "", 5.0)
    rules = (
        DigestReason("r.call", "電話", "Asks you to call to cancel", "call us", 2.5),
        DigestReason("r.amount", "金額", "Names an amount", "$399", 1.0),
    )
    text = render([item(reasons=(model, *rules))], "en", "JP").text
    assert "Asks you to call to cancel" in text and "Names an amount" in text
    assert "text model" not in text
    one = render([item(reasons=(model, rules[0]))], "en", "JP").text
    assert one.index("Asks you to call to cancel") < one.index("text model")
