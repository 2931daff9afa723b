"""Loading and validating the rule data in ``detect/rules/*.toml``.

Rules are data so that adding a phrase is a data change, reviewed like text,
not code. Because a broken rule file would silently weaken a security tool,
everything is checked at load time and every problem is reported at once,
naming the file, the rule id and the key: unknown keys, families, features or
macros, regexes that do not compile, missing descriptions, duplicate ids,
combos that refer to nothing.

Checking happens in two layers, like the config (``mailguard.config``):

1. *Shape*: each table is validated by a pydantic model with
   ``extra="forbid"`` and strict types (:class:`RuleSpec`, :class:`ComboSpec`,
   :class:`FamilySpec` ...), so a typo such as ``phrase =`` or
   ``weight = "2"`` is an error, not a silently ignored key.
2. *Meaning*: references across files (families, macros, rule ids in
   combos, feature names and their params) and regex compilation, done by
   small functions after every file has been read.

File layout (all tables optional, merged across files)::

    [meta]            lang = "ja" | "en"       # default language of text rules
    [scoring]         scam_min_families = 3 ...
    [family.NAME]     max_hits, decay, category, quote_trigger, description
    [macros]          phone = '...'            # used in regexes as <<phone>>
    [sets]            freemail = [...]         # word lists for feature functions
    [brand.KEY]       names = [...], domains = [...]
    [[rule]]          id, family, weight, description.{ja,en}, and one of
                      phrases/regex (+ scope, lang), header + regex, feature + params;
                      optional examples.hit / examples.miss (texts the rule must /
                      must not fire on, run by tests/unit/test_rule_examples.py)
    [[combo]]         id, weight (or scale), description, all/any/none (families or rule ids)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from mailguard.vocabulary import Category

RULE_ID_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MACRO_RE = re.compile(r"<<([a-z_]+)>>")
SCOPES = ("text", "subject", "from")
LANGS = ("ja", "en")
CATEGORIES = (Category.FAKE_BILLING.value, Category.WITHDRAWAL.value, "")


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
    # A hit is independent evidence on its own (a sender that is not who it claims, an
    # instruction only fraud gives): then a scam verdict needs ``lowered_min_families``
    # families (see [scoring]).
    lowers_gate: bool = False
    # A negative hit is legitimate evidence and caps the text model's reading (see
    # Blend.legit_cap) unless this is false: words the scam itself uses as bait (the
    # second-stage "we recover what 架空請求 took from you") lower the score but do
    # not make the whole text a mention.
    caps_model: bool = True
    # An occurrence a negation governs does not count ("this account has not been
    # sent to a collection agency", "we are not a debt collector"): genuine dunning
    # and warnings say what will *not* happen in the scam's own words (English only;
    # see matchers.negated).
    negatable: bool = False
    # Regression examples kept beside the rule (SpamAssassin style): texts it
    # must fire on, and near-misses it must not fire on.
    examples_hit: tuple[str, ...] = ()
    examples_miss: tuple[str, ...] = ()

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
    # As Rule.caps_model: a negative combo is legitimate evidence that caps the text
    # model unless this is false.
    caps_model: bool = True


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


# --- the schema (shape only; cross references are checked afterwards) ---------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Phrases keep their exact spelling (an English phrase may start with a space on purpose).
Phrase = Annotated[str, AfterValidator(_not_blank)]
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID_RE.pattern)]
Weight = Annotated[float, Field(ge=-20, le=20)]
CategoryName = Literal["fake_billing", "withdrawal", ""]


class _Spec(BaseModel):
    """Strict and closed: an unknown key or a string where a number belongs is an error.

    ``strict`` keeps TOML's types honest (``weight = "2"`` or ``weight = true``
    would otherwise be coerced), while ints are still accepted for floats.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Description(_Spec):
    """Both languages are required: the digest explains every reason to the user."""

    ja: NonEmpty
    en: NonEmpty


class Examples(_Spec):
    hit: list[NonEmpty] = []
    miss: list[NonEmpty] = []


class MetaSpec(_Spec):
    lang: Literal["ja", "en"] = "en"


class FamilySpec(_Spec):
    max_hits: int = Field(default=2, ge=1)
    decay: float = Field(default=0.5, ge=0, le=1)
    category: CategoryName = ""
    description: str = ""
    quote_trigger: bool = False


class BrandSpec(_Spec):
    names: list[NonEmpty] = Field(min_length=1)
    domains: list[NonEmpty] = Field(min_length=1)


class RuleSpec(_Spec):
    """One ``[[rule]]`` table. Exactly one matcher kind: text, header or feature."""

    id: RuleId
    family: str
    weight: Weight
    description: Description
    lang: Literal["ja", "en"] | None = None
    scope: Literal["text", "subject", "from"] = "text"
    phrases: list[Phrase] = []
    regex: list[Annotated[str, StringConstraints(min_length=1)]] = []
    header: str = ""
    feature: str = ""
    params: dict[str, Any] = {}
    min_prior_score: float | None = None
    lowers_gate: bool = False
    caps_model: bool = True
    negatable: bool = False
    examples: Examples = Examples()

    @model_validator(mode="before")
    @classmethod
    def _regex_may_be_one_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("regex"), str):
            return {**data, "regex": [data["regex"]]}
        return data

    @model_validator(mode="after")
    def _one_matcher_kind(self) -> RuleSpec:
        if self.header:
            if self.phrases or self.feature or not self.regex:
                raise ValueError("a header rule takes a regex and nothing else")
        elif self.feature:
            if self.phrases or self.regex:
                raise ValueError("a feature rule takes params, not phrases or regex")
        elif not (self.phrases or self.regex):
            raise ValueError("needs one of phrases/regex, header (+ regex) or feature")
        return self


class ComboSpec(_Spec):
    """One ``[[combo]]`` table: a fixed ``weight`` or a ``scale`` of the rest, not both."""

    id: RuleId
    weight: Weight | None = None
    scale: float | None = Field(default=None, ge=-1, le=1)
    description: Description
    all: list[str] = []
    any: list[str] = []
    none: list[str] = []
    family: str = "combo"
    category: CategoryName = ""
    caps_model: bool = True

    @model_validator(mode="after")
    def _weight_or_scale(self) -> ComboSpec:
        if self.scale is not None and self.weight is not None:
            raise ValueError("set weight or scale, not both")
        if self.scale is None and self.weight is None:
            raise ValueError("needs a weight (or a scale)")
        if not self.all and not self.any:
            raise ValueError("needs an 'all' or 'any' list")
        return self


class RuleFileSpec(_Spec):
    """The top level of one rule file. Rules and combos are validated one by one
    (so that every error names its rule id), hence ``list[dict]`` here."""

    meta: MetaSpec = MetaSpec()
    scoring: dict[str, float] = {}
    family: dict[str, FamilySpec] = {}
    macros: dict[str, str] = {}
    sets: dict[str, list[str]] = {}
    brand: dict[str, BrandSpec] = {}
    rule: list[dict[str, Any]] = []
    combo: list[dict[str, Any]] = []


def _key(loc: tuple[Any, ...]) -> str:
    """``('description', 'en')`` -> ``description.en``; list indexes as ``[i]``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + str(part)
    return key


def _format_errors(where: str, err: ValidationError) -> list[str]:
    """One line per problem, ``<where>: <key>: <message>``; bad values are not echoed."""
    lines: list[str] = []
    for e in err.errors(include_input=False, include_url=False):
        etype = e.get("type", "")
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if etype == "extra_forbidden":
            msg = "unknown key"
        elif etype == "missing":
            msg = "missing required key"
        key = _key(tuple(e.get("loc", ())))
        lines.append(f"{where}: {key}: {msg}" if key else f"{where}: {msg}")
    return lines


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, where: str, problems: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems.extend(_format_errors(where, err))
        return None


# --- loading -------------------------------------------------------------------------------


def default_rule_files() -> list[Path]:
    """The TOML files shipped inside the package, in a stable order."""
    folder = resources.files("mailguard.detect") / "rules"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


FeatureChecker = Callable[[str, Mapping[str, Any]], str | None]


def load_rules(
    paths: Iterable[Path] | None = None,
    *,
    feature_names: Iterable[str] | None = None,
    feature_checker: FeatureChecker | None = None,
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
    checker = feature_checker or _names_checker(set(feature_names or ()))
    return _build(docs, problems, checker)


def _names_checker(names: set[str]) -> FeatureChecker:
    """Without the registry's checker, at least check feature names (if given)."""

    def check(name: str, params: Mapping[str, Any]) -> str | None:
        return f"unknown feature {name!r}" if names and name not in names else None

    return check


@dataclass
class _Shared:
    """The tables every rule may refer to, merged across files."""

    families: dict[str, Family] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    brands: dict[str, Brand] = field(default_factory=dict)
    scoring: dict[str, float] = field(default_factory=dict)


def _build(
    docs: list[tuple[str, dict[str, Any]]],
    problems: list[str],
    checker: FeatureChecker,
) -> RuleSet:
    files = [(src, _file_spec(src, doc, problems)) for src, doc in docs]

    shared = _Shared()
    for src, spec in files:
        _merge_shared(src, spec, shared, problems)

    seen: dict[str, str] = {}
    rules: list[Rule] = []
    for src, spec in files:
        for i, raw in enumerate(spec.rule):
            rule = _rule(src, i, raw, spec.meta.lang, shared, checker, problems)
            if rule is not None and _unique(src, "rule", rule.id, seen, problems):
                rules.append(rule)

    combos: list[Combo] = []
    for src, spec in files:
        for i, raw in enumerate(spec.combo):
            combo = _combo(src, i, raw, shared.families, seen, problems)
            if combo is not None and _unique(src, "combo", combo.id, seen, problems):
                combos.append(combo)

    if problems:
        raise RuleError(problems)
    return RuleSet(
        rules=tuple(rules),
        combos=tuple(combos),
        families=shared.families,
        brands=tuple(shared.brands.values()),
        sets=shared.sets,
        scoring=shared.scoring,
    )


def _file_spec(src: str, doc: dict[str, Any], problems: list[str]) -> RuleFileSpec:
    """Validate one file; on errors keep every entry that is valid on its own.

    One bad family or brand must not hide the file's rules from checking (their
    own errors would go unreported) nor make every rule of that file's other
    families fail as "unknown family".
    """
    try:
        return RuleFileSpec.model_validate(doc)
    except ValidationError as err:
        problems.extend(_format_errors(src, err))
    good: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in RuleFileSpec.model_fields:
            continue
        if isinstance(value, dict) and key not in ("meta",):
            good[key] = {k: v for k, v in value.items() if _valid_part(key, {k: v})}
        elif _valid_part(key, value):
            good[key] = value
    return RuleFileSpec.model_validate(good)


def _valid_part(key: str, value: Any) -> bool:
    try:
        RuleFileSpec.model_validate({key: value})
    except ValidationError:
        return False
    return True


def _unique(src: str, what: str, item_id: str, seen: dict[str, str], problems: list[str]) -> bool:
    """Ids are unique across rules *and* combos: a combo may name either."""
    if item_id in seen:
        problems.append(f"{src}: {what} id {item_id!r} already defined in {seen[item_id]}")
        return False
    seen[item_id] = src
    return True


def _merge_shared(src: str, spec: RuleFileSpec, shared: _Shared, problems: list[str]) -> None:
    for name, fam in spec.family.items():
        if not NAME_RE.match(name):
            problems.append(f"{src}: family.{name}: bad family name")
            continue
        if name in shared.families:
            problems.append(f"{src}: family {name!r} defined twice")
        shared.families[name] = Family(
            name, fam.max_hits, float(fam.decay), fam.category, fam.quote_trigger
        )
    shared.macros.update(spec.macros)
    for name, words in spec.sets.items():
        shared.sets[name] = frozenset(v.lower() for v in words)
    for key, brand in spec.brand.items():
        shared.brands[key] = Brand(
            key,
            tuple(n.lower() for n in brand.names),
            frozenset(d.lower() for d in brand.domains),
        )
    shared.scoring.update({k: float(v) for k, v in spec.scoring.items()})


def expand_macros(pattern: str, macros: Mapping[str, str]) -> str:
    """Replace ``<<name>>`` by the macro's regex (wrapped in a non-capturing group)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise KeyError(name)
        return "(?:" + expand_macros(macros[name], macros) + ")"

    return MACRO_RE.sub(sub, pattern)


def _where(src: str, kind: str, index: int, raw: Any) -> str:
    """``ja.toml: rule ja.debt.unpaid`` (or ``rule #3`` when the id itself is unusable)."""
    rid = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(rid, str) and RULE_ID_RE.match(rid):
        return f"{src}: {kind} {rid}"
    return f"{src}: {kind} #{index + 1}"


def _rule(
    src: str,
    index: int,
    raw: dict[str, Any],
    default_lang: str,
    shared: _Shared,
    checker: FeatureChecker,
    problems: list[str],
) -> Rule | None:
    where = _where(src, "rule", index, raw)
    spec = _validate(RuleSpec, raw, where, problems)
    if spec is None:
        return None
    before = len(problems)
    if spec.family not in shared.families:
        problems.append(f"{where}: family: unknown family {spec.family!r}")
    compiled = _compile(where, spec.regex, shared.macros, problems)
    if spec.feature:
        err = checker(spec.feature, spec.params)
        if err:
            problems.append(f"{where}: feature: {err}")
    if spec.negatable and (spec.header or spec.feature or (spec.lang or default_lang) != "en"):
        # A Japanese negation follows its verb (〜ことはございません): see ja.visit.investigation.
        problems.append(f"{where}: negatable: only for English text rules")
    if len(problems) > before:
        return None
    return Rule(
        id=spec.id,
        family=spec.family,
        weight=float(spec.weight),
        description_ja=spec.description.ja,
        description_en=spec.description.en,
        source=src,
        lang=spec.lang or default_lang,
        scope=spec.scope,
        phrases=tuple(p.lower() for p in spec.phrases),
        regexes=tuple(compiled),
        header=spec.header.lower(),
        feature=spec.feature,
        params=spec.params,
        min_prior_score=float(spec.min_prior_score) if spec.min_prior_score is not None else None,
        lowers_gate=spec.lowers_gate,
        caps_model=spec.caps_model,
        negatable=spec.negatable,
        examples_hit=tuple(spec.examples.hit),
        examples_miss=tuple(spec.examples.miss),
    )


def _compile(
    where: str, patterns: list[str], macros: Mapping[str, str], problems: list[str]
) -> list[re.Pattern[str]]:
    """Expand macros and compile; a regex that matches empty text would fire on every mail."""
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        try:
            rx = re.compile(expand_macros(pattern, macros))
        except KeyError as exc:
            problems.append(f"{where}: regex: unknown macro <<{exc.args[0]}>> in {pattern!r}")
            continue
        except re.error as exc:
            problems.append(f"{where}: regex: bad regex {pattern!r}: {exc}")
            continue
        if rx.search("") is not None:
            problems.append(f"{where}: regex: {pattern!r} matches empty text")
            continue
        compiled.append(rx)
    return compiled


def _combo(
    src: str,
    index: int,
    raw: dict[str, Any],
    families: Mapping[str, Family],
    rule_ids: Mapping[str, str],
    problems: list[str],
) -> Combo | None:
    where = _where(src, "combo", index, raw)
    spec = _validate(ComboSpec, raw, where, problems)
    if spec is None:
        return None
    before = len(problems)
    if spec.family not in families:
        problems.append(f"{where}: family: unknown family {spec.family!r}")
    for key, refs in (("all", spec.all), ("any", spec.any), ("none", spec.none)):
        for ref in refs:
            if "." in ref and ref not in rule_ids:
                problems.append(f"{where}: {key}: refers to unknown rule {ref!r}")
            elif "." not in ref and ref not in families:
                problems.append(f"{where}: {key}: refers to unknown family {ref!r}")
    if len(problems) > before:
        return None
    return Combo(
        id=spec.id,
        weight=float(spec.weight) if spec.weight is not None else 0.0,
        description_ja=spec.description.ja,
        description_en=spec.description.en,
        source=src,
        all=tuple(spec.all),
        any=tuple(spec.any),
        none=tuple(spec.none),
        family=spec.family,
        category=spec.category,
        scale=float(spec.scale) if spec.scale is not None else None,
        caps_model=spec.caps_model,
    )
