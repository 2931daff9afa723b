"""The SQLite file: permissions, connections, transactions.

Thread model: **one connection per thread** (``threading.local``). The daemon
runs one poll job per account in APScheduler's thread pool and the CLI may
write from another *process* at the same time (``mailguard release`` while
the daemon runs), so serialising with a Python lock would not be enough
anyway. Instead every write transaction starts with ``BEGIN IMMEDIATE``: it
takes SQLite's write lock up front, waiting up to ``busy_timeout`` for other
writers, and can never fail half-way with the "database is locked" upgrade
error that a deferred transaction meets under WAL. WAL lets readers run
while one writer commits.

``synchronous = FULL``: a committed move intent must survive a power cut,
because the IMAP move happens right after the commit. WAL's cheaper
``NORMAL`` may drop the last transactions on power loss.

The database holds subjects and sender addresses of the user's mail, so the
directory is created 0700 and the file (and, following it, SQLite's -wal and
-shm files) 0600.

Opening checks the file before trusting it (:func:`check_existing_file`): a
0-byte file, a deleted one whose ``-wal`` is still there, a wrong header or a
failing ``PRAGMA quick_check`` is refused with :class:`StateCorrupt` -- never
silently replaced by a new, empty database, which would forget every
quarantined message. Only a brand-new install (no file, no ``-wal``) creates one.
When the directory or file is not writable (read-only filesystem, another
user's state dir) the file is opened read-only (``mode=ro``, else
``immutable=1``) so that ``status`` and ``quarantine list`` still work; a write
then raises :class:`StateNotWritable` naming the path. SQLite errors that mean
"the disk is full", "the file is damaged" or "no write access" are turned into
those :class:`StateUnavailable` errors at this one boundary, so the CLI can
print one clear sentence instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mailguard.state.codec import utcnow
from mailguard.state.errors import (
    StateCorrupt,
    StateDiskFull,
    StateError,
    StateNotWritable,
    StateUnavailable,
)

Clock = Callable[[], datetime]
DEFAULT_BUSY_TIMEOUT = 30.0  # seconds; writes are short, but a CLI may hold the lock briefly


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700 if it is missing, whatever the umask.

    An existing directory is left as it is: it may be a systemd
    ``StateDirectory=`` whose mode the administrator chose.
    """
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered through the umask


SQLITE_HEADER = b"SQLite format 3\x00"
_CORRUPT_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_NOT_WRITABLE_CODES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")


def sidecars(path: Path) -> list[Path]:
    """SQLite's companion files of ``path`` (WAL, shared memory, rollback journal)."""
    return [path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")]


def translate_error(exc: BaseException, path: Path) -> BaseException:
    """The :class:`StateUnavailable` an environmental failure means, else ``exc`` itself.

    Constraint violations and programming errors pass through unchanged: they are
    bugs or expected conditions the callers handle, not facts about the file.
    """
    if isinstance(exc, StateError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return StateCorrupt(path, f"holds text that is not valid UTF-8 ({exc.reason})")
    if isinstance(exc, sqlite3.Error):
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        text = str(exc)
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            return StateDiskFull(path)
        if name.startswith(_CORRUPT_CODES) or "malformed" in text or "not a database" in text:
            return StateCorrupt(path, f"is damaged ({text})")
        if name.startswith(_NOT_WRITABLE_CODES) or "readonly database" in text:
            return StateNotWritable(path, text)
        if name.startswith("SQLITE_IOERR"):
            # SQLite reports ENOSPC on the -wal/-shm as a generic I/O error: look at the disk.
            if _nearly_full(path.parent):
                return StateDiskFull(path)
            return StateUnavailable(path, f"cannot read or write {path}: {text}")
        return exc
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
            return StateDiskFull(path)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StateNotWritable(path, exc.strerror or str(exc))
        return StateUnavailable(path, f"cannot use {path}: {exc.strerror or exc}")
    return exc


def _nearly_full(directory: Path) -> bool:
    """Less than 64 KiB left for us on the filesystem holding ``directory``."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def check_existing_file(path: Path) -> bool:
    """Refuse a state file that cannot be the one we wrote; True if it exists.

    A missing file with its ``-wal`` still present, a 0-byte file, or a file
    without SQLite's header all mean the record of quarantined mail is gone or
    damaged. Creating a fresh database over it would hide that; so we stop.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            raise StateCorrupt(
                path,
                f"is missing but its write-ahead log {wal.name} is still there: the database "
                "was deleted or moved away while in use, and a new one would forget every "
                "quarantined message. Restore the file if you can",
            ) from None
        return False
    except OSError as e:
        raise translate_error(e, path) from None
    if not stat.S_ISREG(st.st_mode):
        raise StateCorrupt(path, "is not a regular file")
    if st.st_size == 0:
        raise StateCorrupt(
            path,
            "is empty (0 bytes): the record of earlier quarantined mail is gone. "
            "It is refused rather than silently started afresh",
        )
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise translate_error(e, path) from None
    if header != SQLITE_HEADER:
        raise StateCorrupt(path, "is not a SQLite database (its header is wrong)")
    return True


def writable(path: Path) -> bool:
    """Whether we may write the database (and its -wal/-shm next to it)."""
    directory = path.parent
    if not directory.exists():
        ancestor = next((p for p in directory.parents if p.exists()), Path("/"))
        return os.access(ancestor, os.W_OK | os.X_OK)
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    return not path.exists() or os.access(path, os.R_OK | os.W_OK)


def prepare_files(path: Path) -> None:
    """Create the parent directory (0700) and the database file (0600) if missing.

    An existing database file that others could read is tightened to 0600.
    """
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Database:
    """Per-thread connections to one SQLite file, plus a transaction helper."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = utcnow,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.now = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._uri: str | None = None
        existed = check_existing_file(self.path)
        self.read_only = bool(read_only) or not writable(self.path)
        # Why writes are refused when read-only; raised by transaction() and require_writable().
        self.write_error: StateUnavailable = StateNotWritable(
            self.path,
            "the file or its directory is read-only" if not read_only else "opened read-only",
        )
        try:
            if self.read_only:
                if not existed:
                    raise StateNotWritable(self.path, "it does not exist and cannot be created")
                self._open_read_only()
            else:
                try:
                    self._open_read_write()
                except StateDiskFull as full:
                    if not existed:
                        raise
                    # Reading needs no space: keep `status` and `quarantine list` working.
                    self._drop_connection()
                    self.read_only, self.write_error = True, full
                    self._open_read_only()
            if existed and "immutable" not in (self._uri or ""):
                # (An immutable view may see a concurrent writer's half-written pages; its
                # check would cry wolf. Real damage still shows on reading.)
                self._quick_check()
        except BaseException as e:
            self.close()
            raise translate_error(e, self.path) from e

    def _open_read_write(self) -> None:
        try:
            prepare_files(self.path)
            mode = self._switch_to_wal()
        except (OSError, sqlite3.Error) as e:
            raise translate_error(e, self.path) from e
        if str(mode).lower() != "wal":
            raise StateError(
                f"{self.path}: cannot switch to WAL mode (got {mode!r}); "
                "put the state file on a local filesystem"
            )

    def _switch_to_wal(self) -> str:
        """``PRAGMA journal_mode = WAL``, retried while another process holds the file.

        Two processes opening a new state file at once race for the switch;
        SQLite answers "database is locked" at once there instead of waiting
        on the busy handler, so we wait here, up to ``busy_timeout``.
        """
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return str(self.connection().execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as e:
                locked = "locked" in str(e) or "busy" in str(e)
                if not locked or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def require_writable(self) -> None:
        """Raise the reason writes are impossible (read-only, full disk), if any."""
        if self.read_only:
            raise self.write_error

    def _open_read_only(self) -> None:
        """``mode=ro`` (sees the WAL); if SQLite cannot set up its shared memory, ``immutable``."""
        base = "file:" + urllib.parse.quote(str(self.path))
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            self._uri = base + query
            try:
                self.connection().execute("SELECT count(*) FROM sqlite_master").fetchone()
                return
            except sqlite3.OperationalError:
                self._drop_connection()
        raise StateNotWritable(self.path, "it cannot even be opened read-only")

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            conn.close()

    def _quick_check(self) -> None:
        rows = self.connection().execute("PRAGMA quick_check(5)").fetchall()
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            raise StateCorrupt(self.path, "fails its integrity check: " + "; ".join(problems))

    # -- connections ---------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StateError(f"{self.path}: the state database is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.depth = 0
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGINs; transactions are explicit below.
        # check_same_thread=False only so close() may close every thread's connection;
        # each connection is still used by its own thread alone.
        try:
            conn = sqlite3.connect(
                self._uri or self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=self._uri is not None,
            )
        except sqlite3.Error as e:
            raise translate_error(e, self.path) from e
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self._uri is None:
                conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as e:
            conn.close()
            raise translate_error(e, self.path) from e
        return conn

    def close(self) -> None:
        """Close every thread's connection. Call once no job is running any more."""
        with self._all_lock:
            conns, self._all = self._all, []
            self._closed = True
        for conn in conns:
            conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, or ROLLBACK on error.

        Nesting is allowed: an inner block becomes a SAVEPOINT, so a caller can
        group several store methods into one atomic unit and an inner failure
        that the caller catches undoes only the inner block.
        """
        self.require_writable()
        conn = self.connection()
        depth: int = self._local.depth
        savepoint = f"mg_sp_{depth}"
        try:
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
        except sqlite3.Error as e:
            raise translate_error(e, self.path) from e
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException as e:
            self._local.depth = depth
            with contextlib.suppress(sqlite3.Error):  # a full disk may fail the rollback too
                if conn.in_transaction:
                    if depth == 0:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
            translated = translate_error(e, self.path)
            if translated is e:
                raise
            raise translated from e
        self._local.depth = depth
        try:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
        except BaseException as e:
            if depth == 0 and conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            translated = translate_error(e, self.path)
            if translated is e:
                raise
            raise translated from e

    # -- reads ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except (sqlite3.Error, UnicodeDecodeError) as e:
            translated = translate_error(e, self.path)
            if translated is e:
                raise
            raise translated from e

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self.connection().execute(sql, params).fetchone()
        except (sqlite3.Error, UnicodeDecodeError) as e:
            translated = translate_error(e, self.path)
            if translated is e:
                raise
            raise translated from e
        return row


class Repository:
    """Base of the table-group classes that make up the store; they share one Database."""

    _db: Database
