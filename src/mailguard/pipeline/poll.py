"""One poll of one account, isolated from every other account's failures.

A wrong password, a DNS error, a timeout or a BYE on one account is logged
with a clear reason and recorded in state; the other accounts are scanned
anyway. Retrying with backoff is the daemon's job (it reads the recorded
consecutive failures). Everything a poll needs is handed in by the
composition root (:class:`mailguard.app.App`); nothing here opens a store,
builds a classifier or resolves a secret.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from mailguard.config import AccountConfig
from mailguard.detect import Classifier
from mailguard.imap.base import AuthenticationFailed, ConnectionLost, MailClient, MailClientError
from mailguard.imap.client import ImapMailClient
from mailguard.imap.deadline import Deadline, StopAtDeadline
from mailguard.logs import log_event
from mailguard.metrics import Metrics
from mailguard.pipeline.act import Executor, LiveExecutor, PlanExecutor
from mailguard.pipeline.connection import CredentialsUnavailable
from mailguard.pipeline.decide import Assessor
from mailguard.pipeline.mailapp import MailAppSync, safe_sync
from mailguard.pipeline.options import AccountScope, QuarantinePolicy, ScanLimits
from mailguard.pipeline.pool import ConnectionSource
from mailguard.pipeline.scan import AccountScanner
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.pipeline.sentcheck import SentFolderCheck
from mailguard.pipeline.summary import ScanSummary
from mailguard.state import StateError, StateStore
from mailguard.state.errors import StateUnavailable
from mailguard.state.lock import WriterLock

log = logging.getLogger("mailguard.runner")


def error_kind(e: BaseException) -> str:
    """The ``kind`` label of ``mailguard_errors_total`` for an account-level failure."""
    if isinstance(e, CredentialsUnavailable):
        return "secret"
    if isinstance(e, AuthenticationFailed):
        return "auth"
    if isinstance(e, ConnectionLost | OSError):
        return "connect"
    if isinstance(e, MailClientError):
        return "imap"
    if isinstance(e, StateError | sqlite3.Error):
        return "state"
    return "other"


@dataclass
class _PassResources:
    """What one pass has taken so far, so that the clean-up gives back exactly that."""

    summary: ScanSummary
    client: MailClient | None = None
    before: dict[str, int] = field(default_factory=dict)  # command counts at acquire
    writer: WriterLock | None = None
    healthy: bool = False


def _describe_failure(e: Exception, summary: ScanSummary) -> tuple[str, str]:
    """(error, kind) for an account-level failure; an unexpected one is logged with its trace."""
    if isinstance(e, StateError):  # full disk, damaged or read-only state, another scan running
        error = str(e)
        if isinstance(e, StateUnavailable):
            error += f"; nothing was moved after message {summary.scanned} of this pass"
        return error, "state"
    if isinstance(e, MailClientError | OSError):
        return str(e) or type(e).__name__, error_kind(e)
    log.exception("account.error")
    return f"internal error: {type(e).__name__}: {e}", error_kind(e)


class Poller:
    """Scans accounts with the app's store, classifier, connections and metrics."""

    def __init__(
        self,
        store: StateStore,
        classifier: Classifier,
        connections: ConnectionSource,
        *,
        limits: ScanLimits,
        policy: QuarantinePolicy,
        signer: Callable[[], DigestSigner | None],
        metrics: Metrics | None = None,
        mailapp: MailAppSync | None = None,
    ) -> None:
        """``mailapp``: read the user's moves (release/report/delete) before each live pass."""
        self.store = store
        self.mailapp = mailapp
        self.classifier = classifier
        self.connections = connections
        self.limits = limits
        self.policy = policy
        self.signer = signer
        self.metrics = metrics

    def executor(self, account: AccountConfig, *, dry_run: bool) -> Executor:
        """The one place where a dry run is told apart from a real one."""
        if dry_run:
            return PlanExecutor(account.name, account.quarantine_folder, account)
        return LiveExecutor(self.store, account, max_bytes=self.limits.max_message_size)

    def _scanner(
        self,
        account: AccountConfig,
        client: MailClient,
        executor: Executor,
        since: date | None,
        stop: threading.Event | None,
    ) -> AccountScanner:
        scope = AccountScope.from_account(account)
        sent = (
            SentFolderCheck(client, scope.name, scope.sent_folder)
            if self.limits.check_sent_folder
            else None
        )
        assessor = Assessor(
            scope.name,
            self.store,
            self.classifier,
            limits=self.limits,
            policy=self.policy,
            trusted=scope.trusted_senders,
            own=scope.own_addresses,
            sent=sent,
            signer=self.signer(),
        )
        return AccountScanner(
            scope,
            self.limits,
            client,
            assessor,
            executor,
            folder_state=lambda folder: self.store.get_folder_state(scope.name, folder),
            since=since,
            stop=stop,
        )

    def poll(
        self,
        account: AccountConfig,
        *,
        dry_run: bool = False,
        since: date | None = None,
        stop: threading.Event | None = None,
    ) -> ScanSummary:
        """One account, one pass; never raises for mail or server problems."""
        started = time.monotonic()
        log_event(log, "poll.start", account=account.name)
        executor = self.executor(account, dry_run=dry_run)
        held = _PassResources(ScanSummary(account.name, dry_run=dry_run))
        # [scan] pass_deadline: the scanner stops between messages once it passes; the
        # server gets a little longer (to finish the message in hand: intent, move,
        # confirm), then any read is cut off, however slowly the peer trickles bytes.
        limit = self.limits.pass_deadline
        deadline = Deadline(limit)
        io_deadline = Deadline(limit + 2 * account.timeout, label=f"pass deadline of {limit:g}s")
        try:
            self._run_pass(
                held, account, executor, dry_run=dry_run, since=since,
                stop=StopAtDeadline(deadline, stop), io_deadline=io_deadline,
            )  # fmt: skip
        except Exception as e:  # a bug must not take the other accounts down with it
            self._failed(held.summary, *_describe_failure(e, held.summary))
        finally:
            self._release(held, account, dry_run=dry_run, deadline=deadline)
        self._finish(account, executor, held.summary, time.monotonic() - started)
        return held.summary

    def _run_pass(
        self,
        held: _PassResources,
        account: AccountConfig,
        executor: Executor,
        *,
        dry_run: bool,
        since: date | None,
        stop: threading.Event,
        io_deadline: Deadline,
    ) -> None:
        """Lock, connect, read the user's moves and scan; whatever is taken goes into ``held``."""
        if not dry_run:  # one scanning process per state database (daemon or scan --once)
            self.store.require_writable()  # read-only or full: say so before any IMAP
            held.writer = WriterLock(self.store.path).acquire()
        client, held.before = self.connections.acquire(account)
        held.client = client
        # A dry run reads with EXAMINE only, and the client refuses any write too.
        client.set_read_only(dry_run)
        if isinstance(client, ImapMailClient):
            client.set_deadline(io_deadline)
        if self.mailapp is not None and not dry_run:
            # Before the scanner is built: a release by moving must be known (and its
            # sender trusted) before the message is seen again in the INBOX.
            safe_sync(self.mailapp, client, account)
        scanner = self._scanner(account, client, executor, since, stop)
        try:
            scanner.run()
            held.healthy = True
        finally:
            held.summary = scanner.summary

    def _release(
        self, held: _PassResources, account: AccountConfig, *, dry_run: bool, deadline: Deadline
    ) -> None:
        """Give back the writer lock and the connection, whatever the pass got to."""
        if held.writer is not None:
            held.writer.release()
        client = held.client
        if isinstance(client, ImapMailClient) and not client.closed:
            client.set_deadline(None)  # a kept-open connection waits for the next poll
        if deadline.expired:
            log_event(
                log,
                "poll.deadline",
                level=logging.WARNING,
                account=account.name,
                seconds=self.limits.pass_deadline,
                note="the pass stopped at its deadline; the next one resumes there",
            )
        if client is not None:
            before = held.before
            held.summary.commands = {
                k: n - before.get(k, 0)
                for k, n in client.commands.counts.items()
                if n - before.get(k, 0)
            }
            if dry_run:
                client.set_read_only(False)  # a pooled connection serves real passes next
            self.connections.release(account, client, healthy=held.healthy)

    def _finish(
        self, account: AccountConfig, executor: Executor, summary: ScanSummary, duration: float
    ) -> None:
        """Record the pass (executor, metrics) and log ``poll.done``."""
        try:
            executor.finish(summary)
        except StateUnavailable as e:  # already in summary.error, or it will be next time
            log_event(log, "state.error", level=logging.ERROR, account=account.name, error=str(e))
        if self.metrics is not None:
            self.metrics.observe_poll(account.name, summary, duration)
        log_event(
            log,
            "poll.done",
            account=account.name,
            scanned=summary.scanned,
            quarantined=summary.quarantined,
            suspicious=summary.suspicious,
            # errors counts every failure of the pass, so that it agrees with ok:
            # the skipped messages, plus one when the account was not reached at all.
            errors=summary.errors + (0 if summary.reached else 1),
            skipped=summary.errors,
            ok=summary.reached,
            seconds=round(duration, 3),
        )

    @staticmethod
    def _failed(summary: ScanSummary, error: str, kind: str) -> None:
        summary.reached = False
        summary.error = error
        summary.error_kind = kind
        log_event(log, "account.error", level=logging.ERROR, account=summary.account, error=error)
