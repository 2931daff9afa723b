"""One daemon per state file.

Two daemons on one state file would both poll, both move and both send
digests. ``mailguard run`` therefore takes an exclusive, non-blocking
``flock`` on ``<state>.lock`` and writes its pid there, so a second start can
say *which* process holds it.

``flock`` rather than a pid file alone: the kernel drops the lock when the
holder dies, however it dies, so a crash never leaves a stale lock that
needs manual cleaning. The lock file is never deleted: unlinking it while
another process is opening it would let two processes "hold" locks on two
different files. The descriptor is close-on-exec, so a child process (a
``password_command``) cannot inherit the lock and keep it after we exit.
Short-lived commands (``release``, ``status``) do not take
this lock; they share the database through SQLite's own locking.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from mailguard.state.db import ensure_private_dir, translate_error
from mailguard.state.errors import StateLocked, WriterBusy


def lock_path_for(db_path: Path) -> Path:
    """``state.db`` -> ``state.db.lock``, next to the database."""
    return db_path.with_name(db_path.name + ".lock")


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class DaemonLock:
    """An exclusive lock on ``<db>.lock``; use as a context manager or acquire/release."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = lock_path_for(Path(db_path).expanduser())
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DaemonLock:
        """Take the lock or raise :class:`StateLocked` naming the holder's pid. Never blocks."""
        if self._fd is not None:
            return self
        try:
            ensure_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:  # read-only filesystem, someone else's directory, full disk
            raise translate_error(e, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            pid = _read_pid(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateLocked(self.path, pid) from None
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            os.close(fd)  # closing drops the lock too
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no stale pid for the next reader
        os.close(fd)  # releases the flock

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def daemon_lock(db_path: str | os.PathLike[str]) -> DaemonLock:
    """``with daemon_lock(settings.state.path): run()`` -- raises StateLocked on entry."""
    return DaemonLock(Path(db_path).expanduser())


# -- the writer lock: one scanning process per state database -------------------------------
#
# The daemon lock above is held for a daemon's whole life. The *writer* lock is held
# while a pass moves mail and writes state: by the daemon during each poll and by
# `scan --once` for its run. Without it a `scan --once` next to a running daemon
# fetched the same new message twice and both recorded a move intent
# (DuplicateMessage ... 'pending_move'). flock conflicts between two open file
# descriptions even inside one process, so the daemon's poll threads share one
# descriptor through a per-process reference count.

WRITER_LOCK_WAIT = 10.0  # seconds a scan waits for another one to finish its pass


def writer_lock_path_for(db_path: Path) -> Path:
    """``state.db`` -> ``state.db.writer.lock``."""
    return db_path.with_name(db_path.name + ".writer.lock")


_held: dict[Path, list[int]] = {}  # path -> [descriptor, holders in this process]
_held_lock = threading.Lock()


class WriterLock:
    """The writer lock of one state database; reentrant within this process.

    ``acquire()`` waits up to ``wait`` seconds for another process, then raises
    :class:`WriterBusy` naming it (and saying whether it is the daemon).
    """

    def __init__(self, db_path: str | os.PathLike[str], *, wait: float = WRITER_LOCK_WAIT):
        self.path = writer_lock_path_for(Path(db_path).expanduser())
        self.wait = wait
        self._key = Path(os.path.abspath(self.path))
        self._mine = False

    def acquire(self) -> WriterLock:
        if self._mine:
            return self
        with _held_lock:  # threads of this process queue here, then share the descriptor
            held = _held.get(self._key)
            if held is None:
                held = [_acquire(self.path, self.wait), 0]
                _held[self._key] = held
            held[1] += 1
        self._mine = True
        return self

    def release(self) -> None:
        if not self._mine:
            return
        self._mine = False
        with _held_lock:
            held = _held[self._key]
            held[1] -= 1
            if held[1] == 0:
                del _held[self._key]
                with contextlib.suppress(OSError):
                    os.ftruncate(held[0], 0)
                os.close(held[0])

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _acquire(path: Path, wait: float) -> int:
    try:
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise translate_error(e, path) from None
    try:
        locked = _flock_within(fd, wait, poll=0.1)
    except OSError:
        os.close(fd)
        raise
    if not locked:
        pid = _read_pid(fd)
        os.close(fd)
        raise WriterBusy(path, pid, pid is not None and pid == _daemon_pid(path)) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass  # the lock is what matters; the pid is only for the message
    return fd


def _flock_within(fd: int, wait: float, *, poll: float) -> bool:
    """Take an exclusive flock on ``fd``, retrying for up to ``wait`` seconds.

    True when taken, False when another holder kept it the whole time; other
    errors raise.
    """
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


def _daemon_pid(writer_path: Path) -> int | None:
    """The pid written in the daemon lock file next to ``writer_path``, if any."""
    daemon_path = writer_path.with_name(writer_path.name.removesuffix(".writer.lock") + ".lock")
    try:
        fd = os.open(daemon_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _flock_holders(path: Path) -> set[int] | None:
    """Pids holding an flock on ``path``'s inode according to /proc/locks (None: unknown).

    Read-only: taking even a shared lock to test would, for an instant, make a
    daemon that starts right then refuse to run.
    """
    try:
        ino = path.stat().st_ino
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    pids: set[int] = set()
    for line in text.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF"; "->" marks a blocked waiter
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        pid, dev_ino = fields[4], fields[5]
        if dev_ino.rpartition(":")[2] == str(ino) and pid.isdigit():
            pids.add(int(pid))
    return pids


def daemon_pid(db_path: str | os.PathLike[str]) -> int | None:
    """The pid of the ``mailguard run`` holding ``db_path``'s lock, or None when no daemon
    runs on this state file (for ``status``; 0: running, pid unknown)."""
    path = lock_path_for(Path(db_path).expanduser())
    if not path.exists():
        return None
    recorded = _read_pid_file(path)
    holders = _flock_holders(path)
    if holders is not None:
        if not holders:
            return None
        # The pid file names the holder; an inode clash on another device would not match it.
        if recorded in holders:
            return recorded
        return None if recorded else min(holders)
    try:  # no /proc/locks: fall back to trying the lock (shared, released at once)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return recorded or 0
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def opening_lock(db_path: Path, timeout: float) -> Iterator[None]:
    """Serialise *opening* the state file (check, create, switch to WAL, migrate).

    Two processes starting at once on a machine without a state file would
    otherwise see each other's half-made file: one finds the other's new
    0-byte file and calls it emptied, or loses the race for the WAL switch.
    Waits up to ``timeout``; without a writable directory (read-only opens)
    there is nothing to serialise and no lock is taken.
    """
    fd = _open_lock_file(db_path.with_name(db_path.name + ".open.lock"))
    if fd is None:
        yield
        return
    try:
        # On timeout, proceed unserialised rather than hang: the checks still run.
        _flock_within(fd, timeout, poll=0.02)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _open_lock_file(path: Path) -> int | None:
    try:
        ensure_private_dir(path.parent)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except Exception:  # a read-only place: opening there cannot race on creation
        return None
