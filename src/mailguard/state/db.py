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
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mailguard.state.codec import utcnow
from mailguard.state.errors import StateError

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
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.now = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        prepare_files(self.path)
        mode = self.connection().execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self.close()
            raise StateError(
                f"{self.path}: cannot switch to WAL mode (got {mode!r}); "
                "put the state file on a local filesystem"
            )

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
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
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
        conn = self.connection()
        depth: int = self._local.depth
        savepoint = f"mg_sp_{depth}"
        conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            self._local.depth = depth
            if conn.in_transaction:
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
            raise
        self._local.depth = depth
        try:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
        except BaseException:
            if depth == 0 and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- reads ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.connection().execute(sql, params).fetchone()
        return row


class Repository:
    """Base of the table-group classes that make up the store; they share one Database."""

    _db: Database
