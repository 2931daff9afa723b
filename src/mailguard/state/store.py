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
from mailguard.state.db import DEFAULT_BUSY_TIMEOUT, Clock, Database, translate_error
from mailguard.state.digests import DigestOps
from mailguard.state.errors import StateNotWritable
from mailguard.state.folders import FolderStateOps
from mailguard.state.learning import LearningOps
from mailguard.state.lock import DaemonLock, opening_lock
from mailguard.state.mailapp import MailAppOps
from mailguard.state.message_errors import MessageErrorOps
from mailguard.state.quarantine import QuarantineOps
from mailguard.state.reconcile_queries import ReconcileQueryOps
from mailguard.state.releases import ReleaseOps
from mailguard.state.schema import LATEST_VERSION, migrate, schema_version
from mailguard.state.status import StatusOps


class StateStore(
    FolderStateOps,
    QuarantineOps,
    ReleaseOps,
    DigestOps,
    StatusOps,
    AuditOps,
    MessageErrorOps,
    MailAppOps,
    ReconcileQueryOps,
    LearningOps,
):
    """The state database. Thread-safe: one SQLite connection per thread (see ``db``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = utcnow,
        read_only: bool = False,
    ) -> None:
        """Open (creating the directory 0700 and file 0600) and migrate to the latest schema.

        Refuses a damaged, emptied or vanished database (:class:`StateCorrupt`)
        instead of starting afresh over it. Opens read-only -- by request or
        because the file or its directory is not writable -- so that reading
        commands still work; writes then raise :class:`StateNotWritable`.
        """
        db_path = Path(path).expanduser()
        with contextlib.ExitStack() as opening:
            if not read_only:
                opening.enter_context(opening_lock(db_path, busy_timeout))
            self._db = Database(
                db_path, busy_timeout=busy_timeout, clock=clock, read_only=read_only
            )
            try:
                if self._db.read_only:
                    if schema_version(self._db.connection()) < LATEST_VERSION:
                        raise StateNotWritable(
                            self._db.path, "its schema needs upgrading, which needs write access"
                        )
                else:
                    migrate(self._db.connection(), self._db.path)
            except BaseException as e:
                self._db.close()
                translated = translate_error(e, self._db.path)
                if translated is e:
                    raise
                raise translated from e

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = utcnow,
        read_only: bool = False,
    ) -> StateStore:
        return cls(path, busy_timeout=busy_timeout, clock=clock, read_only=read_only)

    def require_writable(self) -> None:
        """Raise :class:`StateNotWritable` / :class:`StateDiskFull` if writes cannot succeed."""
        self._db.require_writable()

    @property
    def read_only(self) -> bool:
        """True when opened read-only (asked for, or the file/directory is not writable)."""
        return self._db.read_only

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
