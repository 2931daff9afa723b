"""Quarantine rows and the move life cycle.

The "never lose mail" argument lives here. The pipeline

1. calls :meth:`record_move_intent` -- the row (status ``pending_move``) and
   its ``move.intent`` audit entry are committed *before* any IMAP command;
2. moves the message;
3. calls :meth:`confirm_move` (``quarantined``) or :meth:`fail_move`.

If the process dies between 1 and 3, the row stays ``pending_move`` and
:meth:`pending_moves` hands it to the next start's reconciliation, which
looks for the message in its original and its quarantine folder and settles
the row with :meth:`mark_reconciled`. Each transition checks the current
status, so a confused caller gets :class:`InvalidTransition` instead of
silently overwriting history.

Duplicates: at most one *live* row (any status but ``released``/``failed``)
may exist per (account, Message-ID, sha256 of the raw bytes). That is how a
rescan after a UIDVALIDITY change recognises mail it already handled.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date as Date
from datetime import datetime
from typing import Any, Final, Literal

from mailguard.state import audit as actions
from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db, message_dt_to_db, reasons_to_dicts, to_json
from mailguard.state.db import Repository
from mailguard.state.errors import DuplicateMessage, InvalidTransition, UnknownItem
from mailguard.state.records import (
    FAILED,
    PENDING_MOVE,
    QUARANTINED,
    RELEASED,
    STATUSES,
    SUSPICIOUS,
    QuarantineRecord,
)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_VERDICTS = ("scam", "suspicious", "clean")

ReconcileOutcome = Literal["quarantined", "moved", "finished", "copy_only", "not_moved", "missing"]
# outcome -> the status it means. The first four: the message is (also) in the
# quarantine folder. "not_moved": it is still only in its original folder; the row
# becomes 'failed', which takes it out of the duplicate index so the next scan may
# record a fresh intent. "missing": in neither folder (deleted by the user meanwhile).
# Hyphens are accepted for underscores ("not-moved", "copy-only").
RECONCILE_OUTCOMES: Final[dict[str, str]] = {
    "quarantined": QUARANTINED,
    "moved": QUARANTINED,
    "finished": QUARANTINED,
    "copy_only": QUARANTINED,
    "not_moved": FAILED,
    "missing": FAILED,
}


def normalize_message_id(message_id: str | None) -> str | None:
    """Missing and empty Message-IDs are the same thing: NULL."""
    if message_id is None:
        return None
    message_id = message_id.strip()
    return message_id or None


def _normalize_sha256(sha256: str) -> str:
    value = sha256.strip().lower()
    if not _SHA256_RE.match(value):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    return value


def _flag_text(flag: str | bytes) -> str:
    return flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag)


def get_row(conn: sqlite3.Connection, item_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM quarantine WHERE id = ?", (item_id,)
    ).fetchone()
    if row is None:
        raise UnknownItem(item_id)
    return row


def require_status(
    conn: sqlite3.Connection, item_id: int, action: str, allowed: tuple[str, ...]
) -> sqlite3.Row:
    """Fetch the row inside the caller's write transaction and check its status."""
    row = get_row(conn, item_id)
    if row["status"] not in allowed:
        raise InvalidTransition(item_id, row["status"], action, allowed)
    return row


def _status_filter(status: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if status is None:
        return None
    wanted = (status,) if isinstance(status, str) else tuple(status)
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ValueError(f"unknown status {unknown[0]!r}; expected one of {STATUSES}")
    return wanted


class QuarantineOps(Repository):
    """Recording, moving and finding quarantine rows."""

    # -- writes --------------------------------------------------------------------------
    def record_move_intent(
        self,
        *,
        account: str,
        original_folder: str,
        original_uid: int,
        original_uidvalidity: int,
        message_id: str | None,
        sha256: str,
        quarantine_folder: str,
        verdict: str,
        score: float,
        category: str | None = None,
        from_addr: str | None = None,
        from_name: str | None = None,
        subject: str | None = None,
        date: datetime | Date | str | None = None,
        reasons: Sequence[Any] = (),
        flags: Sequence[str | bytes] = (),
        contacted_on: datetime | Date | str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Commit a ``pending_move`` row and its ``move.intent`` entry; return the row id.

        Must be called (and return) before the IMAP move is attempted.
        ``quarantine_folder`` is the intended destination, so reconciliation
        knows where to look. Raises :class:`DuplicateMessage` if a live row
        already records this message (check :meth:`find_existing` first).
        """
        return self._insert(
            PENDING_MOVE,
            actions.MOVE_INTENT,
            account=account,
            original_folder=original_folder,
            original_uid=original_uid,
            original_uidvalidity=original_uidvalidity,
            message_id=message_id,
            sha256=sha256,
            quarantine_folder=quarantine_folder,
            verdict=verdict,
            score=score,
            category=category,
            from_addr=from_addr,
            from_name=from_name,
            subject=subject,
            date=date,
            reasons=reasons,
            flags=flags,
            contacted_on=contacted_on,
            details=details,
        )

    def record_suspicious(
        self,
        *,
        account: str,
        original_folder: str,
        original_uid: int,
        original_uidvalidity: int,
        message_id: str | None,
        sha256: str,
        verdict: str,
        score: float,
        category: str | None = None,
        from_addr: str | None = None,
        from_name: str | None = None,
        subject: str | None = None,
        date: datetime | Date | str | None = None,
        reasons: Sequence[Any] = (),
        flags: Sequence[str | bytes] = (),
        contacted_on: datetime | Date | str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a message left in place but worth mentioning in the digest; return its id."""
        return self._insert(
            SUSPICIOUS,
            actions.SUSPICIOUS_RECORDED,
            account=account,
            original_folder=original_folder,
            original_uid=original_uid,
            original_uidvalidity=original_uidvalidity,
            message_id=message_id,
            sha256=sha256,
            quarantine_folder=None,
            verdict=verdict,
            score=score,
            category=category,
            from_addr=from_addr,
            from_name=from_name,
            subject=subject,
            date=date,
            reasons=reasons,
            flags=flags,
            contacted_on=contacted_on,
            details=details,
        )

    def _insert(
        self,
        status: str,
        action: str,
        *,
        account: str,
        original_folder: str,
        original_uid: int,
        original_uidvalidity: int,
        message_id: str | None,
        sha256: str,
        quarantine_folder: str | None,
        verdict: str,
        score: float,
        category: str | None,
        from_addr: str | None,
        from_name: str | None,
        subject: str | None,
        date: datetime | Date | str | None,
        reasons: Sequence[Any],
        flags: Sequence[str | bytes],
        contacted_on: datetime | Date | str | None,
        details: Mapping[str, Any] | None,
    ) -> int:
        if verdict not in _VERDICTS:
            raise ValueError(f"verdict must be one of {_VERDICTS}, got {verdict!r}")
        message_id = normalize_message_id(message_id)
        sha256 = _normalize_sha256(sha256)
        sender = (from_addr or "").strip().lower() or None
        now = self._db.now()
        with self._db.transaction() as conn:
            live = self._live_row(conn, account, message_id, sha256)
            if live is not None:
                raise DuplicateMessage(live["id"], live["status"])
            cur = conn.execute(
                """
                INSERT INTO quarantine (
                    account, original_folder, original_uid, original_uidvalidity, message_id,
                    sha256, from_addr, from_name, subject, date, verdict, category, score,
                    reasons, flags, details, status, quarantine_folder, contacted_on, recorded_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    account,
                    original_folder,
                    original_uid,
                    original_uidvalidity,
                    message_id,
                    sha256,
                    sender,
                    from_name or None,
                    subject,
                    message_dt_to_db(date),
                    verdict,
                    category,
                    float(score),
                    to_json(reasons_to_dicts(reasons)),
                    to_json([_flag_text(f) for f in flags]),
                    to_json(dict(details or {})),
                    status,
                    quarantine_folder,
                    message_dt_to_db(contacted_on),
                    dt_to_db(now),
                ),
            )
            item_id = cur.lastrowid
            assert item_id is not None
            append_audit(
                conn,
                now,
                account,
                action,
                item_id,
                {
                    "folder": original_folder,
                    "uid": original_uid,
                    "uidvalidity": original_uidvalidity,
                    "dest": quarantine_folder,
                    "message_id": message_id,
                    "sha256": sha256,
                    "verdict": verdict,
                    "category": category,
                    "score": float(score),
                },
            )
        return item_id

    def confirm_move(
        self,
        item_id: int,
        quarantine_folder: str,
        quarantine_uid: int | None,
        quarantine_uidvalidity: int | None,
        method: str,
    ) -> None:
        """The server accepted the move: ``pending_move`` -> ``quarantined``.

        ``quarantine_uid`` may be None when the server did not report one
        (no UIDPLUS); release then finds the message by Message-ID.
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_status(conn, item_id, "confirm the move of", (PENDING_MOVE,))
            conn.execute(
                """
                UPDATE quarantine SET status = ?, quarantine_folder = ?, quarantine_uid = ?,
                    quarantine_uidvalidity = ?, move_method = ?, quarantined_at = ?, error = NULL
                WHERE id = ?
                """,
                (
                    QUARANTINED,
                    quarantine_folder,
                    quarantine_uid,
                    quarantine_uidvalidity,
                    method,
                    dt_to_db(now),
                    item_id,
                ),
            )
            append_audit(
                conn,
                now,
                row["account"],
                actions.MOVE_CONFIRMED,
                item_id,
                {
                    "dest": quarantine_folder,
                    "dest_uid": quarantine_uid,
                    "dest_uidvalidity": quarantine_uidvalidity,
                    "method": method,
                },
            )

    def fail_move(self, item_id: int, error: str) -> None:
        """The move certainly did not happen: ``pending_move`` -> ``failed``.

        Only call this when the message is known to be still in its original
        folder; when in doubt (connection lost mid-command) leave the row
        pending for reconciliation.
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_status(conn, item_id, "fail the move of", (PENDING_MOVE,))
            conn.execute(
                "UPDATE quarantine SET status = ?, error = ? WHERE id = ?", (FAILED, error, item_id)
            )
            append_audit(conn, now, row["account"], actions.MOVE_FAILED, item_id, {"error": error})

    def mark_reconciled(
        self,
        item_id: int,
        outcome: ReconcileOutcome | str,
        *,
        quarantine_folder: str | None = None,
        quarantine_uid: int | None = None,
        quarantine_uidvalidity: int | None = None,
        note: str | None = None,
    ) -> None:
        """Record what start-up reconciliation found for a move a crash left pending.

        Two ways to use it, both writing one ``move.reconciled`` audit entry:

        * on a row still ``pending_move``, it also settles the row: outcomes
          meaning "in quarantine" make it ``quarantined`` (pass the UID if
          known), ``not_moved``/``missing`` make it ``failed``;
        * after the caller already settled the row itself (``confirm_move``
          after finishing the move, ``fail_move``), it only records the
          outcome -- which must agree with the row's status.

        See :data:`RECONCILE_OUTCOMES` for the vocabulary.
        """
        key = outcome.replace("-", "_")
        if key not in RECONCILE_OUTCOMES:
            raise ValueError(f"outcome must be one of {tuple(RECONCILE_OUTCOMES)}, got {outcome!r}")
        settles_as = RECONCILE_OUTCOMES[key]
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_status(
                conn, item_id, f"reconcile ({outcome})", (PENDING_MOVE, settles_as)
            )
            if row["status"] == PENDING_MOVE and settles_as == QUARANTINED:
                conn.execute(
                    """
                    UPDATE quarantine SET status = ?,
                        quarantine_folder = coalesce(?, quarantine_folder),
                        quarantine_uid = ?, quarantine_uidvalidity = ?,
                        move_method = 'reconciled', quarantined_at = ?, error = NULL
                    WHERE id = ?
                    """,
                    (
                        QUARANTINED,
                        quarantine_folder,
                        quarantine_uid,
                        quarantine_uidvalidity,
                        dt_to_db(now),
                        item_id,
                    ),
                )
            elif row["status"] == PENDING_MOVE:
                error = f"reconciled after restart: {key}" + (f" ({note})" if note else "")
                conn.execute(
                    "UPDATE quarantine SET status = ?, error = ? WHERE id = ?",
                    (settles_as, error, item_id),
                )
            append_audit(
                conn,
                now,
                row["account"],
                actions.MOVE_RECONCILED,
                item_id,
                {
                    "outcome": key,
                    "status": settles_as,
                    "settled_here": row["status"] == PENDING_MOVE,
                    "dest": quarantine_folder or row["quarantine_folder"],
                    "dest_uid": quarantine_uid
                    if quarantine_uid is not None
                    else row["quarantine_uid"],
                    "note": note,
                },
            )

    # -- reads ---------------------------------------------------------------------------
    def get(self, item_id: int) -> QuarantineRecord | None:
        row = self._db.query_one("SELECT * FROM quarantine WHERE id = ?", (item_id,))
        return QuarantineRecord.from_row(row) if row is not None else None

    def pending_moves(self, account: str | None = None) -> list[QuarantineRecord]:
        """Rows whose move was intended but never settled: reconcile these at start."""
        return self.list_quarantine(account, status=PENDING_MOVE)

    def find_existing(
        self, account: str, message_id: str | None, sha256: str
    ) -> QuarantineRecord | None:
        """The row that already records this exact message, if any.

        Prefers the live row (pending_move, quarantined, releasing,
        suspicious). Failing that, returns the latest ``released`` row -- the
        user already judged this mail, so a rescan must leave it alone -- and
        then the latest ``failed`` one (which a caller may retry).
        """
        message_id = normalize_message_id(message_id)
        sha256 = _normalize_sha256(sha256)
        row = self._db.query_one(
            """
            SELECT * FROM quarantine
            WHERE account = ? AND sha256 = ? AND coalesce(message_id, '') = coalesce(?, '')
            ORDER BY CASE status WHEN 'released' THEN 1 WHEN 'failed' THEN 2 ELSE 0 END, id DESC
            LIMIT 1
            """,
            (account, sha256, message_id),
        )
        return QuarantineRecord.from_row(row) if row is not None else None

    @staticmethod
    def _live_row(
        conn: sqlite3.Connection, account: str, message_id: str | None, sha256: str
    ) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            """
            SELECT id, status FROM quarantine
            WHERE account = ? AND coalesce(message_id, '') = coalesce(?, '') AND sha256 = ?
              AND status NOT IN (?, ?)
            """,
            (account, message_id, sha256, RELEASED, FAILED),
        ).fetchone()
        return row

    def list_quarantine(
        self,
        account: str | None = None,
        status: str | Iterable[str] | None = QUARANTINED,
    ) -> list[QuarantineRecord]:
        """Rows, oldest first. ``status=None`` lists every status."""
        wanted = _status_filter(status)
        where: list[str] = []
        params: list[Any] = []
        if account is not None:
            where.append("account = ?")
            params.append(account)
        if wanted is not None:
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = "SELECT * FROM quarantine"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        return [QuarantineRecord.from_row(r) for r in self._db.query(sql, params)]

    def quarantine_counts(self, account: str | None = None) -> dict[str, int]:
        """Number of rows per status (every status present, zero if none), for metrics."""
        counts = dict.fromkeys(STATUSES, 0)
        if account is None:
            rows = self._db.query("SELECT status, count(*) FROM quarantine GROUP BY status")
        else:
            rows = self._db.query(
                "SELECT status, count(*) FROM quarantine WHERE account = ? GROUP BY status",
                (account,),
            )
        for status, n in rows:
            counts[status] = n
        return counts
