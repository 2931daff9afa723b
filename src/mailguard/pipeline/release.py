"""Undo a quarantine: move the message back, with its flags, and remember the sender.

Release is the one-command reversal the core promise names. The intent is
recorded first (audit), the move is done with the same safe primitives as
quarantine, and the sender is remembered as a false positive so the next
message from them is not quarantined for the same reasons.

On a server with neither MOVE nor UIDPLUS the quarantine was only a copy: the
original never left its folder (``move_method == "copy-only"``). Releasing such a
message must not copy it back -- that would put it in the folder twice. The
release is recorded against the original, and the quarantine copy is deleted
only if the server can delete exactly that one message (UID EXPUNGE, UIDPLUS).
Otherwise it is left in the quarantine folder, untouched and not even marked
``\\Deleted`` (a mailbox-wide EXPUNGE by any client would then remove it silently),
and the result says so; a plain EXPUNGE is never sent.
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


COPY_ONLY = "copy-only"


@dataclass(frozen=True)
class Released:
    id: int
    folder: str
    uid: int | None
    note: str | None = None  # what the user should know (a quarantine copy left behind)


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


def _original_still_there(client: MailClient, rec: QuarantineRecord) -> int | None:
    """The original's UID if a copy-only quarantine left it in its folder (else None)."""
    status = client.folder_status(rec.original_folder)
    if status.uidvalidity == rec.original_uidvalidity and rec.original_uid in client.get_flags(
        rec.original_folder, [rec.original_uid]
    ):
        return rec.original_uid
    if rec.message_id:
        found = client.find_by_message_id(rec.original_folder, rec.message_id)
        return max(found) if found else None
    return None


def _release_copy_only(
    client: MailClient, store: StateStore, rec: QuarantineRecord, original: int
) -> Released:
    """The original is still in its folder: record the release, never copy it back."""
    folder = rec.quarantine_folder or ""
    copies = locate_quarantined(client, store, rec)  # its own copy, by content
    if rec.status == Status.QUARANTINED:
        store.begin_release(rec.id)
    note: str | None = None
    if copies and "UIDPLUS" in client.capabilities:
        try:
            client.expunge_uid(folder, copies[0])
        except MailClientError as e:
            store.abort_release(rec.id, str(e))
            raise ReleaseError(f"could not remove the quarantine copy of {rec.id}: {e}") from e
    elif copies:
        note = (
            f"the original was never moved and is still in {rec.original_folder}; the copy "
            f"in {folder} was left there (this server cannot delete a single message safely: "
            "no UIDPLUS), delete it in your mail app if you like"
        )
    store.confirm_release(rec.id, original)
    _log_released(rec, original)
    if note:
        log_event(log, "release.copy_left", level=logging.WARNING, account=rec.account,
                  quarantine_id=rec.id, folder=folder)  # fmt: skip
    return Released(rec.id, rec.original_folder, original, note)


def release_one(client: MailClient, store: StateStore, qid: int) -> Released:
    """Move record ``qid`` back where it came from (or, if it never moved, vouch for it)."""
    rec = store.get(qid)
    if rec is None:
        raise ReleaseError(f"no quarantined message with id {qid}")
    if _never_moved(rec):
        return _release_in_place(store, rec)
    if rec.status not in (Status.QUARANTINED, Status.RELEASING) or not rec.quarantine_folder:
        raise ReleaseError(f"message {qid} is {rec.status}, not in quarantine")
    if rec.move_method == COPY_ONLY:
        original = _original_still_there(client, rec)
        if original is not None:
            return _release_copy_only(client, store, rec, original)
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
    raw = _fetch_for_learning(client, folder, uid)
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
    if raw:
        _learn_released(store, rec.account, raw)
    _log_released(rec, restored)
    return Released(qid, rec.original_folder, restored)


def _fetch_for_learning(client: MailClient, folder: str | None, uid: int) -> bytes:
    """The message's bytes (BODY.PEEK, capped) so the release can be learned as genuine mail."""
    if not folder:
        return b""
    try:
        for fetched in client.fetch(folder, [uid], 1_000_000):
            return fetched.raw
    except MailClientError as e:
        log.warning("could not read message %s for learning: %s", uid, e)
    return b""


def _learn_released(store: StateStore, account: str, raw: bytes) -> None:
    """A released message is genuine mail for this account; learning never fails a release."""
    from mailguard.pipeline.learning import learn_message

    try:
        learn_message(store, account, raw, "ham", source="release")
    except Exception as e:  # the release itself already succeeded
        log.warning("could not learn released message: %s", e)
