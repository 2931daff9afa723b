"""Turn a verdict into the JSON the state database keeps.

Reasons are stored in both languages so that a digest can be rendered in the
account's language later, even if the rule data changes meanwhile.
"""

from __future__ import annotations

from typing import Any

from mailguard.detect import Verdict


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


def positive_reasons(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored reasons that count towards the verdict, strongest first."""
    weighted = [r for r in reasons if float(r.get("weight", 0)) > 0]
    return sorted(weighted, key=lambda r: -float(r.get("weight", 0)))


def top_descriptions(reasons: list[dict[str, Any]], lang: str, n: int = 3) -> list[str]:
    """The ``n`` strongest reasons in the reader's language (ids if a description is missing)."""
    key = "description_ja" if lang == "ja" else "description_en"
    return [str(r.get(key) or r.get("rule")) for r in positive_reasons(reasons)[:n]]
