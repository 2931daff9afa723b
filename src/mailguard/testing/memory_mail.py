"""An in-memory mail server and a :class:`~mailguard.imap.base.MailClient` that talks to it.

Why this exists: the pipeline and the daemon need many small tests (a crash
between two IMAP commands, a message another app moved between SEARCH and
FETCH, a server without MOVE) and a real Dovecot makes each one cost a TLS
handshake, a login and a maildir on disk. This double is fast and
deterministic, and ``tests/contract/test_mail_client_contract.py`` runs the
same behavioural tests against it and against :class:`ImapMailClient` on a
real Dovecot, so what a test proves here holds there.

The module has two halves, like the real thing:

* :class:`MemoryMailServer` -- the *server model*: folders (with a hierarchy
  separator), per-folder UIDVALIDITY/UIDNEXT, messages with flags and
  INTERNALDATE, a capability set, and the IMAP commands the client uses,
  implemented with server semantics (``UID n:*`` still matches the highest
  UID, ``UID EXPUNGE`` removes only ``\\Deleted`` messages of the given set,
  COPYUID/APPENDUID only with UIDPLUS, MOVE only with MOVE). It also offers
  what *other* parties do: delivery (``deliver``), another mail app's flag
  changes and its mailbox-wide EXPUNGE (``expunge_deleted``), a folder
  re-created with a new UIDVALIDITY, dropped connections, and injected
  failures before/after any command (:meth:`MemoryMailServer.fail`).
* :class:`MemoryMailClient` -- the *client*: the same decisions as
  :class:`~mailguard.imap.client.ImapMailClient` (selection cache, MOVE vs
  UIDPLUS vs copy-only by advertised capability, Message-ID look-ups when the
  server does not report UIDs), the same command counting, and the same
  exception types. Like the real client it has no way to send a plain
  ``EXPUNGE`` or ``CLOSE``: :meth:`MemoryMailClient.expunge` and
  :meth:`MemoryMailClient.close_folder` refuse, exactly as the real wire guard does.

Each client also has a *session view* of its selected folder, as on Dovecot (the
contract suite pins this down): another session's new mail and expunges become
visible to it only when one of its commands other than STATUS ends; STATUS of the
selected folder answers from that view; a message expunged under the session is
FETCHed as an empty message and makes COPY/MOVE fail with EXPUNGEISSUED.

One deliberate difference from the Dovecot the test suite starts: Dovecot with
UIDPLUS *hidden* still answers with COPYUID/APPENDUID, while this server, like
a real server without UIDPLUS, does not; so ``append`` returns None there and
``move`` falls back to finding the copy by Message-ID, as it would in the field.

Several clients may share one server (the second one playing the user's mail
app); the server serialises commands with a lock, so daemon threads may use it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import TYPE_CHECKING, Literal, NoReturn, TypeVar

from mailguard.imap.base import (
    AuthenticationFailed,
    CommandCounter,
    ConnectionLost,
    FetchedMessage,
    FolderNotFound,
    FolderStatus,
    MailClientError,
    MessageNotFound,
    MoveResult,
)
from mailguard.imap.client import (
    _REFUSED_COMMANDS,
    _check_folder_name,
    _search_value,
)
from mailguard.imap.decisions import ClientDecisions, addresses_match, sent_search_target
from mailguard.imap.folders import (
    INBOX,
    ListedFolder,
    Namespace,
    find_sent,
    parse_namespace,
    resolve_folder,
)

if TYPE_CHECKING:
    from mailguard.config import AccountConfig

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_SPECIAL_USE",
    "CommandHook",
    "InjectedFailure",
    "MemoryMailClient",
    "MemoryMailServer",
    "StoredMessage",
    "iter_messages",
]

# What the test Dovecot advertises after login, minus extensions the client never looks at.
DEFAULT_CAPABILITIES = frozenset(
    {
        "IMAP4REV1",
        "LITERAL+",
        "SASL-IR",
        "IDLE",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "SPECIAL-USE",
        "LIST-EXTENDED",
        "ENABLE",
        "CONDSTORE",
    }
)
# Special-use attributes by folder name, as the test Dovecot's namespace configures them.
DEFAULT_SPECIAL_USE = {"Sent": "\\Sent", "Junk": "\\Junk", "Trash": "\\Trash"}

T = TypeVar("T")
Phase = Literal["before", "after"]
CommandHook = Callable[["MemoryMailClient", str, Phase], None]
"""Called with (client, verb, phase) around every command; may raise a MailClientError."""

_SEARCH_BATCH = 500  # the real client fetches ENVELOPEs in batches of this size
# Commands after which Dovecot does not bring the selected folder's view up to date.
_NO_SYNC = frozenset({"STATUS", "LOGOUT"})
# What Dovecot returns for INTERNALDATE of a message expunged under the session.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- server model


@dataclass
class StoredMessage:
    """One message as the server holds it. ``flags`` keeps insertion order, like Dovecot."""

    uid: int
    raw: bytes
    flags: list[str]
    internaldate: datetime

    def has_flag(self, flag: str) -> bool:
        return any(f.lower() == flag.lower() for f in self.flags)

    def add_flags(self, flags: Iterable[str]) -> None:
        for f in flags:
            if not self.has_flag(f):
                self.flags.append(f)

    def remove_flags(self, flags: Iterable[str]) -> None:
        drop = {f.lower() for f in flags}
        self.flags = [f for f in self.flags if f.lower() not in drop]

    def headers(self, name: str) -> list[str]:
        """Decoded values of header ``name`` (what IMAP SEARCH HEADER looks at)."""
        parsed = BytesHeaderParser(policy=compat32).parsebytes(self.raw)
        out = []
        for value in parsed.get_all(name) or []:
            try:
                out.append(str(make_header(decode_header(str(value)))))
            except (ValueError, LookupError, UnicodeError):
                out.append(str(value))
        return out


@dataclass
class _Folder:
    name: str
    uidvalidity: int
    special_use: str | None = None
    subscribed: bool = False
    uidnext: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)

    def status(self) -> FolderStatus:
        return FolderStatus(self.name, self.uidvalidity, self.uidnext, len(self.messages))

    def add(self, raw: bytes, flags: Iterable[str], when: datetime) -> int:
        uid = self.uidnext
        self.uidnext += 1
        msg = StoredMessage(uid, bytes(raw), [], when)
        msg.add_flags(f for f in flags if f.lower() != "\\recent")
        self.messages[uid] = msg
        return uid


@dataclass
class InjectedFailure:
    """A failure :meth:`MemoryMailServer.fail` will raise; ``fired`` counts how often it did."""

    verb: str
    when: Phase
    times: int
    error: type[MailClientError]
    client: MemoryMailClient | None = None
    fired: int = 0

    def __call__(self, client: MemoryMailClient, verb: str, phase: Phase) -> None:
        if verb != self.verb or phase != self.when or self.fired >= self.times:
            return
        if self.client is not None and client is not self.client:
            return
        self.fired += 1
        state = "before the server ran it" if phase == "before" else "after the server ran it"
        what = "connection lost" if issubclass(self.error, ConnectionLost) else "failed"
        raise self.error(f"{client.where}: {verb}: {what} (injected, {state})")


def _as_internaldate(when: datetime | None) -> datetime:
    """Timezone-aware, whole seconds: what a server stores and FETCH INTERNALDATE returns."""
    if when is None:
        when = datetime.now(UTC)
    elif when.tzinfo is None:
        when = when.astimezone()  # a naive time is local time, as imapclient sends it
    return when.replace(microsecond=0)


class MemoryMailServer:
    """One user's mail store in memory, with the IMAP semantics the client relies on.

    ``capabilities`` is the full list advertised after login; ``hide_capabilities``
    removes names from it (same spelling as :class:`~mailguard.testing.DovecotServer`),
    ``extra_capabilities`` adds some (e.g. ``{"X-GM-EXT-1"}``). Unlike the
    Dovecot helper, a hidden capability is really absent: UID MOVE without MOVE,
    UID EXPUNGE without UIDPLUS are refused, and COPYUID/APPENDUID are only
    reported with UIDPLUS.

    ``prefix`` and ``separator`` are the personal namespace (NAMESPACE answers them):
    ``prefix="INBOX.", separator="."`` looks like Courier or Cyrus.

    ``password`` set means logins with another secret raise AuthenticationFailed.
    """

    def __init__(
        self,
        *,
        capabilities: Iterable[str] = DEFAULT_CAPABILITIES,
        hide_capabilities: Iterable[str] = (),
        extra_capabilities: Iterable[str] = (),
        separator: str = "/",
        prefix: str = "",
        special_use: dict[str, str] | None = None,
        folders: Iterable[str] = (),
        password: str | None = None,
        host: str = "memory.invalid",
        port: int = 993,
        first_uidvalidity: int = 1_700_000_000,
    ) -> None:
        hidden = {c.upper() for c in hide_capabilities}
        self.capabilities = frozenset(
            {c.upper() for c in capabilities} - hidden | {c.upper() for c in extra_capabilities}
        )
        self.separator = separator
        self.prefix = prefix  # the personal namespace, e.g. "INBOX." as on Courier and Cyrus
        self.special_use = dict(DEFAULT_SPECIAL_USE if special_use is None else special_use)
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self._password = password
        self._uidvalidity = itertools.count(first_uidvalidity)
        self._folders: dict[str, _Folder] = {}
        self._hooks: list[CommandHook] = []
        self._clients: list[MemoryMailClient] = []
        self.logins = 0
        self.create_folder("INBOX", subscribe=True)
        for name in folders:
            self.create_folder(name, subscribe=True)

    # -- connecting -----------------------------------------------------------------

    def client(self, secret: str | None = None) -> MemoryMailClient:
        """A logged-in client; with ``password`` set, ``secret`` must match."""
        with self.lock:
            if self._password is not None and secret != self._password:
                raise AuthenticationFailed(
                    f"{self.host}:{self.port}: login rejected (Authentication failed.)"
                )
            self.logins += 1
            client = MemoryMailClient(self)
            self._clients.append(client)
            return client

    def connect(
        self, account: AccountConfig, secret: str, *, oauth2_token: str | None = None
    ) -> MemoryMailClient:
        """Same call shape as :meth:`ImapMailClient.connect`, so a test can put this server
        where the pipeline looks up ``ImapMailClient`` (e.g. with ``monkeypatch``)."""
        del account
        return self.client(None if oauth2_token else secret)

    def drop_connections(self) -> None:
        """Every connected client loses its connection (a server restart, a NAT timeout)."""
        with self.lock:
            for client in self._clients:
                client._lost()
            self._clients.clear()

    # -- failure injection -------------------------------------------------------------

    def add_hook(self, hook: CommandHook) -> Callable[[], None]:
        """Run ``hook`` around every command of every client; returns a remover.

        A hook can act as another party at an exact moment (the user's app moves
        the message between our SEARCH and FETCH) or raise to fail the command.
        """
        with self.lock:
            self._hooks.append(hook)

        def remove() -> None:
            with self.lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def fail(
        self,
        verb: str,
        *,
        when: Phase = "before",
        times: int = 1,
        error: type[MailClientError] = ConnectionLost,
        client: MemoryMailClient | None = None,
    ) -> InjectedFailure:
        """Make the next ``times`` ``verb`` commands fail (``"MOVE"``, ``"EXPUNGE"``, ...).

        ``when="before"``: the server never ran the command. ``when="after"``: it
        ran (the message really moved) but the answer was lost -- the case crash
        recovery exists for. With ConnectionLost (the default) the client is dead
        afterwards, as a real one would be.
        """
        rule = InjectedFailure(verb.upper(), when, times, error, client)
        self.add_hook(rule)
        return rule

    def _run_hooks(self, client: MemoryMailClient, verb: str, phase: Phase) -> None:
        for hook in list(self._hooks):
            hook(client, verb, phase)

    # -- folders ---------------------------------------------------------------------

    def _key(self, name: str) -> str:
        """INBOX is case-insensitive (RFC 3501 5.1); every other name is exact."""
        return "INBOX" if name.upper() == "INBOX" else name

    def has_folder(self, name: str) -> bool:
        with self.lock:
            return self._key(name) in self._folders

    def folders(self) -> list[str]:
        with self.lock:
            return list(self._folders)

    def _folder(self, name: str, *, trycreate: bool = False) -> _Folder:
        folder = self._folders.get(self._key(name))
        if folder is None:
            code = "[TRYCREATE]" if trycreate else "[NONEXISTENT]"
            raise FolderNotFound(
                f"{self.host}:{self.port}: no such folder ({code} Mailbox doesn't exist: {name})"
            )
        return folder

    def create_folder(self, name: str, *, subscribe: bool = False) -> None:
        """CREATE (server side too): fails with ALREADYEXISTS; creates missing parents."""
        with self.lock:
            key = self._key(name)
            if key in self._folders:
                raise MailClientError(
                    f"{self.host}:{self.port}: CREATE failed ([ALREADYEXISTS] Mailbox already "
                    "exists)"
                )
            if self.prefix and key != "INBOX" and not key.upper().startswith(self.prefix.upper()):
                # As Courier and Cyrus (and Dovecot so configured) answer a name outside the
                # personal namespace, e.g. CREATE Quarantine where INBOX.Quarantine is meant.
                raise MailClientError(
                    f"{self.host}:{self.port}: CREATE failed (Client tried to access "
                    f"nonexistent namespace. (Mailbox name should probably be prefixed with: "
                    f"{self.prefix}))"
                )
            parts = key.split(self.separator) if self.separator else [key]
            for depth in range(1, len(parts)):
                parent = self.separator.join(parts[:depth])
                if parent and self._key(parent) not in self._folders:
                    self._new_folder(self._key(parent))
            self._new_folder(key).subscribed = subscribe

    def _new_folder(self, key: str) -> _Folder:
        folder = _Folder(key, next(self._uidvalidity), self.special_use.get(key))
        self._folders[key] = folder
        return folder

    def delete_folder(self, name: str) -> None:
        """Another app deleted the folder (a configured folder that vanished)."""
        with self.lock:
            self._folder(name)
            del self._folders[self._key(name)]

    def recreate_folder(self, name: str) -> None:
        """Same messages, new UIDVALIDITY, UIDs renumbered from 1 (a server migration)."""
        with self.lock:
            old = self._folder(name)
            new = _Folder(old.name, next(self._uidvalidity), old.special_use, old.subscribed)
            for msg in old.messages.values():
                new.add(msg.raw, msg.flags, msg.internaldate)
            self._folders[old.name] = new

    def list_folders(self) -> list[tuple[tuple[str, ...], str, str]]:
        """What LIST "" "*" answers: (attributes, separator, name) per folder."""
        with self.lock:
            return self._cmd_list("*")

    def subscribed(self, name: str) -> bool:
        with self.lock:
            return self._folder(name).subscribed

    # -- what other parties do -----------------------------------------------------------

    def deliver(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int:
        """New mail arrives (LMTP/another client's APPEND); returns its UID."""
        with self.lock:
            return self._folder(folder).add(raw, flags, _as_internaldate(when))

    def add_flags(self, folder: str, uids: Iterable[int], flags: Iterable[str]) -> None:
        """Another client's UID STORE +FLAGS (e.g. the user's app marks \\Deleted)."""
        self._store_flags(folder, uids, list(flags), StoredMessage.add_flags)

    def remove_flags(self, folder: str, uids: Iterable[int], flags: Iterable[str]) -> None:
        """Another client's UID STORE -FLAGS."""
        self._store_flags(folder, uids, list(flags), StoredMessage.remove_flags)

    def _store_flags(
        self,
        folder: str,
        uids: Iterable[int],
        flags: list[str],
        change: Callable[[StoredMessage, Iterable[str]], None],
    ) -> None:
        """A UID STORE: UIDs no longer in ``folder`` are passed over, as a server does."""
        with self.lock:
            box = self._folder(folder)
            for uid in uids:
                if uid in box.messages:
                    change(box.messages[uid], flags)

    def expunge_deleted(self, folder: str) -> list[int]:
        """Another app's mailbox-wide EXPUNGE: removes every \\Deleted message. Our client
        never does this; tests use it to play the user's mail app."""
        with self.lock:
            box = self._folder(folder)
            gone = [u for u, m in box.messages.items() if m.has_flag("\\Deleted")]
            for uid in gone:
                del box.messages[uid]
            return gone

    def remove(self, folder: str, uid: int) -> None:
        """Another app moved or deleted the message (it is simply gone from ``folder``)."""
        with self.lock:
            self._folder(folder).messages.pop(uid, None)

    # -- inspection ----------------------------------------------------------------------

    def status(self, folder: str) -> FolderStatus:
        with self.lock:
            return self._folder(folder).status()

    def uids(self, folder: str) -> list[int]:
        with self.lock:
            return sorted(self._folder(folder).messages)

    def message(self, folder: str, uid: int) -> StoredMessage:
        """The stored message (a copy: changing it changes nothing on the server)."""
        with self.lock:
            msg = self._folder(folder).messages.get(uid)
            if msg is None:
                raise MessageNotFound(f"UID {uid} is not in {folder}")
            return StoredMessage(msg.uid, msg.raw, list(msg.flags), msg.internaldate)

    def flags(self, folder: str) -> dict[int, tuple[str, ...]]:
        with self.lock:
            return {u: tuple(m.flags) for u, m in self._folder(folder).messages.items()}

    # -- IMAP commands (called by MemoryMailClient under the lock) ---------------------------

    def _cmd_list(self, pattern: str) -> list[tuple[tuple[str, ...], str, str]]:
        """LIST "" pattern: only "*" or an exact name are needed by the client."""
        out = []
        for folder in self._folders.values():
            if pattern != "*" and self._key(pattern) != folder.name:
                continue
            attrs: list[str] = []
            prefix = folder.name + self.separator
            attrs.append(
                "\\HasChildren"
                if any(n.startswith(prefix) for n in self._folders)
                else "\\HasNoChildren"
            )
            if folder.special_use:
                attrs.append(folder.special_use)
            out.append((tuple(attrs), self.separator, folder.name))
        return out

    def _cmd_search(self, view: _SessionView, *, min_uid: int, since: date | None) -> list[int]:
        """UID SEARCH UID n:* [SINCE d] on the session's view, with the RFC 3501 trap: n:*
        with n above every UID means "the highest UID", so the last message always matches.

        A message another session expunged is still in the view; it matches a UID
        range (Dovecot answers so) but no date, since its INTERNALDATE reads as 1970."""
        candidates = set(view.visible) | view.ghosts
        if not candidates:
            return []
        top = max(candidates)
        out = []
        for uid in candidates:
            if min(min_uid, top) > uid:  # "n:*" is "*:n" when n > *
                continue
            if since is not None:
                msg = view.visible.get(uid)
                # SINCE compares the INTERNALDATE's date, disregarding time and timezone.
                if msg is None or msg.internaldate.date() < since:
                    continue
            out.append(uid)
        return sorted(out)

    def _cmd_header_search(self, view: _SessionView, header: str, value: str) -> list[int]:
        needle = value.lower()
        return sorted(
            uid
            for uid, msg in view.visible.items()
            if any(needle in v.lower() for v in msg.headers(header))
        )

    def _cmd_copy(
        self, view: _SessionView, uids: Sequence[int], dest_name: str, where: str, what: str
    ) -> list[tuple[int, int]]:
        """UID COPY/MOVE: flags travel (\\Recent never does). Returns (source, dest) UID pairs.

        Like Dovecot, a UID that another session expunged but this session still
        sees fails the whole command with EXPUNGEISSUED; a UID the session does
        not know at all is silently skipped (and so gets no COPYUID)."""
        dest = self._folder(dest_name, trycreate=True)
        wanted = sorted(set(uids))
        if any(u in view.ghosts for u in wanted):
            raise MessageNotFound(f"{where}: {what}: the message was expunged")
        pairs = []
        for uid in wanted:
            msg = view.visible.get(uid)
            if msg is not None:
                pairs.append((uid, dest.add(msg.raw, msg.flags, msg.internaldate)))
        return pairs

    def _cmd_uid_expunge(self, view: _SessionView, uids: Sequence[int]) -> list[int]:
        """UID EXPUNGE: removes only the messages in ``uids`` that carry \\Deleted."""
        gone = [u for u in uids if u in view.visible and view.visible[u].has_flag("\\Deleted")]
        for uid in gone:
            del view.folder.messages[uid]
        return gone


@dataclass
class _SessionView:
    """The selected folder as one session sees it during a command.

    IMAP servers do not show a session another session's changes mid-command:
    Dovecot updates a session's view only when a command (other than STATUS)
    ends. So new mail is invisible until then (``visible`` lacks it), and mail
    another session expunged is still "there" (``ghosts``): FETCH returns it
    empty, COPY/MOVE fail with EXPUNGEISSUED.
    """

    folder: _Folder
    visible: dict[int, StoredMessage]
    ghosts: set[int]


# --------------------------------------------------------------------------- client


class MemoryMailClient(ClientDecisions):
    """A :class:`~mailguard.imap.base.MailClient` on a :class:`MemoryMailServer`.

    Mirrors :class:`~mailguard.imap.client.ImapMailClient` decision for decision
    and counts the same commands, so command-count promises ("an unchanged poll
    sends no FETCH") can be tested here too. Build it with
    :meth:`MemoryMailServer.client`.
    """

    def __init__(self, server: MemoryMailServer) -> None:
        self.server = server
        self.commands = CommandCounter()
        self.where = f"{server.host}:{server.port}"
        self._caps = server.capabilities
        self._selected: str | None = None
        self._selected_readonly = False
        self._selected_status: FolderStatus | None = None
        self._known_folders: set[str] = set()
        self._closed = False
        self._namespace: Namespace | None = None
        self._read_only = False
        # The session's view of the selected folder (see _SessionView): UIDs and UIDNEXT
        # as of the end of the last command that synchronised it.
        self._view_uids: set[int] = set()
        self._view_uidnext = 0
        self.commands.add("LOGIN")

    # -- plumbing --------------------------------------------------------------------

    def _lost(self) -> None:
        self._closed = True
        self._selected = None

    def _command(self, verb: str, run: Callable[[], T], *, uid: bool = False) -> T:
        """Send one command: count it, run the hooks around it, keep the server locked."""
        what = f"UID {verb}" if uid else verb
        if self._closed:
            raise ConnectionLost(f"{self.where}: {what}: the connection is closed")
        self.commands.add(verb, uid=uid)
        with self.server.lock:
            try:
                self.server._run_hooks(self, verb, "before")
                result = run()
                self.server._run_hooks(self, verb, "after")
            except ConnectionLost:
                self._lost()
                raise
            finally:
                if verb not in _NO_SYNC and not self._closed:
                    self._sync()
        return result

    def _sync(self) -> None:
        """End of a command: the session learns of new and expunged mail (not after STATUS,
        which Dovecot answers from the session's view for the selected folder)."""
        if self._selected is None or not self.server.has_folder(self._selected):
            return
        box = self.server._folder(self._selected)
        self._view_uids, self._view_uidnext = set(box.messages), box.uidnext

    def _is_selected(self, folder: str) -> bool:
        return self._selected is not None and self.server._key(folder) == self.server._key(
            self._selected
        )

    def _selected_folder(self, writable: bool = False) -> _SessionView:
        assert self._selected is not None
        if writable and self._selected_readonly:
            raise MailClientError(f"{self.where}: folder is read-only ({self._selected})")
        try:
            box = self.server._folder(self._selected)
        except FolderNotFound:
            # Deleted under us: a real server ends the session with BYE.
            self._lost()
            raise ConnectionLost(
                f"{self.where}: the selected folder {self._selected} was deleted (BYE)"
            ) from None
        visible = {u: box.messages[u] for u in sorted(self._view_uids) if u in box.messages}
        return _SessionView(box, visible, self._view_uids - set(box.messages))

    # -- folder names (see mailguard.imap.folders) ------------------------------------

    def namespace(self) -> Namespace:
        if self._namespace is None:
            server = self.server
            if "NAMESPACE" in self._caps:
                self._namespace = self._command(
                    "NAMESPACE", lambda: parse_namespace([(server.prefix, server.separator)])
                )
            else:
                self._command("LIST", lambda: server._cmd_list(""))
                self._namespace = parse_namespace([("", server.separator)])
        return self._namespace

    def resolve_folder(self, name: str) -> str:
        _check_folder_name(name)
        if name.upper() == INBOX:
            return INBOX
        return resolve_folder(name, self.namespace())

    def list_folders(self, pattern: str = "*") -> list[ListedFolder]:
        listed = self._command("LIST", lambda: self.server._cmd_list(pattern))
        return [ListedFolder(n, frozenset(a.lower() for a in attrs)) for attrs, _s, n in listed]

    def my_rights(self, folder: str) -> str | None:
        return None  # no ACL here

    # -- MailClient ------------------------------------------------------------------

    def folder_status(self, folder: str) -> FolderStatus:
        folder = self.resolve_folder(folder)

        def run() -> FolderStatus:
            st = self.server._folder(folder).status()
            if self._is_selected(folder):
                # Dovecot answers STATUS of the selected folder from the session's view:
                # mail that arrived since the last command does not count yet.
                return FolderStatus(
                    folder, st.uidvalidity, self._view_uidnext, len(self._view_uids)
                )
            return FolderStatus(folder, st.uidvalidity, st.uidnext, st.messages)

        return self._command("STATUS", run)

    def select(self, folder: str, readonly: bool = False) -> FolderStatus:
        return self._select(self.resolve_folder(folder), readonly=readonly or self._read_only)

    def _select(self, folder: str, *, readonly: bool) -> FolderStatus:
        self._selected = None

        def run() -> FolderStatus:
            st = self.server._folder(folder).status()
            return FolderStatus(folder, st.uidvalidity, st.uidnext, st.messages)

        status = self._command("EXAMINE" if readonly else "SELECT", run)
        self._selected, self._selected_readonly, self._selected_status = folder, readonly, status
        self._sync()
        return status

    def search_uids(self, folder: str, *, min_uid: int = 1, since: date | None = None) -> list[int]:
        min_uid = max(1, int(min_uid))
        folder = self.resolve_folder(folder)
        self._ensure_selected(folder)
        uids = self._command(
            "SEARCH",
            lambda: self.server._cmd_search(self._selected_folder(), min_uid=min_uid, since=since),
            uid=True,
        )
        return sorted(u for u in uids if u >= min_uid)

    def fetch(self, folder: str, uids: Sequence[int], max_bytes: int) -> list[FetchedMessage]:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        wanted = [int(u) for u in uids]
        if not wanted:
            return []
        folder = self.resolve_folder(folder)
        self._ensure_selected(folder)

        def run() -> list[FetchedMessage]:
            view = self._selected_folder()
            out = []
            for uid in wanted:
                msg = view.visible.get(uid)
                if uid in view.ghosts:
                    # Expunged by another session since this one last synced: Dovecot
                    # still answers, with no body, size 0 and a 1970 INTERNALDATE.
                    out.append(FetchedMessage(uid, b"", 0, (), _EPOCH, truncated=False))
                if msg is None:
                    continue  # not in this session's view: simply absent
                # BODY.PEEK: reading never adds \Seen.
                out.append(
                    FetchedMessage(
                        uid=uid,
                        raw=msg.raw[:max_bytes],
                        size=len(msg.raw),
                        flags=tuple(msg.flags),
                        internaldate=msg.internaldate,
                        truncated=len(msg.raw) > max_bytes,
                    )
                )
            return out

        return self._command("FETCH", run, uid=True)

    def ensure_folder(self, folder: str) -> None:
        folder = self.resolve_folder(folder)
        if folder in self._known_folders:
            return
        self._refuse_write(f"create {folder}")
        listed = self._command("LIST", lambda: self.server._cmd_list(folder))
        if not any(name == folder for _attrs, _sep, name in listed):
            try:
                self._command("CREATE", lambda: self.server.create_folder(folder))
            except MailClientError as e:
                if "ALREADYEXISTS" not in str(e).upper():
                    raise

            def subscribe() -> None:
                self.server._folder(folder).subscribed = True

            self._command("SUBSCRIBE", subscribe)
        self._known_folders.add(folder)

    def _copyuid(self, pairs: list[tuple[int, int]], dest: str) -> tuple[int | None, int | None]:
        """What the client learns from the answer: COPYUID only when UIDPLUS is offered."""
        if "UIDPLUS" not in self._caps or not pairs:
            return None, None
        return pairs[0][1], self.server._folder(dest).uidvalidity

    def _move_with_move(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        message_id = None if "UIDPLUS" in self._caps else self._message_id_of(folder, uid)

        def run() -> tuple[int | None, int | None]:
            if "MOVE" not in self.server.capabilities:
                raise MailClientError(f"{self.where}: UID MOVE failed (BAD unknown command)")
            source = self._selected_folder(writable=True)
            pairs = self.server._cmd_copy(source, [uid], dest, self.where, "UID MOVE")
            for src, _dst in pairs:
                del source.folder.messages[src]
            return self._copyuid(pairs, dest)

        dest_uid, validity = self._command("MOVE", run, uid=True)
        if dest_uid is None:
            if message_id is None and "UIDPLUS" in self._caps:
                raise MessageNotFound(f"{self.where}: UID {uid} is no longer in {folder}")
            dest_uid, validity = self._locate(dest, message_id)
        return MoveResult(method, dest_uid, validity, removed_from_source=True)

    def _move_with_uidplus(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        def run() -> tuple[int | None, int | None]:
            pairs = self.server._cmd_copy(
                self._selected_folder(), [uid], dest, self.where, "UID COPY"
            )
            return self._copyuid(pairs, dest)

        dest_uid, validity = self._command("COPY", run, uid=True)
        return self._uidplus_copied(folder, uid, method, dest_uid, validity)

    def _delete_one(self, uid: int) -> None:
        """\\Deleted on one UID, then UID EXPUNGE of that UID only (selected folder)."""

        def store() -> None:
            view = self._selected_folder(writable=True)
            if uid in view.visible:  # a message expunged meanwhile: a silent no-op
                view.visible[uid].add_flags(["\\Deleted"])

        def expunge() -> None:
            if "UIDPLUS" not in self.server.capabilities:
                raise MailClientError(f"{self.where}: UID EXPUNGE failed (BAD unknown command)")
            self.server._cmd_uid_expunge(self._selected_folder(writable=True), [uid])

        self._command("STORE", store, uid=True)
        self._command("EXPUNGE", expunge, uid=True)

    def unflag_deleted(self, folder: str, uid: int) -> None:
        """UID STORE -FLAGS.SILENT (\\Deleted) on one UID, like the real client."""
        self._ensure_selected(self.resolve_folder(folder), writable=True)

        def store() -> None:
            view = self._selected_folder(writable=True)
            if uid in view.visible:
                view.visible[uid].remove_flags(["\\Deleted"])

        self._command("STORE", store, uid=True)

    def _copy_only(self, folder: str, uid: int, dest: str) -> MoveResult:
        message_id = self._message_id_of(folder, uid)

        def run() -> tuple[int | None, int | None]:
            pairs = self.server._cmd_copy(
                self._selected_folder(), [uid], dest, self.where, "UID COPY"
            )
            return self._copyuid(pairs, dest)

        dest_uid, validity = self._command("COPY", run, uid=True)
        if dest_uid is None:
            dest_uid, validity = self._locate(dest, message_id)
        return MoveResult("copy-only", dest_uid, validity, removed_from_source=False)

    def _message_id_of(self, folder: str, uid: int) -> str | None:
        self._ensure_selected(folder)

        def run() -> list[str] | None:
            view = self._selected_folder()
            if uid in view.ghosts:
                return []  # Dovecot answers with an empty header section
            msg = view.visible.get(uid)
            return None if msg is None else msg.headers("Message-ID")

        values = self._command("FETCH", run, uid=True)
        if values is None:
            raise MessageNotFound(f"{self.where}: UID {uid} is no longer in {folder}")
        return (str(values[0]).strip() or None) if values else None

    def _locate(self, dest: str, message_id: str | None) -> tuple[int | None, int | None]:
        if not message_id:
            return None, None
        uids = self.find_by_message_id(dest, message_id)
        status = self._selected_status
        return (max(uids) if uids else None), (status.uidvalidity if status else None)

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        value = _search_value(message_id)
        if value is None:
            return []
        self._ensure_selected(self.resolve_folder(folder), examine=True)
        uids = self._command(
            "SEARCH",
            lambda: self.server._cmd_header_search(self._selected_folder(), "Message-ID", value),
            uid=True,
        )
        return sorted(uids)

    def get_flags(self, folder: str, uids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        wanted = [int(u) for u in uids]
        if not wanted:
            return {}
        self._ensure_selected(self.resolve_folder(folder), examine=True)

        def run() -> dict[int, tuple[str, ...]]:
            view = self._selected_folder()
            return {
                u: tuple(view.visible[u].flags) if u in view.visible else ()
                for u in wanted
                if u in view.visible or u in view.ghosts
            }

        return self._command("FETCH", run, uid=True)

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int | None:
        """APPEND; the new UID only when the server reports APPENDUID (UIDPLUS)."""
        folder = self.resolve_folder(folder)
        self._refuse_write(f"append to {folder}")

        def run() -> int:
            return self.server._folder(folder, trycreate=True).add(
                raw, flags, _as_internaldate(when)
            )

        new_uid = self._command("APPEND", run)
        return new_uid if "UIDPLUS" in self._caps else None

    def sent_folder(self) -> str | None:
        return find_sent(self.list_folders("*"), self.namespace())

    def search_sent_to(self, folder: str, address: str) -> list[datetime]:
        """The same two steps as the real client: a substring SEARCH TO/CC/BCC, then an exact
        match on the parsed addresses (the ENVELOPE), so ``xample.jp`` finds nothing."""
        target = sent_search_target(_search_value(address.lower()))
        if target is None:
            return []
        value, domain = target
        self._ensure_selected(self.resolve_folder(folder), examine=True)

        def search() -> list[int]:
            box = self._selected_folder()
            hits: set[int] = set()
            for header in ("To", "Cc", "Bcc"):
                hits.update(self.server._cmd_header_search(box, header, value))
            return sorted(hits)

        uids = self._command("SEARCH", search, uid=True)
        dates: list[datetime] = []
        for start in range(0, len(uids), _SEARCH_BATCH):
            batch = uids[start : start + _SEARCH_BATCH]

            def envelopes(batch: list[int] = batch) -> list[tuple[datetime, list[str]]]:
                view = self._selected_folder()
                return [
                    (view.visible[u].internaldate, _addresses(view.visible[u]))
                    for u in batch
                    if u in view.visible
                ]

            for when, addrs in self._command("FETCH", envelopes, uid=True):
                if addresses_match(addrs, value, domain):
                    dates.append(when)
        return sorted(dates)

    def noop(self) -> None:
        self._command("NOOP", lambda: None)

    @property
    def closed(self) -> bool:
        return self._closed

    def logout(self) -> None:
        if self._closed:
            return
        with contextlib.suppress(MailClientError):  # already broken: nothing left to close
            self._command("LOGOUT", lambda: None)
        self._closed = True
        self._selected = None

    def __enter__(self) -> MemoryMailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.logout()

    # -- what the client refuses, like the real wire guard ------------------------------------

    def expunge(self) -> NoReturn:
        """A mailbox-wide EXPUNGE is refused before it is sent (and is not counted)."""
        raise MailClientError(f"refusing to send EXPUNGE: {_REFUSED_COMMANDS['EXPUNGE']}")

    def close_folder(self) -> NoReturn:
        """CLOSE expunges implicitly, so it is refused too."""
        raise MailClientError(f"refusing to send CLOSE: {_REFUSED_COMMANDS['CLOSE']}")


def _addresses(msg: StoredMessage) -> list[str]:
    """To/Cc/Bcc addresses, lower-cased: what the real client reads from ENVELOPE."""
    values: list[str] = []
    for header in ("To", "Cc", "Bcc"):
        values.extend(msg.headers(header))
    return [addr.lower() for _name, addr in getaddresses(values) if "@" in addr]


def iter_messages(server: MemoryMailServer, folder: str) -> Iterator[StoredMessage]:
    """Every message of ``folder`` in UID order (copies), for assertions in tests."""
    for uid in server.uids(folder):
        yield server.message(folder, uid)
