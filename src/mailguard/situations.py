"""What a flagged message means for the person who received it: its situations.

The digest, the immediate alert, ``quarantine list`` and the metrics all ask
the same questions of a held message -- is it a fake bill, a withdrawal lure,
has the user already been in touch, does it pretend to be a court? -- and
used to answer them in different places with different rules (one module
treated every legal threat as a court claim, and a bill from an adult site's
「運営事務局」 got the whole court section: false, and frightening). They are
answered here, once, from the verdict, and stored with the record.

A message *claims a court or public body* only when the sender presents
itself as one (a court, ministry, public agency, police, or a law office),
not when an ordinary company threatens legal steps. The words that make
that claim are data (:data:`OFFICIAL_CLAIM_TERMS`), matched against the
sender's name, the subject and the evidence of the official/legal reasons.

Alerts are a separate question (:func:`alert_reasons`): which held messages
cannot wait for the morning digest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mailguard.vocabulary import Category, Situation, VerdictKind


def fold(text: str) -> str:
    """NFKC and lower case: enough for these short word lists (and no detect import).

    This module sits below both detection and the digest (like the vocabulary),
    so the digest can read situations without importing the classifier.
    """
    return unicodedata.normalize("NFKC", text).lower()


# Names a sender uses to claim official authority. Ordinary legal threats
# (「法的手続きに移行」, "legal action", 「弁護士への回収委任」) are deliberately absent.
OFFICIAL_CLAIM_TERMS: tuple[str, ...] = (
    # ja: courts, ministries, agencies, police, law offices
    "裁判所", "執行官", "法務省", "総務省", "経済産業省", "消費者庁", "金融庁", "国税庁", "税務署",
    "省管轄", "管轄支局", "訴訟管理", "民事訴訟", "国民生活センター", "国民総合生活センター",
    "警察", "法律事務所", "弁護士事務所", "弁護士法人", "司法書士事務所", "司法書士法人",
    # en
    "court", "ministry", "department of justice", "attorney general", "sheriff", "police",
    "law office", "law firm", "attorneys at law", "irs", "internal revenue", "hmrc", "tax office",
    "federal trade commission",
)  # fmt: skip
_CLAIM_RE = re.compile(
    "|".join(rf"\b{re.escape(t)}\b" if t.isascii() else re.escape(t) for t in OFFICIAL_CLAIM_TERMS)
)
_CLAIM_FAMILIES = frozenset({"official", "legal"})
_POST_CONTACT_FAMILIES = frozenset({"postcontact"})
_WITHDRAWAL_FAMILIES = frozenset({"withdrawal"})

# Deadlines that mean "act today": a message that says so alerts at once.
SAME_DAY_TERMS: tuple[str, ...] = (
    "本日中", "今日中", "本日まで", "至急", "大至急", "24時間以内", "24時間", "ただちに", "直ちに",
    "today", "within 24 hours", "within 24 hrs", "immediately", "urgent", "final notice",
)  # fmt: skip
# Matched with whitespace removed (Japanese wraps anywhere), so the English terms are too.
_SAME_DAY_RE = re.compile("|".join(re.escape("".join(fold(t).split())) for t in SAME_DAY_TERMS))
_LEGAL_FAMILIES = frozenset({"legal"})
SEEN_FLAG = "\\Seen"


@dataclass(frozen=True)
class ReasonFacts:
    """What the derivation needs of one reason (a ``Reason`` or a stored reason row)."""

    rule: str
    family: str
    weight: float
    evidence: str = ""


def claims_official(sender_name: str, subject: str, reasons: Iterable[ReasonFacts]) -> bool:
    """Does the sender present itself as a court, ministry, public body or law office?"""
    texts = [sender_name, subject]
    texts.extend(r.evidence for r in reasons if r.family in _CLAIM_FAMILIES and r.weight > 0)
    return any(_CLAIM_RE.search(fold(t)) for t in texts if t)


def derive_situations(
    *,
    verdict: str,
    category: str | None,
    reasons: Iterable[ReasonFacts],
    sender_name: str = "",
    subject: str = "",
    contacted: bool = False,
) -> frozenset[Situation]:
    """The situations of one flagged message; empty for a clean one."""
    facts = [r for r in reasons if r.weight > 0]
    found: set[Situation] = set()
    if verdict == VerdictKind.SUSPICIOUS:
        found.add(Situation.SUSPICIOUS)
    elif verdict != VerdictKind.SCAM:
        return frozenset()
    # A bill that also offers 「退会をご希望の方は…ご連絡ください」 is a withdrawal lure too.
    if category == Category.WITHDRAWAL or any(r.family in _WITHDRAWAL_FAMILIES for r in facts):
        found.add(Situation.WITHDRAWAL_LURE)
    if category == Category.FAKE_BILLING:
        found.add(Situation.FAKE_BILL)
    if contacted or any(r.family in _POST_CONTACT_FAMILIES for r in facts):
        found.add(Situation.AFTER_CONTACT)
    if claims_official(sender_name, subject, facts):
        found.add(Situation.OFFICIAL_CLAIM)
    return frozenset(found)


def alert_reasons(
    situations: Iterable[Situation],
    *,
    flags: Iterable[str] = (),
    reasons: Iterable[ReasonFacts] = (),
    subject: str = "",
) -> tuple[str, ...]:
    """Why a held message should be announced now rather than in the next digest.

    Empty when it can wait. Reasons, in order: ``after_contact`` (the user is
    already talking to them), ``withdrawal`` (the lure asks for a call now),
    ``seen`` (the user had opened it and will look for it), ``deadline`` (a
    same-day deadline or payment demand), ``legal`` (a legal threat).
    """
    sits = set(situations)
    if Situation.SUSPICIOUS in sits and Situation.FAKE_BILL not in sits:
        return ()  # left in place: nothing vanished, nothing to explain yet
    facts = [r for r in reasons if r.weight > 0]
    why: list[str] = []
    if Situation.AFTER_CONTACT in sits:
        why.append("after_contact")
    if Situation.WITHDRAWAL_LURE in sits:
        why.append("withdrawal")
    if SEEN_FLAG in set(flags):
        why.append("seen")
    texts = [subject, *(r.evidence for r in facts)]
    if any(_SAME_DAY_RE.search("".join(fold(t).split())) for t in texts if t):
        why.append("deadline")
    if any(r.family in _LEGAL_FAMILIES for r in facts):
        why.append("legal")
    return tuple(why)
