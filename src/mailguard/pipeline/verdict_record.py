"""Turn a verdict into what the state database keeps, and stored reasons back into text.

Reasons are stored in both languages so that a digest can be rendered in the
account's language later, even if the rule data changes meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mailguard.detect import Verdict
from mailguard.detect.quotes import QuoteSource
from mailguard.imap.base import FetchedMessage
from mailguard.parse.model import ParsedMessage
from mailguard.situations import ReasonFacts, derive_situations
from mailguard.state import NewItem
from mailguard.vocabulary import Category, VerdictKind

#: How many URLs and phone numbers a record keeps for the digest.
MAX_URLS = 10
MAX_PHONES = 5


def reasons_to_json(verdict: Verdict) -> list[dict[str, Any]]:
    return [
        {
            "rule": r.rule,
            "family": r.family,
            "weight": r.weight,
            "description_ja": r.description_ja,
            "description_en": r.description_en,
            "evidence": r.evidence,
        }
        for r in verdict.reasons
    ]


def readable_reasons(reasons: list[dict[str, Any]], original: str) -> list[dict[str, Any]]:
    """Stored reasons with their evidence quoted as the message wrote it (see detect.quotes)."""
    source = QuoteSource(original)
    return [{**r, "evidence": source.quote(str(r.get("evidence", "")))} for r in reasons]


def reason_facts(reasons: Iterable[Mapping[str, Any]]) -> list[ReasonFacts]:
    """Stored reason rows in the shape :mod:`mailguard.situations` reads."""
    return [
        ReasonFacts(
            rule=str(r.get("rule", "")),
            family=str(r.get("family", "")),
            weight=float(r.get("weight", 0.0)),
            evidence=str(r.get("evidence", "")),
        )
        for r in reasons
    ]


def verdict_details(
    verdict: Verdict,
    reasons: list[dict[str, Any]],
    *,
    sender_name: str = "",
    subject: str = "",
    contacted: bool = False,
    internaldate: datetime | None = None,
) -> dict[str, Any]:
    """What the digest needs beyond ``reasons`` (the verdict's, as matched), derived once.

    ``situations`` (fake bill, withdrawal lure, after contact, official claim,
    suspicious) choose the advice everywhere; ``internaldate`` is when the
    server received the message, which is what "arrived" means to the reader.
    """
    situations = derive_situations(
        verdict=verdict.verdict,
        category=verdict.category,
        reasons=reason_facts(reasons),
        sender_name=sender_name,
        subject=subject,
        contacted=contacted,
    )
    details: dict[str, Any] = {"situations": sorted(situations)}
    if internaldate is not None:
        details["internaldate"] = internaldate.isoformat()
    return details


def new_item(
    account: str,
    folder: str,
    uidvalidity: int,
    fetched: FetchedMessage,
    msg: ParsedMessage,
    verdict: Verdict,
    sha256: str,
    contacted_on: datetime | None,
) -> NewItem:
    """The one typed value recorded for a flagged message (see ``state.records.NewItem``)."""
    sender = msg.from_
    reasons = reasons_to_json(verdict)
    return NewItem(
        account=account,
        original_folder=folder,
        original_uid=fetched.uid,
        original_uidvalidity=uidvalidity,
        message_id=msg.message_id,
        sha256=sha256,
        verdict=VerdictKind(verdict.verdict),
        score=verdict.score,
        category=Category(verdict.category) if verdict.category else None,
        from_addr=sender.addr if sender else "",
        from_name=sender.name if sender else "",
        subject=msg.subject,
        date=msg.date or fetched.internaldate,
        reasons=tuple(readable_reasons(reasons, msg.subject + "\n\n" + msg.body_text)),
        flags=tuple(fetched.flags),
        contacted_on=contacted_on,
        details={
            "urls": [u.url for u in msg.urls[:MAX_URLS]],
            "phones": [p.raw for p in msg.phones[:MAX_PHONES]],
            **verdict_details(
                verdict,
                reasons,
                sender_name=sender.name if sender else "",
                subject=msg.subject,
                contacted=contacted_on is not None,
                internaldate=fetched.internaldate,
            ),
        },
    )


def positive_reasons(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored reasons that count towards the verdict, strongest first."""
    weighted = [r for r in reasons if float(r.get("weight", 0)) > 0]
    return sorted(weighted, key=lambda r: -float(r.get("weight", 0)))


def top_descriptions(reasons: list[dict[str, Any]], lang: str, n: int = 3) -> list[str]:
    """The ``n`` strongest reasons in the reader's language (ids if a description is missing)."""
    key = "description_ja" if lang == "ja" else "description_en"
    return [str(r.get(key) or r.get("rule")) for r in positive_reasons(reasons)[:n]]
