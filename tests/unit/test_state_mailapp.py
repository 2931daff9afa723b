"""State for the mail app as user interface: 'deleted', trust, reports, watch state."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailguard.state import InvalidTransition, NewItem, StateStore
from mailguard.state.schema import migrate
from mailguard.vocabulary import Status, WatchMode

SHA = "a" * 64


def new(uid: int = 5, mid: str = "<m@scam.example>") -> NewItem:
    return NewItem(
        account="alice",
        original_folder="INBOX",
        original_uid=uid,
        original_uidvalidity=9,
        message_id=mid,
        sha256=SHA,
        verdict="scam",  # type: ignore[arg-type]
        score=12.0,
        from_addr="Bill@Scam.Example",
    )


def quarantined(store: StateStore, uid: int = 5, mid: str = "<m@scam.example>") -> int:
    qid = store.record_move_intent(new(uid, mid), quarantine_folder="Quarantine")
    store.confirm_move(qid, "Quarantine", 1, 1, "move")
    return qid


def test_v3_file_gains_deleted_status_and_keeps_rows_ids_and_counter(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, target=3)
    # Rows written by the previous version; the counter is ahead of the highest id.
    for uid in (1, 2, 3):
        conn.execute(
            "INSERT INTO quarantine (account, original_folder, original_uid,"
            " original_uidvalidity, message_id, sha256, verdict, score, status, recorded_at)"
            " VALUES ('alice', 'INBOX', ?, 9, ?, ?, 'scam', 9.0, 'quarantined',"
            " '2024-01-02T03:04:05.000000+00:00')",
            (uid, f"<{uid}@x>", SHA),
        )
    conn.execute(
        "INSERT INTO audit_log (at, account, action, quarantine_id, detail)"
        " VALUES ('2024-01-02T03:04:05.000000+00:00', 'alice', 'move.intent', 3, '{}')"
    )
    conn.execute("UPDATE sqlite_sequence SET seq = 10 WHERE name = 'quarantine'")
    conn.close()
    with StateStore.open(path) as store:
        assert [r.id for r in store.list_quarantine("alice")] == [1, 2, 3]
        store.record_user_deletion(2, folder="Trash")
        assert store.get(2).status == Status.DELETED  # type: ignore[union-attr]
        assert store.audit_entries(quarantine_id=3)[0].action == "move.intent"
        qid = quarantined(store, uid=20, mid="<new@x>")
        assert qid == 11, "ids are never reused, even across the table rebuild"
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as c:  # never deleted
            c.execute("DELETE FROM quarantine WHERE id = 1")


def test_deletion_is_final_and_not_a_release(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        qid = quarantined(store)
        store.record_user_deletion(qid, folder=None)
        rec = store.get(qid)
        assert rec is not None and rec.status == Status.DELETED
        assert not store.is_released_sender("alice", "bill@scam.example")
        assert store.user_actions("alice")[qid].action == "deleted_by_user"
        for change in (store.begin_release, lambda i: store.record_user_deletion(i)):
            with pytest.raises(InvalidTransition):
                change(qid)
        # A deleted record leaves the live set: the same place may be recorded again.
        again = store.record_move_intent(new(), quarantine_folder="Quarantine")
        assert again != qid


def test_only_a_quarantined_record_can_be_deleted(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        pending = store.record_move_intent(new(), quarantine_folder="Quarantine")
        with pytest.raises(InvalidTransition):
            store.record_user_deletion(pending)
        assert store.get(pending).status == Status.PENDING_MOVE  # type: ignore[union-attr]


def test_trust_and_untrust_a_domain_per_account(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        store.add_reported("alice", {"sender": set(), "domain": {"shop.example"}}, None)
        store.trust_sender("alice", "@Shop.Example")
        assert store.released_senders("alice") == {"shop.example"}
        assert store.released_senders("bob") == set()
        assert store.reported_features("alice")["domain"] == frozenset(), "trust wins"
        assert store.untrust_sender("alice", "shop.example")
        assert not store.untrust_sender("alice", "shop.example")
        actions = [e.action for e in store.audit_entries("alice")]
        assert actions == ["sender.trusted", "sender.untrusted"]


def test_reported_features_are_kept_per_account(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        n = store.add_reported(
            "alice", {"sender": {"a@x.example"}, "domain": {"x.example"}, "phone": {"0312345678"}},
            None,
        )  # fmt: skip
        assert n == 3
        assert store.reported_features("alice")["phone"] == {"0312345678"}
        assert store.reported_features("bob")["sender"] == frozenset()
        with pytest.raises(ValueError):
            store.add_reported("alice", {"url": {"x"}}, None)


def test_watch_state_is_persisted_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with StateStore.open(path) as daemon:
        daemon.set_watch_state(
            "alice", "INBOX", mode=WatchMode.IDLE, connected=True, last_event=at,
            reconnects=2, error=None,
        )  # fmt: skip
        daemon.set_watch_state(
            "alice", "Lists", mode="polling", connected=False, last_event=None, reconnects=0,
            error=None,
        )  # fmt: skip
        with StateStore.open(path) as status:
            rows = {r.folder: r for r in status.watch_states("alice")}
        assert rows["INBOX"].mode == WatchMode.IDLE and rows["INBOX"].last_event == at
        assert rows["INBOX"].reconnects == 2 and rows["INBOX"].connected
        assert rows["Lists"].mode == WatchMode.POLLING and not rows["Lists"].connected
        daemon.clear_watch_states()
        assert daemon.watch_states() == []
