"""ImapMailClient against real Dovecot: TLS, login errors, the three move paths, searches,
the Sent folder, dry-run, and a server crash.

Servers that differ in capabilities (no MOVE, no UIDPLUS, Gmail) are separate
Dovecot instances from ``dovecot_factory``; Dovecot still *accepts* the hidden
commands, so these tests prove the client decides by advertised capabilities.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import imapclient
import pytest

from mailguard.imap import (
    AuthenticationFailed,
    ConnectionLost,
    FolderNotFound,
    ImapMailClient,
    MailClientError,
    MessageNotFound,
)
from mailguard.imap.base import CommandCounter
from mailguard.imap.client import _WireGuard, parse_appenduid, parse_copyuid
from mailguard.testing import DovecotServer, Mailbox

integration = pytest.mark.integration
PW_ENV = "TEST_IMAP_PASSWORD"  # only named in the config; connect() gets the secret directly
QUARANTINE = "Quarantine"


def message(n: int, *, to: str = "user@example.org", cc: str = "", subject: str = "") -> bytes:
    lines = [
        "From: Shop <noreply@shop.example.net>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject or f'message {n}'}",
        f"Message-ID: <m{n}@test.mailguard>",
        "Date: Mon, 02 Jun 2025 09:00:00 +0900",
        "",
        f"body {n}",
        "",
    ]
    return "\r\n".join(lines).encode()


def connect(mb: Mailbox, **overrides: object) -> ImapMailClient:
    return ImapMailClient.connect(mb.account_config(PW_ENV, **overrides), mb.password)


@pytest.fixture
def client(mailbox: Mailbox) -> Iterator[ImapMailClient]:
    with connect(mailbox) as c:
        yield c


def uids_in(mb: Mailbox, folder: str) -> dict[int, tuple[bytes, ...]]:
    """UID -> flags (without the per-session \\Recent), seen by a separate plain session."""
    with mb.client() as imap:
        imap.select_folder(folder, readonly=True)
        flags = imap.get_flags(imap.search(["ALL"]))
        return {uid: tuple(f for f in fl if f != b"\\Recent") for uid, fl in flags.items()}


def subjects_in(mb: Mailbox, folder: str) -> set[str]:
    with mb.client() as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search(["ALL"])
        resp = imap.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
        return {
            v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip().removeprefix("Subject: ")
            for v in resp.values()
        }


# --------------------------------------------------------------------------- connecting


@integration
def test_tls_verified_against_ca_file(mailbox: Mailbox) -> None:
    with connect(mailbox) as c:
        assert {"MOVE", "UIDPLUS", "IMAP4REV1"} <= c.capabilities
        assert not c.is_gmail
        assert c.commands["LOGIN"] == 1


@integration
def test_tls_without_the_ca_is_refused(mailbox: Mailbox) -> None:
    with pytest.raises(MailClientError, match="certificate") as err:
        connect(mailbox, tls_ca_file=None)
    assert not isinstance(err.value, AuthenticationFailed)


@integration
def test_tls_verify_false_connects_and_warns(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), connect(mailbox, tls_ca_file=None, tls_verify=False):
        pass
    assert "tls_verify = false" in caplog.text


@integration
def test_hostname_must_match_the_certificate(mailbox: Mailbox) -> None:
    # The certificate names 127.0.0.1 and localhost; "localhost" verifies too.
    with connect(mailbox, host="localhost") as c:
        assert c.folder_status("INBOX").messages == 0


@integration
@pytest.mark.parametrize("security", ["starttls", "none"])
def test_starttls_and_plain_on_loopback(mailbox: Mailbox, security: str) -> None:
    with connect(mailbox, security=security, port=mailbox.imap_port) as c:
        assert c.folder_status("INBOX").messages == 0
    assert c.commands["STARTTLS"] == (1 if security == "starttls" else 0)


@integration
def test_wrong_password_is_authentication_failed_without_the_password(mailbox: Mailbox) -> None:
    wrong = "Wr0ng-" + mailbox.password
    account = mailbox.account_config(PW_ENV)
    with pytest.raises(AuthenticationFailed) as err:
        ImapMailClient.connect(account, wrong)
    text = str(err.value)
    assert wrong not in text and mailbox.password not in text
    assert mailbox.user in text  # says who, so the log line is actionable
    # Non-ASCII secrets go through AUTHENTICATE PLAIN (UTF-8) and fail the same clean way.
    with pytest.raises(AuthenticationFailed) as err:
        ImapMailClient.connect(account, "パスワード違い")
    assert "パスワード違い" not in str(err.value)


@integration
def test_rejected_oauth2_token_is_authentication_failed(mailbox: Mailbox) -> None:
    token = "ya29.not-a-real-token"
    with pytest.raises(AuthenticationFailed, match="XOAUTH2") as err:
        ImapMailClient.connect(mailbox.account_config(PW_ENV), "", oauth2_token=token)
    assert token not in str(err.value)


def test_silent_server_times_out() -> None:
    """A server that accepts TCP but never greets must not hang the daemon."""
    from mailguard.config import AccountConfig

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        account = AccountConfig(
            name="silent", host="127.0.0.1", port=port, security="none", username="u",
            password_env=PW_ENV, timeout=0.3,
        )  # fmt: skip
        with pytest.raises(ConnectionLost, match="timed out"):
            ImapMailClient.connect(account, "pw")


@integration
def test_nothing_listening_is_connection_lost(dovecot: DovecotServer, mailbox: Mailbox) -> None:
    from mailguard.testing.dovecot import free_port

    with pytest.raises(ConnectionLost, match="cannot connect"):
        connect(mailbox, port=free_port())


# --------------------------------------------------------------------------- reading


@integration
def test_search_fetch_and_the_uid_range_trap(mailbox: Mailbox, client: ImapMailClient) -> None:
    old = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
    new = datetime.now(UTC).replace(microsecond=0)
    u1 = client.append("INBOX", message(1), when=old)
    u2 = client.append("INBOX", message(2), when=new)
    u3 = client.append("INBOX", message(3), flags=["\\Seen"], when=new)
    assert [u1, u2, u3] == sorted({u1, u2, u3}) and None not in (u1, u2, u3)

    assert client.search_uids("INBOX") == [u1, u2, u3]
    assert client.search_uids("INBOX", min_uid=u2) == [u2, u3]
    # "UID n:*" with n above every UID still matches the last message on the server.
    assert client.search_uids("INBOX", min_uid=u3 + 1) == []
    assert client.search_uids("INBOX", since=date(2025, 1, 1)) == [u2, u3]
    assert client.commands["SELECT"] == 1  # the selection is cached

    fetched = {m.uid: m for m in client.fetch("INBOX", [u1, u3, 999], max_bytes=10)}
    assert set(fetched) == {u1, u3}  # a vanished UID is simply absent
    m1 = fetched[u1]
    assert m1.truncated and len(m1.raw) == 10 and m1.size == len(message(1))
    assert m1.raw == message(1)[:10]
    assert m1.internaldate == old
    assert fetched[u3].flags == ("\\Seen",)
    assert client.commands["FETCH"] == 1  # one command for the batch

    flags = uids_in(mailbox, "INBOX")
    assert b"\\Seen" not in flags[u1] and b"\\Seen" not in flags[u2]
    assert client.get_flags("INBOX", [u1, u3]) == {u1: (), u3: ("\\Seen",)}
    assert client.find_by_message_id("INBOX", "<m2@test.mailguard>") == [u2]
    assert client.find_by_message_id("INBOX", "<m2@test.mailguard>\r\nA1 LOGOUT") == []


@integration
def test_unchanged_poll_sends_no_fetch(client: ImapMailClient) -> None:
    client.append("INBOX", message(1))
    first = client.folder_status("INBOX")
    before = dict(client.commands.counts)
    assert client.folder_status("INBOX") == first
    assert client.commands["FETCH"] == before.get("FETCH", 0) == 0
    assert client.commands["STATUS"] == before["STATUS"] + 1


@integration
def test_missing_folder_is_folder_not_found(client: ImapMailClient) -> None:
    with pytest.raises(FolderNotFound):
        client.search_uids("No Such Folder")
    with pytest.raises(FolderNotFound):
        client.folder_status("No Such Folder")
    uid = client.append("INBOX", message(1))
    assert uid is not None
    with pytest.raises(FolderNotFound):
        client.move("INBOX", uid, "No Such Folder")
    assert client.search_uids("INBOX") == [uid]


# --------------------------------------------------------------------------- moving


@integration
def test_move_keeps_flags_and_removes_from_source(mailbox: Mailbox, client: ImapMailClient) -> None:
    seen = client.append("INBOX", message(1), flags=["\\Seen"])
    flagged = client.append("INBOX", message(2), flags=["\\Flagged"])
    other = client.append("INBOX", message(3))
    assert seen and flagged and other
    client.ensure_folder(QUARANTINE)
    client.ensure_folder(QUARANTINE)  # idempotent, and cached

    r1 = client.move("INBOX", seen, QUARANTINE)
    r2 = client.move("INBOX", flagged, QUARANTINE)
    assert (r1.method, r2.method) == ("move", "move")
    assert r1.removed_from_source and r2.removed_from_source
    assert r1.dest_uidvalidity == client.folder_status(QUARANTINE).uidvalidity

    assert set(uids_in(mailbox, "INBOX")) == {other}
    dest = uids_in(mailbox, QUARANTINE)
    assert r1.dest_uid is not None and r2.dest_uid is not None
    assert dest[r1.dest_uid] == (b"\\Seen",)
    assert dest[r2.dest_uid] == (b"\\Flagged",)
    assert subjects_in(mailbox, QUARANTINE) == {"message 1", "message 2"}
    with mailbox.client() as imap:
        assert QUARANTINE in {name for _, _, name in imap.list_sub_folders()}
    assert client.commands["MOVE"] == 2
    assert client.commands["CREATE"] == 1
    assert client.commands.plain("EXPUNGE") == 0

    with pytest.raises(MessageNotFound):
        client.move("INBOX", seen, QUARANTINE)  # already gone


@integration
def test_move_to_a_japanese_folder_name(mailbox: Mailbox, client: ImapMailClient) -> None:
    folder = "迷惑メール隔離"
    uid = client.append("INBOX", message(1))
    assert uid is not None
    client.ensure_folder(folder)
    result = client.move("INBOX", uid, folder)
    assert result.dest_uid is not None
    assert list(uids_in(mailbox, folder)) == [result.dest_uid]


def _marked_deleted_by_another_client(mb: Mailbox, uid: int) -> None:
    with mb.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uid], [imapclient.DELETED])


@integration
def test_without_move_uidplus_never_expunges_other_deleted_mail(
    dovecot_factory: Callable[..., DovecotServer],
) -> None:
    mb = dovecot_factory(hide_capabilities={"MOVE"}).mailbox()
    with connect(mb) as c:
        assert "MOVE" not in c.capabilities and "UIDPLUS" in c.capabilities
        ours = c.append("INBOX", message(1), flags=["\\Flagged"])
        theirs = c.append("INBOX", message(2), flags=["\\Seen"])
        assert ours and theirs
        # The trap: another client marked this one \Deleted but has not expunged yet.
        _marked_deleted_by_another_client(mb, theirs)
        c.ensure_folder(QUARANTINE)
        result = c.move("INBOX", ours, QUARANTINE)
        assert result.method == "uidplus" and result.removed_from_source
        assert c.commands["MOVE"] == 0
        assert c.commands.uid_counts["EXPUNGE"] == 1
        assert c.commands.plain("EXPUNGE") == 0

    inbox = uids_in(mb, "INBOX")
    assert set(inbox) == {theirs}  # still there, still waiting for its owner's EXPUNGE
    assert set(inbox[theirs]) == {b"\\Seen", b"\\Deleted"}
    dest = uids_in(mb, QUARANTINE)
    assert result.dest_uid is not None
    assert dest == {result.dest_uid: (b"\\Flagged",)}  # no \Deleted leaked into the copy


@integration
def test_without_move_or_uidplus_only_copies_and_warns(
    dovecot_factory: Callable[..., DovecotServer], caplog: pytest.LogCaptureFixture
) -> None:
    mb = dovecot_factory(hide_capabilities={"MOVE", "UIDPLUS"}).mailbox()
    with connect(mb) as c:
        uid = c.append("INBOX", message(1))
        assert uid is not None
        c.ensure_folder(QUARANTINE)
        with caplog.at_level(logging.WARNING):
            result = c.move("INBOX", uid, QUARANTINE)
        assert result.method == "copy-only" and not result.removed_from_source
        assert result.dest_uid is not None
        assert c.commands["EXPUNGE"] == 0 and c.commands["STORE"] == 0
    assert "neither MOVE nor UIDPLUS" in caplog.text
    assert uids_in(mb, "INBOX") == {uid: ()}  # original untouched, not even \Deleted
    assert list(uids_in(mb, QUARANTINE)) == [result.dest_uid]


@integration
def test_gmail_is_detected_by_capability(dovecot_factory: Callable[..., DovecotServer]) -> None:
    mb = dovecot_factory(extra_capabilities={"X-GM-EXT-1"}).mailbox()
    with connect(mb) as c:
        assert c.is_gmail
        uid = c.append("INBOX", message(1))
        assert uid is not None
        c.ensure_folder(QUARANTINE)
        result = c.move("INBOX", uid, QUARANTINE)
    assert result.method == "gmail-labels" and result.removed_from_source
    assert uids_in(mb, "INBOX") == {}
    assert result.dest_uid in uids_in(mb, QUARANTINE)


@integration
def test_mailbox_wide_expunge_and_close_are_refused(mailbox: Mailbox) -> None:
    with connect(mailbox) as c:
        uid = c.append("INBOX", message(1))
        assert uid is not None
        _marked_deleted_by_another_client(mailbox, uid)
        c.select("INBOX")
        sent_before = c.commands.total
        with pytest.raises(MailClientError, match="EXPUNGE"):
            c._conn.expunge()
        with pytest.raises(MailClientError, match="CLOSE"):
            c._conn.close_folder()
        assert c.commands.total == sent_before
    assert uid in uids_in(mailbox, "INBOX")


@integration
def test_expunge_uid_deletes_exactly_one_message(mailbox: Mailbox, client: ImapMailClient) -> None:
    """What reconciliation uses to finish a move a crash cut off after the copy."""
    keep = client.append("INBOX", message(1))
    drop = client.append("INBOX", message(2))
    assert keep and drop
    _marked_deleted_by_another_client(mailbox, keep)
    client.expunge_uid("INBOX", drop)
    assert list(uids_in(mailbox, "INBOX")) == [keep]
    assert client.commands.plain("EXPUNGE") == 0


@integration
def test_expunge_uid_refuses_without_uidplus(
    dovecot_factory: Callable[..., DovecotServer],
) -> None:
    mb = dovecot_factory(hide_capabilities={"MOVE", "UIDPLUS"}).mailbox()
    with connect(mb) as c:
        uid = c.append("INBOX", message(1))
        assert uid is not None
        with pytest.raises(MailClientError, match="UIDPLUS"):
            c.expunge_uid("INBOX", uid)
        assert c.commands["STORE"] == c.commands["EXPUNGE"] == 0
    assert uids_in(mb, "INBOX") == {uid: ()}


# --------------------------------------------------------------------------- Sent folder


@integration
def test_sent_folder_by_special_use_and_search_sent_to(
    mailbox: Mailbox, client: ImapMailClient
) -> None:
    assert client.sent_folder() is None  # Dovecot creates Sent only on demand here
    client.ensure_folder("Sent")
    assert client.sent_folder() == "Sent"

    when = datetime(2025, 5, 20, 10, 30, tzinfo=UTC)
    client.append(
        "Sent", message(1, to="Help Desk <Help@Shop.Example.jp>", cc="boss@corp.example"),
        flags=["\\Seen"], when=when,
    )  # fmt: skip
    client.append("Sent", message(2, to="someone@notexample.jp"), when=when + timedelta(days=1))

    assert client.search_sent_to("Sent", "help@shop.example.jp") == [when]
    assert client.search_sent_to("Sent", "boss@corp.example") == [when]
    assert client.search_sent_to("Sent", "example.jp") == [when]  # subdomains count
    assert client.search_sent_to("Sent", "@shop.example.jp") == [when]
    assert client.search_sent_to("Sent", "xample.jp") == []  # substring hits are filtered
    assert client.search_sent_to("Sent", "nobody@example.jp") == []
    assert client.search_sent_to("Sent", "x\r\nA1 DELETE INBOX") == []
    assert client.search_sent_to("Sent", "") == []
    # Header data only, one batch per search with server hits (the "xample.jp" and
    # "example.jp" hits were narrowed by ENVELOPE); no hits, no FETCH.
    assert client.commands["FETCH"] == 5


@integration
def test_sent_folder_by_common_name(mailbox: Mailbox) -> None:
    with mailbox.client() as imap:
        imap.create_folder("送信済み")
    with connect(mailbox) as c:
        assert c.sent_folder() == "送信済み"
        assert c.commands["LIST"] == 1


# --------------------------------------------------------------------------- crash


@integration
def test_kill_and_restart_keep_the_mail() -> None:
    with DovecotServer() as server:
        mb = server.mailbox()
        c = connect(mb)
        uid = c.append("INBOX", message(1), flags=["\\Flagged"])
        c.ensure_folder(QUARANTINE)
        validity = c.folder_status("INBOX").uidvalidity

        server.kill()
        assert not server.running
        with pytest.raises(ConnectionLost):
            c.search_uids("INBOX")
        with pytest.raises(ConnectionLost):  # stays closed; the caller reconnects
            c.folder_status("INBOX")
        c.logout()

        server.restart()
        with connect(mb) as again:
            assert again.folder_status("INBOX").uidvalidity == validity
            assert again.get_flags("INBOX", [uid]) == {uid: ("\\Flagged",)}
            assert again.folder_status(QUARANTINE).messages == 0
        server.stop()
        assert not server.running


# --------------------------------------------------------------------------- response parsing


def test_parse_copyuid_maps_sets_in_order() -> None:
    assert parse_copyuid([b"38505 304,319:320 3956:3958"], 319) == (3957, 38505)
    assert parse_copyuid([b"1 5 9"], 6) == (None, None)
    assert parse_copyuid([b"1 1:4294967295 1:4294967295"], 1) == (None, None)  # too big
    assert parse_copyuid([b"garbage", b"1 2:3 7"], 2) == (None, None)  # mismatched sizes
    assert parse_copyuid([], 1) == (None, None)


def test_parse_appenduid() -> None:
    assert parse_appenduid(b"[APPENDUID 1795867376 12] Append completed.") == (12, 1795867376)
    assert parse_appenduid(b"Append completed.") == (None, None)
    assert parse_appenduid(None) == (None, None)


def test_wire_guard_counts_and_refuses() -> None:
    sent: list[bytes] = []
    counter = CommandCounter()
    guard = _WireGuard(sent.append, b"ABCD", counter)
    guard(b"ABCD1 UID EXPUNGE 7\r\n")
    guard(b"ABCD2 UID FETCH 1:* (FLAGS)\r\n")
    guard(b"From: literal data is not a command\r\n")
    for line in (b"ABCD3 EXPUNGE\r\n", b"ABCD4 CLOSE\r\n", b'ABCD5 SEARCH HEADER x "a\r\nb"\r\n'):
        with pytest.raises(MailClientError):
            guard(line)
    assert len(sent) == 3
    assert counter.counts == {"EXPUNGE": 1, "FETCH": 1}
    assert counter.plain("EXPUNGE") == 0 and counter.uid_counts["FETCH"] == 1
