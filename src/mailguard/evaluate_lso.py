"""Leave-source-out evaluation: how detection does on mail from sources it never saw.

Why this and not ``mailguard eval`` on the corpus: the rules were tuned on
the shared corpus and the text model is trained on our own texts, so an
in-sample figure says little about the hidden sets (the rules scored 0.92 in
sample and 0.46 on the hidden sets). Here every message is scored by a text
model that never saw its *source*:

* the shipped recipe trains only on our own texts (tests/fixtures/mail and
  dataset/own), so ../shared/corpus is held out as a whole and scored by the
  model trained on all own data;
* own data is split into folds, each scored by a model trained on the
  other folds: by default language + label + file-number block (texts
  numbered together were written together and share phrasing), or with
  ``--own-folds kind`` language + label + kind (the harsher "a kind it never
  saw" question);
* with ``--train-shared`` the shared corpus joins the training pool (what the
  figures would be if its licences allowed shipping it), folded by source:
  collected/ by the ``source`` column, phishing_pot by sample-number blocks
  (neighbours are one campaign), spamassassin by folder.

``--tune`` chooses the blend of model and rules (:class:`~mailguard.detect.engine.Blend`)
by *nested* leave-source-out: for each outer block (own-ja, own-en, fixtures,
collected, phishing_pot, spamassassin) the blend is picked on the other
blocks' out-of-fold scores (highest worst-language recall averaged over
source blocks, with ham flagged ``scam`` <= 0.2 %) and applied to the held
block; the figures printed are of
those held-out decisions. The rules themselves cannot be held out (they were
written with the shared corpus in view), which is stated in the model card.

Training the fold models is most of a run (about half an hour); the rules
take under a minute. ``--save-scores FILE`` keeps every message's
out-of-fold model reading, and ``--scores FILE`` reads them back instead of
training, so a rule change is measured on the same fold models that the last
run used. Each saved reading carries a digest of its message's model text;
the file records the fold options, the training recipe (settings and a
digest of the training and model code) and a digest of the whole training
pool. If any message was added, removed, relabelled or changed since, or the
options or recipe differ, the file is refused rather than mixed with new
data. A malformed file is refused too, and ``--save-scores`` checks that it
can write before it trains.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mailguard.detect.engine import (
    Blend,
    Classifier,
    RulePart,
    is_decisive,
    is_strong,
    model_weight,
)
from mailguard.detect.textmodel import ModelScore, TextModel
from mailguard.detect.verdict import CLEAN, SCAM, SUSPICIOUS, Verdict
from mailguard.parse import parse_message

if TYPE_CHECKING:
    from mailguard.detect.training import Example, Trainer

# The stated price of a false positive, in recall: flagging 0.1 % more genuine mail
# must buy at least 2 points of recall (2 % of a language's scams) in the worst
# language. With about 2,500 scams a language and 6,600 genuine mails, one genuine
# mail flagged weighs as much as about 7.5 scams missed. Decided before the run it
# was first used in (fourteenth session), on the thirteenth session's cached rows:
# with round 25 in, where the 0.2 % budget chose a blend capping the model (0.657 /
# 0.601 at 13 genuine flagged), 20 chooses 0.887 / 0.888 at 17, nested 0.870 / 0.893
# at 19; with round 26, 0.890 / 0.889 at 22, nested 0.875 / 0.893 at 23 (the budget's
# nested: 0.663 / 0.901 at 27). A price of 10 bought recall with genuine mail (nested
# 30 flagged); 40 shut the model's decisive step off.
FP_COST = 20.0
# No blend is chosen above this rate whatever it catches: the hidden sets' limit.
FP_CEILING = 0.005
# Nor one that flags any genuine mail of the shared corpus: issue 11 asks that none
# be flagged, and the shared corpus is read by the model trained on all own data,
# which is the shipped model, so its out-of-fold verdicts are the shipped verdicts.
# Added in the twenty-first session, when the priced choice on rounds 8-44 flagged
# one (a SpamAssassin hard_ham airline offer read at 1.45 with "call ... now").


@dataclass
class Scored:
    """One message with its rule part and its out-of-fold model score."""

    path: str
    label: str
    lang: str
    kind: str
    group: str
    origin: str
    rules: RulePart
    model: ModelScore | None

    @property
    def block(self) -> str:
        """The outer block for nested tuning: a data set, not a single source."""
        if self.origin == "shared":
            head = self.group.split(":", 1)[0]
            return f"shared:{head}:{self.lang}" if head == "collected" else f"shared:{head}"
        return f"{self.origin}:{self.lang}"


@dataclass
class LsoResult:
    scored: list[Scored] = field(default_factory=list)
    folds: int = 0
    pool: dict[str, int] = field(default_factory=dict)
    # (origin, path) -> digest of the model text the reading was made for
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    pool_digest: str = ""


SCORES_FORMAT = 2


class StaleScores(ValueError):
    """Saved readings that no longer match the data or the recipe, or no scores file at all."""


def _recipe() -> dict[str, object]:
    """What a saved reading depends on besides its data: the training settings and
    the source of the code that trains and reads the model (any edit there, even a
    comment, refuses old files: a false refusal costs a run, a false acceptance a
    wrong figure)."""
    from mailguard.detect import textmodel, training

    code = hashlib.sha256()
    for module in (training, textmodel):
        code.update(Path(module.__file__ or "").read_bytes())
    return {
        "ngrams": {k: list(v) for k, v in training.NGRAMS.items()},
        "ham_weight": training.HAM_WEIGHT,
        "c": training.C_BY_LANG,
        "norm_floor": training.NORM_FLOOR,
        "logit_scale": training.LOGIT_SCALE,
        "top_k": training.TOP_K,
        "min_df": training.MIN_DF,
        "own_block": training.OWN_BLOCK,
        "fixture_block": training.FIXTURE_BLOCK,
        "code": code.hexdigest()[:20],
    }


def _text_digest(normalized: str) -> str:
    """A reading is the fold model applied to this text: the text is all it reads."""
    return hashlib.sha256(normalized.encode()).hexdigest()[:20]


def _pool_digest(pool: Sequence[Example]) -> str:
    """Every fold model is trained on the pool less one fold, so any change to the
    pool (a message added, removed, relabelled, moved to another fold or language)
    changes every reading."""
    h = hashlib.sha256()
    for ex in sorted(pool, key=lambda e: (e.origin, e.path)):
        h.update(
            "\0".join((ex.origin, ex.path, ex.group, ex.label, ex.lang, ex.normalized)).encode()
        )
        h.update(b"\1")
    return h.hexdigest()[:20]


def check_writable(path: Path) -> None:
    """Before a half-hour run, not after it: the folder must exist and take a file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise StaleScores(f"cannot write the scores file: {folder} is not a writable folder")


def save_scores(result: LsoResult, path: Path) -> None:
    """Write every row's out-of-fold reading (with its top phrases) as JSON.

    Written to a temporary file and renamed, so an interrupted save never leaves
    a truncated file in place of the previous one.
    """
    rows = []
    for r in result.scored:
        m = r.model
        rows.append(
            {
                "origin": r.origin,
                "path": r.path,
                "digest": result.digests[(r.origin, r.path)],
                "model": None
                if m is None
                else {"lang": m.lang, "logit": m.logit, "top": [list(t) for t in m.top]},
            }
        )
    doc = {
        "format": SCORES_FORMAT,
        "options": result.options,
        "recipe": _recipe(),
        "pool_digest": result.pool_digest,
        "folds": result.folds,
        "pool": result.pool,
        "rows": rows,
    }
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class SavedScores:
    options: dict[str, object]
    folds: int
    pool: dict[str, int]
    pool_digest: str
    readings: dict[tuple[str, str], tuple[str, ModelScore | None]]


def load_scores(path: Path) -> SavedScores:
    """Read a ``--save-scores`` file; a wrong format or recipe is :class:`StaleScores`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StaleScores(f"cannot read saved scores {path}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != SCORES_FORMAT:
        raise StaleScores(f"{path} is not a format-{SCORES_FORMAT} scores file")
    if doc.get("recipe") != _recipe():
        raise StaleScores(f"{path} was made with another training recipe; run without --scores")
    try:
        readings: dict[tuple[str, str], tuple[str, ModelScore | None]] = {}
        for row in doc["rows"]:
            m = row["model"]
            score = (
                None
                if m is None
                else ModelScore(
                    str(m["lang"]),
                    float(m["logit"]),
                    tuple((str(p), float(w)) for p, w in m["top"]),
                )
            )
            readings[(str(row["origin"]), str(row["path"]))] = (str(row["digest"]), score)
        return SavedScores(
            dict(doc["options"]),
            int(doc["folds"]),
            dict(doc["pool"]),
            str(doc["pool_digest"]),
            readings,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StaleScores(f"{path} is not a valid scores file ({type(exc).__name__})") from exc


def score_examples(
    repo: Path,
    corpus: Path | None,
    *,
    train_shared: bool = False,
    own_folds: str = "block",
    classifier: Classifier | None = None,
    log: TextIO | None = None,
    saved: SavedScores | None = None,
) -> LsoResult:
    """Rule part for every labelled message, and a model score from a model blind to its fold.

    With ``saved``, the model scores are the saved ones (no training); a message
    without a matching saved reading raises :class:`StaleScores`.
    """
    from mailguard.detect import training

    clf = classifier or Classifier.default()
    own = training.own_training_set(repo, own_folds)
    shared = (
        training.shared_examples(corpus) if corpus and (corpus / "labels.tsv").is_file() else []
    )
    examples = own + shared
    pool = own + (shared if train_shared else [])
    options: dict[str, object] = {"train_shared": train_shared, "own_folds": own_folds}
    result = LsoResult(pool=training.describe(pool), options=options)
    result.digests = {(ex.origin, ex.path): _text_digest(ex.normalized) for ex in examples}
    result.pool_digest = _pool_digest(pool)
    if saved is not None:
        _check_saved(saved, result)
        readings = {key: saved.readings[key][1] for key in result.digests}
        result.folds = saved.folds
    else:
        readings = _train_and_read(training.Trainer(pool), pool, examples, result, log)
    for ex in examples:
        msg = parse_message(ex.raw)
        result.scored.append(
            Scored(
                ex.path,
                ex.label,
                ex.lang,
                ex.kind,
                ex.group,
                ex.origin,
                clf.rule_part(msg),
                readings[(ex.origin, ex.path)],
            )
        )
    return result


def _train_and_read(
    trainer: Trainer,
    pool: Sequence[Example],
    examples: Sequence[Example],
    result: LsoResult,
    log: TextIO | None,
) -> dict[tuple[str, str], ModelScore | None]:
    """Each example read by the model trained without its fold (the full model if
    its fold is not in the pool, as for the shared corpus by default)."""
    groups = sorted({ex.group for ex in pool})
    full = trainer.fit()
    models: dict[str, TextModel] = {}
    for i, group in enumerate(groups, 1):
        models[group] = trainer.fit(without=group)
        if log is not None and i % 10 == 0:
            print(f"  trained {i}/{len(groups)} fold models", file=log)
    result.folds = len(groups)
    return {
        (ex.origin, ex.path): models.get(ex.group, full).score_text(ex.normalized)
        for ex in examples
    }


def _check_saved(saved: SavedScores, result: LsoResult) -> None:
    """Refuse saved readings made on other data or with other fold options."""
    if saved.options != result.options:
        raise StaleScores(
            f"the scores were saved with {saved.options}, this run asks for {result.options}"
        )
    if saved.pool_digest != result.pool_digest:
        raise StaleScores(
            "the training pool changed since the scores were saved (a message added, "
            "removed, relabelled or moved); run without --scores to train fold models again"
        )
    stale = [
        key
        for key, digest in result.digests.items()
        if key not in saved.readings or saved.readings[key][0] != digest
    ]
    if stale:
        origin, path = stale[0]
        raise StaleScores(
            f"{len(stale)} messages are new or changed since the scores were saved "
            f"(first: {origin}:{path}); run without --scores to train fold models again"
        )


def verdicts(clf: Classifier, rows: Sequence[Scored], blend: Blend) -> list[Verdict]:
    return [clf.decide(r.rules, r.model, None, blend) for r in rows]


@dataclass
class Figures:
    """Recall per language, ham flagged scam per language, for one set of decisions."""

    scam: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    ham: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    blocks: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )

    def add(self, row: Scored, v: Verdict) -> None:
        self.count(row, v.verdict)

    def count(self, row: Scored, kind: str) -> None:
        if row.label == "scam":
            self.scam[row.lang][0] += 1
            self.scam[row.lang][1] += kind == SCAM
            self.blocks[(row.lang, row.block)][0] += 1
            self.blocks[(row.lang, row.block)][1] += kind == SCAM
        elif row.label == "ham":
            self.ham[row.lang][0] += 1
            self.ham[row.lang][1] += kind == SCAM
            self.ham[row.lang][2] += kind == SUSPICIOUS

    def recall(self, lang: str | None = None) -> float:
        cells = [self.scam[lang]] if lang else list(self.scam.values())
        n = sum(c[0] for c in cells)
        return sum(c[1] for c in cells) / n if n else 0.0

    def fp_rate(self, lang: str | None = None) -> float:
        cells = [self.ham[lang]] if lang else list(self.ham.values())
        n = sum(c[0] for c in cells)
        return sum(c[1] for c in cells) / n if n else 0.0

    def suspicious_rate(self) -> float:
        """Genuine mail marked suspicious: not quarantined, but nearer the line."""
        n = sum(c[0] for c in self.ham.values())
        return sum(c[2] for c in self.ham.values()) / n if n else 0.0

    def worst_recall(self) -> float:
        return min((self.recall(lang) for lang in self.scam), default=0.0)

    def block_recall(self, lang: str) -> float:
        """Mean recall over the language's source blocks, each block weighing the same."""
        cells = [c for (lg, _b), c in self.blocks.items() if lg == lang and c[0]]
        return sum(c[1] / c[0] for c in cells) / len(cells) if cells else 0.0

    def worst_block_recall(self) -> float:
        """The tuning target: a source we have many texts from must not outvote the others."""
        return min((self.block_recall(lang) for lang in self.scam), default=0.0)

    def mean_block_recall(self) -> float:
        """The tie-break: the worst language often ties, and the other one still counts."""
        langs = list(self.scam)
        return sum(self.block_recall(lang) for lang in langs) / len(langs) if langs else 0.0


def figures(rows: Sequence[Scored], vs: Sequence[Verdict]) -> Figures:
    f = Figures()
    for r, v in zip(rows, vs, strict=True):
        f.add(r, v)
    return f


def blend_grid(base: Blend) -> list[Blend]:
    """The candidate blends: six parameters on short lists (4,680 blends), so that
    choosing among them cannot overfit much; the nested figure says how much."""
    grid = itertools.product(
        # Points per unit of log-odds. 2.25 and 2.5 since the eleventh session: the
        # choice had sat at the grid's lowest value, 2, since round 14; on the tenth
        # session's cached rows the finer grid chose 2.25 (nested 2,097 / 1,921 at 17
        # against 2,092 / 1,921 at 17).
        (2.0, 2.25, 2.5, 3.0, 4.0, 5.0),
        (5.0, 7.0, 9.0),  # positive cap
        # Negative cap and margin, as pairs: how much a reading of "ordinary mail"
        # may subtract, and from how far below zero. A subtracting model reads
        # honeypot HTML (unlike anything we can train on) as slightly ordinary: with
        # margin 0, caps 3 and 8 bought 0.1 % fewer genuine mails flagged at the
        # price of honeypot recall 0.91 -> 0.88. A deep margin asks for a confident
        # reading: out of fold, 4 of 5,029 scams read below -8 (no honeypot mail
        # below -6.7) against 4,039 of 6,732 genuine mails.
        ((0.0, 0.0), (2.0, 6.0), (3.0, 6.0), (2.0, 8.0), (3.0, 8.0)),
        # Families needed for a scam verdict: the rules' own (three; two after a
        # rule that lowers the gate, a rule-data setting). Not tuned: with
        # two, the model's "reads like a scam" plus one weak rule would quarantine genuine
        # dunning and cancellation mail, which reads like the fake kind (nested LSO with 2
        # gained recall only by flagging exactly such own hard negatives).
        (None,),
        (1.0, 2.0),  # cap when the rules found legitimate evidence
        # A reading this confident counts as two families (None: never). 5 since
        # rounds 15-17: the model trained on calm scams reads more genuine notices
        # at 4 to 5 (on the cached rows, a grid with 5 and 6 as well chose 5/5;
        # nested, it also did better than this grid without 5: 0.800 / 0.886 at
        # 0.23 % against 0.795 / 0.858 at 0.22 %). 4.5 and 4.75 since the eleventh
        # session (steps of 1 were coarse where the choice sits).
        (None, 3.0, 4.0, 4.5, 4.75, 5.0),
        # A reading this confident passes the family gate alone (None: never). 5.5 and
        # 6 since the twelfth session: with round 22 the step at 5 flagged one genuine
        # mail too many and the choice fell to no step at all; a higher step might keep
        # most of what it catches. Not chosen with rounds 23-24 (at 5.5 the same rows
        # flag as many genuine mails as at 5 for fewer scams).
        (None, 4.0, 4.5, 5.0, 5.5, 6.0),
    )
    return [
        Blend(
            scale,
            cap,
            neg,
            base.family_min,
            base.learn_min,
            base.learn_cap,
            fam,
            legit,
            margin,
            strong_logit=strong,
            alone_logit=alone,
        )
        for scale, cap, (neg, margin), fam, legit, strong, alone in grid
        # Decisive needs confident: a reading that does not count twice cannot count thrice.
        if alone is None or (strong is not None and strong <= alone)
    ]


class DecisionTable:
    """Every row's verdict under every blend of a grid, decided once.

    Nested tuning chooses a blend nine times (once without each block, once on
    all) over the same rows; deciding each (row, blend) pair once instead of
    once per choice makes a finer grid affordable. Only the verdict kind is
    kept: the figures need nothing else.

    Most blends differ for a given message only where its reading is far
    from their steps, so a message's verdict is decided once per distinct
    model effect (weight, confident, decisive) rather than once per blend.
    """

    def __init__(self, clf: Classifier, rows: Sequence[Scored], grid: Sequence[Blend]) -> None:
        self.rows = list(rows)
        self.grid = list(grid)
        provenance = [clf.provenance(r.rules) for r in self.rows]
        seen: list[dict[tuple[object, ...], str]] = [{} for _ in self.rows]
        # Each blend's flagged and suspicious rows as bit sets, not a list of kinds
        # per blend (4,680 lists of every row held 440 MB): a choice then counts
        # figure cells with a few big-integer ANDs instead of a Python loop over
        # every row for every blend (nested tuning chooses ten times).
        self._flagged: list[int] = []
        self._suspicious: list[int] = []
        for b in self.grid:
            flagged: list[int] = []
            suspicious: list[int] = []
            for i, r in enumerate(self.rows):
                key: tuple[object, ...] = (b.family_min, b.min_families)
                if r.model is not None:
                    legit, suspect = provenance[i]
                    w = model_weight(r.model, b, legit=legit, suspect=suspect)
                    strong = w != 0.0 and is_strong(r.model, w, b, legit=legit)
                    key += (w, strong, is_decisive(r.model, b, strong=strong))
                kind = seen[i].get(key)
                if kind is None:
                    kind = seen[i][key] = clf.decide(r.rules, r.model, None, b).verdict
                if kind == SCAM:
                    flagged.append(i)
                elif kind == SUSPICIOUS:
                    suspicious.append(i)
            self._flagged.append(_bits(flagged))
            self._suspicious.append(_bits(suspicious))
        cells: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for i, r in enumerate(self.rows):
            if r.label in ("scam", "ham"):
                cells[(r.label, r.lang, r.block if r.label == "scam" else "")].append(i)
        self._cells = {key: _bits(ix) for key, ix in cells.items()}
        self._shared_ham = _bits(
            i for i, r in enumerate(self.rows) if r.label == "ham" and r.origin == "shared"
        )

    def kinds(self, j: int) -> list[str]:
        """Every row's verdict kind under the grid's ``j``-th blend, read back from the bit sets."""
        flagged, suspicious = self._flagged[j], self._suspicious[j]
        return [
            SCAM if flagged >> i & 1 else SUSPICIOUS if suspicious >> i & 1 else CLEAN
            for i in range(len(self.rows))
        ]

    def choose(self, keep: Sequence[int] | None = None) -> Blend:
        """The best blend judged on the rows at indices ``keep`` (all rows by default).

        Best means the highest worst-language block-averaged recall less
        FP_COST times the rate of genuine mail flagged ``scam``, among blends
        at or under FP_CEILING that flag no genuine mail of the shared corpus
        (see FP_CEILING). A stated price, not a hard 0.2 % budget: with a
        budget, the choice flipped on one genuine mail between a sensible blend
        and blends that capped the model at 5 points (recall 0.66 / 0.60), and
        when the rules alone were over the budget it needed a slack rule on
        top. Recall is averaged over source blocks (own, fixtures, collected,
        phishing_pot) with equal weight, so hundreds of own texts cannot decide
        alone. Ties go to the better other language, then to fewer false
        positives, then to fewer genuine mails marked suspicious: a blend that
        keeps genuine mail further from the line is the safer of two that flag
        alike. (Before the second key, the first blend in grid order won a
        tie: held out of own-en, six blends tied on English and the first was
        5 points worse on Japanese. Before the last, held out of own-en, a
        blend whose confident "ordinary" readings subtract tied with one whose
        never do, and grid order took the latter.)
        """
        kept = (1 << len(self.rows)) - 1 if keep is None else _bits(keep)
        cells = [(key, m & kept) for key, m in self._cells.items() if m & kept]
        best: tuple[tuple[float, float, float, float], Blend] | None = None
        fallback: tuple[float, Blend] | None = None
        for blend, flagged, suspicious in zip(
            self.grid, self._flagged, self._suspicious, strict=True
        ):
            f = Figures()
            for (label, lang, block), m in cells:
                n, k = m.bit_count(), (m & flagged).bit_count()
                if label == "scam":
                    f.scam[lang][0] += n
                    f.scam[lang][1] += k
                    f.blocks[(lang, block)] = [n, k]
                else:
                    f.ham[lang][0] += n
                    f.ham[lang][1] += k
                    f.ham[lang][2] += (m & suspicious).bit_count()
            if fallback is None or f.fp_rate() < fallback[0]:
                fallback = (f.fp_rate(), blend)
            if f.fp_rate() > FP_CEILING + 1e-12 or flagged & self._shared_ham & kept:
                continue
            cost = FP_COST * f.fp_rate()
            key = (
                f.worst_block_recall() - cost,
                f.mean_block_recall(),
                -f.fp_rate(),
                -f.suspicious_rate(),
            )
            if best is None or key > best[0]:
                best = (key, blend)
        if best is None:  # every blend is over the ceiling: the one that flags least
            assert fallback is not None
            return fallback[1]
        return best[1]

    def point(self, blend: Blend) -> FrontierPoint:
        """One blend of the grid as a budget-list line (its own count as the budget)."""
        scams, genuine = self._pooled()
        rec, fp = _pooled_figures(self._flagged[self.grid.index(blend)], scams, genuine)
        return FrontierPoint(fp, blend, rec, fp, genuine.bit_count())

    def _pooled(self) -> tuple[dict[str, int], int]:
        """Scam rows per language and all genuine rows, as bit sets."""
        scams: dict[str, int] = defaultdict(int)
        genuine = 0
        for (label, lang, _block), m in self._cells.items():
            if label == "scam":
                scams[lang] |= m
            else:
                genuine |= m
        return scams, genuine

    def frontier(self, budgets: Sequence[int]) -> list[FrontierPoint]:
        """For each budget of genuine mails flagged, the blend with the best plain
        worst-language recall within it (then the other language, then fewer flagged).

        A view of the trade-off for the reader, not a choice: the shipped blend
        is :meth:`choose`'s. It answers "what would n more genuine mails buy".
        """
        scams, genuine = self._pooled()
        # Each blend's figures once, not once per budget.
        figures = [_pooled_figures(flagged, scams, genuine) for flagged in self._flagged]
        points = []
        for budget in budgets:
            best: tuple[tuple[float, float, int], FrontierPoint] | None = None
            for blend, (rec, fp) in zip(self.grid, figures, strict=True):
                if fp > budget:
                    continue
                rates = sorted(c / n for c, n in rec.values() if n)
                key = (rates[0] if rates else 0.0, sum(rates), -fp)
                if best is None or key > best[0]:
                    best = (key, FrontierPoint(budget, blend, rec, fp, genuine.bit_count()))
            points.append(
                best[1] if best else FrontierPoint(budget, None, {}, 0, genuine.bit_count())
            )
        return points


FRONTIER_BUDGETS = (0, 5, 10, 12, 14, 16, 18, 20, 25, 30)


def _pooled_figures(
    flagged: int, scams: dict[str, int], genuine: int
) -> tuple[dict[str, tuple[int, int]], int]:
    """One blend's flags as (caught, scams) per language and genuine mails flagged."""
    rec = {lang: ((m & flagged).bit_count(), m.bit_count()) for lang, m in scams.items()}
    return rec, (genuine & flagged).bit_count()


@dataclass
class FrontierPoint:
    budget: int
    blend: Blend | None
    recall: dict[str, tuple[int, int]]  # lang -> (caught, scams)
    flagged: int  # genuine mails flagged scam
    genuine: int


def format_frontier(points: Sequence[FrontierPoint], chosen: FrontierPoint | None = None) -> str:
    """The budget list, worst language first in each line.

    In sample: each line is the best of the whole grid on these rows, ranked by
    pooled recall, so it flatters every budget a little; the nested figures are
    the held-out ones. The chosen blend is ranked otherwise (block-averaged
    recall less a price per genuine mail), so it is printed beside the list
    rather than looked for in it.
    """

    def line(head: str, p: FrontierPoint) -> str:
        if p.blend is None:
            return f"{head}: no blend"
        rates = sorted(p.recall.items(), key=lambda kv: kv[1][0] / kv[1][1] if kv[1][1] else 0.0)
        rec = "  ".join(f"{lang} {c / n:.3f} ({c}/{n})" for lang, (c, n) in rates)
        return f"{head}: {rec}  flagged {p.flagged}/{p.genuine}  {p.blend}"

    lines = [
        "== in sample, all blocks, pooled recall: the best single blend at each budget "
        "of genuine mail flagged (a view of the trade-off, not a choice)"
    ]
    lines += [line(f"<= {p.budget:>3}", p) for p in points]
    if chosen is not None:
        lines.append(line("chosen", chosen))
    return "\n".join(lines)


def _bits(indices: Iterable[int]) -> int:
    """A set of row indices as one integer, bit i set for row i."""
    out = 0
    for i in indices:
        out |= 1 << i
    return out


def choose_blend(clf: Classifier, rows: Sequence[Scored], grid: Sequence[Blend]) -> Blend:
    """The best blend of ``grid`` on ``rows`` (see :meth:`DecisionTable.choose`)."""
    return DecisionTable(clf, rows, grid).choose()


def nested(
    clf: Classifier, rows: Sequence[Scored], grid: Sequence[Blend] | DecisionTable
) -> tuple[list[Verdict], dict[str, Blend]]:
    """Verdicts where each outer block was decided with a blend chosen without it."""
    table = grid if isinstance(grid, DecisionTable) else DecisionTable(clf, rows, grid)
    if len(table.rows) != len(rows) or any(
        a is not b for a, b in zip(table.rows, rows, strict=True)
    ):
        raise ValueError("the decision table was built on other rows")
    blocks = sorted({r.block for r in rows})
    out: dict[int, Verdict] = {}
    chosen: dict[str, Blend] = {}
    for block in blocks:
        blend = table.choose([i for i, r in enumerate(rows) if r.block != block])
        chosen[block] = blend
        for i, r in enumerate(rows):
            if r.block == block:
                out[i] = clf.decide(r.rules, r.model, None, blend)
    return [out[i] for i in range(len(rows))], chosen


def format_report(rows: Sequence[Scored], vs: Sequence[Verdict], title: str) -> str:
    lines = [title, f"{'block / label / kind':<58} {'count':>6} {'scam':>6} {'susp':>6}"]
    table: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r, v in zip(rows, vs, strict=True):
        for key in ((r.block, r.label, ""), (r.block, r.label, r.kind)):
            cell = table[key]
            cell[0] += 1
            cell[1] += v.verdict == SCAM
            cell[2] += v.verdict == SUSPICIOUS
    for (block, label, kind), (n, s, su) in sorted(table.items()):
        name = f"{block} {label}" if not kind else f"    {kind}"
        lines.append(f"{name:<58} {n:>6} {s:>6} {su:>6}")
    f = figures(rows, vs)
    lines.append("")
    for lang in sorted(set(f.scam) | set(f.ham)):
        sc, hm = f.scam[lang], f.ham[lang]
        lines.append(
            f"{lang}: scam recall {f.recall(lang):.3f} ({sc[1]}/{sc[0]})   "
            f"ham flagged scam {f.fp_rate(lang):.2%} ({hm[1]}/{hm[0]}), suspicious {hm[2]}"
        )
    lines.append(
        f"all: scam recall {f.recall():.3f}   ham flagged scam {f.fp_rate():.2%} "
        f"({sum(c[1] for c in f.ham.values())}/{sum(c[0] for c in f.ham.values())})"
    )
    misses = [
        r.path for r, v in zip(rows, vs, strict=True) if r.label == "scam" and v.verdict != SCAM
    ]
    fps = [(r, v) for r, v in zip(rows, vs, strict=True) if r.label == "ham" and v.verdict == SCAM]
    lines.append("")
    lines.append(f"ham flagged scam: {len(fps)}")
    for r, v in fps:
        top = "; ".join(f"{x.rule} {x.weight:+.1f} [{x.evidence}]" for x in v.reasons[:3])
        lines.append(f"  {r.origin}:{r.path} {v.score:.1f}  {top}")
    lines.append(f"scams missed: {len(misses)}")
    lines.extend(f"  {p}" for p in misses)
    return "\n".join(lines)


def main(
    repo: Path,
    corpus: Path | None,
    *,
    train_shared: bool,
    tune: bool,
    own_folds: str = "block",
    classifier: Classifier | None = None,
    out: TextIO | None = None,
    scores: Path | None = None,
    save_to: Path | None = None,
) -> int:
    out = out or sys.stdout
    clf = classifier or Classifier.default()
    try:
        if save_to is not None:
            check_writable(save_to)
        saved = load_scores(scores) if scores is not None else None
        what = f"reading saved model scores from {scores}" if saved else "training fold models"
        print(f"leave-source-out: {what} (repo {repo}) ...", file=sys.stderr)
        res = score_examples(
            repo,
            corpus,
            train_shared=train_shared,
            own_folds=own_folds,
            classifier=clf,
            log=sys.stderr,
            saved=saved,
        )
    except StaleScores as exc:
        print(f"mailguard eval: {exc}", file=sys.stderr)
        return 2
    status = 0
    if save_to is not None:
        try:
            save_scores(res, save_to)
            print(f"saved {len(res.scored)} model scores to {save_to}", file=sys.stderr)
        except OSError as exc:  # the report below is still worth its half hour
            print(f"mailguard eval: could not save the scores: {exc}", file=sys.stderr)
            status = 1
    pool = ", ".join(f"{k}={v}" for k, v in res.pool.items())
    print(f"training pool: {pool}; {res.folds} folds", file=out)
    rows = res.scored
    vs = verdicts(clf, rows, clf.blend)
    print(format_report(rows, vs, f"== shipped blend {clf.blend}"), file=out)
    if tune:
        table = DecisionTable(clf, rows, blend_grid(clf.blend))
        nvs, chosen = nested(clf, rows, table)
        print("", file=out)
        for block, blend in chosen.items():
            print(f"blend chosen without {block}: {blend}", file=out)
        print(
            format_report(rows, nvs, "== nested: each block decided by a blend chosen without it"),
            file=out,
        )
        chosen_all = table.choose()
        print(f"blend chosen on all blocks: {chosen_all}", file=out)
        print("", file=out)
        print(format_frontier(table.frontier(FRONTIER_BUDGETS), table.point(chosen_all)), file=out)
    return status
