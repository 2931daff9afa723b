"""The phrase automata run over UTF-8 bytes; hits must still land on character offsets.

Evidence snippets and the windows that anchored regexes search are cut from
the text by character offset. A byte offset used as a character offset puts
both in the wrong place once multibyte text comes first: each test below
breaks if the byte-to-character mapping in ``TextMatcher`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.detect.engine import load_default_checked
from mailguard.detect.rules import RuleSet
from mailguard.detect.testing import fired_rules, make_message

RULES = """
[scoring]
scam_min_families = 2
suspicious_min_families = 1

[family.debt]
max_hits = 2
[family.contact]
max_hits = 2

[[rule]]
id = "t.debt.ja"
family = "debt"
weight = 2.0
lang = "ja"
phrases = ["未払い料金"]
description = { ja = "未払い", en = "unpaid" }

[[rule]]
id = "t.debt.en"
family = "debt"
weight = 2.0
lang = "en"
phrases = ["overdue balance"]
description = { ja = "延滞", en = "overdue" }

[[rule]]
id = "t.contact.call"
family = "contact"
weight = 2.0
lang = "en"
regex = ['\\bring the desk on \\d{3}']
description = { ja = "電話", en = "call" }
"""

# Three bytes a character in UTF-8 (and one four-byte emoji), longer than the
# 300-character window the anchored regexes search on each side of an anchor.
PADDING = "ご案内とお知らせです。" * 60 + "\U0001f4e8"


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "t.toml"
    path.write_text(RULES, encoding="utf-8")
    return load_default_checked((path,))


def test_a_japanese_phrase_after_long_multibyte_text_has_its_own_evidence(
    ruleset: RuleSet,
) -> None:
    hits = fired_rules(ruleset, make_message(PADDING + "未払い料金があります。"))
    assert "未払い料金" in hits["t.debt.ja"]


def test_an_english_phrase_after_multibyte_text_has_its_own_evidence(ruleset: RuleSet) -> None:
    hits = fired_rules(ruleset, make_message(PADDING + " Your overdue balance is shown."))
    assert "overdue balance" in hits["t.debt.en"]


def test_an_anchored_regex_is_searched_where_its_anchor_is(ruleset: RuleSet) -> None:
    msg = make_message(PADDING + " Please ring the desk on 555 today.")
    assert fired_rules(ruleset, msg)["t.contact.call"] == "ring the desk on 555"


def test_repeated_hits_at_one_position_and_many_positions_stay_in_step(
    ruleset: RuleSet,
) -> None:
    body = ("未払い料金" + PADDING) * 3 + " overdue balance, ring the desk on 123"
    hits = fired_rules(ruleset, make_message(body))
    assert "未払い料金" in hits["t.debt.ja"]
    assert "overdue balance" in hits["t.debt.en"]
    assert hits["t.contact.call"] == "ring the desk on 123"


def test_a_lone_surrogate_in_the_text_does_not_break_matching(ruleset: RuleSet) -> None:
    hits = fired_rules(ruleset, make_message("\udce2 未払い料金 overdue balance"))
    assert {"t.debt.ja", "t.debt.en"} <= set(hits)
