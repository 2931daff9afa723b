"""The digest is safe by construction: hostile message fields cannot become markup or links.

Assertions are made on the *parsed* HTML (html.parser), not on substrings,
so that an attribute smuggled in by quoting tricks would be seen.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailguard.digest import DigestItem, DigestReason, RenderedDigest, render_digest, safe
from mailguard.digest.render import _autoescape, environment

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=timezone(timedelta(hours=9)))
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "body", "div", "p", "h2", "h3", "ul", "li", "strong",
    "span", "br", "table", "tr", "th", "td", "code", "hr",
    "details", "summary",  # folds the defanged URLs away; no links, nothing loads
}  # fmt: skip
ALLOWED_ATTRS = {"lang", "charset", "name", "content", "style", "role"}
BANNED_CHARS = set(safe.BIDI_CONTROLS) | {chr(c) for c in range(0x20) if chr(c) != "\n"} | {
    "\x7f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028", "\u2029",
}  # fmt: skip


class Parsed(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body_text(self) -> str:
        return "".join(self.text)


def _item(**kw: object) -> DigestItem:
    base: dict[str, object] = {
        "id": 1,
        "arrived": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        "sender_name": "Sender",
        "sender_addr": "s@example.org",
        "subject": "Subject",
        "category": "fake_billing",
        "verdict": "scam",
        "reasons": (DigestReason("r", "理由", "reason", "evidence", 1.0),),
        "folder": "Quarantine",
        "original_folder": "INBOX",
    }
    base.update(kw)
    return DigestItem(**base)  # type: ignore[arg-type]


def _render(items: list[DigestItem], lang: str = "en") -> RenderedDigest:
    return render_digest(
        items,
        language=lang,
        country="US",
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
    )


def _assert_structure_safe(html: str) -> Parsed:
    p = Parsed(html)
    assert set(p.tags) <= ALLOWED_TAGS, set(p.tags) - ALLOWED_TAGS
    for tag, name, value in p.attrs:
        assert name in ALLOWED_ATTRS, (tag, name)
        assert not name.startswith("on")
        assert "url(" not in (value or "").lower()
        assert "javascript" not in (value or "").lower()
    return p


def _assert_no_banned_chars(r: RenderedDigest) -> None:
    for part in (r.subject, r.text, r.html):
        found = {f"U+{ord(c):04X}" for c in part if c in BANNED_CHARS}
        assert not found, found


# The attribute values of a benign render: message data must never add to this set.
def _attr_values(html: str) -> set[tuple[str, str | None]]:
    return {(n, v) for _t, n, v in Parsed(html).attrs}


BENIGN = _item(urls=("http://example.org/",), phones=("03-1234-5678",), contacted_on=NOW)
BENIGN_ATTRS = {lang: _attr_values(_render([BENIGN], lang).html) for lang in ("en", "ja")}

HOSTILE = _item(
    subject="<script>alert(1)</script> Invoice \u202egpj.exe\u202c <b>bold</b>",
    sender_name='"><img src=x onerror=alert(1)>',
    sender_addr='x@evil.example"><svg onload=alert(1)>',
    reasons=(
        DigestReason(
            "r", "<i>理由</i>", "<i>reason</i>", "<a href='http://evil.example/'>click</a>", 5.0
        ),
    ),
    urls=("javascript:alert(document.cookie)", "http://evil.example/", "HTTPS://x.evil.example/a"),
    phones=("<script>0120</script>", "+1\u202e(888) 555-0199"),
    folder="Quarantine</td><script>",
    original_folder="INBOX\x00\x1b[31m",
)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_hostile_fields_do_not_become_markup(lang: str) -> None:
    r = _render([HOSTILE], lang)
    p = _assert_structure_safe(r.html)
    assert "script" not in p.tags and "img" not in p.tags and "a" not in p.tags
    assert _attr_values(r.html) == BENIGN_ATTRS[lang]
    # The hostile text is shown as text, so the user sees what it was.
    text = p.body_text
    assert "<script>alert(1)</script>" in text
    assert '"><img src=x onerror=alert(1)>' in text
    assert "<a href='hxxp://evil[.]example/'>click</a>" in text


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_urls_are_defanged_everywhere(lang: str) -> None:
    # One message per URL: a digest shows at most two URLs per message.
    items = [replace(HOSTILE, id=n, urls=(u,)) for n, u in enumerate(HOSTILE.urls, 1)]
    r = _render([HOSTILE, *items], lang)
    for out in (r.text, Parsed(r.html).body_text):
        assert "hxxp://evil[.]example/" in out
        assert "hxxps://x[.]evil[.]example/a" in out
        assert "javascript[:]alert(document[.]cookie)" in out
        assert "http://evil" not in out and "javascript:" not in out.lower()
        assert "evil.example" not in out
    assert "href" not in {n for _t, n, _v in Parsed(r.html).attrs}
    assert "src" not in {n for _t, n, _v in Parsed(r.html).attrs}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_bidi_and_control_characters_are_removed(lang: str) -> None:
    r = _render([HOSTILE], lang)
    _assert_no_banned_chars(r)
    # Removing the override leaves the true (logical) order: the file really ends in .exe.
    assert "Invoice gpj[.]exe" in r.text


def test_very_long_subject_is_truncated() -> None:
    r = _render([_item(subject="請求" * 5000, sender_name="N" * 10_000)])
    line = next(x for x in r.text.splitlines() if x.strip().startswith("Subject:"))
    shown = line.split("Subject:", 1)[1].strip()
    assert len(shown) == safe.SUBJECT_MAX and shown.endswith("…")
    assert "N" * (safe.NAME_MAX - 1) + "…" in r.text and "N" * safe.NAME_MAX not in r.text
    assert len(r.text) < 20_000


def test_many_urls_and_phones_are_capped() -> None:
    urls = tuple(f"http://u{n}.example/" for n in range(20))
    phones = tuple(f"03-0000-{n:04d}" for n in range(20))
    r = _render([_item(urls=urls, phones=phones)])
    assert r.text.count("hxxp://u") == 2 and "and 18 more" in r.text
    assert "03-0000-0002" in r.text and "03-0000-0003" not in r.text and "and 17 more" in r.text


def test_templates_never_bypass_escaping() -> None:
    env = environment()
    names = env.list_templates()
    assert {"digest.en.html.j2", "digest.ja.html.j2"} <= set(names)
    for name in names:
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)  # comments may name the rules
        assert "|safe" not in source.replace(" ", "")
        assert "autoescape" not in source and "Markup" not in source
        assert "<a " not in source and "<img" not in source and "<script" not in source
        assert _autoescape(name) == name.endswith(".html.j2")


# ---------------------------------------------------------------- safe.py units


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://example.com/x", "hxxp://example[.]com/x"),
        ("https://a.b.example.co.jp/", "hxxps://a[.]b[.]example[.]co[.]jp/"),
        ("HTTP://EXAMPLE.COM", "hxxp://EXAMPLE[.]COM"),
        ("x.com", "x[.]com"),
        ("メールはexample.comへ", "メールはexample[.]comへ"),
        ("ftp://files.example/", "fxp://files[.]example/"),
        ("javascript:alert(1)", "javascript[:]alert(1)"),
        ("JavaScript :alert(1)", "JavaScript[:]alert(1)"),
        ("data:text/html;base64,xx", "data[:]text/html;base64,xx"),
        ("mailto:x@evil.example", "mailto[:]x@evil[.]example"),
        ("visit www.evil.example now", "visit www[.]evil[.]example now"),
        ("server 192.168.10.1 said", "server 192[.]168[.]10[.]1 said"),
        ("U.S. price 1.5 e.g. ok", "U.S. price 1.5 e.g. ok"),
        ("hxxp://already[.]defanged", "hxxp://already[.]defanged"),
    ],
)
def test_defang(raw: str, expected: str) -> None:
    assert safe.defang(raw) == expected


def test_neutralise_folds_breaks_and_drops_invisibles() -> None:
    assert safe.neutralise("a\r\nBcc: x\tb") == "a Bcc: x b"
    assert safe.neutralise("pa\u200byp\u00adal\u2066") == "paypal"
    assert safe.neutralise("x\x00\x07\x1b[0my") == "x[0my"
    assert safe.neutralise("e" + "\u0301" * 50) == "e" + "\u0301" * 3
    assert safe.neutralise("bad \ud800 surrogate") == "bad surrogate"
    assert safe.neutralise("\u2028line\u2029") == "line"


def test_field_handles_none_and_non_strings() -> None:
    assert safe.subject(None) == ""
    assert safe.phone(12345) == "12345"


_pieces = st.characters(codec="utf-8") | st.sampled_from(
    sorted(BANNED_CHARS) + list("<>\"'&/:.@") + ["http://", "javascript:", "\u202e", "\r\n"]
)
_text = st.lists(_pieces, max_size=120).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_text,
    name=_text,
    addr=_text,
    evidence=_text,
    url=_text,
    phone=_text,
    lang=st.sampled_from(["en", "ja"]),
)
def test_any_field_content_renders_safely(
    subject: str, name: str, addr: str, evidence: str, url: str, phone: str, lang: str
) -> None:
    it = _item(
        subject=subject,
        sender_name=name,
        sender_addr=addr,
        reasons=(DigestReason("r", "理由", "reason", evidence, 1.0),),
        urls=(url,),
        phones=(phone,),
    )
    r = _render([it], lang)
    _assert_structure_safe(r.html)
    assert _attr_values(r.html) <= BENIGN_ATTRS[lang]  # empty fields may drop a row
    _assert_no_banned_chars(r)
    r.text.encode("utf-8")  # no lone surrogates left to break the MIME encoder
    r.html.encode("utf-8")


@given(st.text(max_size=200))
def test_defang_is_idempotent(s: str) -> None:
    once = safe.defang(s)
    assert safe.defang(once) == once
