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
    DELETED = "deleted"  # the user deleted it from Quarantine in the mail app (not a release)


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


class WatchMode(StrEnum):
    """How the daemon learns about new mail in one folder."""

    IDLE = "idle"  # a connection in IMAP IDLE: scanned within seconds
    POLLING = "polling"  # the scheduled poll only (no IDLE, over the connection cap, or off)


class UserAction(StrEnum):
    """What the user did in the mail app that mailguard took as an instruction."""

    RELEASED_BY_MOVE = "released_by_move"  # moved out of Quarantine into a normal folder
    REPORTED_BY_MOVE = "reported_by_move"  # dragged into the report folder
    DELETED_BY_USER = "deleted_by_user"  # deleted from Quarantine: nothing learned


class DigestStatus(StrEnum):
    """Whether a quarantine record has been reported to the user yet (see ``state.digests``).

    ``alerted``: an immediate alert mentioned it; it still goes in the next daily digest.
    """

    PENDING = "pending"
    ALERTED = "alerted"
    SENT = "sent"
