"""The digest's input and output records.

The pipeline maps its state records into :class:`DigestItem` so that the digest
never imports state or detection code (data flows one way, see DESIGN.md).
Every string field here may come straight from a scam message: treat it as
hostile. :mod:`mailguard.digest.safe` neutralises it before it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

VERDICTS = ("scam", "suspicious")
CATEGORIES = ("fake_billing", "withdrawal")


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

    id: int  # quarantine record id, used in `mailguard release ID`
    arrived: datetime | None
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
    court_claim: bool = False  # claims to come from a court / ministry / law firm
    # The wording presumes earlier contact (「申請に不備があり」, 「お電話ありがとう
    # ございました」): set it when a reason of the detection family "postcontact" fired.
    followup: bool = False

    def __post_init__(self) -> None:
        # Fail at construction, in the pipeline's tests, rather than render a
        # digest that tells the user a real message was quarantined or not.
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def quarantined(self) -> bool:
        return self.verdict == "scam"

    @property
    def post_contact(self) -> bool:
        """The user has probably already been in touch with this sender."""
        return self.contacted_on is not None or self.followup


@dataclass(frozen=True)
class RenderedDigest:
    """A rendered digest or alert, ready for :func:`mailguard.digest.build_message`."""

    subject: str
    text: str
    html: str
    language: str = ""  # BCP 47 tag for Content-Language; empty to leave it out
