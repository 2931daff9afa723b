"""``mailguard run``: poll every account on schedule and send digests.

APScheduler runs one poll job per account (max one instance, coalesced,
jittered) and one digest job per configured time. A failing account backs off
on its own; the others keep their rhythm. SIGTERM/SIGINT set a stop flag that
the scanner checks between batches, so the batch in hand is finished (or
safely abandoned before its next move), state is committed, and we log out.

Everything long-lived comes from one :class:`~mailguard.app.App` built with a
connection pool: polls, immediate alerts and the daily digests all use the
account's kept-open connection.

Within seconds: where the server offers IDLE, each watched folder (and the
report folder) gets its own IDLE connection (:mod:`mailguard.watch`, up to
``idle_max_connections`` per account). A new-mail event runs the account's
poll at once, in the watcher's thread, through :meth:`Daemon.poll` -- the same
peek-only, intent-before-move pass as the schedule. :meth:`Daemon.poll` is
the one gate: at most one pass per account at a time, and events that arrive
during a pass are coalesced into one more pass right after it. The schedule
stays on as the safety net (and for servers without IDLE).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import cast

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailguard.app import App
from mailguard.config import AccountConfig, Settings
from mailguard.logs import log_event
from mailguard.metrics import Metrics
from mailguard.notify import Notifier
from mailguard.state import KIND_ALERT
from mailguard.state.errors import StateError, StateUnavailable
from mailguard.vocabulary import WatchMode
from mailguard.watch import FolderWatcher, IdleClient, WatchBoard, WatchState, plan_watchers

log = logging.getLogger("mailguard.daemon")

MAX_BACKOFF = 3600.0


def backoff_seconds(poll_interval: float, failures: int) -> float:
    """How long a failing account waits: doubling from one interval, capped at an hour."""
    if failures <= 0:
        return 0.0
    return min(poll_interval * (2 ** (failures - 1)), max(MAX_BACKOFF, poll_interval))


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        metrics = Metrics() if settings.metrics.listen or settings.metrics.textfile else None
        self.app = App(settings, pooled=True, metrics=metrics, persist_oauth2_tokens=True)
        self.store = self.app.store
        self.metrics = metrics
        self.notifier = Notifier()
        self._failures: dict[str, int] = {}
        self._last_attempt: dict[str, float] = {}
        self._first_cycle: set[str] = set()
        self._ready_sent = False
        self._lock = threading.Lock()
        self._passes: dict[str, str] = {}  # account -> "running" | "again" | "urgent"
        self.board = WatchBoard()
        self.board.listeners.append(self._persist_watch)
        self.watchers: list[FolderWatcher] = []
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(2, min(8, len(settings.accounts))))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )

    # -- jobs ----------------------------------------------------------------------------
    def poll(self, account: AccountConfig, *, urgent: bool = False) -> None:
        """One pass of ``account`` now -- or, if one is running, one more right after it.

        Called by the schedule and by IDLE watchers (from their threads). Never
        two passes of one account at once; any number of events during a pass
        cost exactly one extra pass. ``urgent`` (an IDLE event: the server just
        answered) skips the failure backoff, which is there to spare a server
        that is down, not one that is announcing mail.
        """
        name = account.name
        with self._lock:
            if name in self._passes:
                urgent = urgent or self._passes[name] == "urgent"
                self._passes[name] = "urgent" if urgent else "again"
                return
            self._passes[name] = "running"
        try:
            while not self.stop.is_set():
                self._poll_once(account, urgent=urgent)
                with self._lock:
                    again = self._passes.get(name, "running")
                    if again == "running":
                        break
                    urgent = again == "urgent"
                    self._passes[name] = "running"
        finally:
            with self._lock:
                self._passes.pop(name, None)

    def _poll_once(self, account: AccountConfig, *, urgent: bool = False) -> None:
        if self.stop.is_set():
            return
        interval = self.settings.schedule.poll_interval
        failures = self._failures.get(account.name, 0)
        last = self._last_attempt.get(account.name)
        if failures and last is not None and not urgent:
            wait = backoff_seconds(interval, failures)
            if time.monotonic() - last < wait - 1:
                log_event(
                    log,
                    "poll.backoff",
                    level=logging.DEBUG,
                    account=account.name,
                    failures=failures,
                    wait=round(wait),
                )
                return
        self._last_attempt[account.name] = time.monotonic()
        summary = self.app.scan(account, stop=self.stop)
        self._failures[account.name] = 0 if summary.reached else failures + 1
        next_at = datetime.now(UTC) + timedelta(
            seconds=backoff_seconds(interval, self._failures[account.name]) or interval
        )
        self.store.set_next_poll(account.name, next_at)
        if self.settings.digest.immediate and summary.reached and not self.stop.is_set():
            self.app.digests.send(account, kind=KIND_ALERT)
        if self.metrics is not None:
            self._sync_released(account.name)
        if self.metrics is not None and self.settings.metrics.textfile:
            self.metrics.write_textfile(self.settings.metrics.textfile)
        self._note_cycle(account.name)

    # -- IDLE ------------------------------------------------------------------------------
    def _idle_settings(self, account: AccountConfig) -> tuple[bool, int]:
        scan = self.settings.scan
        on = scan.idle if account.idle is None else account.idle
        cap = (
            scan.idle_max_connections
            if account.idle_max_connections is None
            else account.idle_max_connections
        )
        return on, cap

    def start_watchers(self) -> None:
        """One IDLE watcher per watched folder (and report folder), up to the account's cap."""
        try:
            self.store.clear_watch_states()
        except StateError as e:  # a full or read-only state file must not stop the watching
            log_event(log, "state.error", level=logging.ERROR, error=str(e))
        for account in self.settings.accounts:
            on, cap = self._idle_settings(account)
            folders = [*account.folders, account.report]
            idle, polled = plan_watchers(account.name, folders, cap if on else 0)
            for folder in polled:
                self.board.set(WatchState(account.name, folder, "polling"))
            for folder in idle:
                watcher = FolderWatcher(
                    account.name,
                    folder,
                    connect=self._idle_connector(account, folder),
                    on_change=self._on_change,
                    board=self.board,
                    stop=self.stop,
                )
                self.watchers.append(watcher)
                watcher.start()

    def _on_change(self, name: str, folder: str) -> None:
        """A watcher saw new mail (or reconnected): run that account's pass now."""
        account = next((a for a in self.settings.accounts if a.name == name), None)
        if account is not None:
            self.poll(account, urgent=True)

    def _idle_connector(self, account: AccountConfig, folder: str) -> Callable[[], IdleClient]:
        def connect() -> IdleClient:
            # A connection of its own (not the pool's): it spends its life in IDLE.
            client = self.app.connect(account)
            if folder == account.report:
                # Ours to create, with the quarantine folder: the user drags mail into it.
                client.ensure_folder(account.quarantine_folder)
                client.ensure_folder(folder)
            return cast(IdleClient, client)

        return connect

    def _persist_watch(self, state: WatchState) -> None:
        """WatchBoard listener: the state DB (for ``status``) and the metrics."""
        self.store.set_watch_state(
            state.account,
            state.folder,
            mode=WatchMode(state.mode),
            connected=state.connected,
            last_event=state.last_event,
            reconnects=state.reconnects,
            error=state.error,
        )
        if self.metrics is not None:
            self.metrics.observe_watch(
                state.account,
                state.folder,
                idle=state.mode == "idle" and state.connected,
                last_event=state.last_event.timestamp() if state.last_event else None,
            )

    def digest(self) -> None:
        if self.stop.is_set():
            return
        for account in self.settings.accounts:
            try:
                self.app.digests.send(account)
            except Exception as e:  # one account's digest must not block the next
                log_event(
                    log,
                    "digest.failed",
                    level=logging.ERROR,
                    account=account.name,
                    error=f"{type(e).__name__}: {e}",
                )

    def _sync_released(self, name: str) -> None:
        """Feed ``messages_released``: releases happen in the CLI, the daemon sees the total."""
        assert self.metrics is not None
        status = self.store.account_status(name)
        self.metrics.observe_released_total(name, status.released_total if status else 0)

    def _note_cycle(self, name: str) -> None:
        with self._lock:
            self._first_cycle.add(name)
            if not self._ready_sent and len(self._first_cycle) >= len(self.settings.accounts):
                self._ready_sent = True
                self.notifier.ready(f"polling {len(self.settings.accounts)} account(s)")
                log_event(log, "daemon.ready", accounts=len(self.settings.accounts))

    # -- lifecycle -----------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log_event(log, "daemon.signal", signal=signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.metrics is not None:
            for account in self.settings.accounts:
                self.metrics.init_account(account.name)
                self._sync_released(account.name)
            if self.settings.metrics.listen:
                self.metrics.start_http(self.settings.metrics.listen)
        interval = self.settings.schedule.poll_interval
        now = datetime.now().astimezone()
        for i, account in enumerate(self.settings.accounts):
            self.scheduler.add_job(
                state_guarded(self.poll),
                IntervalTrigger(seconds=interval, jitter=self.settings.schedule.jitter),
                args=[account],
                id=f"poll:{account.name}",
                next_run_time=now + timedelta(seconds=min(i * 2, 30)),
            )
        for t in self.settings.schedule.digest_times:
            self.scheduler.add_job(
                state_guarded(self.digest),
                CronTrigger(hour=t.hour, minute=t.minute, second=t.second),
                id=f"digest:{t.strftime('%H%M%S')}",
            )
        log_event(log, "daemon.start", accounts=len(self.settings.accounts), poll_interval=interval)
        self.scheduler.start()
        self.start_watchers()
        self.notifier.status("starting first poll")
        watchdog = self.notifier.watchdog_interval()
        try:
            while not self.stop.wait(watchdog or 1.0):
                if watchdog:
                    self.notifier.watchdog()
        finally:
            self.notifier.stopping()
            log_event(log, "daemon.stopping")
            self.scheduler.shutdown(wait=True)  # running polls see self.stop and finish
            for watcher in self.watchers:  # they see self.stop within an IDLE slice
                watcher.thread.join(timeout=10)
            self.app.close()  # log out of every kept-open connection, close the store
            log_event(log, "daemon.stop")
        return 0


def state_guarded(job: Callable[..., None]) -> Callable[..., None]:
    """A job whose full disk or damaged state file is one log line, not a traceback.

    The next run tries again; scanning itself already refuses to move mail it
    cannot record (see ``pipeline.poll.Poller.poll``).
    """

    @functools.wraps(job)
    def run_job(*args: object) -> None:
        try:
            job(*args)
        except StateUnavailable as e:
            log_event(log, "state.error", level=logging.ERROR, error=str(e))

    return run_job


def run(settings: Settings) -> int:
    from mailguard.state import StateLocked, daemon_lock

    try:
        with daemon_lock(settings.state.path):
            return Daemon(settings).run()
    except StateLocked as e:
        log_event(log, "daemon.refused", level=logging.ERROR, reason=str(e))
        raise
