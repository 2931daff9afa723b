"""The shipped rule data is valid, and invalid data fails loudly at load time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailguard.detect import Classifier, RuleError
from mailguard.detect.checks import FEATURES
from mailguard.detect.engine import load_default_checked
from mailguard.detect.rules import default_rule_files
from mailguard.detect.testing import make_message


@pytest.fixture(scope="module")
def ruleset():
    return load_default_checked()


def test_shipped_files_are_found_and_load(ruleset) -> None:
    names = {p.name for p in default_rule_files()}
    assert {"common.toml", "ja.toml", "en.toml"} <= names
    assert len(ruleset.rules) > 60
    assert len(ruleset.combos) > 10


def test_every_rule_and_combo_has_both_descriptions(ruleset) -> None:
    for item in (*ruleset.rules, *ruleset.combos):
        assert item.description_ja.strip(), item.id
        assert item.description_en.strip(), item.id
        # The Japanese description is actually Japanese.
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", item.description_ja), item.id


def test_ids_are_unique_across_rules_and_combos(ruleset) -> None:
    ids = [r.id for r in ruleset.rules] + [c.id for c in ruleset.combos]
    assert len(ids) == len(set(ids))


def test_every_rule_uses_a_known_family_and_feature(ruleset) -> None:
    for rule in ruleset.rules:
        assert rule.family in ruleset.families, rule.id
        if rule.feature:
            assert rule.feature in FEATURES, rule.id
    for combo in ruleset.combos:
        assert combo.family in ruleset.families
        for ref in (*combo.all, *combo.any, *combo.none):
            if "." in ref:
                assert any(r.id == ref for r in ruleset.rules), (combo.id, ref)
            else:
                assert ref in ruleset.families, (combo.id, ref)


def test_patterns_are_compiled_and_never_match_empty_text(ruleset) -> None:
    for rule in ruleset.rules:
        for rx in rule.regexes:
            assert isinstance(rx, re.Pattern)
            assert rx.search("") is None, rule.id


def test_phrases_are_written_for_their_view(ruleset) -> None:
    """Views are lower-cased; the Japanese view has no whitespace at all."""
    for rule in ruleset.rules:
        for phrase in rule.phrases:
            assert phrase == phrase.lower(), (rule.id, phrase)
            if rule.lang == "ja":
                assert not re.search(r"\s", phrase), (rule.id, phrase)


def test_both_languages_are_covered(ruleset) -> None:
    langs = {r.lang for r in ruleset.rules if r.kind == "text"}
    assert langs == {"ja", "en"}
    fams_ja = {r.family for r in ruleset.rules if r.lang == "ja" and r.kind == "text"}
    for fam in ("registration", "debt", "withdrawal", "postcontact", "legal", "visit", "urgency"):
        assert fam in fams_ja


# --- invalid data -----------------------------------------------------------------------

BASE = """
[family.debt]
max_hits = 2
[family.combo]
max_hits = 3
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(BASE + body, encoding="utf-8")
    return path


def _problems(tmp_path: Path, body: str) -> str:
    with pytest.raises(RuleError) as exc:
        load_default_checked((_write(tmp_path, body),))
    return "\n".join(exc.value.problems)


GOOD_RULE = """
[[rule]]
id = "x.debt.owed"
family = "debt"
weight = 1.0
phrases = ["you owe"]
description.ja = "借金"
description.en = "owed"
"""


def test_valid_custom_file_loads(tmp_path: Path) -> None:
    rs = load_default_checked((_write(tmp_path, GOOD_RULE),))
    assert [r.id for r in rs.rules] == ["x.debt.owed"]


def test_unknown_family_is_reported(tmp_path: Path) -> None:
    out = _problems(tmp_path, GOOD_RULE.replace('family = "debt"', 'family = "debtz"'))
    assert "x.debt.owed" in out and "unknown family 'debtz'" in out


def test_bad_regex_is_reported(tmp_path: Path) -> None:
    out = _problems(tmp_path, GOOD_RULE.replace('phrases = ["you owe"]', "regex = ['(unclosed']"))
    assert "x.debt.owed" in out and "bad regex" in out


def test_missing_description_is_reported(tmp_path: Path) -> None:
    out = _problems(tmp_path, GOOD_RULE.replace('description.en = "owed"\n', ""))
    assert "rules.toml: rule x.debt.owed: description.en: missing required key" in out


def test_unknown_feature_and_bad_params_are_reported(tmp_path: Path) -> None:
    body = """
[[rule]]
id = "x.debt.feat"
family = "debt"
weight = 1.0
feature = "no_such_feature"
description.ja = "あ"
description.en = "a"

[[rule]]
id = "x.debt.params"
family = "debt"
weight = 1.0
feature = "amount_present"
params.bogus = 1
description.ja = "あ"
description.en = "a"
"""
    out = _problems(tmp_path, body)
    assert "unknown feature 'no_such_feature'" in out
    assert "x.debt.params" in out and "bad params" in out


def test_unknown_macro_duplicate_id_and_bad_combo_all_reported_together(tmp_path: Path) -> None:
    body = (
        GOOD_RULE
        + GOOD_RULE
        + """
[[rule]]
id = "x.debt.macro"
family = "debt"
weight = 1.0
regex = ['call <<nope>>']
description.ja = "あ"
description.en = "a"

[[combo]]
id = "combo.x"
weight = 1.0
all = ["x.debt.missing", "nofamily"]
description.ja = "あ"
description.en = "a"
"""
    )
    out = _problems(tmp_path, body)
    assert "already defined" in out
    assert "unknown macro <<nope>>" in out
    assert "unknown rule 'x.debt.missing'" in out
    assert "unknown family 'nofamily'" in out


def test_bad_toml_is_reported_with_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[rule]\nid = 1", encoding="utf-8")
    with pytest.raises(RuleError) as exc:
        load_default_checked((path,))
    assert "broken.toml" in str(exc.value)


def test_adding_a_phrase_is_a_data_change(tmp_path: Path) -> None:
    """A new phrase in a TOML file is matched with no code change."""
    extra = tmp_path / "extra.toml"
    extra.write_text(
        """
[meta]
lang = "en"

[[rule]]
id = "en.debt.brand_new_phrase"
family = "debt"
weight = 1.0
phrases = ["zorblax arrears"]
description.ja = "新しい語句"
description.en = "a new phrase"
""",
        encoding="utf-8",
    )
    clf = Classifier(load_default_checked((*default_rule_files(), extra)))
    verdict = clf.classify(make_message("Your Zorblax arrears are listed below."))
    assert "en.debt.brand_new_phrase" in {r.rule for r in verdict.reasons}


# --- the schema: precise messages naming file, rule id and key ---------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # A typo in a key is an error, not a silently ignored line.
        ('phrases = ["you owe"]', 'phrase = ["you owe"]', "rule x.debt.owed: phrase: unknown key"),
        # TOML types are kept honest: no coercion of strings or booleans to numbers.
        ("weight = 1.0", 'weight = "1.0"', "rule x.debt.owed: weight:"),
        ("weight = 1.0", "weight = true", "rule x.debt.owed: weight:"),
        ("weight = 1.0", "weight = 25", "rule x.debt.owed: weight: Input should be less than"),
        ('phrases = ["you owe"]', 'phrases = ["  "]', "rule x.debt.owed: phrases[0]: must not be"),
        ('id = "x.debt.owed"', 'id = "Bad Id"', "rule #1: id:"),
        (
            'phrases = ["you owe"]',
            'examples.hit = ["x"]',
            "rule x.debt.owed: needs one of phrases/regex",
        ),
        (
            'phrases = ["you owe"]',
            'phrases = ["you owe"]\nexamples.hits = ["x"]',
            "rule x.debt.owed: examples.hits: unknown key",
        ),
    ],
)
def test_schema_errors_name_file_rule_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    body = GOOD_RULE.replace(old, new)
    assert body != GOOD_RULE
    out = _problems(tmp_path, body)
    assert f"rules.toml: {expected}" in out, out


def test_schema_errors_in_families_and_combos(tmp_path: Path) -> None:
    body = (
        GOOD_RULE
        + """
[family.urgency]
max_hits = 0
decya = 0.5

[[combo]]
id = "combo.both"
weight = 1.0
scale = 0.5
all = ["debt"]
description.ja = "あ"
description.en = "a"
"""
    )
    out = _problems(tmp_path, body)
    assert "rules.toml: family.urgency.max_hits: Input should be greater than or equal to 1" in out
    assert "rules.toml: family.urgency.decya: unknown key" in out


def test_combo_with_weight_and_scale_is_rejected(tmp_path: Path) -> None:
    body = (
        GOOD_RULE
        + """
[[combo]]
id = "combo.both"
weight = 1.0
scale = 0.5
all = ["debt"]
description.ja = "あ"
description.en = "a"
"""
    )
    out = _problems(tmp_path, body)
    assert "rules.toml: combo combo.both: set weight or scale, not both" in out


def test_examples_are_loaded_onto_the_rule(tmp_path: Path) -> None:
    body = GOOD_RULE + 'examples.hit = ["You owe us."]\nexamples.miss = ["You own it."]\n'
    (rule,) = load_default_checked((_write(tmp_path, body),)).rules
    assert rule.examples_hit == ("You owe us.",)
    assert rule.examples_miss == ("You own it.",)


def test_one_bad_family_does_not_hide_other_problems(tmp_path: Path) -> None:
    """Errors in one table are reported, and the rest of the file is still checked."""
    body = (
        GOOD_RULE.replace('phrases = ["you owe"]', "regex = ['(unclosed']")
        + """
[family.urgency]
max_hits = "two"
"""
    )
    out = _problems(tmp_path, body)
    assert "rules.toml: family.urgency.max_hits:" in out
    assert "rules.toml: rule x.debt.owed: regex: bad regex" in out
    # the valid family "debt" from the same file is still known
    assert "unknown family 'debt'" not in out
