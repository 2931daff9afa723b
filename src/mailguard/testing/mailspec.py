"""Own mail data as small text specs, rendered to real RFC 5322 wire bytes.

Why: the text model may only learn from data we own, and data is only useful
if it looks like what arrives in a real mailbox. So every message is kept as a
readable ``.mail`` file (``key: value`` header lines, ``---``, then the body,
written by us) and turned into the wire formats Japanese and English mailers
really send: ISO-2022-JP 7bit with RFC 2047 encoded words, Shift_JIS (CP932),
EUC-JP, UTF-8 in base64 / quoted-printable / 8bit, HTML, multipart/alternative
and a generated PDF attachment. The format is described in
``dataset/own/README.md``.

Loading is strict (an unknown key, a missing key or a bad value is an error
naming the file and the key) because a silently mislabelled example teaches the
model the wrong thing. Rendering is deterministic: the Message-ID and MIME
boundaries derive from the spec's path below the data set root, the date has a
fixed default, so a rendered set can be compared byte for byte.

Command line::

    python -m mailguard.testing.mailspec dataset/own OUTDIR

writes ``OUTDIR/<lang>/<label>/<name>.eml`` and ``OUTDIR/labels.tsv``
(path, label, category, kind, encoding; no header row, like the shared corpus).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from html import escape, unescape
from pathlib import Path

from mailguard.testing.wire import (
    apply_cte,
    b64_lines,
    encode_text,
    encoded_words,
    fold_ascii,
    html_doc,
    make_pdf,
    quote_phrase,
)
from mailguard.vocabulary import Category

LANGS = ("ja", "en")
LABELS = ("scam", "ham")
SCAM_KINDS = frozenset(
    {
        "unpaid_fee",
        "one_click",
        "fake_court",
        "fake_collection",
        "callback_invoice",
        "billing_lure",
        "renewal_call",
        "withdrawal_lure",
        "after_contact",
        "cancel_lure",
    }
)
HAM_KINDS = frozenset(
    {
        "invoice",
        "dunning",
        "bnpl_reminder",
        "receipt",
        "order_confirmation",
        "shipping",
        "renewal",
        "subscription",
        "cancellation_done",
        "withdrawal_done",
        "registration_done",
        "scam_warning",
        "newsletter",
        "personal",
        "other",
    }
)
ENCODINGS = ("iso-2022-jp", "shift_jis", "euc-jp", "utf-8-b64", "utf-8-qp", "utf-8-8bit")
DEFAULT_ENCODING = {"ja": "utf-8-b64", "en": "utf-8-qp"}
DEFAULT_DATE = "Mon, 01 Jun 2026 09:00:00 +0900"
RECIPIENT = {
    "ja": ("山田 太郎", "taro.yamada@example.jp"),
    "en": ("Alex Morgan", "alex.morgan@example.com"),
}
REQUIRED = ("lang", "label", "kind", "from", "subject")
OPTIONAL = ("category", "date", "encoding", "html", "alternative", "attachment", "note")
YES_NO = ("yes", "no")
ATTACHMENT_MARK = "--- attachment ---"
SEPARATOR = "---"
PDF_NAMES = ("invoice.pdf", "notice.pdf", "document.pdf", "statement.pdf", "seikyu.pdf")

# how each encoding goes on the wire: (charset label, python codec, transfer encoding)
_WIRE = {
    "iso-2022-jp": ("ISO-2022-JP", "iso2022_jp+cp932", "7bit"),
    "shift_jis": ("Shift_JIS", "cp932", "base64"),
    "euc-jp": ("EUC-JP", "euc_jp", "8bit"),
    "utf-8-b64": ("UTF-8", "utf-8", "base64"),
    "utf-8-qp": ("UTF-8", "utf-8", "quoted-printable"),
    "utf-8-8bit": ("UTF-8", "utf-8", "8bit"),
}
_ADDR = re.compile(
    r"^(?:(?P<name>.*?)\s*<(?P<addr>[^<>\s@]+@[^<>\s@]+)>|(?P<bare>[^<>\s@]+@[^<>\s@]+))$"
)
_KEY = re.compile(r"^(?P<key>[a-z_]+):(?:\s(?P<value>.*))?$")


class MailSpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class MailSpec:
    """One parsed ``.mail`` file. ``ident`` (the path below the data set root)
    seeds the Message-ID and boundaries, so renders do not depend on where the
    checkout lives."""

    path: Path
    ident: str
    lang: str
    label: str
    category: str  # "" for ham
    kind: str
    from_name: str
    from_addr: str
    subject: str
    date: str
    encoding: str
    html: bool
    alternative: bool
    attachment: str  # "" or "pdf"
    note: str
    body: str  # the visible body
    attachment_text: str  # text of the generated attachment ("" without one)

    @property
    def encoding_column(self) -> str:
        """Informational wire-format column for labels.tsv."""
        col = self.encoding
        if self.html:
            col = ("alternative(plain,html):" if self.alternative else "html:") + col
        if self.attachment:
            col = f"mixed({col},application/pdf)"
        return col


def _ident(path: Path) -> str:
    parts = path.parts
    for i in range(len(parts) - 1):
        if parts[i] == "dataset" and parts[i + 1] == "own":
            return "/".join(parts[i + 2 :])
    return "/".join(parts[-3:])


#: Builds the error for a key of the file being loaded (``fail(key, problem)``).
_Fail = Callable[[str, str], MailSpecError]


def load_spec(path: str | Path) -> MailSpec:
    """Read and validate one spec file; raise :class:`MailSpecError` on any problem.

    The checks run in the order of the file (header lines, then each key, then
    the body), so that the first error reported is the first one a reader meets.
    """
    path = Path(path)

    def fail(key: str, problem: str) -> MailSpecError:
        return MailSpecError(f"{path}: {key}: {problem}")

    fields, body_lines = _read_fields(path, fail)
    lang, label, category, kind = _labels(fields, fail)
    from_name, from_addr = _sender(fields["from"], fail)
    date = _date(fields.get("date") or DEFAULT_DATE, fail)
    encoding = fields.get("encoding") or DEFAULT_ENCODING[lang]
    if encoding not in ENCODINGS:
        raise fail("encoding", f"must be one of {', '.join(ENCODINGS)}")
    html, alternative = _html_flags(fields, fail)
    attachment = fields.get("attachment", "")
    if attachment not in ("", "pdf"):
        raise fail("attachment", "must be pdf or empty")
    body, attachment_text = _body(body_lines, attachment, fail)
    spec = MailSpec(
        path=path,
        ident=_ident(path),
        lang=lang,
        label=label,
        category=category,
        kind=kind,
        from_name=from_name,
        from_addr=from_addr,
        subject=fields["subject"],
        date=date,
        encoding=encoding,
        html=html,
        alternative=alternative,
        attachment=attachment,
        note=fields.get("note", ""),
        body=body,
        attachment_text=attachment_text,
    )
    # fail now, naming the key, rather than in the middle of a batch render
    for key, value in (("subject", spec.subject), ("from", spec.from_name), ("body", body)):
        try:
            _encode(value, spec.encoding)
        except (UnicodeEncodeError, ValueError) as exc:
            raise fail(key, f"not representable in {spec.encoding}: {exc}") from None
    return spec


def _read_fields(path: Path, fail: _Fail) -> tuple[dict[str, str], list[str]]:
    """The header block as ``{key: value}`` (every required key present) and the body lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail("(file)", f"cannot read as UTF-8 ({type(exc).__name__})") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        sep = lines.index(SEPARATOR)
    except ValueError:
        raise fail("---", "no line '---' between the header block and the body") from None
    fields: dict[str, str] = {}
    for n, line in enumerate(lines[:sep], 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _KEY.match(line)
        if not m:
            raise fail(f"line {n}", "not a 'key: value' line")
        key, value = m["key"], (m["value"] or "").strip()
        if key not in REQUIRED and key not in OPTIONAL:
            raise fail(key, "unknown key")
        if key in fields:
            raise fail(key, "given twice")
        fields[key] = value
    for key in REQUIRED:
        if key not in fields:
            raise fail(key, "missing")
    return fields, lines[sep + 1 :]


def _labels(fields: dict[str, str], fail: _Fail) -> tuple[str, str, str, str]:
    """(lang, label, category, kind), each checked against the others: a mislabel is an error."""
    lang = fields["lang"]
    if lang not in LANGS:
        raise fail("lang", f"must be one of {', '.join(LANGS)}")
    label = fields["label"]
    if label not in LABELS:
        raise fail("label", f"must be one of {', '.join(LABELS)}")
    category = fields.get("category", "")
    if label == "scam":
        if category not in {c.value for c in Category}:
            raise fail("category", "a scam needs fake_billing or withdrawal")
    elif category:
        raise fail("category", "must be empty for ham")
    kind = fields["kind"]
    allowed = SCAM_KINDS if label == "scam" else HAM_KINDS
    if kind not in allowed:
        raise fail("kind", f"not a {label} kind (one of {', '.join(sorted(allowed))})")
    return lang, label, category, kind


def _sender(value: str, fail: _Fail) -> tuple[str, str]:
    """(display name, ASCII address) of the ``from`` key."""
    m_addr = _ADDR.match(value)
    if not m_addr:
        raise fail("from", "expected 'Display Name <local@domain>' or 'local@domain'")
    from_name = (m_addr["name"] or "").strip().strip('"')
    from_addr = m_addr["addr"] or m_addr["bare"]
    if not from_addr.isascii():
        raise fail("from", "the address must be ASCII")
    return from_name, from_addr


def _date(value: str, fail: _Fail) -> str:
    """The ``date`` key in canonical RFC 2822 form; a date without a zone is refused."""
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None or dt.tzinfo is None:
        raise fail("date", "not an RFC 2822 date with a time zone")
    return format_datetime(dt)


def _html_flags(fields: dict[str, str], fail: _Fail) -> tuple[bool, bool]:
    """(html, alternative): yes/no keys, default no; an alternative needs HTML."""
    flags: dict[str, bool] = {}
    for key in ("html", "alternative"):
        value = fields.get(key) or "no"
        if value not in YES_NO:
            raise fail(key, "must be yes or no")
        flags[key] = value == "yes"
    if flags["alternative"] and not flags["html"]:
        raise fail("alternative", "needs html: yes")
    return flags["html"], flags["alternative"]


def _body(lines: list[str], attachment: str, fail: _Fail) -> tuple[str, str]:
    """(visible body, attachment text): the body is cut at the attachment mark, if any."""
    body = "\n".join(lines).strip("\n") + "\n"
    attachment_text = ""
    if ATTACHMENT_MARK in body.split("\n"):
        if not attachment:
            raise fail("attachment", f"body has '{ATTACHMENT_MARK}' but no 'attachment: pdf'")
        visible, _, attachment_text = body.partition(ATTACHMENT_MARK + "\n")
        body = visible.strip("\n") + "\n"
        attachment_text = attachment_text.strip("\n")
        if not attachment_text.strip():
            raise fail("attachment", "the attachment text is empty")
    elif attachment:
        raise fail("attachment", f"'attachment: pdf' needs a body line '{ATTACHMENT_MARK}'")
    if not body.strip() and not attachment_text:
        raise fail("body", "empty")
    return body, attachment_text


def iter_specs(root: str | Path) -> Iterator[Path]:
    """Every ``.mail`` file below ``root``, in a stable (sorted) order."""
    yield from sorted(Path(root).rglob("*.mail"))


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------


def _h(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:n]


# CP932 code points with a different JIS X 0208 mapping: Unix EUC-JP mailers
# send the JIS character (～ becomes 〜), so do the same before encoding.
_JIS_FOLD = str.maketrans(
    {
        "\uff5e": "\u301c",
        "\u2225": "\u2016",
        "\uff0d": "\u2212",
        "\uffe0": "\u00a2",
        "\uffe1": "\u00a3",
        "\uffe2": "\u00ac",
    }
)


def _prepare(text: str, encoding: str) -> str:
    return text.translate(_JIS_FOLD) if encoding == "euc-jp" else text


def _encode(text: str, encoding: str) -> bytes:
    _label, codec, _cte = _WIRE[encoding]
    return encode_text(_prepare(text, encoding), codec)


def _header_charset(encoding: str) -> tuple[str, str]:
    """(label, codec) for RFC 2047 words: mailers encode headers in the body's charset."""
    label, codec, _cte = _WIRE[encoding]
    return label, codec


def _words(text: str, encoding: str) -> list[str]:
    label, codec = _header_charset(encoding)
    text = _prepare(text, encoding)
    # encoded_words derives the codec from the label; ISO-2022-JP needs our
    # CP932-tolerant variant, so encode under the label with that codec.
    if codec == "iso2022_jp+cp932":
        try:
            text.encode("iso2022_jp")
        except UnicodeEncodeError:
            return _cp932_words(text, label)
    return encoded_words(text, label, "B")


def _cp932_words(text: str, label: str) -> list[str]:
    import base64

    words: list[str] = []
    chunk = ""

    def word(s: str) -> str:
        raw = encode_text(s, "iso2022_jp+cp932")
        return f"=?{label}?B?" + base64.b64encode(raw).decode() + "?="

    for ch in text:
        if chunk and len(word(chunk + ch)) > 75:
            words.append(word(chunk))
            chunk = ch
        else:
            chunk += ch
    if chunk:
        words.append(word(chunk))
    return words


def _header_unstructured(name: str, text: str, encoding: str) -> str:
    if text.isascii():
        return fold_ascii(name, text) if text else f"{name}: "
    return f"{name}: " + "\n ".join(_words(text, encoding))


def _header_addr(name: str, disp: str, addr: str, encoding: str) -> str:
    if not disp:
        return f"{name}: {addr}"
    if disp.isascii():
        return fold_ascii(name, f"{quote_phrase(disp)} <{addr}>")
    return f"{name}: " + "\n ".join(_words(disp, encoding)) + f" <{addr}>"


_TAG_BREAK = re.compile(r"<\s*(br|/p|/div|/tr|/h\d|/li|/table)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.I | re.S)


def html_to_text(source: str) -> str:
    """The plain-text alternative a mailer derives from HTML (tags out, breaks kept)."""
    s = _HIDDEN.sub("", source)
    s = _TAG_BREAK.sub("\n", s)
    s = unescape(_TAG.sub("", s))
    lines = [ln.strip() for ln in s.split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip("\n") + "\n"


def _text_part(text: str, subtype: str, encoding: str) -> tuple[list[str], bytes]:
    label, _codec, cte = _WIRE[encoding]
    data = _encode(text, encoding)
    if cte == "8bit" and not data.isascii():
        body = data
    elif cte == "8bit":
        cte, body = "7bit", data
    else:
        body = apply_cte(data, cte)
    return [
        f"Content-Type: text/{subtype}; charset={label}",
        f"Content-Transfer-Encoding: {cte}",
    ], body


def _multipart(
    subtype: str, seed: str, parts: list[tuple[list[str], bytes]], top: bool
) -> tuple[list[str], bytes]:
    boundary = f"--=_mgs_{_h(seed + subtype, 20)}"
    chunks = [b"This is a multi-part message in MIME format.\n"] if top else [b""]
    for hdrs, body in parts:
        chunks.append(
            f"--{boundary}\n".encode() + "\n".join(hdrs).encode() + b"\n\n" + body + b"\n"
        )
    chunks.append(f"--{boundary}--\n".encode())
    return [f'Content-Type: multipart/{subtype};\n\tboundary="{boundary}"'], b"".join(chunks)


def _visible_part(spec: MailSpec, top: bool) -> tuple[list[str], bytes]:
    if not spec.html:
        return _text_part(spec.body, "plain", spec.encoding)
    source = spec.body
    if "<html" not in source.lower():
        source = html_doc(source, escape(spec.subject), spec.lang)
    source = source.replace('<meta charset="utf-8">', f'<meta charset="{_WIRE[spec.encoding][0]}">')
    html_part = _text_part(source, "html", spec.encoding)
    if not spec.alternative:
        return html_part
    plain = _text_part(html_to_text(spec.body), "plain", spec.encoding)
    return _multipart("alternative", spec.ident + "/alt", [plain, html_part], top)


def _pdf_part(spec: MailSpec) -> tuple[list[str], bytes]:
    lines: list[tuple[int, str]] = []
    for i, ln in enumerate(spec.attachment_text.split("\n")):
        lines.append((14 if i == 0 else 10, ln))
    title = spec.attachment_text.split("\n", 1)[0].strip()
    data = make_pdf(lines, title, japanese=spec.lang == "ja")
    name = PDF_NAMES[int(_h(spec.ident, 4), 16) % len(PDF_NAMES)]
    return [
        f'Content-Type: application/pdf; name="{name}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{name}"',
    ], b64_lines(data)


def message_id(spec: MailSpec) -> str:
    dom = spec.from_addr.rpartition("@")[2]
    return f"<{_h('mid:' + spec.ident, 16).upper()}.{_h('m2:' + spec.ident, 6)}@{dom}>"


def render(spec: MailSpec) -> bytes:
    """The message as wire bytes with CRLF line endings (deterministic)."""
    to_name, to_addr = RECIPIENT[spec.lang]
    lines = [
        f"Return-Path: <{spec.from_addr}>",
        _header_addr("From", spec.from_name, spec.from_addr, spec.encoding),
        _header_addr("To", to_name, to_addr, spec.encoding),
        _header_unstructured("Subject", spec.subject, spec.encoding),
        f"Date: {spec.date}",
        f"Message-ID: {message_id(spec)}",
        "MIME-Version: 1.0",
    ]
    if spec.attachment:
        ph, body = _multipart(
            "mixed", spec.ident, [_visible_part(spec, False), _pdf_part(spec)], True
        )
    else:
        ph, body = _visible_part(spec, True)
    lines += ph
    wire = "\n".join(lines).encode("ascii") + b"\n\n" + body
    if not wire.endswith(b"\n"):
        wire += b"\n"
    wire = wire.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    for ln in wire.split(b"\r\n"):
        if len(ln) > 998:
            raise MailSpecError(f"{spec.path}: body: a line longer than 998 bytes on the wire")
    return wire


def render_tree(root: str | Path, out: str | Path) -> int:
    """Render every spec below ``root`` into ``out`` (+ labels.tsv); return the count."""
    root, out = Path(root), Path(out)
    rows = []
    for path in iter_specs(root):
        spec = load_spec(path)
        rel = path.relative_to(root).with_suffix(".eml")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render(spec))
        rows.append(
            "\t".join((rel.as_posix(), spec.label, spec.category, spec.kind, spec.encoding_column))
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "labels.tsv").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render own .mail specs to .eml files and labels.tsv.")
    ap.add_argument("root", help="folder holding .mail specs (e.g. dataset/own)")
    ap.add_argument("out", help="output folder")
    args = ap.parse_args(argv)
    try:
        n = render_tree(args.root, args.out)
    except MailSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} messages and labels.tsv to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
