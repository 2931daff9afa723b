"""Per-account health and running totals, for ``mailguard status`` and metrics.

Totals are incremented in SQL (``x = x + ?``) inside a write transaction, so
concurrent polls of different accounts, or the CLI releasing while the daemon
polls, never lose an update.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from mailguard.state.codec import dt_to_db
from mailguard.state.db import Repository
from mailguard.state.records import AccountStatus


def bump_released(conn: sqlite3.Connection, account: str) -> None:
    """+1 ``released_total`` inside the caller's transaction (creates the row if needed)."""
    conn.execute(
        """
        INSERT INTO account_status (account, released_total) VALUES (?, 1)
        ON CONFLICT (account) DO UPDATE SET released_total = released_total + 1
        """,
        (account,),
    )


class StatusOps(Repository):
    def record_poll(
        self,
        account: str,
        ok: bool,
        error: str | None = None,
        *,
        scanned: int = 0,
        quarantined: int = 0,
        next_poll_at: datetime | None = None,
    ) -> None:
        """Record the outcome of one poll and add its numbers to the totals.

        A success resets ``consecutive_failures`` (used for back-off and
        alerting) but keeps ``last_error``/``last_error_at``, so ``status``
        can still say what went wrong most recently.
        """
        now = dt_to_db(self._db.now())
        failed = 0 if ok else 1
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO account_status (
                    account, last_poll_at, last_result, last_error, last_error_at, next_poll_at,
                    consecutive_failures, scanned_total, quarantined_total, errors_total
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (account) DO UPDATE SET
                    last_poll_at = excluded.last_poll_at,
                    last_result = excluded.last_result,
                    last_error = coalesce(excluded.last_error, last_error),
                    last_error_at = coalesce(excluded.last_error_at, last_error_at),
                    next_poll_at = excluded.next_poll_at,
                    consecutive_failures =
                        CASE WHEN excluded.last_result = 'ok' THEN 0
                             ELSE consecutive_failures + 1 END,
                    scanned_total = scanned_total + excluded.scanned_total,
                    quarantined_total = quarantined_total + excluded.quarantined_total,
                    errors_total = errors_total + excluded.errors_total
                """,
                (
                    account,
                    now,
                    "ok" if ok else "error",
                    None if ok else (error or "unknown error"),
                    None if ok else now,
                    dt_to_db(next_poll_at),
                    failed,
                    scanned,
                    quarantined,
                    failed,
                ),
            )

    def set_next_poll(self, account: str, next_poll_at: datetime | None) -> None:
        """When the scheduler will poll this account next (shown by ``status``)."""
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO account_status (account, next_poll_at) VALUES (?, ?)
                ON CONFLICT (account) DO UPDATE SET next_poll_at = excluded.next_poll_at
                """,
                (account, dt_to_db(next_poll_at)),
            )

    def account_status(self, account: str) -> AccountStatus | None:
        row = self._db.query_one("SELECT * FROM account_status WHERE account = ?", (account,))
        return AccountStatus.from_row(row) if row is not None else None

    def account_statuses(self) -> list[AccountStatus]:
        rows = self._db.query("SELECT * FROM account_status ORDER BY account")
        return [AccountStatus.from_row(r) for r in rows]
