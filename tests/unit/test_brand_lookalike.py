"""Look-alike brand labels: what keeps ``own_routes`` from vouching for "Amazen Pay"."""

from __future__ import annotations

import pytest

from mailguard.detect.facts import BrandIndex, _within_one_edit
from mailguard.detect.rules import Brand


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("amazon", "amazon", True),
        ("amazen", "amazon", True),  # substitution
        ("amazn", "amazon", True),  # deletion
        ("amazoon", "amazon", True),  # insertion
        ("xamazon", "amazon", True),  # insertion at the start
        ("amazonx", "amazon", True),  # insertion at the end
        ("amzaon", "amazon", False),  # a swap is two edits
        ("amazonpay", "amazon", False),
        ("bitwarden", "amazon", False),
    ],
)
def test_within_one_edit(a: str, b: str, near: bool) -> None:
    assert _within_one_edit(a, b) is near
    assert _within_one_edit(b, a) is near


def test_near_label_looks_at_each_hyphenated_part() -> None:
    index = BrandIndex((Brand("Amazon", ("amazon",), frozenset({"amazon.co.jp", "amazon.com"})),))
    assert index.labels == frozenset({"amazon"})
    assert index.near_label("amazen-pay")
    assert index.near_label("pay-amazom")
    assert not index.near_label("bitwarden")
    assert not index.near_label("ama")  # too short to judge
