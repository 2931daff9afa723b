"""Repair moves that a crash left between "intent written" and "move confirmed".

The rule that matters: **never delete a source message unless we have found
that very message's copy.** A Message-ID proves nothing -- it is chosen by the
sender, two different scams may share one, it may be missing, or the server may
be unable to SEARCH for it (``<a)(b@x>``). So the copy is identified by
content: the sha256 the intent recorded, compared with the candidate's bytes
(fetched with BODY.PEEK, so nothing is marked read). Candidates are

* the UIDs above the highest quarantine UID recorded by any earlier row (the
  copy was made after the intent, so the server numbered it above all of them;
  see :mod:`mailguard.state.reconcile_queries`), which finds copies with no
  usable Message-ID; and
* the UIDs a Message-ID search returns,

minus every quarantine UID another row already claims. The source is looked up
by its recorded UID under its recorded UIDVALIDITY -- a UID is never reused, so
that *is* the same message. Then each pending row is settled:

* copy found, source gone          -> the move happened: confirm it;
* copy found, source still there   -> with UIDPLUS, finish the move by
  ``UID EXPUNGE`` of that one source UID; without it (no single-message
  expunge exists) leave the original in place, documented "copy-only";
* no copy, source there            -> the move never happened: the row fails and
  the normal scan classifies the message again;
* neither                          -> logged loudly; nothing is deleted.

Flags: a crash between ``UID STORE +FLAGS (\\Deleted)`` and ``UID EXPUNGE``
leaves our ``\\Deleted`` on a message. Unless the user had set it (the intent
recorded the flags at the time), it is removed from any message we do not
expunge -- source or copy -- so the user's view is unchanged and no later
EXPUNGE by another client deletes it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from mailguard.config import AccountConfig
from mailguard.imap.base import FolderNotFound, MailClient, MailClientError
from mailguard.logs import log_event
from mailguard.state import StateStore
from mailguard.state.records import QuarantineRecord
from mailguard.vocabulary import ReconcileOutcome

log = logging.getLogger("mailguard.reconcile")

DELETED = "\\Deleted"
DEFAULT_MAX_BYTES = 2 * 1024 * 1024  # [scan] max_message_size's default: what the hash covers
_FETCH_BATCH = 20
_MAX_CANDIDATES = 500  # newest first; a crashed pass moved at most a batch or so

# How the move is recorded once reconciliation has found where the message is.
_METHODS = {
    ReconcileOutcome.MOVED: "reconciled",
    ReconcileOutcome.FINISHED: "reconciled-expunge",
    ReconcileOutcome.COPY_ONLY: "copy-only",
}


@dataclass(frozen=True)
class _Copy:
    uid: int
    uidvalidity: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    present: bool | None  # None: the folder's UIDVALIDITY changed, the UID means nothing now
    flags: tuple[str, ...] = ()


def _has_deleted(flags: tuple[str, ...]) -> bool:
    return any(f.lower() == DELETED.lower() for f in flags)


def reconcile_pending(
    client: MailClient,
    store: StateStore,
    account: AccountConfig,
    *,
    max_bytes: int | None = None,
) -> int:
    """Settle every pending move of ``account``; return how many were settled.

    ``max_bytes`` is ``[scan] max_message_size``: the scanner hashes at most
    that many bytes of a message, so candidates are fetched (and hashed) the same way.
    """
    settled = 0
    limit = max_bytes or DEFAULT_MAX_BYTES
    for rec in store.pending_moves(account.name):
        try:
            outcome = _reconcile_one(client, store, account, rec, limit)
        except MailClientError as e:
            if client.closed:
                raise  # the connection is gone: the pass ends, the rows stay pending
            log_event(
                log,
                "reconcile.source_unreadable",
                level=logging.WARNING,
                account=account.name,
                quarantine_id=rec.id,
                error=str(e),
            )
            continue
        settled += 1
        log_event(
            log, "move.reconciled", account=account.name, quarantine_id=rec.id, outcome=outcome
        )
    return settled


def _reconcile_one(
    client: MailClient,
    store: StateStore,
    account: AccountConfig,
    rec: QuarantineRecord,
    max_bytes: int,
) -> ReconcileOutcome:
    dest = rec.quarantine_folder or account.quarantine_folder
    copy = _find_copy(client, store, rec, dest, max_bytes)
    source = _source_state(client, rec)
    # Our \Deleted is one the message did not carry when the intent was recorded.
    ours = not _has_deleted(rec.flags)
    if copy is not None:
        if ours and _has_deleted(copy.flags):
            client.unflag_deleted(dest, copy.uid)
        if source.present and "UIDPLUS" in client.capabilities:
            # Proven: dest UID ``copy.uid`` holds these very bytes. Finish the move.
            client.expunge_uid(rec.original_folder, rec.original_uid)
            outcome = ReconcileOutcome.FINISHED
        elif source.present:
            if ours and _has_deleted(source.flags):
                client.unflag_deleted(rec.original_folder, rec.original_uid)
            outcome = ReconcileOutcome.COPY_ONLY
        else:
            outcome = ReconcileOutcome.MOVED
        store.confirm_move(
            rec.id,
            quarantine_folder=dest,
            quarantine_uid=copy.uid,
            quarantine_uidvalidity=copy.uidvalidity,
            method=_METHODS[outcome],
        )
        store.mark_reconciled(rec.id, outcome)
        return outcome
    if source.present is not False:
        if source.present and ours and _has_deleted(source.flags):
            client.unflag_deleted(rec.original_folder, rec.original_uid)
        note = (
            "interrupted before the move; will be scanned again"
            if source.present
            else "the source folder was reset (new UIDVALIDITY) and no copy was found; "
            "it will be scanned again"
        )
        store.fail_move(rec.id, note)
        store.mark_reconciled(rec.id, ReconcileOutcome.NOT_MOVED)
        return ReconcileOutcome.NOT_MOVED
    store.fail_move(rec.id, "message found in neither folder")
    store.mark_reconciled(rec.id, ReconcileOutcome.MISSING)
    log_event(
        log,
        "reconcile.missing",
        level=logging.ERROR,
        account=account.name,
        quarantine_id=rec.id,
        message_id=rec.message_id,
    )
    return ReconcileOutcome.MISSING


def _source_state(client: MailClient, rec: QuarantineRecord) -> _Source:
    try:
        status = client.folder_status(rec.original_folder)
    except FolderNotFound:
        return _Source(False)
    if status.uidvalidity != rec.original_uidvalidity:
        return _Source(None)
    flags = client.get_flags(rec.original_folder, [rec.original_uid])
    if rec.original_uid in flags:
        return _Source(True, tuple(flags[rec.original_uid]))
    return _Source(False)


def _candidates(
    client: MailClient, store: StateStore, rec: QuarantineRecord, dest: str, uidvalidity: int,
    uidnext: int,
) -> list[int]:  # fmt: skip
    """UIDs in ``dest`` that may be this row's copy, newest last, claimed ones removed."""
    found: set[int] = set()
    floor = store.highest_claimed_uid_before(rec.id, rec.account, dest, uidvalidity)
    if uidnext > floor + 1:
        found.update(client.search_uids(dest, min_uid=floor + 1))
    if rec.message_id:
        try:
            found.update(client.find_by_message_id(dest, rec.message_id))
        except MailClientError:
            if client.closed:
                raise
            # A Message-ID the server cannot search for: the UID floor covers it.
    found -= store.claimed_quarantine_uids(rec.account, dest, uidvalidity, exclude=rec.id)
    return sorted(found)[-_MAX_CANDIDATES:]


def _find_copy(
    client: MailClient, store: StateStore, rec: QuarantineRecord, dest: str, max_bytes: int
) -> _Copy | None:
    """The unclaimed message in ``dest`` whose bytes hash to the row's sha256, if any."""
    try:
        status = client.folder_status(dest)
    except FolderNotFound:
        return None
    uids = _candidates(client, store, rec, dest, status.uidvalidity, status.uidnext)
    for start in range(0, len(uids), _FETCH_BATCH):
        for fetched in client.fetch(dest, uids[start : start + _FETCH_BATCH], max_bytes):
            if hashlib.sha256(fetched.raw).hexdigest() == rec.sha256:
                return _Copy(fetched.uid, status.uidvalidity, tuple(fetched.flags))
    return None


def locate_quarantined(
    client: MailClient, store: StateStore, rec: QuarantineRecord, *, max_bytes: int | None = None
) -> list[int]:
    """UIDs in ``rec``'s quarantine folder that hold *its* message, best first.

    For release: the recorded UID (under the recorded UIDVALIDITY) and the
    Message-ID search are only candidates; the one whose bytes hash to the
    row's sha256 wins, so releasing one of two scams that share a Message-ID
    moves that one back and not the other. UIDs other rows own are never
    returned. If no candidate matches byte for byte (the hash covered a
    different ``max_message_size``), the remaining candidates are returned as
    the old lookup did.
    """
    folder = rec.quarantine_folder
    if not folder:
        return []
    try:
        status = client.folder_status(folder)
    except FolderNotFound:
        return []
    candidates: list[int] = []
    if rec.quarantine_uid is not None and rec.quarantine_uidvalidity in (None, status.uidvalidity):
        candidates.append(rec.quarantine_uid)
    if rec.message_id:
        try:
            candidates.extend(
                sorted(client.find_by_message_id(folder, rec.message_id), reverse=True)
            )
        except MailClientError:
            if client.closed:
                raise
    claimed = store.claimed_quarantine_uids(rec.account, folder, status.uidvalidity, exclude=rec.id)
    wanted = [u for u in dict.fromkeys(candidates) if u not in claimed]
    present: list[int] = []
    for start in range(0, len(wanted), _FETCH_BATCH):
        batch = wanted[start : start + _FETCH_BATCH]
        for fetched in client.fetch(folder, batch, max_bytes or DEFAULT_MAX_BYTES):
            if hashlib.sha256(fetched.raw).hexdigest() == rec.sha256:
                return [fetched.uid]
            present.append(fetched.uid)
    return sorted(present, key=wanted.index)
