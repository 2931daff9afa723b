"""Exceptions raised by :mod:`mailguard.state`.

They carry the facts a caller needs to act (the holder's pid, the existing
row's id, the current status) so the CLI can print a precise message without
parsing strings.
"""

from __future__ import annotations

from pathlib import Path


class StateError(Exception):
    """Base class: the state database refused or could not do something."""


class SchemaTooNew(StateError):
    """The file was written by a newer mailguard; opening it could corrupt it."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path}: state schema version {found} is newer than this mailguard "
            f"supports ({supported}); upgrade mailguard instead of downgrading it"
        )


class StateLocked(StateError):
    """Another process (normally a running daemon) holds the daemon lock."""

    def __init__(self, lock_path: Path, pid: int | None) -> None:
        self.lock_path = lock_path
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "another process"
        super().__init__(
            f"another mailguard daemon ({holder}) is already running on this state "
            f"database (lock file {lock_path}); stop it first"
        )


class UnknownItem(StateError, LookupError):
    """No quarantine row has this id."""

    def __init__(self, item_id: int) -> None:
        self.item_id = item_id
        super().__init__(f"no quarantine item with id {item_id}")


class InvalidTransition(StateError):
    """A status change that the move/release state machine does not allow."""

    def __init__(self, item_id: int, status: str, action: str, allowed: tuple[str, ...]) -> None:
        self.item_id = item_id
        self.status = status
        self.action = action
        self.allowed = allowed
        super().__init__(
            f"cannot {action} item {item_id}: its status is {status!r}, "
            f"expected {' or '.join(repr(s) for s in allowed)}"
        )


class DuplicateMessage(StateError):
    """A live row already records this (account, Message-ID, sha256)."""

    def __init__(self, existing_id: int, status: str) -> None:
        self.existing_id = existing_id
        self.status = status
        super().__init__(
            f"this message is already recorded as item {existing_id} (status {status!r})"
        )


# -- the file itself: full disk, damage, no write access ------------------------------------
# These say what happened to which path and what to do, in words fit for a terminal:
# the CLI prints them as they are, with no traceback.

RECOVERY_HINT = (
    "Run `mailguard doctor` to check it, and `mailguard doctor --rebuild` to keep the "
    "damaged file aside and rebuild the quarantine list from the Quarantine folder"
)


class StateUnavailable(StateError):
    """The state file cannot be used right now; ``path`` names it."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class StateDiskFull(StateUnavailable):
    """SQLite could not write: the filesystem holding the state file is full."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            f"the disk holding {path.parent} is full: the state database {path.name} "
            "could not be written; free some space and run mailguard again",
        )


class StateCorrupt(StateUnavailable):
    """The file is damaged, not a database, or its records are gone; it is left as it is."""

    def __init__(self, path: Path, what: str) -> None:
        self.what = what
        super().__init__(
            path,
            f"the state database {path} {what}. It was left untouched and nothing was "
            f"scanned. {RECOVERY_HINT}",
        )


class StateNotWritable(StateUnavailable):
    """The state file or its directory cannot be written (permissions, read-only fs)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(
            path,
            f"cannot write {path} ({reason}); check the permissions of {path.parent} "
            "and that its filesystem is not mounted read-only",
        )


class WriterBusy(StateError):
    """Another process is scanning with this state database (it holds the writer lock)."""

    def __init__(self, lock_path: Path, pid: int | None, by_daemon: bool) -> None:
        self.lock_path = lock_path
        self.pid = pid
        self.by_daemon = by_daemon
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        if by_daemon:
            text = f"the daemon ({holder}) is scanning; try again or stop it"
        else:
            text = f"another mailguard scan ({holder}) is running; try again when it has finished"
        super().__init__(f"{text} (lock file {lock_path})")
