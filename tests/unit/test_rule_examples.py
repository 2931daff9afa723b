"""Every rule carries its own regression examples (``examples.hit`` / ``examples.miss``).

Like SpamAssassin's tests kept beside its rules: a hit example is a short text
the rule must recognise, a miss example is a near miss it must leave alone
(the genuine bill, the scam warning, the word inside a longer word). The
examples are run through the real matching layer (normaliser, Aho-Corasick,
anchored regexes, feature functions) so an edit that breaks a pattern, a
normalisation change or a feature change fails here, naming the rule.
"""

from __future__ import annotations

import pytest

from mailguard.detect.engine import load_default_checked
from mailguard.detect.rules import Rule
from mailguard.detect.testing import example_message, fired_rules

RULESET = load_default_checked()


def _cases(kind: str) -> list[tuple[Rule, str]]:
    return [
        (rule, text)
        for rule in RULESET.rules
        for text in (rule.examples_hit if kind == "hit" else rule.examples_miss)
    ]


def _id(case: tuple[Rule, str]) -> str:
    rule, text = case
    return f"{rule.id}:{text[:30]}"


@pytest.mark.parametrize("case", _cases("hit"), ids=[_id(c) for c in _cases("hit")])
def test_rule_fires_on_its_hit_examples(case: tuple[Rule, str]) -> None:
    rule, text = case
    msg, context = example_message(rule, text)
    assert rule.id in fired_rules(RULESET, msg, context), f"{rule.id} missed {text!r}"


@pytest.mark.parametrize("case", _cases("miss"), ids=[_id(c) for c in _cases("miss")])
def test_rule_stays_silent_on_its_miss_examples(case: tuple[Rule, str]) -> None:
    rule, text = case
    msg, context = example_message(rule, text)
    fired = fired_rules(RULESET, msg, context)
    assert rule.id not in fired, f"{rule.id} fired on near miss {text!r}: {fired[rule.id]!r}"


def test_every_rule_has_a_hit_example() -> None:
    missing = [r.id for r in RULESET.rules if not r.examples_hit]
    assert not missing, f"rules without examples.hit: {missing}"


def test_positive_text_rules_have_a_near_miss_example() -> None:
    """Phrase and regex rules that add to the score are where false positives come from."""
    missing = [
        r.id for r in RULESET.rules if r.kind == "text" and r.weight > 0 and not r.examples_miss
    ]
    assert not missing, f"text rules without examples.miss: {missing}"


def test_examples_would_catch_a_broken_rule() -> None:
    """The harness itself: a rule whose phrases were emptied no longer fires on its example."""
    rule = next(r for r in RULESET.rules if r.kind == "text" and r.phrases and r.examples_hit)
    broken = Rule(**{**rule.__dict__, "phrases": ("zzzz-never-written",), "regexes": ()})
    others = tuple(r for r in RULESET.rules if r.id != rule.id)
    ruleset = type(RULESET)(**{**RULESET.__dict__, "rules": (*others, broken)})
    msg, context = example_message(broken, rule.examples_hit[0])
    assert broken.id not in fired_rules(ruleset, msg, context)
    assert rule.id in fired_rules(RULESET, msg, context)
