"""Train the shipped text model from our own texts only.

    pip install -e '.[train]'
    python tools/train_model.py            # writes src/mailguard/detect/model/textmodel.json.gz
    python tools/train_model.py --out /tmp/m.json.gz --top-k 8000

Sources: tests/fixtures/mail (labels.tsv) and dataset/own (*.mail specs).
Never ../shared/corpus: its licences allow evaluation, not shipped weights.
The result is deterministic for the same data (liblinear, sorted inputs,
gzip without a timestamp); only the "trained" date in the metadata changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mailguard.detect import training  # noqa: E402
from mailguard.detect.textmodel import MODEL_RESOURCE  # noqa: E402

DEFAULT_OUT = REPO / "src" / "mailguard" / "detect" / "model" / MODEL_RESOURCE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--top-k", type=int, default=training.TOP_K)
    ap.add_argument(
        "--c", type=float, default=None, help="one C for every language (default: per language)"
    )
    args = ap.parse_args(argv)
    examples = training.own_training_set(REPO)
    counts = training.describe(examples)
    model = training.fit(
        examples, top_k=args.top_k, c=args.c, meta={"data": counts, "sources": ["fixtures", "own"]}
    )
    model.save(args.out)
    for key, n in counts.items():
        print(f"{key:<28} {n:>5}")
    for lang, m in sorted(model.models.items()):
        print(f"{lang}: {len(m.weights)} n-grams, bias {m.bias:+.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
