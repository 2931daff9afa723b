"""Repair moves that a crash left between "intent written" and "move confirmed".

For each pending intent we look where the message really is, by Message-ID
in the quarantine folder and by UID in the source folder, and settle the
record so that every message ends in exactly one place:

* in quarantine only           -> the move happened: confirm it;
* in both (copy done, expunge not) -> finish the move by expunging that one
  source UID (UIDPLUS only; never a mailbox-wide EXPUNGE);
* in the source only           -> the move never happened: abandon the intent,
  and the normal scan classifies the message again;
* in neither                   -> logged loudly for a human; nothing is deleted.
"""

from __future__ import annotations

import logging

from mailguard.config import AccountConfig
from mailguard.imap.base import MailClient
from mailguard.logs import log_event
from mailguard.state import StateStore

log = logging.getLogger("mailguard.reconcile")

# How the move is recorded once reconciliation has found where the message is.
_METHODS = {"moved": "reconciled", "finished": "reconciled-expunge", "copy-only": "copy-only"}


def reconcile_pending(client: MailClient, store: StateStore, account: AccountConfig) -> int:
    """Settle every pending move of ``account``; returns how many were settled."""
    settled = 0
    for rec in store.pending_moves(account.name):
        dest = rec.quarantine_folder or account.quarantine_folder
        in_dest: list[int] = []
        if rec.message_id:
            try:
                in_dest = client.find_by_message_id(dest, rec.message_id)
            except Exception:  # quarantine folder may not exist yet
                in_dest = []
        in_source = False
        try:
            status = client.folder_status(rec.original_folder)
            if status.uidvalidity == rec.original_uidvalidity:
                in_source = rec.original_uid in client.get_flags(
                    rec.original_folder, [rec.original_uid]
                )
            elif rec.message_id:
                in_source = bool(client.find_by_message_id(rec.original_folder, rec.message_id))
        except Exception as e:
            log_event(
                log,
                "reconcile.source_unreadable",
                level=logging.WARNING,
                account=account.name,
                quarantine_id=rec.id,
                error=str(e),
            )
            continue
        if in_dest:
            if not in_source:
                outcome = "moved"
            elif "UIDPLUS" in client.capabilities:
                # Copied but not yet expunged: finish the move on that one UID.
                client.expunge_uid(rec.original_folder, rec.original_uid)
                outcome = "finished"
            else:
                outcome = "copy-only"
            store.confirm_move(
                rec.id,
                quarantine_folder=dest,
                quarantine_uid=max(in_dest),
                quarantine_uidvalidity=None,
                method=_METHODS[outcome],
            )
        elif in_source:
            outcome = "not-moved"
            store.fail_move(rec.id, "interrupted before the move; will be scanned again")
        else:
            outcome = "missing"
            store.fail_move(rec.id, "message found in neither folder")
            log_event(
                log,
                "reconcile.missing",
                level=logging.ERROR,
                account=account.name,
                quarantine_id=rec.id,
                message_id=rec.message_id,
            )
        store.mark_reconciled(rec.id, outcome)
        settled += 1
        log_event(
            log, "move.reconciled", account=account.name, quarantine_id=rec.id, outcome=outcome
        )
    return settled
