"""Immutable views of state rows, with parsed fields.

Rows become frozen dataclasses at the boundary of this package, so callers
never see SQLite text: timestamps are aware UTC datetimes, JSON columns are
lists and dicts, verdicts/categories/statuses are :mod:`mailguard.vocabulary`
enums. What goes *in* is typed too: :class:`NewItem` is the one value the
pipeline hands to ``record_move_intent``/``record_suspicious``.

The quarantine record state machine lives here as data (:data:`TRANSITIONS`),
and the state layer refuses any status change the table does not list.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from mailguard.state.codec import dt_from_db, from_json
from mailguard.vocabulary import Category, DigestStatus, Status, VerdictKind

# Quarantine record life cycle. Moves: quarantine.py; releases: releases.py.
#
#   (new) --record_move_intent--> pending_move --confirm_move / reconcile--> quarantined
#   pending_move --fail_move / reconcile (not moved, missing)--> failed
#   (new) --record_suspicious--> suspicious          (left in place, reported in the digest)
#   quarantined --begin_release--> releasing --confirm_release--> released
#   suspicious  --begin_release--> releasing          (nothing to move: "this sender is fine")
#   suspicious  --hold_reported_suspicious--> pending_move  (the user reported it by moving)
#   releasing --abort_release--> quarantined | suspicious   (back to where it was)
#   releasing --begin_release--> releasing            (an interrupted release is retried)
#   quarantined --record_user_deletion--> deleted     (the user deleted it from Quarantine)
#
# Releasing a *suspicious* record is allowed, consistently in state and pipeline: it means
# "this sender is fine". Nothing moves (the message never left its folder); the sender is
# remembered like for any release. ``released``, ``failed`` and ``deleted`` are final.
# ``deleted`` is *not* a release: nothing is learned and the sender is not trusted.
TRANSITIONS: Final[Mapping[Status | None, frozenset[Status]]] = MappingProxyType(
    {
        None: frozenset({Status.PENDING_MOVE, Status.SUSPICIOUS}),
        Status.PENDING_MOVE: frozenset({Status.QUARANTINED, Status.FAILED}),
        Status.QUARANTINED: frozenset({Status.RELEASING, Status.DELETED}),
        Status.SUSPICIOUS: frozenset({Status.RELEASING, Status.PENDING_MOVE}),
        Status.RELEASING: frozenset(
            {Status.RELEASED, Status.QUARANTINED, Status.SUSPICIOUS, Status.RELEASING}
        ),
        Status.RELEASED: frozenset(),
        Status.FAILED: frozenset(),
        Status.DELETED: frozenset(),
    }
)
#: Statuses in which a record still stands for a message in the mailbox (the others are final).
LIVE_STATUSES: Final = frozenset(
    {Status.PENDING_MOVE, Status.QUARANTINED, Status.RELEASING, Status.SUSPICIOUS}
)


def may_transition(current: Status | None, target: Status) -> bool:
    """True when the state machine allows ``current -> target``."""
    return target in TRANSITIONS.get(current, frozenset())


def sources_of(target: Status) -> tuple[Status, ...]:
    """Every status from which ``target`` may be reached (for error messages and guards)."""
    return tuple(s for s, targets in TRANSITIONS.items() if s is not None and target in targets)


@dataclass(frozen=True)
class NewItem:
    """Everything recorded about a flagged message before anything is done to it.

    Built once by the pipeline (``pipeline.verdict_record.new_item``) from the
    fetched message and its verdict, and stored as the ``pending_move`` or
    ``suspicious`` row. Dates taken from mail may be naive (stored as UTC).
    """

    account: str
    original_folder: str
    original_uid: int
    original_uidvalidity: int
    message_id: str | None
    sha256: str
    verdict: VerdictKind
    score: float
    category: Category | None = None
    from_addr: str | None = None
    from_name: str | None = None
    subject: str | None = None
    date: datetime | None = None
    reasons: tuple[Mapping[str, Any], ...] = ()
    flags: tuple[str, ...] = ()
    contacted_on: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def _category(value: str | None) -> Category | None:
    """A stored category as the enum; a word this version does not know reads as None."""
    try:
        return Category(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class FolderState:
    """Highest UID handled in one folder, valid only for this UIDVALIDITY."""

    account: str
    folder: str
    uidvalidity: int
    last_uid: int
    last_poll_at: datetime | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FolderState:
        return cls(
            account=row["account"],
            folder=row["folder"],
            uidvalidity=row["uidvalidity"],
            last_uid=row["last_uid"],
            last_poll_at=dt_from_db(row["last_poll_at"]),
        )


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined, would-be quarantined or suspicious message.

    ``id`` is the number the user types in ``mailguard release ID``; it is
    never reused. ``flags`` are the IMAP flags at the time of the move, so a
    release can restore them.
    """

    id: int
    account: str
    original_folder: str
    original_uid: int
    original_uidvalidity: int
    message_id: str | None
    sha256: str
    from_addr: str | None
    from_name: str | None
    subject: str | None
    date: datetime | None
    verdict: VerdictKind
    category: Category | None
    score: float
    reasons: list[dict[str, Any]]
    flags: tuple[str, ...]
    details: dict[str, Any]
    status: Status
    quarantine_folder: str | None
    quarantine_uid: int | None
    quarantine_uidvalidity: int | None
    move_method: str | None
    contacted_on: datetime | None
    recorded_at: datetime
    quarantined_at: datetime | None
    digest_status: DigestStatus
    digest_sent_at: datetime | None
    digest_id: int | None
    alerted_at: datetime | None
    released_at: datetime | None
    restored_uid: int | None
    error: str | None

    def is_same_message(self, folder: str, uidvalidity: int, uid: int) -> bool:
        """Is the message now at (folder, uidvalidity, uid), with this record's bytes, ours?

        Yes at the same place. Also yes elsewhere (a folder rebuilt under a new
        UIDVALIDITY, a restored backup): the bytes are all we can go by, and a
        second quarantine copy would be a duplicate. No only when the server
        itself says they differ: same folder, same UIDVALIDITY, another UID --
        an identical scam delivered twice, which is a second message.
        """
        if folder == self.original_folder and uidvalidity == self.original_uidvalidity:
            return uid == self.original_uid
        return True

    def folder_label(self) -> str:
        """Where the message came from, for one-line listings: ``INBOX (UID 42)``."""
        return f"{self.original_folder} (UID {self.original_uid})"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> QuarantineRecord:
        recorded_at = dt_from_db(row["recorded_at"])
        assert recorded_at is not None  # NOT NULL column
        return cls(
            id=row["id"],
            account=row["account"],
            original_folder=row["original_folder"],
            original_uid=row["original_uid"],
            original_uidvalidity=row["original_uidvalidity"],
            message_id=row["message_id"],
            sha256=row["sha256"],
            from_addr=row["from_addr"],
            from_name=row["from_name"],
            subject=row["subject"],
            date=dt_from_db(row["date"]),
            verdict=VerdictKind(row["verdict"]),
            category=_category(row["category"]),
            score=row["score"],
            reasons=from_json(row["reasons"], []),
            flags=tuple(from_json(row["flags"], [])),
            details=from_json(row["details"], {}),
            status=Status(row["status"]),
            quarantine_folder=row["quarantine_folder"],
            quarantine_uid=row["quarantine_uid"],
            quarantine_uidvalidity=row["quarantine_uidvalidity"],
            move_method=row["move_method"],
            contacted_on=dt_from_db(row["contacted_on"]),
            recorded_at=recorded_at,
            quarantined_at=dt_from_db(row["quarantined_at"]),
            digest_status=DigestStatus(row["digest_status"]),
            digest_sent_at=dt_from_db(row["digest_sent_at"]),
            digest_id=row["digest_id"],
            alerted_at=dt_from_db(row["alerted_at"]),
            released_at=dt_from_db(row["released_at"]),
            restored_uid=row["restored_uid"],
            error=row["error"],
        )


@dataclass(frozen=True)
class ReleasedSender:
    """A sender the user vouched for by releasing one of their messages."""

    account: str
    sender_addr: str
    released_at: datetime
    quarantine_id: int | None
    reasons: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ReleasedSender:
        released_at = dt_from_db(row["released_at"])
        assert released_at is not None
        return cls(
            account=row["account"],
            sender_addr=row["sender_addr"],
            released_at=released_at,
            quarantine_id=row["quarantine_id"],
            reasons=from_json(row["reasons"], []),
        )


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log."""

    id: int
    at: datetime
    account: str | None
    action: str
    quarantine_id: int | None
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        at = dt_from_db(row["at"])
        assert at is not None
        return cls(
            id=row["id"],
            at=at,
            account=row["account"],
            action=row["action"],
            quarantine_id=row["quarantine_id"],
            detail=from_json(row["detail"], {}),
        )


@dataclass(frozen=True)
class AccountStatus:
    """Health and counters of one account, for ``mailguard status`` and metrics."""

    account: str
    last_poll_at: datetime | None
    last_result: str | None  # "ok" | "error" | None (never polled)
    last_error: str | None
    last_error_at: datetime | None
    next_poll_at: datetime | None
    consecutive_failures: int
    scanned_total: int
    quarantined_total: int
    released_total: int
    errors_total: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AccountStatus:
        return cls(
            account=row["account"],
            last_poll_at=dt_from_db(row["last_poll_at"]),
            last_result=row["last_result"],
            last_error=row["last_error"],
            last_error_at=dt_from_db(row["last_error_at"]),
            next_poll_at=dt_from_db(row["next_poll_at"]),
            consecutive_failures=row["consecutive_failures"],
            scanned_total=row["scanned_total"],
            quarantined_total=row["quarantined_total"],
            released_total=row["released_total"],
            errors_total=row["errors_total"],
        )


@dataclass(frozen=True)
class DigestRecord:
    """One digest or immediate alert that was sent (or that failed to send)."""

    id: int
    account: str
    kind: str  # "daily" | "immediate"
    sent_at: datetime
    item_count: int
    delivery: str | None  # "imap" | "smtp"
    status: str  # "sent" | "failed"
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DigestRecord:
        sent_at = dt_from_db(row["sent_at"])
        assert sent_at is not None
        return cls(
            id=row["id"],
            account=row["account"],
            kind=row["kind"],
            sent_at=sent_at,
            item_count=row["item_count"],
            delivery=row["delivery"],
            status=row["status"],
            error=row["error"],
        )


@dataclass(frozen=True)
class MessageError:
    """One message that could not be handled and was skipped so the others could be.

    Kept so that ``status`` can say how many and what went wrong last, and so a
    digest can tell the user that a message was *not* checked.
    """

    id: int
    at: datetime
    account: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    error: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MessageError:
        at = dt_from_db(row["at"])
        assert at is not None
        return cls(
            id=row["id"],
            at=at,
            account=row["account"],
            folder=row["folder"],
            uidvalidity=row["uidvalidity"],
            uid=row["uid"],
            message_id=row["message_id"],
            error=row["error"],
        )
