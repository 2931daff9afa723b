"""The mail-client interface the pipeline talks to.

The pipeline never touches imapclient directly. It sees this small protocol,
which has a real IMAP implementation (and, for tests, in-memory doubles).
That keeps the safety rules -- peek only, UID commands only, never a
mailbox-wide EXPUNGE -- in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from mailguard.imap.folders import ListedFolder, Namespace


class MailClientError(Exception):
    """Any failure talking to the server, with a reason fit for a log line."""


class AuthenticationFailed(MailClientError):
    """Wrong credentials; retrying soon will not help."""


class ConnectionLost(MailClientError):
    """The connection dropped, timed out or got BYE; reconnecting may help."""


class FolderNotFound(MailClientError):
    """The folder does not exist (a configured folder was renamed or deleted)."""


class MessageNotFound(MailClientError):
    """The UID is no longer in the folder: another client moved or expunged it."""


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uidvalidity: int
    uidnext: int
    messages: int


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched with BODY.PEEK[] (possibly capped)."""

    uid: int
    raw: bytes
    size: int  # RFC822.SIZE, the full size on the server
    flags: tuple[str, ...]
    internaldate: datetime | None
    truncated: bool = False


@dataclass(frozen=True)
class MoveResult:
    """Where a moved message now is. ``dest_uid`` is None when the server did not say."""

    method: str  # "move" | "uidplus" | "copy-only" | "gmail-labels" | "dry-run"
    dest_uid: int | None = None
    dest_uidvalidity: int | None = None
    removed_from_source: bool = True


@dataclass
class CommandCounter:
    """Counts IMAP commands by name, for the 'no FETCH on an unchanged poll' promise.

    ``counts`` is keyed by the command verb ("FETCH", "SEARCH", "EXPUNGE"), whether
    or not it was sent in its UID form; ``uid_counts`` counts only the UID forms,
    so ``counts["EXPUNGE"] - uid_counts["EXPUNGE"]`` is the number of mailbox-wide
    EXPUNGEs (which must stay 0; see :meth:`plain`).
    """

    counts: dict[str, int] = field(default_factory=dict)
    uid_counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, *, uid: bool = False) -> None:
        name = name.upper()
        self.counts[name] = self.counts.get(name, 0) + 1
        if uid:
            self.uid_counts[name] = self.uid_counts.get(name, 0) + 1

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name.upper(), 0)

    def plain(self, name: str) -> int:
        """How many times ``name`` was sent without the UID prefix."""
        name = name.upper()
        return self.counts.get(name, 0) - self.uid_counts.get(name, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class MailClient(Protocol):
    """What the pipeline needs from a mail store.

    Every method raises :class:`MailClientError` (or a subclass) on failure and
    nothing else; after :class:`ConnectionLost` the client is dead and the caller
    reconnects. Flags never include the per-session ``\\Recent``.
    """

    commands: CommandCounter

    @property
    def capabilities(self) -> frozenset[str]: ...

    def folder_status(self, folder: str) -> FolderStatus:
        """STATUS (UIDVALIDITY UIDNEXT MESSAGES) without selecting."""

    def select(self, folder: str, readonly: bool = False) -> FolderStatus:
        """SELECT/EXAMINE now (fresh counts); other methods reuse the current selection."""

    def search_uids(self, folder: str, *, min_uid: int = 1, since: date | None = None) -> list[int]:
        """UID SEARCH for UIDs >= min_uid (and SINCE date); selects ``folder``."""

    def fetch(self, folder: str, uids: Sequence[int], max_bytes: int) -> Iterable[FetchedMessage]:
        """BODY.PEEK[]<0.max_bytes> RFC822.SIZE FLAGS INTERNALDATE; never sets \\Seen."""

    def ensure_folder(self, folder: str) -> None:
        """CREATE + SUBSCRIBE if missing."""

    def move(self, folder: str, uid: int, dest: str) -> MoveResult:
        """MOVE, else UID COPY + UID STORE \\Deleted + UID EXPUNGE; never plain EXPUNGE.

        Flags travel with the message. Raises :class:`MessageNotFound` when
        ``uid`` is no longer in ``folder`` and :class:`FolderNotFound` when
        ``dest`` does not exist (call :meth:`ensure_folder` first).
        """

    def expunge_uid(self, folder: str, uid: int) -> None:
        """Delete exactly one message: UID STORE \\Deleted + UID EXPUNGE <uid>.

        For finishing a move a crash interrupted after the copy. Needs UIDPLUS;
        without it this raises MailClientError rather than risk a plain EXPUNGE.
        """

    def unflag_deleted(self, folder: str, uid: int) -> None:
        """Remove ``\\Deleted`` from one UID (undo our half-done move; never expunges)."""

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        """UID SEARCH HEADER Message-ID; selects ``folder``."""

    def get_flags(self, folder: str, uids: Sequence[int]) -> dict[int, tuple[str, ...]]: ...

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int | None:
        """APPEND; the new UID when the server reports it (APPENDUID), else None."""

    def sent_folder(self) -> str | None:
        """SPECIAL-USE \\Sent, else a common name under the personal namespace, else None."""

    def resolve_folder(self, name: str) -> str:
        """The server's name for a configured folder name (namespace prefix, separator)."""

    def namespace(self) -> Namespace:
        """The personal namespace's prefix and separator (NAMESPACE, else LIST "" "")."""

    def list_folders(self, pattern: str = "*") -> list[ListedFolder]:
        """LIST "" ``pattern``; attributes lower-cased."""

    def my_rights(self, folder: str) -> str | None:
        """MYRIGHTS on ``folder`` when the server has ACLs, else None."""

    def set_read_only(self, read_only: bool) -> None:
        """Dry run: open folders with EXAMINE and refuse every command that changes mail."""

    def search_sent_to(self, folder: str, address: str) -> list[datetime]:
        """Dates of mail in ``folder`` addressed To/Cc/Bcc ``address`` (or a domain), by header."""

    def noop(self) -> None:
        """Cheap liveness check for a connection kept open between polls."""

    @property
    def closed(self) -> bool: ...

    def logout(self) -> None: ...
