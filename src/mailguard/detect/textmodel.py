"""A learned model of scam *wording*, beside the rules.

Why a model at all: the rules know the words agencies list, but real scam
mail keeps finding new ways to say "you owe money, call us today". A
per-language logistic regression over character n-grams generalises to
phrasing the rules never saw (a probe trained on a few hundred texts beat the
hand-tuned rules on held-out mail), and character n-grams need no word
segmentation, which Japanese does not have.

Why it stays *evidence* and not a verdict: a model trained on a few hundred
texts is confidently wrong on some mail. Its log-odds are turned into one
bounded reason (family ``model``) whose evidence names the n-grams that
pushed hardest, so a person can see what it reacted to ("本日中にご連絡",
"未納料金"), and the engine decides together with the rules.

Inference needs no scikit-learn: the shipped file is a JSON list of n-grams
and weights (the top-K by weight, so the file stays small); scoring is one
Aho-Corasick pass over the text (pyahocorasick is already a dependency), and
the sum of the weights of the distinct n-grams present, divided by the
square root of how many there are (see :class:`LangModel`), plus a bias.

The same :func:`model_text` is used in training (``mailguard.detect.training``)
and at inference, so what the model was fitted on is exactly what it sees.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import operator
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import ahocorasick

MODEL_FAMILY = "model"
MODEL_RESOURCE = "textmodel.json.gz"
FORMAT_VERSION = 1
# Only the start of a long message is read: the lure is at the top, and a
# 200 kB newsletter must not cost more than a short mail.
MAX_CHARS = 3000
LANG_SAMPLE = 1500

# Placeholders: single characters that cannot survive NFKC in real text
# (circled letters fold to plain letters), so they never collide with wording.
URL_MARK = "Ⓤ"
MAIL_MARK = "Ⓜ"
PHONE_MARK = "Ⓟ"
DATE_MARK = "Ⓓ"
DIGIT_MARK = "0"
_DISPLAY = {
    URL_MARK: "[URL]",
    MAIL_MARK: "[MAIL]",
    PHONE_MARK: "[PHONE]",
    DATE_MARK: "[DATE]",
    DIGIT_MARK: "0",
}

_URL_RE = re.compile(
    r"(?:h(?:tt|xx)ps?\s?(?::|\[:\])?\s?//|www\.)[^\s<>\"'()\u3000-\u303f]+", re.IGNORECASE
)
# A host name written without a scheme ("pay-tolls.com/ab12", "gov.uk"): scam texts
# give them bare so no filter links them, and the name itself is one campaign's. Our
# own training texts use reserved names (.example, .test); left in, those would
# teach the model a suffix no real scam has. Runs after mail addresses are masked.
_HOST_RE = re.compile(r"(?<![\w.-])(?:[a-z0-9][a-z0-9-]*\.)+[a-z]{2,12}(?:/[^\s<>\"']*)?(?![\w-])")
# The look-behind lets a match start only where a local part can start, so the
# scan does not retry at every letter of every word.
_MAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone: optional +, then digits with common separators, at least 9 digits
# in all. Digits are folded to 0 afterwards anyway; the mark keeps "a number
# to call" distinct from "an amount".
_PHONE_RE = re.compile(r"\+?\(?\d[\d()\-‐－ー.\s]{7,}\d")
# Dates and times: genuine notices and scams both carry them, so their shape
# ("0月0日") must not become evidence either way; a deadline still reads as
# "[DATE]までに". The shared leading digit is factored out: the engine then only
# tries a match at digits (seven times faster than three bare alternatives).
_DATE_RE = re.compile(
    r"\d(?:\d{0,3}\s*[年/.-]\s*\d{1,2}\s*[月/.-]\s*\d{1,2}\s*日?|\d?\s*月\s*\d{1,2}\s*日|\d?:\d{2})"
)
_SECOND = operator.itemgetter(1)
_DIGITS_RE = re.compile(r"\d+")
# Runs, not single characters: the counts are summed run lengths, the same
# numbers with a fraction of the matches.
_JA_RUN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")
_LETTER_RUN_RE = re.compile(r"[^\W\d_]+")


def detect_lang(text: str) -> str:
    """``ja`` when a noticeable share of the letters are kana or kanji, else ``en``.

    A few Japanese characters in an English mail (a company name) do not make
    it Japanese; a Japanese mail is mostly kana and kanji even with English
    brand names and URLs in it.
    """
    sample = text[:LANG_SAMPLE]
    if sample.isascii():
        return "en"
    ja = sum(map(len, _JA_RUN_RE.findall(sample)))
    letters = sum(map(len, _LETTER_RUN_RE.findall(sample)))
    return "ja" if letters and ja >= 0.15 * letters else "en"


def _phone_sub(m: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in m.group(0))
    return PHONE_MARK if digits >= 9 else m.group(0)


_FILE_SUFFIXES = frozenset(
    {
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "zip", "rar", "7z", "exe", "msi",
        "html", "htm", "jpg", "jpeg", "png", "gif", "txt", "csv", "js", "py", "iso", "img",
        "eml", "ics",
    }
)  # fmt: skip


def _host_sub(m: re.Match[str]) -> str:
    """A bare host becomes the URL mark; a file name ("invoice.pdf") stays wording."""
    name = m.group(0)
    suffix = name.split("/", 1)[0].rpartition(".")[2]
    return name if suffix in _FILE_SUFFIXES else URL_MARK


def model_text(normalized: str, lang: str | None = None) -> tuple[str, str]:
    """``(lang, text)``: the exact string the model's n-grams are taken from.

    ``normalized`` is NFKC-folded subject + visible body + attachment text
    (``ParsedMessage.normalized``). URLs, mail addresses, dates and phone
    numbers become one placeholder character each and other digit runs a single
    ``0``, so the model learns "a number to call" rather than one scammer's
    number. Japanese drops all whitespace (mail is hard-wrapped mid-phrase);
    English collapses it.
    """
    text = normalized[: MAX_CHARS + MAX_CHARS // 3].lower()
    lang = lang or detect_lang(text)
    # The substring tests are exact pre-checks (every URL has "//" or "www.",
    # every address "@") and skip a whole scan for most mail.
    if "//" in text or "www." in text:
        text = _URL_RE.sub(URL_MARK, text)
    if "@" in text:
        text = _MAIL_RE.sub(MAIL_MARK, text)
    text = _HOST_RE.sub(_host_sub, text)
    text = _DATE_RE.sub(DATE_MARK, text)
    text = _PHONE_RE.sub(_phone_sub, text)
    text = _DIGITS_RE.sub(DIGIT_MARK, text)
    # str.split() splits on exactly the characters re's \s matches.
    text = "".join(text.split()) if lang == "ja" else " ".join(text.split())
    return lang, text[:MAX_CHARS]


def ngrams(text: str, lo: int, hi: int) -> set[str]:
    """The distinct character n-grams of ``text`` with ``lo <= n <= hi`` (training side)."""
    out: set[str] = set()
    for n in range(lo, hi + 1):
        out.update(text[i : i + n] for i in range(len(text) - n + 1))
    return out


FINGERPRINT_N = {"ja": 3, "en": 5}
FINGERPRINT_MAX = 2000


def fingerprint(normalized: str) -> frozenset[int]:
    """Hashed character n-grams of the model text, for per-account similarity.

    Stable across processes (CRC-32, not ``hash()``), capped in size, and not
    reversible into the text: what the state database keeps of a message the
    user released or reported.
    """
    lang, text = model_text(normalized)
    n = FINGERPRINT_N[lang]
    grams = {text[i : i + n] for i in range(len(text) - n + 1)}
    hashed = sorted(zlib.crc32(g.encode("utf-8")) for g in grams)
    return frozenset(hashed[:FINGERPRINT_MAX])


def display_ngram(gram: str) -> str:
    """An n-gram as a person should read it (placeholders spelled out)."""
    return "".join(_DISPLAY.get(c, c) for c in gram).strip()


@dataclass(frozen=True)
class ModelScore:
    """What the model says about one text: language, log-odds, and the phrases behind it.

    Working out the phrases costs about a tenth of classifying a message, and
    most readings are never shown (a negative reading names no phrases), so
    :meth:`LangModel.score` passes ``explain`` and :attr:`top` runs it on
    first use.
    """

    lang: str
    logit: float
    # (phrase as displayed, summed weight of its n-grams), strongest first
    given_top: tuple[tuple[str, float], ...] = ()
    explain: Callable[[], tuple[tuple[str, float], ...]] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def top(self) -> tuple[tuple[str, float], ...]:
        return self.explain() if self.explain is not None else self.given_top

    @property
    def probability(self) -> float:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, self.logit))))


@dataclass
class LangModel:
    """One language's weights: ``scale * (bias + sum / sqrt(max(k, norm_floor)))``.

    ``sum`` is the summed weight of the ``k`` distinct model n-grams present.
    Dividing by ``sqrt(k)`` is the L2 norm of the binary n-gram vector the
    model was fitted on: without it a long genuine notice piles up many weak
    positive n-grams and a two-line lure has too few to add up, which is the
    wrong way round for SMS-style scams. The floor stops a one-line notice
    ("本日14時開演です") from being read as confidently as a whole letter.
    ``scale`` (chosen by leave-source-out, see ``training``) maps the fitted
    log-odds onto the engine's blend; ``norm_floor`` 0 means a plain sum
    (format-1 files written before normalisation).
    """

    lang: str
    ngram_min: int
    ngram_max: int
    bias: float
    weights: dict[str, float]
    norm_floor: int = 0
    scale: float = 1.0
    _automaton: Any = field(default=None, repr=False, compare=False)
    _grams: list[str] = field(default_factory=list, repr=False, compare=False)
    _values: list[float] = field(default_factory=list, repr=False, compare=False)

    def automaton(self) -> Any:
        """The Aho-Corasick automaton over the n-grams (built once, on first use).

        Values are indexes into :attr:`_grams`, so one C pass plus a set
        comprehension finds the distinct n-grams present.
        """
        if self._automaton is None:
            auto = ahocorasick.Automaton()
            grams = sorted(self.weights)
            for i, gram in enumerate(grams):
                auto.add_word(gram, i)
            auto.make_automaton()
            self._grams = grams
            self._values = [self.weights[g] for g in grams]
            self._automaton = auto
        return self._automaton

    def score(self, text: str, top_k: int = 5) -> ModelScore:
        if not self.weights or not text:
            return ModelScore(self.lang, self.scale * self.bias)
        auto = self.automaton()
        values = self._values
        # map + itemgetter runs in C: about 15 % faster than a set comprehension.
        present = set(map(_SECOND, auto.iter(text)))
        total = sum(map(values.__getitem__, present))
        if self.norm_floor:
            total /= math.sqrt(max(len(present), self.norm_floor))
        logit = self.scale * (self.bias + total)
        return ModelScore(
            self.lang, logit, explain=partial(self._explain, text, present, logit >= 0, top_k)
        )

    def _explain(
        self, text: str, present: set[int], positive: bool, top_k: int
    ) -> tuple[tuple[str, float], ...]:
        """The phrases behind a reading (see :class:`ModelScore`)."""
        values, grams = self._values, self._grams
        # Only the n-grams that pushed the way the verdict went, strongest first;
        # enough candidates to fill top_k after dropping overlapping ones.
        if positive:
            cands = heapq.nlargest(top_k * 8, ((values[i], i) for i in present if values[i] > 0))
        else:
            cands = heapq.nsmallest(top_k * 8, ((values[i], i) for i in present if values[i] < 0))
        push = [(grams[i], w) for w, i in cands]
        phrases = _phrases(text, push, top_k, english=self.lang == "en")
        return tuple((display_ngram(g), round(w, 3)) for g, w in phrases)


PHRASE_MAX = {"en": 40, "ja": 16}
_EDGE = " 。、．，・:;,.!?！？-「」()（）"
_SENTENCE_END = "。！？!?"
_JA_STOPS = "、「」『』（）()【】" + _SENTENCE_END
_JA_GROW = 6


def _phrases(
    text: str, push: list[tuple[str, float]], limit: int, *, english: bool
) -> list[tuple[str, float]]:
    """The text around the strongest n-grams, as phrases a person can read.

    The evidence is shown to frightened people, so 「ou」「to」「pay」 will not
    do. Each n-gram is placed where it first occurs; English spans grow to
    whole words, Japanese ones to the clause; spans that overlap or touch
    within one sentence merge ("本日", "日中", "中に" are 「本日中に」) up to a
    readable length; phrases rank by the summed weight of their n-grams.
    """
    cap = PHRASE_MAX["en" if english else "ja"]
    spans = sorted(
        (*_place(text, start, start + len(gram), english), w)
        for gram, w in push
        if (start := text.find(gram)) >= 0
    )
    ranked = sorted(_merge(text, spans, english, cap), key=lambda m: (-abs(m[2]), m[0]))
    out: list[tuple[str, float]] = []
    for a, b, w in ranked:
        phrase = _tidy(text[a:b][:cap], english)
        readable = len(phrase) >= 3 and any(ch.isalnum() for ch in phrase)
        if readable and phrase not in (p for p, _ in out):
            out.append((phrase, w))
            if len(out) == limit:
                break
    return out


def _place(text: str, start: int, end: int, english: bool) -> tuple[int, int]:
    """Grow a span to whole words (en) or to the nearby clause marks (ja)."""
    if english:
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        return start, end
    for i in range(start - 1, max(-1, start - 1 - _JA_GROW), -1):
        if text[i] in _JA_STOPS:
            start = i + 1
            break
    for i in range(end, min(len(text), end + _JA_GROW)):
        if text[i] in _JA_STOPS:
            end = i
            break
    return start, end


def _merge(
    text: str, spans: list[tuple[int, int, float]], english: bool, cap: int
) -> list[tuple[int, int, float]]:
    """Join spans that overlap or touch, within one sentence and ``cap`` characters."""
    merged: list[tuple[int, int, float]] = []
    for start, end, w in spans:
        if merged:
            a, b, total = merged[-1]
            gap = start - b
            touching = gap <= 0 or (english and gap == 1 and text[b] == " ")
            joined = text[a : max(end, b)]
            if touching and len(joined) <= cap and not any(c in joined for c in _SENTENCE_END):
                merged[-1] = (a, max(end, b), total + w)
                continue
        merged.append((start, end, w))
    return merged


def _tidy(phrase: str, english: bool) -> str:
    """One sentence of it, without a dangling fragment before a comma (「り、0時より」)."""
    if english:
        phrase = max(re.split(r"(?<=[.!?]) ", phrase), key=len)
    else:
        phrase = max(re.split(f"[{_SENTENCE_END}]", phrase), key=len)
        head, sep, rest = phrase.partition("、")
        if sep and len(head) <= 2 and rest:
            phrase = rest
    return phrase.strip(_EDGE)


@dataclass
class TextModel:
    """The per-language models plus what they were trained on (for the model card)."""

    models: dict[str, LangModel]
    meta: dict[str, Any] = field(default_factory=dict)

    def score_text(self, normalized: str) -> ModelScore | None:
        lang, text = model_text(normalized)
        model = self.models.get(lang)
        if model is None:
            return None
        return model.score(text)

    # -- (de)serialisation ------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "meta": self.meta,
            "models": {
                lang: {
                    "ngram_min": m.ngram_min,
                    "ngram_max": m.ngram_max,
                    "bias": round(m.bias, 5),
                    "norm_floor": m.norm_floor,
                    "scale": m.scale,
                    "weights": {g: round(w, 5) for g, w in sorted(m.weights.items())},
                }
                for lang, m in sorted(self.models.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TextModel:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported text model format {data.get('format')!r}")
        models = {
            lang: LangModel(
                lang,
                int(m["ngram_min"]),
                int(m["ngram_max"]),
                float(m["bias"]),
                {str(g): float(w) for g, w in m["weights"].items()},
                int(m.get("norm_floor", 0)),
                float(m.get("scale", 1.0)),
            )
            for lang, m in data["models"].items()
        }
        return cls(models, dict(data.get("meta", {})))

    def save(self, path: Path) -> None:
        raw = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        # mtime=0: the same model gives the same bytes (reproducible builds).
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
            gz.write(raw.encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> TextModel:
        with gzip.open(path, "rb") as fh:
            return cls.from_json(json.loads(fh.read().decode("utf-8")))


@lru_cache(maxsize=1)
def default_model() -> TextModel | None:
    """The model shipped in the package (``mailguard/detect/model/``), or None if absent.

    Read through importlib.resources so it works from a wheel or a zip as well
    as from a source checkout.
    """
    ref = resources.files("mailguard.detect.model").joinpath(MODEL_RESOURCE)
    if not ref.is_file():
        return None
    with ref.open("rb") as fh, gzip.GzipFile(fileobj=fh) as gz:
        return TextModel.from_json(json.loads(gz.read().decode("utf-8")))


def top_by_weight(weights: Iterable[tuple[str, float]], k: int) -> dict[str, float]:
    """Keep the ``k`` n-grams with the largest absolute weight (the file-size budget)."""
    ranked = sorted(weights, key=lambda gw: (-abs(gw[1]), gw[0]))
    return dict(ranked[:k])
