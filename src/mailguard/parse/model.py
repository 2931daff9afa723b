"""The immutable message model that detection and the digest read.

Parsing turns raw RFC 5322 bytes into one :class:`ParsedMessage`. It never
raises: whatever could not be decoded is recorded in ``defects`` and the rest
is still filled in, because a scam that breaks our parser must still be seen.

Derived features (normalised text, URLs, phones, amounts) are computed lazily
and cached, so callers that only need headers do not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property


@dataclass(frozen=True)
class Address:
    """One mailbox: display name as decoded Unicode, address lower-cased."""

    name: str
    addr: str

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2] if "@" in self.addr else ""

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


@dataclass(frozen=True)
class AuthResults:
    """Verdicts from Authentication-Results: 'pass', 'fail', 'softfail', 'none'…, or None."""

    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None
    spf_domain: str | None = None
    dkim_domains: tuple[str, ...] = ()
    dmarc_domain: str | None = None

    @property
    def any_fail(self) -> bool:
        verdicts = (self.spf, self.dkim, self.dmarc)
        return any(v in ("fail", "softfail", "permerror") for v in verdicts)


@dataclass(frozen=True)
class TextPart:
    """One decoded text/* part. ``charset`` is what we actually decoded with."""

    content_type: str
    text: str
    declared_charset: str | None
    charset: str
    truncated: bool = False


@dataclass(frozen=True)
class Link:
    """An HTML anchor: the visible text and where it really goes."""

    text: str
    href: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    text: str = ""  # text extracted from small PDFs and text/calendar parts


@dataclass(frozen=True)
class Url:
    url: str
    domain: str


@dataclass(frozen=True)
class Phone:
    """A phone number as written (``raw``) and as digits with a leading + if any."""

    raw: str
    digits: str
    international: bool


@dataclass(frozen=True)
class Amount:
    raw: str
    value: float
    currency: str  # "JPY", "USD", "GBP", "EUR"


@dataclass(frozen=True)
class ParsedMessage:
    """Everything we know about one message, decoded to Unicode."""

    raw_size: int
    truncated: bool
    message_id: str
    subject: str
    date: datetime | None
    from_: Address | None
    reply_to: tuple[Address, ...]
    sender: Address | None
    return_path: str
    to: tuple[Address, ...]
    auth: AuthResults
    list_id: str
    list_unsubscribe: str
    headers: dict[str, str]  # lower-cased name -> decoded value (first occurrence)
    text_parts: tuple[TextPart, ...]
    html_text: str  # visible text of the HTML parts
    links: tuple[Link, ...]
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = ()

    @property
    def plain_text(self) -> str:
        return "\n".join(p.text for p in self.text_parts if p.content_type == "text/plain")

    @cached_property
    def body_text(self) -> str:
        """What a reader sees: plain text, else the HTML's visible text, plus attachment text.

        Both are joined when they differ, because scams often put different
        text in each alternative.
        """
        from mailguard.parse.features import visible_body

        return visible_body(self)

    @cached_property
    def normalized(self) -> str:
        """Subject + body, NFKC-folded, invisible characters removed, for matching."""
        from mailguard.parse.features import normalize

        return normalize(self.subject + "\n" + self.body_text)

    @cached_property
    def urls(self) -> tuple[Url, ...]:
        from mailguard.parse.features import extract_urls

        return extract_urls(self)

    @cached_property
    def phones(self) -> tuple[Phone, ...]:
        from mailguard.parse.features import extract_phones

        return extract_phones(self.normalized)

    @cached_property
    def amounts(self) -> tuple[Amount, ...]:
        from mailguard.parse.features import extract_amounts

        return extract_amounts(self.normalized)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)
