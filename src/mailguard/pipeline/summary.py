"""What one account's pass did, for the CLI line, ``status`` and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ScanSummary:
    """Counts of one pass over one account (a dry run counts what it would have done)."""

    account: str
    scanned: int = 0
    quarantined: int = 0
    suspicious: int = 0
    errors: int = 0  # messages skipped because they could not be handled
    reached: bool = True
    error: str | None = None
    dry_run: bool = False
    planned: list[str] = field(default_factory=list)  # dry-run: what would have moved
    commands: dict[str, int] = field(default_factory=dict)  # IMAP commands sent, by verb
    last_message_error: str | None = None
    error_kind: str | None = None  # why the account was not reached (metrics label)
    error_kinds: Counter[str] = field(default_factory=Counter)  # skipped messages, by kind
    # dry run: what the server said about the folders (mailguard.imap.probe), and which of
    # those findings would make the real pass fail (e.g. a quarantine folder it refuses)
    resolution: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.reached:
            return f"{self.account}: NOT REACHED: {self.error}"
        verb = "would quarantine" if self.dry_run else "quarantined"
        return (
            f"{self.account}: scanned {self.scanned}, {verb} {self.quarantined}, "
            f"suspicious {self.suspicious}, errors {self.errors}"
        )
