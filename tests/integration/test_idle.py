"""IMAP IDLE watchers against a real Dovecot: wake within seconds, survive a dead server.

The watcher is the part of "act within seconds" that talks IMAP; the daemon
test (tests/integration/test_daemon_idle.py) checks the whole path from an
APPEND by another client to the message sitting in Quarantine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mailguard.imap.client import ImapMailClient
from mailguard.testing import DovecotServer, Mailbox
from mailguard.watch import FolderWatcher, WatchBoard, plan_watchers

pytestmark = pytest.mark.integration

MESSAGE = b"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <idle-1@example.org>\r\n\r\nhi\r\n"


def connector(mb: Mailbox, monkeypatch: pytest.MonkeyPatch) -> Callable[[], ImapMailClient]:
    monkeypatch.setenv("MG_IDLE_PW", mb.password)
    account = mb.account_config("MG_IDLE_PW", timeout="5s")
    return lambda: ImapMailClient.connect(account, mb.password)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str]] = []
        self.cond = threading.Condition()

    def __call__(self, account: str, folder: str) -> None:
        with self.cond:
            self.calls.append((time.monotonic(), account, folder))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.calls) >= n, timeout)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_new_mail_wakes_the_watcher_within_seconds(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, stop: threading.Event
) -> None:
    rec, board = Recorder(), WatchBoard()
    w = FolderWatcher(
        "a", "INBOX", connect=connector(mailbox, monkeypatch), on_change=rec, board=board,
        stop=stop, refresh=30,
    )  # fmt: skip
    w.start()
    assert rec.wait_for(1, 10), "a (re)connect always triggers one catch-up pass"
    time.sleep(0.5)  # let it enter IDLE
    appended = time.monotonic()
    with mailbox.client() as other:  # the user's mail app, or the MTA
        other.append("INBOX", MESSAGE)
    assert rec.wait_for(2, 10)
    assert rec.calls[1][0] - appended < 3.0
    state = board.get("a", "INBOX")
    assert state is not None and state.mode == "idle" and state.connected
    assert state.last_event is not None
    # watching changed nothing: the message is still unread
    with mailbox.client() as other:
        other.select_folder("INBOX", readonly=True)
        flags = other.get_flags(other.search("ALL"))
    assert all(b"\\Seen" not in f for f in flags.values())
    stop.set()
    w.thread.join(10)
    assert not w.thread.is_alive(), "stop is honoured within the IDLE slice"


def test_mail_delivered_during_the_catch_up_pass_wakes_the_watcher(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, stop: threading.Event
) -> None:
    """The catch-up pass after a (re)connect searches the folder; mail that lands after
    its SEARCH must still wake the watcher, not wait for the next scheduled poll."""
    rec, board = Recorder(), WatchBoard()

    def on_change(account: str, folder: str) -> None:
        if not rec.calls:  # the catch-up pass: the message arrives while it runs
            with mailbox.client() as other:
                other.append("INBOX", MESSAGE.replace(b"idle-1@", b"idle-race@"))
        rec(account, folder)

    w = FolderWatcher(
        "a", "INBOX", connect=connector(mailbox, monkeypatch), on_change=on_change,
        board=board, stop=stop, refresh=30,
    )  # fmt: skip
    w.start()
    assert rec.wait_for(1, 10)
    assert rec.wait_for(2, 10), "the message delivered during the pass is announced"
    stop.set()
    w.thread.join(10)


def test_a_killed_server_is_reconnected_and_mail_from_meanwhile_is_caught(
    dovecot_factory: Callable[..., DovecotServer],
    monkeypatch: pytest.MonkeyPatch,
    stop: threading.Event,
) -> None:
    # A private server: killing the session one would disturb other tests.
    server = DovecotServer()
    server.start()
    try:
        mb = server.mailbox(server.unique_name("idle-kill"))
        rec, board = Recorder(), WatchBoard()
        w = FolderWatcher(
            "a", "INBOX", connect=connector(mb, monkeypatch), on_change=rec, board=board,
            stop=stop, refresh=30, backoff=(0.2, 1.0),
        )  # fmt: skip
        w.start()
        assert rec.wait_for(1, 10)
        server.kill()  # like a crash: no BYE, sockets reset
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            st = board.get("a", "INBOX")
            if st is not None and not st.connected:
                break
            time.sleep(0.1)
        server.start()
        with mb.client() as other:  # delivered while the watcher was away
            other.append("INBOX", MESSAGE)
        assert rec.wait_for(2, 20), "after reconnecting the watcher asks for a catch-up pass"
        st = board.get("a", "INBOX")
        assert st is not None and st.connected and st.reconnects >= 1
    finally:
        stop.set()
        server.close()


def test_a_server_without_idle_leaves_the_folder_to_polling(
    dovecot_factory: Callable[..., DovecotServer],
    monkeypatch: pytest.MonkeyPatch,
    stop: threading.Event,
) -> None:
    server = dovecot_factory(hide_capabilities=["IDLE"])
    mb = server.mailbox(server.unique_name("no-idle"))
    rec, board = Recorder(), WatchBoard()
    w = FolderWatcher(
        "a", "INBOX", connect=connector(mb, monkeypatch), on_change=rec, board=board, stop=stop
    )
    w.start()
    w.thread.join(10)
    state = board.get("a", "INBOX")
    assert state is not None and state.mode == "polling" and rec.calls == []


def test_connections_are_capped_per_account() -> None:
    idle, polled = plan_watchers("a", ["INBOX", "Work", "INBOX", "Family", "Lists"], 2)
    assert idle == ["INBOX", "Work"] and polled == ["Family", "Lists"]
    assert plan_watchers("a", ["INBOX"], 0) == ([], ["INBOX"])
