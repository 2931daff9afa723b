"""What the user does in the mail app, and how each folder is watched.

The mail app is mailguard's user interface: moving a message out of
Quarantine releases it, dragging one into the report folder reports it,
deleting one from Quarantine is neither (:meth:`record_user_deletion`:
``quarantined -> deleted``, nothing learned, nobody trusted). Reported
senders, domains and phone numbers are kept per account
(``reported_features``); admins vouch for or withdraw trust in a sender with
:meth:`trust_sender` / :meth:`untrust_sender` (the same ``released_senders``
set a release fills, so the classifier needs no new input).

``watch_state`` is the daemon's per-folder IDLE/polling state, persisted so
that ``mailguard status`` -- a separate process -- can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from mailguard.state.audit import append_audit
from mailguard.state.codec import dt_from_db, dt_to_db
from mailguard.state.db import Repository
from mailguard.state.quarantine import require_transition
from mailguard.vocabulary import Status, UserAction, WatchMode

DELETED_BY_USER: Final = "quarantine.deleted_by_user"
RELEASED_BY_MOVE: Final = "release.by_move"
REPORTED_BY_MOVE: Final = "report.by_move"
TRUSTED: Final = "sender.trusted"
UNTRUSTED: Final = "sender.untrusted"
#: audit action -> what the user did (for ``quarantine list``).
USER_ACTIONS: Final[dict[str, UserAction]] = {
    DELETED_BY_USER: UserAction.DELETED_BY_USER,
    RELEASED_BY_MOVE: UserAction.RELEASED_BY_MOVE,
    REPORTED_BY_MOVE: UserAction.REPORTED_BY_MOVE,
}
FEATURE_KINDS: Final = ("sender", "domain", "phone")


@dataclass(frozen=True)
class WatchRow:
    """One folder's watch state as last written by the daemon."""

    account: str
    folder: str
    mode: WatchMode
    connected: bool
    last_event: datetime | None
    reconnects: int
    error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class UserActionEntry:
    """One thing the user did in the mail app, with when (from the audit log)."""

    quarantine_id: int
    action: UserAction
    at: datetime
    detail: dict[str, Any]


def _norm_sender(value: str) -> str:
    value = value.strip().lower()
    return value[1:] if value.startswith("@") else value


class MailAppOps(Repository):
    # -- the user's moves -----------------------------------------------------------------
    def record_user_deletion(self, item_id: int, **detail: Any) -> None:
        """The user deleted a quarantined message: ``quarantined -> deleted``; nothing learned."""
        now = self._db.now()
        with self._db.transaction() as conn:
            row = require_transition(conn, item_id, "record the deletion of", Status.DELETED)
            conn.execute(
                "UPDATE quarantine SET status = ?, error = NULL WHERE id = ?",
                (Status.DELETED, item_id),
            )
            append_audit(conn, now, row["account"], DELETED_BY_USER, item_id, detail)

    def user_actions(self, account: str | None = None) -> dict[int, UserActionEntry]:
        """The latest mail-app action per quarantine id (released/reported/deleted by moving)."""
        names = tuple(USER_ACTIONS)
        sql = (
            "SELECT quarantine_id, action, at, detail FROM audit_log WHERE action IN"
            f" ({', '.join('?' * len(names))}) AND quarantine_id IS NOT NULL"
        )
        params: list[Any] = list(names)
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        out: dict[int, UserActionEntry] = {}
        from mailguard.state.codec import from_json

        for qid, action, at, detail in self._db.query(sql + " ORDER BY id", params):
            when = dt_from_db(at)
            assert when is not None
            out[qid] = UserActionEntry(qid, USER_ACTIONS[action], when, from_json(detail, {}))
        return out

    # -- what reports taught ----------------------------------------------------------------
    def add_reported(
        self, account: str, features: dict[str, set[str]], quarantine_id: int | None
    ) -> int:
        """Remember a reported message's sender, domain and phone numbers; returns how many new."""
        now = dt_to_db(self._db.now())
        added = 0
        with self._db.transaction() as conn:
            for kind, values in features.items():
                if kind not in FEATURE_KINDS:
                    raise ValueError(f"unknown feature kind {kind!r}")
                for value in sorted(v for v in values if v):
                    cur = conn.execute(
                        "INSERT INTO reported_features (account, kind, value, reported_at,"
                        " quarantine_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                        " reported_at = excluded.reported_at,"
                        " quarantine_id = excluded.quarantine_id",
                        (account, kind, value, now, quarantine_id),
                    )
                    added += cur.rowcount
        return added

    def reported_features(self, account: str) -> dict[str, frozenset[str]]:
        """``{"sender": {...}, "domain": {...}, "phone": {...}}`` for one account."""
        found: dict[str, set[str]] = {k: set() for k in FEATURE_KINDS}
        for kind, value in self._db.query(
            "SELECT kind, value FROM reported_features WHERE account = ?", (account,)
        ):
            found[kind].add(value)
        return {k: frozenset(v) for k, v in found.items()}

    # -- admin trust ------------------------------------------------------------------------
    def trust_sender(self, account: str, sender: str) -> None:
        """Vouch for an address or a whole domain, as a release does; forget reports of it."""
        value = _norm_sender(sender)
        if not value:
            raise ValueError("an address or a domain is required")
        now = self._db.now()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO released_senders (account, sender_addr, released_at, quarantine_id,"
                " reasons) VALUES (?, ?, ?, NULL, '[]') ON CONFLICT (account, sender_addr)"
                " DO UPDATE SET released_at = excluded.released_at",
                (account, value, dt_to_db(now)),
            )
            conn.execute(
                "DELETE FROM reported_features WHERE account = ? AND kind IN ('sender', 'domain')"
                " AND value = ?",
                (account, value),
            )
            append_audit(conn, now, account, TRUSTED, None, {"sender": value})

    def untrust_sender(self, account: str, sender: str) -> bool:
        """Withdraw trust in an address or domain; False when it was not trusted."""
        value = _norm_sender(sender)
        now = self._db.now()
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM released_senders WHERE account = ? AND sender_addr = ?",
                (account, value),
            )
            if cur.rowcount:
                append_audit(conn, now, account, UNTRUSTED, None, {"sender": value})
            return bool(cur.rowcount)

    # -- watch state --------------------------------------------------------------------------
    def set_watch_state(
        self,
        account: str,
        folder: str,
        *,
        mode: WatchMode | str,
        connected: bool,
        last_event: datetime | None,
        reconnects: int,
        error: str | None,
    ) -> None:
        now = self._db.now()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO watch_state (account, folder, mode, connected, last_event,"
                " reconnects, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (account, folder) DO UPDATE SET mode = excluded.mode,"
                " connected = excluded.connected, last_event = excluded.last_event,"
                " reconnects = excluded.reconnects, error = excluded.error,"
                " updated_at = excluded.updated_at",
                (
                    account,
                    folder,
                    WatchMode(mode),
                    int(connected),
                    dt_to_db(last_event) if last_event else None,
                    reconnects,
                    error,
                    dt_to_db(now),
                ),
            )

    def clear_watch_states(self) -> None:
        """Forget the previous daemon's watch state (it starts afresh)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM watch_state")

    def watch_states(self, account: str | None = None) -> list[WatchRow]:
        sql, params = "SELECT * FROM watch_state", []
        if account is not None:
            sql, params = sql + " WHERE account = ?", [account]
        out = []
        for r in self._db.query(sql + " ORDER BY account, folder", params):
            updated = dt_from_db(r["updated_at"])
            assert updated is not None
            out.append(
                WatchRow(
                    account=r["account"],
                    folder=r["folder"],
                    mode=WatchMode(r["mode"]),
                    connected=bool(r["connected"]),
                    last_event=dt_from_db(r["last_event"]),
                    reconnects=r["reconnects"],
                    error=r["error"],
                    updated_at=updated,
                )
            )
        return out
