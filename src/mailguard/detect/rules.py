"""Loading and validating the rule data in ``detect/rules/*.toml``.

Rules are data so that adding a phrase is a data change, reviewed like text,
not code. Because a broken rule file would silently weaken a security tool,
everything is checked at load time and every problem is reported at once,
with the file and rule id: unknown families, features or macros, regexes
that do not compile, missing descriptions, duplicate ids, combos that refer
to nothing.

File layout (all tables optional, merged across files)::

    [meta]            lang = "ja" | "en"       # default language of text rules
    [scoring]         scam_min_families = 3 ...
    [family.NAME]     max_hits, decay, category, sign
    [macros]          phone = '...'            # used in regexes as <<phone>>
    [sets]            freemail = [...]         # word lists for feature functions
    [brand.KEY]       names = [...], domains = [...]
    [[rule]]          id, family, weight, description.{ja,en}, and one of
                      phrases/regex (+ scope, lang), header + regex, feature + params
    [[combo]]         id, weight (or scale), description, all/any/none (families or rule ids)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mailguard.detect.verdict import FAKE_BILLING, WITHDRAWAL

RULE_ID_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MACRO_RE = re.compile(r"<<([a-z_]+)>>")
SCOPES = ("text", "subject", "from")
LANGS = ("ja", "en")
CATEGORIES = (FAKE_BILLING, WITHDRAWAL, "")


class RuleError(ValueError):
    """Raised with every problem found in the rule data, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid detection rules:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Family:
    """How hits of one family add up: only the strongest ``max_hits`` count,
    each next one multiplied by ``decay``, so ten synonyms of "unpaid" weigh
    little more than one."""

    name: str
    max_hits: int = 2
    decay: float = 0.5
    category: str = ""  # which scam category this family is evidence for
    # A hit in this family (talk *about* scams) makes the engine discount text
    # hits that only occur inside quotations: mention, not use.
    quote_trigger: bool = False


@dataclass(frozen=True)
class Brand:
    key: str
    names: tuple[str, ...]
    domains: frozenset[str]


@dataclass(frozen=True)
class Rule:
    """One named, weighted, described signal. Exactly one kind of matcher is set."""

    id: str
    family: str
    weight: float
    description_ja: str
    description_en: str
    source: str
    lang: str = "en"
    scope: str = "text"
    phrases: tuple[str, ...] = ()
    regexes: tuple[re.Pattern[str], ...] = ()
    header: str = ""
    feature: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    min_prior_score: float | None = None

    @property
    def kind(self) -> str:
        if self.feature:
            return "feature"
        if self.header:
            return "header"
        return "text"


@dataclass(frozen=True)
class Combo:
    """A bonus when families (or specific rules) occur together.

    Scams are recognised by *combinations*: an amount and a due date are in
    every real invoice, an amount, a phone number to call and a sender that
    is not the brand are not.
    """

    id: str
    weight: float
    description_ja: str
    description_en: str
    source: str
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    family: str = "combo"
    category: str = ""
    # When set (instead of a fixed weight), the combo is worth ``scale`` times the
    # positive score of everything else: "quoted in a scam warning" must cancel
    # most of whatever the quoted scam text scored, however much that is.
    scale: float | None = None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    combos: tuple[Combo, ...]
    families: Mapping[str, Family]
    brands: tuple[Brand, ...]
    sets: Mapping[str, frozenset[str]]
    scoring: Mapping[str, float]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def default_rule_files() -> list[Path]:
    """The TOML files shipped inside the package, in a stable order."""
    folder = resources.files("mailguard.detect") / "rules"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


def load_rules(
    paths: Iterable[Path] | None = None,
    *,
    feature_names: Iterable[str] | None = None,
    feature_checker: Callable[[str, Mapping[str, Any]], str | None] | None = None,
) -> RuleSet:
    """Read, merge and validate rule files; raise :class:`RuleError` listing every problem.

    ``feature_checker(name, params)`` returns an error message for a feature
    reference it cannot build (unknown name or bad parameters); the engine
    passes the feature registry's checker so this module does not import it.
    """
    files = list(paths) if paths is not None else default_rule_files()
    docs: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for path in files:
        try:
            with open(path, "rb") as fh:
                docs.append((path.name, tomllib.load(fh)))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path.name}: cannot read: {exc}")
    if not docs and not problems:
        problems.append("no rule files found")
    if problems:
        raise RuleError(problems)
    return _build(docs, problems, set(feature_names or ()), feature_checker)


def _build(
    docs: list[tuple[str, dict[str, Any]]],
    problems: list[str],
    feature_names: set[str],
    feature_checker: Callable[[str, Mapping[str, Any]], str | None] | None,
) -> RuleSet:
    families: dict[str, Family] = {}
    macros: dict[str, str] = {}
    sets: dict[str, frozenset[str]] = {}
    brands: dict[str, Brand] = {}
    scoring: dict[str, float] = {}
    known_top = {"meta", "scoring", "family", "macros", "sets", "brand", "rule", "combo"}

    # Pass 1: the shared tables every rule may refer to.
    for src, doc in docs:
        for key in doc:
            if key not in known_top:
                problems.append(f"{src}: unknown top-level table [{key}]")
        for name, spec in doc.get("family", {}).items():
            fam = _family(src, name, spec, problems)
            if fam:
                if name in families:
                    problems.append(f"{src}: family {name!r} defined twice")
                families[name] = fam
        for name, value in doc.get("macros", {}).items():
            if not isinstance(value, str):
                problems.append(f"{src}: macro {name!r} must be a string")
                continue
            macros[name] = value
        for name, value in doc.get("sets", {}).items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{src}: set {name!r} must be a list of strings")
                continue
            sets[name] = frozenset(v.lower() for v in value)
        for key, spec in doc.get("brand", {}).items():
            names, domains = spec.get("names"), spec.get("domains")
            if not (_str_list(names) and _str_list(domains)):
                problems.append(f"{src}: brand {key!r} needs non-empty names and domains lists")
                continue
            brands[key] = Brand(
                key, tuple(n.lower() for n in names), frozenset(d.lower() for d in domains)
            )
        for key, value in doc.get("scoring", {}).items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"{src}: scoring.{key} must be a number")
                continue
            scoring[key] = float(value)

    # Pass 2: rules and combos.
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for src, doc in docs:
        default_lang = doc.get("meta", {}).get("lang", "en")
        if default_lang not in LANGS:
            problems.append(f"{src}: meta.lang must be one of {LANGS}")
            default_lang = "en"
        for i, spec in enumerate(doc.get("rule", [])):
            rule = _rule(src, i, spec, default_lang, families, macros, problems)
            if rule is None:
                continue
            if rule.id in seen:
                problems.append(f"{src}: rule id {rule.id!r} already defined in {seen[rule.id]}")
                continue
            if rule.feature:
                err = None
                if feature_checker is not None:
                    err = feature_checker(rule.feature, rule.params)
                elif feature_names and rule.feature not in feature_names:
                    err = f"unknown feature {rule.feature!r}"
                if err:
                    problems.append(f"{src}: rule {rule.id}: {err}")
                    continue
            seen[rule.id] = src
            rules.append(rule)

    combos: list[Combo] = []
    for src, doc in docs:
        for i, spec in enumerate(doc.get("combo", [])):
            combo = _combo(src, i, spec, families, seen, problems)
            if combo is None:
                continue
            if combo.id in seen:
                problems.append(f"{src}: combo id {combo.id!r} already defined in {seen[combo.id]}")
                continue
            seen[combo.id] = src
            combos.append(combo)

    if problems:
        raise RuleError(problems)
    return RuleSet(
        rules=tuple(rules),
        combos=tuple(combos),
        families=families,
        brands=tuple(brands.values()),
        sets=sets,
        scoring=scoring,
    )


def _str_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v.strip() for v in value)
    )


def _family(src: str, name: str, spec: Any, problems: list[str]) -> Family | None:
    if not NAME_RE.match(name) or not isinstance(spec, dict):
        problems.append(f"{src}: bad family {name!r}")
        return None
    unknown = set(spec) - {"max_hits", "decay", "category", "description", "quote_trigger"}
    if unknown:
        problems.append(f"{src}: family {name!r}: unknown keys {sorted(unknown)}")
    max_hits = spec.get("max_hits", 2)
    decay = spec.get("decay", 0.5)
    category = spec.get("category", "")
    if not isinstance(max_hits, int) or max_hits < 1:
        problems.append(f"{src}: family {name!r}: max_hits must be an integer >= 1")
        return None
    if not isinstance(decay, int | float) or not 0 <= decay <= 1:
        problems.append(f"{src}: family {name!r}: decay must be between 0 and 1")
        return None
    if category not in CATEGORIES:
        problems.append(f"{src}: family {name!r}: category must be one of {CATEGORIES}")
        return None
    quote_trigger = spec.get("quote_trigger", False)
    if not isinstance(quote_trigger, bool):
        problems.append(f"{src}: family {name!r}: quote_trigger must be true or false")
        return None
    return Family(name, max_hits, float(decay), category, quote_trigger)


def _descriptions(src: str, rid: str, spec: dict[str, Any], problems: list[str]) -> tuple[str, str]:
    desc = spec.get("description")
    if not isinstance(desc, dict):
        problems.append(f"{src}: {rid}: missing description.ja and description.en")
        return "", ""
    ja, en = desc.get("ja"), desc.get("en")
    for lang, text in (("ja", ja), ("en", en)):
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{src}: {rid}: missing description.{lang}")
    return (ja or "").strip() if isinstance(ja, str) else "", (
        (en or "").strip() if isinstance(en, str) else ""
    )


def _weight(src: str, rid: str, spec: dict[str, Any], problems: list[str]) -> float | None:
    w = spec.get("weight")
    if not isinstance(w, int | float) or isinstance(w, bool):
        problems.append(f"{src}: {rid}: weight must be a number")
        return None
    if abs(w) > 20:
        problems.append(f"{src}: {rid}: weight {w} is out of range (-20..20)")
        return None
    return float(w)


def expand_macros(pattern: str, macros: Mapping[str, str]) -> str:
    """Replace ``<<name>>`` by the macro's regex (wrapped in a non-capturing group)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise KeyError(name)
        return "(?:" + expand_macros(macros[name], macros) + ")"

    return MACRO_RE.sub(sub, pattern)


_RULE_KEYS = {
    "id",
    "family",
    "weight",
    "description",
    "lang",
    "scope",
    "phrases",
    "regex",
    "header",
    "feature",
    "params",
    "min_prior_score",
}


def _rule(
    src: str,
    index: int,
    spec: Any,
    default_lang: str,
    families: Mapping[str, Family],
    macros: Mapping[str, str],
    problems: list[str],
) -> Rule | None:
    if not isinstance(spec, dict):
        problems.append(f"{src}: rule #{index + 1} is not a table")
        return None
    rid = spec.get("id")
    if not isinstance(rid, str) or not RULE_ID_RE.match(rid):
        problems.append(f"{src}: rule #{index + 1}: id {rid!r} must look like 'ja.debt.unpaid'")
        return None
    before = len(problems)
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        problems.append(f"{src}: {rid}: unknown keys {sorted(unknown)}")
    family = spec.get("family")
    if family not in families:
        problems.append(f"{src}: {rid}: unknown family {family!r}")
    weight = _weight(src, rid, spec, problems)
    ja, en = _descriptions(src, rid, spec, problems)
    lang = spec.get("lang", default_lang)
    if lang not in LANGS:
        problems.append(f"{src}: {rid}: lang must be one of {LANGS}")
    scope = spec.get("scope", "text")
    if scope not in SCOPES:
        problems.append(f"{src}: {rid}: scope must be one of {SCOPES}")

    phrases = spec.get("phrases", [])
    regex_src = spec.get("regex", [])
    if isinstance(regex_src, str):
        regex_src = [regex_src]
    header = spec.get("header", "")
    feature = spec.get("feature", "")
    params = spec.get("params", {})
    if header:
        if phrases or feature or not regex_src:
            problems.append(f"{src}: {rid}: a header rule takes a regex and nothing else")
    elif feature:
        if phrases or regex_src:
            problems.append(f"{src}: {rid}: a feature rule takes params, not phrases or regex")
    elif not (phrases or regex_src):
        problems.append(f"{src}: {rid}: needs one of phrases/regex, header (+ regex) or feature")
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        problems.append(f"{src}: {rid}: phrases must be a list of non-empty strings")
        phrases = []
    if not isinstance(params, dict):
        problems.append(f"{src}: {rid}: params must be a table")
        params = {}
    compiled: list[re.Pattern[str]] = []
    for pattern in regex_src if isinstance(regex_src, list) else []:
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"{src}: {rid}: regex must be a non-empty string")
            continue
        try:
            compiled.append(re.compile(expand_macros(pattern, macros)))
        except KeyError as exc:
            problems.append(f"{src}: {rid}: unknown macro <<{exc.args[0]}>> in {pattern!r}")
        except re.error as exc:
            problems.append(f"{src}: {rid}: bad regex {pattern!r}: {exc}")
    for pattern in compiled:
        if pattern.search("") is not None:
            problems.append(f"{src}: {rid}: regex {pattern.pattern!r} matches empty text")
    mps = spec.get("min_prior_score")
    if mps is not None and (not isinstance(mps, int | float) or isinstance(mps, bool)):
        problems.append(f"{src}: {rid}: min_prior_score must be a number")
    if len(problems) > before or weight is None:
        return None
    return Rule(
        id=rid,
        family=str(family),  # checked above: one of the declared families
        weight=weight,
        description_ja=ja,
        description_en=en,
        source=src,
        lang=lang,
        scope=scope,
        phrases=tuple(p.lower() for p in phrases),
        regexes=tuple(compiled),
        header=header.lower() if isinstance(header, str) else "",
        feature=feature if isinstance(feature, str) else "",
        params=params,
        min_prior_score=float(mps) if mps is not None else None,
    )


_COMBO_KEYS = {"id", "weight", "scale", "description", "all", "any", "none", "family", "category"}


def _combo(
    src: str,
    index: int,
    spec: Any,
    families: Mapping[str, Family],
    rule_ids: Mapping[str, str],
    problems: list[str],
) -> Combo | None:
    if not isinstance(spec, dict):
        problems.append(f"{src}: combo #{index + 1} is not a table")
        return None
    cid = spec.get("id")
    if not isinstance(cid, str) or not RULE_ID_RE.match(cid):
        problems.append(f"{src}: combo #{index + 1}: bad id {cid!r}")
        return None
    before = len(problems)
    unknown = set(spec) - _COMBO_KEYS
    if unknown:
        problems.append(f"{src}: {cid}: unknown keys {sorted(unknown)}")
    scale = spec.get("scale")
    if scale is not None:
        if "weight" in spec:
            problems.append(f"{src}: {cid}: set weight or scale, not both")
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not -1 <= scale <= 1:
            problems.append(f"{src}: {cid}: scale must be a number between -1 and 1")
            scale = None
        weight: float | None = 0.0
    else:
        weight = _weight(src, cid, spec, problems)
    ja, en = _descriptions(src, cid, spec, problems)
    family = spec.get("family", "combo")
    if family not in families:
        problems.append(f"{src}: {cid}: unknown family {family!r}")
    category = spec.get("category", "")
    if category not in CATEGORIES:
        problems.append(f"{src}: {cid}: category must be one of {CATEGORIES}")
    groups: dict[str, tuple[str, ...]] = {}
    for key in ("all", "any", "none"):
        refs = spec.get(key, [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            problems.append(f"{src}: {cid}: {key} must be a list of family names or rule ids")
            refs = []
        for ref in refs:
            if "." in ref:
                if ref not in rule_ids:
                    problems.append(f"{src}: {cid}: {key} refers to unknown rule {ref!r}")
            elif ref not in families:
                problems.append(f"{src}: {cid}: {key} refers to unknown family {ref!r}")
        groups[key] = tuple(refs)
    if not groups.get("all") and not groups.get("any"):
        problems.append(f"{src}: {cid}: needs an 'all' or 'any' list")
    if len(problems) > before or weight is None:
        return None
    return Combo(
        id=cid,
        weight=weight,
        description_ja=ja,
        description_en=en,
        source=src,
        all=groups["all"],
        any=groups["any"],
        none=groups["none"],
        family=family,
        category=category,
        scale=float(scale) if scale is not None else None,
    )
