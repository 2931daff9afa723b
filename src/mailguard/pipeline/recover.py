"""Check the state database, and rebuild it from the mailbox when it is damaged.

The state file is the only list of what mailguard quarantined. When it is
damaged (or emptied, or deleted) the mail itself is safe -- it sits in the
Quarantine folder -- but nothing lists it or can release it. ``mailguard
doctor --rebuild`` therefore:

1. salvages what it can still read from the damaged file (old quarantine rows,
   ``move.intent`` audit entries, released senders), read-only and row by row;
2. moves the damaged file (and its ``-wal``/``-shm``) aside -- never deletes it;
3. creates a fresh database and, for every message in each account's
   Quarantine folder, parses and classifies it and records it as quarantined,
   taking its original folder from the salvaged records when its sha256 matches.

Folder positions are not restored on purpose: the next scan looks again at the
look-back window, and messages already in quarantine are recognised by hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailguard.config import AccountConfig
from mailguard.detect import Classifier, ClassifyContext
from mailguard.imap.base import FolderNotFound, MailClient
from mailguard.logs import log_event
from mailguard.parse import parse_message
from mailguard.state import StateStore
from mailguard.state.codec import from_json
from mailguard.state.db import SQLITE_HEADER, sidecars

log = logging.getLogger("mailguard.doctor")

_FETCH_BATCH = 25


@dataclass
class Health:
    """What ``doctor`` found; ``problems`` empty means healthy."""

    path: Path
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(path: Path) -> Health:
    """Integrity of the state file, without changing it (read-only, full integrity_check)."""
    health = Health(path)
    wal = path.with_name(path.name + "-wal")
    if not path.exists():
        if wal.exists():
            health.problems.append(
                f"{path} is missing but its write-ahead log {wal.name} is still there"
            )
        else:
            health.facts.append(f"{path} does not exist yet (a new install; it is created on use)")
        return health
    size = path.stat().st_size
    health.facts.append(f"{path}: {size} bytes")
    if size == 0:
        health.problems.append(f"{path} is empty (0 bytes)")
        return health
    with open(path, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            health.problems.append(f"{path} is not a SQLite database (wrong header)")
            return health
    try:
        with _read_only(path) as conn:
            rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
            bad = [str(r[0]) for r in rows if str(r[0]) != "ok"]
            if bad:
                health.problems.append("integrity check failed: " + "; ".join(bad[:5]))
                return health
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            health.facts.append(f"schema version {version}")
            for status, n in conn.execute(
                "SELECT status, count(*) FROM quarantine GROUP BY status ORDER BY status"
            ):
                health.facts.append(f"{n} item(s) {status}")
    except (sqlite3.Error, UnicodeDecodeError) as e:
        health.problems.append(f"cannot read it: {e}")
    return health


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        yield conn
    finally:
        conn.close()


# -- salvage -------------------------------------------------------------------------------
@dataclass
class Salvage:
    """What could still be read from the damaged file, keyed by content hash."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 -> row/intent facts
    released: list[tuple[str, str, str]] = field(default_factory=list)  # account, addr, at
    readable: bool = False


def salvage(path: Path) -> Salvage:
    """Read quarantine rows, move intents and released senders, as far as they read."""
    found = Salvage()
    if not path.exists() or path.stat().st_size == 0:
        return found
    try:
        with _read_only(path) as conn:
            conn.row_factory = sqlite3.Row
            found.readable = True
            for row in _rows(conn, "SELECT * FROM audit_log WHERE action = 'move.intent'"):
                detail = from_json(row["detail"], {})
                if isinstance(detail, dict) and isinstance(detail.get("sha256"), str):
                    found.rows.setdefault(detail["sha256"], {"account": row["account"], **detail})
            for row in _rows(conn, "SELECT * FROM quarantine"):
                columns = set(row.keys())  # sqlite3.Row: `in` looks at values, not names
                found.rows[row["sha256"]] = {  # rows are richer than intents: they win
                    "account": row["account"],
                    "folder": row["original_folder"],
                    "uid": row["original_uid"],
                    "uidvalidity": row["original_uidvalidity"],
                    "subject": row["subject"],
                    "flags": from_json(row["flags"], []),
                    "digest_status": row["digest_status"] if "digest_status" in columns else None,
                }
            for row in _rows(conn, "SELECT * FROM released_senders"):
                found.released.append((row["account"], row["sender_addr"], row["released_at"]))
    except (sqlite3.Error, UnicodeDecodeError):
        pass  # unreadable as a whole: rebuild from the mailbox alone
    return found


def _rows(conn: sqlite3.Connection, sql: str) -> Iterator[sqlite3.Row]:
    """Rows until the first unreadable page (a damaged table yields what precedes it)."""
    try:
        cur = conn.execute(sql)
        while True:
            row = cur.fetchone()
            if row is None:
                return
            yield row
    except (sqlite3.Error, UnicodeDecodeError):
        return


# -- rebuild -------------------------------------------------------------------------------
def move_aside(path: Path, now: datetime | None = None) -> list[Path]:
    """Rename the damaged file and its sidecars to ``<name>.damaged-<UTC time>``; return them."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for p in [path, *sidecars(path)]:
        if p.exists():
            target = p.with_name(f"{path.name}.damaged-{stamp}{p.name[len(path.name) :]}")
            os.rename(p, target)
            moved.append(target)
    return moved


@dataclass
class Recovered:
    account: str
    recorded: int = 0
    from_old_records: int = 0
    skipped: int = 0


def rebuild_account(
    client: MailClient,
    store: StateStore,
    account: AccountConfig,
    classifier: Classifier,
    found: Salvage,
    *,
    max_bytes: int,
    max_part_size: int,
) -> Recovered:
    """Record every message of ``account``'s Quarantine folder as quarantined."""
    result = Recovered(account.name)
    folder = account.quarantine_folder
    try:
        status = client.folder_status(folder)
    except FolderNotFound:
        return result
    claimed = store.claimed_quarantine_uids(account.name, folder, status.uidvalidity)
    uids = [u for u in client.search_uids(folder, min_uid=1) if u not in claimed]
    for start in range(0, len(uids), _FETCH_BATCH):
        for fetched in client.fetch(folder, uids[start : start + _FETCH_BATCH], max_bytes):
            digest = hashlib.sha256(fetched.raw).hexdigest()
            msg = parse_message(
                fetched.raw, max_message_size=max_bytes, max_part_size=max_part_size
            )
            verdict = classifier.classify(msg, context=ClassifyContext())
            old = found.rows.get(digest, {})
            if old.get("account") not in (None, account.name):
                old = {}
            sender = msg.from_
            try:
                store.record_recovered(
                    account=account.name,
                    original_folder=str(old.get("folder") or "INBOX"),
                    original_uid=int(old.get("uid") or fetched.uid),
                    original_uidvalidity=int(old.get("uidvalidity") or 0),
                    message_id=msg.message_id,
                    sha256=digest,
                    quarantine_folder=folder,
                    quarantine_uid=fetched.uid,
                    quarantine_uidvalidity=status.uidvalidity,
                    verdict=str(verdict.verdict),
                    score=verdict.score,
                    category=verdict.category,
                    from_addr=sender.addr if sender else None,
                    from_name=sender.name if sender else None,
                    subject=msg.subject,
                    date=msg.date or fetched.internaldate,
                    reasons=verdict.reasons,
                    flags=list(old.get("flags") or fetched.flags),
                    details={"recovered": True, "original_known": bool(old)},
                    source="old records" if old else "the message",
                    # Told before the damage: do not announce it again as new mail.
                    digest_sent=old.get("digest_status") in ("sent", "alerted"),
                )
            except sqlite3.IntegrityError:
                result.skipped += 1  # an identical second copy: one row lists it already
                continue
            result.recorded += 1
            result.from_old_records += bool(old)
    log_event(
        log,
        "doctor.rebuilt",
        account=account.name,
        recorded=result.recorded,
        from_old_records=result.from_old_records,
    )
    return result
