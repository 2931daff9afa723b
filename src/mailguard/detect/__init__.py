"""Scam detection: rules as TOML data, a family-capped scoring engine, explained verdicts.

Entry points: ``Classifier.default()`` and ``classifier.classify(msg, context)``.
"""

from mailguard.detect.engine import Classifier
from mailguard.detect.rules import RuleError, RuleSet, load_rules
from mailguard.detect.verdict import (
    CLEAN,
    FAKE_BILLING,
    SCAM,
    SUSPICIOUS,
    WITHDRAWAL,
    ClassifyContext,
    Reason,
    Verdict,
)

__all__ = [
    "CLEAN",
    "FAKE_BILLING",
    "SCAM",
    "SUSPICIOUS",
    "WITHDRAWAL",
    "Classifier",
    "ClassifyContext",
    "Reason",
    "RuleError",
    "RuleSet",
    "Verdict",
    "load_rules",
]
