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
    """Facts the digest needs beyond the reasons: post-contact date, court claims."""
    families = {r.family for r in verdict.reasons}
    contacted = getattr(verdict, "contacted_on", None)
    return {
        "contacted_on": contacted,
        "court_claim": bool(families & {"official", "legal"}),
    }
