"""Own mail specs: strict loading, deterministic rendering, and every spec in
``dataset/own`` survives a round trip through our own parser (subject and a
body snippet come back), so the data the model learns from is what a mailbox
would really show."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from pathlib import Path

import pytest

from mailguard.detect import Classifier
from mailguard.parse import parse_message
from mailguard.parse.html import html_to_text as visible_text
from mailguard.testing.mailspec import (
    ENCODINGS,
    HAM_KINDS,
    SCAM_KINDS,
    MailSpecError,
    iter_specs,
    load_spec,
    main,
    render,
)
from mailguard.vocabulary import Category

ROOT = Path(__file__).resolve().parents[2]
OWN = ROOT / "dataset" / "own"
SPECS = list(iter_specs(OWN))


def _norm(s: str) -> str:
    """Compare text the way detection does: NFKC, JIS wave dash folded, no spaces.

    ISO-2022-JP writes a half-width yen sign as JIS-Roman 0x5C (ESC ( J), which
    decoders read as either ¥ or a backslash; both are the same character there.
    """
    s = unicodedata.normalize("NFKC", s).replace("\u301c", "~").replace("\u2212", "-")
    s = s.replace("\u00a5", "\\")
    return re.sub(r"\s+", "", s)


def _snippet(spec_body: str, html: bool) -> str:
    """The first visible line of the spec's body, visible as the parser reads HTML.

    (The renderer's own plain-text conversion keeps hidden preheaders; the
    first line a reader sees is the parser's. Images are left out: the parser
    reads a short HTML body's alt text, the renderer's plain part does not.)
    """
    text = visible_text(re.sub(r"<img\b[^>]*>", "", spec_body)).text if html else spec_body
    for line in text.split("\n"):
        if len(line.strip()) >= 4:
            return line.strip()[:30]
    return text.strip()[:30]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(OWN)))
def test_every_own_spec_renders_and_parses(path: Path) -> None:
    spec = load_spec(path)
    assert spec.lang == path.parts[-3] and spec.label == path.parts[-2]
    if spec.label == "scam":
        assert spec.category in {c.value for c in Category} and spec.kind in SCAM_KINDS
    else:
        assert spec.category == "" and spec.kind in HAM_KINDS
    wire = render(spec)
    assert wire == render(load_spec(path)), "rendering is not deterministic"
    head = wire.partition(b"\r\n\r\n")[0]
    assert head.isascii(), "8-bit bytes in the header"
    assert b"\n" not in wire.replace(b"\r\n", b""), "bare LF"
    msg = parse_message(wire)
    assert _norm(msg.subject) == _norm(spec.subject)
    assert msg.from_ is not None and msg.from_.addr == spec.from_addr
    if spec.body.strip():
        assert _norm(_snippet(spec.body, spec.html)) in _norm(msg.body_text)
    if spec.attachment_text:
        first = next(ln for ln in spec.attachment_text.split("\n") if ln.strip())
        assert _norm(first) in _norm(msg.body_text), "PDF text not read back"


def test_own_data_set_has_both_labels() -> None:
    if not SPECS:
        pytest.skip("dataset/own is empty")
    labels = {load_spec(p).label for p in SPECS}
    assert labels == {"scam", "ham"}


GOOD = """\
lang: ja
label: scam
category: fake_billing
kind: unpaid_fee
from: 料金確認窓口 <desk@fee-check.example>
subject: 【至急】ご利用料金のお支払いについて
note: test
---
ご利用料金が未納です。本日中に０３‐５５５５‐０１２３までご連絡ください。
"""


def _write(tmp_path: Path, text: str, name: str = "dataset/own/ja/scam/001_x.mail") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda s: s.replace("note: test", "colour: red"), "colour"),
        (lambda s: s.replace("kind: unpaid_fee\n", ""), "kind"),
        (lambda s: s.replace("kind: unpaid_fee", "kind: invoice"), "kind"),
        (lambda s: s.replace("lang: ja", "lang: fr"), "lang"),
        (lambda s: s.replace("category: fake_billing", "category: spam"), "category"),
        (
            lambda s: s.replace("from: 料金確認窓口 <desk@fee-check.example>", "from: nobody"),
            "from",
        ),
        (lambda s: s.replace("note: test", "date: yesterday"), "date"),
        (lambda s: s.replace("note: test", "encoding: utf-16"), "encoding"),
        (lambda s: s.replace("note: test", "html: maybe"), "html"),
        (lambda s: s.replace("note: test", "attachment: pdf"), "attachment"),
        (lambda s: s.replace("note: test", "note: a\nnote: b"), "note"),
        (lambda s: s.replace("---\n", ""), "---"),
        (
            lambda s: s.replace("note: test", "encoding: shift_jis").replace(
                "subject: ", "subject: 🙂"
            ),
            "subject",
        ),
    ],
)
def test_bad_specs_name_file_and_key(tmp_path: Path, change, key: str) -> None:
    p = _write(tmp_path, change(GOOD))
    with pytest.raises(MailSpecError) as err:
        load_spec(p)
    assert str(p) in str(err.value) and f": {key}:" in str(err.value)


def test_ham_must_not_carry_a_category(tmp_path: Path) -> None:
    text = GOOD.replace("label: scam", "label: ham").replace("kind: unpaid_fee", "kind: invoice")
    with pytest.raises(MailSpecError, match="category"):
        load_spec(_write(tmp_path, text, "dataset/own/ja/ham/001_x.mail"))
    ok = load_spec(_write(tmp_path, text.replace("category: fake_billing\n", ""), "h/x.mail"))
    assert ok.label == "ham" and ok.category == ""


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_wire_format(tmp_path: Path, encoding: str) -> None:
    spec = load_spec(_write(tmp_path, GOOD.replace("note: test", f"encoding: {encoding}")))
    wire = render(spec)
    msg = email.message_from_bytes(wire, policy=email.policy.default)
    charset = {"iso-2022-jp": "iso-2022-jp", "shift_jis": "shift_jis", "euc-jp": "euc-jp"}
    assert msg.get_content_charset() == charset.get(encoding, "utf-8")
    cte = {
        "iso-2022-jp": "7bit",
        "euc-jp": "8bit",
        "utf-8-8bit": "8bit",
        "utf-8-qp": "quoted-printable",
    }
    assert msg["Content-Transfer-Encoding"] == cte.get(encoding, "base64")
    if encoding == "iso-2022-jp":
        assert wire.isascii() and b"\x1b$B" in wire and b"=?ISO-2022-JP?B?" in wire
    parsed = parse_message(wire)
    assert parsed.subject == "【至急】ご利用料金のお支払いについて"
    assert "本日中に03-5555-0123" in unicodedata.normalize("NFKC", parsed.body_text).replace(
        "‐", "-"
    )


@pytest.mark.parametrize(
    ("lang", "greeting"), [("en", "Dear Alex Morgan,"), ("ja", "山田 太郎 様")]
)
def test_mail_is_addressed_to_the_person_the_texts_name(
    tmp_path: Path, lang: str, greeting: str
) -> None:
    """The To header carries the name the texts greet, so a genuine bill's
    "Dear Alex Morgan" counts as the recipient's own name (it once said Alice)."""
    text = (
        f"lang: {lang}\nlabel: ham\nkind: invoice\nfrom: Shop <bills@shop.example>\n"
        f"subject: Invoice\n---\n{greeting}\nYour invoice is ready.\n"
    )
    parsed = parse_message(render(load_spec(_write(tmp_path, text, f"{lang}/ham/001_x.mail"))))
    reasons = Classifier.rules_only().classify(parsed).reasons
    assert "combo.named_recipient" in {r.rule for r in reasons}


def test_iso_2022_jp_keeps_nec_characters(tmp_path: Path) -> None:
    text = GOOD.replace("note: test", "encoding: iso-2022-jp").replace("本日中", "①本日中～")
    parsed = parse_message(render(load_spec(_write(tmp_path, text))))
    assert "①本日中～" in parsed.body_text


def test_html_alternative_and_pdf(tmp_path: Path) -> None:
    text = (
        GOOD.replace("note: test", "html: yes\nalternative: yes\nattachment: pdf").replace(
            "ご利用料金が未納です。", "<p>ご利用料金が<b>未納</b>です。</p>\n"
        )
        + "--- attachment ---\n請求書\n金額 98,000円\n"
    )
    spec = load_spec(_write(tmp_path, text))
    msg = email.message_from_bytes(render(spec), policy=email.policy.default)
    types = [p.get_content_type() for p in msg.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    parsed = parse_message(render(spec))
    assert "98,000円" in parsed.body_text and "未納" in parsed.body_text
    assert "<b>" not in parsed.plain_text


def test_message_id_depends_on_path_below_root_only(tmp_path: Path) -> None:
    a = load_spec(_write(tmp_path / "one", GOOD))
    b = load_spec(_write(tmp_path / "two", GOOD))
    c = load_spec(_write(tmp_path / "one", GOOD, "dataset/own/ja/scam/002_y.mail"))
    assert render(a) == render(b)
    mid = email.message_from_bytes(render(a))["Message-ID"]
    assert mid != email.message_from_bytes(render(c))["Message-ID"]
    assert "Jun 2026" in email.message_from_bytes(render(a))["Date"]


def test_command_line_writes_eml_and_labels(tmp_path: Path, capsys) -> None:
    _write(tmp_path, GOOD)
    out = tmp_path / "out"
    assert main([str(tmp_path / "dataset/own"), str(out)]) == 0
    assert (out / "ja/scam/001_x.eml").read_bytes().startswith(b"Return-Path:")
    assert (out / "labels.tsv").read_text().split("\t")[:4] == [
        "ja/scam/001_x.eml",
        "scam",
        "fake_billing",
        "unpaid_fee",
    ]
    _write(tmp_path, GOOD.replace("lang: ja", "lang: xx"))
    assert main([str(tmp_path / "dataset/own"), str(out)]) == 2
    assert "lang" in capsys.readouterr().err


def test_latin_pdf_text_keeps_pound_euro_and_accents() -> None:
    """English PDFs are WinAnsi: '£2,184.40' must come back, not crash the renderer."""
    import io

    import pypdf

    from mailguard.testing.wire import make_pdf

    data = make_pdf([(14, "Statement £2,184.40 due — €99, café")], "Statement")
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "£2,184.40" in text and "€99" in text and "café" in text
