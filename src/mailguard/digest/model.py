"""The digest's input and output records.

The pipeline maps its state records into :class:`DigestItem` so that the digest
never imports state or detection code (data flows one way, see DESIGN.md).
Every string field here may come straight from a scam message: treat it as
hostile. :mod:`mailguard.digest.safe` neutralises it before it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailguard.situations import derive_situations
from mailguard.vocabulary import Category, Situation, VerdictKind

VERDICTS = (VerdictKind.SCAM, VerdictKind.SUSPICIOUS)
CATEGORIES = tuple(Category)


@dataclass(frozen=True)
class DigestReason:
    """One rule that fired, with its localised descriptions (from our rule data)."""

    rule: str
    description_ja: str
    description_en: str
    evidence: str = ""  # short matched text from the message: hostile
    weight: float = 0.0

    def description(self, language: str) -> str:
        """The description in ``language``, falling back to the other one if empty."""
        first, second = (
            (self.description_ja, self.description_en)
            if language == "ja"
            else (self.description_en, self.description_ja)
        )
        return first or second or self.rule


@dataclass(frozen=True)
class DigestItem:
    """One quarantined (``scam``) or reported-but-left (``suspicious``) message."""

    id: int  # quarantine record id: the one number shown for it everywhere (`mailguard release ID`)
    arrived: datetime | None  # when the server received it (INTERNALDATE)
    sender_name: str
    sender_addr: str
    subject: str
    category: str | None  # "fake_billing" | "withdrawal" | None (other)
    verdict: str  # "scam" (quarantined) | "suspicious" (left in place)
    reasons: tuple[DigestReason, ...]
    folder: str  # where it is now
    original_folder: str
    urls: tuple[str, ...] = ()  # shown defanged only, never as links
    phones: tuple[str, ...] = ()  # shown as text, marked as the scammer's
    contacted_on: datetime | None = None  # the user wrote to this sender (Sent folder)
    # What the message means for the reader (mailguard.detect.situations), derived
    # once when it was held and stored with the record. Empty: derived here from
    # the verdict, category and contact alone (no court claim can be inferred).
    situations: frozenset[Situation] = field(default_factory=frozenset)
    arrived_from_header: bool = False  # ``arrived`` is the sender's Date: header (no INTERNALDATE)
    copy_only: bool = False  # the server could only copy: the original is still in its folder

    def __post_init__(self) -> None:
        # Fail at construction, in the pipeline's tests, rather than render a
        # digest that tells the user a real message was quarantined or not.
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.situations:
            derived = derive_situations(
                verdict=self.verdict,
                category=self.category,
                reasons=(),
                contacted=self.contacted_on is not None,
            )
            object.__setattr__(self, "situations", derived)

    @property
    def court_claim(self) -> bool:
        """Claims to be a court, ministry, public body or law office."""
        return Situation.OFFICIAL_CLAIM in self.situations

    @property
    def followup(self) -> bool:
        """Reads like a reply to earlier contact, or the user wrote to the sender."""
        return Situation.AFTER_CONTACT in self.situations

    @property
    def quarantined(self) -> bool:
        return self.verdict == "scam"

    @property
    def post_contact(self) -> bool:
        """The user has probably already been in touch with this sender."""
        return self.followup


@dataclass(frozen=True)
class RenderedDigest:
    """A rendered digest or alert, ready for :func:`mailguard.digest.build_message`."""

    subject: str
    text: str
    html: str
    language: str = ""  # BCP 47 tag for Content-Language; empty to leave it out
