"""Every message of the shared real-mail corpus parses cleanly (skipped when it is absent).

The corpus lives beside the project at ``../shared/corpus`` and is never copied
into the repository. "Cleanly" means: no exception escapes (parse_message
promises that for any input), no part had to be given up on, and the derived
features that detection reads can all be computed.
"""

from __future__ import annotations

import email
from email import policy
from email.message import Message
from pathlib import Path

import pytest

from mailguard.parse import ParsedMessage, parse_message
from mailguard.parse.split import split_message

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
LABELS = CORPUS / "labels.tsv"


@pytest.fixture(scope="module")
def parsed() -> list[tuple[str, ParsedMessage]]:
    if not LABELS.is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    out = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        rel = line.split("\t", 1)[0].strip()
        if rel and (CORPUS / rel).is_file():
            out.append((rel, parse_message((CORPUS / rel).read_bytes())))
    return out


def test_every_message_parses_without_giving_up(parsed: list[tuple[str, ParsedMessage]]) -> None:
    assert len(parsed) > 2000
    broken = [
        (path, d)
        for path, msg in parsed
        for d in msg.defects
        if d.startswith(("parse:error", "part:error", "header:error", "charset:error"))
    ]
    assert broken == []


def test_features_are_computable_for_every_message(
    parsed: list[tuple[str, ParsedMessage]],
) -> None:
    for path, msg in parsed:
        assert isinstance(msg.normalized, str), path
        assert isinstance(msg.urls, tuple), path
        assert isinstance(msg.phones, tuple), path
        assert isinstance(msg.amounts, tuple), path


def test_no_undecoded_iso2022jp_and_every_sender_is_read(
    parsed: list[tuple[str, ParsedMessage]],
) -> None:
    escapes = [path for path, msg in parsed for p in msg.text_parts if "\x1b$B" in p.text]
    assert escapes == []
    without_from = [path for path, msg in parsed if msg.from_ is None]
    assert len(without_from) <= len(parsed) // 100


def test_callback_scams_yield_phone_numbers(parsed: list[tuple[str, ParsedMessage]]) -> None:
    kinds = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 4:
            kinds[cols[0]] = cols[3]
    callback = [msg for path, msg in parsed if kinds.get(path) == "callback_invoice"]
    assert callback
    with_phone = sum(1 for msg in callback if msg.phones)
    assert with_phone / len(callback) >= 0.95


def _shape(msg: Message) -> object:
    if msg.get_content_type() == "message/delivery-status":
        return "delivery-status"  # we keep it whole as text; the stdlib splits it up
    payload = msg._payload  # raw: get_payload() would decode 8-bit text lossily
    body = [_shape(p) for p in payload] if isinstance(payload, list) else payload
    defects = sorted(type(d).__name__ for d in msg.defects)
    return (list(msg.raw_items()), msg.get_content_type(), body, defects)


def test_fast_splitter_matches_the_stdlib_parser_on_every_message() -> None:
    if not LABELS.is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    differ = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        rel = line.split("\t", 1)[0].strip()
        if not rel or not (CORPUS / rel).is_file():
            continue
        raw = (CORPUS / rel).read_bytes()
        ours = split_message(raw)
        theirs = email.message_from_bytes(raw, policy=policy.compat32)
        if _shape(ours) != _shape(theirs):
            differ.append(rel)
    assert differ == []
