"""The fast MIME splitter builds the same Message tree as the stdlib feed parser."""

from __future__ import annotations

import email
import sys
from email import policy
from email.message import Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailguard.parse import parse_message
from mailguard.parse.split import split_message


def shape(msg: Message) -> object:
    """Everything downstream reads from a Message: headers, type, payload, defects."""
    payload = msg._payload  # raw: get_payload() would decode 8-bit text lossily
    body = [shape(p) for p in payload] if isinstance(payload, list) else payload
    return (
        msg.get_unixfrom(),
        list(msg.raw_items()),
        msg.get_content_type(),
        body,
        msg.preamble,
        msg.epilogue,
        sorted(type(d).__name__ for d in msg.defects),
    )


def stdlib(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=policy.compat32)


CASES = {
    "simple": b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\nline 2\r\n",
    "lf only": b"From: a@b\nSubject: hi\n\nbody\n",
    "folded": b"Subject: one\r\n two\r\n\tthree\r\nX: y\r\n\r\nb",
    "no body": b"Subject: only headers\r\n",
    "no headers": b"\r\njust a body\r\n",
    "unixfrom": b"From someone Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n",
    "missing separator": b"Subject: x\r\nthis is not a header\r\nmore\r\n\r\ntail",
    "first line continuation": b" continued\r\nSubject: x\r\n\r\nb",
    "empty name": b":bad\r\nSubject: x\r\n\r\nb",
    "8bit header": "Subject: 未納\r\n\r\n本文".encode(),
    "multipart": (
        b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\npreamble\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b"--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b1--\r\nepilogue\r\n"
    ),
    "nested": (
        b"Content-Type: multipart/mixed; boundary=outer\n\n"
        b"--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
        b"--inner\n\nA\n--inner\nContent-Type: text/html\n\nB\n--inner--\n"
        b"--outer\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n"
        b"--outer--\n"
    ),
    "unclosed inner": (
        b"Content-Type: multipart/mixed; boundary=outer\n\n"
        b"--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
        b"--inner\n\nA\n--outer\n\nC\n--outer--\n"
    ),
    "no close": b"Content-Type: multipart/mixed; boundary=z\n\n--z\n\npart\n\n\n",
    "no start": b"Content-Type: multipart/mixed; boundary=z\n\nno parts here\n",
    "no boundary param": b"Content-Type: multipart/mixed\n\n--z\n\npart\n--z--\n",
    "boundary prefix": b"Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\n--abc no\n--ab--\n",
    "padding after delimiter": b"Content-Type: multipart/mixed; boundary=q\n\n--q \n\nx\n--q--\t\n",
    "rfc2231 boundary": b"Content-Type: multipart/mixed; boundary*=''b%20x\n\n--b x\n\ny\n--b x--",
    "rfc822": (
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
        b"Content-Type: text/plain\r\n\r\nforwarded body\r\n"
    ),
    "bad multipart cte": (
        b"Content-Type: multipart/mixed; boundary=z\nContent-Transfer-Encoding: base64\n\n"
        b"--z\n\nx\n--z--\n"
    ),
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_same_tree_as_the_stdlib(raw: bytes) -> None:
    assert shape(split_message(raw)) == shape(stdlib(raw))


def test_bare_cr_line_endings_are_left_to_the_stdlib() -> None:
    raw = b"Subject: old mac\r\rbody\r"
    with pytest.raises(ValueError):
        split_message(raw)
    assert parse_message(raw).subject == "old mac"


def test_part_limit_stops_splitting() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=z\n\n" + b"--z\n\nx\n" * 50 + b"--z--\n"
    msg = split_message(raw, max_parts=10)
    assert len(msg.get_payload()) < 10


_LEAF = b"Content-Type: text/plain\r\n\r\ninnermost words\r\n"


def _chain(levels: int, leaf: bytes = _LEAF) -> bytes:
    """``levels`` multiparts, each the only child of the one above, with a text leaf."""
    opening = b"".join(
        b"--%d\r\nContent-Type: multipart/mixed; boundary=%d\r\n\r\n" % (i, i + 1)
        for i in range(levels)
    )
    closing = b"".join(b"\r\n--%d--\r\n" % i for i in reversed(range(levels + 1)))
    return (
        b"Content-Type: multipart/mixed; boundary=0\r\n\r\n"
        + opening
        + b"--%d\r\n" % levels
        + leaf
        + closing
    )


def _depth_and_leaf(msg: Message) -> tuple[int, Message]:
    depth, part = 0, msg
    while isinstance(part.get_payload(), list) and part.get_payload():
        part = part.get_payload()[0]
        depth += 1
    return depth, part


def test_deep_nesting_is_split_without_recursion() -> None:
    """Far past Python's recursion limit: a loop, not the stack, and the leaf is still reached."""
    levels = sys.getrecursionlimit() + 200
    depth, leaf = _depth_and_leaf(split_message(_chain(levels), max_parts=levels + 10))
    assert depth == levels + 1
    assert "innermost words" in leaf.get_payload()


def test_part_budget_bounds_deep_nesting_and_keeps_the_rest_as_text() -> None:
    msg = split_message(_chain(5000), max_parts=100)
    depth, leaf = _depth_and_leaf(msg)
    assert depth < 100
    # What was not split stays in the tree as text, so its words are not lost.
    assert "innermost words" in str(leaf.get_payload())


_line = st.sampled_from(
    [
        "Subject: s", "X-A: 1", " folded", "\tfolded", "Content-Type: text/plain",
        "Content-Type: multipart/mixed; boundary=b", "Content-Type: message/rfc822",
        "Content-Type: message/global", "Content-Type: multipart/digest; boundary=b",
        "Content-Transfer-Encoding: base64", "--b", "--b--", "--b  ", "--bb", "", "",
        "plain text", "未納", "From x", ":", "not a header", "=?utf-8?B?5bGx?=", "--c", "--c--",
        "Content-Type: multipart/alternative; boundary=c", "\udcff\udcfe",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_line, max_size=30), newline=st.sampled_from(["\r\n", "\n"]))
def test_same_tree_as_the_stdlib_on_generated_input(lines: list[str], newline: str) -> None:
    raw = newline.join(lines).encode("utf-8", "surrogateescape")
    assert shape(split_message(raw)) == shape(stdlib(raw))
