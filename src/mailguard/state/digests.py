"""Which quarantine items have been reported to the user, and in which digest.

Policy (decided here, once):

* The **daily digest** (kind ``"digest"``) is the complete record. Every quarantined or
  suspicious item appears in exactly one daily digest: marking a digest sent
  sets each item's ``digest_id`` only if it was not already in one, in one
  transaction, so two overlapping digest runs cannot both claim an item.
* An **immediate alert** (kind ``"alert"``) is a heads-up and does *not* consume the item: it
  sets ``digest_status = 'alerted'`` (and ``alerted_at``), and the item still
  appears in the next daily digest, because a user who only reads digests
  must see everything. An item is alerted at most once.
* Delivery happens *before* marking, so a crash in between re-sends the item
  next time: a duplicate notice is better than a lost one. A failed delivery
  is recorded and leaves the items pending.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from mailguard.state import audit as actions
from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db
from mailguard.state.db import Repository
from mailguard.state.records import DigestRecord, QuarantineRecord
from mailguard.vocabulary import DigestStatus, Status

KIND_DIGEST: Final = "digest"  # the scheduled (daily) digest: consumes its items
KIND_ALERT: Final = "alert"  # an immediate alert: does not consume its items
DIGEST_KINDS: Final = (KIND_DIGEST, KIND_ALERT)


class DigestOps(Repository):
    def pending_digest_items(self, account: str) -> list[QuarantineRecord]:
        """Quarantined or suspicious items not yet in a daily digest (alerted ones included)."""
        rows = self._db.query(
            """
            SELECT * FROM quarantine
            WHERE account = ? AND status IN (?, ?) AND digest_status IN (?, ?)
            ORDER BY id
            """,
            (
                account,
                Status.QUARANTINED,
                Status.SUSPICIOUS,
                DigestStatus.PENDING,
                DigestStatus.ALERTED,
            ),
        )
        return [QuarantineRecord.from_row(r) for r in rows]

    def pending_alert_items(self, account: str) -> list[QuarantineRecord]:
        """Quarantined items no alert or digest has mentioned yet (suspicious ones wait)."""
        rows = self._db.query(
            "SELECT * FROM quarantine WHERE account = ? AND status = ? AND digest_status = ?"
            " ORDER BY id",
            (account, Status.QUARANTINED, DigestStatus.PENDING),
        )
        return [QuarantineRecord.from_row(r) for r in rows]

    def mark_digest_sent(
        self,
        account: str,
        ids: Iterable[int],
        digest_kind: str = KIND_DIGEST,
        delivery: str | None = None,
    ) -> int:
        """Record a delivered digest (or, with ``digest_kind='alert'``, an alert).

        Returns the new ``digests`` id. For a daily digest each listed item
        that is not yet in a digest gets this digest's id; items some other
        digest already claimed keep theirs. For an alert the items are marked
        alerted (see module docstring). Ids of another account or unknown ids
        are a programming error: ``ValueError``, nothing recorded.
        """
        if digest_kind not in DIGEST_KINDS:
            raise ValueError(f"digest kind must be one of {DIGEST_KINDS}, got {digest_kind!r}")
        item_ids = sorted(set(ids))
        now = self._db.now()
        with self._db.transaction() as conn:
            self._check_ids(conn, account, item_ids)
            cur = conn.execute(
                "INSERT INTO digests (account, kind, sent_at, item_count, delivery, status)"
                " VALUES (?, ?, ?, ?, ?, 'sent')",
                (account, digest_kind, dt_to_db(now), len(item_ids), delivery),
            )
            digest_id = cur.lastrowid
            assert digest_id is not None
            if digest_kind == KIND_ALERT:
                self._mark_alerted(conn, account, item_ids, digest_id, delivery)
                return digest_id
            for item_id in item_ids:
                claimed = conn.execute(
                    "UPDATE quarantine SET digest_status = ?, digest_sent_at = ?, digest_id = ?"
                    " WHERE id = ? AND digest_status IN (?, ?)",
                    (
                        DigestStatus.SENT,
                        dt_to_db(now),
                        digest_id,
                        item_id,
                        DigestStatus.PENDING,
                        DigestStatus.ALERTED,
                    ),
                ).rowcount
                if claimed:
                    append_audit(
                        conn,
                        now,
                        account,
                        actions.DIGEST_SENT,
                        item_id,
                        {"digest_id": digest_id, "kind": digest_kind, "delivery": delivery},
                    )
        return digest_id

    def mark_alerted(self, ids: Iterable[int]) -> int:
        """Mark items as mentioned in an immediate alert; return how many changed.

        ``mark_digest_sent(account, ids, 'alert', delivery)`` does the same and
        also records the alert in ``digests``.
        """
        changed = 0
        with self._db.transaction() as conn:
            for item_id in sorted(set(ids)):
                row = conn.execute(
                    "SELECT account FROM quarantine WHERE id = ?", (item_id,)
                ).fetchone()
                if row is None:
                    raise ValueError(f"no quarantine item with id {item_id}")
                changed += self._mark_alerted(conn, row["account"], [item_id], None, None)
        return changed

    def _mark_alerted(
        self,
        conn: sqlite3.Connection,
        account: str,
        item_ids: list[int],
        digest_id: int | None,
        delivery: str | None,
    ) -> int:
        now = self._db.now()
        changed = 0
        for item_id in item_ids:
            n = conn.execute(
                "UPDATE quarantine SET digest_status = ?, alerted_at = ?"
                " WHERE id = ? AND digest_status = ?",
                (DigestStatus.ALERTED, dt_to_db(now), item_id, DigestStatus.PENDING),
            ).rowcount
            if n:
                changed += 1
                append_audit(
                    conn,
                    now,
                    account,
                    actions.ALERT_SENT,
                    item_id,
                    {"digest_id": digest_id, "delivery": delivery},
                )
        return changed

    @staticmethod
    def _check_ids(conn: sqlite3.Connection, account: str, item_ids: list[int]) -> None:
        if not item_ids:
            return
        marks = ", ".join("?" * len(item_ids))
        rows = conn.execute(f"SELECT id, account FROM quarantine WHERE id IN ({marks})", item_ids)
        found = {r[0]: r[1] for r in rows}
        wrong = [i for i in item_ids if found.get(i) != account]
        if wrong:
            raise ValueError(f"items {wrong} are not quarantine items of account {account!r}")

    def record_digest_failure(
        self,
        account: str,
        error: str,
        *,
        digest_kind: str = KIND_DIGEST,
        delivery: str | None = None,
        item_count: int = 0,
    ) -> int:
        """Record a failed delivery; the items stay pending for the next attempt."""
        if digest_kind not in DIGEST_KINDS:
            raise ValueError(f"digest kind must be one of {DIGEST_KINDS}, got {digest_kind!r}")
        now = self._db.now()
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO digests (account, kind, sent_at, item_count, delivery, status, error)"
                " VALUES (?, ?, ?, ?, ?, 'failed', ?)",
                (account, digest_kind, dt_to_db(now), item_count, delivery, error),
            )
            digest_id = cur.lastrowid
            assert digest_id is not None
            append_audit(
                conn,
                now,
                account,
                actions.DIGEST_FAILED,
                None,
                {"digest_id": digest_id, "kind": digest_kind, "delivery": delivery, "error": error},
            )
        return digest_id

    def list_digests(self, account: str | None = None) -> list[DigestRecord]:
        if account is None:
            rows = self._db.query("SELECT * FROM digests ORDER BY id")
        else:
            rows = self._db.query("SELECT * FROM digests WHERE account = ? ORDER BY id", (account,))
        return [DigestRecord.from_row(r) for r in rows]

    def last_digest(
        self, account: str, digest_kind: str = KIND_DIGEST, *, sent_only: bool = True
    ) -> DigestRecord | None:
        """The latest digest of this kind, e.g. to catch up a digest missed while down."""
        sql = "SELECT * FROM digests WHERE account = ? AND kind = ?"
        if sent_only:
            sql += " AND status = 'sent'"
        row = self._db.query_one(sql + " ORDER BY id DESC LIMIT 1", (account, digest_kind))
        return DigestRecord.from_row(row) if row is not None else None

    def digest_items(self, digest_id: int) -> list[QuarantineRecord]:
        """The items a (daily) digest claimed."""
        rows = self._db.query(
            "SELECT * FROM quarantine WHERE digest_id = ? ORDER BY id", (digest_id,)
        )
        return [QuarantineRecord.from_row(r) for r in rows]
