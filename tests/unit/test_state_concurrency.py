"""Concurrent writers: the daemon's per-account threads and a CLI process at the same time."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from mailguard.state import NewItem, StateStore
from mailguard.vocabulary import VerdictKind

ROUNDS = 60


def test_two_threads_writing_lose_no_update(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    ids: dict[str, list[int]] = {"alice": [], "bob": []}

    def worker(account: str) -> None:
        try:
            start.wait()
            for n in range(ROUNDS):
                # Both threads bump the same shared row ...
                store.record_poll("shared", True, scanned=1, quarantined=1)
                # ... and each records its own quarantine items and progress.
                qid = store.record_move_intent(
                    NewItem(
                        account=account,
                        original_folder="INBOX",
                        original_uid=n + 1,
                        original_uidvalidity=1,
                        message_id=f"<{account}-{n}@scam.example>",
                        sha256=hashlib.sha256(f"{account}{n}".encode()).hexdigest(),
                        verdict=VerdictKind.SCAM,
                        score=9.0,
                    ),
                    quarantine_folder="Quarantine",
                )
                store.confirm_move(qid, "Quarantine", n + 1, 1, "move")
                store.set_folder_state(account, "INBOX", 1, n + 1)
                ids[account].append(qid)
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(a,)) for a in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        shared = store.account_status("shared")
        assert shared is not None
        assert shared.scanned_total == shared.quarantined_total == 2 * ROUNDS
        all_ids = ids["alice"] + ids["bob"]
        assert len(set(all_ids)) == 2 * ROUNDS
        assert store.quarantine_counts()["quarantined"] == 2 * ROUNDS
        assert len(store.audit_entries()) == 4 * ROUNDS  # intent + confirm per item
        for account in ids:
            fs = store.get_folder_state(account, "INBOX")
            assert fs is not None and fs.last_uid == ROUNDS
    finally:
        store.close()


def test_a_second_process_writing_at_the_same_time_loses_nothing(tmp_path: Path) -> None:
    """`mailguard release` / `status` run as separate processes next to the daemon."""
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    script = textwrap.dedent(
        f"""
        import sys
        from mailguard.state import StateStore
        store = StateStore.open({str(path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range({ROUNDS}):
            store.record_poll("shared", True, scanned=1)
        store.close()
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "ready"
        other.stdin.write("go\n")
        other.stdin.flush()
        for _ in range(ROUNDS):
            store.record_poll("shared", True, scanned=1)
        assert other.wait(timeout=60) == 0
        shared = store.account_status("shared")
        assert shared is not None and shared.scanned_total == 2 * ROUNDS
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        store.close()
