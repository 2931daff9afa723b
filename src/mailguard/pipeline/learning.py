"""Glue between the per-account learning store and the classifier.

The state package stores fingerprints and knows nothing about detection; the
detector compares fingerprints and knows nothing about SQLite. This module
turns a message into a stored example (on release, or ``mailguard learn``)
and the stored examples into ``ClassifyContext.learned`` for a scan.
"""

from __future__ import annotations

import logging

from mailguard.detect.textmodel import fingerprint
from mailguard.detect.verdict import LearnedExample
from mailguard.parse import parse_message
from mailguard.state import StateStore

log = logging.getLogger("mailguard.learning")


def learned_context(store: StateStore, account: str) -> tuple[LearnedExample, ...]:
    """The account's released (ham) and reported (scam) examples, for one scan pass."""
    return tuple(
        LearnedExample(
            label=row.label,
            fingerprint=row.fingerprint,
            learned_on=row.learned_at,
            sender=row.sender_addr or "",
            category=row.category or "",
        )
        for row in store.learned(account)
    )


def learn_message(
    store: StateStore,
    account: str,
    raw: bytes,
    label: str,
    *,
    source: str,
    category: str | None = None,
) -> int:
    """Parse ``raw`` and store its fingerprint as a ``label`` example; returns the row id.

    Raises ValueError when the message has no text to learn from.
    """
    msg = parse_message(raw)
    fp = fingerprint(msg.normalized)
    if not fp:
        raise ValueError("the message has no text to learn from")
    return store.learn(
        account,
        label,
        fp,
        source=source,
        sender_addr=msg.from_.addr if msg.from_ is not None else None,
        category=category,
        message_id=msg.message_id or None,
    )
