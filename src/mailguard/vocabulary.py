"""The words mailguard uses for its verdicts, categories, record states and outcomes.

Each word is defined once, here, at the bottom of the import graph, so that
detection, state, pipeline and digest cannot drift apart in spelling (they once
had hyphens in one module and underscores in another). The enums are
``StrEnum``: a member *is* its string, so it is stored in SQLite, written to
JSON logs and compared with values read back without any conversion.
"""

from __future__ import annotations

from enum import StrEnum


class VerdictKind(StrEnum):
    """What the classifier concluded about one message."""

    SCAM = "scam"
    SUSPICIOUS = "suspicious"
    CLEAN = "clean"


class Category(StrEnum):
    """Which of the two scam families a flagged message belongs to."""

    FAKE_BILLING = "fake_billing"
    WITHDRAWAL = "withdrawal"


class Status(StrEnum):
    """Where a quarantine record is in its life cycle (transitions: ``state.records``)."""

    PENDING_MOVE = "pending_move"
    QUARANTINED = "quarantined"
    RELEASING = "releasing"
    RELEASED = "released"
    FAILED = "failed"
    SUSPICIOUS = "suspicious"


class ReconcileOutcome(StrEnum):
    """What crash reconciliation found for one pending move."""

    QUARANTINED = "quarantined"
    MOVED = "moved"
    FINISHED = "finished"
    COPY_ONLY = "copy_only"
    NOT_MOVED = "not_moved"
    MISSING = "missing"


class Situation(StrEnum):
    """What a held message means for the user; chooses the advice in digests and alerts."""

    FAKE_BILL = "fake_bill"
    WITHDRAWAL_LURE = "withdrawal_lure"
    AFTER_CONTACT = "after_contact"
    OFFICIAL_CLAIM = "official_claim"  # claims a court, ministry, public body or law office
    SUSPICIOUS = "suspicious"


class DigestStatus(StrEnum):
    """Whether a quarantine record has been reported to the user yet (see ``state.digests``).

    ``alerted``: an immediate alert mentioned it; it still goes in the next daily digest.
    """

    PENDING = "pending"
    ALERTED = "alerted"
    SENT = "sent"
