"""Choose the next-steps advice that fits what was found, from data files.

The words live in ``nextsteps/<language>.toml`` and ``nextsteps/countries.toml``
so that a new language or country is a data change. This module only decides
*which* blocks apply: a digest with one fake bill must not carry the advice for
someone who already phoned the scammer, and a message that claims to come from
a court must always carry the advice on checking a real court notice.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from mailguard.digest.model import CATEGORIES, DigestItem
from mailguard.vocabulary import Situation

# The order blocks appear in: the most urgent first. Someone who already called
# the scammer needs that advice before anything else; then the court caveat,
# then the lure and the bill, then the messages left in place.
BLOCK_ORDER = ("post_contact", "court", "withdrawal", "fake_billing", "other_scam", "suspicious")
_BLOCK_OF: dict[Situation, str] = {
    Situation.AFTER_CONTACT: "post_contact",
    Situation.OFFICIAL_CLAIM: "court",
    Situation.WITHDRAWAL_LURE: "withdrawal",
    Situation.FAKE_BILL: "fake_billing",
    Situation.SUSPICIOUS: "suspicious",
}
DEFAULT_COUNTRY = "other"
PLACEHOLDERS = ("quarantine_folder",)


@dataclass(frozen=True)
class Block:
    key: str
    title: str
    lead: tuple[str, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True)
class HelpLine:
    label: str
    value: str
    note: str
    police: bool = False  # what "contact the police (see below)" points at


@dataclass(frozen=True)
class HelpSection:
    title: str
    lines: tuple[HelpLine, ...]


def _read_toml(name: str) -> dict[str, Any]:
    path = resources.files("mailguard.digest").joinpath("nextsteps", name)
    return tomllib.loads(path.read_text(encoding="utf-8"))


@cache
def language_data(language: str) -> dict[str, Any]:
    """The parsed ``<language>.toml``; ValueError for a language we have no text for."""
    if language not in available_languages():
        raise ValueError(f"no digest text for language {language!r}")
    return _read_toml(f"{language}.toml")


@cache
def countries_data() -> dict[str, Any]:
    return _read_toml("countries.toml")


@cache
def available_languages() -> tuple[str, ...]:
    folder = resources.files("mailguard.digest").joinpath("nextsteps")
    names = (p.name for p in folder.iterdir() if p.name.endswith(".toml"))
    return tuple(sorted(n[: -len(".toml")] for n in names if n != "countries.toml"))


def resolve_country(country: str) -> str:
    """Known country code, else ``other``: a digest with general advice beats none."""
    return country if country in countries_data() else DEFAULT_COUNTRY


def category_label(category: str | None, language: str, *, quarantined: bool = True) -> str:
    """Localised category name; a suspicious message of no category is "possibly a scam"."""
    labels = language_data(language)["categories"]
    if category in CATEGORIES:
        return str(labels[category])
    return str(labels["other" if quarantined else "unsure"])


def situations(items: Iterable[DigestItem]) -> list[str]:
    """The block keys that apply to ``items``, in display order.

    Read from each item's stored situations (one derivation, in
    :mod:`mailguard.detect.situations`); the only choice made here is the
    generic block for a held scam that is neither a bill nor a lure.
    """
    found: set[str] = set()
    for item in items:
        keys = {_BLOCK_OF[s] for s in item.situations if s in _BLOCK_OF}
        if item.quarantined and not keys & {"fake_billing", "withdrawal"}:
            keys.add("other_scam")
        if not item.quarantined:
            keys &= {"suspicious", "post_contact", "court"}
            keys.add("suspicious")
        found |= keys
    if found & {"fake_billing", "withdrawal"}:
        found.discard("other_scam")  # the specific block says the same and more
    return [k for k in BLOCK_ORDER if k in found]


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders. Not str.format: data text may contain braces."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def blocks(
    keys: Sequence[str], language: str, country: str, values: Mapping[str, str]
) -> list[Block]:
    """Build the blocks; a step already shown in an earlier block is not repeated.

    A country may reword a step (Japan's court papers come by 特別送達) and add
    steps of its own at the end of a block.
    """
    data = language_data(language)
    local = countries_data()[resolve_country(country)][language]
    extra, wording = local.get("extra", {}), {**data["steps"], **local.get("steps", {})}
    shown: set[str] = set()
    out: list[Block] = []
    for key in keys:
        spec = data["blocks"][key]
        step_keys = list(spec["steps"])
        for other, more in spec.get("unless", {}).items():
            if other not in keys:
                step_keys.extend(more)
        steps: list[str] = []
        for step in step_keys:
            if step not in shown:
                shown.add(step)
                steps.append(fill(wording[step], values))
        steps.extend(fill(s, values) for s in extra.get(key, ()))
        out.append(
            Block(
                key=key,
                title=fill(spec["title"], values),
                lead=tuple(fill(p, values) for p in spec["lead"]),
                steps=tuple(steps),
            )
        )
    return out


def help_section(language: str, country: str) -> HelpSection:
    data = countries_data()[resolve_country(country)][language]
    return HelpSection(
        title=data["title"],
        lines=tuple(
            HelpLine(
                label=line["label"],
                value=line.get("value", ""),
                note=line.get("note", ""),
                police=bool(line.get("police", False)),
            )
            for line in data["lines"]
        ),
    )
