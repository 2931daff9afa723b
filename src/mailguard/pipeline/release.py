"""Undo a quarantine: move the message back, with its flags, and remember the sender.

Release is the one-command reversal the core promise names. The intent is
recorded first (audit), the move is done with the same safe primitives as
quarantine, and the sender is remembered as a false positive so the next
message from them is not quarantined for the same reasons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailguard.imap.base import MailClient, MailClientError
from mailguard.logs import log_event
from mailguard.pipeline.reconcile import locate_quarantined
from mailguard.state import QuarantineRecord, StateStore
from mailguard.vocabulary import Status

log = logging.getLogger("mailguard.release")


class ReleaseError(Exception):
    pass


@dataclass(frozen=True)
class Released:
    id: int
    folder: str
    uid: int | None


def _never_moved(rec: QuarantineRecord) -> bool:
    return rec.status == Status.SUSPICIOUS or (
        rec.status == Status.RELEASING and rec.quarantined_at is None
    )


def _release_in_place(store: StateStore, rec: QuarantineRecord) -> Released:
    """A suspicious record: vouch for the sender; the message never left its folder."""
    if rec.status == Status.SUSPICIOUS:
        store.begin_release(rec.id)
    store.confirm_release(rec.id, rec.original_uid)
    _log_released(rec, rec.original_uid)
    return Released(rec.id, rec.original_folder, rec.original_uid)


def _log_released(rec: QuarantineRecord, uid: int | None) -> None:
    log_event(
        log,
        "message.released",
        account=rec.account,
        quarantine_id=rec.id,
        folder=rec.original_folder,
        uid=uid,
        sender=rec.from_addr,
    )


def release_one(client: MailClient, store: StateStore, qid: int) -> Released:
    """Move record ``qid`` back where it came from (or, if it never moved, vouch for it)."""
    rec = store.get(qid)
    if rec is None:
        raise ReleaseError(f"no quarantined message with id {qid}")
    if _never_moved(rec):
        return _release_in_place(store, rec)
    if rec.status not in (Status.QUARANTINED, Status.RELEASING) or not rec.quarantine_folder:
        raise ReleaseError(f"message {qid} is {rec.status}, not in quarantine")
    folder = rec.quarantine_folder
    # By content, not by Message-ID alone: two scams may share one (see reconcile).
    uids = locate_quarantined(client, store, rec)
    if not uids and rec.status == Status.RELEASING and rec.message_id:
        # A crash after the move back but before it was confirmed: finish the record.
        back = client.find_by_message_id(rec.original_folder, rec.message_id)
        if back:
            store.confirm_release(qid, max(back))
            return Released(qid, rec.original_folder, max(back))
    if not uids:
        raise ReleaseError(f"message {qid} is no longer in {folder}; was it moved by hand?")
    uid = uids[0]
    if rec.status == Status.QUARANTINED:
        store.begin_release(qid)
    try:
        client.ensure_folder(rec.original_folder)
        result = client.move(folder, uid, rec.original_folder)
    except MailClientError as e:
        store.abort_release(qid, str(e))
        raise ReleaseError(f"could not move message {qid} back: {e}") from e
    restored = result.dest_uid
    if restored is None and rec.message_id:
        found = client.find_by_message_id(rec.original_folder, rec.message_id)
        restored = max(found) if found else None
    store.confirm_release(qid, restored)
    _log_released(rec, restored)
    return Released(qid, rec.original_folder, restored)
