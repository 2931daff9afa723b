"""``StateStore``: the one object the pipeline, daemon and CLI hold.

It owns the :class:`~mailguard.state.db.Database` (file, connections,
migrations) and exposes the table groups' methods. Each group lives in its
own module and touches only its own tables -- folders, quarantine moves,
releases, digests, account status, audit -- so ``StateStore`` itself is just
the lifecycle plus composition. Every write method commits before it returns;
to make several of them atomic together, wrap them in ``store.transaction()``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from mailguard.state.audit import AuditOps
from mailguard.state.codec import utcnow
from mailguard.state.db import DEFAULT_BUSY_TIMEOUT, Clock, Database
from mailguard.state.digests import DigestOps
from mailguard.state.folders import FolderStateOps
from mailguard.state.learning import LearningOps
from mailguard.state.lock import DaemonLock
from mailguard.state.quarantine import QuarantineOps
from mailguard.state.releases import ReleaseOps
from mailguard.state.schema import migrate, schema_version
from mailguard.state.status import StatusOps


class StateStore(
    FolderStateOps, QuarantineOps, ReleaseOps, DigestOps, StatusOps, AuditOps, LearningOps
):
    """The state database. Thread-safe: one SQLite connection per thread (see ``db``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = utcnow,
    ) -> None:
        """Open (creating the directory 0700 and file 0600) and migrate to the latest schema."""
        self._db = Database(Path(path).expanduser(), busy_timeout=busy_timeout, clock=clock)
        try:
            migrate(self._db.connection(), self._db.path)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = utcnow,
    ) -> StateStore:
        return cls(path, busy_timeout=busy_timeout, clock=clock)

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def schema_version(self) -> int:
        return schema_version(self._db.connection())

    def close(self) -> None:
        """Close all connections. Stop the scheduler's jobs first."""
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group several write methods into one atomic commit (nested ones become savepoints)."""
        with self._db.transaction() as conn:
            yield conn

    def daemon_lock(self) -> DaemonLock:
        """The lock ``mailguard run`` must hold: ``with store.daemon_lock(): ...``.

        Raises :class:`~mailguard.state.errors.StateLocked` on entry if another
        daemon holds it.
        """
        return DaemonLock(self._db.path)
