"""A MailClient that reads for real and writes nothing.

``--dry-run`` must show exactly what a real run would do on the real mailbox,
so every read passes through to the real client, while ``move``, ``append``
and ``ensure_folder`` only log what they would have done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from mailguard.imap.base import CommandCounter, FetchedMessage, FolderStatus, MailClient, MoveResult

log = logging.getLogger(__name__)


class DryRunMailClient:
    """Wraps any MailClient; the mailbox is never changed through it."""

    def __init__(self, inner: MailClient) -> None:
        self.inner = inner

    @property
    def commands(self) -> CommandCounter:
        return self.inner.commands

    @property
    def capabilities(self) -> frozenset[str]:
        return self.inner.capabilities

    # -- reads pass through ---------------------------------------------------

    def folder_status(self, folder: str) -> FolderStatus:
        return self.inner.folder_status(folder)

    def select(self, folder: str, readonly: bool = False) -> FolderStatus:
        return self.inner.select(folder, readonly)

    def search_uids(self, folder: str, *, min_uid: int = 1, since: date | None = None) -> list[int]:
        return self.inner.search_uids(folder, min_uid=min_uid, since=since)

    def fetch(self, folder: str, uids: Sequence[int], max_bytes: int) -> Iterable[FetchedMessage]:
        return self.inner.fetch(folder, uids, max_bytes)

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        return self.inner.find_by_message_id(folder, message_id)

    def get_flags(self, folder: str, uids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return self.inner.get_flags(folder, uids)

    def sent_folder(self) -> str | None:
        return self.inner.sent_folder()

    def search_sent_to(self, folder: str, address: str) -> list[datetime]:
        return self.inner.search_sent_to(folder, address)

    def noop(self) -> None:
        self.inner.noop()

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def logout(self) -> None:
        self.inner.logout()

    # -- writes are logged and skipped -----------------------------------------

    def ensure_folder(self, folder: str) -> None:
        log.info("dry-run: would create folder %s if missing", folder)

    def move(self, folder: str, uid: int, dest: str) -> MoveResult:
        log.info("dry-run: would move UID %s from %s to %s", uid, folder, dest)
        return MoveResult(method="dry-run", removed_from_source=False)

    def expunge_uid(self, folder: str, uid: int) -> None:
        log.info("dry-run: would delete UID %s from %s (UID EXPUNGE)", uid, folder)

    def unflag_deleted(self, folder: str, uid: int) -> None:
        log.info("dry-run: would remove \\Deleted from UID %s in %s", uid, folder)

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int | None:
        log.info("dry-run: would append %d bytes to %s", len(raw), folder)
        return None
