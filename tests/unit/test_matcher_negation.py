"""Rules marked ``negatable`` skip the occurrences a negation governs.

Genuine dunning says what will *not* happen in the scam's own words ("this
account has not been sent to a collection agency", "we are not a debt
collector"), and counting those as threats put real final notices one
family closer to quarantine. Each test breaks if the guard is dropped, made
too wide (a threat with "do not ignore this or ..." must still count) or
applied to rules that did not ask for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.detect.engine import load_default_checked
from mailguard.detect.matchers import negated
from mailguard.detect.rules import RuleError, RuleSet
from mailguard.detect.testing import fired_rules, make_message

RULES = """
[scoring]
scam_min_families = 2
suspicious_min_families = 1

[family.legal]
max_hits = 2

[[rule]]
id = "t.legal.phrase"
family = "legal"
weight = 2.0
lang = "en"
negatable = true
phrases = ["collection agency"]
description = { ja = "回収", en = "collections" }

[[rule]]
id = "t.legal.regex"
family = "legal"
weight = 2.0
lang = "en"
negatable = true
regex = ['\\breported to the credit bureaus?\\b']
description = { ja = "信用情報", en = "credit bureau" }

[[rule]]
id = "t.legal.plain"
family = "legal"
weight = 2.0
lang = "en"
phrases = ["legal action"]
description = { ja = "法的措置", en = "legal action" }
"""


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "t.toml"
    path.write_text(RULES, encoding="utf-8")
    return load_default_checked((path,))


@pytest.mark.parametrize(
    "before",
    [
        "this account has not been sent to a ",
        "we are not a ",
        "it won't be passed to a ",
        "there is no ",
        "we will never use a ",
        # Articles and possessives do not count towards the four words.
        "we don't send an account to a ",
        "we will not refer your balance to an outside ",
        "we cannot pass this to a ",
    ],
)
def test_a_governing_negation_is_found(before: str) -> None:
    assert negated(before + "collection agency", len(before))


@pytest.mark.parametrize(
    "before",
    [
        "do not ignore this notice or we will use a ",
        "if you do not pay, we will use a ",
        "the bill was not paid and was sent to a ",
        "you did not respond to the ",
        "pay no later than friday to avoid a ",
        "your account has been sent to a ",
        # Still at most four other words, however many articles.
        "we do not know why you ignored our letters and the reminders, so a ",
    ],
)
def test_a_threat_is_not_read_as_negated(before: str) -> None:
    assert not negated(before + "collection agency", len(before))


def test_a_negated_phrase_does_not_fire_but_a_later_threat_does(ruleset: RuleSet) -> None:
    assert "t.legal.phrase" not in fired_rules(
        ruleset, make_message("This account has not been sent to a collection agency.")
    )
    hits = fired_rules(
        ruleset,
        make_message(
            "We are not a collection agency yet. Pay today, or a collection agency takes over."
        ),
    )
    assert "or a collection agency" in hits["t.legal.phrase"]


def test_a_negated_regex_does_not_fire_but_a_later_threat_does(ruleset: RuleSet) -> None:
    assert "t.legal.regex" not in fired_rules(
        ruleset, make_message("Late payments are not reported to the credit bureau.")
    )
    hits = fired_rules(
        ruleset,
        make_message(
            "Late fees are not reported to the credit bureau. "
            "Unpaid balances are reported to the credit bureaus after 90 days."
        ),
    )
    assert hits["t.legal.regex"] == "reported to the credit bureaus"


def test_rules_that_did_not_ask_for_it_still_fire_when_negated(ruleset: RuleSet) -> None:
    assert "t.legal.plain" in fired_rules(ruleset, make_message("No legal action is pending."))


def test_negatable_is_refused_on_a_japanese_rule(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        RULES.replace(
            'lang = "en"\nnegatable = true\nphrases = ["collection agency"]',
            'lang = "ja"\nnegatable = true\nphrases = ["債権回収"]',
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"t\.legal\.phrase.*negatable"):
        load_default_checked((path,))
