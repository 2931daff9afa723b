"""One pass over one account: fetch what is new, classify it, move the scams.

The order of operations is the safety argument, so it is spelled out here:

1. Reconcile moves a previous run left half-done (see :mod:`.reconcile`).
2. Per folder, STATUS first. If UIDVALIDITY is unchanged and UIDNEXT says
   nothing arrived, stop: an unchanged poll costs one STATUS and no FETCH.
3. UID SEARCH for UIDs above the last one handled (or SINCE the look-back
   date on a first scan / after a UIDVALIDITY change).
4. FETCH in batches with BODY.PEEK (never sets ``\\Seen``), parse, classify.
5. For each scam: write the intent to SQLite and commit, *then* move, then
   confirm. A crash between the two is repaired by step 1 of the next run.
6. After each batch, commit the highest UID handled, so an interrupted scan
   resumes where it stopped instead of starting over.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mailguard.config import AccountConfig, Settings
from mailguard.detect import Classifier, ClassifyContext, Verdict
from mailguard.digest import DIGEST_HEADER
from mailguard.imap.base import FetchedMessage, MailClient, MailClientError
from mailguard.logs import log_event
from mailguard.parse import parse_message
from mailguard.parse.model import ParsedMessage
from mailguard.pipeline.learning import learned_context
from mailguard.pipeline.reconcile import reconcile_pending
from mailguard.pipeline.records import reasons_to_json, verdict_details
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.pipeline.sentcheck import SentFolderCheck
from mailguard.state import StateStore

log = logging.getLogger("mailguard.scan")


@dataclass
class ScanSummary:
    """What one account's pass did, for the CLI line, `status` and metrics."""

    account: str
    scanned: int = 0
    quarantined: int = 0
    suspicious: int = 0
    errors: int = 0
    reached: bool = True
    error: str | None = None
    planned: list[str] = field(default_factory=list)  # dry-run: what would have moved
    commands: dict[str, int] = field(default_factory=dict)  # IMAP commands sent, by verb

    def line(self) -> str:
        if not self.reached:
            return f"{self.account}: NOT REACHED: {self.error}"
        verb = "would quarantine" if self.planned else "quarantined"
        return (
            f"{self.account}: scanned {self.scanned}, {verb} {self.quarantined}, "
            f"suspicious {self.suspicious}, errors {self.errors}"
        )


@dataclass(frozen=True)
class _Flagged:
    """A message that is not clean, with everything recording and moving it needs."""

    folder: str
    uidvalidity: int
    fetched: FetchedMessage
    msg: ParsedMessage
    verdict: Verdict
    digest: str
    contacted: datetime | None


class AccountScanner:
    """Scans one account. Create one per pass; it holds that pass's connection."""

    def __init__(
        self,
        settings: Settings,
        account: AccountConfig,
        store: StateStore,
        classifier: Classifier,
        client: MailClient,
        *,
        dry_run: bool = False,
        since: date | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.account = account
        self.store = store
        self.classifier = classifier
        self.client = client
        self.dry_run = dry_run
        self.since = since
        self.stop = stop or threading.Event()
        self.summary = ScanSummary(account.name)
        self._quarantine_ready = False
        self._sent = SentFolderCheck(client, account) if settings.scan.check_sent_folder else None
        self._trusted = frozenset(account.trusted_senders)
        # Read once per pass: releases happen between passes, not during one.
        self._released = frozenset(store.released_senders(account.name))
        self._learned = learned_context(store, account.name)
        self._signer = DigestSigner.for_state(settings.state.path)

    # -- the pass ---------------------------------------------------------------------------
    def run(self) -> ScanSummary:
        if not self.dry_run:
            reconcile_pending(self.client, self.store, self.account)
        for folder in self.account.folders:
            if self.stop.is_set():
                break
            self._scan_folder(folder)
        return self.summary

    def _scan_folder(self, folder: str) -> None:
        name = self.account.name
        status = self.client.folder_status(folder)
        known = self.store.get_folder_state(name, folder)
        if (
            known is not None
            and known.uidvalidity == status.uidvalidity
            and status.uidnext - 1 <= known.last_uid
            and self.since is None
        ):
            log_event(log, "folder.unchanged", level=logging.DEBUG, account=name, folder=folder)
            return
        if known is None or known.uidvalidity != status.uidvalidity:
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
            min_uid = 1
            since = self.since or (
                datetime.now(UTC).date() - timedelta(days=self.settings.scan.initial_days)
            )
            last_uid = 0
        else:
            min_uid = known.last_uid + 1
            since = self.since
            last_uid = known.last_uid
        uids = sorted(
            u for u in self.client.search_uids(folder, min_uid=min_uid, since=since) if u >= min_uid
        )
        batch_size = self.settings.scan.batch_size
        for start in range(0, len(uids), batch_size):
            if self.stop.is_set():
                log_event(log, "scan.interrupted", account=name, folder=folder)
                break
            batch = uids[start : start + batch_size]
            handled = last_uid
            try:
                for fetched in self.client.fetch(
                    folder, batch, self.settings.scan.max_message_size
                ):
                    self._handle(folder, status.uidvalidity, fetched)
                    handled = max(handled, fetched.uid)
                handled = max(handled, batch[-1])  # UIDs that vanished mid-scan count as done
            finally:
                if not self.dry_run and handled > last_uid:
                    self.store.set_folder_state(name, folder, status.uidvalidity, handled)
                    last_uid = handled
        if (
            not self.dry_run
            and not uids
            and (known is None or known.uidvalidity != status.uidvalidity)
        ):
            # Remember UIDVALIDITY even for an empty look-back window.
            self.store.set_folder_state(
                name, folder, status.uidvalidity, max(status.uidnext - 1, 0)
            )

    # -- one message --------------------------------------------------------------------------
    def _handle(self, folder: str, uidvalidity: int, fetched: FetchedMessage) -> None:
        name = self.account.name
        self.summary.scanned += 1
        try:
            msg = parse_message(
                fetched.raw,
                max_message_size=self.settings.scan.max_message_size,
                max_part_size=self.settings.scan.max_part_size,
            )
            if msg.header(DIGEST_HEADER) and self._signer.is_ours(msg.message_id):
                return  # our own digest: never scanned into quarantine
            verdict, contacted = self._classify(msg)
        except Exception as e:  # one bad message must never stop the batch
            self.summary.errors += 1
            log_event(
                log,
                "message.skipped",
                level=logging.WARNING,
                account=name,
                folder=folder,
                uid=fetched.uid,
                error=f"{type(e).__name__}: {e}",
            )
            return
        log_event(
            log,
            "message.scanned",
            level=logging.DEBUG,
            account=name,
            folder=folder,
            uid=fetched.uid,
            verdict=verdict.verdict,
            score=round(verdict.score, 2),
        )
        if verdict.verdict == "clean":
            return
        digest = hashlib.sha256(fetched.raw).hexdigest()
        flagged = _Flagged(folder, uidvalidity, fetched, msg, verdict, digest, contacted)
        existing = self.store.find_existing(name, msg.message_id, digest)
        if existing is not None and existing.status in ("quarantined", "released", "suspicious"):
            log_event(
                log,
                "message.already_known",
                account=name,
                folder=folder,
                uid=fetched.uid,
                quarantine_id=existing.id,
                status=existing.status,
            )
            return
        move = verdict.verdict == "scam" or (
            verdict.verdict == "suspicious" and self.settings.detection.quarantine_suspicious
        )
        if not move:
            self.summary.suspicious += 1
            if not self.dry_run:
                qid = self.store.record_suspicious(**self._record_fields(flagged))
                log_event(
                    log,
                    "message.suspicious",
                    account=name,
                    folder=folder,
                    uid=fetched.uid,
                    quarantine_id=qid,
                    score=round(verdict.score, 2),
                )
            return
        self._quarantine(flagged)

    def _classify(self, msg: ParsedMessage) -> tuple[Verdict, datetime | None]:
        """The verdict, and when the user last wrote to the sender (only asked if flagged)."""
        released = self._released
        context = ClassifyContext(
            trusted_senders=self._trusted, released_senders=released, learned=self._learned
        )
        verdict = self.classifier.classify(msg, context=context)
        if verdict.verdict != "clean" and self._sent is not None and msg.from_ is not None:
            contacted = self._sent.last_contact(msg.from_.addr)
            if contacted is not None:
                context = ClassifyContext(
                    trusted_senders=self._trusted,
                    released_senders=released,
                    contacted_on=contacted,
                    learned=self._learned,
                )
                return self.classifier.classify(msg, context=context), contacted
        return verdict, None

    def _record_fields(self, f: _Flagged) -> dict[str, object]:
        msg, fetched, verdict = f.msg, f.fetched, f.verdict
        sender = msg.from_
        return {
            "account": self.account.name,
            "original_folder": f.folder,
            "original_uid": fetched.uid,
            "original_uidvalidity": f.uidvalidity,
            "message_id": msg.message_id,
            "sha256": f.digest,
            "from_addr": sender.addr if sender else "",
            "from_name": sender.name if sender else "",
            "subject": msg.subject,
            "date": msg.date or fetched.internaldate,
            "verdict": verdict.verdict,
            "category": verdict.category,
            "score": verdict.score,
            "reasons": reasons_to_json(verdict),
            "flags": list(fetched.flags),
            "contacted_on": f.contacted,
            "details": {
                "urls": [u.url for u in msg.urls[:10]],
                "phones": [p.raw for p in msg.phones[:5]],
                **verdict_details(verdict),
            },
        }

    def _quarantine(self, f: _Flagged) -> None:
        folder, fetched, msg, verdict = f.folder, f.fetched, f.msg, f.verdict
        name = self.account.name
        dest = self.account.quarantine_folder
        if self.dry_run:
            self.summary.quarantined += 1
            self.summary.planned.append(
                f"would move {folder} UID {fetched.uid} to {dest}: {msg.subject[:60]!r} "
                f"({verdict.verdict}, {verdict.category}, score {verdict.score:.1f})"
            )
            log_event(
                log,
                "message.would_quarantine",
                account=name,
                folder=folder,
                uid=fetched.uid,
                score=round(verdict.score, 2),
            )
            return
        if not self._quarantine_ready:
            self.client.ensure_folder(dest)
            self._quarantine_ready = True
        qid = self.store.record_move_intent(
            **self._record_fields(f),
            quarantine_folder=dest,
        )
        log_event(
            log, "move.intent", account=name, folder=folder, uid=fetched.uid, quarantine_id=qid
        )
        try:
            result = self.client.move(folder, fetched.uid, dest)
        except MailClientError as e:
            # The connection may be gone; the intent stays pending and the
            # next run's reconciliation decides where the message really is.
            log_event(
                log,
                "move.failed",
                level=logging.ERROR,
                account=name,
                folder=folder,
                uid=fetched.uid,
                quarantine_id=qid,
                error=str(e),
            )
            raise
        dest_uid = result.dest_uid
        if dest_uid is None and msg.message_id:
            found = self.client.find_by_message_id(dest, msg.message_id)
            dest_uid = max(found) if found else None
        self.store.confirm_move(
            qid,
            quarantine_folder=dest,
            quarantine_uid=dest_uid,
            quarantine_uidvalidity=result.dest_uidvalidity,
            method=result.method,
        )
        self.summary.quarantined += 1
        if not result.removed_from_source:
            log_event(
                log,
                "move.copy_only",
                level=logging.WARNING,
                account=name,
                folder=folder,
                uid=fetched.uid,
                quarantine_id=qid,
                reason="server lacks MOVE and UIDPLUS; the original was left in place",
            )
        log_event(
            log,
            "message.quarantined",
            account=name,
            folder=folder,
            uid=fetched.uid,
            quarantine_id=qid,
            category=verdict.category,
            score=round(verdict.score, 2),
            method=result.method,
        )
