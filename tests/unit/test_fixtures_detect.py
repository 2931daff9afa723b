"""Detection on the project's hand-written Japanese + English fixtures.

Bars: every scam fixture gets a ``scam`` verdict and no ham fixture does; the
scam category matches the label for at least 90 % of scams (the withdrawal /
fake-billing boundary is a judgement call for a few follow-ups); and no hard
negative is even ``suspicious`` except those listed with a reason below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.evaluate import evaluate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
LABELS = FIXTURES / "labels.tsv"

# Hard negatives we accept as "suspicious" (never quarantined by default), and why.
SUSPICIOUS_OK = {
    # A utility's disconnection notice with a number to call and no payment plan: the
    # callback shape minus the sender mismatch. (70, its past-due notice, offers a
    # payment plan and "already paid? disregard", and is clean since en.context.relief_options.)
    "en/79_utility_shutoff_notice_pay_by_phone.eml",
    # A scam-watch newsletter that restates a gift-card demand outside quotation marks.
    "en/65_consumer_newsletter_debt_scams.eml",
}


@pytest.fixture(scope="module")
def report():
    if not LABELS.is_file():
        pytest.skip("mail fixtures not present")
    return evaluate(LABELS, FIXTURES)


def test_every_scam_fixture_is_scam(report) -> None:
    missed = [(r.path, r.verdict.score if r.verdict else None) for r in report.false_negatives()]
    assert missed == []


def test_no_ham_fixture_is_scam(report) -> None:
    assert [r.path for r in report.false_positives()] == []


def test_hard_negatives_are_clean_unless_listed(report) -> None:
    unexpected = [r.path for r in report.ham_suspicious() if r.path not in SUSPICIOUS_OK]
    assert unexpected == []


def test_scam_category_matches_label(report) -> None:
    scams = [r for r in report.rows if r.label == "scam" and r.verdict is not None]
    right = [r for r in scams if r.verdict.category == r.category]
    assert len(right) / len(scams) >= 0.9, [
        (r.path, r.category, r.verdict.category) for r in scams if r not in right
    ]


def test_japanese_and_english_both_covered(report) -> None:
    langs = {r.path.split("/", 1)[0] for r in report.rows}
    assert {"ja", "en"} <= langs
