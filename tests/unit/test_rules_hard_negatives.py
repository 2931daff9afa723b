# ruff: noqa: E501  (message texts keep the line breaks a mail would have)
"""Whole-message checks in our own words: hard negatives stay unflagged, short lures are caught.

The hard negatives are the genuine mail that looks most like fake billing
(see ../shared/domain.md section 3): a buy-now-pay-later reminder that
mentions a lawyer and legal steps, a police or sheriff newsletter that quotes
scam wording, genuine antivirus renewal notices. The positives are short
SMS-style unpaid-fee and billing lures, written from the patterns, not copied.
Verdict thresholds belong to the scoring engine, so these assert the side of
the line (never ``scam`` / never ``clean``), not exact scores.
"""

from __future__ import annotations

import pytest

from mailguard.detect import CLEAN, SCAM, Classifier
from mailguard.detect.testing import make_message
from mailguard.parse.model import AuthResults

PASS = AuthResults(spf="pass", dkim="pass", dmarc="pass")

HARD_NEGATIVES = {
    "bnpl_ja": make_message(
        """山田 花子 様
いつもミドリ後払いをご利用いただきありがとうございます。
10月15日がお支払期限の請求書（ご請求金額 3,280円）について、ご入金が確認できておりません。
お手元の払込票にて、コンビニエンスストアでお支払いください。払込票を紛失された場合はマイページから再発行できます。
なお、お支払いが確認できない状態が続く場合、弁護士事務所へ債権回収を委託し、法的手続きをとらせていただく場合がございます。
ご不明な点は、カスタマーセンター（0120-555-014 平日9時～18時）までお問い合わせください。
https://www.midori-atobarai.example/mypage""",
        subject="【ミドリ後払い】お支払いのご確認のお願い",
        from_="ミドリ後払い <info@midori-atobarai.example>",
        to=("山田 花子 <hanako@example.org>",),
        auth=PASS,
    ),
    "police_ja": make_message(
        """ひがし警察署から防犯メールです。
最近、携帯電話に「ご利用料金の確認が取れておりません。本日中にご連絡ください。ご連絡がない場合は法的手続きに移行します」といったショートメールが届く被害が相次いでいます。
記載された番号に電話をすると、未納料金があるなどと言われ、コンビニで電子マネーを購入して番号を教えるよう指示されます。
これは架空請求詐欺です。身に覚えのない請求には応じず、記載された番号には絶対に電話をしないでください。
不安な場合は、家族や警察署（#9110）、消費者ホットライン「188」にご相談ください。""",
        subject="【防犯情報】架空請求のショートメールにご注意ください",
        from_="ひがし警察署 <bouhan@city-higashi.example>",
        auth=PASS,
    ),
    "av_renewal_ja": make_message(
        """佐藤 一郎 様
いつもセキュアガードをご利用いただきありがとうございます。
ご契約中のセキュアガード（3台版）は2026年1月20日に有効期限を迎えます。
自動更新が設定されているため、期限日に登録のクレジットカードで5,980円（税込）が請求されます。
更新を停止する場合は、マイアカウントの「契約の管理」から自動更新をオフにしてください。
https://my.secureguard.example/account
本メールは送信専用です。""",
        subject="【セキュアガード】まもなく自動更新のお知らせ",
        from_="セキュアガード <noreply@secureguard.example>",
        to=("佐藤 一郎 <ichiro@example.org>",),
        auth=PASS,
    ),
    "av_renewal_en": make_message(
        """Hi Daniel,
Your ShieldPro Total Security plan renews automatically on January 20, 2026.
We'll charge $59.99 to the Visa ending in 4242.
If you don't want to renew, turn off auto-renewal in your account:
https://account.shieldpro.example/subscriptions
You can also manage your plan in the ShieldPro app. We will never ask you to call a phone number to cancel.
ShieldPro Support""",
        subject="Your ShieldPro plan renews soon",
        from_="ShieldPro <billing@shieldpro.example>",
        to=("Daniel Reyes <daniel@example.org>",),
        auth=PASS,
    ),
    "bnpl_en": make_message(
        """Hi Sam,
Your payment of $42.10 for your order from Outdoor Depot was due on November 28 and is now overdue.
Please pay as soon as possible in the PayLater app to avoid a late fee.
If the balance remains unpaid for 60 days, your account may be referred to a collection agency and we may take legal action.
Questions? Contact us through the app.""",
        subject="Your payment is overdue",
        from_="PayLater <no-reply@paylater.example>",
        to=("Sam Ito <sam@example.org>",),
        auth=PASS,
    ),
    "police_en": make_message(
        """Consumer Alert from the County Sheriff's Office
Residents report text messages saying "You have an unpaid toll of $6.99. Pay today to avoid a late fee and legal action" with a link.
These messages are scams. Toll agencies do not ask you to pay through a text link.
Do not click the link. Check your account on the toll operator's official website or app, and report the text to 7726.""",
        subject="Scam alert: fake unpaid toll texts",
        from_="County Sheriff <alerts@sheriff-county.example>",
        auth=PASS,
    ),
    # Real renewal receipts also name an amount, a refund window and a phone line.
    "av_renewal_en_phone": make_message(
        """Hi Maria,
Thank you for being a Norton member. Your Norton 360 Deluxe subscription has been renewed.
Amount charged: $104.99 to the card ending 1881. Order number: N-48213-KQ.
Your subscription will automatically renew each year unless you turn off automatic renewal.
Manage your subscription: https://my.norton.com/account/subscriptions
If you did not authorize this renewal, you can request a refund within 60 days in your account.
Questions? Call Member Services at 1-844-555-0142.
NortonLifeLock""",
        subject="Your Norton subscription has been renewed",
        from_="Norton <billing@norton.com>",
        to=("Maria Lopez <maria@example.org>",),
        auth=PASS,
    ),
}

SHORT_LURES = {
    "sms_ja_1": make_message(
        "ご利用料金の確認が取れておりません。本日中に03-5555-0123までご連絡ください。",
        from_="+8190xxxx <sms@carrier-gw.example>",
    ),
    "sms_ja_2": make_message(
        "【重要】未払い料金があります。支払期日を過ぎるとご利用を【停止】いたします。至急ご確認ください。https://pay-check.pages.dev/x",
        subject="未払い料金のお知らせ",
    ),
    "sms_ja_3": make_message(
        "有料サイトの利用料金が未納です。ご連絡がない場合は法的手続きに移行します。本日17時までに 0120-555-019 へお電話ください。",
        subject="【最終通告】",
    ),
    "sms_en_1": make_message(
        "You have an unpaid toll of $6.99. Pay today to avoid a late fee and legal action: https://toll-pay.pages.dev/a",
        subject="Toll Services: unpaid balance",
    ),
    "sms_en_2": make_message(
        "Your account will be suspended. We were unable to process your most recent bill. Update your billing details immediately at http://bit.do/x1",
        subject="Billing problem",
    ),
}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.default()


@pytest.mark.parametrize("name", sorted(HARD_NEGATIVES))
def test_genuine_look_alikes_are_not_scam(clf: Classifier, name: str) -> None:
    verdict = clf.classify(HARD_NEGATIVES[name])
    assert verdict.verdict != SCAM, [(r.rule, r.weight) for r in verdict.reasons]


def test_warnings_and_genuine_notices_are_clean(clf: Classifier) -> None:
    """Stronger than not-scam: these carry the negative evidence the rules look for."""
    for name in ("police_ja", "police_en", "av_renewal_ja", "av_renewal_en"):
        verdict = clf.classify(HARD_NEGATIVES[name])
        assert verdict.verdict == CLEAN, (name, [(r.rule, r.weight) for r in verdict.reasons])


@pytest.mark.parametrize("name", sorted(SHORT_LURES))
def test_short_lures_are_flagged(clf: Classifier, name: str) -> None:
    verdict = clf.classify(SHORT_LURES[name])
    assert verdict.verdict != CLEAN, [(r.rule, r.weight) for r in verdict.reasons]
