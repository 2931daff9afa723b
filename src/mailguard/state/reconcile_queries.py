"""State queries that crash reconciliation and ``mailguard doctor`` need.

Kept apart from :mod:`mailguard.state.quarantine` (the move life cycle) so the
two can evolve separately. Everything here answers one question reconciliation
must get right: *which* message in the quarantine folder is the copy of *this*
pending row. A Message-ID cannot answer it (it is attacker-controlled, may be
shared by two different scams, missing, or unsearchable), so we keep:

* **move anchors** -- before a pass moves anything, the quarantine folder's
  UIDVALIDITY and UIDNEXT. A copy made by that pass has a UID >= UIDNEXT;
* **claimed UIDs** -- quarantine UIDs other rows already own, which can never be
  the copy of a different row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db, message_dt_to_db, reasons_to_dicts, to_json
from mailguard.state.db import Repository
from mailguard.vocabulary import Status

# Rows whose quarantine UID is theirs for as long as the message stays in quarantine.
_CLAIMING = (Status.QUARANTINED, Status.RELEASING)


@dataclass(frozen=True)
class MoveAnchor:
    """Where the quarantine folder's UIDs stood before a pass recorded items > after_item."""

    id: int
    account: str
    folder: str
    uidvalidity: int | None  # None: the folder did not exist yet
    uidnext: int
    after_item: int


class ReconcileQueryOps(Repository):
    """Move anchors, claimed quarantine UIDs, recovered rows."""

    def record_move_anchor(
        self, account: str, folder: str, uidvalidity: int | None, uidnext: int
    ) -> MoveAnchor:
        """Remember the quarantine folder's position before this pass moves anything.

        Call after reconciliation settled what it could: anchors older than the
        oldest still-pending row of ``account`` are no longer needed and are
        dropped in the same transaction, so the table stays one row per account
        in the normal case.
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM quarantine").fetchone()[0]
            oldest_pending = conn.execute(
                "SELECT min(id) FROM quarantine WHERE account = ? AND status = ?",
                (account, Status.PENDING_MOVE),
            ).fetchone()[0]
            if oldest_pending is None:
                conn.execute("DELETE FROM move_anchor WHERE account = ?", (account,))
            else:
                # Keep the newest anchor that still covers the oldest pending row.
                conn.execute(
                    """
                    DELETE FROM move_anchor WHERE account = ? AND id < coalesce((
                        SELECT max(id) FROM move_anchor
                        WHERE account = ? AND after_item < ?), 0)
                    """,
                    (account, account, oldest_pending),
                )
            cur = conn.execute(
                """
                INSERT INTO move_anchor (account, folder, uidvalidity, uidnext, after_item, at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                (account, folder, uidvalidity, max(int(uidnext), 0), top, dt_to_db(now)),
            )
            anchor_id = cur.lastrowid
            assert anchor_id is not None
        return MoveAnchor(anchor_id, account, folder, uidvalidity, max(int(uidnext), 0), top)

    def move_anchor_for(self, item_id: int, account: str, folder: str) -> MoveAnchor | None:
        """The latest anchor taken before item ``item_id`` was recorded, if any."""
        row = self._db.query_one(
            """
            SELECT * FROM move_anchor
            WHERE account = ? AND folder = ? AND after_item < ?
            ORDER BY id DESC LIMIT 1
            """,
            (account, folder, item_id),
        )
        if row is None:
            return None
        return MoveAnchor(
            row["id"],
            row["account"],
            row["folder"],
            row["uidvalidity"],
            row["uidnext"],
            row["after_item"],
        )

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
                    quarantine_uidvalidity, move_method, recorded_at, quarantined_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
