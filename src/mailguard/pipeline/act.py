"""Carry out decisions: the one place where the mailbox and the state database change.

Two executors, one interface, and that is the whole dry-run mechanism:

* :class:`LiveExecutor` -- intent -> move -> confirm for a quarantine, a
  ``suspicious`` row for a report, crash reconciliation before the pass, the
  folder position after each batch, per-message errors.
* :class:`PlanExecutor` -- ``--dry-run``: the same decisions, only reported
  (``ScanSummary.planned``) and logged; it holds no reference to anything it
  could write to a mailbox with, and writes nothing to the state database.

The scanner (:mod:`mailguard.pipeline.scan`) cannot tell which one it drives.
"""

from __future__ import annotations

import logging
from typing import Protocol

from mailguard.config import AccountConfig
from mailguard.imap.base import MailClient, MailClientError, MessageNotFound
from mailguard.imap.probe import ProbeReport, probe_account
from mailguard.logs import log_event
from mailguard.pipeline.decide import Action, Decision
from mailguard.pipeline.moved import confirm_move
from mailguard.pipeline.reconcile import reconcile_pending
from mailguard.pipeline.summary import ScanSummary
from mailguard.state import NewItem, StateStore

log = logging.getLogger("mailguard.scan")


class Executor(Protocol):
    """What the scanner asks of whoever acts on its decisions."""

    @property
    def dry_run(self) -> bool: ...

    def begin(self, client: MailClient) -> None:
        """Before the first folder, on the pass's connection (live: settle pending moves)."""

    def apply(self, decision: Decision, summary: ScanSummary) -> None:
        """Act on one decision and count it in ``summary``."""

    def advance(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Everything up to ``last_uid`` in ``folder`` is handled (or skipped on purpose)."""

    def skipped(
        self, folder: str, uidvalidity: int, uid: int, message_id: str | None, error: str
    ) -> None:
        """One message could not be handled; it is skipped so the others can be."""

    def finish(self, summary: ScanSummary) -> None:
        """After the pass (live: the poll's outcome and totals for ``status``)."""


class PlanExecutor:
    """``--dry-run``: report what a real run would do; change nothing anywhere."""

    dry_run = True

    def __init__(
        self, account: str, quarantine_folder: str, config: AccountConfig | None = None
    ) -> None:
        self.account = account
        self.quarantine_folder = quarantine_folder
        self.config = config
        self._report: ProbeReport | None = None

    def begin(self, client: MailClient) -> None:
        # What check-config --connect reports, learned with reads only, so the plan
        # names the folder a real run would use (INBOX.Quarantine on Courier) and says
        # when the real run would fail (a quarantine folder the server refuses).
        # The client itself is deliberately not kept: nothing here may write with it.
        self.quarantine_folder = client.resolve_folder(self.quarantine_folder)
        if self.config is not None:
            self._report = probe_account(client, self.config)

    def apply(self, decision: Decision, summary: ScanSummary) -> None:
        item, verdict = decision.item, decision.verdict
        if decision.action == Action.REPORT:
            summary.suspicious += 1
        elif decision.action == Action.QUARANTINE and item is not None and verdict is not None:
            summary.quarantined += 1
            summary.planned.append(
                f"would move {decision.folder} UID {decision.uid} to {self.quarantine_folder}: "
                f"{(item.subject or '')[:60]!r} "
                f"({verdict.verdict}, {verdict.category}, score {verdict.score:.1f})"
            )
            log_event(
                log,
                "message.would_quarantine",
                account=self.account,
                folder=decision.folder,
                uid=decision.uid,
                score=round(verdict.score, 2),
            )
        else:
            _log_unmoved(self.account, decision)

    def advance(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        return None

    def skipped(
        self, folder: str, uidvalidity: int, uid: int, message_id: str | None, error: str
    ) -> None:
        return None

    def finish(self, summary: ScanSummary) -> None:
        if self._report is not None:
            summary.resolution = list(self._report.lines)
            summary.problems = list(self._report.problems)


def _log_unmoved(account: str, decision: Decision) -> None:
    known = decision.known
    if decision.action == Action.KNOWN and known is not None:
        log_event(
            log,
            "message.already_known",
            account=account,
            folder=decision.folder,
            uid=decision.uid,
            quarantine_id=known.id,
            status=known.status,
        )


class LiveExecutor:
    """Quarantine for real. The order of writes is the safety argument (see ``scan``)."""

    dry_run = False

    def __init__(self, store: StateStore, account: AccountConfig, *, max_bytes: int) -> None:
        self.store = store
        self.account = account
        self.max_bytes = max_bytes  # what the scanner hashed: reconcile compares the same bytes
        self._client: MailClient | None = None
        self._quarantine_ready = False

    @property
    def client(self) -> MailClient:
        if self._client is None:
            raise RuntimeError("LiveExecutor.begin(client) was not called")
        return self._client

    def begin(self, client: MailClient) -> None:
        self._client = client
        self._quarantine_ready = False
        reconcile_pending(client, self.store, self.account, max_bytes=self.max_bytes)

    def apply(self, decision: Decision, summary: ScanSummary) -> None:
        item = decision.item
        if decision.action == Action.REPORT and item is not None:
            summary.suspicious += 1
            qid = self.store.record_suspicious(item)
            log_event(
                log,
                "message.suspicious",
                account=self.account.name,
                folder=decision.folder,
                uid=decision.uid,
                quarantine_id=qid,
                score=round(item.score, 2),
            )
        elif decision.action == Action.QUARANTINE and item is not None:
            if self._quarantine(decision, item):
                summary.quarantined += 1
        else:
            _log_unmoved(self.account.name, decision)

    def _quarantine(self, decision: Decision, item: NewItem) -> bool:
        """Intent, move, confirm; False when the message vanished before the move."""
        name, folder, uid = self.account.name, decision.folder, decision.uid
        dest = self.account.quarantine_folder
        if not self._quarantine_ready:
            self.client.ensure_folder(dest)
            self._quarantine_ready = True
        qid = self.store.record_move_intent(item, quarantine_folder=dest)
        log_event(log, "move.intent", account=name, folder=folder, uid=uid, quarantine_id=qid)
        try:
            result = self.client.move(folder, uid, dest)
        except MessageNotFound as e:
            # The user's mail app moved or deleted it between our FETCH and MOVE: the
            # server refused, so we moved nothing and the message is not ours to chase.
            self.store.fail_move(
                qid, "moved or deleted by another client before mailguard moved it"
            )
            log_event(
                log, "move.vanished", account=name, folder=folder, uid=uid, quarantine_id=qid,
                error=str(e),
            )  # fmt: skip
            return False
        except MailClientError as e:
            # The connection may be gone; the intent stays pending and the
            # next run's reconciliation decides where the message really is.
            log_event(
                log,
                "move.failed",
                level=logging.ERROR,
                account=name,
                folder=folder,
                uid=uid,
                quarantine_id=qid,
                error=str(e),
            )
            raise
        confirm_move(self.store, self.client, qid, dest, result, item.message_id)
        if not result.removed_from_source:
            log_event(
                log,
                "move.copy_only",
                level=logging.WARNING,
                account=name,
                folder=folder,
                uid=uid,
                quarantine_id=qid,
                reason="server lacks MOVE and UIDPLUS; the original was left in place",
            )
        log_event(
            log,
            "message.quarantined",
            account=name,
            folder=folder,
            uid=uid,
            quarantine_id=qid,
            category=item.category,
            score=round(item.score, 2),
            method=result.method,
        )
        return True

    def advance(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.store.set_folder_state(self.account.name, folder, uidvalidity, last_uid)

    def skipped(
        self, folder: str, uidvalidity: int, uid: int, message_id: str | None, error: str
    ) -> None:
        self.store.record_message_error(
            self.account.name, folder, uidvalidity, uid, message_id, error
        )

    def finish(self, summary: ScanSummary) -> None:
        self.store.record_poll(
            self.account.name,
            ok=summary.reached,
            error=summary.error,
            scanned=summary.scanned,
            quarantined=summary.quarantined,
        )
