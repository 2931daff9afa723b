"""What the classifier hands back, and what it is told about the account.

A verdict is only useful if a person can check it: every point of the score is
carried by a :class:`Reason` with a stable rule id, a weight and a description
in both languages, so the digest can say *why* a message was quarantined and a
released false positive can be traced back to the rule that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from mailguard.vocabulary import Category, VerdictKind

# The words are defined once, in mailguard.vocabulary; these names stay for existing callers.
SCAM: Final = VerdictKind.SCAM
SUSPICIOUS: Final = VerdictKind.SUSPICIOUS
CLEAN: Final = VerdictKind.CLEAN

FAKE_BILLING: Final = Category.FAKE_BILLING
WITHDRAWAL: Final = Category.WITHDRAWAL

EVIDENCE_MAX = 80


def clip_evidence(text: str, limit: int = EVIDENCE_MAX) -> str:
    """One line, at most ``limit`` characters, so reasons stay readable in a digest."""
    one_line = " ".join(text.split())
    if len(one_line) <= limit:
        return one_line
    return one_line[: limit - 1] + "…"


@dataclass(frozen=True)
class Reason:
    """One scored observation: which rule, how much it counted, and what it saw."""

    rule: str
    family: str
    weight: float
    description_ja: str
    description_en: str
    evidence: str = ""

    def description(self, lang: str) -> str:
        return self.description_ja if lang == "ja" else self.description_en

    def to_json(self, lang: str) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "weight": round(self.weight, 2),
            "description": self.description(lang),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome for one message. ``score`` is the sum of the reasons' weights."""

    verdict: str
    category: str | None
    score: float
    reasons: tuple[Reason, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.verdict != CLEAN

    def to_json(self, lang: str) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "category": self.category,
            "score": round(self.score, 2),
            "reasons": [r.to_json(lang) for r in self.reasons],
        }


@dataclass(frozen=True)
class LearnedExample:
    """One message the user judged in this account: released (``ham``) or reported (``scam``).

    Only a fingerprint is kept (hashed character n-grams,
    :func:`mailguard.detect.textmodel.fingerprint`), never the text, so the
    state database does not become a second copy of the mailbox.
    """

    label: str  # "ham" | "scam"
    fingerprint: frozenset[int]
    learned_on: datetime
    sender: str = ""
    category: str = ""


@dataclass(frozen=True)
class QuarantinedScams:
    """Message-IDs and sender addresses of the scams an account holds in quarantine."""

    message_ids: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        senders = frozenset(a.strip().lower() for a in self.senders if a and "@" in a)
        object.__setattr__(self, "senders", senders)
        object.__setattr__(self, "message_ids", frozenset(i for i in self.message_ids if i))


@dataclass(frozen=True)
class ClassifyContext:
    """Per-account knowledge that the message itself cannot carry.

    ``trusted_senders`` and ``released_senders`` hold addresses
    (``billing@example.com``) or domains (``example.com``; a domain also covers
    its subdomains). They lower the score and are recorded as reasons rather
    than short-circuiting the classifier, so a compromised trusted sender with
    an overwhelming scam still shows up. ``contacted_on`` is when the user last
    wrote to this sender (found in the Sent folder): a scam-shaped message
    from someone the user already contacted is the follow-up stage of a
    withdrawal scam. ``learned`` holds the account's released and reported
    examples (``mailguard.state.learning``); a message similar to one of them
    gets one bounded reason saying so. ``reported`` holds the sender
    addresses, domains and phone numbers of messages the user reported
    (``{"sender": ..., "domain": ..., "phone": ...}``; see
    :mod:`mailguard.detect.reported`). ``quarantined`` is what this account
    holds in quarantine as scams (not released): their Message-IDs and sender
    addresses, so that a reply in such a thread, or the same sender writing
    again, is recognised as the follow-up stage even when its words are bland
    ("our staff will call you tonight").
    """

    trusted_senders: frozenset[str] = field(default_factory=frozenset)
    released_senders: frozenset[str] = field(default_factory=frozenset)
    contacted_on: datetime | None = None
    learned: tuple[LearnedExample, ...] = ()
    reported: Mapping[str, frozenset[str]] = field(default_factory=dict)
    quarantined: QuarantinedScams = field(default_factory=QuarantinedScams)

    def __post_init__(self) -> None:
        # Accept any iterable of entries and normalise them (lower-case, no "@"
        # before a bare domain), so callers cannot get matching subtly wrong.
        for name in ("trusted_senders", "released_senders"):
            entries = getattr(self, name)
            if isinstance(entries, str):
                entries = (entries,)
            object.__setattr__(
                self, name, frozenset(_norm_sender(e) for e in entries if e and e.strip())
            )

    @classmethod
    def build(
        cls,
        trusted: Iterable[str] = (),
        released: Iterable[str] = (),
        contacted_on: datetime | None = None,
    ) -> ClassifyContext:
        """Convenience constructor taking plain lists."""
        return cls(
            trusted_senders=frozenset(trusted),
            released_senders=frozenset(released),
            contacted_on=contacted_on,
        )


def _norm_sender(entry: str) -> str:
    entry = entry.strip().lower()
    return entry[1:] if entry.startswith("@") else entry


def sender_matches(addr: str, entries: frozenset[str]) -> str | None:
    """Return the entry that covers ``addr`` (exact address, domain or parent domain)."""
    addr = addr.lower()
    if not addr or not entries:
        return None
    if addr in entries:
        return addr
    domain = addr.rpartition("@")[2]
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in entries:
            return candidate
    return None
