"""Detection bars on the shared real-mail corpus (skipped when ``../shared/corpus`` is absent).

Bars (from the issue): recall on fake_billing scams (scam verdicts) >= 0.90,
ham flagged scam <= 0.3 %. We also hold ourselves to no ``withdrawal`` verdict
on out-of-scope spam (a prize lure is not a withdrawal scam).
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


def test_fake_billing_recall_bar(report) -> None:
    assert report.by_label["scam"].count > 100
    assert report.scam_recall >= 0.90, report.format()


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
