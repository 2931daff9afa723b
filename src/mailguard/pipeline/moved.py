"""Recording a quarantine move that the server has carried out.

The scanner (:mod:`mailguard.pipeline.act`) and the mail-app report folder
(:mod:`mailguard.pipeline.mailapp`) both move a message into Quarantine after
writing an intent; both finish the same way, here, so that a quarantine record
points at its copy however the server moved it.
"""

from __future__ import annotations

from mailguard.imap.base import MailClient, MoveResult
from mailguard.state import StateStore


def confirm_move(
    store: StateStore,
    client: MailClient,
    qid: int,
    dest: str,
    result: MoveResult,
    message_id: str | None,
) -> None:
    """Confirm intent ``qid``: the message is now in ``dest``.

    A server without UIDPLUS does not say the copy's UID, so it is looked up by
    Message-ID (the newest match: the copy was just made); without either the
    record keeps no UID, and a release finds the copy by Message-ID later.
    """
    dest_uid = result.dest_uid
    if dest_uid is None and message_id:
        found = client.find_by_message_id(dest, message_id)
        dest_uid = max(found) if found else None
    store.confirm_move(
        qid,
        quarantine_folder=dest,
        quarantine_uid=dest_uid,
        quarantine_uidvalidity=result.dest_uidvalidity,
        method=result.method,
    )
