"""State database file: migrations, permissions and connection settings, on a real file."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from mailguard.state import LATEST_VERSION, NewItem, SchemaTooNew, StateStore
from mailguard.state.schema import MIGRATIONS, Migration, migrate, schema_version
from mailguard.vocabulary import VerdictKind

SHA = "ab" * 32


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_fresh_database_is_migrated_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        assert store.schema_version == LATEST_VERSION == MIGRATIONS[-1].version
    assert {
        "folder_state",
        "quarantine",
        "released_senders",
        "audit_log",
        "account_status",
        "digests",
    } <= tables(path)
    # Opening again applies nothing and keeps the version.
    with StateStore.open(path) as store:
        assert store.schema_version == LATEST_VERSION


def _v1_database(path: Path) -> None:
    """What a mailguard that only knew migration 1 left behind, with one quarantined row."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, path, target=1) == [1]
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        """
        INSERT INTO quarantine (account, original_folder, original_uid, original_uidvalidity,
            message_id, sha256, from_addr, subject, verdict, category, score, reasons, flags,
            status, quarantine_folder, quarantine_uid, recorded_at, quarantined_at)
        VALUES ('alice', 'INBOX', 12, 7, '<old@example.jp>', ?, 'bill@scam.example',
            '未納料金', 'scam', 'fake_billing', 9.5, '[{"rule": "ja.billing.unpaid"}]',
            '["\\\\Seen"]', 'quarantined', 'Quarantine', 3,
            '2024-01-02T03:04:05.000000+00:00', '2024-01-02T03:04:06.000000+00:00')
        """,
        (SHA,),
    )
    conn.execute(
        "INSERT INTO audit_log (at, account, action, quarantine_id, detail)"
        " VALUES ('2024-01-02T03:04:05.000000+00:00', 'alice', 'move.intent', 1, '{}')"
    )
    conn.close()


def test_v1_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _v1_database(path)
    assert "digests" not in tables(path)

    with StateStore.open(path) as store:
        assert store.schema_version == LATEST_VERSION
        rec = store.get(1)
        assert rec is not None
        assert rec.status == "quarantined"
        assert rec.subject == "未納料金"
        assert rec.flags == ("\\Seen",)
        assert rec.reasons == [{"rule": "ja.billing.unpaid"}]
        # Columns added by migration 2 have their defaults on the old row ...
        assert rec.digest_status == "pending" and rec.digest_id is None
        # ... and the new features work on it.
        assert [r.id for r in store.pending_digest_items("alice")] == [1]
        digest_id = store.mark_digest_sent("alice", [1], "digest", "imap")
        assert store.get(1).digest_id == digest_id  # type: ignore[union-attr]
        assert [e.action for e in store.audit_entries(quarantine_id=1)] == [
            "move.intent",
            "digest.sent",
        ]
        new_id = store.record_move_intent(
            NewItem(
                account="alice",
                original_folder="INBOX",
                original_uid=13,
                original_uidvalidity=7,
                message_id="<new@example.jp>",
                sha256="cd" * 32,
                verdict=VerdictKind.SCAM,
                score=10,
            ),
            quarantine_folder="Quarantine",
        )
        assert new_id == 2


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)

    def boom(c: sqlite3.Connection) -> None:
        raise RuntimeError("disk on fire")

    migrations = (
        Migration(1, "one", ("CREATE TABLE a (x INTEGER)",)),
        Migration(2, "two", ("CREATE TABLE b (x INTEGER)", boom)),
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        migrate(conn, path, migrations=migrations)
    assert schema_version(conn) == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in names and "b" not in names  # migration 2 rolled back as a whole
    assert not conn.in_transaction
    conn.close()


def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    with pytest.raises(Exception, match="out of order"):
        migrate(conn, tmp_path / "x.db", migrations=(Migration(2, "two", ()),))
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaTooNew) as err:
        StateStore.open(path)
    assert err.value.found == LATEST_VERSION + 1
    assert "upgrade mailguard" in str(err.value)


def test_new_directory_is_0700_and_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "mailguard" / "state.db"
    old = os.umask(0)  # the most permissive umask: modes must not depend on it
    try:
        store = StateStore.open(path)
        store.set_folder_state("alice", "INBOX", 1, 1)  # make SQLite create -wal and -shm
        with store.daemon_lock():
            lock_mode = mode(path.with_name("state.db.lock"))
    finally:
        os.umask(old)
    try:
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        assert mode(path.with_name("state.db-wal")) == 0o600
        assert mode(path.with_name("state.db-shm")) == 0o600
        assert lock_mode == 0o600
    finally:
        store.close()


def test_existing_directory_is_left_alone_but_a_readable_file_is_tightened(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_dir.chmod(0o750)  # e.g. chosen by the administrator / systemd StateDirectory=
    path = state_dir / "state.db"
    StateStore.open(path).close()  # a real database (a 0-byte file is refused: see test_state_open)
    path.chmod(0o644)
    StateStore.open(path).close()
    assert mode(state_dir) == 0o750
    assert mode(path) == 0o600


def test_every_thread_connection_has_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db", busy_timeout=7.5)
    seen: dict[str, object] = {}

    def probe() -> None:
        conn = store._db.connection()
        seen["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
        seen["foreign_keys"] = conn.execute("PRAGMA foreign_keys").fetchone()[0]
        seen["busy_timeout"] = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        seen["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
        seen["same_as_main"] = conn is main_conn

    main_conn = store._db.connection()
    t = threading.Thread(target=probe)
    t.start()
    t.join()
    store.close()
    assert seen == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 7500,
        "synchronous": 2,  # FULL
        "same_as_main": False,
    }


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.get_folder_state("alice", "INBOX")
