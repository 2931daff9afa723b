"""The client-side decisions every :class:`~mailguard.imap.base.MailClient` makes alike.

Why one place: :class:`~mailguard.imap.client.ImapMailClient` talks to a real
server and :class:`~mailguard.testing.memory_mail.MemoryMailClient` to an
in-memory one, but what they *decide* must be the same -- when a folder is
re-selected and whether with EXAMINE, what read-only mode refuses, MOVE vs
UIDPLUS vs copy-only, when a source may be deleted, how a Sent-folder search
target is read. Kept twice, the test double could drift from the client it
stands in for and the fast tests would prove something about neither. Here the
decisions are written once; each client supplies only the commands
(``_select``, ``_delete_one``, the three move strategies).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from mailguard.imap.base import FolderStatus, MailClientError, MessageNotFound, MoveResult

__all__ = ["GMAIL_CAPABILITY", "ClientDecisions", "addresses_match", "sent_search_target"]

GMAIL_CAPABILITY = "X-GM-EXT-1"


class ClientDecisions(ABC):
    """Selection cache, read-only guard and move strategy, over a client's own commands."""

    where: str
    _caps: frozenset[str]
    _selected: str | None
    _selected_readonly: bool
    _selected_status: FolderStatus | None
    _read_only: bool

    # -- what each client supplies ----------------------------------------------------

    @abstractmethod
    def resolve_folder(self, name: str) -> str:
        """The server's name for a configured folder name."""

    @abstractmethod
    def _select(self, folder: str, *, readonly: bool) -> FolderStatus:
        """SELECT (or EXAMINE) a resolved ``folder`` now and remember it as selected."""

    @abstractmethod
    def _delete_one(self, uid: int) -> None:
        """\\Deleted on one UID, then UID EXPUNGE of that UID only (selected folder)."""

    @abstractmethod
    def _move_with_move(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        """UID MOVE, finding the copy's UID when the server does not say it."""

    @abstractmethod
    def _move_with_uidplus(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        """UID COPY, then :meth:`_uidplus_copied` with what COPYUID said."""

    @abstractmethod
    def _copy_only(self, folder: str, uid: int, dest: str) -> MoveResult:
        """UID COPY and nothing else: the original stays where it is."""

    # -- the decisions ----------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        return self._caps

    @property
    def is_gmail(self) -> bool:
        return GMAIL_CAPABILITY in self._caps

    def set_read_only(self, read_only: bool) -> None:
        """Read-only mode (a dry run): EXAMINE only; CREATE, MOVE, COPY, STORE,
        EXPUNGE and APPEND are refused before they reach the wire."""
        if read_only != self._read_only and self._selected is not None:
            self._selected = None  # a SELECT made before must not be reused read-only
        self._read_only = read_only

    def _ensure_selected(
        self, folder: str, *, writable: bool = False, examine: bool = False
    ) -> FolderStatus:
        """Select ``folder`` (a resolved name) unless it already is.

        ``writable``: we are about to change it (SELECT, refused in read-only mode);
        ``examine``: we only read it, so a fresh selection is EXAMINE. Otherwise a
        fresh selection is SELECT (a scanned folder we may move mail out of), or
        EXAMINE in read-only mode.
        """
        if writable:
            self._refuse_write("change " + folder)
        cached = self._selected == folder and self._selected_status is not None
        if cached and not (writable and self._selected_readonly):
            assert self._selected_status is not None
            return self._selected_status
        return self._select(folder, readonly=not writable and (examine or self._read_only))

    def _refuse_write(self, what: str) -> None:
        if self._read_only:
            raise MailClientError(f"{self.where}: refusing to {what}: this is a read-only pass")

    def move(self, folder: str, uid: int, dest: str) -> MoveResult:
        """Move one message, keeping its flags; never a mailbox-wide EXPUNGE.

        MOVE when offered; else UID COPY + UID STORE \\Deleted + UID EXPUNGE <uid>
        with UIDPLUS; else copy only (the original stays, with a warning). On
        Gmail (X-GM-EXT-1) the method is reported as "gmail-labels": folders are
        labels there, and the message leaves the source label but stays in All Mail.

        Raises MessageNotFound if ``uid`` is no longer in ``folder`` and
        FolderNotFound if ``dest`` does not exist.
        """
        folder, dest = self.resolve_folder(folder), self.resolve_folder(dest)
        uid = int(uid)
        self._ensure_selected(folder, writable=True)
        caps = self._caps
        if "MOVE" in caps:
            method = "gmail-labels" if self.is_gmail else "move"
            return self._move_with_move(folder, uid, dest, method)
        if "UIDPLUS" in caps:
            method = "gmail-labels" if self.is_gmail else "uidplus"
            return self._move_with_uidplus(folder, uid, dest, method)
        return self._copy_only(folder, uid, dest)

    def _uidplus_copied(
        self, folder: str, uid: int, method: str, dest_uid: int | None, validity: int | None
    ) -> MoveResult:
        """After UID COPY on a UIDPLUS server: delete the source only if the copy exists."""
        if dest_uid is None:
            # UIDPLUS servers answer every successful copy with COPYUID; none means
            # nothing was copied, and then nothing may be deleted.
            raise MessageNotFound(f"{self.where}: UID {uid} is no longer in {folder}")
        self._delete_one(uid)
        return MoveResult(method, dest_uid, validity, removed_from_source=True)

    def expunge_uid(self, folder: str, uid: int) -> None:
        if "UIDPLUS" not in self._caps:
            raise MailClientError(
                f"{self.where}: cannot delete a single message without UIDPLUS (UID EXPUNGE); "
                "a plain EXPUNGE could delete other mail, so the message is left in place"
            )
        self._ensure_selected(self.resolve_folder(folder), writable=True)
        self._delete_one(int(uid))


def sent_search_target(value: str | None) -> tuple[str, str | None] | None:
    """(what to SEARCH for, the bare domain or None) for ``search_sent_to``; None: search nothing.

    ``value`` is the address lower-cased and made safe for SEARCH (None when it
    cannot be). A value without a local part is a domain: the server's
    substring search on it also finds subdomains, which :func:`addresses_match`
    keeps, while ``xample.jp`` for ``example.jp`` is dropped there.
    """
    if value is None:
        return None
    domain = None
    if "@" not in value.lstrip("@"):
        domain = value = value.lstrip("@")
        if not domain:
            return None
    return value, domain


def addresses_match(addrs: Iterable[str], value: str, domain: str | None) -> bool:
    """Whether one of ``addrs`` (lower-cased) is ``value``, or is at ``domain`` or below it."""
    for addr in addrs:
        if domain is None:
            if addr == value:
                return True
        else:
            host = addr.rpartition("@")[2]
            if host == domain or host.endswith("." + domain):
                return True
    return False
