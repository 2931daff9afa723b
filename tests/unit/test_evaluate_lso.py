"""Leave-source-out evaluation: fold keys, fold training and nested blend choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.detect import Classifier
from mailguard.detect.engine import Blend, RulePart
from mailguard.detect.textmodel import ModelScore
from mailguard.detect.verdict import Reason
from mailguard.evaluate_lso import Scored, choose_blend, figures, nested, verdicts

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"


def row(label: str, lang: str, block: str, rule_score: float, logit: float, i: int) -> Scored:
    families = ("debt", "urgency", "contact")
    counted = [(Reason(f"r.{f}", f, rule_score / 3, "ja", "en"), "fake_billing") for f in families]
    origin = block.partition(":")[0]
    return Scored(
        f"{block}/{i}",
        label,
        lang,
        "k",
        f"{block}:{i}",
        origin,
        RulePart(counted, rule_score),
        ModelScore(lang, logit),
    )


def test_choose_blend_respects_the_false_positive_target() -> None:
    clf = Classifier.rules_only()
    rows = []
    # Scams: rules alone fall short (6 points); the model is sure.
    rows += [row("scam", "en", "own:en", 6.0, 3.0, i) for i in range(20)]
    # Ham: rules 6 points too, the model mildly positive: a big scale flags them.
    rows += [row("ham", "en", "own:en", 6.0, 0.4, i) for i in range(1000)]
    grid = [
        Blend(scale=0.5, pos_cap=5.0, neg_cap=1.0),  # too weak: 6 + 1.5 stays below 8
        Blend(scale=1.0, pos_cap=3.0, neg_cap=1.0),  # 6 + 3 = 9 for scams, 6.4 for ham
        Blend(scale=6.0, pos_cap=5.0, neg_cap=1.0),  # 6 + 2.4 = 8.4: every ham flagged
    ]
    best = choose_blend(clf, rows, grid)
    assert best == grid[1]
    f = figures(rows, verdicts(clf, rows, best))
    assert f.recall("en") == 1.0 and f.fp_rate() == 0.0
    vs, chosen = nested(clf, rows, grid)
    assert len(vs) == len(rows) and set(chosen) == {"own:en"}


@pytest.mark.corpus
def test_shared_fold_keys() -> None:
    if not (CORPUS / "labels.tsv").is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    from mailguard.detect.training import collected_sources

    sources = collected_sources(CORPUS)
    assert sources, "labels_collected.tsv gives each collected file a source"
    # Rows quoted from one dataset file are one source, whatever the row number.
    sms = {src for _lang, src in sources.values() if "smspamresearch" in src}
    assert len(sms) <= 1
