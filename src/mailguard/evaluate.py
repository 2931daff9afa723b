"""Measure detection against a labelled set of messages, and classify files for the CLI.

``evaluate(labels_path, root, lang)`` reads a TSV with columns ``path``,
``label`` (scam | ham | other_spam | …), ``category`` and ``kind`` (extra
columns are ignored), classifies every file and reports, per label and per
category/kind: count, flagged scam, flagged suspicious, precision and recall
for scams, the false-positive rate on ham (scam verdict) and the suspicious
rate on ham, and it lists every false positive and false negative with its
top reasons, because a number without the messages behind it cannot be fixed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mailguard.detect import CLEAN, SCAM, SUSPICIOUS, Classifier, ClassifyContext, Verdict
from mailguard.parse import parse_message

TOP_REASONS = 3


@dataclass
class Bucket:
    """Counts for one label or one label/category/kind group."""

    count: int = 0
    scam: int = 0
    suspicious: int = 0
    errors: int = 0

    def add(self, verdict: Verdict | None) -> None:
        self.count += 1
        if verdict is None:
            self.errors += 1
        elif verdict.verdict == SCAM:
            self.scam += 1
        elif verdict.verdict == SUSPICIOUS:
            self.suspicious += 1


@dataclass
class Row:
    path: str
    label: str
    category: str
    kind: str
    verdict: Verdict | None
    error: str | None = None


@dataclass
class Report:
    """The outcome of one evaluation run; ``format()`` renders it as text."""

    rows: list[Row] = field(default_factory=list)
    by_label: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    by_group: dict[tuple[str, str, str], Bucket] = field(
        default_factory=lambda: defaultdict(Bucket)
    )
    lang: str = "en"

    def _share(self, label: str, counted: Callable[[Bucket], int]) -> float:
        """``counted`` rows of ``label`` over all rows of ``label``; 0.0 when there are none."""
        b = self.by_label.get(label)
        return counted(b) / b.count if b and b.count else 0.0

    @property
    def scam_recall(self) -> float:
        return self._share("scam", lambda b: b.scam)

    @property
    def scam_precision(self) -> float:
        """Scam verdicts on scam rows / scam verdicts on scam + ham rows (other_spam excluded)."""
        tp = self.by_label["scam"].scam if "scam" in self.by_label else 0
        fp = self.by_label["ham"].scam if "ham" in self.by_label else 0
        return tp / (tp + fp) if tp + fp else 0.0

    @property
    def ham_fp_rate(self) -> float:
        return self._share("ham", lambda b: b.scam)

    @property
    def ham_suspicious_rate(self) -> float:
        return self._share("ham", lambda b: b.suspicious)

    def false_positives(self) -> list[Row]:
        return [
            r for r in self.rows if r.label == "ham" and r.verdict and r.verdict.verdict == SCAM
        ]

    def ham_suspicious(self) -> list[Row]:
        return [
            r
            for r in self.rows
            if r.label == "ham" and r.verdict and r.verdict.verdict == SUSPICIOUS
        ]

    def false_negatives(self) -> list[Row]:
        return [
            r
            for r in self.rows
            if r.label == "scam" and (r.verdict is None or r.verdict.verdict != SCAM)
        ]

    def format(self) -> str:
        out: list[str] = []
        out.append(f"{'group':<52} {'count':>6} {'scam':>6} {'susp':>6} {'err':>4}")
        for label in sorted(self.by_label):
            b = self.by_label[label]
            out.append(f"{label:<52} {b.count:>6} {b.scam:>6} {b.suspicious:>6} {b.errors:>4}")
            for (lab, cat, kind), g in sorted(self.by_group.items()):
                if lab == label:
                    name = f"  {cat or '-'}/{kind or '-'}"
                    out.append(
                        f"{name:<52} {g.count:>6} {g.scam:>6} {g.suspicious:>6} {g.errors:>4}"
                    )
        out.append("")
        out.append(f"scam precision:        {self.scam_precision:.4f}")
        out.append(f"scam recall:           {self.scam_recall:.4f}")
        out.append(f"ham flagged scam:      {self.ham_fp_rate:.4%}")
        out.append(f"ham flagged suspicious:{self.ham_suspicious_rate:.4%}")
        for title, rows in (
            ("false positives (ham -> scam)", self.false_positives()),
            ("ham -> suspicious", self.ham_suspicious()),
            ("false negatives (scam not flagged scam)", self.false_negatives()),
        ):
            out.append("")
            out.append(f"{title}: {len(rows)}")
            for r in rows:
                out.append("  " + _row_line(r, self.lang))
        return "\n".join(out)


def _row_line(row: Row, lang: str) -> str:
    if row.verdict is None:
        return f"{row.path}  ERROR {row.error}"
    v = row.verdict
    top = "; ".join(f"{r.rule} {r.weight:+.1f} [{r.evidence}]" for r in v.reasons[:TOP_REASONS])
    return f"{row.path}  {v.verdict} {v.score:.1f} {row.kind}  {top}"


def read_labels(labels_path: Path) -> list[tuple[str, str, str, str]]:
    """Rows of (path, label, category, kind); extra columns and blank lines are ignored."""
    rows: list[tuple[str, str, str, str]] = []
    with open(labels_path, encoding="utf-8", newline="") as fh:
        for rec in csv.reader(fh, delimiter="\t"):
            if not rec or not rec[0].strip() or rec[0].startswith("#"):
                continue
            if rec[0] == "path" and len(rec) > 1 and rec[1] == "label":
                continue  # header line
            rec = [*rec, "", "", ""]
            rows.append((rec[0].strip(), rec[1].strip(), rec[2].strip(), rec[3].strip()))
    return rows


def evaluate(
    labels_path: str | Path,
    root: str | Path | None = None,
    lang: str = "en",
    classifier: Classifier | None = None,
) -> Report:
    """Classify every labelled file under ``root`` (default: the labels file's folder)."""
    labels_path = Path(labels_path)
    base = Path(root) if root is not None else labels_path.parent
    clf = classifier or Classifier.default()
    report = Report(lang=lang)
    for path, label, category, kind in read_labels(labels_path):
        verdict: Verdict | None
        try:
            raw = (base / path).read_bytes()
            verdict = clf.classify(parse_message(raw))
            error = None
        except OSError as exc:
            verdict, error = None, str(exc)
        row = Row(path, label, category, kind, verdict, error)
        report.rows.append(row)
        report.by_label[label].add(verdict)
        report.by_group[(label, category, kind)].add(verdict)
    return report


def _expand(paths: Iterable[str]) -> Iterator[str]:
    for p in paths:
        if p != "-" and Path(p).is_dir():
            # Every file, not just *.eml: Maildir and MH files have no extension.
            yield from (str(f) for f in sorted(Path(p).rglob("*")) if f.is_file())
        else:
            yield p


def classify_paths(
    paths: Iterable[str],
    lang: str = "en",
    *,
    classifier: Classifier | None = None,
    context: ClassifyContext | None = None,
    stdin: Any = None,
) -> Iterator[tuple[str, Verdict | str]]:
    """Yield ``(path, verdict)`` or ``(path, error message)`` for each file.

    Directories are walked recursively (every file); ``-`` reads one message from stdin.
    ``lang`` is accepted for symmetry with the formatters (verdicts carry both
    languages).
    """
    del lang
    clf = classifier or Classifier.default()
    for path in _expand(paths):
        try:
            raw = (stdin or sys.stdin.buffer).read() if path == "-" else Path(path).read_bytes()
        except OSError as exc:
            yield path, f"cannot read: {exc.strerror or exc}"
            continue
        try:
            yield path, clf.classify(parse_message(raw), context)
        except Exception as exc:  # a bug on one message must not end the run
            yield path, f"cannot classify: {type(exc).__name__}: {exc}"


def format_verdict_line(path: str, verdict: Verdict, lang: str = "en") -> str:
    """One human line per message, then one indented line per reason."""
    head = f"{path}: {verdict.verdict}"
    if verdict.category:
        head += f" ({verdict.category})"
    head += f" score={verdict.score:.1f}"
    top = [r for r in verdict.reasons if r.weight > 0][:3]
    if top:
        head += " -- " + "; ".join(r.description(lang) for r in top)
    return head


def verdict_to_json(
    path: str, verdict: Verdict | None, lang: str = "en", error: str | None = None
) -> dict[str, Any]:
    """The stable JSON shape of ``mailguard classify --json`` (one object per message)."""
    if verdict is None:
        out: dict[str, Any] = {
            "path": path,
            "verdict": CLEAN,
            "category": None,
            "score": 0.0,
            "reasons": [],
        }
    else:
        out = {"path": path, **verdict.to_json(lang)}
    if error is not None:
        out["error"] = error
    return out


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    classifier: Classifier | None = None,
) -> int:
    """``python -m mailguard.evaluate LABELS.tsv [--root DIR] [--lang en|ja]``.

    ``--leave-source-out`` (no labels file): see :mod:`mailguard.evaluate_lso`.
    """
    parser = argparse.ArgumentParser(prog="mailguard eval", description=__doc__.split("\n")[0])
    parser.add_argument("labels", metavar="LABELS.tsv", nargs="?")
    parser.add_argument("--root", default=None)
    parser.add_argument("--lang", choices=["ja", "en"], default="en")
    add_lso_arguments(parser)
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.leave_source_out:
        return run_lso(args, classifier, out)
    if not args.labels:
        parser.error("LABELS.tsv is required unless --leave-source-out is given")
    report = evaluate(args.labels, args.root, args.lang, classifier=classifier)
    print(report.format(), file=out)
    return 0


def add_lso_arguments(parser: argparse.ArgumentParser) -> None:
    """The leave-source-out options (shared by ``mailguard eval`` and this module's main)."""
    parser.add_argument(
        "--leave-source-out",
        action="store_true",
        help="score every message with a text model that never saw its source "
        "(own data folds + ../shared/corpus held out)",
    )
    parser.add_argument(
        "--repo", default=None, help="project root with tests/fixtures/mail and dataset/own"
    )
    parser.add_argument(
        "--corpus", default=None, help="shared corpus (default REPO/../shared/corpus)"
    )
    parser.add_argument(
        "--train-shared",
        action="store_true",
        help="also train on the shared corpus's other folds (evaluation only; never shipped)",
    )
    parser.add_argument(
        "--tune", action="store_true", help="choose the model blend by nested leave-source-out"
    )
    parser.add_argument(
        "--own-folds",
        choices=["block", "kind"],
        default="block",
        help="how own data is folded: file-number blocks (default) or one fold per kind",
    )
    parser.add_argument(
        "--save-scores",
        metavar="FILE",
        default=None,
        help="write every message's out-of-fold model score to FILE (JSON)",
    )
    parser.add_argument(
        "--scores",
        metavar="FILE",
        default=None,
        help="read the model scores from a --save-scores FILE instead of training "
        "(re-reads the rules and blends in about a minute; refused if data changed)",
    )


def run_lso(args: argparse.Namespace, classifier: Classifier | None, out: TextIO) -> int:
    from mailguard import evaluate_lso

    repo = Path(args.repo) if args.repo else _project_root()
    corpus = Path(args.corpus) if args.corpus else repo.parent / "shared" / "corpus"
    try:
        if not args.scores:  # saved scores need no training
            import sklearn  # noqa: F401
    except ImportError:
        print("--leave-source-out trains models: install the 'train' extra", file=sys.stderr)
        return 2
    return evaluate_lso.main(
        repo,
        corpus if corpus.is_dir() else None,
        train_shared=args.train_shared,
        tune=args.tune,
        own_folds=args.own_folds,
        classifier=classifier,
        out=out,
        scores=Path(args.scores) if args.scores else None,
        save_to=Path(args.save_scores) if args.save_scores else None,
    )


def _project_root() -> Path:
    """The checkout this module runs from, else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "tests").is_dir():
            return parent
    return Path.cwd()


if __name__ == "__main__":
    raise SystemExit(main())
