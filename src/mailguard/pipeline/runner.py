"""Run a pass over several accounts, each isolated from the others' failures.

A wrong password, a DNS error, a timeout or a BYE on one account is logged
with a clear reason and recorded in state; the other accounts are scanned
anyway. Retrying with backoff is the daemon's job (it reads the recorded
consecutive failures).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import date

from mailguard.config import AccountConfig, Settings
from mailguard.detect import Classifier
from mailguard.imap import DryRunMailClient, ImapMailClient
from mailguard.imap.base import AuthenticationFailed, MailClient, MailClientError
from mailguard.imap.deadline import Deadline, StopAtDeadline
from mailguard.logs import log_event
from mailguard.pipeline.scan import AccountScanner, ScanSummary
from mailguard.state import StateStore
from mailguard.state.errors import StateError, StateUnavailable
from mailguard.state.lock import WriterLock

log = logging.getLogger("mailguard.runner")


def connect(account: AccountConfig) -> MailClient:
    """Resolve the secret (or OAuth2 token) just in time and log in."""
    from mailguard.secrets import SecretError, resolve_secret

    try:
        if account.auth == "oauth2":
            from mailguard.oauth2 import token_provider_for

            provider = token_provider_for(account)
            try:
                return ImapMailClient.connect(account, "", oauth2_token=provider.access_token())
            except AuthenticationFailed:
                # The cached token may have been revoked early: refresh once, then give up.
                provider.invalidate()
                return ImapMailClient.connect(account, "", oauth2_token=provider.access_token())
        secret = resolve_secret(account, what=f"account {account.name}")
    except SecretError as e:
        raise MailClientError(str(e)) from None
    return ImapMailClient.connect(account, str(secret))


class ConnectionPool:
    """Keeps one logged-in connection per account between the daemon's polls.

    A poll of an unchanged folder is then one NOOP and one STATUS on a warm
    connection instead of a TLS handshake and a LOGIN. Any error drops the
    connection; the next poll reconnects.
    """

    def __init__(self) -> None:
        self._clients: dict[str, MailClient] = {}
        self._lock = threading.Lock()

    def get(self, account: AccountConfig) -> tuple[MailClient, dict[str, int]]:
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
        return connect(account), {}

    def put(self, account: AccountConfig, client: MailClient) -> None:
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


def scan_account(
    settings: Settings,
    account: AccountConfig,
    store: StateStore,
    classifier: Classifier,
    *,
    dry_run: bool = False,
    since: date | None = None,
    stop: threading.Event | None = None,
    metrics: object | None = None,
    pool: ConnectionPool | None = None,
) -> ScanSummary:
    """One account, one pass; never raises for mail or server problems."""
    started = time.monotonic()
    # [scan] pass_deadline: the scanner stops between messages once it passes; the server
    # gets a little longer (to finish the message in hand: intent, move, confirm), then any
    # read or command is cut off, however slowly the peer trickles bytes.
    limit = settings.scan.pass_deadline
    deadline = Deadline(limit)
    io_deadline = Deadline(limit + 2 * account.timeout, label=f"pass deadline of {limit:g}s")
    stop = StopAtDeadline(deadline, stop)
    log_event(log, "poll.start", account=account.name)
    inner: MailClient | None = None
    before: dict[str, int] = {}
    healthy = False
    summary = ScanSummary(account.name)
    writer: WriterLock | None = None
    try:
        if not dry_run:  # one scanning process per state database (daemon or scan --once)
            store.require_writable()  # read-only or full: say so before touching the mailbox
            writer = WriterLock(store.path).acquire()
        inner, before = pool.get(account) if pool is not None else (connect(account), {})
        if isinstance(inner, ImapMailClient):
            inner.set_deadline(io_deadline)
        client = DryRunMailClient(inner) if dry_run else inner
        scanner = AccountScanner(
            settings, account, store, classifier, client, dry_run=dry_run, since=since, stop=stop
        )
        try:
            summary = scanner.run()
            healthy = True
        finally:
            summary = scanner.summary
    except StateError as e:  # full disk, damaged or read-only state, another scan running
        summary.reached = False
        summary.error = str(e)
        if isinstance(e, StateUnavailable):
            summary.error += f"; nothing was moved after message {summary.scanned} of this pass"
        log_event(
            log, "account.error", level=logging.ERROR, account=account.name, error=summary.error
        )
    except (MailClientError, OSError) as e:
        summary.reached = False
        summary.error = str(e) or type(e).__name__
        log_event(
            log, "account.error", level=logging.ERROR, account=account.name, error=summary.error
        )
    except Exception as e:  # a bug must not take the other accounts down with it
        summary.reached = False
        summary.error = f"internal error: {type(e).__name__}: {e}"
        log.exception("account.error")
        log_event(
            log, "account.error", level=logging.ERROR, account=account.name, error=summary.error
        )
    finally:
        if writer is not None:
            writer.release()
        if isinstance(inner, ImapMailClient) and not inner.closed:
            inner.set_deadline(None)  # a kept-open connection waits for the next poll
        if deadline.expired:
            log_event(
                log,
                "poll.deadline",
                level=logging.WARNING,
                account=account.name,
                seconds=settings.scan.pass_deadline,
                note="the pass stopped at its deadline; the next one resumes there",
            )
        if inner is not None:
            summary.commands = {
                k: n - before.get(k, 0)
                for k, n in inner.commands.counts.items()
                if n - before.get(k, 0)
            }
            if pool is not None and healthy and not dry_run:
                pool.put(account, inner)
            else:
                with contextlib.suppress(Exception):
                    inner.logout()
    duration = time.monotonic() - started
    if not dry_run:
        try:
            store.record_poll(
                account.name,
                ok=summary.reached,
                error=summary.error,
                scanned=summary.scanned,
                quarantined=summary.quarantined,
            )
        except StateUnavailable as e:  # already in summary.error, or it will be next time
            log_event(log, "state.error", level=logging.ERROR, account=account.name, error=str(e))
    if metrics is not None:
        metrics.observe_poll(account.name, summary, duration)  # type: ignore[attr-defined]
    log_event(
        log,
        "poll.done",
        account=account.name,
        scanned=summary.scanned,
        quarantined=summary.quarantined,
        suspicious=summary.suspicious,
        errors=summary.errors,
        ok=summary.reached,
        seconds=round(duration, 3),
    )
    return summary
