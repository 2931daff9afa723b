"""What a report by moving teaches, and how the engine weighs it in the next verdict."""

from __future__ import annotations

from mailguard.detect import Classifier, ClassifyContext, Verdict
from mailguard.detect.reported import reported_features
from mailguard.parse import parse_message
from mailguard.vocabulary import VerdictKind


def mail(sender: str, body: str = "Hello, see you on Friday.") -> bytes:
    return (
        f"From: Someone <{sender}>\r\nTo: me@example.org\r\nSubject: hi\r\n"
        f"Message-ID: <x@{sender.split('@')[1]}>\r\nContent-Type: text/plain; charset=utf-8"
        f"\r\n\r\n{body}\r\n"
    ).encode()


CLASSIFIER = Classifier.default()
FREEMAIL = CLASSIFIER.ruleset.sets["freemail"]


def classify(
    raw: bytes, reported: dict[str, frozenset[str]], vouched: frozenset[str] = frozenset()
) -> Verdict:
    context = ClassifyContext(trusted_senders=vouched, reported=reported)
    return CLASSIFIER.classify(parse_message(raw), context)


def test_a_free_mail_domain_is_never_learned() -> None:
    msg = parse_message(mail("crook123@gmail.com", "Call 03-1234-5678 now."))
    learned = reported_features(msg, FREEMAIL)
    assert learned == {"sender": {"crook123@gmail.com"}, "domain": set(), "phone": {"0312345678"}}
    own = reported_features(parse_message(mail("desk@shinwa-trading.example")), FREEMAIL)
    assert own["domain"] == {"shinwa-trading.example"}


def test_reported_sender_makes_a_scam_with_its_reason() -> None:
    raw = mail("desk@shinwa-trading.example")
    assert CLASSIFIER.classify(parse_message(raw)).verdict == VerdictKind.CLEAN
    reported = {"sender": frozenset({"desk@shinwa-trading.example"}), "domain": frozenset()}
    v = classify(raw, reported)
    assert v.verdict == VerdictKind.SCAM and v.category is not None, "the user's word decides"
    assert v.reasons[0].rule == "user.reported_sender"
    assert v.reasons[0].description_en == "a sender you reported as a scam"


def test_a_shared_phone_number_alone_is_only_suspicious() -> None:
    # The body reads as ordinary mail, so the reported number is the only claim.
    raw = mail("news@shop.example", "Thanks for visiting the shop. Our number is 03-1234-5678.")
    v = classify(raw, {"phone": frozenset({"0312345678"})})
    assert v.verdict == VerdictKind.SUSPICIOUS
    assert "user.reported_phone" in [r.rule for r in v.reasons]


def test_reported_domain_and_phone_still_need_the_family_gate() -> None:
    """Two matches are two families; without a third (any evidence at all) no scam."""
    reported = {"domain": frozenset({"shinwa-trading.example"}), "phone": frozenset({"0312345678"})}
    bare = classify(mail("desk@shinwa-trading.example", "Hello, see you on Friday."), reported)
    assert bare.verdict == VerdictKind.CLEAN, "domain only: one family, 4 points"
    both = classify(mail("desk@shinwa-trading.example", "Call us on 03-1234-5678."), reported)
    families = {r.family for r in both.reasons if r.weight > 0}
    assert {"reported.domain", "reported.phone"} <= families
    assert both.verdict == VerdictKind.SCAM, "domain + phone + a phone-number signal: three"


def test_a_vouched_sender_or_domain_wins_over_an_old_report() -> None:
    raw = mail("desk@shinwa-trading.example")
    reported = {"sender": frozenset({"desk@shinwa-trading.example"})}
    for vouched in ({"desk@shinwa-trading.example"}, {"shinwa-trading.example"}):
        v = classify(raw, reported, frozenset(vouched))
        assert v.verdict == VerdictKind.CLEAN
        assert not [r for r in v.reasons if r.rule.startswith("user.reported")]


def test_nothing_in_common_changes_nothing() -> None:
    raw = mail("friend@example.net")
    reported = {"sender": frozenset({"a@b.example"}), "phone": frozenset({"0399999999"})}
    assert classify(raw, reported) == CLASSIFIER.classify(parse_message(raw))
