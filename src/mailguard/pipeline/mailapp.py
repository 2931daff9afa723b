"""The mail app is the user interface: read what the user did by moving mail.

Users do not type ``mailguard release 42``; they drag mail around in the app
they already know. Before every live pass (daemon or ``scan --once``) this
module looks at two folders and turns moves into instructions:

* **Quarantine.** A record whose message is no longer in the quarantine
  folder was moved or deleted by the user. If a message with the same
  Message-ID *and* the same bytes (sha256) is now in another folder that is
  not a trash folder, it was **released by moving**: the record goes
  ``quarantined -> releasing -> released`` (the sender is trusted, exactly as
  ``mailguard release`` does), the audit log says ``release.by_move`` with
  the folder, and the per-mailbox model learns it as genuine mail. The scan
  later finds the released record for those bytes and leaves the message
  where the user put it, under whatever UID it now has. Otherwise -- found in
  a trash folder or nowhere -- it was **deleted by the user**: the record
  becomes ``deleted`` and nothing is learned (deleting a scam says nothing
  about the sender being fine).
* **The report folder** (default ``Quarantine/Report``). Each message there is
  a scam the user says mailguard missed. It is recorded as a scam with the
  reason "reported by you" (intent committed first), moved into Quarantine
  (move, then confirm -- the same order as every quarantine), its sender,
  sender domain and phone numbers are remembered for the account and the
  model learns it. It is reported in the next digest like any quarantined
  scam, with the advice for its situation (an immediate alert for a
  withdrawal lure or after contact).

Nothing here writes to a mailbox except the move out of the report folder:
reads are BODY.PEEK through :meth:`MailClient.fetch`, searches are read-only,
and no mailbox-wide EXPUNGE is ever issued. A dry run never calls this.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mailguard.config import AccountConfig
from mailguard.detect import Classifier, Reason, Verdict
from mailguard.detect.reported import reported_features
from mailguard.imap.base import (
    FetchedMessage,
    FolderNotFound,
    MailClient,
    MailClientError,
    MessageNotFound,
)
from mailguard.logs import log_event
from mailguard.parse import parse_message
from mailguard.parse.model import ParsedMessage
from mailguard.pipeline.learning import learn_message
from mailguard.pipeline.moved import confirm_move
from mailguard.pipeline.sentcheck import SentFolderCheck
from mailguard.pipeline.verdict_record import new_item
from mailguard.state import DuplicateMessage, QuarantineRecord, StateStore
from mailguard.state.mailapp import RELEASED_BY_MOVE, REPORTED_BY_MOVE
from mailguard.vocabulary import Category, Status, UserAction, VerdictKind

log = logging.getLogger("mailguard.mailapp")

MAX_LEARN_BYTES = 1_000_000
REPORTED_RULE = "user.reported"
_TRASH_NAMES = frozenset(
    {"trash", "deleted", "deleted items", "deleted messages", "bin", "ごみ箱", "ゴミ箱"}
)


class Learner(Protocol):
    """What the user taught: genuine mail (a release) or a scam (a report), per account."""

    def ham(self, account: str, raw: bytes, record: QuarantineRecord) -> None: ...

    def scam(self, account: str, raw: bytes, msg: ParsedMessage, quarantine_id: int) -> None: ...


class StoreLearner:
    """Learning kept in the state database, per account.

    A release already trusts the sender (``confirm_release``). A report
    remembers sender, domain and phone numbers (``reported_features``). Both
    hand the text to the per-mailbox model (:mod:`mailguard.pipeline.learning`),
    which keeps a fingerprint of hashed n-grams, never the text.
    """

    def __init__(self, store: StateStore, shared_domains: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.shared_domains = shared_domains

    def ham(self, account: str, raw: bytes, record: QuarantineRecord) -> None:
        self._model(account, raw, "ham", "release")

    def scam(self, account: str, raw: bytes, msg: ParsedMessage, quarantine_id: int) -> None:
        features = reported_features(msg, self.shared_domains)
        self.store.add_reported(account, features, quarantine_id)
        self._model(account, raw, "scam", "report")

    def _model(self, account: str, raw: bytes, label: str, source: str) -> None:
        try:
            learn_message(self.store, account, raw, label, source=source)
        except Exception as e:  # learning never undoes what the user asked for
            log.warning("could not learn %s example: %s", label, e)


@dataclass
class MailAppSummary:
    released: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    reported: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Found:
    folder: str
    uid: int
    raw: bytes
    trash: bool


def is_trash(name: str, flags: Iterable[str]) -> bool:
    """A folder where a mail app puts deleted mail (SPECIAL-USE ``\\Trash`` or a usual name)."""
    if any(f.lower() == "\\trash" for f in flags):
        return True
    leaf = re.split(r"[/.]", name)[-1].strip().lower()
    return leaf in _TRASH_NAMES


class MailAppSync:
    """Reads the user's moves for one account; one per process (it caches folder states)."""

    def __init__(
        self,
        store: StateStore,
        classifier: Classifier,
        learner: Learner | None = None,
        *,
        check_sent_folder: bool = True,
    ) -> None:
        """``check_sent_folder``: look up whether the user wrote to a reported sender, so a
        report after contact gets the after-contact advice (and an immediate alert)."""
        self.store = store
        self.classifier = classifier
        self.check_sent_folder = check_sent_folder
        shared = classifier.ruleset.sets.get("freemail", frozenset())
        self.learner: Learner = learner or StoreLearner(store, shared)
        self._seen: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._ready: set[str] = set()

    # -- the pass -----------------------------------------------------------------------------
    def run(self, client: MailClient, account: AccountConfig) -> MailAppSummary:
        """Settle what the user did since the last pass. MailClientError escapes (pass stops)."""
        summary = MailAppSummary()
        if account.name not in self._ready:
            # The report folder is created with the quarantine folder, so the user sees both.
            client.ensure_folder(account.quarantine_folder)
            client.ensure_folder(account.report)
            self._ready.add(account.name)
        self._check_quarantine(client, account, summary)
        self._take_reports(client, account, summary)
        return summary

    # -- Quarantine: released or deleted ------------------------------------------------------
    def _check_quarantine(
        self, client: MailClient, account: AccountConfig, summary: MailAppSummary
    ) -> None:
        records = [r for r in self.store.list_quarantine(account.name) if r.quarantine_folder]
        by_folder: dict[str, list[QuarantineRecord]] = {}
        for rec in records:
            by_folder.setdefault(rec.quarantine_folder or "", []).append(rec)
        for folder, recs in by_folder.items():
            try:
                st = client.folder_status(folder)
            except FolderNotFound:
                continue  # never guess from a missing folder; a human renamed it
            key = (st.uidvalidity, st.uidnext, st.messages)
            same_validity = all(r.quarantine_uidvalidity in (None, st.uidvalidity) for r in recs)
            if same_validity and st.messages == len(recs):
                # Exactly our messages are there: nothing left. One STATUS, no SELECT.
                self._seen[(account.name, folder)] = key
                continue
            if st.messages > len(recs) and self._seen.get((account.name, folder)) == key:
                continue  # extra mail in Quarantine, but nothing changed since the last look
            present = set(client.search_uids(folder)) if st.messages else set()
            for rec in recs:
                same_validity = rec.quarantine_uidvalidity in (None, st.uidvalidity)
                if same_validity and rec.quarantine_uid in present:
                    continue
                if rec.message_id and client.find_by_message_id(folder, rec.message_id):
                    continue  # still here under another UID
                self._gone(client, account, rec, summary)
            self._seen[(account.name, folder)] = key

    def _gone(
        self,
        client: MailClient,
        account: AccountConfig,
        rec: QuarantineRecord,
        summary: MailAppSummary,
    ) -> None:
        found = self._locate(client, account, rec)
        if found is not None and found.folder == client.resolve_folder(account.report):
            return  # dragged from Quarantine to Report: it is a scam already; leave it be
        if found is None or found.trash:
            where = found.folder if found is not None else None
            self.store.record_user_deletion(rec.id, folder=where)
            summary.deleted.append(rec.id)
            log_event(
                log,
                "message.deleted_by_user",
                account=account.name,
                quarantine_id=rec.id,
                folder=where,
            )
            return
        self.store.begin_release(rec.id)
        self.store.confirm_release(rec.id, found.uid)
        self.store.audit(
            account.name,
            RELEASED_BY_MOVE,
            rec.id,
            folder=found.folder,
            uid=found.uid,
            user_action=UserAction.RELEASED_BY_MOVE,
        )
        summary.released.append(rec.id)
        log_event(
            log,
            "message.released",
            account=account.name,
            quarantine_id=rec.id,
            folder=found.folder,
            uid=found.uid,
            sender=rec.from_addr,
            by="move",
        )
        try:
            self.learner.ham(account.name, found.raw, rec)
        except Exception as e:  # the release stands even if learning fails
            log.warning("could not learn released message %s: %s", rec.id, e)

    def _locate(
        self, client: MailClient, account: AccountConfig, rec: QuarantineRecord
    ) -> _Found | None:
        """Where the record's bytes are now: normal folders first, then trash folders."""
        if not rec.message_id:
            return None
        candidates = self._folders(client, account, rec.quarantine_folder or "")
        for folder, trash in sorted(candidates, key=lambda c: c[1]):
            try:
                uids = client.find_by_message_id(folder, rec.message_id)
            except FolderNotFound:
                continue
            if not uids:
                continue
            for fetched in client.fetch(folder, sorted(uids), MAX_LEARN_BYTES):
                if hashlib.sha256(fetched.raw).hexdigest() == rec.sha256:
                    return _Found(folder, fetched.uid, fetched.raw, trash)
        return None

    @staticmethod
    def _folders(
        client: MailClient, account: AccountConfig, quarantine: str
    ) -> list[tuple[str, bool]]:
        """Watched folders, then every other listed folder; never the quarantine itself.

        Names are the server's (``resolve_folder``), as LIST reports them.
        """
        resolve = client.resolve_folder
        ordered: dict[str, bool] = {resolve(f): False for f in ("INBOX", *account.folders)}
        ordered[resolve(account.report)] = False
        for listed in client.list_folders():
            if "\\noselect" in listed.flags or "\\nonexistent" in listed.flags:
                continue
            ordered.setdefault(listed.name, is_trash(listed.name, listed.flags))
        ordered.pop(quarantine, None)
        ordered.pop(resolve(quarantine), None)
        return list(ordered.items())

    # -- the report folder ------------------------------------------------------------------
    def _take_reports(
        self, client: MailClient, account: AccountConfig, summary: MailAppSummary
    ) -> None:
        folder = account.report
        try:
            st = client.folder_status(folder)
        except FolderNotFound:
            return
        if not st.messages:
            return
        uids = client.search_uids(folder)
        sent = (
            SentFolderCheck(client, account.name, account.sent_folder)
            if self.check_sent_folder
            else None
        )
        for start in range(0, len(uids), 50):
            for fetched in client.fetch(folder, uids[start : start + 50], MAX_LEARN_BYTES):
                qid = self._report_one(client, account, st.uidvalidity, fetched, sent)
                if qid is not None:
                    summary.reported.append(qid)

    def _report_one(
        self,
        client: MailClient,
        account: AccountConfig,
        uidvalidity: int,
        fetched: FetchedMessage,
        sent: SentFolderCheck | None,
    ) -> int | None:
        folder, dest = account.report, account.quarantine_folder
        msg = parse_message(fetched.raw)
        digest = hashlib.sha256(fetched.raw).hexdigest()
        known = self.store.find_existing(
            account.name, msg.message_id, digest, seen_at=(folder, uidvalidity, fetched.uid)
        )
        if known is not None and known.status in (Status.QUARANTINED, Status.PENDING_MOVE):
            if known.original_folder != folder:
                # Dragged from Quarantine into Report: it is held already; put it back.
                client.move(folder, fetched.uid, dest)
            # else: a copy-only server left the original of an earlier report here.
            return None
        verdict = reported_verdict(self.classifier.classify(msg))
        sender = msg.from_.addr if msg.from_ is not None else ""
        contacted = sent.last_contact(sender) if sent is not None and sender else None
        item = new_item(account.name, folder, uidvalidity, fetched, msg, verdict, digest, contacted)
        item = replace(item, details={**item.details, "user_action": UserAction.REPORTED_BY_MOVE})
        try:
            if known is not None and known.status == Status.SUSPICIOUS:
                # Mentioned as suspicious, then reported: that record becomes the held one,
                # its move recorded before it happens like any other.
                qid = self.store.hold_reported_suspicious(known.id, item, quarantine_folder=dest)
            else:
                qid = self.store.record_move_intent(item, quarantine_folder=dest)
        except DuplicateMessage:
            # Recorded elsewhere and in the middle of something (a release under way):
            # leave it in the report folder for the next pass to see settled.
            return None
        self.store.audit(
            account.name, REPORTED_BY_MOVE, qid, folder=folder, uid=fetched.uid,
            user_action=UserAction.REPORTED_BY_MOVE,
        )  # fmt: skip
        log_event(log, "move.intent", account=account.name, folder=folder, uid=fetched.uid,
                  quarantine_id=qid)  # fmt: skip
        client.ensure_folder(dest)
        try:
            result = client.move(folder, fetched.uid, dest)
        except MessageNotFound:
            # The user took it back out of the report folder before we moved it.
            self.store.fail_move(qid, "moved or deleted by the user before mailguard moved it")
            return None
        confirm_move(self.store, client, qid, dest, result, item.message_id)
        log_event(
            log, "message.reported", account=account.name, quarantine_id=qid,
            category=item.category, sender=item.from_addr,
        )  # fmt: skip
        try:
            self.learner.scam(account.name, fetched.raw, msg, qid)
        except Exception as e:  # the message is held either way
            log.warning("could not learn reported message %s: %s", qid, e)
        return qid


def reported_reason() -> Reason:
    return Reason(
        rule=REPORTED_RULE,
        family="context",
        weight=1.0,
        description_ja="あなたが詐欺メールとして報告しました",
        description_en="reported by you",
        evidence="",
    )


def reported_verdict(verdict: Verdict) -> Verdict:
    """The classifier's reasons, headed by "reported by you": the user's word makes it a scam.

    The category stays the classifier's when it saw one (so the advice fits a
    withdrawal lure); otherwise fake billing, the family most reports are.
    """
    category = verdict.category or Category.FAKE_BILLING
    reasons: tuple[Any, ...] = (reported_reason(), *verdict.reasons)
    score = verdict.score + reasons[0].weight
    return replace(
        verdict, verdict=VerdictKind.SCAM, category=category, score=score, reasons=reasons
    )


def safe_sync(
    sync: MailAppSync, client: MailClient, account: AccountConfig
) -> MailAppSummary | None:
    """Run ``sync``; a mailbox problem stops the pass, any other failure is only logged."""
    try:
        return sync.run(client, account)
    except MailClientError:
        raise
    except Exception as e:  # a bug here must not stop the scan that protects the user
        log_event(
            log, "mailapp.error", level=logging.ERROR, account=account.name,
            error=f"{type(e).__name__}: {e}",
        )  # fmt: skip
        return None
