"""Parse throughput over the shared corpus: messages/s (median of 3 runs) and peak RSS.

Measures what the pipeline pays per message in the parse layer:
``parse_message`` plus the derived features detection always reads
(``normalized``, ``urls``, ``phones``, ``amounts``). Skips cleanly when the
corpus (``<repo>/../shared/corpus``) is absent.

    .venv/bin/python bench/parse_corpus.py [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO / "src"))

from mailguard.parse import parse_message  # noqa: E402


def load_corpus() -> list[bytes]:
    labels = CORPUS / "labels.tsv"
    paths = [line.split("\t", 1)[0] for line in labels.read_text().splitlines() if line.strip()]
    return [(CORPUS / p).read_bytes() for p in paths if (CORPUS / p).is_file()]


def one_pass(messages: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in messages:
        msg = parse_message(raw)
        _ = msg.normalized, msg.urls, msg.phones, msg.amounts
    return time.perf_counter() - start


def stdlib_pass(messages: list[bytes]) -> float:
    """The floor: stdlib compat32 MIME parsing alone, no decoding at all."""
    start = time.perf_counter()
    for raw in messages:
        email.message_from_bytes(raw, policy=email.policy.compat32)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    args = ap.parse_args(argv)
    if not (CORPUS / "labels.tsv").is_file():
        print(f"corpus not found at {CORPUS}; skipping")
        return 0
    messages = load_corpus()
    total_bytes = sum(len(m) for m in messages)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        one_pass(messages)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        return 0
    times = [one_pass(messages) for _ in range(max(1, args.runs))]
    med = statistics.median(times)
    floor = statistics.median(stdlib_pass(messages) for _ in range(max(1, args.runs)))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"messages: {len(messages)}  avg size: {total_bytes / len(messages) / 1024:.1f} KB\n"
        f"runs (s): {', '.join(f'{t:.2f}' for t in times)}\n"
        f"parse+features: {len(messages) / med:.0f} msg/s (median of {len(times)})\n"
        f"stdlib compat32 parse alone, for reference: {len(messages) / floor:.0f} msg/s\n"
        f"peak RSS: {rss_mb:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
