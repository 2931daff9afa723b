"""Detection figures per source and language: the before/after table of a rules change.

``mailguard eval`` reports per label and kind; rule work needs the split that
shows generalisation: the honeypot mail the rules were tuned on
(``phishing_pot``), the collected Japanese/English texts they were not
(``collected``, per language), genuine mail (``spamassassin``, collected ham)
and, when given, a rendered ``dataset/own`` tree. Each row: messages, scam
verdicts (rate), suspicious verdicts.

    PYTHONPATH=src .venv/bin/python bench/detect_by_source.py LABELS.tsv --root DIR
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mailguard.evaluate import evaluate  # noqa: E402


def group_of(path: str, label: str) -> str:
    """``label/source[_lang]`` from a corpus or rendered-dataset path."""
    head = path.split("/", 1)[0]
    if head == "collected":
        name = path.rsplit("/", 1)[-1]
        return f"{label}/collected_{'ja' if '_ja_' in name else 'en'}"
    if head in ("ja", "en"):
        return f"{label}/{head}"
    return f"{label}/{head}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels", type=Path)
    ap.add_argument("--root", type=Path, required=True)
    args = ap.parse_args(argv)
    report = evaluate(args.labels, args.root, "en")
    count: Counter[str] = Counter()
    scam: Counter[str] = Counter()
    susp: Counter[str] = Counter()
    for row in report.rows:
        key = group_of(row.path, row.label)
        count[key] += 1
        verdict = row.verdict.verdict if row.verdict else "error"
        scam[key] += verdict == "scam"
        susp[key] += verdict == "suspicious"
    for key in sorted(count):
        n = count[key]
        print(f"{key:28s} n={n:5d} scam={scam[key]:5d} ({scam[key] / n:.2f}) susp={susp[key]:5d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
