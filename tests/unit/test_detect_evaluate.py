"""evaluate(), classify_paths() and the CLI formatters."""

from __future__ import annotations

import io
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailguard.detect import CLEAN, SCAM, Classifier
from mailguard.evaluate import (
    Bucket,
    Report,
    classify_paths,
    evaluate,
    format_verdict_line,
    main,
    read_labels,
    verdict_to_json,
)

SCAM_BODY = """Dear Customer,
Your Geek Squad protection plan has been renewed. Amount charged: $449.99.
If you did not authorize this charge, call +1 (888) 611-3596 within 24 hours to cancel.
"""
HAM_BODY = "Hi Bob,\nThe meeting moved to Thursday at 3pm. See you there.\nAlice\n"


def _eml(path: Path, subject: str, body: str, sender: str) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "user@example.org"
    msg["Subject"] = subject
    msg.set_content(body)
    path.write_bytes(bytes(msg))


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    (tmp_path / "mail").mkdir()
    _eml(tmp_path / "mail" / "s1.eml", "Invoice", SCAM_BODY, "Billing Dept <bd.desk@gmail.com>")
    _eml(tmp_path / "mail" / "h1.eml", "Meeting", HAM_BODY, "Alice <alice@example.com>")
    _eml(tmp_path / "mail" / "s2.eml", "Hello", HAM_BODY, "Alice <alice@example.com>")
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "mail/s1.eml\tscam\tfake_billing\tcallback_invoice\textra-column\n"
        "mail/h1.eml\tham\t\tpersonal\n"
        "mail/s2.eml\tscam\tfake_billing\tcallback_invoice\n"
        "mail/missing.eml\tham\t\tpersonal\n",
        encoding="utf-8",
    )
    return labels


def test_read_labels_ignores_extra_columns(labelled: Path) -> None:
    rows = read_labels(labelled)
    assert rows[0] == ("mail/s1.eml", "scam", "fake_billing", "callback_invoice")
    assert len(rows) == 4


def test_evaluate_counts_and_lists_errors(labelled: Path) -> None:
    report = evaluate(labelled)
    assert report.by_label["scam"].count == 2
    assert report.by_label["scam"].scam == 1
    assert report.scam_recall == 0.5
    assert report.scam_precision == 1.0
    assert report.ham_fp_rate == 0.0
    assert report.by_label["ham"].errors == 1  # the missing file
    assert [r.path for r in report.false_negatives()] == ["mail/s2.eml"]
    text = report.format()
    assert "scam recall:" in text and "mail/s2.eml" in text
    assert "callback_invoice" in text


def test_main_prints_the_report(labelled: Path) -> None:
    out = io.StringIO()
    assert main([str(labelled), "--root", str(labelled.parent)], out=out) == 0
    assert "false negatives" in out.getvalue()


def test_classify_paths_walks_directories_and_reports_unreadable(labelled: Path) -> None:
    mail = labelled.parent / "mail"
    results = dict(classify_paths([str(mail), str(mail / "nope.eml")]))
    assert results[str(mail / "s1.eml")].verdict == SCAM
    assert results[str(mail / "h1.eml")].verdict == CLEAN
    assert isinstance(results[str(mail / "nope.eml")], str)


def test_classify_paths_reads_stdin(labelled: Path) -> None:
    raw = (labelled.parent / "mail" / "s1.eml").read_bytes()
    [(path, verdict)] = list(classify_paths(["-"], stdin=io.BytesIO(raw)))
    assert path == "-"
    assert verdict.verdict == SCAM


def test_formatters(labelled: Path) -> None:
    clf = Classifier.default()
    [(path, verdict)] = list(
        classify_paths([str(labelled.parent / "mail" / "s1.eml")], classifier=clf)
    )
    line = format_verdict_line(path, verdict, "en")
    assert line.startswith(f"{path}: scam (fake_billing) score=")
    assert "\n" not in line, "one readable line per message"
    top = [r for r in verdict.reasons if r.weight > 0][:3]
    assert top and all(r.description("en") in line for r in top)
    assert "電話" in format_verdict_line(path, verdict, "ja")

    data = verdict_to_json(path, verdict, "en")
    assert set(data) == {"path", "verdict", "category", "score", "reasons"}
    assert set(data["reasons"][0]) == {"rule", "weight", "description", "evidence"}
    json.dumps(data, ensure_ascii=False)

    err = verdict_to_json("x.eml", None, "en", error="cannot read")
    assert err == {
        "path": "x.eml",
        "verdict": "clean",
        "category": None,
        "score": 0.0,
        "reasons": [],
        "error": "cannot read",
    }


def test_report_rates_are_shares_of_their_label_and_zero_without_rows() -> None:
    report = Report()
    assert (report.scam_recall, report.ham_fp_rate, report.ham_suspicious_rate) == (0, 0, 0)
    report.by_label["scam"] = Bucket(count=4, scam=3, suspicious=1)
    report.by_label["ham"] = Bucket(count=10, scam=1, suspicious=2)
    assert report.scam_recall == 0.75
    assert report.ham_fp_rate == 0.1
    assert report.ham_suspicious_rate == 0.2
    assert report.scam_precision == 0.75
