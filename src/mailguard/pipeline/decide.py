"""Decide what to do with one fetched message -- and only decide.

:meth:`Assessor.assess` parses, recognises our own digests, classifies (with
the Sent-folder contact in the same, single classification pass) and checks
whether the message was handled before. It reads the mailbox and the state
database but never writes either: everything it concludes is in the returned
:class:`Decision`, which :mod:`mailguard.pipeline.act` carries out (or, in a
dry run, only reports).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mailguard.detect import Classifier, ClassifyContext, Verdict
from mailguard.detect.verdict import LearnedExample, QuarantinedScams
from mailguard.digest import DIGEST_HEADER
from mailguard.imap.base import FetchedMessage
from mailguard.parse import parse_message
from mailguard.pipeline.learning import learned_context
from mailguard.pipeline.options import QuarantinePolicy, ScanLimits
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.pipeline.sentcheck import SentFolderCheck
from mailguard.pipeline.verdict_record import new_item
from mailguard.state import NewItem, QuarantineRecord, StateStore
from mailguard.vocabulary import Status, VerdictKind


class Action(StrEnum):
    """What the executor is asked to do with one message."""

    OWN_DIGEST = "own_digest"  # our signed digest: never quarantined
    LEAVE = "leave"  # clean: nothing to do
    KNOWN = "known"  # handled before (same message, or the user released these bytes)
    REPORT = "report"  # suspicious, left in place, recorded for the digest
    QUARANTINE = "quarantine"  # record the intent, move, confirm


@dataclass(frozen=True)
class Decision:
    """The outcome of assessing one message; all the executor needs to act on it."""

    action: Action
    folder: str
    uidvalidity: int
    uid: int
    verdict: Verdict | None = None
    item: NewItem | None = None  # for REPORT and QUARANTINE
    known: QuarantineRecord | None = None  # for KNOWN


class _ContactOnDemand(ClassifyContext):
    """A classification context whose ``contacted_on`` is looked up on first use.

    The Sent-folder search costs an IMAP round trip, and the engine asks for
    the contact only when a message already scores like a scam (the rule is
    gated on its prior score). Reading it lazily lets the one and only
    classification pass carry the contact, and clean mail never costs a
    search. ``looked_up`` says whether it was asked (the record keeps the date).
    """

    def __init__(
        self,
        trusted: frozenset[str],
        released: frozenset[str],
        lookup: Callable[[], datetime | None],
        learned: tuple[LearnedExample, ...] = (),
        reported: Mapping[str, frozenset[str]] | None = None,
        quarantined: QuarantinedScams | None = None,
    ) -> None:
        super().__init__(
            trusted_senders=trusted,
            released_senders=released,
            learned=learned,
            reported=reported or {},
            quarantined=quarantined or QuarantinedScams(),
        )
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "looked_up", False)

    def __getattribute__(self, name: str) -> Any:
        if name == "contacted_on" and not object.__getattribute__(self, "looked_up"):
            object.__setattr__(self, "looked_up", True)
            found = object.__getattribute__(self, "_lookup")()
            object.__setattr__(self, "contacted_on", found)
        return object.__getattribute__(self, name)


def _no_contact() -> None:
    return None


class Assessor:
    """Turns fetched messages of one account into decisions. One per pass (reads are cached)."""

    def __init__(
        self,
        account: str,
        store: StateStore,
        classifier: Classifier,
        *,
        limits: ScanLimits,
        policy: QuarantinePolicy,
        trusted: frozenset[str] = frozenset(),
        own: frozenset[str] = frozenset(),
        sent: SentFolderCheck | None = None,
        signer: DigestSigner | None = None,
    ) -> None:
        self.account = account
        self.store = store
        self.classifier = classifier
        self.limits = limits
        self.policy = policy
        self.sent = sent
        self.signer = signer
        self._trusted = trusted
        # Read once per pass: releases happen between passes, not during one.
        self._released = frozenset(store.released_senders(account))
        self._reported = store.reported_features(account)
        # What this mailbox taught its own model (releases, reports, `mailguard learn`).
        self._learned = learned_context(store, account)
        # The scams held in quarantine, for their follow-ups. A message quarantined in
        # this pass counts from the next pass on: a scammer's reply needs the victim's
        # answer first, which takes longer than a pass.
        ids, senders = store.held_scams(account)
        self._own = frozenset(a.lower() for a in own)
        self._held = QuarantinedScams(frozenset(ids), frozenset(senders - self._own))

    def assess(self, folder: str, uidvalidity: int, fetched: FetchedMessage) -> Decision:
        """What to do with ``fetched``; raises on a message that cannot be assessed."""
        at = (folder, uidvalidity, fetched.uid)
        msg = parse_message(
            fetched.raw,
            max_message_size=self.limits.max_message_size,
            max_part_size=self.limits.max_part_size,
        )
        if (
            msg.header(DIGEST_HEADER)
            and self.signer is not None
            and self.signer.is_ours(msg.message_id)
        ):
            return Decision(Action.OWN_DIGEST, *at)
        context = self._context(msg.from_.addr if msg.from_ is not None else "")
        verdict = self.classifier.classify(msg, context=context)
        if verdict.verdict == VerdictKind.CLEAN:
            return Decision(Action.LEAVE, *at, verdict=verdict)
        digest = hashlib.sha256(fetched.raw).hexdigest()
        known = self.store.find_existing(self.account, msg.message_id, digest, seen_at=at)
        if known is not None and known.status != Status.FAILED:
            return Decision(Action.KNOWN, *at, verdict=verdict, known=known)
        contacted = context.contacted_on if context.looked_up else None
        item = new_item(self.account, folder, uidvalidity, fetched, msg, verdict, digest, contacted)
        move = verdict.verdict == VerdictKind.SCAM or self.policy.quarantine_suspicious
        return Decision(Action.QUARANTINE if move else Action.REPORT, *at, verdict, item)

    def _context(self, sender: str) -> _ContactOnDemand:
        sent = self.sent
        lookup = (lambda: sent.last_contact(sender)) if sent is not None else _no_contact
        # The owner's own mail in a scam thread (a reply copied to the inbox) is theirs.
        held = None if sender.lower() in self._own else self._held
        return _ContactOnDemand(
            self._trusted, self._released, lookup, self._learned, self._reported, held
        )
