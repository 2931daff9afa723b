"""sd_notify over a real AF_UNIX datagram socket, as systemd would provide it."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket at a filesystem path (sun_path is limited to 107 bytes)."""
    short = len(str(tmp_path)) < 90
    directory = tmp_path if short else Path(tempfile.mkdtemp(prefix="mgn"))
    path = str(directory / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        yield path, sock
    finally:
        sock.close()
        if not short:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    name = f"mailguard-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    try:
        yield "@" + name, sock
    finally:
        sock.close()


def test_ready_reaches_the_socket(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready()
    assert sock.recv(4096) == b"READY=1"


def test_ready_with_status(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": path}).ready("polling 2 account(s)")
    assert sock.recv(4096).split(b"\n") == [b"READY=1", b"STATUS=polling 2 account(s)"]


def test_stopping_with_status(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": path}).stopping("signal\nTERM")
    assert sock.recv(4096).split(b"\n") == [b"STOPPING=1", b"STATUS=signal TERM"]


def test_abstract_socket(abstract_socket: tuple[str, socket.socket]) -> None:
    address, sock = abstract_socket
    n = Notifier({"NOTIFY_SOCKET": address})
    assert n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_status_is_one_line(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": path}).status("account alice:\nlogin failed\nREADY=1")
    # A newline in the text must not smuggle in a second assignment.
    assert sock.recv(4096) == b"STATUS=account alice: login failed READY=1"


def test_without_notify_socket_everything_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    assert n.ready("x") is False
    assert n.watchdog() is False
    assert n.watchdog_interval() is None


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    n = Notifier({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.watchdog_interval() == 60.0
    assert Notifier({"WATCHDOG_USEC": "120000000"}).watchdog_interval() == 60.0


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    n = Notifier({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval() is None


@pytest.mark.parametrize("usec", ["", "0", "abc", "-5"])
def test_bad_watchdog_usec_means_no_watchdog(usec: str) -> None:
    assert Notifier({"WATCHDOG_USEC": usec}).watchdog_interval() is None


def test_unreachable_socket_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="mailguard.notify"):
        assert n.watchdog() is False
        assert n.watchdog() is False
    events = [getattr(r, "mg_event", None) for r in caplog.records]
    assert events == ["notify.error"]


def test_unsupported_address_disables_notifications() -> None:
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_a_reader_that_stops_reading_never_blocks_the_daemon(
    notify_socket: tuple[str, socket.socket],
) -> None:
    """A full datagram queue must not hang the sender: it would never see SIGTERM again."""
    import threading

    path, _sock = notify_socket  # bound, never read: its queue fills up
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    done = threading.Event()

    def ping() -> None:
        for _ in range(2000):
            n.watchdog()
        done.set()

    threading.Thread(target=ping, daemon=True).start()
    assert done.wait(10), "watchdog pings blocked on a full notification socket"
