"""Opening the state database: damaged, emptied, vanished, unwritable, full, locked.

Each case must end in one clear StateError (the CLI prints it without a
traceback), never in a fresh empty database over the old one, and never in a
changed file: the damaged file is evidence and the input to `doctor --rebuild`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard.state import NewItem, StateStore
from mailguard.state.errors import (
    StateCorrupt,
    StateDiskFull,
    StateNotWritable,
    WriterBusy,
)
from mailguard.state.lock import WriterLock, writer_lock_path_for
from mailguard.vocabulary import VerdictKind

SRC = Path(__file__).resolve().parents[2] / "src"


def make_db(path: Path, items: int = 3) -> None:
    with StateStore.open(path) as store:
        for i in range(items):
            store.record_suspicious(
                NewItem(
                    account="a",
                    original_folder="INBOX",
                    original_uid=i + 1,
                    original_uidvalidity=7,
                    message_id=f"<m{i}@example.jp>",
                    sha256=f"{i:064x}",
                    verdict=VerdictKind.SUSPICIOUS,
                    score=5.0,
                    subject=f"subject {i}",
                )
            )


def config_file(tmp_path: Path, db: Path) -> Path:
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            [state]
            path = "{db}"

            [[accounts]]
            name = "home"
            host = "127.0.0.1"
            username = "taro@example.jp"
            password_env = "MG_UNUSED_PW"
            """
        )
    )
    return cfg


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


# -- damaged files are refused, kept and explained -------------------------------------------
def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2 + 100])


def _flip_header(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[0:6] = b"XQLite"
    p.write_bytes(bytes(data))


def _garbage(p: Path) -> None:
    p.write_bytes(os.urandom(8192))


def _zero(p: Path) -> None:
    p.write_bytes(b"")


def _smash_pages(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for off in range(4096, len(data), 4096):  # every page after the header page
        data[off + 8 : off + 200] = os.urandom(192)
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage", [_truncate, _flip_header, _garbage, _zero, _smash_pages], ids=lambda f: f.__name__
)
def test_damaged_database_is_refused_and_left_untouched(tmp_path: Path, damage: object) -> None:
    db = tmp_path / "state.db"
    make_db(db, items=40)
    damage(db)  # type: ignore[operator]
    before = db.read_bytes()
    with pytest.raises(StateCorrupt) as info, StateStore.open(db) as store:
        store.list_quarantine(status=None)  # a damaged page may only show on reading
    assert str(db) in str(info.value)
    assert "mailguard doctor" in str(info.value)
    assert db.read_bytes() == before, "the damaged file is evidence: never rewritten"


def test_deleted_database_with_its_wal_left_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_db(db)
    wal = db.with_name("state.db-wal")
    wal.write_bytes(b"\0" * 32)  # what a deletion while in use leaves behind
    db.unlink()
    with pytest.raises(StateCorrupt, match="write-ahead log"):
        StateStore.open(db)
    assert not db.exists(), "no new empty database was created over it"


def test_brand_new_install_is_created_silently(tmp_path: Path) -> None:
    db = tmp_path / "new" / "state.db"
    with StateStore.open(db) as store:
        assert store.list_quarantine() == []
        assert not store.read_only


@pytest.mark.parametrize("command", [["status"], ["quarantine", "list"], ["scan", "--once"]])
@pytest.mark.parametrize("damage", [_zero, _garbage, _smash_pages], ids=lambda f: f.__name__)
def test_cli_says_what_happened_without_a_traceback(
    tmp_path: Path, command: list[str], damage: object
) -> None:
    db = tmp_path / "state.db"
    make_db(db, items=40)
    damage(db)  # type: ignore[operator]
    done = cli(*command, "--config", str(config_file(tmp_path, db)))
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert str(db) in done.stderr and "mailguard doctor --rebuild" in done.stderr


# -- unwritable: read-only commands still work, the others name the path ---------------------
@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(where to write, the same directory seen read-only).

    As root permission bits would not stop us, so the read-only view is a
    read-only bind mount; as a normal user it is the directory made 0500.
    """
    real = tmp_path / "real"
    real.mkdir()
    if os.geteuid() != 0:
        yield real, real
        real.chmod(0o700)
        return
    if not shutil.which("mount"):
        pytest.skip("no mount command here")
    view = tmp_path / "view"
    view.mkdir()
    ok = subprocess.run(["mount", "--bind", str(real), str(view)], check=False).returncode == 0
    ok = (
        ok
        and not subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(view)], check=False
        ).returncode
    )
    if not ok:
        subprocess.run(["umount", str(view)], check=False)
        pytest.skip("cannot make a read-only bind mount here")
    try:
        yield real, view
    finally:
        subprocess.run(["umount", str(view)], check=False)


def _seal(real: Path, view: Path) -> None:
    if real == view:
        real.chmod(0o500)


def test_read_only_directory_opens_read_only_and_refuses_writes(
    read_only_dir: tuple[Path, Path],
) -> None:
    real, view = read_only_dir
    make_db(real / "state.db")
    _seal(real, view)
    db = view / "state.db"
    with StateStore.open(db) as store:
        assert store.read_only
        assert len(store.list_quarantine(status=None)) == 3
        with pytest.raises(StateNotWritable) as info:
            store.set_folder_state("a", "INBOX", 7, 9)
        assert str(db) in str(info.value)


def test_cli_reads_on_a_read_only_filesystem(
    read_only_dir: tuple[Path, Path], tmp_path: Path
) -> None:
    real, view = read_only_dir
    make_db(real / "state.db")
    _seal(real, view)
    cfg = config_file(tmp_path, view / "state.db")
    for command in (["status"], ["quarantine", "list", "--all"]):
        listed = cli(*command, "--config", str(cfg))
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
    scan = cli("scan", "--once", "--config", str(cfg))
    assert scan.returncode == 1
    assert "Traceback" not in scan.stderr
    assert f"cannot write {view / 'state.db'}" in scan.stdout


# -- a full disk ---------------------------------------------------------------------------
@contextlib.contextmanager
def tiny_fs(where: Path, size: str = "1m") -> Iterator[Path]:
    where.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            check=False,
        ).returncode
    ):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def fill_up(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_mid_run_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs") as fs:
        db = fs / "state.db"
        make_db(db, items=2)
        store = StateStore.open(db)
        try:
            filler = fill_up(fs)
            with pytest.raises(StateDiskFull) as info:
                for i in range(2000):  # enough rows to need new pages
                    store.set_folder_state("a", f"folder {i:04d} " + "x" * 200, 7, i)
            assert str(fs) in str(info.value) and "is full" in str(info.value)
            assert len(store.list_quarantine(status=None)) == 2, "earlier records intact"
        finally:
            store.close()
        filler.unlink()
        with StateStore.open(db) as store:
            assert len(store.list_quarantine(status=None)) == 2


def test_full_disk_at_start_still_reads_and_names_the_problem(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs") as fs:
        db = fs / "state.db"
        make_db(db, items=2)
        fill_up(fs)
        with StateStore.open(db) as store:
            assert len(store.list_quarantine(status=None)) == 2
            with pytest.raises(StateDiskFull):
                store.set_folder_state("a", "INBOX", 7, 1)
        cfg = config_file(tmp_path, db)
        status = cli("status", "--config", str(cfg))
        assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
        scan = cli("scan", "--once", "--config", str(cfg))
        assert scan.returncode == 1 and "Traceback" not in scan.stderr
        assert f"the disk holding {fs} is full" in scan.stdout
        assert "nothing was moved after message 0" in scan.stdout


def test_translated_errors_keep_constraint_violations_raw(tmp_path: Path) -> None:
    """Only environmental failures become StateUnavailable; a bug stays visible as a bug."""
    make_db(tmp_path / "state.db")
    with (
        StateStore.open(tmp_path / "state.db") as store,
        pytest.raises(sqlite3.IntegrityError),
        store.transaction() as conn,
    ):
        conn.execute("DELETE FROM quarantine")  # the no-delete trigger aborts


# -- the writer lock ------------------------------------------------------------------------
def test_writer_lock_held_by_another_process_is_named(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_db(db)
    code = (
        "import sys, time; from mailguard.state.lock import WriterLock\n"
        f"with WriterLock({str(db)!r}):\n"
        "    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # The daemon lock names the same pid: the holder is "the daemon".
        (tmp_path / "state.db.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(WriterBusy) as info:
            WriterLock(db, wait=0.3).acquire()
        assert info.value.by_daemon and info.value.pid == holder.pid
        assert f"the daemon (pid {holder.pid}) is scanning; try again or stop it" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with WriterLock(db, wait=2.0):  # released when its holder died
        assert writer_lock_path_for(db).read_text().strip() == str(os.getpid())


def test_writer_lock_is_shared_by_the_threads_of_one_process(tmp_path: Path) -> None:
    import threading

    db = tmp_path / "state.db"
    outer = WriterLock(db, wait=0.2).acquire()
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            with WriterLock(db, wait=0.2):
                pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=poll)
    t.start()
    t.join()
    outer.release()
    assert errors == []


def test_scan_cli_refuses_while_the_writer_lock_is_held(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_db(db)
    code = (
        "import time; from mailguard.state.lock import WriterLock\n"
        f"with WriterLock({str(db)!r}):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = cli("scan", "--once", "--config", str(config_file(tmp_path, db)))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert f"another mailguard scan (pid {holder.pid}) is running" in done.stdout
    finally:
        holder.kill()
        holder.wait()


def test_doctor_rebuild_hint_is_runnable_text() -> None:
    """The recovery hint names commands that exist."""
    assert shutil.which(sys.executable)
    done = cli("doctor", "--help")
    assert done.returncode == 0 and "--rebuild" in done.stdout


def test_daemon_jobs_log_state_failures_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mailguard.daemon import state_guarded

    def poll() -> None:
        raise StateDiskFull(tmp_path / "state.db")

    state_guarded(poll)()  # no exception reaches APScheduler (which would log a traceback)
    [record] = [r for r in caplog.records if r.name == "mailguard.daemon"]
    assert record.levelname == "ERROR" and "is full" in str(record.__dict__)
    assert record.exc_info is None


def test_two_processes_opening_a_new_file_at_once_both_succeed(tmp_path: Path) -> None:
    """Two scanners opening a fresh state file at once: neither fails on the WAL switch.

    Both read the new file, then both want the exclusive lock for the switch;
    SQLite answers one of them "database is locked" at once (deadlock
    avoidance, no busy handler), so the open must retry.
    """
    import threading

    failures: list[BaseException] = []
    for trial in range(25):
        path = tmp_path / f"state{trial}.db"
        barrier = threading.Barrier(3)

        def open_it(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                with StateStore.open(path):
                    pass
            except BaseException as e:  # collected: asserted below
                failures.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
