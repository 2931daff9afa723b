"""Wrap a rendered digest in a MIME message.

The message is multipart/alternative (plain text first, HTML preferred by
clients that can show it), 7-bit clean so that no relay or IMAP server has
to re-encode it, and marked so that it is never mistaken for mail to scan:

* ``X-Mailguard-Digest: 1`` tells our own pipeline to skip it. A scammer can
  forge that header, so the pipeline should also check the Message-ID (or the
  From address) against what it sent; the header alone only avoids work.
* ``Auto-Submitted: auto-generated`` (RFC 3834) and
  ``X-Auto-Response-Suppress: All`` stop vacation replies to the digest.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from mailguard.digest.model import RenderedDigest

DIGEST_HEADER = "X-Mailguard-Digest"
_DOMAIN_OK = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def _msgid_domain(from_addr: str) -> str:
    local, at, domain = parseaddr(from_addr)[1].rpartition("@")
    return domain if local and at and _DOMAIN_OK.match(domain) else "mailguard.invalid"


def _transfer_encoding(text: str) -> str:
    """quoted-printable for mostly-ASCII text (readable raw), else base64 (compact)."""
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return "quoted-printable" if non_ascii * 10 <= len(text) else "base64"


def build_message(
    rendered: RenderedDigest, *, from_addr: str, to_addr: str, now: datetime
) -> EmailMessage:
    """Build the digest message. Raises ValueError for an address with a line break."""
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = to_addr
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now if now.tzinfo is not None else now.astimezone())
    msg["Message-ID"] = make_msgid(domain=_msgid_domain(from_addr))
    msg[DIGEST_HEADER] = "1"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text, charset="utf-8", cte=_transfer_encoding(rendered.text))
    msg.add_alternative(
        rendered.html, subtype="html", charset="utf-8", cte=_transfer_encoding(rendered.html)
    )
    if rendered.language:  # after set_content, which clears Content-* headers
        msg["Content-Language"] = rendered.language
    return msg
