"""Digests, account status, folder sync state, the audit log and transactions, on a real file."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailguard.state import NewItem, StateStore


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = StateStore.open(tmp_path / "state.db", clock=FakeClock())
    yield s
    s.close()


def record(
    store: StateStore, n: int, *, account: str = "alice", status: str = "quarantined"
) -> int:
    """One row in the given status, for message number ``n``."""
    fields: dict[str, Any] = {
        "account": account,
        "original_folder": "INBOX",
        "original_uid": n,
        "original_uidvalidity": 1,
        "message_id": f"<{n}@scam.example>",
        "sha256": hashlib.sha256(str(n).encode()).hexdigest(),
        "from_addr": f"sender{n}@scam.example",
        "subject": f"退会手続きのお願い {n}",
        "verdict": "scam",
        "category": "withdrawal",
        "score": 9.0,
    }
    if status == "suspicious":
        return store.record_suspicious(NewItem(**{**fields, "verdict": "suspicious"}))
    qid = store.record_move_intent(NewItem(**fields), quarantine_folder="Quarantine")
    if status in ("quarantined", "released"):
        store.confirm_move(qid, "Quarantine", 1000 + n, 5, "move")
    if status == "released":
        store.begin_release(qid)
        store.confirm_release(qid, 2000 + n)
    return qid


# -- digests -------------------------------------------------------------------------------------
def test_each_item_appears_in_exactly_one_digest(store: StateStore) -> None:
    q1, q2 = record(store, 1), record(store, 2)
    s3 = record(store, 3, status="suspicious")
    record(store, 4, status="pending_move")  # not confirmed yet: not reported
    record(store, 5, status="released")  # user already released it: not reported
    record(store, 6, account="bob")  # another account's digest

    assert [r.id for r in store.pending_digest_items("alice")] == [q1, q2, s3]
    first = store.mark_digest_sent("alice", [q1, q2, s3], "digest", "imap")
    assert store.pending_digest_items("alice") == []
    assert [r.id for r in store.digest_items(first)] == [q1, q2, s3]

    q7 = record(store, 7)
    # A second digest that (wrongly) lists old items too claims only the new one.
    second = store.mark_digest_sent("alice", [q2, q7], "digest", "smtp")
    assert [r.id for r in store.digest_items(second)] == [q7]
    for qid, digest_id in ((q1, first), (q2, first), (s3, first), (q7, second)):
        rec = store.get(qid)
        assert rec is not None
        assert (rec.digest_status, rec.digest_id) == ("sent", digest_id)
        assert rec.digest_sent_at is not None
    assert [e.action for e in store.audit_entries(quarantine_id=q2)].count("digest.sent") == 1

    digests = store.list_digests("alice")
    assert [(d.id, d.kind, d.status, d.delivery) for d in digests] == [
        (first, "digest", "sent", "imap"),
        (second, "digest", "sent", "smtp"),
    ]
    assert digests[0].item_count == 3
    last = store.last_digest("alice")
    assert last is not None and last.id == second
    assert len(store.pending_digest_items("bob")) == 1


def test_immediate_alert_does_not_consume_the_daily_digest_item(store: StateStore) -> None:
    q1 = record(store, 1)
    s2 = record(store, 2, status="suspicious")
    assert [r.id for r in store.pending_alert_items("alice")] == [q1]  # suspicious: no alert

    alert = store.mark_digest_sent("alice", [q1], "alert", "imap")
    rec = store.get(q1)
    assert rec is not None and rec.digest_status == "alerted" and rec.alerted_at is not None
    assert rec.digest_id is None
    assert store.pending_alert_items("alice") == []  # never alerted twice
    assert [r.id for r in store.pending_digest_items("alice")] == [q1, s2]  # still in the daily
    assert store.last_digest("alice", "alert") is not None
    assert store.list_digests("alice")[0].id == alert

    daily = store.mark_digest_sent("alice", [q1, s2], "digest", "imap")
    rec = store.get(q1)
    assert rec is not None and (rec.digest_status, rec.digest_id) == ("sent", daily)
    assert [e.action for e in store.audit_entries(quarantine_id=q1)][-2:] == [
        "alert.sent",
        "digest.sent",
    ]


def test_mark_alerted_marks_each_item_once(store: StateStore) -> None:
    q1, q2 = record(store, 1), record(store, 2)
    assert store.mark_alerted([q1, q2]) == 2
    assert store.mark_alerted([q1]) == 0
    with pytest.raises(ValueError):
        store.mark_alerted([999])


def test_failed_digest_leaves_items_pending(store: StateStore) -> None:
    q1 = record(store, 1)
    failed = store.record_digest_failure("alice", "SMTP 451 try later", delivery="smtp")
    assert [r.id for r in store.pending_digest_items("alice")] == [q1]
    (d,) = store.list_digests("alice")
    assert (d.id, d.status, d.error) == (failed, "failed", "SMTP 451 try later")
    assert store.last_digest("alice") is None
    assert store.audit_entries("alice", action="digest.failed")[0].detail["digest_id"] == failed


def test_marking_another_accounts_items_records_nothing(store: StateStore) -> None:
    bob = record(store, 1, account="bob")
    with pytest.raises(ValueError, match="not quarantine items"):
        store.mark_digest_sent("alice", [bob], "digest", "imap")
    with pytest.raises(ValueError, match="kind"):
        store.mark_digest_sent("bob", [bob], "weekly", "imap")
    assert store.list_digests() == []
    assert [r.id for r in store.pending_digest_items("bob")] == [bob]


# -- account status ------------------------------------------------------------------------------
def test_record_poll_keeps_counters_and_failures(store: StateStore) -> None:
    assert store.account_status("alice") is None
    nxt = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    store.record_poll("alice", True, scanned=10, quarantined=2, next_poll_at=nxt)
    store.record_poll("alice", False, "IMAP: connection refused", next_poll_at=nxt)
    store.record_poll("alice", False, "IMAP: connection refused")
    s = store.account_status("alice")
    assert s is not None
    assert (s.last_result, s.consecutive_failures, s.errors_total) == ("error", 2, 2)
    assert s.last_error == "IMAP: connection refused" and s.last_error_at is not None

    store.record_poll("alice", True, scanned=5, quarantined=1, next_poll_at=nxt)
    s = store.account_status("alice")
    assert s is not None
    assert (s.last_result, s.consecutive_failures) == ("ok", 0)
    assert (s.scanned_total, s.quarantined_total, s.errors_total) == (15, 3, 2)
    assert s.last_error == "IMAP: connection refused"  # still shown as the most recent error
    assert s.next_poll_at == nxt and s.last_poll_at is not None

    later = nxt + timedelta(minutes=5)
    store.set_next_poll("alice", later)
    s = store.account_status("alice")
    assert s is not None and s.next_poll_at == later and s.scanned_total == 15

    store.record_poll("bob", True)
    assert [a.account for a in store.account_statuses()] == ["alice", "bob"]
    with pytest.raises(ValueError, match="naive"):
        store.record_poll("alice", True, next_poll_at=datetime(2024, 5, 1, 12, 0))


# -- folder state --------------------------------------------------------------------------------
def test_folder_state_is_keyed_on_uidvalidity_and_never_rewinds(store: StateStore) -> None:
    assert store.get_folder_state("alice", "INBOX") is None
    store.set_folder_state("alice", "INBOX", 100, 50)
    fs = store.get_folder_state("alice", "INBOX")
    assert fs is not None and (fs.uidvalidity, fs.last_uid) == (100, 50)
    assert fs.last_poll_at is not None

    store.set_folder_state("alice", "INBOX", 100, 40)  # a stale, lower value is ignored
    fs = store.get_folder_state("alice", "INBOX")
    assert fs is not None and fs.last_uid == 50

    store.set_folder_state("alice", "INBOX", 200, 3)  # new UIDVALIDITY: old UIDs are void
    fs = store.get_folder_state("alice", "INBOX")
    assert fs is not None and (fs.uidvalidity, fs.last_uid) == (200, 3)

    store.set_folder_state("alice", "Archive", 1, 0)
    assert [f.folder for f in store.folder_states("alice")] == ["Archive", "INBOX"]
    assert store.reset_folder_state("alice", "INBOX") == 1
    assert store.get_folder_state("alice", "INBOX") is None
    with pytest.raises(ValueError):
        store.set_folder_state("alice", "INBOX", 1, -1)


# -- audit log -----------------------------------------------------------------------------------
def test_audit_log_rejects_update_and_delete(store: StateStore) -> None:
    qid = record(store, 1)
    store.audit("alice", "daemon.start", version="0.1.0")
    # Even a separate, raw connection (someone with the sqlite3 shell) cannot rewrite history.
    raw = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE audit_log SET action = 'nothing.happened'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM audit_log WHERE quarantine_id = ?", (qid,))
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            raw.execute("DELETE FROM quarantine WHERE id = ?", (qid,))
    finally:
        raw.close()
    assert [e.action for e in store.audit_entries("alice")] == [
        "move.intent",
        "move.confirmed",
        "daemon.start",
    ]


def test_audit_entries_filters_and_free_form_detail(store: StateStore) -> None:
    store.audit(None, "daemon.start", pid=123)
    store.audit("alice", "poll.done", scanned=3, when=datetime(2024, 5, 1, tzinfo=UTC))
    store.audit("bob", "poll.done", scanned=1)
    with pytest.raises(ValueError, match="dotted"):
        store.audit("alice", "Not An Action")

    entries = store.audit_entries()
    assert [e.action for e in entries] == ["daemon.start", "poll.done", "poll.done"]
    assert entries[0].account is None and entries[0].detail == {"pid": 123}
    assert entries[1].detail == {"scanned": 3, "when": "2024-05-01T00:00:00+00:00"}
    assert entries[1].at.tzinfo is not None
    assert [e.account for e in store.audit_entries("bob")] == ["bob"]
    assert [e.account for e in store.audit_entries(action="poll.done", limit=1)] == ["bob"]


# -- transactions --------------------------------------------------------------------------------
def test_grouped_writes_roll_back_together(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        record(store, 1)
        store.set_folder_state("alice", "INBOX", 1, 1)
        raise RuntimeError("crash in the middle of a batch")
    assert store.list_quarantine(status=None) == []
    assert store.audit_entries() == []
    assert store.get_folder_state("alice", "INBOX") is None


def test_a_caught_inner_failure_undoes_only_the_inner_block(store: StateStore) -> None:
    with store.transaction():
        store.set_folder_state("alice", "INBOX", 1, 10)
        try:
            with store.transaction():
                store.audit("alice", "test.inner")
                raise KeyError("inner")
        except KeyError:
            pass
        store.audit("alice", "test.outer")
    fs = store.get_folder_state("alice", "INBOX")
    assert fs is not None and fs.last_uid == 10
    assert [e.action for e in store.audit_entries()] == ["test.outer"]
