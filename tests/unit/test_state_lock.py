"""The daemon lock: one `mailguard run` per state file, and the refusal names the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mailguard.state import DaemonLock, StateLocked, StateStore, daemon_lock, lock_path_for


def test_second_holder_in_the_same_process_is_refused_with_our_pid(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with DaemonLock(db) as first:
        assert first.held
        assert first.path == tmp_path / "state.db.lock" == lock_path_for(db)
        assert first.path.read_text().strip() == str(os.getpid())
        with pytest.raises(StateLocked) as err:
            DaemonLock(db).acquire()  # a second open file description: flock conflicts
        assert err.value.pid == os.getpid()
        with pytest.raises(StateLocked), daemon_lock(str(db)):
            pytest.fail("the daemon_lock() helper must refuse too")
        assert f"pid {os.getpid()}" in str(err.value)
    # Released: the file stays (never unlinked) but is empty, and the lock is free again.
    assert first.path.exists() and first.path.read_text() == ""
    with DaemonLock(db):
        pass


def test_lock_held_by_another_process_names_its_pid_and_dies_with_it(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import sys
        from mailguard.state import StateStore
        store = StateStore.open({str(db)!r})
        lock = store.daemon_lock().acquire()
        print("locked", flush=True)
        sys.stdin.read()  # hold until killed
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with StateStore.open(db) as store:
            with pytest.raises(StateLocked) as err, store.daemon_lock():
                pytest.fail("a second daemon must not start")
            assert err.value.pid == holder.pid
            assert f"pid {holder.pid}" in str(err.value)
            assert "already running" in str(err.value)
            # Other commands still use the database while the daemon runs.
            store.record_poll("alice", True)
    finally:
        holder.kill()  # SIGKILL: no cleanup, the kernel drops the flock
        holder.wait()
    with DaemonLock(db) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


def test_acquire_is_idempotent_and_release_is_safe_twice(tmp_path: Path) -> None:
    lock = DaemonLock(tmp_path / "sub" / "state.db")
    assert lock.acquire() is lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held
