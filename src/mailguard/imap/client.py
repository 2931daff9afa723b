"""The MailClient protocol over imapclient, with the safety rules built in.

Why this module looks the way it does:

* **Nothing is ever marked read.** Bodies are fetched with ``BODY.PEEK``; no
  command here sets ``\\Seen``.
* **No mailbox-wide EXPUNGE, structurally.** Every command line goes through
  :class:`_WireGuard`, which refuses a bare ``EXPUNGE`` and ``CLOSE`` (which
  expunges implicitly) before they reach the socket. A plain EXPUNGE would also
  delete mail another client marked ``\\Deleted``; only ``UID EXPUNGE <uid>``
  is allowed.
* **Attacker-controlled strings never reach a command line raw.** Message-IDs
  and addresses come from scam mail; values with control characters are
  refused, 8-bit values go as literals.
* **Every command is counted** (:class:`~mailguard.imap.base.CommandCounter`)
  at the wire, so tests can prove an unchanged poll sends no FETCH.
* **Errors say what failed and never include the secret.**
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, TypeVar

import imapclient
from imapclient import exceptions as imap_exc
from imapclient.imapclient import SocketTimeout

from mailguard.config import AccountConfig
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
from mailguard.imap.deadline import Deadline, DeadlineExceeded, guard_reads, guarded_client_class
from mailguard.imap.decisions import (  # GMAIL_CAPABILITY: still importable from here
    GMAIL_CAPABILITY as GMAIL_CAPABILITY,
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

log = logging.getLogger(__name__)

T = TypeVar("T")

_SENT_SEARCH_BATCH = 500
_REFUSED_COMMANDS = {
    "EXPUNGE": "a mailbox-wide EXPUNGE would also delete mail other clients marked \\Deleted",
    "CLOSE": "CLOSE silently expunges every \\Deleted message in the folder",
}
# Response codes (RFC 5530, 3501) and, since e.g. Dovecot 2.3 answers SELECT of a missing
# folder with a bare "NO Mailbox doesn't exist", the wording servers use.
_NOT_FOUND_MARKERS = (
    "[NONEXISTENT]",
    "[TRYCREATE]",
    "DOESN'T EXIST",
    "DOES NOT EXIST",
    "NO SUCH MAILBOX",
    "NO SUCH FOLDER",
    "UNKNOWN MAILBOX",
    "COULD NOT BE FOUND",
)
_APPENDUID_RE = re.compile(r"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_SEQ_SET_RE = re.compile(r"^\d+(?::\d+)?(?:,\d+(?::\d+)?)*$")


# --------------------------------------------------------------------------- helpers


class _WireGuard:
    """Wraps imaplib's ``send``: counts each command line and refuses unsafe ones.

    imaplib and imapclient send a command as a line starting with the tag; literal
    data (message bodies, 8-bit search strings) follows in separate writes that do
    not, so only tagged lines are inspected.
    """

    def __init__(self, send: Callable[[bytes], None], tagpre: bytes, counter: CommandCounter):
        self._send = send
        self._line = re.compile(rb"^" + re.escape(tagpre) + rb"\d+ (UID )?([A-Za-z0-9-]+)")
        self._counter = counter

    def __call__(self, data: bytes) -> None:
        m = self._line.match(data)
        if m:
            uid = m.group(1) is not None
            verb = m.group(2).decode("ascii").upper()
            if not uid and verb in _REFUSED_COMMANDS:
                raise MailClientError(f"refusing to send {verb}: {_REFUSED_COMMANDS[verb]}")
            body = data[:-2] if data.endswith(b"\r\n") else data
            if b"\r" in body or b"\n" in body:
                raise MailClientError(f"refusing to send {verb}: line break inside an argument")
            self._counter.add(verb, uid=uid)
        self._send(data)


def _text(value: object) -> str:
    """Server text for an error message, without Python's b'...' wrapping."""
    s = str(value)
    m = re.fullmatch(r"""(.*?)b(['"])(.*)\2(.*)""", s, re.DOTALL)
    if m:
        s = m.group(1) + m.group(3) + m.group(4)
    return s.strip()[:300]


def _decode(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _flags(raw: Sequence[bytes | str]) -> tuple[str, ...]:
    """Flags as text, without \\Recent: it belongs to a session, and no client can set
    or keep it, so it must not count when comparing flags before and after a move."""
    return tuple(f for f in (_decode(x) for x in raw) if f.lower() != "\\recent")


def _check_folder_name(folder: str) -> None:
    if not folder or any(ord(c) < 0x20 or ord(c) == 0x7F for c in folder):
        raise MailClientError(f"invalid folder name {folder!r}")


def _search_value(value: str) -> str | None:
    """A value safe to put in SEARCH, or None (control characters, empty)."""
    value = value.strip()
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    return value


def _expand_set(seq: str, limit: int = 100_000) -> list[int] | None:
    """Expand an IMAP sequence set like ``4:6,9``; None if malformed or huge."""
    if not _SEQ_SET_RE.match(seq):
        return None
    out: list[int] = []
    for part in seq.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        if a > b:
            a, b = b, a
        if len(out) + (b - a + 1) > limit:
            return None
        out.extend(range(a, b + 1))
    return out


def parse_copyuid(lines: Sequence[bytes | str], uid: int) -> tuple[int | None, int | None]:
    """(dest_uid, dest_uidvalidity) for ``uid`` from COPYUID response data.

    Each line is what follows ``COPYUID``: ``<uidvalidity> <source set> <dest set>``;
    the sets list UIDs in matching order (RFC 4315).
    """
    for raw in lines:
        parts = _decode(raw).split()
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        src, dst = _expand_set(parts[1]), _expand_set(parts[2])
        if src is None or dst is None or len(src) != len(dst):
            continue
        if uid in src:
            return dst[src.index(uid)], int(parts[0])
    return None, None


def parse_appenduid(text: bytes | str | None) -> tuple[int | None, int | None]:
    """(uid, uidvalidity) from an APPEND response text carrying ``[APPENDUID v uid]``."""
    m = _APPENDUID_RE.search(_decode(text))
    if not m:
        return None, None
    return int(m.group(2)), int(m.group(1))


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to connect: the nine of ``AccountConfig``'s fields this layer reads.

    Built once per account by the composition root (``App.endpoint``), so the
    IMAP layer depends on what it uses, not on the whole account configuration.
    """

    name: str
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    username: str
    auth: str = "password"  # "password" | "oauth2"
    tls_verify: bool = True
    tls_ca_file: Path | None = None
    timeout: float = 30.0

    @classmethod
    def from_account(cls, account: AccountConfig) -> ImapEndpoint:
        return cls(
            name=account.name,
            host=account.host,
            port=account.port,
            security=account.security,
            username=account.username,
            auth=account.auth,
            tls_verify=account.tls_verify,
            tls_ca_file=account.tls_ca_file,
            timeout=float(account.timeout),
        )


def make_ssl_context(account: ImapEndpoint | AccountConfig) -> ssl.SSLContext:
    """Verified TLS by default; ``tls_ca_file`` adds a private CA; ``tls_verify=false`` warns."""
    try:
        ctx = ssl.create_default_context(
            cafile=str(account.tls_ca_file) if account.tls_ca_file else None
        )
    except (OSError, ssl.SSLError) as e:
        raise MailClientError(
            # The key, not its value: config values are never echoed (see mailguard.secrets).
            f"cannot load the file named by tls_ca_file: {getattr(e, 'strerror', None) or e}"
        ) from None
    if not account.tls_verify:
        log.warning(
            "account %s: tls_verify = false; the server certificate of %s is NOT checked, "
            "so anyone on the network path can read the password",
            account.name,
            account.host,
        )
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_hint(account: ImapEndpoint, e: ssl.SSLError) -> str:
    """Why a TLS handshake fails most often: implicit TLS spoken to a plain-IMAP port."""
    if "WRONG_VERSION_NUMBER" in str(e.reason or e).upper() or "UNEXPECTED_EOF" in str(e).upper():
        return (
            f'; port {account.port} seems to speak plain IMAP: use security = "starttls" '
            '(usually port 143), or security = "tls" with the implicit-TLS port (usually 993)'
        )
    return ""


def _timeout_hint(account: ImapEndpoint) -> str:
    """A plain/STARTTLS client on an implicit-TLS port waits for a greeting that never comes."""
    if account.security != "tls" and account.port == 993:
        return '; port 993 expects TLS from the start: use security = "tls" there'
    return ""


# --------------------------------------------------------------------------- client


class ImapMailClient(ClientDecisions):
    """One logged-in IMAP connection implementing :class:`~mailguard.imap.base.MailClient`.

    Build it with :meth:`connect`. Not thread-safe: one connection, one caller.
    The selected folder is cached so consecutive calls on the same folder do not
    re-SELECT. Folders we only read (Sent, a search in the quarantine) are opened
    with EXAMINE; in read-only mode (:meth:`set_read_only`, a dry run) every folder
    is, and every command that could change a mailbox is refused here as well.

    Every folder name handed in is a *configured* name and goes through
    :func:`~mailguard.imap.folders.resolve_folder` with this server's namespace
    (read once per connection, and only when a name other than INBOX needs it).
    """

    def __init__(
        self, conn: imapclient.IMAPClient, *, commands: CommandCounter, where: str
    ) -> None:
        self._conn = conn
        self.commands = commands
        self.where = where
        self._caps: frozenset[str] = frozenset()
        self._selected: str | None = None
        self._selected_readonly = False
        self._selected_status: FolderStatus | None = None
        self._known_folders: set[str] = set()
        self._closed = False
        self._namespace: Namespace | None = None
        self._read_only = False
        self._deadline: Deadline | None = None
        self._read_timeout: float | None = None

    # -- connecting ------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        endpoint: ImapEndpoint | AccountConfig,
        secret: str,
        *,
        oauth2_token: str | None = None,
        deadline: Deadline | None = None,
    ) -> ImapMailClient:
        """Connect, secure, log in and read capabilities, or raise MailClientError.

        ``secret`` is the password (LOGIN, or AUTHENTICATE PLAIN when it is not
        ASCII); with ``oauth2_token`` XOAUTH2 is used and ``secret`` is ignored.
        An ``AccountConfig`` is accepted for convenience (tests, one-off tools).
        Connecting and logging in must end within ``deadline`` (default: three
        times the account's timeout), however slowly the server trickles bytes.
        """
        account = (
            endpoint if isinstance(endpoint, ImapEndpoint) else ImapEndpoint.from_account(endpoint)
        )
        connect_deadline = Deadline(3 * account.timeout).sooner(deadline)
        where = f"{account.host}:{account.port}"
        if account.auth == "oauth2" and not oauth2_token:
            raise MailClientError(f"{where}: account {account.name} needs an OAuth2 access token")
        ctx = make_ssl_context(account) if account.security != "none" else None
        commands = CommandCounter()
        timeout = SocketTimeout(connect=account.timeout, read=account.timeout)
        try:
            conn = guarded_client_class(connect_deadline, account.timeout)(
                account.host,
                account.port,
                ssl=account.security == "tls",
                ssl_context=ctx,
                timeout=timeout,
            )
        except ssl.SSLCertVerificationError as e:
            raise MailClientError(
                f"{where}: TLS certificate not trusted ({e.verify_message}); set tls_ca_file to "
                "the server's CA, or check that host names the server"
            ) from None
        except ssl.SSLError as e:
            raise MailClientError(
                f"{where}: TLS handshake failed ({e.reason or e}){_tls_hint(account, e)}"
            ) from None
        except TimeoutError:
            raise ConnectionLost(
                f"{where}: timed out connecting after {account.timeout:g}s"
                + _timeout_hint(account)
            ) from None
        except OSError as e:
            raise ConnectionLost(f"{where}: cannot connect ({e.strerror or e})") from None
        except imap_exc.IMAPClientError as e:
            raise ConnectionLost(f"{where}: server refused the connection ({_text(e)})") from None

        conn.normalise_times = False  # keep INTERNALDATE timezone-aware
        imap = conn._imap  # imaplib object; its send() is the only way to see every command
        imap.send = _WireGuard(imap.send, imap.tagpre, commands)
        client = cls(conn, commands=commands, where=where)
        client._read_timeout = account.timeout
        try:
            client.set_deadline(connect_deadline)
            if account.security == "starttls":
                assert ctx is not None
                client._starttls(ctx)
                client.set_deadline(connect_deadline)  # STARTTLS replaced the reader
            client._login(account.username, secret, oauth2_token, account.security)
            client._caps = frozenset(
                _decode(c).upper() for c in client._run("CAPABILITY", conn.capabilities)
            )
            client.set_deadline(deadline)
        except BaseException:
            client._shutdown()
            raise
        log.debug("connected to %s; capabilities: %s", where, " ".join(sorted(client._caps)))
        return client

    def _starttls(self, ctx: ssl.SSLContext) -> None:
        if not self._conn.has_capability("STARTTLS"):
            raise MailClientError(
                f"{self.where}: server does not offer STARTTLS; refusing to log in without TLS"
            )
        try:
            self._conn.starttls(ctx)
        except ssl.SSLCertVerificationError as e:
            raise MailClientError(
                f"{self.where}: TLS certificate not trusted ({e.verify_message}); set "
                "tls_ca_file to the server's CA"
            ) from None
        except (ssl.SSLError, imap_exc.IMAPClientError) as e:
            raise MailClientError(f"{self.where}: STARTTLS failed ({_text(e)})") from None
        except OSError as e:
            raise ConnectionLost(f"{self.where}: connection lost during STARTTLS ({e})") from None

    def _login(self, user: str, secret: str, token: str | None, security: str) -> None:
        def scrub(text: str) -> str:
            for s in (secret, token):
                if s:
                    text = text.replace(s, "***")
            return text

        try:
            if token:
                self._conn.oauth2_login(user, token)
            elif security == "none" and self._conn.has_capability("LOGINDISABLED"):
                raise MailClientError(
                    f"{self.where}: server refuses passwords without TLS (LOGINDISABLED); "
                    'use security = "tls" or "starttls"'
                )
            elif secret.isascii():
                self._conn.login(user, secret)
            else:
                self._conn.plain_login(user, secret)  # SASL PLAIN carries UTF-8
        except imap_exc.IMAPClientError as e:
            reason = scrub(_text(e))
            if any(m in reason for m in ("[UNAVAILABLE]", "socket error", "EOF")):
                raise ConnectionLost(f"{self.where}: login interrupted ({reason})") from None
            how = "XOAUTH2" if token else "login"
            raise AuthenticationFailed(
                f"{self.where}: {how} as {user!r} rejected ({reason})"
            ) from None
        except TimeoutError:
            raise ConnectionLost(f"{self.where}: timed out during login") from None
        except OSError as e:
            raise ConnectionLost(f"{self.where}: connection lost during login ({e})") from None
        except UnicodeError:
            raise AuthenticationFailed(
                f"{self.where}: the user name or secret cannot be encoded for IMAP"
            ) from None

    # -- plumbing --------------------------------------------------------------

    def set_deadline(self, deadline: Deadline | None) -> None:
        """Every later command, and every byte read, must finish before ``deadline``.

        None lifts it (a kept-open connection between the daemon's polls).
        """
        self._deadline = deadline
        guard_reads(self._conn._imap, deadline or Deadline(None), self._read_timeout)

    def _run(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call imapclient and turn its errors into MailClientError subclasses."""
        if self._closed:
            raise ConnectionLost(f"{self.where}: {what}: the connection is closed")
        if self._deadline is not None:
            self._deadline.check(f"{self.where}: {what}")
        try:
            return fn(*args, **kwargs)
        except DeadlineExceeded as e:  # mid-response: the connection's state is unknown
            self._lost()
            raise DeadlineExceeded(f"{self.where}: {what}: {e}") from None
        except MailClientError:
            raise
        except imap_exc.IMAPClientReadOnlyError as e:
            raise MailClientError(f"{self.where}: {what}: folder is read-only ({_text(e)})") from e
        except imap_exc.IMAPClientAbortError as e:
            self._lost()
            raise ConnectionLost(f"{self.where}: {what}: connection lost ({_text(e)})") from e
        except imap_exc.IMAPClientError as e:
            text = _text(e)
            if "[EXPUNGEISSUED]" in text.upper():
                # Another client (the user's mail app) expunged the message while we had
                # the folder selected (RFC 5530): it is gone, not a server failure.
                raise MessageNotFound(f"{self.where}: {what}: the message was expunged") from e
            if any(m in text.upper() for m in _NOT_FOUND_MARKERS):
                raise FolderNotFound(f"{self.where}: {what}: no such folder ({text})") from e
            raise MailClientError(f"{self.where}: {what} failed ({text})") from e
        except TimeoutError as e:
            self._lost()
            raise ConnectionLost(f"{self.where}: {what}: timed out") from e
        except OSError as e:
            self._lost()
            raise ConnectionLost(f"{self.where}: {what}: connection lost ({e})") from e
        except (ValueError, TypeError, IndexError) as e:  # unparseable server response
            raise MailClientError(f"{self.where}: {what}: unexpected server response ({e})") from e

    def _lost(self) -> None:
        self._closed = True
        self._selected = None
        self._shutdown()

    def _shutdown(self) -> None:
        # The socket may already be gone; then there is nothing left to do.
        with contextlib.suppress(Exception):
            self._conn.shutdown()

    def _take_response(self, name: str) -> list[bytes]:
        """Pop (and so reset) imaplib's collected response-code data such as COPYUID."""
        return list(self._conn._imap.untagged_responses.pop(name, None) or [])

    # -- folder names ------------------------------------------------------------

    def namespace(self) -> Namespace:
        """The server's personal namespace and separator (NAMESPACE, else ``LIST "" ""``)."""
        if self._namespace is None:
            if "NAMESPACE" in self._caps:
                ns = self._run("NAMESPACE", self._conn.namespace)
                self._namespace = parse_namespace(ns.personal, ns.other, ns.shared)
            else:
                listed = self._run("LIST", self._conn.list_folders, "", "")
                sep = next((_decode(d) for _f, d, _n in listed if d), "/")
                self._namespace = parse_namespace([("", sep)])
        return self._namespace

    def resolve_folder(self, name: str) -> str:
        """The server's name for configured folder ``name`` (see :mod:`mailguard.imap.folders`)."""
        _check_folder_name(name)
        if name.upper() == INBOX:
            return INBOX  # needs no NAMESPACE round trip
        return resolve_folder(name, self.namespace())

    def list_folders(self, pattern: str = "*") -> list[ListedFolder]:
        """LIST "" ``pattern`` (a resolved name or wildcard), attributes lower-cased."""
        listed = self._run("LIST", self._conn.list_folders, "", pattern)
        return [
            ListedFolder(str(name), frozenset(_decode(f).lower() for f in flags))
            for flags, _sep, name in listed
        ]

    def my_rights(self, folder: str) -> str | None:
        """MYRIGHTS (RFC 4314) on a resolved ``folder``; None without ACL or an answer."""
        if "ACL" not in self._caps:
            return None
        try:
            typ, data = self._run("MYRIGHTS", self._conn._imap.myrights, folder)
        except MailClientError:
            return None
        if typ != "OK" or not data or not isinstance(data[0], bytes):
            return None
        parts = data[0].decode("utf-8", "replace").split()
        return parts[-1] if len(parts) >= 2 else None

    # -- MailClient --------------------------------------------------------------

    def folder_status(self, folder: str) -> FolderStatus:
        folder = self.resolve_folder(folder)
        st = self._run(
            "STATUS", self._conn.folder_status, folder, ("UIDVALIDITY", "UIDNEXT", "MESSAGES")
        )
        return FolderStatus(
            folder, int(st.get(b"UIDVALIDITY", 0)), int(st.get(b"UIDNEXT", 0)),
            int(st.get(b"MESSAGES", 0)),
        )  # fmt: skip

    def select(self, folder: str, readonly: bool = False) -> FolderStatus:
        """SELECT (or EXAMINE) always; internal callers go through the selection cache."""
        return self._select(self.resolve_folder(folder), readonly=readonly or self._read_only)

    def _select(self, folder: str, *, readonly: bool) -> FolderStatus:
        _check_folder_name(folder)
        self._selected = None  # a failed SELECT leaves nothing selected
        resp = self._run("SELECT", self._conn.select_folder, folder, readonly=readonly)
        status = FolderStatus(
            folder, int(resp.get(b"UIDVALIDITY", 0)), int(resp.get(b"UIDNEXT", 0)),
            int(resp.get(b"EXISTS", 0)),
        )  # fmt: skip
        self._selected, self._selected_readonly, self._selected_status = folder, readonly, status
        return status

    def search_uids(self, folder: str, *, min_uid: int = 1, since: date | None = None) -> list[int]:
        min_uid = max(1, int(min_uid))
        folder = self.resolve_folder(folder)
        self._ensure_selected(folder)
        criteria: list[Any] = ["UID", f"{min_uid}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        uids = self._run("UID SEARCH", self._conn.search, criteria)
        # "n:*" also matches the highest UID when every UID is below n (RFC 3501 6.4.8).
        return sorted(int(u) for u in uids if int(u) >= min_uid)

    def fetch(self, folder: str, uids: Sequence[int], max_bytes: int) -> list[FetchedMessage]:
        """One UID FETCH for the whole batch; UIDs gone meanwhile are simply absent."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        wanted = [int(u) for u in uids]
        if not wanted:
            return []
        folder = self.resolve_folder(folder)
        self._ensure_selected(folder)
        items = [f"BODY.PEEK[]<0.{max_bytes}>", "RFC822.SIZE", "FLAGS", "INTERNALDATE"]
        resp = self._run("UID FETCH", self._conn.fetch, wanted, items)
        out: list[FetchedMessage] = []
        for uid in wanted:
            data = resp.get(uid)
            if data is None:
                continue
            raw = next((v for k, v in data.items() if bytes(k).startswith(b"BODY[]")), b"")
            raw = bytes(raw or b"")
            size = int(data.get(b"RFC822.SIZE", len(raw)) or 0)
            when = data.get(b"INTERNALDATE")
            out.append(
                FetchedMessage(
                    uid=uid,
                    raw=raw[:max_bytes],
                    size=size,
                    flags=_flags(data.get(b"FLAGS", ())),
                    internaldate=when if isinstance(when, datetime) else None,
                    truncated=size > max_bytes or len(raw) > max_bytes,
                )
            )
        return out

    def ensure_folder(self, folder: str) -> None:
        folder = self.resolve_folder(folder)
        if folder in self._known_folders:
            return
        self._refuse_write(f"create {folder}")
        listed = self._run("LIST", self._conn.list_folders, "", folder)
        if not any(name == folder for _flags, _sep, name in listed):
            try:
                self._run("CREATE", self._conn.create_folder, folder)
                log.info("created folder %s on %s", folder, self.where)
            except MailClientError as e:
                if "ALREADYEXISTS" not in str(e).upper():
                    raise type(e)(
                        f"{e}; `mailguard check-config --connect` shows the folder names "
                        "this server accepts"
                    ) from e
            self._run("SUBSCRIBE", self._conn.subscribe_folder, folder)
        self._known_folders.add(folder)

    def _move_with_move(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        # Without UIDPLUS the server will not say where the message went, so learn
        # its Message-ID first and look for it afterwards.
        message_id = None if "UIDPLUS" in self._caps else self._message_id_of(folder, uid)
        before = None if "UIDPLUS" in self._caps else self.folder_status(dest).uidnext
        self._take_response("COPYUID")
        self._run("UID MOVE", self._conn.move, [uid], dest)
        dest_uid, validity = parse_copyuid(self._take_response("COPYUID"), uid)
        if dest_uid is None:
            if message_id is None and "UIDPLUS" in self._caps:
                raise MessageNotFound(f"{self.where}: UID {uid} is no longer in {folder}")
            dest_uid, validity = self._locate(dest, message_id, before)
        return MoveResult(method, dest_uid, validity, removed_from_source=True)

    def _move_with_uidplus(self, folder: str, uid: int, dest: str, method: str) -> MoveResult:
        self._take_response("COPYUID")
        self._run("UID COPY", self._conn.copy, [uid], dest)
        dest_uid, validity = parse_copyuid(self._take_response("COPYUID"), uid)
        return self._uidplus_copied(folder, uid, method, dest_uid, validity)

    def _delete_one(self, uid: int) -> None:
        """\\Deleted on one UID, then UID EXPUNGE of that UID only (selected folder)."""
        self._run("UID STORE", self._conn.add_flags, [uid], [imapclient.DELETED], silent=True)
        self._run("UID EXPUNGE", self._conn.uid_expunge, [uid])

    def unflag_deleted(self, folder: str, uid: int) -> None:
        """UID STORE -FLAGS.SILENT (\\Deleted) on one UID: undo a \\Deleted we set.

        Reconciliation uses it when a crash left our \\Deleted on a message that
        will not be expunged (no UIDPLUS), so the user's view is as before.
        """
        self._ensure_selected(self.resolve_folder(folder), writable=True)
        self._run(
            "UID STORE", self._conn.remove_flags, [int(uid)], [imapclient.DELETED], silent=True
        )

    def _copy_only(self, folder: str, uid: int, dest: str) -> MoveResult:
        message_id = self._message_id_of(folder, uid)
        before = self.folder_status(dest).uidnext
        self._take_response("COPYUID")
        self._run("UID COPY", self._conn.copy, [uid], dest)
        dest_uid, validity = parse_copyuid(self._take_response("COPYUID"), uid)
        if dest_uid is None:
            dest_uid, validity = self._locate(dest, message_id, before)
        log.warning(
            "%s offers neither MOVE nor UIDPLUS: copied UID %s from %s to %s and left the "
            "original in place (a mailbox-wide EXPUNGE could delete other mail)",
            self.where, uid, folder, dest,
        )  # fmt: skip
        return MoveResult("copy-only", dest_uid, validity, removed_from_source=False)

    def _message_id_of(self, folder: str, uid: int) -> str | None:
        """The Message-ID header (None if absent); MessageNotFound if the UID is gone."""
        self._ensure_selected(folder)
        item = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
        resp = self._run("UID FETCH", self._conn.fetch, [uid], [item])
        data = resp.get(uid)
        if data is None:
            raise MessageNotFound(f"{self.where}: UID {uid} is no longer in {folder}")
        raw = next((v for k, v in data.items() if bytes(k).startswith(b"BODY[HEADER")), b"")
        value = BytesHeaderParser(policy=compat32).parsebytes(bytes(raw or b""))["Message-ID"]
        if value is None:
            return None
        return str(value).strip() or None

    def _locate(
        self, dest: str, message_id: str | None, uidnext_before: int | None = None
    ) -> tuple[int | None, int | None]:
        """Where a message we just moved/copied landed, on a server that did not say.

        Message-IDs are the sender's choice: another message in ``dest`` may
        carry the same one, and some cannot be searched for at all. So only UIDs
        at or above ``dest``'s UIDNEXT from before the move count, and without
        a usable Message-ID the one new UID there is taken (None if several).
        """
        uids: list[int] = []
        if message_id:
            try:
                uids = self.find_by_message_id(dest, message_id)
            except MailClientError:
                if self._closed:
                    raise
        if uidnext_before is not None:
            uids = [u for u in uids if u >= uidnext_before]
            if not uids:
                new = self.search_uids(dest, min_uid=uidnext_before)
                uids = new if len(new) == 1 else []
        if not uids:
            return None, None
        return max(uids), self._ensure_selected(dest).uidvalidity  # selected by the search

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        value = _search_value(message_id)
        if value is None:
            return []
        self._ensure_selected(self.resolve_folder(folder), examine=True)
        charset = None if value.isascii() else "UTF-8"
        uids = self._run(
            "UID SEARCH", self._conn.search, ["HEADER", "Message-ID", value], charset=charset
        )
        return sorted(int(u) for u in uids)

    def get_flags(self, folder: str, uids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        wanted = [int(u) for u in uids]
        if not wanted:
            return {}
        self._ensure_selected(self.resolve_folder(folder), examine=True)
        resp = self._run("UID FETCH", self._conn.get_flags, wanted)
        return {int(u): _flags(flags) for u, flags in resp.items()}

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int | None:
        """APPEND; returns the new UID when the server reports it (APPENDUID)."""
        folder = self.resolve_folder(folder)
        self._refuse_write(f"append to {folder}")
        self._take_response("APPENDUID")
        text = self._run("APPEND", self._conn.append, folder, raw, tuple(flags), when)
        new_uid, _ = parse_appenduid(text)
        if new_uid is None:
            for line in self._take_response("APPENDUID"):
                new_uid, _ = parse_appenduid(b"[APPENDUID " + bytes(line) + b"]")
        self._take_response("APPENDUID")
        return new_uid

    def sent_folder(self) -> str | None:
        """One LIST: the folder flagged \\Sent, else the first common Sent name present under
        the personal namespace (``INBOX.Sent Items``, ``INBOX.送信済み`` on Courier)."""
        return find_sent(self.list_folders("*"), self.namespace())

    def search_sent_to(self, folder: str, address: str) -> list[datetime]:
        """INTERNALDATEs of messages in ``folder`` sent To/Cc/Bcc ``address``.

        ``address`` is a full address or a bare domain (``example.jp`` or
        ``@example.jp``; subdomains count). The server's substring search is
        narrowed to exact matches using ENVELOPE; bodies are never fetched.
        """
        target = sent_search_target(_search_value(address.lower()))
        if target is None:
            return []
        value, domain = target
        # EXAMINE: the Sent folder is only read, never changed (and never marked read).
        self._ensure_selected(self.resolve_folder(folder), examine=True)
        charset = None if value.isascii() else "UTF-8"
        criteria = ["OR", "OR", "TO", value, "CC", value, "BCC", value]
        uids = sorted(int(u) for u in self._run("UID SEARCH", self._conn.search, criteria, charset))
        dates: list[datetime] = []
        for start in range(0, len(uids), _SENT_SEARCH_BATCH):
            batch = uids[start : start + _SENT_SEARCH_BATCH]
            resp = self._run("UID FETCH", self._conn.fetch, batch, ["INTERNALDATE", "ENVELOPE"])
            for data in resp.values():
                envelope = data.get(b"ENVELOPE")
                when = data.get(b"INTERNALDATE")
                if not isinstance(when, datetime):
                    continue
                if envelope is None or _envelope_matches(envelope, value, domain):
                    dates.append(when)
        return sorted(dates)

    def noop(self) -> None:
        """Liveness check for a connection kept open between polls."""
        self._run("NOOP", self._conn.noop)

    def idle_wait(
        self, folder: str, timeout: float, *, should_stop: Callable[[], bool] = lambda: False
    ) -> bool:
        """Wait in IDLE (RFC 2177) on ``folder`` for up to ``timeout`` seconds.

        Returns True as soon as the server announces a change to the folder's
        messages (EXISTS, RECENT or EXPUNGE), False when the time ran out or
        ``should_stop`` said so. The folder is EXAMINEd (read-only): watching
        never changes a flag. The IDLE is always ended with DONE, and the
        server must confirm it within the account's timeout, else the
        connection is treated as dead (ConnectionLost): a silently dropped TCP
        connection would otherwise look like a quiet mailbox forever.
        Callers re-issue IDLE every ``timeout`` seconds, well under the 29
        minutes after which servers may drop an idle client (RFC 2177).
        """
        if "IDLE" not in self._caps:
            raise MailClientError(f"{self.where}: server does not offer IDLE")
        folder = self.resolve_folder(folder)
        if self._selected != folder or not self._selected_readonly:
            self.select(folder, readonly=True)
        elif self._resync():
            return True
        deadline = time.monotonic() + timeout
        # Mail delivered just before IDLE started is not always announced in it (seen
        # with Dovecot when an APPEND races the IDLE command), so the first IDLE is
        # short and followed by one NOOP; then IDLE runs for the rest of the time.
        settle: float | None = min(deadline, time.monotonic() + IDLE_SETTLE_SECONDS)
        while True:
            if self._idle_until(settle or deadline, should_stop):
                return True
            if should_stop() or time.monotonic() >= deadline or settle is None:
                return False
            settle = None
            if self._resync():
                return True

    def _resync(self) -> bool:
        """NOOP: did the folder change while we were not in IDLE?"""
        _text, pending = self._run("NOOP", self._conn.noop)
        return any(_is_change(r) for r in pending)

    def _idle_until(self, until: float, should_stop: Callable[[], bool]) -> bool:
        """One IDLE ... DONE, until a change, ``until`` (monotonic) or ``should_stop``."""
        self._run("IDLE", self._conn.idle)
        changed = False
        quick_empty = 0
        try:
            while not changed and not should_stop():
                left = until - time.monotonic()
                if left <= 0:
                    break
                # Short slices so a stop request is seen within a second or two.
                slice_ = min(left, 2.0)
                began = time.monotonic()
                responses = self._run("IDLE", self._conn.idle_check, timeout=slice_)
                changed = any(_is_change(r) for r in responses)
                # imapclient swallows EOF in idle_check and returns nothing at once: a
                # socket that is "readable" again and again with no line is a dead server.
                quick = not responses and time.monotonic() - began < min(slice_ / 2, 0.5)
                quick_empty = quick_empty + 1 if quick else 0
                if quick_empty >= 3:
                    self._lost()
                    raise ConnectionLost(f"{self.where}: IDLE: connection closed by the server")
        finally:
            if not self._closed:
                _text, after = self._run("DONE", self._conn.idle_done)
                # A change announced between the last check and DONE counts too.
                changed = changed or any(_is_change(r) for r in after)
        return changed

    @property
    def closed(self) -> bool:
        return self._closed

    def logout(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._selected = None
        try:
            self._conn.logout()
        except Exception:  # already broken: closing the socket is all that is left
            self._shutdown()

    def __enter__(self) -> ImapMailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.logout()


IDLE_SETTLE_SECONDS = 1.0


def _is_change(response: object) -> bool:
    """An untagged IDLE response that means the folder's messages changed."""
    if isinstance(response, tuple) and len(response) >= 2:
        return _decode(response[1]).upper() in ("EXISTS", "RECENT", "EXPUNGE")
    return False


def _envelope_addresses(envelope: Any) -> Iterator[str]:
    for field in (envelope.to, envelope.cc, envelope.bcc):
        for addr in field or ():
            if addr.mailbox and addr.host:
                yield f"{_decode(addr.mailbox)}@{_decode(addr.host)}".lower()


def _envelope_matches(envelope: Any, value: str, domain: str | None) -> bool:
    return addresses_match(_envelope_addresses(envelope), value, domain)
