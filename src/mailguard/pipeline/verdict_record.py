"""Turn a verdict into what the state database keeps, and stored reasons back into text.

Reasons are stored in both languages so that a digest can be rendered in the
account's language later, even if the rule data changes meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailguard.detect import Verdict
from mailguard.imap.base import FetchedMessage
from mailguard.parse.model import ParsedMessage
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


def verdict_details(verdict: Verdict) -> dict[str, Any]:
    """Facts the digest needs beyond the reasons: does the message claim a court's authority."""
    families = {r.family for r in verdict.reasons}
    return {"court_claim": bool(families & {"official", "legal"})}


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
        reasons=tuple(reasons_to_json(verdict)),
        flags=tuple(fetched.flags),
        contacted_on=contacted_on,
        details={
            "urls": [u.url for u in msg.urls[:MAX_URLS]],
            "phones": [p.raw for p in msg.phones[:MAX_PHONES]],
            **verdict_details(verdict),
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
