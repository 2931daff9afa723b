"""Quote evidence the way the message wrote it, for people to read.

Rules match on folded views of the text (lower-cased, NFKC, look-alikes
folded, Japanese whitespace removed), so the evidence a rule captures reads
like broken text: 「【民事訴訟最終告知】総合消費料金未」, "call paypal billin…". A frightened
reader should see the sender's own words. This module finds the matched text
in the original subject and body (whitespace-insensitively, through the same
folding) and cuts the quote on word or phrase boundaries, with an ellipsis
where it is cut. When the evidence cannot be found (it came from a header, or
from a derived fact), it is returned unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mailguard.detect.normalize import fold

QUOTE_MAX = 60
ELLIPSIS = "…"
_SEPARATOR = " / "  # how combination rules join the evidence of their parts
# Japanese phrase boundaries: a quote may grow up to the next of these.
_JA_STOPS = frozenset("。、．，！？!?「」『』（）()【】［］〔〕：:・\n")
_GROW_LATIN = 20  # at most this many characters to finish a cut word
_GROW_JA = 14  # at most this many characters to finish a Japanese phrase


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch)


def _is_wordish(ch: str) -> bool:
    return ch.isalnum() and not _is_cjk(ch)


_CJK_RANGES = (
    (0x3000, 0x30FF),  # CJK punctuation (、。「」), hiragana, katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # full-width forms and half-width katakana
)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


class _FoldedIndex:
    """The original text folded with whitespace dropped, and where each folded char came from."""

    def __init__(self, original: str) -> None:
        chars: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(original):
            if ch.isspace():
                continue
            for f in _fold_char(ch):
                if not f.isspace():
                    chars.append(f)
                    origin.append(i)
        self.original = original
        self.folded = "".join(chars)
        self.origin = origin

    def find(self, needle: str) -> tuple[int, int] | None:
        """Original [start, end) of the first occurrence of folded ``needle``, or None."""
        key = "".join(fold(needle).split())
        if not key:
            return None
        at = self.folded.find(key)
        if at < 0:
            return None
        return self.origin[at], self.origin[at + len(key) - 1] + 1


def _is_boundary(text: str, at: int) -> bool:
    """Is position ``at`` a phrase boundary (text edge, whitespace or punctuation)?"""
    return at < 0 or at >= len(text) or text[at].isspace() or text[at] in _JA_STOPS


def _finish_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Never cut a Latin word or a number in half (up to ``_GROW_LATIN`` characters)."""
    limit = max(0, start - _GROW_LATIN)
    while start > limit and _is_wordish(text[start - 1]) and _is_wordish(text[start]):
        start -= 1
    limit = min(len(text), end + _GROW_LATIN)
    while end < limit and _is_wordish(text[end - 1]) and _is_wordish(text[end]):
        end += 1
    return start, end


def _phrase_start(text: str, start: int) -> int:
    """Start a Japanese phrase where it starts (「30日間無料…」, not 「間無料…」), if near."""
    if start == 0 or not _is_cjk(text[start]):
        return start
    begin = start
    while begin > 0 and start - begin < _GROW_JA:
        ch = text[begin - 1]
        if _is_boundary(text, begin - 1) or not (_is_cjk(ch) or ch.isalnum()):
            break
        begin -= 1
    return begin if _is_boundary(text, begin - 1) else start


def _skip_wrap(text: str, at: int) -> int | None:
    """Past a hard line break inside Japanese text; None at a paragraph or script change."""
    nxt = at
    while nxt < len(text) and text[nxt].isspace():
        nxt += 1
    if nxt >= len(text) or not _is_cjk(text[nxt]) or "\n\n" in text[at:nxt]:
        return None
    return nxt


def _phrase_end(text: str, start: int, end: int) -> int:
    """Finish a Japanese phrase across hard line breaks, if a boundary comes soon.

    When the phrase runs on too long, end at the last boundary inside the quote
    instead, so the quote never stops mid-word.
    """
    if end >= len(text) or not _is_cjk(text[end - 1]):
        return end
    stop, grown = end, 0
    while stop < len(text) and grown < _GROW_JA:
        if text[stop].isspace():
            nxt = _skip_wrap(text, stop)
            if nxt is None:
                break
            stop = nxt
        elif text[stop] in _JA_STOPS or not _is_cjk(text[stop]):
            break
        else:
            stop, grown = stop + 1, grown + 1
    if _is_boundary(text, stop):
        if stop == end:
            return end
        closing = stop < len(text) and text[stop] in "。」』）)】"
        return stop + (1 if closing else 0)
    last = max(text.rfind(c, start, end) for c in "。、」』）】")
    return last + 1 if last > start + (end - start) // 2 else end


def _grow(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) so neither edge splits a word or, in Japanese, a short phrase."""
    start, end = _finish_words(text, start, end)
    start = _phrase_start(text, start)
    return start, _phrase_end(text, start, end)


_WS_RUN = re.compile(r"\s+")


def _tidy(quote: str) -> str:
    """One line: a whitespace run becomes one space, or nothing inside Japanese text.

    Japanese mail is hard-wrapped mid-phrase, so a line break between two
    Japanese characters is not a space; a blank line (a new paragraph, or the
    subject/body boundary) still is.
    """

    def join(m: re.Match[str]) -> str:
        start, end = m.start(), m.end()
        if start == 0 or end == len(quote):
            return ""
        cjk = _is_cjk(quote[start - 1]) and _is_cjk(quote[end])
        return "" if cjk and m.group(0).count("\n") < 2 else " "

    return _WS_RUN.sub(join, quote)


def _shorten(quote: str, limit: int) -> str:
    """At most ``limit`` characters, cut after a word (or anywhere in Japanese), with …."""
    if len(quote) <= limit:
        return quote
    cut = quote[: limit - 1]
    if _is_wordish(quote[limit - 1]) and _is_wordish(cut[-1]):
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def quote_part(part: str, index: _FoldedIndex, limit: int) -> str:
    stripped = part.strip().strip(ELLIPSIS).strip()
    span = index.find(stripped)
    if span is None and len(stripped) > 12:
        span = index.find(stripped[:12])  # clipped evidence: anchor on its start
    if span is None:
        return part
    start, end = _grow(index.original, *span)
    quote = _tidy(index.original[start:end])
    before = index.original[start - 1] if start > 0 else " "
    lead = "" if before.isspace() or before in _JA_STOPS else ELLIPSIS
    return lead + _shorten(quote, limit - len(lead))


class QuoteSource:
    """The original text of one message, folded once, to quote any number of evidences from.

    Folding is per character over the whole subject and body: build one per
    message, not one per reason.
    """

    def __init__(self, original: str) -> None:
        self._index = _FoldedIndex(original) if original else None

    def quote(self, evidence: str, *, limit: int = QUOTE_MAX) -> str:
        """``evidence`` as the message wrote it (case, spacing, width), cut on boundaries."""
        if not evidence or self._index is None:
            return evidence
        prefix = ""
        if evidence.startswith("(quoted) "):
            prefix, evidence = "(quoted) ", evidence[len("(quoted) ") :]
        parts = evidence.split(_SEPARATOR)
        each = max(20, limit // len(parts)) if len(parts) > 1 else limit
        return prefix + _SEPARATOR.join(quote_part(p, self._index, each) for p in parts)


def readable_quote(evidence: str, original: str, *, limit: int = QUOTE_MAX) -> str:
    """One evidence quoted from ``original`` (use :class:`QuoteSource` for several)."""
    return QuoteSource(original).quote(evidence, limit=limit)
