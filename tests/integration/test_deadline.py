"""A peer that trickles bytes cannot keep a pass alive: connect and pass deadlines.

The peer is a tiny hand-written IMAP responder on loopback that answers the
greeting, CAPABILITY and LOGIN and then sends any other response one byte at
a time, each byte well inside the socket timeout -- so only an overall
deadline ends it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailguard.app import App
from mailguard.config import DetectionConfig, settings_from_dict
from mailguard.detect import Classifier
from mailguard.imap import ImapMailClient
from mailguard.imap.base import ConnectionLost
from mailguard.imap.deadline import Deadline, DeadlineExceeded, StopAtDeadline
from mailguard.testing import Mailbox

pytestmark = pytest.mark.integration

BYTE_EVERY = 0.2  # seconds; far below the 1 s socket timeout used here


class TricklingPeer:
    """Serves one connection at a time; ``trickle_greeting`` slows the very first line."""

    def __init__(self, *, trickle_greeting: bool) -> None:
        self.trickle_greeting = trickle_greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self.closed.is_set():
                return
            conn.sendall(data[i : i + 1])
            time.sleep(BYTE_EVERY)

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        if self.trickle_greeting:
            self._trickle(conn, b"* OK " + b"slow " * 1000 + b"\r\n")
            return
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1] trickle ready\r\n")
        f = conn.makefile("rb")
        while not self.closed.is_set():
            line = f.readline()
            if not line:
                return
            tag, _, rest = line.decode("ascii", "replace").partition(" ")
            verb = rest.split(" ", 1)[0].strip().upper()
            if verb == "CAPABILITY":
                conn.sendall(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
            elif verb == "LOGIN":
                conn.sendall(f"{tag} OK logged in\r\n".encode())
            elif verb == "LOGOUT":
                conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            else:
                self._trickle(conn, b'* STATUS "INBOX" (MESSAGES 1' + b" " * 10_000 + b")\r\n")
                return

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[TricklingPeer]:
    p = TricklingPeer(trickle_greeting=getattr(request, "param", False))
    try:
        yield p
    finally:
        p.close()


def settings_for(tmp_path: Path, port: int, pass_deadline: str) -> object:
    return settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "scan": {"pass_deadline": pass_deadline, "check_sent_folder": False},
            "accounts": [
                {
                    "name": "slow",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "username": "taro",
                    "password_env": "MG_TRICKLE_PW",
                    "timeout": "1s",
                }
            ],
        }
    )


def test_pass_deadline_ends_a_trickled_response(
    peer: TricklingPeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MG_TRICKLE_PW", "secret")
    settings = settings_for(tmp_path, peer.port, "2s")
    started = time.monotonic()
    with App(settings, classifier=Classifier.from_config(DetectionConfig())) as app:  # type: ignore[arg-type]
        summary = app.scan(settings.accounts[0])  # type: ignore[attr-defined]
    took = time.monotonic() - started
    assert took < 7, f"the pass took {took:.1f}s despite a 2s deadline (+2s grace)"
    assert not summary.reached
    assert "pass deadline of 2s reached" in (summary.error or "")
    assert "secret" not in (summary.error or "")


@pytest.mark.parametrize("peer", [True], indirect=True)
def test_connect_deadline_ends_a_trickled_greeting(
    peer: TricklingPeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, peer.port, "1h")
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        ImapMailClient.connect(settings.accounts[0], "secret")  # type: ignore[attr-defined]
    took = time.monotonic() - started
    assert took < 6, f"connecting took {took:.1f}s; the limit is 3 x the 1s timeout"


def test_deadline_and_stop_flag() -> None:
    now = [100.0]
    d = Deadline(5, clock=lambda: now[0])
    assert d.remaining() == 5 and not d.expired
    d.check("ok")
    outer = threading.Event()
    stop = StopAtDeadline(d, outer)
    assert not stop.is_set()
    outer.set()
    assert stop.is_set(), "the daemon's shutdown still stops the pass"
    outer.clear()
    now[0] = 105.0
    assert d.expired and stop.is_set() and d.remaining() == 0
    with pytest.raises(DeadlineExceeded):
        d.check("late")
    assert Deadline(None).remaining() is None and not Deadline(None).expired
    assert Deadline(9, clock=lambda: now[0]).sooner(d) is d


def test_pass_deadline_stops_between_messages_and_the_next_pass_resumes(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slow classification: the pass stops at a message boundary; no message is skipped."""
    from mailguard.pipeline.scan import AccountScanner

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
    names = [
        "ja/01_one_click_video_registration.eml",
        "ja/51_real_invoice_hosting_monthly.eml",
        "en/01_callback_norton_renewal_plain.eml",
        "en/51_real_invoice_stripe_hosting.eml",
        "ja/07_withdrawal_lure_unext_trial.eml",
        "ja/59_withdrawal_done_online_course.eml",
    ]
    c = mailbox.client()
    try:
        for name in names:
            c.append("INBOX", (fixtures / name).read_bytes())
    finally:
        c.logout()
    monkeypatch.setenv("MG_SLOW_PW", mailbox.password)

    def settings_with(deadline: str) -> Any:
        return settings_from_dict(
            {
                "state": {"path": str(tmp_path / "state.db")},
                "scan": {"pass_deadline": deadline, "check_sent_folder": False},
                "accounts": [
                    {
                        "name": "slow",
                        "host": mailbox.host,
                        "port": mailbox.port,
                        "security": "tls",
                        "tls_ca_file": str(mailbox.ca_file),
                        "username": mailbox.user,
                        "password_env": "MG_SLOW_PW",
                    }
                ],
            }
        )

    # Each message is slow to assess (the scanner assesses a batch, then acts on it).
    real_handle = AccountScanner._assess

    def slow_handle(self: Any, *a: Any, **kw: Any) -> Any:
        time.sleep(0.6)
        return real_handle(self, *a, **kw)

    classifier = Classifier.from_config(DetectionConfig())
    monkeypatch.setattr(AccountScanner, "_assess", slow_handle)
    settings = settings_with("1.5s")
    with App(settings, classifier=classifier) as app:
        first = app.scan(settings.accounts[0])
    assert first.reached, first.error
    assert 1 <= first.scanned < len(names), first
    monkeypatch.setattr(AccountScanner, "_assess", real_handle)
    settings = settings_with("10m")
    with App(settings, classifier=classifier) as app:
        rest = app.scan(settings.accounts[0])
        assert rest.scanned == len(names) - first.scanned, "resumed exactly where it stopped"
        assert len(app.store.list_quarantine(account="slow")) == 3
