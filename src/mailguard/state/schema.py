"""Schema and migrations.

The schema version is SQLite's ``PRAGMA user_version``. :data:`MIGRATIONS` is
an ordered list; each migration runs in its own ``BEGIN IMMEDIATE``
transaction together with the ``user_version`` bump, so a crash mid-upgrade
leaves the file at the previous version, never half-migrated, and two
processes starting at once cannot both apply the same step.

Rules for whoever adds a migration:

* never edit a released migration; append a new one with the next version;
* DDL only through :class:`Migration` steps (SQL strings or functions);
  ``executescript`` is not used because it silently COMMITs first;
* foreign keys are switched off while migrating (SQLite's documented way to
  rebuild a table) and ``PRAGMA foreign_key_check`` must come back empty
  before each migration commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailguard.state.errors import SchemaTooNew, StateError

Step = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: tuple[Step, ...]


_V1_MAIL_STATE = Migration(
    1,
    "mail state: folder sync, quarantine records, released senders, append-only audit log",
    (
        """
        CREATE TABLE folder_state (
            account      TEXT    NOT NULL,
            folder       TEXT    NOT NULL,
            uidvalidity  INTEGER NOT NULL,
            last_uid     INTEGER NOT NULL CHECK (last_uid >= 0),
            last_poll_at TEXT,
            PRIMARY KEY (account, folder)
        ) WITHOUT ROWID
        """,
        # AUTOINCREMENT: ids are what users type in `mailguard release ID`; never reuse one.
        """
        CREATE TABLE quarantine (
            id                     INTEGER PRIMARY KEY AUTOINCREMENT,
            account                TEXT    NOT NULL,
            original_folder        TEXT    NOT NULL,
            original_uid           INTEGER NOT NULL CHECK (original_uid > 0),
            original_uidvalidity   INTEGER NOT NULL,
            message_id             TEXT CHECK (message_id IS NULL OR message_id <> ''),
            sha256                 TEXT    NOT NULL
                CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
            from_addr              TEXT,
            from_name              TEXT,
            subject                TEXT,
            date                   TEXT,
            verdict                TEXT    NOT NULL
                CHECK (verdict IN ('scam', 'suspicious', 'clean')),
            category               TEXT,
            score                  REAL    NOT NULL,
            reasons                TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
            flags                  TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(flags)),
            details                TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
            status                 TEXT    NOT NULL CHECK (status IN (
                'pending_move', 'quarantined', 'releasing', 'released', 'failed', 'suspicious')),
            quarantine_folder      TEXT,
            quarantine_uid         INTEGER,
            quarantine_uidvalidity INTEGER,
            move_method            TEXT,
            contacted_on           TEXT,
            recorded_at            TEXT    NOT NULL,
            quarantined_at         TEXT,
            released_at            TEXT,
            restored_uid           INTEGER,
            error                  TEXT
        )
        """,
        # A message may be live in at most one row. Released rows leave the index (the
        # same mail may legitimately come back later) and so do failed ones (a failed
        # move is retried by recording a fresh intent).
        """
        CREATE UNIQUE INDEX quarantine_live_message
            ON quarantine (account, coalesce(message_id, ''), sha256)
            WHERE status NOT IN ('released', 'failed')
        """,
        "CREATE INDEX quarantine_account_status ON quarantine (account, status)",
        "CREATE INDEX quarantine_account_sha256 ON quarantine (account, sha256)",
        # The record of where a message went must outlive everything else.
        """
        CREATE TRIGGER quarantine_no_delete BEFORE DELETE ON quarantine
        BEGIN SELECT RAISE(ABORT, 'quarantine rows are never deleted'); END
        """,
        """
        CREATE TABLE released_senders (
            account       TEXT NOT NULL,
            sender_addr   TEXT NOT NULL
                CHECK (sender_addr <> '' AND sender_addr = lower(sender_addr)),
            released_at   TEXT NOT NULL,
            quarantine_id INTEGER REFERENCES quarantine (id),
            reasons       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
            PRIMARY KEY (account, sender_addr)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE audit_log (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            at            TEXT    NOT NULL,
            account       TEXT,
            action        TEXT    NOT NULL CHECK (action <> ''),
            quarantine_id INTEGER REFERENCES quarantine (id),
            detail        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
        )
        """,
        "CREATE INDEX audit_log_quarantine ON audit_log (quarantine_id)",
        "CREATE INDEX audit_log_account ON audit_log (account, id)",
        """
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
        """,
    ),
)

_V2_REPORTING = Migration(
    2,
    "reporting: digests, per-item digest bookkeeping, account status and counters",
    (
        """
        CREATE TABLE digests (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            account    TEXT    NOT NULL,
            kind       TEXT    NOT NULL CHECK (kind <> ''),
            sent_at    TEXT    NOT NULL,
            item_count INTEGER NOT NULL DEFAULT 0 CHECK (item_count >= 0),
            delivery   TEXT,
            status     TEXT    NOT NULL CHECK (status IN ('sent', 'failed')),
            error      TEXT
        )
        """,
        "CREATE INDEX digests_account ON digests (account, id)",
        """
        ALTER TABLE quarantine ADD COLUMN digest_status TEXT NOT NULL DEFAULT 'pending'
            CHECK (digest_status IN ('pending', 'alerted', 'sent'))
        """,
        "ALTER TABLE quarantine ADD COLUMN digest_sent_at TEXT",
        "ALTER TABLE quarantine ADD COLUMN digest_id INTEGER REFERENCES digests (id)",
        "ALTER TABLE quarantine ADD COLUMN alerted_at TEXT",
        "CREATE INDEX quarantine_account_digest ON quarantine (account, digest_status)",
        """
        CREATE TABLE account_status (
            account              TEXT    NOT NULL PRIMARY KEY,
            last_poll_at         TEXT,
            last_result          TEXT CHECK (last_result IN ('ok', 'error')),
            last_error           TEXT,
            last_error_at        TEXT,
            next_poll_at         TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            scanned_total        INTEGER NOT NULL DEFAULT 0,
            quarantined_total    INTEGER NOT NULL DEFAULT 0,
            released_total       INTEGER NOT NULL DEFAULT 0,
            errors_total         INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID
        """,
    ),
)

_V3_PER_MESSAGE = Migration(
    3,
    "one live record per mailbox message (folder, UIDVALIDITY, UID); per-message errors",
    (
        # Content alone no longer identifies a message: an identical scam delivered twice is
        # two messages. The content check moved to QuarantineOps._insert (see its module).
        "DROP INDEX quarantine_live_message",
        """
        CREATE UNIQUE INDEX quarantine_live_place
            ON quarantine (account, original_folder, original_uidvalidity, original_uid)
            WHERE status NOT IN ('released', 'failed')
        """,
        """
        CREATE TABLE message_errors (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            at          TEXT    NOT NULL,
            account     TEXT    NOT NULL,
            folder      TEXT    NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid         INTEGER NOT NULL,
            message_id  TEXT,
            error       TEXT    NOT NULL
        )
        """,
        "CREATE INDEX message_errors_account ON message_errors (account, id)",
    ),
)


def _quarantine_allows_deleted(conn: sqlite3.Connection) -> None:
    """Rebuild ``quarantine`` so its status CHECK accepts ``deleted`` (SQLite's 12-step way).

    A CHECK constraint cannot be altered in place. The table is copied row for
    row under the same ids, the AUTOINCREMENT counter is carried over (ids are
    what users type; never reuse one), and its indexes and the no-delete
    trigger are recreated -- the live-row index now also leaves out
    ``deleted`` rows, which are final like ``released`` and ``failed``.
    """
    table_sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'quarantine'"
    ).fetchone()[0]
    old = "'failed', 'suspicious')"
    if old not in table_sql:
        raise StateError("unexpected quarantine table definition; cannot add status 'deleted'")
    extras = [
        (name, sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'quarantine'"
            " AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        ).fetchall()
    ]
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'quarantine'").fetchone()
    new_sql = table_sql.replace(old, "'failed', 'suspicious', 'deleted')", 1).replace(
        "CREATE TABLE quarantine", "CREATE TABLE quarantine_rebuilt", 1
    )
    conn.execute(new_sql)
    conn.execute("INSERT INTO quarantine_rebuilt SELECT * FROM quarantine")
    conn.execute("DROP TABLE quarantine")
    conn.execute("ALTER TABLE quarantine_rebuilt RENAME TO quarantine")
    for name, sql in extras:
        if name == "quarantine_live_place":
            sql = sql.replace("('released', 'failed')", "('released', 'failed', 'deleted')")
        conn.execute(sql)
    if seq is not None:
        conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'quarantine'", (seq[0],)
        )


_V4_MAIL_APP = Migration(
    4,
    "the mail app as user interface: 'deleted' status, folder watch state, reported senders",
    (
        _quarantine_allows_deleted,
        # Written by the daemon's IDLE watchers, read by `mailguard status` (another process).
        """
        CREATE TABLE watch_state (
            account     TEXT    NOT NULL,
            folder      TEXT    NOT NULL,
            mode        TEXT    NOT NULL CHECK (mode IN ('idle', 'polling')),
            connected   INTEGER NOT NULL DEFAULT 0,
            last_event  TEXT,
            reconnects  INTEGER NOT NULL DEFAULT 0,
            error       TEXT,
            updated_at  TEXT    NOT NULL,
            PRIMARY KEY (account, folder)
        ) WITHOUT ROWID
        """,
        # What the user taught by dragging a scam into the report folder (per account).
        """
        CREATE TABLE reported_features (
            account       TEXT NOT NULL,
            kind          TEXT NOT NULL CHECK (kind IN ('sender', 'domain', 'phone')),
            value         TEXT NOT NULL CHECK (value <> ''),
            reported_at   TEXT NOT NULL,
            quarantine_id INTEGER REFERENCES quarantine (id),
            PRIMARY KEY (account, kind, value)
        ) WITHOUT ROWID
        """,
    ),
)


_V5_LEARNING = Migration(
    5,
    "per-account learning: fingerprints of mail the user released (ham) or reported (scam)",
    (
        # Only a fingerprint (hashed n-grams, not reversible into text) is kept:
        # the state file must not become a second copy of the mailbox.
        """
        CREATE TABLE learned_examples (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            account     TEXT    NOT NULL CHECK (account <> ''),
            label       TEXT    NOT NULL CHECK (label IN ('ham', 'scam')),
            learned_at  TEXT    NOT NULL,
            source      TEXT    NOT NULL CHECK (source IN ('release', 'cli', 'report')),
            sender_addr TEXT,
            category    TEXT,
            message_id  TEXT,
            fingerprint BLOB    NOT NULL
        )
        """,
        "CREATE INDEX learned_examples_account ON learned_examples (account, id)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    _V1_MAIL_STATE,
    _V2_REPORTING,
    _V3_PER_MESSAGE,
    _V4_MAIL_APP,
    _V5_LEARNING,
)
LATEST_VERSION: int = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_sequence(migrations: Sequence[Migration]) -> None:
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            raise StateError(f"migration list is out of order at version {m.version}")


def migrate(
    conn: sqlite3.Connection,
    path: Path,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    target: int | None = None,
) -> list[int]:
    """Bring the database up to ``target`` (default: latest); return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``) and outside a
    transaction. Refuses a file newer than the code (:class:`SchemaTooNew`).
    """
    _check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    target = latest if target is None else target
    current = schema_version(conn)
    if current > latest:
        raise SchemaTooNew(path, current, latest)
    applied: list[int] = []
    if current >= target:
        return applied
    conn.execute("PRAGMA foreign_keys = OFF")  # no-op inside a transaction, so set it here
    try:
        for m in migrations:
            if m.version > target:
                break
            conn.execute("BEGIN IMMEDIATE")
            try:
                if schema_version(conn) >= m.version:  # another process got there first
                    conn.execute("ROLLBACK")
                    continue
                for step in m.steps:
                    if isinstance(step, str):
                        conn.execute(step)
                    else:
                        step(conn)
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise StateError(
                        f"migration {m.version} left {len(problems)} foreign key violations"
                    )
                conn.execute(f"PRAGMA user_version = {int(m.version)}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(m.version)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return applied
