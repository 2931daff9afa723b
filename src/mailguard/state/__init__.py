"""SQLite (WAL) state: folder sync, quarantine records, released senders, audit log.

Open with ``StateStore.open(settings.state.path)``; the daemon additionally
holds ``daemon_lock(settings.state.path)`` for as long as it runs.
"""

from mailguard.state.digests import DIGEST_KINDS, KIND_ALERT, KIND_DIGEST
from mailguard.state.errors import (
    DuplicateMessage,
    InvalidTransition,
    SchemaTooNew,
    StateError,
    StateLocked,
    UnknownItem,
)
from mailguard.state.lock import DaemonLock, daemon_lock, lock_path_for
from mailguard.state.quarantine import RECONCILE_OUTCOMES, ReconcileOutcome
from mailguard.state.records import (
    DIGEST_ALERTED,
    DIGEST_PENDING,
    DIGEST_SENT,
    FAILED,
    PENDING_MOVE,
    QUARANTINED,
    RELEASED,
    RELEASING,
    STATUSES,
    SUSPICIOUS,
    AccountStatus,
    AuditEntry,
    DigestRecord,
    FolderState,
    QuarantineRecord,
    ReleasedSender,
)
from mailguard.state.schema import LATEST_VERSION
from mailguard.state.store import StateStore

StateDB = StateStore  # the name docs/DESIGN.md uses

__all__ = [
    "DIGEST_ALERTED",
    "DIGEST_KINDS",
    "DIGEST_PENDING",
    "DIGEST_SENT",
    "FAILED",
    "KIND_ALERT",
    "KIND_DIGEST",
    "LATEST_VERSION",
    "PENDING_MOVE",
    "QUARANTINED",
    "RECONCILE_OUTCOMES",
    "RELEASED",
    "RELEASING",
    "STATUSES",
    "SUSPICIOUS",
    "AccountStatus",
    "AuditEntry",
    "DaemonLock",
    "DigestRecord",
    "DuplicateMessage",
    "FolderState",
    "InvalidTransition",
    "QuarantineRecord",
    "ReconcileOutcome",
    "ReleasedSender",
    "SchemaTooNew",
    "StateDB",
    "StateError",
    "StateLocked",
    "StateStore",
    "UnknownItem",
    "daemon_lock",
    "lock_path_for",
]
