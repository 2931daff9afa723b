"""What a report by moving teaches, and how it counts in the next verdict."""

from __future__ import annotations

from mailguard.detect import Classifier
from mailguard.parse import parse_message
from mailguard.pipeline.mailapp import learned_from_reports, reported_features
from mailguard.vocabulary import VerdictKind


def mail(sender: str, body: str = "Hello, see you on Friday.") -> bytes:
    return (
        f"From: Someone <{sender}>\r\nTo: me@example.org\r\nSubject: hi\r\n"
        f"Message-ID: <x@{sender.split('@')[1]}>\r\nContent-Type: text/plain; charset=utf-8"
        f"\r\n\r\n{body}\r\n"
    ).encode()


CLASSIFIER = Classifier.default()
FREEMAIL = CLASSIFIER.ruleset.sets["freemail"]


def test_a_free_mail_domain_is_never_learned() -> None:
    msg = parse_message(mail("crook123@gmail.com", "Call 03-1234-5678 now."))
    learned = reported_features(msg, FREEMAIL)
    assert learned == {"sender": {"crook123@gmail.com"}, "domain": set(), "phone": {"0312345678"}}
    own = reported_features(parse_message(mail("desk@pay-center.example")), FREEMAIL)
    assert own["domain"] == {"pay-center.example"}


def test_reported_sender_makes_a_scam_with_its_reason() -> None:
    msg = parse_message(mail("desk@pay-center.example"))
    clean = CLASSIFIER.classify(msg)
    assert clean.verdict == VerdictKind.CLEAN
    reported = {"sender": frozenset({"desk@pay-center.example"}), "domain": frozenset()}
    v = learned_from_reports(msg, clean, reported, frozenset(), CLASSIFIER)
    assert v.verdict == VerdictKind.SCAM and v.category is not None
    assert v.reasons[0].rule == "user.reported_sender"
    assert v.reasons[0].description_en == "a sender you reported as a scam"


def test_a_shared_phone_number_alone_is_only_suspicious() -> None:
    msg = parse_message(mail("news@shop.example", "Questions? 03-1234-5678."))
    v0 = CLASSIFIER.classify(msg)
    v = learned_from_reports(msg, v0, {"phone": frozenset({"0312345678"})}, frozenset(), CLASSIFIER)
    assert v.verdict == VerdictKind.SUSPICIOUS
    assert "user.reported_phone" in [r.rule for r in v.reasons]


def test_a_vouched_sender_or_domain_wins_over_an_old_report() -> None:
    msg = parse_message(mail("desk@pay-center.example"))
    v0 = CLASSIFIER.classify(msg)
    reported = {"sender": frozenset({"desk@pay-center.example"})}
    for vouched in ({"desk@pay-center.example"}, {"pay-center.example"}):
        v = learned_from_reports(msg, v0, reported, frozenset(vouched), CLASSIFIER)
        assert v is v0


def test_nothing_in_common_changes_nothing() -> None:
    msg = parse_message(mail("friend@example.net"))
    v0 = CLASSIFIER.classify(msg)
    reported = {"sender": frozenset({"a@b.example"}), "phone": frozenset({"0399999999"})}
    assert learned_from_reports(msg, v0, reported, frozenset(), CLASSIFIER) is v0
