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
from mailguard.state import StateStore

log = logging.getLogger("mailguard.release")


class ReleaseError(Exception):
    pass


@dataclass(frozen=True)
class Released:
    id: int
    folder: str
    uid: int | None


def release_one(client: MailClient, store: StateStore, qid: int) -> Released:
    rec = store.get(qid)
    if rec is None:
        raise ReleaseError(f"no quarantined message with id {qid}")
    if rec.status not in ("quarantined", "releasing"):
        raise ReleaseError(f"message {qid} is {rec.status}, not in quarantine")
    folder = rec.quarantine_folder
    uids: list[int] = []
    if rec.message_id:
        uids = client.find_by_message_id(folder, rec.message_id)
    if not uids and rec.quarantine_uid is not None:
        uids = [u for u in client.get_flags(folder, [rec.quarantine_uid])]
    if not uids and rec.status == "releasing" and rec.message_id:
        # A crash after the move back but before it was confirmed: finish the record.
        back = client.find_by_message_id(rec.original_folder, rec.message_id)
        if back:
            store.confirm_release(qid, max(back))
            return Released(qid, rec.original_folder, max(back))
    if not uids:
        raise ReleaseError(f"message {qid} is no longer in {folder}; was it moved by hand?")
    uid = max(uids)
    raw = _fetch_for_learning(client, folder, uid)
    if rec.status == "quarantined":
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
    log_event(
        log,
        "message.released",
        account=rec.account,
        quarantine_id=qid,
        folder=rec.original_folder,
        uid=restored,
        sender=rec.from_addr,
    )
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
