"""One behavioural contract, two implementations: the in-memory double and ImapMailClient on
a real Dovecot.

Every test here runs against both (``backend`` is parametrised), and observes only
what the pipeline can observe through the MailClient protocol (plus, for the
"another mail app" role, the smallest backend-specific action). If the double
drifts from Dovecot, the memory run and the Dovecot run of the same test
disagree and one of them fails -- which is what lets the pipeline and daemon use
the double for fast tests.

Capability variants: ``full`` (MOVE + UIDPLUS), ``no-move`` (UIDPLUS only),
``no-uidplus`` (MOVE only), ``copy-only`` (neither) and ``gmail`` (X-GM-EXT-1
added). The Dovecot variants come from ``dovecot_factory(...)``: Dovecot still
*accepts* hidden commands and still sends COPYUID/APPENDUID, so the contract
checks decisions made by advertised capability and results both servers agree
on; where a true server without UIDPLUS differs (no APPENDUID), the test allows
exactly that.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mailguard.imap import (
    ConnectionLost,
    FolderNotFound,
    ImapMailClient,
    MailClient,
    MailClientError,
    MessageNotFound,
)
from mailguard.testing import DovecotServer
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer

PW_ENV = "CONTRACT_IMAP_PASSWORD"  # only named in the config; connect() gets the secret
QUARANTINE = "Quarantine"

VARIANTS: dict[str, frozenset[str]] = {
    "full": frozenset(),
    "no-move": frozenset({"MOVE"}),
    "no-uidplus": frozenset({"UIDPLUS"}),
    "copy-only": frozenset({"MOVE", "UIDPLUS"}),
    "gmail": frozenset(),
}
EXTRA: dict[str, frozenset[str]] = {"gmail": frozenset({"X-GM-EXT-1"})}
_msg_ids = itertools.count(1)


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """A fresh, empty mailbox reachable through MailClient connections of one kind."""

    kind: str
    connect: Callable[[], MailClient]
    mark_deleted: Callable[[str, int], None]  # the user's mail app: UID STORE +FLAGS \Deleted
    plain_expunge: Callable[[MailClient], Any]  # what the client does if asked for EXPUNGE
    close_folder: Callable[[MailClient], Any]  # ... and for CLOSE
    subscribed: Callable[[str], bool]

    def __post_init__(self) -> None:
        self._clients: list[MailClient] = []

    def client(self) -> MailClient:
        c = self.connect()
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.logout()


def memory_backend(hidden: frozenset[str], extra: frozenset[str]) -> Backend:
    server = MemoryMailServer(hide_capabilities=hidden, extra_capabilities=extra)

    def mark_deleted(folder: str, uid: int) -> None:
        server.add_flags(folder, [uid], ["\\Deleted"])

    def plain_expunge(c: MailClient) -> Any:
        assert isinstance(c, MemoryMailClient)
        return c.expunge()

    def close_folder(c: MailClient) -> Any:
        assert isinstance(c, MemoryMailClient)
        return c.close_folder()

    return Backend("memory", server.client, mark_deleted, plain_expunge, close_folder,
                   server.subscribed)  # fmt: skip


def dovecot_backend(server: DovecotServer) -> Backend:
    mb = server.mailbox(server.unique_name("contract"))

    def connect() -> MailClient:
        return ImapMailClient.connect(mb.account_config(PW_ENV), mb.password)

    def mark_deleted(folder: str, uid: int) -> None:
        with mb.client() as app:
            app.select_folder(folder)
            app.add_flags([uid], ["\\Deleted"])

    def plain_expunge(c: MailClient) -> Any:
        assert isinstance(c, ImapMailClient)
        return c._conn.expunge()

    def close_folder(c: MailClient) -> Any:
        assert isinstance(c, ImapMailClient)
        return c._conn.close_folder()

    def subscribed(folder: str) -> bool:
        with mb.client() as app:
            return folder in {name for _flags, _sep, name in app.list_sub_folders()}

    return Backend("dovecot", connect, mark_deleted, plain_expunge, close_folder, subscribed)


MakeBackend = Callable[[str], Backend]


@pytest.fixture(params=["memory", pytest.param("dovecot", marks=pytest.mark.integration)])
def make_backend(request: pytest.FixtureRequest) -> Iterator[MakeBackend]:
    """``make_backend(variant)``: a fresh mailbox on a server with that capability variant."""
    made: list[Backend] = []

    def make(variant: str = "full") -> Backend:
        hidden, extra = VARIANTS[variant], EXTRA.get(variant, frozenset())
        if request.param == "memory":
            backend = memory_backend(hidden, extra)
        elif hidden or extra:
            factory = request.getfixturevalue("dovecot_factory")
            options = {"hide_capabilities": set(hidden)} if hidden else {}
            if extra:
                options["extra_capabilities"] = set(extra)
            backend = dovecot_backend(factory(**options))
        else:
            backend = dovecot_backend(request.getfixturevalue("dovecot"))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: MakeBackend) -> Backend:
    return make_backend("full")


@pytest.fixture
def client(backend: Backend) -> MailClient:
    return backend.client()


# --------------------------------------------------------------------------- helpers


def message(n: int, *, to: str = "user@example.org", cc: str = "", body: str = "") -> bytes:
    lines = [
        "From: Shop <noreply@shop.example.net>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: message {n}",
        f"Message-ID: <c{n}@contract.mailguard>",
        "Date: Mon, 02 Jun 2025 09:00:00 +0900",
        "",
        body or f"body {n}",
        "",
    ]
    return "\r\n".join(lines).encode()


def add(
    client: MailClient,
    folder: str,
    *,
    flags: tuple[str, ...] = (),
    when: datetime | None = None,
    **kwargs: Any,
) -> int:
    """APPEND a new message and return its UID. A server without UIDPLUS does not report
    it, so it is found by Message-ID; when the server does report one, they must agree."""
    n = next(_msg_ids)
    reported = client.append(folder, message(n, **kwargs), flags=flags, when=when)
    found = client.find_by_message_id(folder, f"<c{n}@contract.mailguard>")
    assert len(found) == 1
    if reported is not None:
        assert reported == found[0]
    else:
        assert "UIDPLUS" not in client.capabilities
    return found[0]


def message_id_of(n_uid_raw: bytes) -> str:
    for line in n_uid_raw.decode().splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Message-ID")


def flagset(flags: tuple[str, ...]) -> set[str]:
    return {f.lower() for f in flags}


# --------------------------------------------------------------------------- status and search


def test_status_after_appends(client: MailClient) -> None:
    empty = client.folder_status("INBOX")
    assert empty.messages == 0 and empty.uidvalidity > 0 and empty.uidnext >= 1
    uids = [add(client, "INBOX") for _ in range(3)]
    assert uids == sorted(uids) and len(set(uids)) == 3
    assert uids[0] >= empty.uidnext
    after = client.folder_status("INBOX")
    assert after.uidvalidity == empty.uidvalidity
    assert after.messages == 3
    assert after.uidnext == uids[-1] + 1
    selected = client.select("INBOX")
    assert (selected.uidvalidity, selected.uidnext, selected.messages) == (
        after.uidvalidity, after.uidnext, after.messages,
    )  # fmt: skip
    examined = client.select("INBOX", readonly=True)
    assert examined.messages == 3


def test_unchanged_status_sends_no_fetch(client: MailClient) -> None:
    add(client, "INBOX")
    first = client.folder_status("INBOX")
    fetches, statuses = client.commands["FETCH"], client.commands["STATUS"]
    assert client.folder_status("INBOX") == first
    assert client.commands["FETCH"] == fetches
    assert client.commands["STATUS"] == statuses + 1


def test_search_uid_ranges_since_and_the_range_trap(client: MailClient) -> None:
    old = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
    new = datetime.now(UTC).replace(microsecond=0)
    u1 = add(client, "INBOX", when=old)
    u2 = add(client, "INBOX", when=new)
    u3 = add(client, "INBOX", flags=("\\Seen",), when=new)
    selects = client.commands["SELECT"]
    assert client.search_uids("INBOX") == [u1, u2, u3]
    assert client.search_uids("INBOX", min_uid=u2) == [u2, u3]
    assert client.search_uids("INBOX", min_uid=u3) == [u3]
    # "UID n:*" with n above every UID matches the last message on the server; the
    # client must filter it out.
    assert client.search_uids("INBOX", min_uid=u3 + 1) == []
    assert client.search_uids("INBOX", min_uid=0) == [u1, u2, u3]
    assert client.search_uids("INBOX", since=date(2025, 1, 1)) == [u2, u3]
    assert client.search_uids("INBOX", min_uid=u2, since=date(2020, 1, 1)) == [u2, u3]
    assert client.commands["SELECT"] == selects  # the selection made by add() is reused
    assert client.commands.uid_counts["SEARCH"] == client.commands["SEARCH"]


def test_find_by_message_id(client: MailClient) -> None:
    u1 = add(client, "INBOX")
    u2 = add(client, "INBOX")
    raw = {m.uid: m.raw for m in client.fetch("INBOX", [u1, u2], 10_000)}
    mid = message_id_of(raw[u2])
    assert client.find_by_message_id("INBOX", mid) == [u2]
    assert client.find_by_message_id("INBOX", "<nobody@contract.mailguard>") == []
    # Scam mail chooses its Message-ID: a line break must never reach the command line.
    assert client.find_by_message_id("INBOX", mid + "\r\nA1 LOGOUT") == []
    assert client.find_by_message_id("INBOX", "   ") == []
    assert not client.closed


# --------------------------------------------------------------------------- fetch


def test_fetch_content_size_flags_and_peek(backend: Backend, client: MailClient) -> None:
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    u1 = add(client, "INBOX", when=when, body="x" * 200)
    u2 = add(client, "INBOX", flags=("\\Flagged",))
    fetches = client.commands["FETCH"]
    got = {m.uid: m for m in client.fetch("INBOX", [u1, u2, u2 + 50], max_bytes=64)}
    assert client.commands["FETCH"] == fetches + 1  # one command for the batch
    assert set(got) == {u1, u2}  # a UID that is not there is simply absent
    m1 = got[u1]
    full = {m.uid: m for m in client.fetch("INBOX", [u1], max_bytes=1_000_000)}[u1]
    assert not full.truncated and full.size == len(full.raw)
    assert m1.truncated and len(m1.raw) == 64 and m1.size == full.size
    assert m1.raw == full.raw[:64]
    assert m1.internaldate == when
    assert got[u2].flags == ("\\Flagged",)
    # Reading never marks as read, seen by this client and by the user's mail app.
    assert client.get_flags("INBOX", [u1, u2]) == {u1: (), u2: ("\\Flagged",)}
    other = backend.client()
    assert other.get_flags("INBOX", [u1, u2, u2 + 50]) == {u1: (), u2: ("\\Flagged",)}
    assert client.fetch("INBOX", [], max_bytes=10) == []
    with pytest.raises(ValueError):
        client.fetch("INBOX", [u1], max_bytes=0)


# --------------------------------------------------------------------------- folders


def test_ensure_folder_creates_subscribes_once(backend: Backend, client: MailClient) -> None:
    client.ensure_folder(QUARANTINE)
    client.ensure_folder(QUARANTINE)  # idempotent and cached
    assert client.commands["CREATE"] == 1
    assert backend.subscribed(QUARANTINE)
    assert client.folder_status(QUARANTINE).messages == 0
    nested = "Archive/Scam 2025"
    client.ensure_folder(nested)
    assert client.folder_status(nested).messages == 0
    # A folder someone else already made is not created again.
    fresh = backend.client()
    fresh.ensure_folder(QUARANTINE)
    assert fresh.commands["CREATE"] == 0


def test_missing_folder_errors(client: MailClient) -> None:
    uid = add(client, "INBOX")
    with pytest.raises(FolderNotFound):
        client.folder_status("No Such Folder")
    with pytest.raises(FolderNotFound):
        client.select("No Such Folder")
    with pytest.raises(FolderNotFound):
        client.search_uids("No Such Folder")
    with pytest.raises(FolderNotFound):
        client.find_by_message_id("No Such Folder", "<x@y>")
    with pytest.raises(FolderNotFound):
        client.append("No Such Folder", message(0))
    with pytest.raises(FolderNotFound):
        client.move("INBOX", uid, "No Such Folder")
    with pytest.raises(MailClientError):
        client.folder_status("bad\r\nname")
    assert not client.closed  # a missing folder does not cost the connection
    assert client.search_uids("INBOX") == [uid]
    assert client.get_flags("INBOX", [uid]) == {uid: ()}


def test_sent_folder_and_search_sent_to(client: MailClient) -> None:
    assert client.sent_folder() is None  # no Sent folder yet
    client.ensure_folder("Sent")
    assert client.sent_folder() == "Sent"
    when = datetime(2025, 5, 20, 10, 30, tzinfo=UTC)
    add(client, "Sent", to="Help Desk <Help@Shop.Example.jp>", cc="boss@corp.example",
        flags=("\\Seen",), when=when)  # fmt: skip
    add(client, "Sent", to="someone@notexample.jp", when=when + timedelta(days=1))
    fetches = client.commands["FETCH"]
    assert client.search_sent_to("Sent", "help@shop.example.jp") == [when]
    assert client.search_sent_to("Sent", "boss@corp.example") == [when]
    assert client.search_sent_to("Sent", "example.jp") == [when]  # subdomains count
    assert client.search_sent_to("Sent", "@shop.example.jp") == [when]
    assert client.search_sent_to("Sent", "xample.jp") == []  # substring hits are filtered
    assert client.search_sent_to("Sent", "nobody@example.jp") == []
    assert client.search_sent_to("Sent", "x\r\nA1 DELETE INBOX") == []
    assert client.search_sent_to("Sent", "") == []
    assert client.commands["FETCH"] - fetches == 5  # no server hits, no FETCH


# --------------------------------------------------------------------------- moving


@pytest.mark.parametrize(
    ("variant", "method", "removed"),
    [
        ("full", "move", True),
        ("no-move", "uidplus", True),
        ("no-uidplus", "move", True),
        ("copy-only", "copy-only", False),
        ("gmail", "gmail-labels", True),
    ],
)
def test_move_keeps_flags_and_reports_the_copy(
    make_backend: MakeBackend, variant: str, method: str, removed: bool
) -> None:
    backend = make_backend(variant)
    c = backend.client()
    seen = add(c, "INBOX", flags=("\\Seen",))
    flagged = add(c, "INBOX", flags=("\\Flagged", "\\Answered"))
    other = add(c, "INBOX")
    c.ensure_folder(QUARANTINE)
    src_before = c.folder_status("INBOX")
    dest_before = c.folder_status(QUARANTINE)

    r1 = c.move("INBOX", seen, QUARANTINE)
    r2 = c.move("INBOX", flagged, QUARANTINE)
    assert (r1.method, r2.method) == (method, method)
    assert c.commands["MOVE"] == (2 if "MOVE" in c.capabilities else 0)
    assert r1.removed_from_source is removed and r2.removed_from_source is removed
    assert r1.dest_uid is not None and r2.dest_uid is not None and r1.dest_uid < r2.dest_uid
    assert r1.dest_uidvalidity == dest_before.uidvalidity
    assert r1.dest_uid >= dest_before.uidnext

    dest = c.get_flags(QUARANTINE, [r1.dest_uid, r2.dest_uid])
    assert flagset(dest[r1.dest_uid]) == {"\\seen"}
    assert flagset(dest[r2.dest_uid]) == {"\\flagged", "\\answered"}  # no \Deleted leaked
    dest_after = c.folder_status(QUARANTINE)
    assert dest_after.messages == 2 and dest_after.uidnext == r2.dest_uid + 1
    assert dest_after.uidvalidity == dest_before.uidvalidity

    src_after = c.folder_status("INBOX")
    assert src_after.uidnext == src_before.uidnext  # UIDs are never reused
    assert src_after.uidvalidity == src_before.uidvalidity
    if removed:
        assert c.search_uids("INBOX") == [other]
        assert src_after.messages == 1
        with pytest.raises(MessageNotFound):
            c.move("INBOX", seen, QUARANTINE)  # already gone
    else:
        # Copy-only leaves the original exactly as it was, not even \Deleted.
        assert c.search_uids("INBOX") == [seen, flagged, other]
        left = c.get_flags("INBOX", [seen, flagged])
        assert flagset(left[seen]) == {"\\seen"}
        assert flagset(left[flagged]) == {"\\flagged", "\\answered"}
        assert c.commands["STORE"] == 0 and c.commands["EXPUNGE"] == 0
    assert c.commands.plain("EXPUNGE") == 0


def test_move_without_move_never_expunges_other_deleted_mail(make_backend: MakeBackend) -> None:
    backend = make_backend("no-move")
    c = backend.client()
    assert "MOVE" not in c.capabilities and "UIDPLUS" in c.capabilities
    ours = add(c, "INBOX", flags=("\\Flagged",))
    theirs = add(c, "INBOX", flags=("\\Seen",))
    # The trap: the user's app marked this \Deleted but has not expunged yet.
    backend.mark_deleted("INBOX", theirs)
    c.ensure_folder(QUARANTINE)
    result = c.move("INBOX", ours, QUARANTINE)
    assert result.method == "uidplus" and result.removed_from_source
    assert c.commands.uid_counts["STORE"] == 1 and c.commands.uid_counts["EXPUNGE"] == 1
    assert c.commands.plain("EXPUNGE") == 0
    observer = backend.client()
    inbox = observer.get_flags("INBOX", observer.search_uids("INBOX"))
    assert set(inbox) == {theirs}
    assert flagset(inbox[theirs]) == {"\\seen", "\\deleted"}
    assert result.dest_uid is not None
    assert observer.get_flags(QUARANTINE, observer.search_uids(QUARANTINE)) == {
        result.dest_uid: ("\\Flagged",)
    }


def test_mail_another_client_moved_while_we_had_the_folder_selected(
    backend: Backend, client: MailClient
) -> None:
    """Until a command of ours ends, our session still "sees" a message another session
    moved away: FETCH answers it empty, MOVE fails; after that it is simply gone."""
    gone = add(client, "INBOX")
    keep = add(client, "INBOX")
    raced = add(client, "INBOX")
    client.ensure_folder(QUARANTINE)
    assert client.search_uids("INBOX") == [gone, keep, raced]  # our selection, now cached
    app = backend.client()
    app.ensure_folder("Archive")
    app.move("INBOX", gone, "Archive")
    app.move("INBOX", raced, "Archive")

    got = {m.uid: m for m in client.fetch("INBOX", [gone, keep], 1000)}
    assert set(got) == {gone, keep}
    assert (got[gone].raw, got[gone].size, got[gone].flags) == (b"", 0, ())
    assert got[keep].size > 0 and got[keep].raw
    # That command ended; now the session knows.
    assert client.get_flags("INBOX", [gone]) == {}
    assert client.search_uids("INBOX") == [keep]
    with pytest.raises(MessageNotFound):
        client.move("INBOX", gone, QUARANTINE)
    assert client.folder_status(QUARANTINE).messages == 0
    assert not client.closed


def test_moving_a_message_expunged_under_the_session_fails_cleanly(
    backend: Backend, client: MailClient
) -> None:
    uid = add(client, "INBOX")
    client.ensure_folder(QUARANTINE)
    client.select("INBOX")
    app = backend.client()
    app.ensure_folder("Archive")
    app.move("INBOX", uid, "Archive")
    with pytest.raises(MessageNotFound, match="expunged"):
        client.move("INBOX", uid, QUARANTINE)
    assert not client.closed
    assert client.folder_status(QUARANTINE).messages == 0
    assert len(app.search_uids("Archive")) == 1


# --------------------------------------------------------------------------- deleting


def test_expunge_uid_removes_only_that_uid(backend: Backend, client: MailClient) -> None:
    keep = add(client, "INBOX")
    drop = add(client, "INBOX")
    other = add(client, "INBOX", flags=("\\Seen",))
    backend.mark_deleted("INBOX", keep)  # \Deleted by the user's app, not expunged
    client.expunge_uid("INBOX", drop)
    assert client.search_uids("INBOX") == [keep, other]
    assert flagset(client.get_flags("INBOX", [keep])[keep]) == {"\\deleted"}
    assert client.commands.plain("EXPUNGE") == 0
    assert client.commands.uid_counts["EXPUNGE"] == 1
    client.expunge_uid("INBOX", drop)  # already gone: nothing else is touched
    assert client.search_uids("INBOX") == [keep, other]


def test_expunge_uid_refuses_without_uidplus(make_backend: MakeBackend) -> None:
    backend = make_backend("copy-only")
    c = backend.client()
    uid = add(c, "INBOX")
    with pytest.raises(MailClientError, match="UIDPLUS"):
        c.expunge_uid("INBOX", uid)
    assert c.commands["STORE"] == c.commands["EXPUNGE"] == 0
    assert c.get_flags("INBOX", [uid]) == {uid: ()}


def test_unflag_deleted_touches_only_that_uid(backend: Backend, client: MailClient) -> None:
    ours = add(client, "INBOX", flags=("\\Seen",))
    theirs = add(client, "INBOX")
    backend.mark_deleted("INBOX", ours)
    backend.mark_deleted("INBOX", theirs)
    client.unflag_deleted("INBOX", ours)
    flags = client.get_flags("INBOX", [ours, theirs])
    assert flagset(flags[ours]) == {"\\seen"} and flagset(flags[theirs]) == {"\\deleted"}
    assert client.search_uids("INBOX") == [ours, theirs]
    assert client.commands.plain("EXPUNGE") == 0


def test_plain_expunge_and_close_are_refused(backend: Backend, client: MailClient) -> None:
    uid = add(client, "INBOX")
    backend.mark_deleted("INBOX", uid)
    client.select("INBOX")
    sent = client.commands.total
    with pytest.raises(MailClientError, match="EXPUNGE"):
        backend.plain_expunge(client)
    with pytest.raises(MailClientError, match="CLOSE"):
        backend.close_folder(client)
    assert client.commands.total == sent  # refused before anything was sent
    assert client.search_uids("INBOX") == [uid]


# --------------------------------------------------------------------------- sessions


def test_a_session_sees_new_mail_when_a_command_ends(backend: Backend, client: MailClient) -> None:
    """New mail from another session shows up in our selected folder only after one of our
    commands (other than STATUS) ends -- why the daemon starts each poll with NOOP."""
    app = backend.client()
    first = add(app, "INBOX", flags=("\\Seen",))
    assert client.search_uids("INBOX") == [first]  # a fresh SELECT sees everything
    assert client.get_flags("INBOX", [first]) == {first: ("\\Seen",)}
    before = client.folder_status("INBOX")

    second = add(app, "INBOX")
    # STATUS of the selected folder answers from the session's view, and does not update it.
    assert client.folder_status("INBOX") == before
    assert client.folder_status("INBOX") == before
    assert client.search_uids("INBOX") == [first]  # runs on the old view ...
    assert client.search_uids("INBOX") == [first, second]  # ... which then caught up
    assert client.folder_status("INBOX").uidnext == second + 1

    third = add(app, "INBOX")
    client.noop()
    assert client.search_uids("INBOX", min_uid=second + 1) == [third]
    # A session without the folder selected always gets fresh numbers.
    fourth = add(app, "INBOX")
    fresh = backend.client().folder_status("INBOX")
    assert (fresh.messages, fresh.uidnext) == (4, fourth + 1)


def test_after_logout_every_call_is_connection_lost(client: MailClient) -> None:
    client.noop()
    assert client.commands["NOOP"] == 1
    client.logout()
    assert client.closed
    client.logout()  # twice is harmless
    with pytest.raises(ConnectionLost):
        client.folder_status("INBOX")
    with pytest.raises(ConnectionLost):
        client.noop()
