"""The detector's evaluation fixtures as data: spec files -> exact wire bytes.

``tests/fixtures/mail/specs/<lang>/<name>.fixture`` holds one message each: a
header block of ``key: value`` lines (values that need it are JSON strings),
then its MIME tree as part blocks introduced by ``%% {json}`` lines (``text``,
``binary`` and ``multi`` parts, ``%% end`` closes a multipart). This module
reads them and renders the same bytes the old Python-literal generator wrote:
CRLF line endings, fixed dates and Message-IDs, boundaries derived from the
path, ISO-2022-JP words split mid-escape where asked, lying charset labels,
NEC characters, PDF and calendar carriers (see tests/fixtures/mail/README.md).

Why data and not code: the messages are test material that reviewers read and
other engineers add to; a file per message diffs and merges cleanly, and the
renderer is shared with ``mailguard.testing.mailspec``'s wire helpers.

Write or check the generated files (tests only check, they never write)::

    python -m mailguard.testing.fixturemail tests/fixtures/mail [--check]

writes ``<lang>/<name>.eml`` and ``labels.tsv`` next to ``specs/`` and the demo
copies in ``src/mailguard/samples``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from mailguard.testing.wire import (
    apply_cte,
    b64_lines,
    encode_text,
    encoded_words,
    fold_ascii,
    make_pdf,
    py_codec,
    quote_phrase,
)

TARO = ("山田 太郎", "taro.yamada@example.jp")
ALICE = ("Alice Johnson", "alice@example.com")


# --------------------------------------------------------------------------
# Message model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text/* leaf part.

    ``charset`` is the label written in Content-Type (None: no charset
    parameter at all); ``codec`` is how the bytes are really produced
    (defaults to the label). ``codec="cp932-jis"`` writes ISO-2022-JP escape
    sequences whose JIS codes include the NEC special row (①, ㈱, ㍉),
    exactly as Outlook Express and friends converted CP932 text.
    """

    text: str
    subtype: str = "plain"
    charset: str | None = "ISO-2022-JP"
    cte: str = "7bit"
    codec: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    filename: str | None = None
    quote_charset: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Binary:
    """A non-text leaf (PDF, ICS file): always base64."""

    ctype: str
    data: bytes
    filename: str
    disposition: str = "attachment"
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Multi:
    subtype: str
    parts: tuple[Text | Binary | Multi, ...]


Part = Text | Binary | Multi


@dataclass(frozen=True)
class Auth:
    spf: str
    dkim: str
    dmarc: str
    mailfrom: str  # envelope domain
    dkim_d: str | None = None
    from_d: str | None = None


@dataclass
class Mail:
    path: str
    label: str  # scam | ham
    category: str  # fake_billing | withdrawal | ""
    kind: str
    date: str  # ISO 8601 with offset
    frm: tuple[str, str]
    subject: str
    body: Part
    to: tuple[str, str] = TARO
    reply_to: tuple[str, str] | None = None
    return_path: str | None = None
    auth: Auth | None = None
    relay: tuple[str, str] | None = None
    hcs: str = ""  # charset for encoded words; default ISO-2022-JP (ja) or UTF-8 (en)
    hmode: str = "B"
    split_ew: int | None = None  # split the raw byte stream every N bytes
    raw_subject: bool = False  # RFC 6532 style raw UTF-8 Subject
    extra: tuple[tuple[str, str], ...] = ()
    enc: str | None = None  # override for the encoding column
    mailer: str | None = None
    mid_domain: str | None = None
    headers_only_top: bool = False  # no MIME-Version / Content-* headers at all
    sample: str | None = None  # one-line README text if copied to samples/
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.hcs:
            self.hcs = "ISO-2022-JP" if self.path.startswith("ja/") else "UTF-8"


# --------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------


def header_text(name: str, text: str, m: Mail) -> str:
    if text.isascii():
        return fold_ascii(name, text)
    if m.raw_subject and name == "Subject":
        return f"{name}: {text}"
    words = encoded_words(text, m.hcs, m.hmode, m.split_ew)
    return f"{name}: " + "\n ".join(words)


def header_addr(name: str, addr: tuple[str, str], m: Mail) -> str:
    disp, email = addr
    if not disp:
        return f"{name}: {email}"
    if disp.isascii():
        return fold_ascii(name, f"{quote_phrase(disp)} <{email}>")
    words = encoded_words(disp, m.hcs, m.hmode, m.split_ew if name == "From" else None)
    return f"{name}: " + "\n ".join(words) + f" <{email}>"


# --------------------------------------------------------------------------
# Wire rendering
# --------------------------------------------------------------------------

FREEMAIL_RELAYS = {
    "gmail.com": ("mail-sor-f41.google.com", "209.85.220.41"),
    "yahoo.co.jp": ("nh604-vm3.bullet.mail.ssk.yahoo.co.jp", "182.22.90.188"),
    "outlook.jp": ("mail-os0jpn01on2092.outbound.protection.outlook.com", "40.107.113.92"),
    "outlook.com": ("mail-dm6nam10on2088.outbound.protection.outlook.com", "40.107.93.88"),
    "hotmail.com": ("mail-bn8nam12on2061.outbound.protection.outlook.com", "40.107.237.61"),
    "icloud.com": ("st43p00im-ztdg10073201.me.com", "17.58.63.179"),
    "yahoo.com": ("sonic314-21.consmr.mail.bf2.yahoo.com", "74.6.128.84"),
    "aol.com": ("sonic309-15.consmr.mail.ne1.yahoo.com", "66.163.191.152"),
    "docomo.ne.jp": ("mgw-b1.docomo.ne.jp", "203.138.180.112"),
    "ezweb.ne.jp": ("dmta0008.auone-net.jp", "106.187.224.8"),
}


def _h(s: str, n: int = 12) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:n]


def _doc_ip(seed: str) -> str:
    h = int(_h(seed, 8), 16)
    net = ("192.0.2", "198.51.100", "203.0.113")[h % 3]
    return f"{net}.{10 + (h >> 4) % 240}"


def _parse_date(m: Mail) -> datetime:
    return datetime.fromisoformat(m.date)


def message_id(m: Mail) -> str:
    dom = m.frm[1].rpartition("@")[2]
    mid_dom = m.mid_domain or dom
    seed = m.path
    if mid_dom in ("gmail.com", "mail.gmail.com"):
        raw = hashlib.sha256(seed.encode()).digest()
        tok = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"<CA{tok[:6]}+{tok[6:40]}@mail.gmail.com>"
    if mid_dom == "google.com":  # Google Calendar invitations
        return f"<calendar-{_h(seed, 8)}-{_h(seed + '1', 4)}-{_h(seed + '2', 4)}-" \
            f"{_h(seed + '3', 4)}-{_h(seed + '4', 12)}@google.com>"
    if mid_dom in ("outlook.jp", "outlook.com", "hotmail.com"):
        host = "TYCP286MB" if mid_dom == "outlook.jp" else "BY5PR11MB"
        tok = _h(seed, 4).upper()
        region = "jpnp286" if mid_dom == "outlook.jp" else "namprd11"
        return f"<{host}{tok}{_h(seed + 'a', 8).upper()}@{host}{tok}.{region}.prod.outlook.com>"
    if mid_dom == "icloud.com":
        u = _h(seed, 32).upper()
        return f"<{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}@icloud.com>"
    stamp = _parse_date(m).strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{_h(seed, 16).upper()}@{mid_dom}>"


def render_auth(a: Auth, mx: str, sender: str) -> str:
    dkim_d = a.dkim_d or a.mailfrom
    from_d = a.from_d or sender.rpartition("@")[2]
    sel = "s" + _h(dkim_d, 4)
    bsig = base64.b64encode(hashlib.sha256((dkim_d + sender).encode()).digest()[:6]).decode()
    lines = [
        f"Authentication-Results: {mx};",
        f"\tspf={a.spf} smtp.mailfrom={a.mailfrom};",
    ]
    if a.dkim == "none":
        lines.append("\tdkim=none;")
    else:
        lines.append(f"\tdkim={a.dkim} header.d={dkim_d} header.s={sel} header.b={bsig};")
    lines.append(f"\tdmarc={a.dmarc} header.from={from_d}")
    return "\n".join(lines)


def _ctype_line(ctype: str, params: list[tuple[str, str, bool]]) -> str:
    s = f"Content-Type: {ctype}"
    for k, v, q in params:
        s += f";\n\t{k}=\"{v}\"" if q else f"; {k}={v}"
    return s


def render_part(p: Part, seed: str, depth: int = 0) -> tuple[list[str], bytes]:
    """Return (header lines, body bytes with LF endings) for one part."""
    if isinstance(p, Text):
        params: list[tuple[str, str, bool]] = []
        if p.charset is not None:
            params.append(("charset", p.charset, p.quote_charset))
        params += [(k, v, False) for k, v in p.params]
        if p.filename:
            params.append(("name", p.filename, True))
        hdrs = [_ctype_line(f"text/{p.subtype}", params)]
        hdrs.append(f"Content-Transfer-Encoding: {p.cte}")
        if p.filename:
            hdrs.append(f'Content-Disposition: attachment; filename="{p.filename}"')
        codec = p.codec or py_codec(p.charset or "us-ascii")
        body = apply_cte(encode_text(p.text, codec), p.cte)
        return hdrs, body
    if isinstance(p, Binary):
        params = [(k, v, False) for k, v in p.params] + [("name", p.filename, True)]
        hdrs = [
            _ctype_line(p.ctype, params),
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: {p.disposition}; filename="{p.filename}"',
        ]
        return hdrs, b64_lines(p.data)
    boundary = f"--=_mg{depth}_{_h(seed + str(depth), 20)}"
    hdrs = [f'Content-Type: multipart/{p.subtype};\n\tboundary="{boundary}"']
    chunks = [b"This is a multi-part message in MIME format.\n"] if depth == 0 else [b""]
    for i, sub in enumerate(p.parts):
        sh, sb = render_part(sub, f"{seed}/{i}", depth + 1)
        chunks.append(f"--{boundary}\n".encode() + "\n".join(sh).encode() + b"\n\n" + sb + b"\n")
    chunks.append(f"--{boundary}--\n".encode())
    return hdrs, b"".join(chunks)


def render(m: Mail) -> bytes:
    to_dom = m.to[1].rpartition("@")[2]
    mx = "mx.example.jp" if to_dom.endswith(".jp") else "mx.example.com"
    sender = m.return_path or m.frm[1]
    sdom = sender.rpartition("@")[2]
    helo, ip = m.relay or FREEMAIL_RELAYS.get(sdom) or (f"mail.{sdom}", _doc_ip(sdom))
    dt = _parse_date(m)
    recv_dt = format_datetime(dt + timedelta(seconds=3))
    qid = _h("q" + m.path, 11).upper()
    lines = [
        f"Return-Path: <{sender}>",
        f"Received: from {helo} ({helo} [{ip}])\n\tby {mx} (Postfix) with ESMTPS id "
        f"{qid}\n\tfor <{m.to[1]}>; {recv_dt}",
    ]
    if m.auth:
        lines.append(render_auth(m.auth, mx, m.frm[1]))
    lines.append(header_addr("From", m.frm, m))
    lines.append(header_addr("To", m.to, m))
    if m.reply_to:
        lines.append(header_addr("Reply-To", m.reply_to, m))
    lines.append(header_text("Subject", m.subject, m))
    lines.append(f"Date: {format_datetime(dt)}")
    lines.append(f"Message-ID: {message_id(m)}")
    if m.mailer:
        lines.append(f"X-Mailer: {m.mailer}")
    for k, v in m.extra:
        lines.append(fold_ascii(k, v) if " " in v and len(v) > 70 else f"{k}: {v}")
    ph, body = render_part(m.body, m.path)
    if not m.headers_only_top:
        lines.append("MIME-Version: 1.0")
        lines += ph
    head = "\n".join(lines).encode("utf-8" if m.raw_subject else "ascii")
    wire = head + b"\n\n" + body
    if not wire.endswith(b"\n"):
        wire += b"\n"
    assert b"\r" not in wire, m.path
    wire = wire.replace(b"\n", b"\r\n")
    for ln in wire.split(b"\r\n"):
        assert len(ln) <= 998, (m.path, ln[:40])
    return wire


def describe(p: Part) -> str:
    """Encoding column for labels.tsv."""
    if isinstance(p, Text):
        if p.note:
            return p.note
        cte = {"quoted-printable": "qp"}.get(p.cte, p.cte)
        cs = (p.charset or "no-charset").lower()
        sub = "" if p.subtype == "plain" else f"{p.subtype}:"
        return f"{sub}{cs}/{cte}"
    if isinstance(p, Binary):
        return p.ctype
    return f"{p.subtype}(" + ",".join(describe(x) for x in p.parts) + ")"


def encoding_column(m: Mail) -> str:
    if m.enc:
        return m.enc
    col = describe(m.body)
    if m.split_ew:
        col += "+split-ew"
    if m.raw_subject:
        col += "+raw-utf8-subject"
    if m.hcs.upper() not in ("ISO-2022-JP", "UTF-8") and not m.subject.isascii():
        col += f"+hdr-{m.hcs.lower()}"
    return col


# --------------------------------------------------------------------------
# Small PDF writer (uncompressed text streams)
# --------------------------------------------------------------------------



# --------------------------------------------------------------------------
# iCalendar helper
# --------------------------------------------------------------------------



# --------------------------------------------------------------------------
# Spec files
# --------------------------------------------------------------------------

MARK = "%% "
SUFFIX = ".fixture"


class FixtureSpecError(ValueError):
    """A fixture spec that cannot be read; the message names the file."""


def _default_hcs(path: str) -> str:
    return "ISO-2022-JP" if path.startswith("ja/") else "UTF-8"


def _value(v: str) -> str:
    """A header-block value: plain when it reads back unchanged, else a JSON string."""
    if v and v == v.strip() and "\n" not in v and not v.startswith(('"', "[")):
        return v
    return json.dumps(v, ensure_ascii=False)


def _unvalue(v: str) -> str:
    if v.startswith('"'):
        out = json.loads(v)
        if not isinstance(out, str):
            raise ValueError("not a string")
        return out
    return v


def _addr(a: tuple[str, str]) -> str:
    return _value(json.dumps(list(a), ensure_ascii=False) if a[0] != a[0].strip() or "<" in a[0]
                  else (f"{a[0]} <{a[1]}>" if a[0] else f"<{a[1]}>"))


def _unaddr(v: str) -> tuple[str, str]:
    v = _unvalue(v)
    if v.startswith("["):
        name, addr = json.loads(v)
        return str(name), str(addr)
    name, _, rest = v.rpartition("<")
    if not rest.endswith(">"):
        raise ValueError("expected 'Name <addr>' or '<addr>'")
    return name.strip(), rest[:-1]


def _part_lines(p: Part, pdfs: dict[bytes, tuple[list[tuple[int, str]], str, bool]]) -> list[str]:
    if isinstance(p, Text):
        head: dict[str, Any] = {"part": "text"}
        defaults = Text("")
        for k in ("subtype", "charset", "cte", "codec", "filename", "quote_charset", "note"):
            if getattr(p, k) != getattr(defaults, k):
                head[k] = getattr(p, k)
        if p.params:
            head["params"] = [list(x) for x in p.params]
        return [MARK + json.dumps(head, ensure_ascii=False), p.text]
    if isinstance(p, Binary):
        head = {"part": "binary", "ctype": p.ctype, "filename": p.filename}
        if p.disposition != "attachment":
            head["disposition"] = p.disposition
        if p.params:
            head["params"] = [list(x) for x in p.params]
        if p.data in pdfs:
            lines, title, japanese = pdfs[p.data]
            head.update(source="pdf", title=title, japanese=japanese)
            return [MARK + json.dumps(head, ensure_ascii=False),
                    "\n".join(f"{size}\t{text}" for size, text in lines)]
        text = p.data.decode("utf-8")
        if text.replace("\r\n", "\n").replace("\n", "\r\n") != text:
            raise ValueError("binary part is neither a PDF we made nor CRLF text")
        head["source"] = "text-crlf"
        return [MARK + json.dumps(head, ensure_ascii=False), text.replace("\r\n", "\n")]
    out = [MARK + json.dumps({"part": "multi", "subtype": p.subtype})]
    for sub in p.parts:
        out += _part_lines(sub, pdfs)
    out.append(MARK + "end")
    return out


def dump_spec(m: Mail, pdfs: dict[bytes, tuple[list[tuple[int, str]], str, bool]]) -> str:
    """The spec text for one message (used once to convert the old generator)."""
    h: list[tuple[str, str]] = [
        ("path", m.path), ("label", m.label), ("category", m.category), ("kind", m.kind),
        ("date", m.date), ("from", _addr(m.frm)), ("subject", _value(m.subject)),
    ]
    if m.to != TARO:
        h.append(("to", _addr(m.to)))
    if m.reply_to:
        h.append(("reply_to", _addr(m.reply_to)))
    if m.return_path:
        h.append(("return_path", m.return_path))
    if m.auth:
        a = m.auth
        h.append(("auth", json.dumps([a.spf, a.dkim, a.dmarc, a.mailfrom, a.dkim_d, a.from_d])))
    if m.relay:
        h.append(("relay", f"{m.relay[0]} {m.relay[1]}"))
    if m.hcs != _default_hcs(m.path):
        h.append(("hcs", m.hcs))
    if m.hmode != "B":
        h.append(("hmode", m.hmode))
    if m.split_ew:
        h.append(("split_ew", str(m.split_ew)))
    if m.raw_subject:
        h.append(("raw_subject", "yes"))
    for k, v in m.extra:
        h.append(("extra", json.dumps([k, v], ensure_ascii=False)))
    for key in ("enc", "mailer", "mid_domain", "sample"):
        if getattr(m, key):
            h.append((key, _value(getattr(m, key))))
    if m.headers_only_top:
        h.append(("headers_only_top", "yes"))
    for n in m.notes:
        h.append(("note", _value(n)))
    lines = [f"{k}: {v}" if v else f"{k}:" for k, v in h]
    return "\n".join(lines) + "\n" + "\n".join(_part_lines(m.body, pdfs)) + "\n"


_SCALAR = {"path", "label", "category", "kind", "date", "subject", "return_path", "hcs",
           "hmode", "enc", "mailer", "mid_domain", "sample"}


def load_fixture(path: str | Path) -> Mail:
    """Read one spec file; raise :class:`FixtureSpecError` naming the file and the problem."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return _parse(text)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise FixtureSpecError(f"{path}: {exc}") from None


def _parse(text: str) -> Mail:
    head, sep, body = text.partition("\n" + MARK)
    if not sep:
        raise ValueError("no part (a line starting with '%% ')")
    kw: dict[str, Any] = {"extra": [], "notes": []}
    for line in head.split("\n"):
        key, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"not a 'key: value' line: {line[:40]!r}")
        value = value[1:] if value.startswith(" ") else value
        if key in _SCALAR:
            kw[key] = _unvalue(value)
        elif key in ("from", "to", "reply_to"):
            kw["frm" if key == "from" else key] = _unaddr(value)
        elif key == "auth":
            kw["auth"] = Auth(*json.loads(value))
        elif key == "relay":
            helo, ip = value.split(" ")
            kw["relay"] = (helo, ip)
        elif key == "split_ew":
            kw["split_ew"] = int(value)
        elif key in ("raw_subject", "headers_only_top"):
            kw[key] = value == "yes"
        elif key == "extra":
            k, v = json.loads(value)
            kw["extra"].append((k, v))
        elif key == "note":
            kw["notes"].append(_unvalue(value))
        else:
            raise ValueError(f"unknown key {key!r}")
    kw["extra"] = tuple(kw["extra"])
    blocks = _blocks(MARK + body)
    part, rest = _read_part(blocks)
    if rest:
        raise ValueError("parts after the message body")
    frm = kw.pop("frm")
    return Mail(kw.pop("path"), kw.pop("label"), kw.pop("category", ""), kw.pop("kind"),
                kw.pop("date"), frm, kw.pop("subject", ""), part, **kw)


def _blocks(body: str) -> list[tuple[str, str]]:
    """(marker json, content) pairs; content excludes the newline before the next marker."""
    out: list[tuple[str, str]] = []
    chunks = body.split("\n" + MARK)
    chunks[0] = chunks[0][len(MARK):]
    for i, chunk in enumerate(chunks):
        marker, _, content = chunk.partition("\n")
        if i == len(chunks) - 1:
            if not content.endswith("\n") and content:
                raise ValueError("the file must end with a newline")
            content = content[:-1] if content else content
        out.append((marker, content))
    return out


def _read_part(blocks: list[tuple[str, str]]) -> tuple[Part, list[tuple[str, str]]]:
    marker, content = blocks[0]
    rest = blocks[1:]
    if marker == "end":
        raise ValueError("'%% end' without a multipart")
    head = json.loads(marker)
    kind = head.pop("part")
    if kind == "multi":
        parts: list[Part] = []
        while rest and rest[0][0] != "end":
            sub, rest = _read_part(rest)
            parts.append(sub)
        if not rest:
            raise ValueError("multipart without '%% end'")
        return Multi(head["subtype"], tuple(parts)), rest[1:]
    if "params" in head:
        head["params"] = tuple(tuple(x) for x in head["params"])
    if kind == "text":
        return Text(content, **head), rest
    if kind != "binary":
        raise ValueError(f"unknown part kind {kind!r}")
    source = head.pop("source")
    if source == "pdf":
        lines = [(int(size), txt) for size, _, txt in (ln.partition("\t") for ln in
                                                       content.split("\n"))]
        data = make_pdf(lines, head.pop("title"), japanese=head.pop("japanese"))
    elif source == "text-crlf":
        data = content.replace("\n", "\r\n").encode("utf-8")
    else:
        raise ValueError(f"unknown binary source {source!r}")
    return Binary(head.pop("ctype"), data, head.pop("filename"), **head), rest


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

SAMPLES_README_HEAD = """\
# Demo messages

Copies of fixtures from `tests/fixtures/mail/`, generated from
`tests/fixtures/mail/specs/` by `python -m mailguard.testing.fixturemail`
(do not edit by hand). The demo appends them to a throwaway IMAP inbox.
Every scam is invented; every address and number in them is fake.

"""


def all_mails(fixtures_dir: Path) -> list[Mail]:
    """Every fixture spec below ``fixtures_dir/specs``, checked and sorted by path."""
    mails = [load_fixture(p) for p in sorted((fixtures_dir / "specs").rglob("*" + SUFFIX))]
    paths = [m.path for m in mails]
    if len(paths) != len(set(paths)):
        raise FixtureSpecError("duplicate fixture path")
    for m in mails:
        if m.label not in ("scam", "ham") or (m.label == "ham") != (m.category == "") or \
                m.category not in ("", "fake_billing", "withdrawal"):
            raise FixtureSpecError(f"{m.path}: bad label/category")
    return sorted(mails, key=lambda x: x.path)


def sample_name(m: Mail) -> str:
    return m.path.replace("/", "-", 1)


def build(fixtures_dir: Path, samples_dir: Path) -> dict[Path, bytes]:
    """Every output file (absolute path) and its exact bytes."""
    mails = all_mails(fixtures_dir)
    out: dict[Path, bytes] = {}
    rows = []
    for m in mails:
        out[fixtures_dir / m.path] = render(m)
        rows.append("\t".join((m.path, m.label, m.category, m.kind, encoding_column(m))))
    out[fixtures_dir / "labels.tsv"] = ("\n".join(rows) + "\n").encode()
    readme = [SAMPLES_README_HEAD]
    for m in mails:
        if m.sample:
            name = sample_name(m)
            out[samples_dir / name] = out[fixtures_dir / m.path]
            readme.append(f"- `{name}` ({m.label}): {m.sample}\n")
    out[samples_dir / "README.md"] = "".join(readme).encode()
    return out


def stale_files(out: dict[Path, bytes], fixtures_dir: Path, samples_dir: Path) -> list[Path]:
    found = [*fixtures_dir.glob("ja/*.eml"), *fixtures_dir.glob("en/*.eml"),
             *samples_dir.glob("*.eml")]
    return sorted(p for p in found if p not in out)


def default_samples_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "samples"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render the mail fixture specs to .eml files.")
    ap.add_argument("fixtures_dir", type=Path, help="e.g. tests/fixtures/mail")
    ap.add_argument("--samples", type=Path, default=None,
                    help="demo copies folder (default: the package's samples/)")
    ap.add_argument("--check", action="store_true",
                    help="verify the files on disk instead of writing them")
    args = ap.parse_args(argv)
    fixtures_dir = args.fixtures_dir.resolve()
    samples_dir = (args.samples or default_samples_dir()).resolve()
    try:
        out = build(fixtures_dir, samples_dir)
    except FixtureSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = stale_files(out, fixtures_dir, samples_dir)
    if args.check:
        bad = [p for p, data in out.items() if not p.exists() or p.read_bytes() != data]
        for p in bad + stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if bad or stale else 0
    for p in stale:
        p.unlink()
    for p, data in out.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)
    n = sum(1 for p in out if p.suffix == ".eml" and samples_dir not in p.parents)
    print(f"wrote {n} fixtures, labels.tsv and {len(out) - n - 2} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
