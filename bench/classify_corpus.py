"""Parse + classify throughput over the shared corpus: messages/s (median of 3) and peak RSS.

Everything runs in one process, the way the daemon does: the rules are loaded
and compiled once, then every message is parsed and classified. Skips cleanly
when the corpus (``<repo>/../shared/corpus``) is absent.

    .venv/bin/python bench/classify_corpus.py [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO / "src"))

from mailguard.detect import Classifier  # noqa: E402
from mailguard.parse import parse_message  # noqa: E402

TARGET_MSGS_PER_S = 300
RSS_LIMIT_MB = 150


def load_corpus() -> list[bytes]:
    labels = CORPUS / "labels.tsv"
    paths = [line.split("\t", 1)[0] for line in labels.read_text().splitlines() if line.strip()]
    return [(CORPUS / p).read_bytes() for p in paths if (CORPUS / p).is_file()]


def one_pass(classifier: Classifier, messages: list[bytes]) -> tuple[float, float]:
    """Seconds for parse+classify of every message, and the classify share of it."""
    classify_time = 0.0
    start = time.perf_counter()
    for raw in messages:
        msg = parse_message(raw)
        # The derived features are parse-layer work, computed lazily: count them there.
        _ = msg.normalized, msg.urls, msg.phones, msg.amounts
        t = time.perf_counter()
        classifier.classify(msg)
        classify_time += time.perf_counter() - t
    return time.perf_counter() - start, classify_time


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    args = ap.parse_args(argv)
    if not (CORPUS / "labels.tsv").is_file():
        print(f"corpus not found at {CORPUS}; skipping")
        return 0
    messages = load_corpus()
    classifier = Classifier.default()
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(one_pass, classifier, messages)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return 0
    totals, classify_shares = [], []
    for _ in range(max(1, args.runs)):
        total, cls = one_pass(classifier, messages)
        totals.append(total)
        classify_shares.append(cls)
    median = statistics.median(totals)
    rate = len(messages) / median
    cls_ms = statistics.median(classify_shares) / len(messages) * 1000
    rss = peak_rss_mb()
    print(f"messages:            {len(messages)}")
    print(
        f"parse+classify:      {rate:.0f} msg/s (median of {len(totals)} runs, target >= "
        f"{TARGET_MSGS_PER_S})"
    )
    print(f"classify alone:      {cls_ms:.2f} ms/msg")
    print(f"peak RSS:            {rss:.1f} MB (limit {RSS_LIMIT_MB})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
