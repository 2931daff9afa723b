"""parse_message never raises and always stays within its limits, whatever it is fed."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailguard.parse import ParsedMessage, parse_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"
SAMPLES = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]

CHARSETS = [
    "utf-8", "iso-2022-jp", "shift_jis", "euc-jp", "us-ascii", "iso-8859-1", "utf-16",
    "utf-7", "x-unknown", "", "unicode_escape", "cp932\x00", "\udcff", "koi8-r", "hz",
]  # fmt: skip
ENCODINGS = [
    "7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "Base64 ", "binary", "junk",
]  # fmt: skip
TYPES = [
    "text/plain", "text/html", "text/calendar", "application/pdf", "multipart/mixed",
    "multipart/alternative", "message/rfc822", "image/png", "text/x-unknown", "",
]  # fmt: skip


def check(msg: ParsedMessage, raw: bytes, max_message_size: int, max_part_size: int) -> None:
    assert isinstance(msg, ParsedMessage)
    assert msg.raw_size == len(raw)
    assert msg.truncated == (len(raw) > max_message_size)
    for part in msg.text_parts:
        assert len(part.text) <= max_part_size
    for attachment in msg.attachments:
        assert len(attachment.text) <= max_part_size
    assert all(isinstance(d, str) for d in msg.defects)
    assert len(msg.defects) <= 64
    # The derived features must not raise either.
    _ = msg.body_text, msg.normalized, msg.urls, msg.phones, msg.amounts, msg.plain_text
    assert all(isinstance(v, str) for v in msg.headers.values())


def mutate(data: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, pos, chunk in ops:
        if not out:
            out += chunk
            continue
        at = pos % len(out)
        if kind == 0:  # overwrite
            out[at : at + len(chunk)] = chunk
        elif kind == 1:  # insert
            out[at:at] = chunk
        elif kind == 2:  # delete
            del out[at : at + len(chunk) + 1]
        else:  # truncate
            del out[at:]
    return bytes(out)


_limits = st.tuples(st.integers(50, 6000), st.integers(20, 3000))
_op = st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.binary(min_size=1, max_size=12))
_junk = st.sampled_from(
    [
        b"\x1b$B", b"\x1b(B", b"=?", b"?=", b"=?iso-2022-jp?B?", b"\r\n\r\n", b"--", b"<",
        b">", b"\xff", b"<!--", b"<script>", b"<div style=display:none>", b"=\r\n", b"&#",
        b"\x00", b"\r\n ",
    ]
)  # fmt: skip
_edit = st.one_of(_op, st.tuples(st.integers(0, 1), st.integers(0, 10**6), _junk))
_slow = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_slow
@given(raw=st.binary(max_size=4000), limits=_limits)
def test_random_bytes(raw: bytes, limits: tuple[int, int]) -> None:
    check(parse_message(raw, max_message_size=limits[0], max_part_size=limits[1]), raw, *limits)


@_slow
@given(
    sample=st.sampled_from(SAMPLES),
    ops=st.lists(_edit, max_size=8),
    limits=_limits,
)
def test_mutated_real_looking_mime(
    sample: bytes, ops: list[tuple[int, int, bytes]], limits: tuple[int, int]
) -> None:
    raw = mutate(sample, ops)
    check(parse_message(raw, max_message_size=limits[0], max_part_size=limits[1]), raw, *limits)


_part = st.tuples(
    st.sampled_from(TYPES),
    st.sampled_from(CHARSETS),
    st.sampled_from(ENCODINGS),
    st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")),
    ),
)


@_slow
@given(
    parts=st.lists(_part, min_size=1, max_size=5),
    subject=st.binary(max_size=200),
    limits=_limits,
)
def test_generated_multipart(
    parts: list[tuple[str, str, str, bytes]], subject: bytes, limits: tuple[int, int]
) -> None:
    lines = [b"From: =?utf-8?B?5bGx?= <a@b.example>", b"Subject: " + subject.replace(b"\n", b" ")]
    lines += [b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="XX"', b""]
    for ctype, charset, cte, body in parts:
        lines += [b"--XX"]
        lines += [f"Content-Type: {ctype}; charset={charset}".encode("utf-8", "surrogateescape")]
        lines += [f"Content-Transfer-Encoding: {cte}".encode(), b"", body]
    lines += [b"--XX--", b""]
    raw = b"\r\n".join(lines)
    check(parse_message(raw, max_message_size=limits[0], max_part_size=limits[1]), raw, *limits)


def test_odd_inputs_and_hostile_structures() -> None:
    nest = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
    deep = nest + b"--a\r\n" + nest * 3000
    many = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\nx\r\n" * 3000
    headers = b"".join(b"X-H%d: =?utf-8?B?5bGx?=\r\n" % i for i in range(5000)) + b"\r\nbody"
    for raw in (b"", b"\r\n", b"\x00" * 100, deep, many, headers, b"From: " + b"<" * 10000):
        msg = parse_message(raw)
        check(msg, raw, 2 * 1024 * 1024, 512 * 1024)
    assert "mime:too-many-parts" in parse_message(many).defects
    chain = b"--%d\r\nContent-Type: multipart/mixed; boundary=%d\r\n\r\n"
    nested = nest.replace(b"=a", b"=0") + b"".join(chain % (i, i + 1) for i in range(200))
    assert "mime:too-deep" in parse_message(nested).defects
    for weird in (None, "a str", bytearray(b"Subject: x\r\n\r\nhi"), memoryview(b"x"), 42):
        assert isinstance(parse_message(weird), ParsedMessage)  # type: ignore[arg-type]
    assert parse_message(bytearray(b"Subject: x\r\n\r\nhi")).subject == "x"
