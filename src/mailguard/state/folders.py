"""Per-folder sync state: the highest UID handled, keyed on UIDVALIDITY.

The scanner commits this after every batch, so an interrupted scan resumes
where it stopped instead of starting over (isbg #29). A UID is only
meaningful together with the folder's UIDVALIDITY: when the server reports a
different UIDVALIDITY the stored ``last_uid`` is void and the caller rescans.
"""

from __future__ import annotations

from mailguard.state.codec import dt_to_db
from mailguard.state.db import Repository
from mailguard.state.records import FolderState


class FolderStateOps(Repository):
    def get_folder_state(self, account: str, folder: str) -> FolderState | None:
        row = self._db.query_one(
            "SELECT * FROM folder_state WHERE account = ? AND folder = ?", (account, folder)
        )
        return FolderState.from_row(row) if row is not None else None

    def set_folder_state(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Record progress. Never moves ``last_uid`` backwards within one UIDVALIDITY.

        A smaller value for the same UIDVALIDITY would make the next poll
        re-fetch and re-classify mail already handled; it can only come from a
        bug or a late, overlapping writer, so it is ignored. A new UIDVALIDITY
        replaces the row outright. To force a rescan use :meth:`reset_folder_state`.
        """
        if last_uid < 0:
            raise ValueError(f"last_uid must be >= 0, got {last_uid}")
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO folder_state (account, folder, uidvalidity, last_uid, last_poll_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (account, folder) DO UPDATE SET
                    last_uid = CASE WHEN folder_state.uidvalidity = excluded.uidvalidity
                                    THEN max(folder_state.last_uid, excluded.last_uid)
                                    ELSE excluded.last_uid END,
                    uidvalidity = excluded.uidvalidity,
                    last_poll_at = excluded.last_poll_at
                """,
                (account, folder, uidvalidity, last_uid, dt_to_db(self._db.now())),
            )

    def reset_folder_state(self, account: str, folder: str | None = None) -> int:
        """Forget progress for one folder (or all of an account's); return rows removed."""
        with self._db.transaction() as conn:
            if folder is None:
                cur = conn.execute("DELETE FROM folder_state WHERE account = ?", (account,))
            else:
                cur = conn.execute(
                    "DELETE FROM folder_state WHERE account = ? AND folder = ?", (account, folder)
                )
            return cur.rowcount

    def folder_states(self, account: str | None = None) -> list[FolderState]:
        if account is None:
            rows = self._db.query("SELECT * FROM folder_state ORDER BY account, folder")
        else:
            rows = self._db.query(
                "SELECT * FROM folder_state WHERE account = ? ORDER BY folder", (account,)
            )
        return [FolderState.from_row(r) for r in rows]
