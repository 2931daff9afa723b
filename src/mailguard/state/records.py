"""Immutable views of state rows, with parsed fields.

Rows become frozen dataclasses at the boundary of this package, so callers
never see SQLite text: timestamps are aware UTC datetimes, JSON columns are
lists and dicts. Status strings are spelled out here once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from mailguard.state.codec import dt_from_db, from_json

# Quarantine row life cycle (moves: quarantine.py, releases: releases.py):
#   pending_move -> quarantined -> releasing -> released
#   pending_move -> failed                       (move failed / never happened)
#   quarantined  <- releasing                    (release aborted)
#   suspicious   -> releasing -> released        (left in place; release = "sender is fine")
PENDING_MOVE: Final = "pending_move"
QUARANTINED: Final = "quarantined"
RELEASING: Final = "releasing"
RELEASED: Final = "released"
FAILED: Final = "failed"
SUSPICIOUS: Final = "suspicious"
STATUSES: Final = (PENDING_MOVE, QUARANTINED, RELEASING, RELEASED, FAILED, SUSPICIOUS)

# Digest bookkeeping per item: 'pending' until a daily digest lists it ('sent').
# 'alerted' means an immediate alert mentioned it; it still goes in the next daily digest.
DIGEST_PENDING: Final = "pending"
DIGEST_ALERTED: Final = "alerted"
DIGEST_SENT: Final = "sent"


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
    verdict: str
    category: str | None
    score: float
    reasons: list[dict[str, Any]]
    flags: tuple[str, ...]
    details: dict[str, Any]
    status: str
    quarantine_folder: str | None
    quarantine_uid: int | None
    quarantine_uidvalidity: int | None
    move_method: str | None
    contacted_on: datetime | None
    recorded_at: datetime
    quarantined_at: datetime | None
    digest_status: str
    digest_sent_at: datetime | None
    digest_id: int | None
    alerted_at: datetime | None
    released_at: datetime | None
    restored_uid: int | None
    error: str | None

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
            verdict=row["verdict"],
            category=row["category"],
            score=row["score"],
            reasons=from_json(row["reasons"], []),
            flags=tuple(from_json(row["flags"], [])),
            details=from_json(row["details"], {}),
            status=row["status"],
            quarantine_folder=row["quarantine_folder"],
            quarantine_uid=row["quarantine_uid"],
            quarantine_uidvalidity=row["quarantine_uidvalidity"],
            move_method=row["move_method"],
            contacted_on=dt_from_db(row["contacted_on"]),
            recorded_at=recorded_at,
            quarantined_at=dt_from_db(row["quarantined_at"]),
            digest_status=row["digest_status"],
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
