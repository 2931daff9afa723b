"""One pass over one account: fetch what is new, classify it, move the scams.

The order of operations is the safety argument, so it is spelled out here:

1. Reconcile moves a previous run left half-done (see :mod:`.reconcile`).
2. Per folder, STATUS first. If UIDVALIDITY is unchanged and UIDNEXT says
   nothing arrived, stop: an unchanged poll costs one STATUS and no FETCH.
3. UID SEARCH for UIDs above the last one handled (or SINCE the look-back
   date on a first scan / after a UIDVALIDITY change).
4. FETCH in batches with BODY.PEEK (never sets ``\\Seen``), parse, classify
   the whole batch first (reads only), then act on it. Assessing a batch before
   acting keeps the Sent-folder lookups together: one EXAMINE of Sent per batch
   for every flagged sender, instead of Sent and the scanned folder selected in
   turn for each scam.
5. For each scam: write the intent to SQLite and commit, *then* move, then
   confirm. A crash between the two is repaired by step 1 of the next run.
6. After each batch, commit the highest UID handled, so an interrupted scan
   resumes where it stopped instead of starting over.

Deciding and acting are separate: this loop fetches, asks
:class:`~mailguard.pipeline.decide.Assessor` what to do with each message
(reads only) and hands the decision to an executor
(:mod:`mailguard.pipeline.act`), which is where ``--dry-run`` is enforced.
A message that cannot be handled is recorded, skipped and passed over; it
never stops the folder or the account. Only a connection failure does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from mailguard.imap.base import FetchedMessage, MailClient, MailClientError
from mailguard.imap.deadline import deadline_passed
from mailguard.logs import log_event
from mailguard.pipeline.act import Executor
from mailguard.pipeline.decide import Assessor, Decision
from mailguard.pipeline.options import AccountScope, ScanLimits
from mailguard.pipeline.summary import ScanSummary
from mailguard.state import FolderState, StateError
from mailguard.state.errors import StateUnavailable

log = logging.getLogger("mailguard.scan")

__all__ = ["AccountScanner", "ScanSummary"]


@dataclass(frozen=True)
class _FolderPlan:
    """Which UIDs of a folder to look at in this pass."""

    uidvalidity: int
    uidnext: int
    min_uid: int
    since: date | None
    last_uid: int
    fresh: bool  # first scan, or UIDVALIDITY changed: remember it even if nothing is found


class AccountScanner:
    """Scans one account. Create one per pass; it holds that pass's connection."""

    def __init__(
        self,
        scope: AccountScope,
        limits: ScanLimits,
        client: MailClient,
        assessor: Assessor,
        executor: Executor,
        *,
        folder_state: Callable[[str], FolderState | None] = lambda _folder: None,
        since: date | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.scope = scope
        self.limits = limits
        self.client = client
        self.assessor = assessor
        self.executor = executor
        self.since = since
        self.stop = stop or threading.Event()
        self.summary = ScanSummary(scope.name, dry_run=executor.dry_run)
        self._folder_state = folder_state

    # -- the pass ---------------------------------------------------------------------------
    def run(self) -> ScanSummary:
        self.executor.begin(self.client)
        for folder in self.scope.folders:
            if self.stop.is_set():
                break
            self._scan_folder(folder)
        return self.summary

    def _plan(self, folder: str) -> _FolderPlan | None:
        """STATUS, compared with what we know: None when nothing can have arrived."""
        name = self.scope.name
        status = self.client.folder_status(folder)
        known = self._folder_state(folder)
        same_validity = known is not None and known.uidvalidity == status.uidvalidity
        unchanged = known is not None and same_validity and status.uidnext - 1 <= known.last_uid
        if unchanged and self.since is None:
            log_event(log, "folder.unchanged", level=logging.DEBUG, account=name, folder=folder)
            return None
        if known is not None and same_validity:
            return _FolderPlan(
                status.uidvalidity,
                status.uidnext,
                known.last_uid + 1,
                self.since,
                known.last_uid,
                False,
            )
        if known is not None:
            log_event(
                log,
                "folder.uidvalidity_changed",
                level=logging.WARNING,
                account=name,
                folder=folder,
                old=known.uidvalidity,
                new=status.uidvalidity,
            )
        since = self.since or (datetime.now(UTC).date() - timedelta(days=self.limits.initial_days))
        return _FolderPlan(status.uidvalidity, status.uidnext, 1, since, 0, True)

    def _scan_folder(self, folder: str) -> None:
        plan = self._plan(folder)
        if plan is None:
            return
        uids = sorted(
            u
            for u in self.client.search_uids(folder, min_uid=plan.min_uid, since=plan.since)
            if u >= plan.min_uid
        )
        last_uid = plan.last_uid
        size = self.limits.batch_size
        for start in range(0, len(uids), size):
            if self.stop.is_set():
                log_event(log, "scan.interrupted", account=self.scope.name, folder=folder)
                break
            batch = uids[start : start + size]
            handled = last_uid
            try:
                fetched = list(self.client.fetch(folder, batch, self.limits.max_message_size))
                decided: list[tuple[int, Decision | None]] = []
                for message in fetched:  # assess the batch first: reads only (Sent shared)
                    decided.append((message.uid, self._assess(folder, plan.uidvalidity, message)))
                    if deadline_passed(self.stop):
                        break
                done = 0
                for uid, decision in decided:
                    if decision is not None:
                        self._act(folder, plan.uidvalidity, uid, decision)
                    handled = max(handled, uid)
                    done += 1
                    if deadline_passed(self.stop):  # [scan] pass_deadline: stop between messages
                        break
                # Assessed but not acted on: they are read again next pass, counted then.
                self.summary.scanned -= len(decided) - done
                if done == len(fetched):
                    handled = max(handled, batch[-1])  # UIDs that vanished mid-scan count as done
            finally:
                if handled > last_uid:
                    self.executor.advance(folder, plan.uidvalidity, handled)
                    last_uid = handled
        if not uids and plan.fresh:
            # Remember UIDVALIDITY even for an empty look-back window.
            self.executor.advance(folder, plan.uidvalidity, max(plan.uidnext - 1, 0))

    # -- one message --------------------------------------------------------------------------
    def _assess(self, folder: str, uidvalidity: int, fetched: FetchedMessage) -> Decision | None:
        """Assess one message; None when it failed (recorded and skipped).

        A failure of one message stays with it. Only a :class:`MailClientError`
        escapes, here and in :meth:`_act`: the connection is then in doubt, so
        the account's pass stops (a pending move is reconciled next time).
        Anything else -- a parser or classifier bug, a Message-ID the database
        refuses -- is recorded, counted and skipped.
        """
        self.summary.scanned += 1
        try:
            return self.assessor.assess(folder, uidvalidity, fetched)
        except (MailClientError, StateUnavailable):
            raise  # the connection or the state file is in doubt: stop the pass
        except Exception as e:  # one bad message must never stop the folder or the account
            self._skip(folder, uidvalidity, fetched.uid, None, e, _kind(e, "classify"))
            return None

    def _act(self, folder: str, uidvalidity: int, uid: int, decision: Decision) -> None:
        """Hand one decision to the executor; a failure of this message stays with it."""
        verdict = decision.verdict
        log_event(
            log,
            "message.scanned",
            level=logging.DEBUG,
            account=self.scope.name,
            folder=folder,
            uid=uid,
            action=decision.action,
            verdict=verdict.verdict if verdict else None,
            score=round(verdict.score, 2) if verdict else None,
        )
        try:
            self.executor.apply(decision, self.summary)
        except (MailClientError, StateUnavailable):
            raise
        except Exception as e:
            message_id = decision.item.message_id if decision.item else None
            self._skip(folder, uidvalidity, uid, message_id, e, _kind(e, "move"))

    def _skip(
        self,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        e: Exception,
        kind: str,
    ) -> None:
        error = f"{type(e).__name__}: {e}"
        self.summary.errors += 1
        self.summary.error_kinds[kind] += 1
        self.summary.last_message_error = error
        log_event(
            log,
            "message.skipped",
            level=logging.WARNING,
            account=self.scope.name,
            folder=folder,
            uid=uid,
            kind=kind,
            error=error,
        )
        self.executor.skipped(folder, uidvalidity, uid, message_id, error)


def _kind(e: Exception, default: str) -> str:
    """The metrics ``kind`` of a per-message failure: the state database, or the stage."""
    return "state" if isinstance(e, StateError | sqlite3.Error) else default
