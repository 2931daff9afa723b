"""Detection bars on the shared real-mail corpus (skipped when ``../shared/corpus`` is absent).

Bars, per source, because the corpus is no longer one population:

* the honeypot fake bills (``phishing_pot``), the set the original bar was set
  on: recall (scam verdicts) >= 0.90;
* ``collected/scam``, real scam texts published by agencies and blogs that
  neither the rules nor the text model were written from: a floor that only
  guards against regressions. The goal is 0.90 (issue 11); today's figure is
  far below it, and the README and the issue note say so;
* ham flagged scam <= 0.3 % (and none at all among the collected genuine
  notices), ham suspicious <= 1 %.

We also hold ourselves to no ``withdrawal`` verdict on out-of-scope spam (a
prize lure is not a withdrawal scam).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.evaluate import evaluate

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
LABELS = CORPUS / "labels.tsv"


@pytest.fixture(scope="module")
def report():
    if not LABELS.is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    return evaluate(LABELS, CORPUS)


def test_no_file_is_unreadable(report) -> None:
    assert all(row.verdict is not None for row in report.rows), [
        r.path for r in report.rows if r.verdict is None
    ]


def _recall(report, prefix: str) -> tuple[int, int]:
    rows = [r for r in report.rows if r.label == "scam" and r.path.startswith(prefix)]
    caught = sum(1 for r in rows if r.verdict is not None and r.verdict.verdict == "scam")
    return caught, len(rows)


def test_honeypot_fake_billing_recall_bar(report) -> None:
    caught, total = _recall(report, "phishing_pot/")
    assert total > 100
    assert caught / total >= 0.90, (caught, total, report.format())


def test_collected_scam_recall_does_not_regress(report) -> None:
    caught, total = _recall(report, "collected/")
    assert total >= 100
    assert caught / total >= 0.45, (caught, total)


def test_no_collected_genuine_notice_is_flagged_scam(report) -> None:
    flagged = [r.path for r in report.false_positives() if r.path.startswith("collected/")]
    assert flagged == []


def test_ham_false_positive_bar(report) -> None:
    assert report.by_label["ham"].count > 1000
    assert report.ham_fp_rate <= 0.003, [r.path for r in report.false_positives()]


def test_ham_suspicious_rate_stays_low(report) -> None:
    # Not a bar from the issue: a guard so "suspicious" does not become a dumping ground.
    assert report.ham_suspicious_rate <= 0.01


def test_out_of_scope_spam_is_never_called_withdrawal(report) -> None:
    wrong = [
        r.path
        for r in report.rows
        if r.label == "other_spam" and r.verdict is not None and r.verdict.category == "withdrawal"
    ]
    assert wrong == []
