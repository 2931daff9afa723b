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

Duplicates. A record stands for one message in the mailbox, identified by
where it was seen: (folder, UIDVALIDITY, UID). The database allows at most one
*live* record (any status but ``released``/``failed``) per place. Across places
the content decides (account, Message-ID, sha256 of the raw bytes): after a
UIDVALIDITY change the same bytes under a new UID are the message we already
handled, and :class:`DuplicateMessage` refuses a second record -- *unless* the
server itself says they are two messages: the same folder under the same
UIDVALIDITY at a different UID is a second delivery of an identical scam, and
it is quarantined like the first (``QuarantineRecord.is_same_message``).

Message-IDs come from mail and may hold raw 8-bit bytes, which Python carries
as lone surrogates; :func:`normalize_message_id` stores them as UTF-8 with
backslash escapes, the same way on every write and every lookup.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any, Final

from mailguard.state import audit as actions
from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db, message_dt_to_db, reasons_to_dicts, to_json
from mailguard.state.db import Repository
from mailguard.state.errors import DuplicateMessage, InvalidTransition, UnknownItem
from mailguard.state.records import (
    LIVE_STATUSES,
    NewItem,
    QuarantineRecord,
    may_transition,
    sources_of,
)
from mailguard.vocabulary import ReconcileOutcome, Status, VerdictKind

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# outcome -> the status it means. The first four: the message is (also) in the
# quarantine folder. NOT_MOVED: it is still only in its original folder; the row
# becomes 'failed', which takes it out of the live set so the next scan may
# record a fresh intent. MISSING: in neither folder (deleted by the user meanwhile).
RECONCILE_OUTCOMES: Final[dict[ReconcileOutcome, Status]] = {
    ReconcileOutcome.QUARANTINED: Status.QUARANTINED,
    ReconcileOutcome.MOVED: Status.QUARANTINED,
    ReconcileOutcome.FINISHED: Status.QUARANTINED,
    ReconcileOutcome.COPY_ONLY: Status.QUARANTINED,
    ReconcileOutcome.NOT_MOVED: Status.FAILED,
    ReconcileOutcome.MISSING: Status.FAILED,
}


def normalize_message_id(message_id: str | None) -> str | None:
    """The Message-ID as stored and looked up: stripped, NULL when missing or empty.

    Raw 8-bit header bytes reach us as lone surrogates (``surrogateescape``),
    which SQLite cannot encode; they are turned back into their bytes and
    decoded as UTF-8, with ``\\xNN`` escapes for what is not UTF-8. Writes and
    lookups both come through here, so they always agree.
    """
    if message_id is None:
        return None
    message_id = message_id.strip()
    if not message_id:
        return None
    try:
        message_id.encode("utf-8")
    except UnicodeEncodeError:
        raw = message_id.encode("utf-8", "surrogateescape")
        message_id = raw.decode("utf-8", "backslashreplace")
    return message_id


def _outcome(outcome: ReconcileOutcome | str) -> ReconcileOutcome:
    """The enum member; older callers spell outcomes with hyphens ("copy-only")."""
    try:
        return ReconcileOutcome(outcome.replace("-", "_"))
    except ValueError:
        raise ValueError(
            f"outcome must be one of {tuple(str(o) for o in ReconcileOutcome)}, got {outcome!r}"
        ) from None


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


def require_transition(
    conn: sqlite3.Connection, item_id: int, action: str, target: Status
) -> sqlite3.Row:
    """Fetch the row inside the caller's write transaction; refuse a move the table forbids.

    The one guard every status change goes through, so the state machine in
    :data:`mailguard.state.records.TRANSITIONS` is enforced, not just documented.
    """
    row = get_row(conn, item_id)
    if not may_transition(Status(row["status"]), target):
        raise InvalidTransition(item_id, row["status"], action, sources_of(target))
    return row


def _status_filter(status: str | Iterable[str] | None) -> tuple[Status, ...] | None:
    if status is None:
        return None
    wanted = (status,) if isinstance(status, str) else tuple(status)
    try:
        return tuple(Status(s) for s in wanted)
    except ValueError:
        unknown = next(s for s in wanted if s not in set(Status))
        raise ValueError(
            f"unknown status {unknown!r}; expected one of {tuple(str(s) for s in Status)}"
        ) from None


def _checked(item: NewItem) -> tuple[VerdictKind, str | None, str]:
    """The item's verdict, Message-ID and sha256 as stored; a bad verdict is refused."""
    if item.verdict not in set(VerdictKind):
        raise ValueError(
            f"verdict must be one of {tuple(str(v) for v in VerdictKind)}, got {item.verdict!r}"
        )
    return (
        VerdictKind(item.verdict),
        normalize_message_id(item.message_id),
        _normalize_sha256(item.sha256),
    )


def _finding(item: NewItem, verdict: VerdictKind) -> tuple[Any, ...]:
    """Columns verdict, category, score, reasons, flags, details, as stored."""
    return (
        verdict,
        item.category,
        float(item.score),
        to_json(reasons_to_dicts(item.reasons)),
        to_json([_flag_text(f) for f in item.flags]),
        to_json(dict(item.details)),
    )


def _intent_detail(
    item: NewItem,
    verdict: VerdictKind,
    message_id: str | None,
    sha256: str,
    quarantine_folder: str | None,
) -> dict[str, Any]:
    """The audit entry of a recorded intent: where the message is and where it goes."""
    return {
        "folder": item.original_folder,
        "uid": item.original_uid,
        "uidvalidity": item.original_uidvalidity,
        "dest": quarantine_folder,
        "message_id": message_id,
        "sha256": sha256,
        "verdict": verdict,
        "category": item.category,
        "score": float(item.score),
    }


class QuarantineOps(Repository):
    """Recording, moving and finding quarantine rows."""

    # -- writes --------------------------------------------------------------------------
    def record_move_intent(self, item: NewItem, quarantine_folder: str) -> int:
        """Commit a ``pending_move`` row and its ``move.intent`` entry; return the row id.

        Must be called (and return) before the IMAP move is attempted.
        ``quarantine_folder`` is the intended destination, so reconciliation
        knows where to look. Raises :class:`DuplicateMessage` if a live row
        already records this message (check :meth:`find_existing` first).
        """
        return self._insert(item, Status.PENDING_MOVE, actions.MOVE_INTENT, quarantine_folder)

    def record_suspicious(self, item: NewItem) -> int:
        """Record a message left in place but worth mentioning in the digest; return its id."""
        return self._insert(item, Status.SUSPICIOUS, actions.SUSPICIOUS_RECORDED, None)

    def hold_reported_suspicious(self, item_id: int, item: NewItem, quarantine_folder: str) -> int:
        """A ``suspicious`` row whose message the user reported: it becomes this move's record.

        The user moved a message we had only mentioned into the report folder.
        ``suspicious -> pending_move`` and the ``move.intent`` entry are
        committed in one transaction *before* the IMAP move, with the report's
        place (folder, UIDVALIDITY, UID), verdict and reasons, exactly as
        :meth:`record_move_intent` would write a new row: the message keeps one
        record, and the move is recorded and reversible like any other.
        """
        verdict, message_id, sha256 = _checked(item)
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_transition(conn, item_id, "hold the reported", Status.PENDING_MOVE)
            conn.execute(
                """
                UPDATE quarantine SET original_folder = ?, original_uid = ?,
                    original_uidvalidity = ?, verdict = ?, category = ?, score = ?, reasons = ?,
                    flags = ?, details = ?, status = ?, quarantine_folder = ?,
                    contacted_on = coalesce(?, contacted_on), error = NULL
                WHERE id = ?
                """,
                (
                    item.original_folder,
                    item.original_uid,
                    item.original_uidvalidity,
                    *_finding(item, verdict),
                    Status.PENDING_MOVE,
                    quarantine_folder,
                    message_dt_to_db(item.contacted_on),
                    item_id,
                ),
            )
            append_audit(
                conn,
                now,
                row["account"],
                actions.MOVE_INTENT,
                item_id,
                _intent_detail(item, verdict, message_id, sha256, quarantine_folder),
            )
        return item_id

    def _insert(
        self, item: NewItem, status: Status, action: str, quarantine_folder: str | None
    ) -> int:
        verdict, message_id, sha256 = _checked(item)
        sender = (item.from_addr or "").strip().lower() or None
        now = self._db.now()
        with self._db.transaction() as conn:
            place = (item.original_folder, item.original_uidvalidity, item.original_uid)
            for live in self._live_rows(conn, item.account, place, message_id, sha256):
                if live.is_same_message(*place):
                    raise DuplicateMessage(live.id, live.status)
            cur = conn.execute(
                """
                INSERT INTO quarantine (
                    account, original_folder, original_uid, original_uidvalidity, message_id,
                    sha256, from_addr, from_name, subject, date, verdict, category, score,
                    reasons, flags, details, status, quarantine_folder, contacted_on, recorded_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    item.account,
                    item.original_folder,
                    item.original_uid,
                    item.original_uidvalidity,
                    message_id,
                    sha256,
                    sender,
                    item.from_name or None,
                    item.subject,
                    message_dt_to_db(item.date),
                    *_finding(item, verdict),
                    status,
                    quarantine_folder,
                    message_dt_to_db(item.contacted_on),
                    dt_to_db(now),
                ),
            )
            item_id = cur.lastrowid
            assert item_id is not None
            append_audit(
                conn,
                now,
                item.account,
                action,
                item_id,
                _intent_detail(item, verdict, message_id, sha256, quarantine_folder),
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
            row = require_transition(conn, item_id, "confirm the move of", Status.QUARANTINED)
            conn.execute(
                """
                UPDATE quarantine SET status = ?, quarantine_folder = ?, quarantine_uid = ?,
                    quarantine_uidvalidity = ?, move_method = ?, quarantined_at = ?, error = NULL
                WHERE id = ?
                """,
                (
                    Status.QUARANTINED,
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
            row = require_transition(conn, item_id, "fail the move of", Status.FAILED)
            conn.execute(
                "UPDATE quarantine SET status = ?, error = ? WHERE id = ?",
                (Status.FAILED, error, item_id),
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
        key = _outcome(outcome)
        settles_as = RECONCILE_OUTCOMES[key]
        now = self._db.now()
        with self._db.transaction() as conn:
            row = get_row(conn, item_id)
            if row["status"] != settles_as:  # not yet settled by the caller: settle it here
                row = require_transition(conn, item_id, f"reconcile ({key})", settles_as)
            if row["status"] == Status.PENDING_MOVE and settles_as == Status.QUARANTINED:
                conn.execute(
                    """
                    UPDATE quarantine SET status = ?,
                        quarantine_folder = coalesce(?, quarantine_folder),
                        quarantine_uid = ?, quarantine_uidvalidity = ?,
                        move_method = 'reconciled', quarantined_at = ?, error = NULL
                    WHERE id = ?
                    """,
                    (
                        Status.QUARANTINED,
                        quarantine_folder,
                        quarantine_uid,
                        quarantine_uidvalidity,
                        dt_to_db(now),
                        item_id,
                    ),
                )
            elif row["status"] == Status.PENDING_MOVE:
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
                    "settled_here": row["status"] == Status.PENDING_MOVE,
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
        return self.list_quarantine(account, status=Status.PENDING_MOVE)

    def find_existing(
        self,
        account: str,
        message_id: str | None,
        sha256: str,
        *,
        seen_at: tuple[str, int, int] | None = None,
    ) -> QuarantineRecord | None:
        """The row that already records this exact message, if any.

        Prefers the live row (pending_move, quarantined, releasing,
        suspicious). Failing that, returns the latest ``released`` row -- the
        user already judged this mail, so a rescan must leave it alone -- and
        then the latest ``failed`` one (which a caller may retry).

        ``seen_at`` = (folder, uidvalidity, uid) where the message is now: live
        rows that are a *different* message with the same bytes (a second
        delivery, see the module docstring) are then not returned.
        """
        message_id = normalize_message_id(message_id)
        sha256 = _normalize_sha256(sha256)
        rows = self._db.query(
            """
            SELECT * FROM quarantine
            WHERE account = ? AND sha256 = ? AND coalesce(message_id, '') = coalesce(?, '')
            ORDER BY CASE status WHEN 'released' THEN 1 WHEN 'failed' THEN 2 ELSE 0 END, id DESC
            """,
            (account, sha256, message_id),
        )
        for row in rows:
            rec = QuarantineRecord.from_row(row)
            if seen_at is None or rec.status not in LIVE_STATUSES or rec.is_same_message(*seen_at):
                return rec
        return None

    @staticmethod
    def _live_rows(
        conn: sqlite3.Connection,
        account: str,
        place: tuple[str, int, int],
        message_id: str | None,
        sha256: str,
    ) -> list[QuarantineRecord]:
        """Live rows with these bytes, or at this place (folder, UIDVALIDITY, UID)."""
        rows = conn.execute(
            f"""
            SELECT * FROM quarantine
            WHERE account = ?
              AND ((coalesce(message_id, '') = coalesce(?, '') AND sha256 = ?)
                   OR (original_folder = ? AND original_uidvalidity = ? AND original_uid = ?))
              AND status IN ({", ".join("?" * len(LIVE_STATUSES))})
            """,
            (account, message_id, sha256, *place, *sorted(LIVE_STATUSES)),
        ).fetchall()
        return [QuarantineRecord.from_row(r) for r in rows]

    def list_quarantine(
        self,
        account: str | None = None,
        status: str | Iterable[str] | None = Status.QUARANTINED,
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

    def held_scams(self, account: str) -> tuple[set[str], set[str]]:
        """(Message-IDs, sender addresses) of the scams ``account`` holds in quarantine.

        Only rows still held with a ``scam`` verdict: a released message is no
        longer our finding, and a suspicious one never was.
        """
        rows = self._db.query(
            "SELECT message_id, from_addr FROM quarantine"
            " WHERE account = ? AND status = ? AND verdict = ?",
            (account, Status.QUARANTINED, VerdictKind.SCAM),
        )
        ids = {r[0] for r in rows if r[0]}
        senders = {r[1].lower() for r in rows if r[1] and "@" in r[1]}
        return ids, senders

    def quarantine_counts(self, account: str | None = None) -> dict[str, int]:
        """Number of rows per status (every status present, zero if none), for metrics."""
        counts: dict[str, int] = dict.fromkeys(Status, 0)
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
