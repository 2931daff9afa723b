"""The follow-up stage: mail that continues a scam this account holds in quarantine.

Rules only (``Classifier.rules_only``), so the arithmetic under test does not move
when the text model is retrained.
"""

from __future__ import annotations

import pytest

from mailguard.detect import Classifier, ClassifyContext
from mailguard.detect.verdict import QuarantinedScams
from mailguard.parse import parse_message
from mailguard.parse.headers import parse_message_ids

HELD = QuarantinedScams(frozenset({"<lure-7@bill-desk.test>"}), frozenset({"Info@Bill-Desk.test"}))

# A second-stage mail after the victim answered: two claims (gift cards, "as we said on
# the phone") but no bill, no brand, a plain sender. On its own it is only suspicious.
FOLLOW_UP = (
    "Thank you for your reply. As we said on the phone, your refund is ready. First buy two "
    "gift cards and send photos of the back to this address.\r\n"
)
FAMILY = "Mum, do not call that number, it is the scam from last week. Just delete it.\r\n"


def message(body: str, *, sender: str = "k.sato@sato-office.test", refs: str = "") -> bytes:
    thread = f"In-Reply-To: {refs}\r\nReferences: {refs}\r\n" if refs else ""
    return (
        f"From: {sender}\r\nTo: taro@example.jp\r\nSubject: Re: notice\r\n"
        f"Message-ID: <m-1@example.test>\r\n{thread}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.rules_only()


def verdict_of(
    clf: Classifier, raw: bytes, held: QuarantinedScams | None = None
) -> tuple[str, set[str]]:
    v = clf.classify(parse_message(raw), ClassifyContext(quarantined=held or QuarantinedScams()))
    return str(v.verdict), {r.rule for r in v.reasons}


def test_a_reply_in_a_held_scams_thread_becomes_a_scam(clf: Classifier) -> None:
    raw = message(FOLLOW_UP, refs="<lure-7@bill-desk.test>")
    alone, _ = verdict_of(clf, raw)
    held, rules = verdict_of(clf, raw, HELD)
    assert alone == "suspicious"
    assert held == "scam" and "common.thread.quarantined_reply" in rules


def test_the_held_scams_sender_writing_again_counts_too(clf: Classifier) -> None:
    raw = message(FOLLOW_UP, sender="Info@bill-desk.test")
    verdict, rules = verdict_of(clf, raw, HELD)
    assert verdict == "scam" and "common.thread.quarantined_sender" in rules


def test_thread_and_sender_are_one_family_not_two(clf: Classifier) -> None:
    both = message(FOLLOW_UP, sender="info@bill-desk.test", refs="<lure-7@bill-desk.test>")
    v = clf.classify(parse_message(both), ClassifyContext(quarantined=HELD))
    thread = [r for r in v.reasons if r.family == "thread"]
    assert len(thread) == 1 and thread[0].weight == 4.0


def test_a_thread_alone_or_a_family_warning_in_it_is_not_a_scam(clf: Classifier) -> None:
    bland = message("Noted, I will call you tomorrow.\r\n", refs="<lure-7@bill-desk.test>")
    assert verdict_of(clf, bland, HELD)[0] == "clean"
    warning = message(FAMILY, sender="mum@example.jp", refs="<lure-7@bill-desk.test>")
    assert verdict_of(clf, warning, HELD)[0] == "clean"


def test_other_threads_and_other_senders_do_not_match(clf: Classifier) -> None:
    other = message(FOLLOW_UP, sender="info2@bill-desk.test", refs="<lure-8@bill-desk.test>")
    verdict, rules = verdict_of(clf, other, HELD)
    assert verdict == "suspicious" and not rules & {
        "common.thread.quarantined_reply",
        "common.thread.quarantined_sender",
    }


def test_message_ids_are_read_from_folded_and_long_references() -> None:
    folded = "<a@x.test>\r\n <b@x.test>\t<c@x.test> junk"
    assert parse_message_ids(folded) == ("<a@x.test>", "<b@x.test>", "<c@x.test>")
    many = " ".join(f"<n{i}@x.test>" for i in range(300))
    kept = parse_message_ids(many, limit=10)
    assert kept[0] == "<n0@x.test>" and kept[-1] == "<n299@x.test>" and len(kept) == 10
    assert parse_message_ids("") == ()


def test_a_proven_sender_is_not_the_forger_of_its_address(clf: Classifier) -> None:
    """A quarantined fake bill forged service@shop; the shop's own mail proves its domain."""
    held = QuarantinedScams(senders=frozenset({"service@shop.example"}))
    auth = (
        "Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=shop.example;"
        " dkim=pass header.d=shop.example; dmarc=pass header.from=shop.example\r\n"
    )
    forged = message(FOLLOW_UP, sender="service@shop.example")
    proven = forged.replace(b"From:", auth.encode() + b"From:", 1)
    assert "common.thread.quarantined_sender" in verdict_of(clf, forged, held)[1]
    assert "common.thread.quarantined_sender" not in verdict_of(clf, proven, held)[1]
