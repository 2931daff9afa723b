"""SQLite (WAL) state: folder sync, quarantine records, released senders, audit log.

Open with ``StateStore.open(settings.state.path)``; the daemon additionally
holds ``daemon_lock(settings.state.path)`` for as long as it runs. Statuses,
verdicts and outcomes are the enums of :mod:`mailguard.vocabulary`; the
record state machine is :data:`TRANSITIONS`.
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
from mailguard.state.quarantine import RECONCILE_OUTCOMES, normalize_message_id
from mailguard.state.records import (
    LIVE_STATUSES,
    TRANSITIONS,
    AccountStatus,
    AuditEntry,
    DigestRecord,
    FolderState,
    MessageError,
    NewItem,
    QuarantineRecord,
    ReleasedSender,
    may_transition,
)
from mailguard.state.schema import LATEST_VERSION
from mailguard.state.store import StateStore
from mailguard.vocabulary import ReconcileOutcome, Status  # the words rows are written in

__all__ = [
    "DIGEST_KINDS",
    "KIND_ALERT",
    "KIND_DIGEST",
    "LATEST_VERSION",
    "LIVE_STATUSES",
    "RECONCILE_OUTCOMES",
    "TRANSITIONS",
    "AccountStatus",
    "AuditEntry",
    "DaemonLock",
    "DigestRecord",
    "DuplicateMessage",
    "FolderState",
    "InvalidTransition",
    "MessageError",
    "NewItem",
    "QuarantineRecord",
    "ReconcileOutcome",
    "ReleasedSender",
    "SchemaTooNew",
    "StateError",
    "StateLocked",
    "StateStore",
    "Status",
    "UnknownItem",
    "daemon_lock",
    "lock_path_for",
    "may_transition",
    "normalize_message_id",
]
