"""Raw message bytes to an immutable, fully decoded :class:`ParsedMessage` (never raises)."""

from mailguard.parse.model import (
    Address,
    Amount,
    Attachment,
    AuthResults,
    Link,
    ParsedMessage,
    Phone,
    TextPart,
    Url,
)
from mailguard.parse.parser import parse_message

__all__ = [
    "Address",
    "Amount",
    "Attachment",
    "AuthResults",
    "Link",
    "ParsedMessage",
    "Phone",
    "TextPart",
    "Url",
    "parse_message",
]
