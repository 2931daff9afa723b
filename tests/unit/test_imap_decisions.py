"""The decisions both mail clients share (mailguard.imap.decisions)."""

from __future__ import annotations

import pytest

from mailguard.imap.decisions import addresses_match, sent_search_target


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("help@shop.example.jp", ("help@shop.example.jp", None)),
        ("example.jp", ("example.jp", "example.jp")),
        ("@example.jp", ("example.jp", "example.jp")),
        ("@", None),
        ("", None),
        (None, None),
    ],
)
def test_sent_search_target_tells_an_address_from_a_domain(
    value: str | None, expected: tuple[str, str | None] | None
) -> None:
    assert sent_search_target(value) == expected


def test_an_address_matches_only_itself() -> None:
    assert addresses_match(["a@x.example", "help@shop.example.jp"], "help@shop.example.jp", None)
    assert not addresses_match(["xhelp@shop.example.jp"], "help@shop.example.jp", None)
    assert not addresses_match([], "help@shop.example.jp", None)


def test_a_domain_matches_itself_and_its_subdomains_but_not_a_longer_name() -> None:
    assert addresses_match(["bob@example.jp"], "example.jp", "example.jp")
    assert addresses_match(["bob@mail.example.jp"], "example.jp", "example.jp")
    assert not addresses_match(["bob@notexample.jp"], "example.jp", "example.jp")
    assert not addresses_match(["bob@example.jp.evil.example"], "example.jp", "example.jp")
