"""Scoring mechanics on a small hand-made rule set: each test breaks if its mechanism does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailguard.detect import (
    CLEAN,
    FAKE_BILLING,
    SCAM,
    SUSPICIOUS,
    WITHDRAWAL,
    Classifier,
    ClassifyContext,
)
from mailguard.detect.engine import load_default_checked
from mailguard.detect.testing import make_message
from mailguard.parse.html import html_to_text

RULES = """
[scoring]
scam_min_families = 2
suspicious_min_families = 1
quoted_factor = 0.2

[family.debt]
max_hits = 2
decay = 0.5
category = "fake_billing"
[family.legal]
max_hits = 1
category = "fake_billing"
[family.urgency]
max_hits = 1
[family.withdrawal]
max_hits = 1
category = "withdrawal"
[family.postcontact]
max_hits = 1
category = "withdrawal"
[family.warning]
max_hits = 1
quote_trigger = true
[family.context]
max_hits = 2
decay = 1.0
[family.combo]
max_hits = 3
decay = 1.0

[[rule]]
id = "t.debt.a"
family = "debt"
weight = 2.0
lang = "en"
phrases = ["alpha debt"]
description = { ja = "a", en = "a" }

[[rule]]
id = "t.debt.b"
family = "debt"
weight = 2.0
lang = "en"
phrases = ["beta debt"]
description = { ja = "b", en = "b" }

[[rule]]
id = "t.debt.c"
family = "debt"
weight = 2.0
lang = "en"
phrases = ["gamma debt"]
description = { ja = "c", en = "c" }

[[rule]]
id = "t.legal.sue"
family = "legal"
weight = 3.0
lang = "en"
phrases = ["we will sue"]
description = { ja = "訴", en = "sue" }

[[rule]]
id = "t.urgency.today"
family = "urgency"
weight = 1.0
lang = "en"
phrases = ["pay today"]
description = { ja = "今日", en = "today" }

[[rule]]
id = "t.withdrawal.quit"
family = "withdrawal"
weight = 6.0
lang = "ja"
phrases = ["退会はお電話で"]
description = { ja = "退会", en = "withdraw" }

[[rule]]
id = "t.warning.scam"
family = "warning"
weight = -0.5
lang = "en"
phrases = ["scam"]
description = { ja = "詐欺", en = "scam" }

[[rule]]
id = "t.context.list"
family = "context"
weight = -1.0
feature = "mailing_list"
description = { ja = "ML", en = "list" }

[[rule]]
id = "t.postcontact.contacted"
family = "postcontact"
weight = 2.0
feature = "contacted_before"
min_prior_score = 3.0
description = { ja = "連絡済み", en = "you wrote to them" }

[[combo]]
id = "combo.debt_legal_urgency"
weight = 4.0
all = ["debt", "legal", "urgency"]
description = { ja = "組", en = "combo" }

[[combo]]
id = "combo.not_if_listed"
weight = 1.0
all = ["legal"]
none = ["t.context.list"]
description = { ja = "組2", en = "combo2" }
"""


@pytest.fixture
def clf(tmp_path: Path) -> Classifier:
    path = tmp_path / "t.toml"
    path.write_text(RULES, encoding="utf-8")
    return Classifier(load_default_checked((path,)), scam_threshold=8.0, suspicious_threshold=4.0)


def weights(verdict) -> dict[str, float]:
    return {r.rule: r.weight for r in verdict.reasons}


def test_family_counts_strongest_hits_with_decay(clf: Classifier) -> None:
    v = clf.classify(make_message("alpha debt, beta debt and gamma debt"))
    w = weights(v)
    debt = sorted((w[k] for k in w if k.startswith("t.debt.")), reverse=True)
    assert debt == [2.0, 1.0]  # third hit dropped, second halved
    assert v.score == 3.0


def test_score_is_the_sum_of_reason_weights(clf: Classifier) -> None:
    v = clf.classify(make_message("alpha debt. we will sue. pay today."))
    assert v.score == pytest.approx(sum(r.weight for r in v.reasons))


def test_combo_needs_every_family(clf: Classifier) -> None:
    without = clf.classify(make_message("alpha debt. we will sue."))
    assert "combo.debt_legal_urgency" not in weights(without)
    with_all = clf.classify(make_message("alpha debt. we will sue. pay today."))
    assert weights(with_all)["combo.debt_legal_urgency"] == 4.0
    assert with_all.verdict == SCAM
    assert with_all.category == FAKE_BILLING


def test_combo_none_blocks_and_negative_evidence_is_a_reason(clf: Classifier) -> None:
    plain = clf.classify(make_message("we will sue"))
    assert "combo.not_if_listed" in weights(plain)
    listed = clf.classify(
        make_message("we will sue", list_id="<l.example.org>", list_unsubscribe="<mailto:u@x>")
    )
    w = weights(listed)
    assert "combo.not_if_listed" not in w
    assert w["t.context.list"] == -1.0


def test_thresholds_are_parameters(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(RULES, encoding="utf-8")
    rs = load_default_checked((path,))
    msg = make_message("alpha debt. we will sue.")  # 5.0 + 1.0 combo = 6.0, two families
    assert Classifier(rs, scam_threshold=8.0, suspicious_threshold=4.0).classify(msg).verdict == (
        SUSPICIOUS
    )
    assert (
        Classifier(rs, scam_threshold=6.0, suspicious_threshold=3.0).classify(msg).verdict == SCAM
    )
    assert Classifier(rs, scam_threshold=20.0, suspicious_threshold=10.0).classify(msg).verdict == (
        CLEAN
    )
    with pytest.raises(ValueError):
        Classifier(rs, scam_threshold=4.0, suspicious_threshold=5.0)


def test_one_family_alone_is_never_a_scam(clf: Classifier) -> None:
    """scam_min_families = 2: a heavy single family stays below scam."""
    v = clf.classify(make_message("退会はお電話でお願いします", subject="x"))
    assert v.score >= 4.0
    assert v.verdict == SUSPICIOUS


def test_category_follows_the_dominant_families(clf: Classifier) -> None:
    v = clf.classify(make_message("退会はお電話で。we will sue. alpha debt"))
    assert v.verdict == SCAM
    assert v.category == WITHDRAWAL  # withdrawal 6 >= legal 3 + debt 2
    v2 = clf.classify(make_message("alpha debt. we will sue. pay today."))
    assert v2.category == FAKE_BILLING


def test_quoted_phrases_count_little_in_a_message_about_scams(clf: Classifier) -> None:
    used = clf.classify(make_message('This is a scam warning. alpha debt. "we will sue"'))
    mentioned = weights(used)
    assert mentioned["t.legal.sue"] == pytest.approx(0.6)  # 3.0 * quoted_factor
    assert any(r.evidence.startswith("(quoted)") for r in used.reasons)
    # Without talk about scams, quotation marks change nothing.
    plain = weights(clf.classify(make_message('alpha debt. "we will sue"')))
    assert plain["t.legal.sue"] == 3.0


def test_a_scam_quoted_in_an_html_blockquote_counts_little(clf: Classifier) -> None:
    """The quote detection reads an HTML warning's <blockquote> as a quotation."""
    html = html_to_text(
        "<p>This is a scam warning. Members got this:</p>"
        "<blockquote>alpha debt.<br>we will sue</blockquote>"
    ).text
    quoted = weights(clf.classify(make_message(html=html)))
    assert quoted["t.legal.sue"] == pytest.approx(0.6)  # 3.0 * quoted_factor
    unquoted = html_to_text("<p>This is a scam warning. Members got this:</p><p>we will sue</p>")
    assert weights(clf.classify(make_message(html=unquoted.text)))["t.legal.sue"] == 3.0


def test_gated_rule_only_counts_on_top_of_existing_evidence(clf: Classifier) -> None:
    ctx = ClassifyContext.build(contacted_on=datetime(2024, 5, 1, 9, 30))
    weak = clf.classify(make_message("alpha debt"), ctx)
    assert "t.postcontact.contacted" not in weights(weak)
    strong = clf.classify(make_message("alpha debt. we will sue."), ctx)
    reason = next(r for r in strong.reasons if r.rule == "t.postcontact.contacted")
    assert reason.evidence == "2024-05-01"
    assert strong.category == WITHDRAWAL  # post-contact forces the follow-up category


def test_reasons_sorted_and_json_shape(clf: Classifier) -> None:
    v = clf.classify(
        make_message("alpha debt. we will sue. pay today.", list_id="<a>", list_unsubscribe="<b>")
    )
    ws = [r.weight for r in v.reasons]
    assert ws == sorted(ws, reverse=True)
    data = v.to_json("ja")
    assert set(data) == {"verdict", "category", "score", "reasons"}
    assert set(data["reasons"][0]) == {"rule", "weight", "description", "evidence"}
    assert data["reasons"][0]["description"] in {"組", "訴", "a", "今日"}
    assert all(len(r.evidence) <= 80 for r in v.reasons)


def test_clean_verdict_has_no_category(clf: Classifier) -> None:
    v = clf.classify(make_message("hello there"))
    assert (v.verdict, v.category, v.score, v.reasons) == (CLEAN, None, 0.0, ())


def test_scale_combo_discounts_a_share_of_the_positive_score(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        RULES
        + """
[[combo]]
id = "combo.frame"
scale = -0.5
family = "context"
all = ["warning"]
description = { ja = "枠", en = "frame" }
""",
        encoding="utf-8",
    )
    clf = Classifier(load_default_checked((path,)))
    v = clf.classify(make_message("scam: alpha debt. we will sue. pay today."))
    w = weights(v)
    positive = sum(x for x in w.values() if x > 0)
    assert w["combo.frame"] == pytest.approx(-0.5 * positive, abs=0.01)
