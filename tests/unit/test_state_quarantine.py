"""Quarantine rows: intent -> confirm, dedupe, crash recovery, reconciliation, release.

Every test runs against a real SQLite file under tmp_path.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mailguard.state import (
    DuplicateMessage,
    InvalidTransition,
    NewItem,
    StateStore,
    UnknownItem,
)

JST = timezone(timedelta(hours=9))


class FakeClock:
    """Advances one second per reading, so timestamps are distinct and predictable."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = StateStore.open(tmp_path / "state" / "state.db", clock=FakeClock())
    yield s
    s.close()


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def item(**overrides: Any) -> NewItem:
    """What the scanner records for one scam message."""
    fields: dict[str, Any] = {
        "account": "alice",
        "original_folder": "INBOX",
        "original_uid": 42,
        "original_uidvalidity": 7,
        "message_id": "<unpaid-1@scam.example>",
        "sha256": sha(b"raw message 1"),
        "from_addr": "Billing@Scam.Example",
        "from_name": "請求センター",
        "subject": "【重要】未納料金のお知らせ",
        "date": datetime(2024, 4, 30, 18, 0, tzinfo=JST),
        "verdict": "scam",
        "category": "fake_billing",
        "score": 11.5,
        "reasons": [{"rule": "ja.billing.unpaid", "family": "debt", "weight": 4.0}],
        "flags": ["\\Seen", "$Forwarded"],
        "details": {"urls": ["https://scam.example/pay"], "phones": ["03-0000-0000"]},
    }
    fields.update(overrides)
    return NewItem(**fields)


def quarantined(store: StateStore, **overrides: Any) -> int:
    qid: int = store.record_move_intent(item(**overrides), quarantine_folder="Quarantine")
    store.confirm_move(qid, "Quarantine", 500 + qid, 99, "move")
    return qid


# -- intent -> confirm -------------------------------------------------------------------------
def test_intent_then_confirm_with_audit_entries_in_order(store: StateStore) -> None:
    qid = store.record_move_intent(item(), quarantine_folder="Quarantine")

    pending = store.get(qid)
    assert pending is not None
    assert pending.status == "pending_move"
    assert pending.quarantine_folder == "Quarantine"  # reconciliation must know where to look
    assert pending.quarantined_at is None

    store.confirm_move(
        qid,
        quarantine_folder="Quarantine",
        quarantine_uid=501,
        quarantine_uidvalidity=99,
        method="move",
    )
    done = store.get(qid)
    assert done is not None
    assert done.status == "quarantined"
    assert (done.quarantine_folder, done.quarantine_uid, done.quarantine_uidvalidity) == (
        "Quarantine",
        501,
        99,
    )
    assert done.move_method == "move"
    assert done.quarantined_at is not None and done.quarantined_at > done.recorded_at

    entries = store.audit_entries(quarantine_id=qid)
    assert [e.action for e in entries] == ["move.intent", "move.confirmed"]
    assert entries[0].at < entries[1].at
    assert entries[0].detail["folder"] == "INBOX" and entries[0].detail["uid"] == 42
    assert entries[0].detail["dest"] == "Quarantine"
    assert entries[1].detail == {
        "dest": "Quarantine",
        "dest_uid": 501,
        "dest_uidvalidity": 99,
        "method": "move",
    }
    assert store.list_quarantine("alice") == [done]


def test_record_round_trips_parsed_fields(store: StateStore) -> None:
    @dataclass(frozen=True)
    class Reason:  # the shape of mailguard.detect's Reason
        rule: str
        weight: float
        description_ja: str

    qid = store.record_move_intent(
        item(
            reasons=[Reason("ja.withdrawal.incomplete", 5.0, "退会手続きが未完了")],
            contacted_on=date(2024, 3, 1),  # the Sent-folder check may give a bare date
        ),
        quarantine_folder="Quarantine",
    )
    rec = store.get(qid)
    assert rec is not None
    assert rec.reasons == [
        {"rule": "ja.withdrawal.incomplete", "weight": 5.0, "description_ja": "退会手続きが未完了"}
    ]
    assert rec.flags == ("\\Seen", "$Forwarded")
    assert rec.details["urls"] == ["https://scam.example/pay"]
    assert rec.from_addr == "billing@scam.example"
    assert rec.from_name == "請求センター"
    assert rec.date == datetime(2024, 4, 30, 9, 0, tzinfo=UTC)
    assert rec.date is not None and rec.date.tzinfo is not None
    assert rec.recorded_at.tzinfo is not None and rec.recorded_at.utcoffset() == timedelta(0)
    assert rec.contacted_on == datetime(2024, 3, 1, tzinfo=UTC)
    assert rec.folder_label() == "INBOX (UID 42)"
    assert rec.verdict == "scam" and rec.category == "fake_billing" and rec.score == 11.5


def test_naive_message_date_is_taken_as_utc_but_bad_input_is_refused(
    store: StateStore,
) -> None:
    qid = store.record_suspicious(item(date=datetime(2024, 4, 30, 18, 0)))
    rec = store.get(qid)
    assert rec is not None and rec.date == datetime(2024, 4, 30, 18, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="sha256"):
        store.record_suspicious(item(sha256="not-a-hash"))
    with pytest.raises(ValueError, match="verdict"):
        store.record_suspicious(item(verdict="maybe"))


def test_transitions_are_checked(store: StateStore) -> None:
    qid = quarantined(store)
    with pytest.raises(InvalidTransition) as err:
        store.confirm_move(qid, "Quarantine", 1, 1, "move")
    assert err.value.status == "quarantined"
    with pytest.raises(InvalidTransition):
        store.fail_move(qid, "late failure")
    with pytest.raises(UnknownItem):
        store.confirm_move(9999, "Quarantine", 1, 1, "move")
    assert store.get(9999) is None
    # A refused transition wrote nothing.
    assert [e.action for e in store.audit_entries(quarantine_id=qid)] == [
        "move.intent",
        "move.confirmed",
    ]


def test_failed_move_can_be_retried_with_a_new_intent(store: StateStore) -> None:
    first = store.record_move_intent(item(), quarantine_folder="Quarantine")
    store.fail_move(first, "NO [TRYCREATE] no such mailbox")
    rec = store.get(first)
    assert rec is not None and rec.status == "failed" and "TRYCREATE" in (rec.error or "")
    assert store.find_existing("alice", item().message_id, item().sha256) == rec

    second = store.record_move_intent(item(), quarantine_folder="Quarantine")
    assert second != first
    assert store.audit_entries(quarantine_id=first)[-1].action == "move.failed"


# -- dedupe --------------------------------------------------------------------------------------
def test_same_message_cannot_be_recorded_twice(store: StateStore) -> None:
    qid = quarantined(store)
    # After a UIDVALIDITY change the same bytes come back under a new UID.
    rescan = item(original_uid=3, original_uidvalidity=8)
    with pytest.raises(DuplicateMessage) as err:
        store.record_move_intent(rescan, quarantine_folder="Quarantine")
    assert err.value.existing_id == qid and err.value.status == "quarantined"
    with pytest.raises(DuplicateMessage):
        store.record_suspicious(rescan)

    found = store.find_existing("alice", rescan.message_id, rescan.sha256.upper())
    assert found is not None and found.id == qid

    # Same Message-ID with different bytes, or another account: a different message.
    assert store.find_existing("alice", rescan.message_id, sha(b"other")) is None
    assert store.find_existing("bob", rescan.message_id, rescan.sha256) is None
    other = item(original_uid=4, sha256=sha(b"other"))
    store.record_move_intent(other, quarantine_folder="Quarantine")
    store.record_move_intent(item(account="bob"), quarantine_folder="Quarantine")
    # One live record per place: the same UID cannot be recorded twice, whatever the bytes.
    with pytest.raises(DuplicateMessage):
        store.record_suspicious(item(sha256=sha(b"yet another")))


def test_identical_scam_delivered_twice_is_a_second_message(store: StateStore) -> None:
    """Same bytes, same folder and UIDVALIDITY, another UID: the server says it is new mail."""
    first = quarantined(store)
    second = store.record_move_intent(item(original_uid=43), quarantine_folder="Quarantine")
    assert second != first
    seen_at = ("INBOX", 7, 43)
    assert store.find_existing("alice", item().message_id, item().sha256).id == second
    assert store.find_existing("alice", item().message_id, item().sha256, seen_at=seen_at).id == (
        second
    )
    # The first copy, seen again at its own place, is still the first record ...
    assert store.find_existing(
        "alice", item().message_id, item().sha256, seen_at=("INBOX", 7, 42)
    ).id == first
    # ... and a third copy not yet recorded matches neither.
    assert (
        store.find_existing("alice", item().message_id, item().sha256, seen_at=("INBOX", 7, 44))
        is None
    )


def test_missing_message_id_dedupes_on_the_hash_alone(store: StateStore) -> None:
    qid = store.record_suspicious(item(message_id=""))
    rec = store.get(qid)
    assert rec is not None and rec.message_id is None
    assert store.find_existing("alice", None, item().sha256) == rec
    assert store.find_existing("alice", "  ", item().sha256) == rec
    with pytest.raises(DuplicateMessage):  # the same bytes after a UIDVALIDITY change
        store.record_suspicious(item(message_id=None, original_uid=43, original_uidvalidity=8))


def test_find_existing_prefers_the_live_row_then_released(store: StateStore) -> None:
    first = quarantined(store)
    store.begin_release(first)
    store.confirm_release(first, restored_uid=77)
    found = store.find_existing("alice", item().message_id, item().sha256)
    assert found is not None and (found.id, found.status) == (first, "released")

    # The same mail arrives again and is quarantined again: the live row wins.
    again = quarantined(store, original_uid=77)
    found = store.find_existing("alice", item().message_id, item().sha256)
    assert found is not None and (found.id, found.status) == (again, "quarantined")


# -- crash recovery ------------------------------------------------------------------------------
def test_pending_move_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    qid = store.record_move_intent(item(), quarantine_folder="Quarantine")
    store.close()  # "crash" before confirm_move

    with StateStore.open(path) as reopened:
        pending = reopened.pending_moves("alice")
        assert [p.id for p in pending] == [qid]
        assert pending[0].original_uid == 42 and pending[0].quarantine_folder == "Quarantine"
        assert reopened.pending_moves("bob") == []
        assert [p.id for p in reopened.pending_moves()] == [qid]


def test_pending_move_survives_a_hard_process_exit(tmp_path: Path) -> None:
    """The intent is durable once record_move_intent returns, even if nothing is closed."""
    path = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import os
        from mailguard.state import NewItem, StateStore
        store = StateStore.open({str(path)!r})
        qid = store.record_move_intent(NewItem(
            account="alice", original_folder="INBOX", original_uid=5, original_uidvalidity=1,
            message_id="<x@scam.example>", sha256={sha(b"x")!r},
            verdict="scam", score=9.0), quarantine_folder="Quarantine")
        print(qid, flush=True)
        os._exit(1)  # no close, no confirm, no atexit: like a kill -9 right before the move
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    qid = int(out.stdout)
    with StateStore.open(path) as store:
        assert [(p.id, p.status) for p in store.pending_moves("alice")] == [(qid, "pending_move")]
        assert [e.action for e in store.audit_entries(quarantine_id=qid)] == ["move.intent"]


def test_reconcile_outcomes(store: StateStore) -> None:
    moved = store.record_move_intent(item(), quarantine_folder="Quarantine")
    stayed = store.record_move_intent(
        item(original_uid=43, sha256=sha(b"2")), quarantine_folder="Quarantine"
    )
    gone = store.record_move_intent(
        item(original_uid=44, sha256=sha(b"3")), quarantine_folder="Quarantine"
    )

    store.mark_reconciled(moved, "quarantined", quarantine_uid=900, quarantine_uidvalidity=99)
    store.mark_reconciled(stayed, "not_moved")
    store.mark_reconciled(gone, "missing", note="deleted by the user")

    assert store.pending_moves("alice") == []
    m, s, g = store.get(moved), store.get(stayed), store.get(gone)
    assert m is not None and s is not None and g is not None
    assert (m.status, m.quarantine_folder, m.quarantine_uid, m.move_method) == (
        "quarantined",
        "Quarantine",
        900,
        "reconciled",
    )
    assert s.status == "failed" and "not_moved" in (s.error or "")
    assert g.status == "failed" and "deleted by the user" in (g.error or "")
    last = store.audit_entries(quarantine_id=moved)[-1]
    assert last.action == "move.reconciled" and last.detail["outcome"] == "quarantined"

    with pytest.raises(InvalidTransition):
        store.mark_reconciled(stayed, "quarantined")  # contradicts the settled status
    with pytest.raises(ValueError, match="outcome"):
        store.mark_reconciled(moved, "whatever")  # type: ignore[arg-type]
    # The message that never moved may now be tried again.
    store.record_move_intent(item(original_uid=43, sha256=sha(b"2")), quarantine_folder="Q")


def test_reconcile_can_record_an_outcome_the_caller_settled_itself(store: StateStore) -> None:
    """Reconciliation may finish the move (or give up) first, then record what it found."""
    finished = store.record_move_intent(item(), quarantine_folder="Quarantine")
    stayed = store.record_move_intent(
        item(original_uid=43, sha256=sha(b"2")), quarantine_folder="Quarantine"
    )
    store.confirm_move(finished, "Quarantine", 901, None, "reconciled-expunge")
    store.mark_reconciled(finished, "copy-only")
    store.fail_move(stayed, "interrupted before the move")
    store.mark_reconciled(stayed, "not-moved")

    f, s = store.get(finished), store.get(stayed)
    assert f is not None and (f.status, f.quarantine_uid, f.move_method) == (
        "quarantined",
        901,
        "reconciled-expunge",
    )
    assert s is not None and s.status == "failed" and s.error == "interrupted before the move"
    assert [e.action for e in store.audit_entries(quarantine_id=finished)] == [
        "move.intent",
        "move.confirmed",
        "move.reconciled",
    ]
    last = store.audit_entries(quarantine_id=stayed)[-1]
    assert last.detail["outcome"] == "not_moved" and last.detail["settled_here"] is False


# -- release -------------------------------------------------------------------------------------
def test_release_flow_records_the_released_sender(store: StateStore) -> None:
    qid = quarantined(store)
    assert not store.is_released_sender("alice", "billing@scam.example")

    rec = store.begin_release(qid)
    assert rec.status == "releasing"
    assert rec.flags == ("\\Seen", "$Forwarded")  # what the releaser restores
    assert [r.id for r in store.pending_releases("alice")] == [qid]
    assert store.list_quarantine("alice") == []  # no longer counted as quarantined

    store.confirm_release(qid, restored_uid=1234)
    done = store.get(qid)
    assert done is not None
    assert done.status == "released" and done.restored_uid == 1234
    assert done.released_at is not None and done.released_at.tzinfo is not None
    assert store.pending_releases() == []

    assert store.is_released_sender("alice", "Billing@SCAM.example")
    assert not store.is_released_sender("bob", "billing@scam.example")
    assert store.released_senders("alice") == {"billing@scam.example"}
    (sender,) = store.released_sender_records("alice")
    assert sender.quarantine_id == qid and sender.reasons == item().reasons

    assert [e.action for e in store.audit_entries(quarantine_id=qid)] == [
        "move.intent",
        "move.confirmed",
        "release.intent",
        "release.confirmed",
    ]
    status = store.account_status("alice")
    assert status is not None and status.released_total == 1

    with pytest.raises(InvalidTransition):
        store.begin_release(qid)


def test_release_can_be_retried_or_aborted(store: StateStore) -> None:
    qid = quarantined(store)
    store.begin_release(qid)
    store.begin_release(qid)  # retry after a crash mid-release is allowed
    store.abort_release(qid, "APPEND failed: over quota")
    rec = store.get(qid)
    assert rec is not None and rec.status == "quarantined" and "quota" in (rec.error or "")
    assert store.released_senders("alice") == set()

    sus = store.record_suspicious(item(original_uid=50, sha256=sha(b"s")))
    store.begin_release(sus)
    store.abort_release(sus, "user cancelled")
    back = store.get(sus)
    assert back is not None and back.status == "suspicious"

    pending = store.record_move_intent(
        item(original_uid=51, sha256=sha(b"p")), quarantine_folder="Quarantine"
    )
    with pytest.raises(InvalidTransition):
        store.begin_release(pending)  # not in quarantine yet: nothing to release
    with pytest.raises(InvalidTransition):
        store.confirm_release(qid)  # release was aborted, not begun


def test_releasing_a_suspicious_item_only_remembers_the_sender(store: StateStore) -> None:
    sus = store.record_suspicious(item(from_addr="info@shop.example", verdict="suspicious"))
    store.begin_release(sus)
    store.confirm_release(sus)
    rec = store.get(sus)
    assert rec is not None and rec.status == "released" and rec.restored_uid is None
    assert store.released_senders("alice") == {"info@shop.example"}


def test_list_quarantine_filters_and_counts(store: StateStore) -> None:
    a = quarantined(store)
    b = quarantined(store, account="bob")
    s = store.record_suspicious(item(original_uid=60, sha256=sha(b"s")))
    p = store.record_move_intent(
        item(original_uid=61, sha256=sha(b"p")), quarantine_folder="Quarantine"
    )
    assert [r.id for r in store.list_quarantine()] == [a, b]
    assert [r.id for r in store.list_quarantine("alice", status=None)] == [a, s, p]
    assert [r.id for r in store.list_quarantine(status=("suspicious", "pending_move"))] == [s, p]
    with pytest.raises(ValueError):
        store.list_quarantine(status="bogus")
    counts = store.quarantine_counts("alice")
    assert counts["quarantined"] == 1 and counts["suspicious"] == 1
    assert counts["pending_move"] == 1 and counts["released"] == 0
    assert store.quarantine_counts()["quarantined"] == 2


def test_a_reported_suspicious_row_becomes_the_record_of_its_move(store: StateStore) -> None:
    """suspicious -> pending_move, with the report's place and verdict, before the move."""
    s = store.record_suspicious(item(verdict="suspicious", score=6.0))
    reported = item(
        original_folder="Quarantine/Report", original_uid=3, original_uidvalidity=11,
        verdict="scam", score=100.0, details={"user_action": "reported_by_move"},
    )  # fmt: skip
    assert store.hold_reported_suspicious(s, reported, quarantine_folder="Quarantine") == s
    pending = store.get(s)
    assert pending is not None and pending.status == "pending_move"
    assert (pending.original_folder, pending.original_uid, pending.original_uidvalidity) == (
        "Quarantine/Report", 3, 11,
    )  # fmt: skip
    assert pending.verdict == "scam" and pending.quarantine_folder == "Quarantine"
    entries = store.audit_entries(quarantine_id=s)
    assert [e.action for e in entries] == ["suspicious.recorded", "move.intent"]
    assert entries[-1].detail["folder"] == "Quarantine/Report" and entries[-1].detail["uid"] == 3
    store.confirm_move(s, "Quarantine", 9, 99, "move")
    assert store.get(s).status == "quarantined"  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition):  # only a suspicious row can be taken over
        store.hold_reported_suspicious(s, reported, quarantine_folder="Quarantine")
    assert len(store.list_quarantine("alice", status=None)) == 1


def test_the_transition_table_covers_every_status_and_final_means_final(
    store: StateStore,
) -> None:
    from mailguard.state import TRANSITIONS, may_transition
    from mailguard.vocabulary import Status

    assert set(TRANSITIONS) == {None, *Status}, "every status has a row in the table"
    assert may_transition(Status.SUSPICIOUS, Status.RELEASING), "releasing suspicious is allowed"
    assert not may_transition(Status.SUSPICIOUS, Status.QUARANTINED)
    released = quarantined(store)
    store.begin_release(released)
    store.confirm_release(released, restored_uid=7)
    failed = store.record_move_intent(item(original_uid=50, sha256=sha(b"f")), "Quarantine")
    store.fail_move(failed, "no such mailbox")
    for qid in (released, failed):
        for attempt in (
            lambda q=qid: store.begin_release(q),
            lambda q=qid: store.confirm_release(q),
            lambda q=qid: store.abort_release(q, "x"),
            lambda q=qid: store.confirm_move(q, "Quarantine", 1, 1, "move"),
            lambda q=qid: store.fail_move(q, "x"),
        ):
            with pytest.raises(InvalidTransition):
                attempt()
    assert store.get(released).status == "released" and store.get(failed).status == "failed"
