"""Required-literal extraction, so most regexes never run.

A pattern such as ``\\b(?:call|dial)\\b[^.]{0,40}<phone>`` can only match
where "call" or "dial" occurs. Python's ``re`` cannot skip ahead to those
words when a pattern starts with ``\\b`` or an alternation, so searching each
rule's regex over every message costs a scan per rule. Instead we derive, from
the parsed pattern, a set of literal *anchors* one of which every match must
contain, put all anchors into the same Aho-Corasick automaton as the phrases,
and run a regex only when one of its anchors was seen. Patterns for which no
selective anchor can be proven simply always run: correctness never depends
on this module, only speed.
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - older layout
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

Anchors = frozenset[str]


def _min_ok(s: str) -> bool:
    """Long enough to be selective: 3 ASCII characters, or 2 for CJK text."""
    return len(s) >= (3 if s.isascii() else 2)


def _score(anchors: Anchors | None) -> int:
    if not anchors:
        return -1
    return min(len(a) if a.isascii() else 2 * len(a) for a in anchors)


def _seq(items: Any) -> Anchors | None:
    """Anchors for a sequence: the most selective literal run or required sub-part."""
    best: Anchors | None = None
    run: list[str] = []

    def consider(candidate: Anchors | None) -> None:
        nonlocal best
        if candidate and all(_min_ok(a) for a in candidate) and _score(candidate) > _score(best):
            best = candidate

    def flush() -> None:
        if run:
            consider(frozenset({"".join(run)}))
            run.clear()

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            if op is not _c.AT:
                flush()
            continue  # zero-width: does not break a literal run for AT, but we flush on asserts
        flush()
        if op is _c.SUBPATTERN:
            consider(_seq(av[-1]))
        elif op is _c.BRANCH:
            consider(_branch(av[1]))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            lo, _hi, body = av
            if lo >= 1:
                consider(_seq(body))
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            consider(_seq(av))
    flush()
    return best


def _branch(alternatives: Any) -> Anchors | None:
    """Every alternative must contribute an anchor, else the branch proves nothing."""
    out: set[str] = set()
    for alt in alternatives:
        sub = _seq(alt)
        if not sub:
            return None
        out |= sub
    return frozenset(out)


def required_anchors(pattern: str) -> Anchors | None:
    """A set of literals one of which every match of ``pattern`` contains, or None.

    Only exact (case-sensitive) literals are proven; patterns compiled with
    IGNORECASE are the caller's concern (ours match lower-cased text).
    """
    try:
        parsed = _p.parse(pattern)
    except Exception:
        return None
    if parsed.state.flags & _c.SRE_FLAG_IGNORECASE:
        return None
    return _seq(list(parsed))
