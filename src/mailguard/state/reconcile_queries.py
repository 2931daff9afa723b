"""State queries that crash reconciliation and ``mailguard doctor`` need.

Kept apart from :mod:`mailguard.state.quarantine` (the move life cycle) so the
two can evolve separately. Everything here answers one question reconciliation
must get right: *which* message in the quarantine folder is the copy of *this*
pending row. A Message-ID cannot answer it (it is attacker-controlled, may be
shared by two different scams, missing, or unsearchable), so we use:

* **a UID floor** -- the copy was made after the intent, so its UID is above
  every quarantine UID the earlier rows recorded;
* **claimed UIDs** -- quarantine UIDs other rows already own, which can never be
  the copy of a different row.

No schema change and no extra IMAP command per poll: both come from the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db, message_dt_to_db, reasons_to_dicts, to_json
from mailguard.state.db import Repository
from mailguard.vocabulary import Status

# Rows whose quarantine UID is theirs for as long as the message stays in quarantine.
_CLAIMING = (Status.QUARANTINED, Status.RELEASING)
# Rows whose quarantine UID existed at some time: released ones count (their UID was used).
_BOUNDING = (Status.QUARANTINED, Status.RELEASING, Status.RELEASED)


class ReconcileQueryOps(Repository):
    """UID floors, claimed quarantine UIDs, recovered rows."""

    def highest_claimed_uid_before(
        self, item_id: int, account: str, folder: str, uidvalidity: int
    ) -> int:
        """The highest quarantine UID claimed by a row recorded before ``item_id`` (0 if none).

        Why this bounds the search: a copy made for row ``item_id`` was made
        after its intent was committed, so the server gave it a UID above every
        UID that existed then -- including every UID recorded by the rows before
        it (a pass confirms each move before recording the next intent; rows a
        reconciliation confirms later had their copies made earlier still).
        Rows without a recorded UIDVALIDITY give no bound: their UID may belong
        to an older incarnation of the folder.
        """
        row = self._db.query_one(
            f"""
            SELECT coalesce(max(quarantine_uid), 0) FROM quarantine
            WHERE account = ? AND quarantine_folder = ? AND id < ?
              AND quarantine_uidvalidity = ? AND quarantine_uid IS NOT NULL
              AND status IN ({", ".join("?" * len(_BOUNDING))})
            """,
            (account, folder, item_id, uidvalidity, *_BOUNDING),
        )
        return int(row[0]) if row is not None else 0

    def claimed_quarantine_uids(
        self, account: str, folder: str, uidvalidity: int | None, *, exclude: int | None = None
    ) -> set[int]:
        """Quarantine UIDs already owned by a row (other than ``exclude``) in ``folder``.

        A row without a recorded UIDVALIDITY counts as claiming its UID under
        any UIDVALIDITY: better to miss a copy (the row then stays visible as
        "missing", nothing is deleted) than to hand one message to two rows.
        """
        rows = self._db.query(
            f"""
            SELECT quarantine_uid FROM quarantine
            WHERE account = ? AND quarantine_folder = ? AND quarantine_uid IS NOT NULL
              AND status IN ({", ".join("?" * len(_CLAIMING))}) AND id <> ?
              AND (quarantine_uidvalidity IS NULL OR ? IS NULL OR quarantine_uidvalidity = ?)
            """,
            (account, folder, *_CLAIMING, exclude or 0, uidvalidity, uidvalidity),
        )
        return {int(r[0]) for r in rows}

    def claimed_sha256(self, account: str, folder: str) -> set[str]:
        """Content hashes of the messages rows say are in ``folder`` (doctor: find the rest)."""
        rows = self._db.query(
            f"""
            SELECT sha256 FROM quarantine WHERE account = ? AND quarantine_folder = ?
              AND status IN ({", ".join("?" * len(_CLAIMING))})
            """,
            (account, folder, *_CLAIMING),
        )
        return {str(r[0]) for r in rows}

    def record_recovered(
        self,
        *,
        account: str,
        original_folder: str,
        original_uid: int,
        original_uidvalidity: int,
        message_id: str | None,
        sha256: str,
        quarantine_folder: str,
        quarantine_uid: int,
        quarantine_uidvalidity: int | None,
        verdict: str,
        score: float,
        category: str | None,
        from_addr: str | None,
        from_name: str | None,
        subject: str | None,
        date: datetime | str | None,
        reasons: Sequence[Any],
        flags: Sequence[str],
        details: Mapping[str, Any],
        source: str,
        digest_sent: bool = False,
    ) -> int:
        """Record a message found in the quarantine folder with no row (``doctor --rebuild``).

        It is recorded straight as ``quarantined`` with ``move_method``
        ``recovered`` and a ``move.recovered`` audit entry saying where the facts
        came from (``source``: the old audit log, or only the message itself).
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            cur = conn.execute(
                """
                INSERT INTO quarantine (
                    account, original_folder, original_uid, original_uidvalidity, message_id,
                    sha256, from_addr, from_name, subject, date, verdict, category, score,
                    reasons, flags, details, status, quarantine_folder, quarantine_uid,
                    quarantine_uidvalidity, move_method, recorded_at, quarantined_at,
                    digest_status, digest_sent_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    account,
                    original_folder,
                    max(int(original_uid), 1),
                    int(original_uidvalidity),
                    (message_id or "").strip() or None,
                    sha256,
                    (from_addr or "").strip().lower() or None,
                    from_name or None,
                    subject,
                    message_dt_to_db(date),
                    verdict,
                    category,
                    float(score),
                    to_json(reasons_to_dicts(reasons)),
                    to_json(list(flags)),
                    to_json(dict(details)),
                    Status.QUARANTINED,
                    quarantine_folder,
                    quarantine_uid,
                    quarantine_uidvalidity,
                    "recovered",
                    dt_to_db(now),
                    dt_to_db(now),
                    "sent" if digest_sent else "pending",
                    dt_to_db(now) if digest_sent else None,
                ),
            )
            item_id = cur.lastrowid
            assert item_id is not None
            append_audit(
                conn,
                now,
                account,
                "move.recovered",
                item_id,
                {
                    "dest": quarantine_folder,
                    "dest_uid": quarantine_uid,
                    "sha256": sha256,
                    "source": source,
                    "folder": original_folder,
                },
            )
        return item_id

    def restore_released_sender(
        self, account: str, sender_addr: str, released_at: str, reasons: Sequence[Any] = ()
    ) -> bool:
        """Re-remember a sender the user released (``doctor --rebuild``); False if known."""
        addr = sender_addr.strip().lower()
        if not addr:
            return False
        with self._db.transaction() as conn:
            cur = conn.execute(
                """
                INSERT OR IGNORE INTO released_senders (account, sender_addr, released_at, reasons)
                VALUES (?, ?, ?, ?)
                """,
                (account, addr, released_at, to_json(reasons_to_dicts(reasons))),
            )
            return cur.rowcount > 0
