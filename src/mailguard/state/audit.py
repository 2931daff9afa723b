"""The append-only audit log.

Every state change of a quarantine row writes its audit entry *in the same
transaction* (through :func:`append_audit`), so the log can never disagree
with the rows it explains. SQLite triggers make UPDATE and DELETE on
``audit_log`` fail, which keeps the history honest even against our own bugs.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from typing import Any, Final

from mailguard.state.codec import dt_to_db, to_json
from mailguard.state.db import Repository
from mailguard.state.records import AuditEntry

# The actions this package writes itself; callers may add their own dotted names.
MOVE_INTENT: Final = "move.intent"
MOVE_CONFIRMED: Final = "move.confirmed"
MOVE_FAILED: Final = "move.failed"
MOVE_RECONCILED: Final = "move.reconciled"
SUSPICIOUS_RECORDED: Final = "suspicious.recorded"
RELEASE_INTENT: Final = "release.intent"
RELEASE_CONFIRMED: Final = "release.confirmed"
RELEASE_FAILED: Final = "release.failed"
DIGEST_SENT: Final = "digest.sent"
DIGEST_FAILED: Final = "digest.failed"
ALERT_SENT: Final = "alert.sent"

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def append_audit(
    conn: sqlite3.Connection,
    at: datetime,
    account: str | None,
    action: str,
    quarantine_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Insert one entry on ``conn`` (inside the caller's transaction); return its id."""
    if not _ACTION_RE.match(action):
        raise ValueError(f"audit action must be a dotted lower-case name, got {action!r}")
    cur = conn.execute(
        "INSERT INTO audit_log (at, account, action, quarantine_id, detail) VALUES (?, ?, ?, ?, ?)",
        (dt_to_db(at), account, action, quarantine_id, to_json(detail or {})),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


class AuditOps(Repository):
    """Free-form audit entries and reading the log back."""

    def audit(
        self, account: str | None, action: str, quarantine_id: int | None = None, **detail: Any
    ) -> int:
        """Append one entry (e.g. ``daemon.start``) in its own transaction; return its id."""
        with self._db.transaction() as conn:
            return append_audit(conn, self._db.now(), account, action, quarantine_id, detail)

    def audit_entries(
        self,
        account: str | None = None,
        quarantine_id: int | None = None,
        *,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in the order they were written, optionally filtered.

        With ``limit`` the *latest* ``limit`` entries are returned, still oldest first.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("account", account),
            ("quarantine_id", quarantine_id),
            ("action", action),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
            params.append(limit)
        else:
            sql += " ORDER BY id"
        return [AuditEntry.from_row(r) for r in self._db.query(sql, params)]
