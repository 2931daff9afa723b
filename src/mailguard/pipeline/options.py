"""Small per-layer option objects, built once from ``Settings`` by the composition root.

The scanner used to receive the whole ``Settings`` and the 25-field
``AccountConfig`` and pick what it needed deep inside. These say, in their
type, what each part of the pipeline actually depends on, and are trivial to
build in a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailguard.config import AccountConfig, DetectionConfig, ScanConfig


@dataclass(frozen=True)
class ScanLimits:
    """How much one pass may read: look-back window, batch size, size caps."""

    initial_days: int = 30
    batch_size: int = 100
    max_message_size: int = 2 * 1024 * 1024
    max_part_size: int = 512 * 1024
    check_sent_folder: bool = True
    pass_deadline: float = 600.0  # seconds one account's pass may take, however slow the server

    @classmethod
    def from_config(cls, scan: ScanConfig) -> ScanLimits:
        return cls(
            initial_days=scan.initial_days,
            batch_size=scan.batch_size,
            max_message_size=int(scan.max_message_size),
            max_part_size=int(scan.max_part_size),
            check_sent_folder=scan.check_sent_folder,
            pass_deadline=float(scan.pass_deadline),
        )


@dataclass(frozen=True)
class QuarantinePolicy:
    """Which verdicts are moved (scams always; suspicious mail only when asked to)."""

    quarantine_suspicious: bool = False

    @classmethod
    def from_config(cls, detection: DetectionConfig) -> QuarantinePolicy:
        return cls(quarantine_suspicious=detection.quarantine_suspicious)


@dataclass(frozen=True)
class AccountScope:
    """What the scanner needs to know about one mailbox: where to look and where to put."""

    name: str
    folders: tuple[str, ...]
    quarantine_folder: str
    sent_folder: str | None = None
    trusted_senders: frozenset[str] = frozenset()
    # The mailbox owner's own addresses (login name, digest recipient): mail from them
    # is never taken for a scammer's, even if a scam once forged one of them as From.
    own_addresses: frozenset[str] = frozenset()

    @classmethod
    def from_account(cls, account: AccountConfig) -> AccountScope:
        own = {a.strip().lower() for a in (account.username, account.recipient) if "@" in a}
        return cls(
            name=account.name,
            folders=tuple(account.folders),
            quarantine_folder=account.quarantine_folder,
            sent_folder=account.sent_folder,
            trusted_senders=frozenset(account.trusted_senders),
            own_addresses=frozenset(own),
        )
