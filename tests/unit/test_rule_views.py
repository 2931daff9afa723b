"""Rules see the subject and attachment (PDF) text exactly like body text.

Subject-only SMS-style lures and blank-body mail with the demand in a PDF are
common; a rule that only looked at the body would miss both. These tests go
through the real parser (a generated PDF attachment) and the real matching
layer.
"""

from __future__ import annotations

import base64

import pytest

from mailguard.detect.engine import load_default_checked
from mailguard.detect.testing import fired_rules, make_message
from mailguard.parse import parse_message
from mailguard.testing.wire import make_pdf

RULESET = load_default_checked()


@pytest.mark.parametrize(
    ("subject", "rule_id"),
    [
        ("ご利用料金の確認が取れておりません", "ja.debt.fee_unconfirmed"),
        ("【重要】未納料金により回線を【停止】します", "ja.suspension.stop_unless_paid"),
        ("Final notice: unpaid toll of $6.20", "en.debt.unpaid_fee"),
        ("Your account will be suspended", "en.suspension.account"),
    ],
)
def test_text_rules_fire_on_the_subject_alone(subject: str, rule_id: str) -> None:
    msg = make_message("", subject=subject)
    assert rule_id in fired_rules(RULESET, msg)
    # and the same words are not found when they are absent from both
    assert rule_id not in fired_rules(RULESET, make_message("", subject="Hello"))


def _pdf_only_message(lines: list[str], *, japanese: bool) -> bytes:
    pdf = make_pdf([(12, line) for line in lines], "Notice", japanese=japanese)
    b64 = base64.encodebytes(pdf).decode("ascii")
    return (
        "From: Billing <billing@member-desk.example>\r\n"
        "To: user@example.org\r\n"
        "Subject: \r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="notice.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + b64.replace("\n", "\r\n") + "--b--\r\n"
    ).encode("ascii")


def test_text_rules_fire_on_pdf_attachment_text_en() -> None:
    raw = _pdf_only_message(
        ["Your subscription has been renewed for $399.99.", "To cancel, call +1 (808) 555-0199."],
        japanese=False,
    )
    fired = fired_rules(RULESET, parse_message(raw))
    assert "en.registration.renewed" in fired
    assert "en.callback.call_to_cancel" in fired
    assert "common.channel.attachment_only" in fired


def test_text_rules_fire_on_pdf_attachment_text_ja() -> None:
    raw = _pdf_only_message(
        ["ご利用料金の確認が取れておりません。", "本日中にご連絡ください。"], japanese=True
    )
    msg = parse_message(raw)
    if "利用料金" not in msg.body_text:
        pytest.skip("this pypdf cannot extract text from a non-embedded CJK font")
    fired = fired_rules(RULESET, msg)
    assert {"ja.debt.fee_unconfirmed", "ja.urgency.today", "ja.contact.callback"} <= set(fired)


def test_reply_quoted_scam_in_a_family_forward_is_a_mention() -> None:
    """A forwarded SMS quoted with ">" under "pretty sure it's fake" is not a demand."""
    from mailguard.detect import SCAM, Classifier

    body = (
        "Dad got this text, pretty sure it's fake. He didn't click anything.\n\n"
        "> TollPay: an unpaid toll of $6.89 is on your account. To avoid a late\n"
        "> fee of $50.00, pay before midnight today at the link below.\n"
    )
    msg = make_message(body, subject="Fwd: weird text", from_="Sam <sam.lee@gmail.com>")
    verdict = Classifier.default().classify(msg)
    assert verdict.verdict != SCAM, [(r.rule, r.weight) for r in verdict.reasons]
    # the same text sent as a demand (no warning, no quoting) is flagged
    demand = make_message(body.replace("> ", "").split("\n\n", 1)[1], subject="Unpaid toll")
    assert Classifier.default().classify(demand).verdict != "clean"


def test_a_long_quoted_paragraph_is_quoted_to_its_end() -> None:
    """A <blockquote> paragraph is one long line: the demand at its end is still quoted."""
    from mailguard.detect import Classifier
    from mailguard.parse.html import html_to_text

    demand = (
        "Dear User, a request to close the storage plan on your mailbox was filed today by "
        "your administrator and all files will be erased soon after. If you did not ask for "
        "this, reply with your name and number, or call our renewals desk on 020 7946 0555 "
        "to stop the cancellation."
    )
    assert len(demand) > 200  # longer than a reply line's reach in the flattened view
    lead = "<p>Staff warning: this phishing mail reached several of you. Do not call it.</p>"
    clf = Classifier.default()

    def evidence(html: str) -> dict[str, str]:
        v = clf.classify(make_message(html=html_to_text(html).text, subject="IT notice"))
        return {r.rule: r.evidence for r in v.reasons}

    quoted = evidence(lead + "<blockquote>" + demand + "</blockquote>")
    assert quoted["en.callback.call_to_cancel"].startswith("(quoted)"), quoted
    plain = evidence(lead + "<p>" + demand + "</p>")
    assert not plain["en.callback.call_to_cancel"].startswith("(quoted)"), plain


def test_quoted_line_spans_follow_the_views() -> None:
    from mailguard.detect.normalize import en_view, ja_view, quoted_line_spans

    text = "intro line\n\n> first  quoted\n>second\nreply\n   > last\n"
    en, ja = en_view(text), ja_view(text)
    en_quotes = [en[a:b] for a, b in quoted_line_spans(text, "en")]
    assert en_quotes == ["> first quoted >second", "> last"]
    ja_quotes = [ja[a:b] for a, b in quoted_line_spans(text, "ja")]
    assert ja_quotes == [">firstquoted>second", ">last"]


def test_a_forwarded_block_under_a_scam_question_is_a_mention() -> None:
    """「転送メッセージ」 blocks and a "Fw:" subject are the forwarded mail's words, not demands."""
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    forwarded = (
        "貴方の未払い料金について民事訴訟の申し立てがなされました。"
        "本日中にご連絡なき場合は給与差押えとなります。"
    )
    body = (
        "課長、私用のアドレスにこんなメールが来ました。詐欺だと思うので無視します。\n\n"
        f"-------- 転送メッセージ --------\n件名: 訴訟最終通知\n{forwarded}\n"
        "------------------------------\n"
    )
    msg = make_message(body, subject="Fw: 訴訟最終通知", from_="同僚 <colleague@office.example>")
    fired = Classifier.default().classify(msg)
    quoted = [r.rule for r in fired.reasons if r.evidence.startswith("(quoted)")]
    assert quoted, [(r.rule, r.evidence) for r in fired.reasons]
    assert fired.verdict == "clean", [(r.rule, r.weight) for r in fired.reasons]
    # The block ends at the closing line of dashes: text after it is the sender's own.
    text = f"冒頭---------- Forwarded message ---------{forwarded}----------末尾"
    spans = quoted_spans(text)
    [(start, end)] = [(a, b) for a, b in spans if forwarded in text[a:b]]
    assert text[start:end].endswith("----------") and text[end:] == "末尾"
    assert not any("末尾" in text[a:b] for a, b in spans)


def test_a_whole_quoted_scam_mail_in_a_warning_is_a_mention() -> None:
    """A consumer alert that quotes a whole lure (over 300 characters) in quote marks.

    Alerts reproduce the scam mail in full so readers recognise it; the quote
    is still a mention, however long. Outside a quote, the same words are a demand.
    """
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    lure = (
        "Your StreamBox Ultra membership renewal of $289.99 was processed today. "
        "If you did not request this renewal, call our cancellation desk at "
        "(844) 555-0162 within 24 hours to stop the charge and receive a full refund. "
        "Calls after the deadline cannot be refunded. Reference SB-55102. "
        "Our agents are available around the clock to help you with the refund."
    )
    assert len(lure) > 300
    body = (
        "SCAM ALERT from the county consumer protection office.\n\n"
        f'Residents are receiving emails like this one:\n\n"{lure}"\n\n'
        "This is a scam. Do not call the number. If you paid, contact your card issuer "
        "and report it to the consumer protection office."
    )
    assert [(a, b) for a, b in quoted_spans(body) if b - a > 300]
    msg = make_message(
        body, subject="Scam alert: fake renewal emails", from_="County <alerts@county.example.gov>"
    )
    verdict = Classifier.default().classify(msg)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(lure, subject="Renewal processed", from_="StreamBox <billing@sbx.test>")
    assert Classifier.default().classify(demand).verdict == "scam"


def test_a_narrated_example_in_a_bulletin_is_a_mention() -> None:
    """Consumer bulletins retell a one-click screen without quote marks.

    「次の画面が表示されました。」 introduces the screen's own words; in a mail
    that gives protective advice they are quoted, up to the next section mark.
    The same words sent as a demand still count in full.
    """
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    screen = (
        "会員登録が完了しました。登録料39,800円を本日中にお支払いください。"
        "お客様の端末情報（IPアドレス）は記録済みです。"
        "誤って登録された方は、今すぐ下記の窓口へお電話ください。"
    )
    body = (
        "くらし安心だより 第12号\n◆ 相談事例\n"
        "動画サイトのボタンを押したところ、次の画面が表示されました。\n"
        f"{screen}\n"
        "◆ アドバイス\n"
        "支払う必要も、連絡する必要もありません。困ったときは消費者ホットライン「188」へ。"
    )
    view = "".join(body.split())
    [(start, end)] = [s for s in quoted_spans(view) if "登録料" in view[s[0] : s[1]]]
    assert view[start:end].startswith("会員登録") and view[end] == "◆"
    msg = make_message(
        body, subject="くらし安心だより", from_="県消費生活センター <info@kurashi.example.lg.jp>"
    )
    fired = Classifier.default().classify(msg)
    assert fired.verdict == "clean", [(r.rule, r.weight) for r in fired.reasons]
    demand = make_message(screen, subject="ご登録完了", from_="動画サイト <info@douga-site.test>")
    assert Classifier.default().classify(demand).verdict != "clean"


def test_a_whole_invoice_narrated_after_a_colon_is_quoted_to_its_callback_line() -> None:
    """A vendor's warning shows the fake invoice in full (about 500 characters, in a
    dashed box that the views flatten); its call-to-cancel line comes last and must
    still fall inside the example, or the warning is read as the demand it quotes."""
    from mailguard.detect.matchers import quoted_spans

    invoice = (
        "KESTREL SHIELD 360 INVOICE # KS-4418203 Date : 03/02/2027 Dear Customer, Thank you for "
        "choosing Kestrel. Your subscription will be Auto-Renewed today and the below amount "
        "will be charged to your account . Product : Kestrel Shield 360 - Total Security Term : "
        "3 Year Devices : 5 Qty : 1 TOTAL AMOUNT : $449.99 Order status : completed Payment "
        "mode : auto debit. If you wish to Cancel the subscription or claim a Refund, please "
        "call our Help Desk at +1-(888)-555-0172 within 24 hrs of receiving this Invoice."
    )
    assert 450 < len(invoice) < 600
    view = " ".join(
        f"Many customers forwarded us invoices like this. Here it is as one customer received "
        f"it, from a free-mail address: {invoice} How to tell it's fake: it doesn't use your name."
        .lower()
        .split()
    )
    assert any("help desk at +1" in view[a:b] for a, b in quoted_spans(view))


def test_a_text_shown_after_is_as_follows_is_quoted_from_its_sender_tag() -> None:
    """「実際に届いたSMSは次のとおりです。」 and then the SMS, which opens with its sender's
    【name】: the example starts at the tag, not at the first character after it."""
    from mailguard.detect.matchers import quoted_spans

    sms = "【あおぞらモバイル】ご解約済み回線の未精算金3,980円がございます。お支払いはこちら"
    view = (
        f"当社を名乗るsmsが届いています。実際に届いたsmsは次のとおりです。{sms}"
        "これらは当社が送ったものではありません。"
    )
    [(start, _end)] = [s for s in quoted_spans(view) if "未精算金" in view[s[0] : s[1]]]
    assert view[start] == "【"


@pytest.mark.parametrize(
    "lead",
    [
        "emails that say:",
        "emails like this one:",
        "emails like this one over the past month:",
        "emails. What it looks like (copied as received, number changed):",
        "emails. Here it is exactly as one customer received it, from a free-mail address:",
    ],
)
def test_an_english_narrated_example_after_a_colon_is_a_mention(lead: str) -> None:
    """An alert that retells a lure after "emails that say:" without closing quote marks
    ("emails like this one:" is what an HTML blockquote flattens to).

    Mail indents such an example; the views have no line breaks, so the words
    after the colon (up to 600 characters) are the quoted span, and in a
    message that talks about fake invoices the demand in them is a mention.
    The same lure sent on its own is still a scam.
    """
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    lure = (
        "Your PixelGuard Total plan was renewed today for $349.00. If you did not "
        "authorise this charge, call our refund desk on +1 (833) 555-0147 within 24 "
        "hours to cancel."
    )
    body = (
        "PixelGuard news, December\n\n"
        "Heads-up: fake PixelGuard invoices\n"
        f"Some customers forwarded us {lead}\n\n"
        f"    {lure}\n\n"
        "We didn't send these. Your real plan and receipts are in the app under Account."
    )
    view = " ".join(body.lower().split())
    assert any("refund desk" in view[a:b] for a, b in quoted_spans(view))
    news = make_message(body, subject="What's new", from_="PixelGuard <news@pixelguard.example>")
    verdict = Classifier.default().classify(news)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(
        lure, subject="Renewal", from_="PixelGuard <billing@pixelguard-desk.test>"
    )
    assert Classifier.default().classify(demand).verdict == "scam"


def test_a_retold_scam_call_in_a_police_alert_is_a_mention() -> None:
    """Alerts retell a phone scam in the third person, without quote marks or a colon.

    "A caller says he is ... and offers to clear the warrant if you pay by gift
    card" describes the demand; in a message about scams it is a mention. The
    words the retelling is built on, sent as a demand, still count.
    """
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    body = (
        "Neighbourhood alert from the Millbrook Police Department\n\n"
        "Jury duty scam calls are back. A caller says he is a deputy from the "
        "sheriff's office, that you missed jury service and that a warrant is out "
        "for your arrest. He offers to cancel the warrant if you pay a bond today "
        "with gift cards or at a crypto ATM, and stays on the line while you drive "
        "to the store.\n\nOur officers do not take payments over the phone. "
        "If you lost money, ring our front desk on (555) 010-4477."
    )
    view = " ".join(body.lower().split())
    assert any("gift cards" in view[a:b] for a, b in quoted_spans(view))
    alert = make_message(
        body, subject="Neighbourhood alert", from_="Millbrook PD <alerts@millbrook.example>"
    )
    verdict = Classifier.default().classify(alert)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(
        "You missed jury service and a warrant is out for your arrest. To cancel the "
        "warrant, pay the bond today with gift cards. Call Deputy Hale now on "
        "(555) 010-8812 and stay on the line.",
        subject="Warrant notice",
        from_="Sheriff Office <deputy.hale@mailbox.test>",
    )
    assert Classifier.default().classify(demand).verdict == "scam"


def test_a_text_a_relative_passes_on_is_a_mention() -> None:
    """ "Got this text last night." and the text's words, then "not clicking anything".

    A parent forwarding a lure by copying it under one sentence, without
    quote marks or a colon; the lure is a mention. Sent on its own, it is not
    clean.
    """
    from mailguard.detect import Classifier

    lure = (
        "TOLLWAY: your account shows an unpaid balance of $4.15. Pay today to avoid a "
        "$50 admin fee: tw-acct.example/p/77"
    )
    body = (
        f"Alex,\n\nGot this text this morning on my phone.\n\n{lure}\n\n"
        "I haven't driven on a toll road since August. Not clicking anything. "
        "Can you look when you come over?\n\nMum"
    )
    relayed = make_message(body, subject="toll text?", from_="Mum <mum.morgan@mailbox.example>")
    verdict = Classifier.default().classify(relayed)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(lure, subject="", from_="+12025550147@sms.example")
    assert Classifier.default().classify(demand).verdict != "clean"


def test_a_mail_shown_as_what_it_said_in_a_school_notice_is_a_mention() -> None:
    """「届いたメールの本文は、次のようなものです。」 introduces the lure the other way round.

    A school's notice about a fake lunch-fee mail prints it after that line
    (an HTML box flattened into the text); the demand in it is a mention. The
    same lure sent on its own is still flagged.
    """
    from mailguard.detect import Classifier

    lure = (
        "みなみ野小学校 事務室です。お子様の教材費（2学期分）が未納となっております。"
        "本日中に下記よりお支払いください。お支払いがない場合、教材の配布を停止いたします。"
        "https://s.example/z8Kq"
    )
    body = (
        "保護者の皆さま\n学校の名前をかたる「教材費未納」のメールが届いているとの連絡がありました。"
        "本校が送ったものではありません。\n届いたメールの本文は、次のようなものです。\n"
        f"{lure}\n"
        "■ 教材費は口座振替でお納めいただいています。メールでお支払いをお願いすることはありません。"
        "ご不明な点は本校事務室までお問い合わせください。"
    )
    notice = make_message(
        body,
        subject="教材費未納をかたるメールについて",
        from_="みなみ野小学校 <office@minamino-es.example.jp>",
    )
    verdict = Classifier.default().classify(notice)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(
        lure, subject="教材費未納のお知らせ", from_="みなみ野小学校 <info@minamino-pay.test>"
    )
    assert Classifier.default().classify(demand).verdict != "clean"


@pytest.mark.parametrize("layout", ["example_label", "fenced"])
def test_a_labelled_or_fenced_example_in_a_warning_is_a_mention(layout: str) -> None:
    """A notice that prints the lure under 「SMSの例」 or between rules of dashes.

    Clinics and libraries set the example apart with a label or with lines of
    「――」 instead of quote marks (an HTML blockquote flattens to the label
    form). In a mail that warns about mail sent in the sender's name, the
    demand inside is a mention. The same lure sent alone is still flagged.
    """
    from mailguard.detect import Classifier
    from mailguard.detect.matchers import quoted_spans

    lure = (
        "【みなと台クリニック】未払いの診療費2,800円があります。"
        "本日中に下記よりお支払いがない場合、法的手続きに移ります。"
        "電子マネーでのお支払いも可能です。https://minatodai-pay.test/p"
    )
    if layout == "example_label":
        shown = f"届いているSMSの例\n{lure}\n"
    else:
        shown = f"――――――――――\n{lure}\n――――――――――\n"
    body = (
        "患者の皆さまへ\n当院を名乗るSMSが届いたというお問い合わせがありました。\n"
        f"{shown}"
        "当院がSMSでお支払いをお願いすることはありません。"
        "お支払いは1階の会計窓口のみです。"
    )
    view = "".join(body.split()).lower()
    assert any("法的手続き" in view[a:b] for a, b in quoted_spans(view))
    notice = make_message(
        body,
        subject="当院を名乗るSMSにご注意ください",
        from_="みなと台クリニック <info@minatodai-clinic.example.jp>",
    )
    verdict = Classifier.default().classify(notice)
    assert verdict.verdict == "clean", [(r.rule, r.weight) for r in verdict.reasons]
    demand = make_message(
        lure, subject="未払いのお知らせ", from_="会計 <kaikei@minatodai-pay.test>"
    )
    assert Classifier.default().classify(demand).verdict != "clean"


def test_a_quoted_line_after_a_line_ending_in_account_is_no_menu_path() -> None:
    """">" at the start of a quoted line is structure: in the views it is a mark no rule
    reads as a menu arrow. "Settings > Billing" inside a line still is one, and the
    quoted lines still make a reply block."""
    from mailguard.detect.matchers import quoted_spans
    from mailguard.detect.normalize import QUOTE_MARK, TextViews

    quoted = "Is this about my account\n> Dear customer, call 1-888-555-0101 to cancel.\n"
    views = TextViews.build(quoted, "Re: invoice", "Ann <ann@example.org>")
    assert "account >" not in views.text_en
    assert f"account {QUOTE_MARK} dear customer" in views.text_en
    assert any("to cancel" in views.text_en[a:b] for a, b in quoted_spans(views.text_en))
    menu = TextViews.build("Pay it under Settings > Billing.", "Invoice", "")
    assert "settings > billing" in menu.text_en
    # The mark is ours: a box-drawn table's own "│" is a plain bar, and quotes nothing.
    table = TextViews.build("ご請求 │ 49,800円 │ 至急お支払いください", "ご請求", "")
    assert QUOTE_MARK not in table.text_ja
    assert not quoted_spans(table.text_ja)
