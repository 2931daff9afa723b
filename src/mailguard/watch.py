"""Act within seconds: IMAP IDLE watchers that wake the scanner when mail arrives.

A poll every few minutes leaves a scam in the INBOX for minutes, and that is
when a frightened person reads it and calls the number. Where the server
offers IDLE, one :class:`FolderWatcher` per watched folder keeps its own
connection in IDLE and calls ``on_change(account, folder)`` as soon as the
server announces new mail; the daemon then runs the normal pass (peek-only,
intent before every move) for that account at once. The watcher itself only
EXAMINEs and IDLEs: it never fetches, flags or moves anything.

Connections are capped per account (``max_connections``; servers limit them,
Gmail to 15 per account): folders beyond the cap are not watched and rely on
the scheduled poll, which stays on for every folder as a safety net.

Failures are expected (servers restart, NAT boxes drop idle TCP, laptops
sleep): a watcher reconnects with exponential backoff and, after every
(re)connect, calls ``on_change`` once, so mail delivered while it was away is
scanned without waiting for the poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from mailguard.imap.base import AuthenticationFailed, FolderStatus, MailClientError
from mailguard.logs import log_event

log = logging.getLogger("mailguard.watch")

Mode = Literal["idle", "polling"]
DEFAULT_REFRESH = 600.0  # seconds in one IDLE; RFC 2177 servers may drop us after 29 minutes


class IdleClient(Protocol):
    """What a watcher needs of a connection (the IMAP client and the memory double have it)."""

    @property
    def capabilities(self) -> frozenset[str]: ...

    def select(self, folder: str, readonly: bool = False) -> FolderStatus: ...

    def idle_wait(
        self, folder: str, timeout: float, *, should_stop: Callable[[], bool] = ...
    ) -> bool: ...

    def logout(self) -> None: ...


@dataclass(frozen=True)
class WatchState:
    """How one folder is watched, for ``status`` and the metrics."""

    account: str
    folder: str
    mode: Mode
    connected: bool = False
    last_event: datetime | None = None
    reconnects: int = 0
    error: str | None = None


@dataclass
class WatchBoard:
    """The current :class:`WatchState` of every folder, shared by watchers and readers."""

    _states: dict[tuple[str, str], WatchState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    listeners: list[Callable[[WatchState], None]] = field(default_factory=list)

    def set(self, state: WatchState) -> None:
        with self._lock:
            self._states[(state.account, state.folder)] = state
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:  # a status sink must never stop a watcher
                log.exception("watch state listener failed")

    def update(self, account: str, folder: str, **changes: object) -> WatchState:
        with self._lock:
            current = self._states.get((account, folder)) or WatchState(account, folder, "idle")
        new = replace(current, **changes)  # type: ignore[arg-type]
        self.set(new)
        return new

    def get(self, account: str, folder: str) -> WatchState | None:
        with self._lock:
            return self._states.get((account, folder))

    def all(self) -> list[WatchState]:
        with self._lock:
            return sorted(self._states.values(), key=lambda s: (s.account, s.folder))


class FolderWatcher:
    """One connection in IDLE on one folder, in its own thread, until ``stop`` is set."""

    def __init__(
        self,
        account: str,
        folder: str,
        *,
        connect: Callable[[], IdleClient],
        on_change: Callable[[str, str], None],
        board: WatchBoard,
        stop: threading.Event,
        refresh: float = DEFAULT_REFRESH,
        backoff: tuple[float, float] = (1.0, 300.0),
    ) -> None:
        self.account = account
        self.folder = folder
        self._connect = connect
        self._on_change = on_change
        self._board = board
        self._stop = stop
        self._refresh = refresh
        self._backoff = backoff
        self.thread = threading.Thread(
            target=self._run, name=f"idle:{account}:{folder}", daemon=True
        )

    def start(self) -> None:
        self._board.set(WatchState(self.account, self.folder, "idle"))
        self.thread.start()

    def _fire(self) -> None:
        self._board.update(self.account, self.folder, last_event=datetime.now(UTC))
        try:
            self._on_change(self.account, self.folder)
        except Exception as e:  # the scan has its own error handling; keep watching
            log_event(
                log,
                "watch.callback_failed",
                level=logging.ERROR,
                account=self.account,
                folder=self.folder,
                error=f"{type(e).__name__}: {e}",
            )

    def _run(self) -> None:
        delay, ceiling = self._backoff
        reconnects = 0
        while not self._stop.is_set():
            client: IdleClient | None = None
            try:
                client = self._connect()
                if "IDLE" not in client.capabilities:
                    self._board.update(self.account, self.folder, mode="polling", connected=False)
                    log_event(log, "watch.no_idle", account=self.account, folder=self.folder)
                    return
                self._board.update(
                    self.account, self.folder, mode="idle", connected=True, error=None,
                    reconnects=reconnects,
                )  # fmt: skip
                log_event(log, "watch.idle", account=self.account, folder=self.folder)
                delay = self._backoff[0]
                # EXAMINE before the catch-up pass, not after it: mail delivered while
                # that pass runs (after its SEARCH) is then announced to this connection
                # and the first IDLE wakes for it. Selected afterwards, the folder would
                # already hold that message and nothing would announce it until the poll.
                client.select(self.folder, readonly=True)
                self._fire()  # whatever arrived while we were not watching
                while not self._stop.is_set():
                    if client.idle_wait(self.folder, self._refresh, should_stop=self._stop.is_set):
                        self._fire()
            except AuthenticationFailed as e:
                # A wrong password will not fix itself; the poll reports it too.
                self._board.update(
                    self.account, self.folder, mode="polling", connected=False, error=str(e)
                )
                return
            except MailClientError as e:
                reconnects += 1
                self._board.update(
                    self.account, self.folder, connected=False, error=str(e), reconnects=reconnects
                )
                log_event(
                    log,
                    "watch.reconnect",
                    level=logging.WARNING,
                    account=self.account,
                    folder=self.folder,
                    delay=round(delay, 1),
                    error=str(e),
                )
                self._stop.wait(delay)
                delay = min(delay * 2, ceiling)
            finally:
                if client is not None:
                    try:
                        client.logout()
                    except Exception:  # the connection may already be gone
                        log.debug("logout after IDLE failed", exc_info=True)
        self._board.update(self.account, self.folder, connected=False)


def plan_watchers(
    account: str, folders: Iterable[str], max_connections: int
) -> tuple[list[str], list[str]]:
    """Which folders get an IDLE connection (the first ``max_connections``) and which poll."""
    ordered = list(dict.fromkeys(folders))
    cap = max(0, max_connections)
    return ordered[:cap], ordered[cap:]
