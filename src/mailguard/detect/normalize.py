"""Matching views of a message's text.

The parse layer already gives NFKC-folded text with invisible characters
removed. Detection adds what only matching needs:

* look-alike letters folded to Latin (Cyrillic ``о`` in ``Nоrtоn``, Greek
  ``ο``, small capitals ``ɴᴏʀᴛᴏɴ``, negative-circled ``🅐``) and stray
  combining marks dropped (``Aܿmܿaܿzܿoܿn``), so an English phrase cannot be
  hidden by swapping letters;
* an English view with whitespace collapsed and a Japanese view with all
  whitespace removed, because Japanese mail is hard-wrapped mid-phrase
  (``法的手続きに\\n移行``) and Japanese has no spaces to lose.

Both views are lower-cased; rules are written in lower case.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mailguard.parse.features import INVISIBLE_RANGES

# Characters that render as nothing (parse.features.INVISIBLE_RANGES, the one table
# of them), plus what only matching needs to drop: combining marks of scripts that
# have no business inside a Latin or Japanese word (Syriac, Arabic, Hebrew marks,
# combining diacritics and half marks), used to split words ("Aܿmܿaܿzܿoܿn").
_COMBINING_MARK_RANGES = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x0591, 0x05BD),
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x0711, 0x0711),
    (0x0730, 0x074A),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
_INVISIBLE_RE = re.compile(
    "["
    + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in (*INVISIBLE_RANGES, *_COMBINING_MARK_RANGES))
    + "]+"
)

_HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ҽ": "e",
    "һ": "h",
    "ӏ": "l",
    "ɡ": "g",
    "А": "a",
    "В": "b",
    "Е": "e",
    "К": "k",
    "М": "m",
    "Н": "h",
    "О": "o",
    "Р": "p",
    "С": "c",
    "Т": "t",
    "Х": "x",
    "Ѕ": "s",
    "І": "i",
    "Ј": "j",
    "Ү": "y",
    # Greek
    "α": "a",
    "β": "b",
    "ε": "e",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ϲ": "c",
    "Α": "a",
    "Β": "b",
    "Ε": "e",
    "Ζ": "z",
    "Η": "h",
    "Ι": "i",
    "Κ": "k",
    "Μ": "m",
    "Ν": "n",
    "Ο": "o",
    "Ρ": "p",
    "Τ": "t",
    "Υ": "y",
    "Χ": "x",
    # Armenian
    "ո": "n",
    "ս": "u",
    "օ": "o",
    "ց": "g",
    # Latin small capitals and IPA look-alikes (not folded by NFKC)
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ғ": "f",
    "ɢ": "g",
    "ʜ": "h",
    "ɪ": "i",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ǫ": "q",
    "ʀ": "r",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ʏ": "y",
    "ᴢ": "z",
    "ı": "i",
    "ɩ": "i",
    "ȷ": "j",
    "ℓ": "l",
}
# Negative circled / negative squared capitals (🅐, 🅰) have no NFKC mapping.
for _base in (0x1F150, 0x1F170):
    for _i in range(26):
        _HOMOGLYPHS[chr(_base + _i)] = chr(ord("a") + _i)

_FOLD_TABLE = str.maketrans(_HOMOGLYPHS)

# Only the first this-many characters of a message are matched: scam text sits at
# the top, and the cap bounds the time any one huge message can cost.
MAX_MATCH_CHARS = 64_000
_WS_RE = re.compile(r"\s+")


def fold(text: str) -> str:
    """NFKC, drop invisible/combining characters, fold look-alikes, lower-case.

    NFKC is idempotent, so applying it to text the parse layer already
    normalised only costs time; we do it because headers reach us un-normalised.
    """
    if text.isascii():  # NFKC, invisible and look-alike folding never change ASCII
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE_RE.sub("", text)
    return text.translate(_FOLD_TABLE).lower()


def fold_normalized(text: str) -> str:
    """Like :func:`fold` for text the parse layer already NFKC-normalised."""
    if text.isascii():  # nothing invisible or look-alike in ASCII: skip the slow passes
        return text.lower()
    return _INVISIBLE_RE.sub("", text).translate(_FOLD_TABLE).lower()


def en_view(folded: str) -> str:
    """Whitespace collapsed to single spaces: English phrases span line breaks."""
    return " ".join(folded.split())  # str.split() and re's \s agree on Unicode whitespace


def ja_view(folded: str) -> str:
    """All whitespace removed: Japanese phrases are hard-wrapped anywhere."""
    return "".join(folded.split())


def quoted_line_spans(folded: str, lang: str) -> list[tuple[int, int]]:
    """Where runs of lines that start with ">" sit in the ``lang`` view of ``folded``.

    The views drop line breaks, so a quotation's extent can only be read here:
    a blockquote paragraph or an unwrapped reply line is one long line, and
    guessing its end in the view cut quoted demands in half. Mirrors
    :func:`en_view` (words joined by one space) and :func:`ja_view` (joined
    with nothing).
    """
    sep = 0 if lang == "ja" else 1
    spans: list[tuple[int, int]] = []
    pos = 0  # view offset of the next word
    start = -1  # view offset where the current run of quoted lines began
    end = 0
    for line in folded.split("\n"):
        words = line.split()
        if not words:
            continue
        width = sum(len(w) for w in words) + sep * (len(words) - 1)
        if words[0].startswith(">"):
            if start < 0:
                start = pos
            end = pos + width
        elif start >= 0:
            spans.append((start, end))
            start = -1
        pos += width + sep
    if start >= 0:
        spans.append((start, end))
    return spans


# The ">" that starts a quoted line (a reply, a <blockquote>, a boxed example) is
# structure, not a word. In the views it becomes QUOTE_MARK, which no rule reads
# as a menu arrow: "Settings > Billing" is a route in the app, "...your account
# / > Dear Customer" is the end of one line and the quote of the next.
QUOTE_MARK = "\u2502"  # │
_QUOTE_LINE_RE = re.compile(r"^([ \t]*)(>(?:[ \t]*>)*)", re.M)


def _mark_quote_lines(folded: str) -> str:
    """``folded`` with each line's leading quote markers (">", "> >") as QUOTE_MARK.

    The mark is ours alone: the same character in the input (a box-drawn table,
    or U+FFE8 folded) becomes "|" first, or it would start a quotation.
    """
    if QUOTE_MARK in folded:
        folded = folded.replace(QUOTE_MARK, "|")
    if ">" not in folded:
        return folded
    return _QUOTE_LINE_RE.sub(lambda m: m.group(1) + m.group(2).replace(">", QUOTE_MARK), folded)


@dataclass(frozen=True)
class TextViews:
    """The texts rules are matched against, keyed by (scope, lang)."""

    text_en: str
    text_ja: str
    subject_en: str
    subject_ja: str
    from_en: str
    from_ja: str
    # The folded body before whitespace is collapsed: only quotation extents need its lines.
    text_lines: str = ""

    def get(self, scope: str, lang: str) -> str:
        return getattr(self, f"{scope}_{'ja' if lang == 'ja' else 'en'}")  # type: ignore[no-any-return]

    @classmethod
    def build(cls, normalized: str, subject: str, from_text: str) -> TextViews:
        text = fold_normalized(normalized[:MAX_MATCH_CHARS])
        subj = fold(subject)
        frm = fold(from_text)
        marked = _mark_quote_lines(text)
        return cls(
            text_en=en_view(marked),
            text_ja=ja_view(marked),
            subject_en=en_view(subj),
            subject_ja=ja_view(subj),
            from_en=en_view(frm),
            from_ja=ja_view(frm),
            text_lines=text,
        )
