"""Golden files: the exact text and HTML of the digest, per situation, language and country.

The digest is the product's voice; any change to it should be a reviewed diff.
Regenerate after an intended change with

    MAILGUARD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_digest_golden.py

and read the diff of tests/golden/digest/ before committing it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailguard.digest import DigestItem, DigestReason, RenderedDigest, render_digest
from mailguard.vocabulary import Situation

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "digest"
UPDATE = os.environ.get("MAILGUARD_UPDATE_GOLDEN") == "1"
JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=JST)
LANGUAGES = ("ja", "en")
COUNTRIES = ("JP", "US", "GB", "other")


def _r(rule: str, ja: str, en: str, evidence: str, weight: float) -> DigestReason:
    return DigestReason(rule, ja, en, evidence, weight)


ONE_CLICK = DigestItem(
    id=101,
    arrived=datetime(2026, 11, 27, 12, 14, tzinfo=UTC),
    sender_name="動画サイト料金センター",
    sender_addr="support@douga-center.example",
    subject="【重要】ご登録ありがとうございました（利用料金 99,000円）",
    category="fake_billing",
    verdict="scam",
    reasons=(
        _r(
            "ja.registration.complete",
            "有料サイトへの登録完了を告げている",
            "Claims you registered for a paid site",
            "登録完了",
            3.0,
        ),
        _r(
            "ja.urgency.today",
            "本日中の支払いを求めている",
            "Demands payment today",
            "本日中にお支払い",
            2.0,
        ),
        _r(
            "ja.payment.giftcard",
            "ギフト券での支払いを求めている",
            "Asks for payment by gift card",
            "ギフト券",
            2.0,
        ),
        _r("ja.greeting.none", "宛名がない", "Does not use your name", "お客様", 0.5),
    ),
    folder="Quarantine",
    original_folder="INBOX",
    urls=("http://douga-center.example/pay?id=123",),
    phones=("03-1234-5678",),
)
NORTON = DigestItem(
    id=102,
    arrived=datetime(2026, 11, 26, 23, 5, tzinfo=UTC),
    sender_name="Norton Billing Team",
    sender_addr="billing.norton@freemail.example",
    subject="Your Norton 360 subscription has been renewed: $399.99",
    category="fake_billing",
    verdict="scam",
    reasons=(
        _r(
            "en.registration.renewed",
            "定期購読の自動更新を告げている",
            "Says a subscription was renewed",
            "subscription has been renewed",
            3.0,
        ),
        _r(
            "en.contact.callback",
            "解約のために電話するよう求めている",
            "Asks you to call a number to cancel",
            "call +1 (888) 555-0199",
            2.5,
        ),
        _r(
            "en.urgency.hours",
            "短い期限を示している",
            "Gives a short deadline",
            "within 24 hours",
            1.5,
        ),
    ),
    folder="Quarantine",
    original_folder="INBOX",
    phones=("+1 (888) 555-0199",),
)
WITHDRAWAL = DigestItem(
    id=201,
    arrived=datetime(2026, 11, 27, 2, 30, tzinfo=UTC),
    sender_name="会員サポート",
    sender_addr="taikai@member-support.example",
    subject="退会手続きがお済みでないお客様へ",
    category="withdrawal",
    verdict="scam",
    reasons=(
        _r(
            "ja.withdrawal.pending",
            "退会手続きをするよう連絡を求めている",
            "Asks you to get in touch to cancel a membership",
            "退会手続きがお済みでない",
            3.0,
        ),
        _r(
            "ja.contact.phone",
            "電話をかけるよう求めている",
            "Asks you to phone them",
            "お電話ください",
            2.0,
        ),
    ),
    folder="Quarantine",
    original_folder="INBOX",
    phones=("050-1234-5678",),
)
FOLLOWUP = DigestItem(
    id=301,
    arrived=datetime(2026, 11, 27, 9, 45, tzinfo=UTC),
    sender_name="会員サポート",
    sender_addr="taikai@member-support.example",
    subject="退会申請に不備があります",
    category="withdrawal",
    verdict="scam",
    reasons=(
        _r(
            "ja.withdrawal.incomplete",
            "退会申請に不備があると告げている",
            "Says your cancellation request was incomplete",
            "申請に不備があり",
            3.5,
        ),
        _r(
            "ja.context.contacted",
            "あなたが以前メールを送った相手からのメール",
            "Comes from a sender you wrote to before",
            "2026-11-25",
            3.0,
        ),
        _r("ja.debt.fee", "退会料を請求している", "Demands a cancellation fee", "退会料", 2.0),
    ),
    folder="Quarantine",
    original_folder="INBOX",
    phones=("050-1234-5678",),
    contacted_on=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
    situations=frozenset({Situation.WITHDRAWAL_LURE, Situation.AFTER_CONTACT}),
)
COURT = DigestItem(
    id=401,
    arrived=datetime(2026, 11, 27, 0, 10, tzinfo=UTC),
    sender_name="法務省管轄支局 民事訴訟管理センター",
    sender_addr="info@minji-soshou.example",
    subject="【訴訟最終告知】未納料金についての民事訴訟のお知らせ",
    category="fake_billing",
    verdict="scam",
    reasons=(
        _r("ja.legal.final", "訴訟を予告している", "Threatens a lawsuit", "訴訟最終告知", 3.0),
        _r(
            "ja.official.ministry",
            "公的機関を名乗っている",
            "Claims to be a public authority",
            "法務省管轄支局",
            3.0,
        ),
        _r(
            "ja.urgency.deadline",
            "翌日正午までの連絡を求めている",
            "Demands contact by noon tomorrow",
            "翌日正午まで",
            1.5,
        ),
    ),
    folder="Quarantine",
    original_folder="INBOX",
    phones=("03-9876-5432",),
    situations=frozenset({Situation.FAKE_BILL, Situation.OFFICIAL_CLAIM}),
)
SUSPICIOUS_BNPL = DigestItem(
    id=501,
    arrived=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
    sender_name="後払いサービス",
    sender_addr="info@atobarai.example",
    subject="お支払い期限のお知らせ",
    category="fake_billing",
    verdict="suspicious",
    reasons=(
        _r(
            "ja.debt.unpaid",
            "未払いの料金があると告げている",
            "Claims an unpaid amount",
            "未払い",
            2.0,
        ),
        _r(
            "ja.payment.convenience",
            "コンビニでの支払いを求めている",
            "Asks for payment at a convenience store",
            "コンビニ払い",
            1.5,
        ),
        _r("trusted.none", "", "", "", -1.0),
    ),
    folder="INBOX",
    original_folder="INBOX",
)
SUSPICIOUS_OTHER = DigestItem(
    id=502,
    arrived=datetime(2026, 11, 26, 15, 20, tzinfo=UTC),
    sender_name="",
    sender_addr="no-reply@storage-alert.example",
    subject="Payment failed: update your billing details",
    category=None,
    verdict="suspicious",
    reasons=(
        _r(
            "en.payment.failed",
            "支払いの失敗を告げている",
            "Says a payment failed",
            "Payment failed",
            2.5,
        ),
    ),
    folder="INBOX",
    original_folder="INBOX",
    urls=("https://storage-alert.example/billing",),
)

SCENARIOS: dict[str, tuple[DigestItem, ...]] = {
    "one_bill": (ONE_CLICK,),
    "fake_billing": (ONE_CLICK, NORTON),
    "withdrawal": (WITHDRAWAL,),
    "post_contact": (FOLLOWUP,),
    "court": (COURT,),
    "suspicious_only": (SUSPICIOUS_BNPL, SUSPICIOUS_OTHER),
}
# (name, items, kind, country): rendered in both languages.
EXTRA = {
    "alert": ((WITHDRAWAL, FOLLOWUP), "alert", "JP"),
    "empty": ((), "digest", "JP"),
    "mixed": ((ONE_CLICK, NORTON, WITHDRAWAL, FOLLOWUP, COURT, SUSPICIOUS_BNPL), "digest", "US"),
}


def _cases() -> list[tuple[str, tuple[DigestItem, ...], str, str, str]]:
    """Each scenario in each language (help lines for Japan), and each country's help once.

    Not the full cross-product: the country only changes the help section and
    a few extra steps, which one case per country and language shows.
    """
    cases = [
        (f"{s}.JP.{lang}", items, "digest", "JP", lang)
        for s, items in SCENARIOS.items()
        for lang in LANGUAGES
    ]
    cases += [
        (f"country.{country}.{lang}", (ONE_CLICK, COURT), "digest", country, lang)
        for country in COUNTRIES
        if country != "JP"
        for lang in LANGUAGES
    ]
    cases += [
        (f"{name}.{country}.{lang}", items, kind, country, lang)
        for name, (items, kind, country) in EXTRA.items()
        for lang in LANGUAGES
    ]
    return cases


CASES = _cases()


def render_case(
    items: tuple[DigestItem, ...], kind: str, country: str, lang: str
) -> RenderedDigest:
    return render_digest(
        list(items),
        language=lang,
        country=country,
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
        kind=kind,  # type: ignore[arg-type]
    )


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"{path} is missing; run with MAILGUARD_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs; if intended, regenerate and review the diff"


@pytest.mark.parametrize(
    ("name", "items", "kind", "country", "lang"), CASES, ids=[c[0] for c in CASES]
)
def test_golden(
    name: str, items: tuple[DigestItem, ...], kind: str, country: str, lang: str
) -> None:
    rendered = render_case(items, kind, country, lang)
    _check(GOLDEN_DIR / f"{name}.txt", f"Subject: {rendered.subject}\n\n{rendered.text}")
    _check(GOLDEN_DIR / f"{name}.html", rendered.html)


def test_no_stale_golden_files() -> None:
    """A golden file no case produces is a test that silently stopped running."""
    expected = {f"{c[0]}.{ext}" for c in CASES for ext in ("txt", "html")}
    present = {p.name for p in GOLDEN_DIR.glob("*") if p.is_file()}
    if UPDATE:
        for stale in present - expected:
            (GOLDEN_DIR / stale).unlink()
        return
    assert present == expected
