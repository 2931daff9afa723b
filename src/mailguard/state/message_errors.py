"""Messages that could not be handled, recorded so that one bad message never stops an account.

The scanner skips such a message and moves on (the folder position advances
past it), so without this table it would vanish from view. ``status`` shows
the count and the last error; a digest can list the recent ones, because a
message that was never checked is something the user should know about.
"""

from __future__ import annotations

from datetime import datetime

from mailguard.state.codec import dt_to_db
from mailguard.state.db import Repository
from mailguard.state.quarantine import normalize_message_id
from mailguard.state.records import MessageError

#: Error texts are kept short: they end up in a status line and a digest.
ERROR_MAX = 500


class MessageErrorOps(Repository):
    def record_message_error(
        self,
        account: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        error: str,
    ) -> int:
        """Remember that (folder, uidvalidity, uid) was skipped because of ``error``."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO message_errors"
                " (at, account, folder, uidvalidity, uid, message_id, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    dt_to_db(self._db.now()),
                    account,
                    folder,
                    uidvalidity,
                    uid,
                    normalize_message_id(message_id),
                    # Error texts may quote mail (lone surrogates from 8-bit headers).
                    error.encode("utf-8", "backslashreplace").decode("utf-8")[:ERROR_MAX],
                ),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def message_errors(
        self, account: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[MessageError]:
        """The account's skipped messages, newest first (``since``: only later ones)."""
        sql = "SELECT * FROM message_errors WHERE account = ?"
        params: list[object] = [account]
        if since is not None:
            sql += " AND at > ?"
            params.append(dt_to_db(since))
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [MessageError.from_row(r) for r in self._db.query(sql, params)]

    def message_error_count(self, account: str) -> int:
        row = self._db.query_one(
            "SELECT count(*) FROM message_errors WHERE account = ?", (account,)
        )
        return int(row[0]) if row is not None else 0
