"""The next-steps data files and templates are complete and consistent.

A new language or country is a data change; these tests make a half-done one
fail here, with a clear message, instead of in a user's digest.
"""

from __future__ import annotations

import re
import typing

import pytest

from mailguard.config import Country, Language
from mailguard.digest import nextsteps
from mailguard.digest.render import environment

LANGS = nextsteps.available_languages()
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _strings(value: object) -> typing.Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_every_configurable_language_has_text() -> None:
    assert set(typing.get_args(Language)) <= set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_language_file_matches_english_structure(lang: str) -> None:
    en, other = nextsteps.language_data("en"), nextsteps.language_data(lang)
    for section in ("format", "categories", "steps", "blocks"):
        assert set(other[section]) == set(en[section]), section
    assert len(other["format"]["months"]) == 12
    for key, block in other["blocks"].items():
        assert block["title"] and block["lead"] and block["steps"], key
        assert set(block.get("unless", {})) == set(en["blocks"][key].get("unless", {}))


@pytest.mark.parametrize("lang", LANGS)
def test_blocks_reference_existing_steps_and_blocks(lang: str) -> None:
    data = nextsteps.language_data(lang)
    assert set(data["blocks"]) == set(nextsteps.BLOCK_ORDER)
    for key, block in data["blocks"].items():
        refs = list(block["steps"]) + [s for more in block.get("unless", {}).values() for s in more]
        assert set(refs) <= set(data["steps"]), key
        assert set(block.get("unless", {})) <= set(nextsteps.BLOCK_ORDER), key


def test_every_country_has_every_language() -> None:
    countries = nextsteps.countries_data()
    assert set(typing.get_args(Country)) <= set(countries)
    for code, per_lang in countries.items():
        assert set(per_lang) == set(LANGS), code
        for lang, data in per_lang.items():
            assert data["title"], (code, lang)
            assert data["lines"], (code, lang)
            for line in data["lines"]:
                assert line["label"] and line["note"], (code, lang, line)
            assert set(data.get("extra", {})) <= set(nextsteps.BLOCK_ORDER), (code, lang)
            known_steps = set(nextsteps.language_data(lang)["steps"])
            assert set(data.get("steps", {})) <= known_steps, (code, lang)


def test_countries_have_the_same_lines_in_every_language() -> None:
    for code, per_lang in nextsteps.countries_data().items():
        values = {lang: [line["value"] for line in d["lines"]] for lang, d in per_lang.items()}
        assert len({tuple(v) for v in values.values()}) == 1, (code, values)


def test_only_known_placeholders() -> None:
    texts = [
        s
        for lang in LANGS
        for section, value in nextsteps.language_data(lang).items()
        if section != "format"  # str.format fields, filled by render.format_datetime
        for s in _strings(value)
    ]
    texts += list(_strings(nextsteps.countries_data()))
    used = {m for t in texts for m in PLACEHOLDER.findall(t)}
    assert used <= set(nextsteps.PLACEHOLDERS)


@pytest.mark.parametrize("lang", LANGS)
def test_templates_exist_for_each_language(lang: str) -> None:
    names = set(environment().list_templates())
    for name in (f"digest.{lang}.txt.j2", f"digest.{lang}.html.j2", f"subject.{lang}.txt.j2"):
        assert name in names


def test_situations_choose_blocks() -> None:
    from datetime import UTC, datetime

    from mailguard.digest import DigestItem
    from mailguard.vocabulary import Situation

    def it(**kw: object) -> DigestItem:
        base: dict[str, object] = dict(
            id=1,
            arrived=None,
            sender_name="",
            sender_addr="",
            subject="",
            category=None,
            verdict="scam",
            reasons=(),
            folder="Q",
            original_folder="INBOX",
        )
        base.update(kw)
        return DigestItem(**base)  # type: ignore[arg-type]

    assert nextsteps.situations([]) == []
    assert nextsteps.situations([it()]) == ["other_scam"]
    assert nextsteps.situations([it(), it(category="fake_billing")]) == ["fake_billing"]
    assert nextsteps.situations([it(category="unknown-future")]) == ["other_scam"]
    assert nextsteps.situations([it(verdict="suspicious", category="fake_billing")]) == [
        "suspicious"
    ]
    court = frozenset({Situation.SUSPICIOUS, Situation.OFFICIAL_CLAIM})
    # the most urgent advice first
    assert nextsteps.situations(
        [
            it(verdict="suspicious", situations=court),
            it(category="withdrawal", contacted_on=datetime(2026, 1, 1, tzinfo=UTC)),
            it(category="fake_billing"),
        ]
    ) == ["post_contact", "court", "withdrawal", "fake_billing", "suspicious"]
