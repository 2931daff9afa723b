"""What only the in-memory double offers (the shared behaviour is in tests/contract): the
hooks that inject failures, the other parties a test can play, and the places where
it models a real server more strictly than the test Dovecot can (no APPENDUID or
COPYUID without UIDPLUS)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from mailguard.imap import AuthenticationFailed, ConnectionLost, MailClientError, MessageNotFound
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer, iter_messages

Q = "Quarantine"


def message(n: int, *, message_id: bool = True) -> bytes:
    lines = [
        "From: Billing <billing@example.net>",
        "To: user@example.org",
        f"Subject: note {n}",
        *([f"Message-ID: <u{n}@memory.test>"] if message_id else []),
        "",
        f"text {n}",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.fixture
def server() -> MemoryMailServer:
    return MemoryMailServer(folders=[Q])


def test_connection_drop_before_move_leaves_the_message_in_place(
    server: MemoryMailServer,
) -> None:
    uid = server.deliver("INBOX", message(1), flags=["\\Flagged"])
    client = server.client()
    rule = server.fail("MOVE", when="before")
    with pytest.raises(ConnectionLost, match="injected"):
        client.move("INBOX", uid, Q)
    assert rule.fired == 1 and client.closed
    assert server.uids("INBOX") == [uid] and server.uids(Q) == []
    with pytest.raises(ConnectionLost):
        client.noop()  # dead, like a real client after a drop
    # The rule fired once; a new connection works normally.
    result = server.client().move("INBOX", uid, Q)
    assert result.dest_uid is not None
    assert server.flags(Q) == {result.dest_uid: ("\\Flagged",)}


def test_connection_drop_after_move_means_the_move_happened(server: MemoryMailServer) -> None:
    """The case crash recovery exists for: the server moved it, we never heard back."""
    uid = server.deliver("INBOX", message(1))
    client = server.client()
    server.fail("MOVE", when="after")
    with pytest.raises(ConnectionLost):
        client.move("INBOX", uid, Q)
    assert server.uids("INBOX") == []
    assert [m.raw for m in iter_messages(server, Q)] == [message(1)]


def test_drop_between_copy_and_expunge_leaves_the_message_in_both() -> None:
    server = MemoryMailServer(folders=[Q], hide_capabilities={"MOVE"})
    uid = server.deliver("INBOX", message(1))
    client = server.client()
    server.fail("STORE", when="before")
    with pytest.raises(ConnectionLost):
        client.move("INBOX", uid, Q)
    assert server.uids("INBOX") == [uid] and len(server.uids(Q)) == 1
    assert server.flags("INBOX") == {uid: ()}  # not even \Deleted yet
    again = server.client()
    again.expunge_uid("INBOX", uid)  # what reconciliation then does
    assert server.uids("INBOX") == [] and len(server.uids(Q)) == 1


def test_failure_can_target_one_client_and_be_a_plain_error(server: MemoryMailServer) -> None:
    uid = server.deliver("INBOX", message(1))
    ours, app = server.client(), server.client()
    server.fail("FETCH", client=ours, error=MailClientError, times=2)
    assert [m.uid for m in app.fetch("INBOX", [uid], 100)] == [uid]
    for _ in range(2):
        with pytest.raises(MailClientError, match="injected") as err:
            ours.fetch("INBOX", [uid], 100)
        assert not isinstance(err.value, ConnectionLost)
    assert not ours.closed
    assert [m.uid for m in ours.fetch("INBOX", [uid], 100)] == [uid]


def test_a_hook_plays_the_users_app_between_search_and_fetch(server: MemoryMailServer) -> None:
    uid = server.deliver("INBOX", message(1))
    keep = server.deliver("INBOX", message(2))
    client = server.client()

    def app_moves_it(c: MemoryMailClient, verb: str, phase: str) -> None:
        if verb == "FETCH" and phase == "before":
            server.remove("INBOX", uid)

    remove = server.add_hook(app_moves_it)
    assert client.search_uids("INBOX") == [uid, keep]
    fetched = {m.uid: m for m in client.fetch("INBOX", [uid, keep], 1000)}
    remove()
    assert fetched[uid].raw == b"" and fetched[uid].size == 0  # Dovecot's empty answer
    assert fetched[keep].raw == message(2)
    with pytest.raises(MessageNotFound):
        client.move("INBOX", uid, Q)


def test_drop_connections_kills_every_client(server: MemoryMailServer) -> None:
    a, b = server.client(), server.client()
    server.drop_connections()
    assert a.closed and b.closed
    with pytest.raises(ConnectionLost):
        a.folder_status("INBOX")
    assert server.client().folder_status("INBOX").messages == 0


def test_recreated_folder_has_a_new_uidvalidity(server: MemoryMailServer) -> None:
    server.deliver("INBOX", message(1))
    server.deliver("INBOX", message(2))
    server.remove("INBOX", 1)
    before = server.status("INBOX")
    server.recreate_folder("INBOX")
    after = server.status("INBOX")
    assert after.uidvalidity != before.uidvalidity
    assert server.uids("INBOX") == [1] and after.uidnext == 2
    assert server.message("INBOX", 1).raw == message(2)


def test_without_uidplus_no_uids_are_reported() -> None:
    """A true non-UIDPLUS server: no APPENDUID, no COPYUID. Dovecot with UIDPLUS hidden
    still sends both, so only the double can show what the client does then."""
    server = MemoryMailServer(folders=[Q], hide_capabilities={"MOVE", "UIDPLUS"})
    client = server.client()
    assert client.append("INBOX", message(1)) is None
    with_id = server.uids("INBOX")[0]
    without_id = server.deliver("INBOX", message(2, message_id=False))
    found = client.move("INBOX", with_id, Q)
    assert found.method == "copy-only" and found.dest_uid == server.uids(Q)[0]
    blind = client.move("INBOX", without_id, Q)
    assert blind.dest_uid is None and not blind.removed_from_source
    assert len(server.uids(Q)) == 2 and len(server.uids("INBOX")) == 2


def test_wrong_password_is_refused_without_echoing_it() -> None:
    server = MemoryMailServer(password="right-secret")
    with pytest.raises(AuthenticationFailed) as err:
        server.client("wrong-secret")
    assert "wrong-secret" not in str(err.value) and "right-secret" not in str(err.value)
    assert server.client("right-secret").commands["LOGIN"] == 1


def test_folder_names_inbox_case_and_hierarchy(server: MemoryMailServer) -> None:
    client = server.client()
    server.deliver("inbox", message(1))
    assert client.folder_status("Inbox").messages == 1
    client.ensure_folder("Scams/2025/迷惑")
    assert {"Scams", "Scams/2025", "Scams/2025/迷惑"} <= set(server.folders())
    assert server.subscribed("Scams/2025/迷惑")
    listed = {name: attrs for attrs, _sep, name in server.list_folders()}
    assert "\\HasChildren" in listed["Scams"]
    assert "\\HasNoChildren" in listed["Scams/2025/迷惑"]
    client.ensure_folder("Sent")
    assert "\\Sent" in {name: attrs for attrs, _s, name in server.list_folders()}["Sent"]


def test_internaldate_is_aware_and_whole_seconds(server: MemoryMailServer) -> None:
    naive = datetime(2025, 6, 1, 12, 0, 0, 123456)
    uid = server.client().append("INBOX", message(1), when=naive)
    assert uid is not None
    stored = server.message("INBOX", uid).internaldate
    assert stored.tzinfo is not None and stored.microsecond == 0
    assert stored == naive.astimezone().replace(microsecond=0)
    assert server.message("INBOX", server.deliver("INBOX", message(2))).internaldate <= (
        datetime.now(UTC)
    )


def test_concurrent_clients_get_distinct_uids(server: MemoryMailServer) -> None:
    clients = [server.client() for _ in range(4)]
    uids: list[int | None] = []
    lock = threading.Lock()

    def work(c: MemoryMailClient, base: int) -> None:
        for i in range(50):
            uid = c.append("INBOX", message(base + i))
            with lock:
                uids.append(uid)

    threads = [threading.Thread(target=work, args=(c, n * 100)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in uids and len(set(uids)) == 200
    assert server.status("INBOX").uidnext == 201


def test_another_apps_flag_changes_skip_uids_that_are_gone(server: MemoryMailServer) -> None:
    kept = server.deliver("INBOX", message(1), flags=["\\Seen"])
    gone = server.deliver("INBOX", message(2))
    server.remove("INBOX", gone)
    server.add_flags("INBOX", [kept, gone], ["\\Flagged", "$Label1"])
    assert set(server.flags("INBOX")[kept]) == {"\\Seen", "\\Flagged", "$Label1"}
    server.remove_flags("INBOX", [kept, gone], ["\\Seen", "$Label1"])
    assert server.flags("INBOX") == {kept: ("\\Flagged",)}
