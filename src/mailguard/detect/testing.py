"""Build :class:`ParsedMessage` objects directly, for tests of detection.

Detection tests should exercise one rule or one scoring mechanism at a time,
without depending on MIME encoding details; this builder fills every field of
the model with neutral defaults so a test states only what it is about.
"""

from __future__ import annotations

from email.utils import parseaddr

from mailguard.parse.model import (
    Address,
    Attachment,
    AuthResults,
    Link,
    ParsedMessage,
    TextPart,
)


def address(text: str) -> Address:
    """``"Name <user@example.com>"`` or ``"user@example.com"`` -> :class:`Address`."""
    name, addr = parseaddr(text)
    if not addr and "@" not in text:
        return Address(name=text.strip(), addr="")
    return Address(name=name, addr=addr.lower())


def make_message(
    body: str = "",
    *,
    subject: str = "",
    from_: str | None = "Sender <sender@example.com>",
    to: tuple[str, ...] = ("user@example.org",),
    reply_to: tuple[str, ...] = (),
    html: str = "",
    links: tuple[tuple[str, str], ...] = (),
    attachments: tuple[Attachment, ...] = (),
    auth: AuthResults | None = None,
    headers: dict[str, str] | None = None,
    list_id: str = "",
    list_unsubscribe: str = "",
    calendar: str = "",
) -> ParsedMessage:
    """A decoded message with ``body`` as its text/plain part.

    ``links`` are (visible text, href) pairs of an HTML part; ``calendar``
    adds a text/calendar attachment carrying that text.
    """
    parts = []
    if body:
        parts.append(TextPart("text/plain", body, "utf-8", "utf-8"))
    atts = list(attachments)
    if calendar:
        atts.append(Attachment("invite.ics", "text/calendar", len(calendar), calendar))
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("subject", subject)
    return ParsedMessage(
        raw_size=len(body) + len(html),
        truncated=False,
        message_id="<test@example.com>",
        subject=subject,
        date=None,
        from_=address(from_) if from_ is not None else None,
        reply_to=tuple(address(a) for a in reply_to),
        sender=None,
        return_path="",
        to=tuple(address(a) for a in to),
        auth=auth or AuthResults(),
        list_id=list_id,
        list_unsubscribe=list_unsubscribe,
        headers=hdrs,
        text_parts=tuple(parts),
        html_text=html,
        links=tuple(Link(text=t, href=h) for t, h in links),
        attachments=tuple(atts),
    )
