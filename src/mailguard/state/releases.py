"""Releasing quarantined mail, and the senders the user vouched for.

Release mirrors the move: :meth:`begin_release` commits ``releasing`` and a
``release.intent`` entry before the message is moved back, and
:meth:`confirm_release` commits ``released`` afterwards. A row stuck in
``releasing`` after a crash shows up in :meth:`pending_releases`.

Releasing a message is the user saying "this sender is fine", so
confirmation also records the sender in ``released_senders``; the classifier
reads that set to stop flagging them. A ``suspicious`` row (left in place)
can be released too: there is nothing to move, only the sender to remember.
"""

from __future__ import annotations

from mailguard.state import audit as actions
from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_to_db
from mailguard.state.db import Repository
from mailguard.state.errors import InvalidTransition
from mailguard.state.quarantine import get_row, require_transition
from mailguard.state.records import QuarantineRecord, ReleasedSender
from mailguard.state.status import bump_released
from mailguard.vocabulary import Status


class ReleaseOps(Repository):
    def begin_release(self, item_id: int) -> QuarantineRecord:
        """Commit the intent to release; return the row (where it is, flags to restore).

        Allowed from ``quarantined`` and ``suspicious``, and again from
        ``releasing`` so an interrupted release can simply be retried.
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_transition(conn, item_id, "release", Status.RELEASING)
            conn.execute(
                "UPDATE quarantine SET status = ? WHERE id = ?", (Status.RELEASING, item_id)
            )
            append_audit(
                conn,
                now,
                row["account"],
                actions.RELEASE_INTENT,
                item_id,
                {
                    "from_status": row["status"],
                    "folder": row["quarantine_folder"],
                    "uid": row["quarantine_uid"],
                    "to": row["original_folder"],
                },
            )
            updated = conn.execute("SELECT * FROM quarantine WHERE id = ?", (item_id,)).fetchone()
        return QuarantineRecord.from_row(updated)

    def confirm_release(self, item_id: int, restored_uid: int | None = None) -> None:
        """The message is back where it came from: ``releasing`` -> ``released``.

        In the same transaction: the ``release.confirmed`` entry, the sender
        added to (or refreshed in) ``released_senders``, and the account's
        ``released_total`` counter.
        """
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_transition(conn, item_id, "confirm the release of", Status.RELEASED)
            conn.execute(
                "UPDATE quarantine SET status = ?, released_at = ?, restored_uid = ?, error = NULL"
                " WHERE id = ?",
                (Status.RELEASED, dt_to_db(now), restored_uid, item_id),
            )
            sender = row["from_addr"]
            if sender:
                conn.execute(
                    """
                    INSERT INTO released_senders
                        (account, sender_addr, released_at, quarantine_id, reasons)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (account, sender_addr) DO UPDATE SET
                        released_at = excluded.released_at,
                        quarantine_id = excluded.quarantine_id,
                        reasons = excluded.reasons
                    """,
                    (row["account"], sender.lower(), dt_to_db(now), item_id, row["reasons"]),
                )
            bump_released(conn, row["account"])
            append_audit(
                conn,
                now,
                row["account"],
                actions.RELEASE_CONFIRMED,
                item_id,
                {"restored_uid": restored_uid, "to": row["original_folder"], "sender": sender},
            )

    def abort_release(self, item_id: int, error: str) -> None:
        """Moving back failed and the message is still in quarantine: undo the intent."""
        now = self._db.now()
        with self._db.transaction() as conn:
            row = get_row(conn, item_id)
            if row["status"] != Status.RELEASING:  # only a release in progress can be aborted
                raise InvalidTransition(
                    item_id, row["status"], "abort the release of", (Status.RELEASING,)
                )
            # Only moved rows have quarantined_at; a suspicious row goes back to suspicious.
            moved = row["quarantined_at"] is not None
            previous = Status.QUARANTINED if moved else Status.SUSPICIOUS
            require_transition(conn, item_id, "abort the release of", previous)
            conn.execute(
                "UPDATE quarantine SET status = ?, error = ? WHERE id = ?",
                (previous, error, item_id),
            )
            append_audit(
                conn,
                now,
                row["account"],
                actions.RELEASE_FAILED,
                item_id,
                {"error": error, "status": previous},
            )

    def pending_releases(self, account: str | None = None) -> list[QuarantineRecord]:
        """Releases begun but not settled (a crash in between): reconcile at start."""
        if account is None:
            rows = self._db.query(
                "SELECT * FROM quarantine WHERE status = ? ORDER BY id", (Status.RELEASING,)
            )
        else:
            rows = self._db.query(
                "SELECT * FROM quarantine WHERE status = ? AND account = ? ORDER BY id",
                (Status.RELEASING, account),
            )
        return [QuarantineRecord.from_row(r) for r in rows]

    # -- released senders ----------------------------------------------------------------
    def is_released_sender(self, account: str, addr: str) -> bool:
        row = self._db.query_one(
            "SELECT 1 FROM released_senders WHERE account = ? AND sender_addr = ?",
            (account, addr.strip().lower()),
        )
        return row is not None

    def released_senders(self, account: str) -> set[str]:
        """Lower-cased addresses the user released mail from, for the classifier context."""
        rows = self._db.query(
            "SELECT sender_addr FROM released_senders WHERE account = ?", (account,)
        )
        return {r[0] for r in rows}

    def released_sender_records(self, account: str | None = None) -> list[ReleasedSender]:
        if account is None:
            rows = self._db.query("SELECT * FROM released_senders ORDER BY account, sender_addr")
        else:
            rows = self._db.query(
                "SELECT * FROM released_senders WHERE account = ? ORDER BY sender_addr",
                (account,),
            )
        return [ReleasedSender.from_row(r) for r in rows]
