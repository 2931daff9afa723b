"""An overall deadline for everything one pass reads from the server.

A socket timeout alone does not bound a pass: a peer that trickles one byte
every two seconds never lets a single ``recv`` time out, and a 20 MB FETCH
read that way takes weeks. So every read of a connection goes through
:class:`_GuardedSocket`, which before each ``recv`` shortens the socket timeout
to what is left of the :class:`Deadline` and refuses to read once it is spent
(:class:`DeadlineExceeded`, a :class:`ConnectionLost`: the connection is in an
unknown state and is dropped). The pass then ends like any lost connection:
state committed so far stays, pending intents are reconciled next time, and
the next pass resumes at the last committed UID.

The guard is installed on imaplib's reader (``IMAP4.file``) in ``open()``, so
it covers the greeting and login too, and re-installed after STARTTLS.
"""

from __future__ import annotations

import imaplib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import imapclient
from imapclient import imap4, tls

from mailguard.imap.base import ConnectionLost


class DeadlineExceeded(ConnectionLost):
    """The pass (or connect) deadline passed; the connection is abandoned."""


class Deadline:
    """A point in (monotonic) time; ``seconds=None`` never expires."""

    def __init__(
        self,
        seconds: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        label: str | None = None,
    ) -> None:
        self.seconds = seconds
        self.label = label or f"deadline of {seconds or 0:g}s"
        self._clock = clock
        self._end = None if seconds is None else clock() + max(float(seconds), 0.0)

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self._end is None else max(self._end - self._clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self._end is not None and self._clock() >= self._end

    def check(self, what: str) -> None:
        if self.expired:
            raise DeadlineExceeded(f"{what}: {self.label} reached")

    def sooner(self, other: Deadline | None) -> Deadline:
        """Whichever of the two ends first."""
        if other is None or other._end is None:
            return self
        if self._end is None or other._end < self._end:
            return other
        return self


class _GuardedSocket:
    """Stands in for the socket under imaplib's reader; every ``recv`` obeys the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline, read_timeout: float | None):
        self._sock = sock
        self.deadline = deadline
        self._read_timeout = read_timeout

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        left = self.deadline.remaining()
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded(f"{self.deadline.label} reached")
            limit = left if self._read_timeout is None else min(left, self._read_timeout)
            self._sock.settimeout(max(limit, 0.001))
        try:
            return self._sock.recv_into(buffer, nbytes, flags)
        except TimeoutError:
            if self.deadline.expired:
                raise DeadlineExceeded(f"{self.deadline.label} reached while reading") from None
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def guard_reads(imap: imaplib.IMAP4, deadline: Deadline, read_timeout: float | None) -> bool:
    """Route ``imap``'s reads through the deadline; False if its reader is not a socket file."""
    raw = getattr(getattr(imap, "file", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    if sock is None:
        return False
    if isinstance(sock, _GuardedSocket):
        sock.deadline = deadline
        return True
    raw._sock = _GuardedSocket(sock, deadline, read_timeout)  # type: ignore[union-attr]
    return True


def guarded_client_class(
    deadline: Deadline, read_timeout: float | None
) -> type[imapclient.IMAPClient]:
    """An IMAPClient whose connection reads obey ``deadline`` from the greeting on."""

    class _Guard:
        def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
            super().open(host, port, timeout)  # type: ignore[misc]
            guard_reads(self, deadline, read_timeout)  # type: ignore[arg-type]

    class _TLS(_Guard, tls.IMAP4_TLS):
        pass

    class _Plain(_Guard, imap4.IMAP4WithTimeout):
        pass

    class _Client(imapclient.IMAPClient):  # type: ignore[misc]
        def _create_IMAP4(self) -> imaplib.IMAP4:
            connect_timeout = getattr(self._timeout, "connect", None)
            if self.ssl:
                return _TLS(self.host, self.port, self.ssl_context, connect_timeout)
            return _Plain(self.host, self.port, connect_timeout)

    return _Client


class StopAtDeadline(threading.Event):
    """A stop flag that is also set once ``deadline`` passes (or when ``outer`` is set).

    The scanner checks its stop flag between folders, batches and messages; handing
    it this one makes a pass end cleanly at a message boundary when its time is up.
    """

    def __init__(self, deadline: Deadline, outer: threading.Event | None = None) -> None:
        super().__init__()
        self.deadline = deadline
        self._outer = outer

    def is_set(self) -> bool:
        outer = self._outer is not None and self._outer.is_set()
        return outer or self.deadline.expired or super().is_set()


def deadline_passed(stop: threading.Event) -> bool:
    """True when ``stop`` is a :class:`StopAtDeadline` whose deadline has passed.

    The scanner checks this between messages; a shutdown request (the plain
    flag) is still honoured only between batches, finishing the batch in hand.
    """
    return isinstance(stop, StopAtDeadline) and stop.deadline.expired
