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

# Characters that render as nothing (or as a mark on the previous letter) and
# are used to split words: zero-width and bidi controls, variation selectors,
# tag characters, combining marks of scripts that have no business inside a
# Latin or Japanese word (Syriac, Arabic, Hebrew marks, combining diacritics).
_INVISIBLE_RE = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufe20-\ufe2f\ufeff\uffa0"
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0711\u0730-\u074a\u20d0-\u20ff"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "]+"
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


@dataclass(frozen=True)
class TextViews:
    """The texts rules are matched against, keyed by (scope, lang)."""

    text_en: str
    text_ja: str
    subject_en: str
    subject_ja: str
    from_en: str
    from_ja: str

    def get(self, scope: str, lang: str) -> str:
        return getattr(self, f"{scope}_{'ja' if lang == 'ja' else 'en'}")  # type: ignore[no-any-return]

    @classmethod
    def build(cls, normalized: str, subject: str, from_text: str) -> TextViews:
        text = fold_normalized(normalized[:MAX_MATCH_CHARS])
        subj = fold(subject)
        frm = fold(from_text)
        return cls(
            text_en=en_view(text),
            text_ja=ja_view(text),
            subject_en=en_view(subj),
            subject_ja=ja_view(subj),
            from_en=en_view(frm),
            from_ja=ja_view(frm),
        )
