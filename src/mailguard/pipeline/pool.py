"""Where a poll gets its connection: a fresh one per pass, or one kept between polls.

The daemon keeps one logged-in connection per account (:class:`ConnectionPool`).
A poll of an unchanged folder is then one NOOP and one STATUS on a warm
connection instead of a TLS handshake and a LOGIN. Any error drops the
connection; the next poll reconnects. One-off commands use
:class:`FreshConnections`: connect, use, log out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Protocol

from mailguard.config import AccountConfig
from mailguard.imap.base import MailClient, MailClientError

Connector = Callable[[AccountConfig], MailClient]


class ConnectionSource(Protocol):
    def acquire(self, account: AccountConfig) -> tuple[MailClient, dict[str, int]]:
        """A live client and its command counts *before* this use (0 for a new one)."""

    def release(self, account: AccountConfig, client: MailClient, *, healthy: bool) -> None:
        """Give the client back: kept if healthy and pooled, else logged out."""


class FreshConnections:
    """Connect for each use and log out afterwards."""

    def __init__(self, connect: Connector) -> None:
        self.connect = connect

    def acquire(self, account: AccountConfig) -> tuple[MailClient, dict[str, int]]:
        return self.connect(account), {}

    def release(self, account: AccountConfig, client: MailClient, *, healthy: bool) -> None:
        with contextlib.suppress(Exception):
            client.logout()


class ConnectionPool:
    """Keeps one logged-in connection per account between the daemon's polls."""

    def __init__(self, connect: Connector) -> None:
        self.connect = connect
        self._clients: dict[str, MailClient] = {}
        self._lock = threading.Lock()

    def acquire(self, account: AccountConfig) -> tuple[MailClient, dict[str, int]]:
        """A live client and its command counts *before* this poll (NOOP included in the poll)."""
        with self._lock:
            client = self._clients.pop(account.name, None)
        if client is not None:
            before = dict(client.commands.counts)
            try:
                if not client.closed:
                    client.noop()
                    return client, before
            except MailClientError:
                pass
            with contextlib.suppress(Exception):
                client.logout()
        return self.connect(account), {}

    def release(self, account: AccountConfig, client: MailClient, *, healthy: bool) -> None:
        if not healthy:
            with contextlib.suppress(Exception):
                client.logout()
            return
        with self._lock:
            old = self._clients.pop(account.name, None)
            self._clients[account.name] = client
        if old is not None and old is not client:
            with contextlib.suppress(Exception):
                old.logout()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                client.logout()
