"""Fixture spec files: the format round-trips and bad files fail with the file's name.

The byte-for-byte check of every fixture against the .eml files on disk lives
in tests/fixtures/mail/test_mail_fixtures_integrity.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.testing import fixturemail as fm

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "tests" / "fixtures" / "mail" / "specs").rglob("*" + fm.SUFFIX))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_round_trips(path: Path) -> None:
    """Writing a loaded spec gives the same text back: the format loses nothing and
    a spec edited by hand keeps its shape when a tool rewrites it."""
    mail = fm.load_fixture(path)
    pdfs = {}
    for part in _walk(mail.body):
        if isinstance(part, fm.Binary) and part.ctype == "application/pdf":
            pdfs[part.data] = _pdf_source(path, part.filename)
    assert fm.dump_spec(mail, pdfs) == path.read_text(encoding="utf-8")


def _walk(p: fm.Part):
    yield p
    if isinstance(p, fm.Multi):
        for sub in p.parts:
            yield from _walk(sub)


def _pdf_source(path: Path, filename: str) -> tuple[list[tuple[int, str]], str, bool]:
    import json

    text = path.read_text(encoding="utf-8")
    for block in text.split("\n" + fm.MARK)[1:]:
        marker, _, content = block.partition("\n")
        if marker.startswith("{") and json.loads(marker).get("filename") == filename:
            head = json.loads(marker)
            lines = [(int(s), t) for s, _, t in (ln.partition("\t") for ln in
                                                 content.rstrip("\n").split("\n"))]
            return lines, head["title"], head["japanese"]
    raise AssertionError(filename)


GOOD = """\
path: ja/99_x.eml
label: ham
category:
kind: personal
date: 2024-05-13T01:58:41+09:00
from: 花子 <hanako@example.ne.jp>
subject: テスト
%% {"part": "text"}
本文です。
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "specs" / "ja" / ("99_x" + fm.SUFFIX)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_spec_renders(tmp_path: Path) -> None:
    mail = fm.load_fixture(_write(tmp_path, GOOD))
    wire = fm.render(mail)
    assert b"=?ISO-2022-JP?B?" in wire and wire.endswith(b"\r\n")
    assert fm.all_mails(tmp_path)[0].path == "ja/99_x.eml"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD.replace("kind: personal", "colour: red"), "unknown key"),
        (GOOD.replace('%% {"part": "text"}\n', ""), "no part"),
        (GOOD.replace('{"part": "text"}', '{"part": "multi", "subtype": "mixed"}'), "end"),
        (GOOD.replace("from: 花子 <hanako@example.ne.jp>", "from: nobody"), "Name <addr>"),
    ],
)
def test_bad_spec_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(fm.FixtureSpecError) as err:
        fm.load_fixture(path)
    assert str(path) in str(err.value) and problem in str(err.value)
