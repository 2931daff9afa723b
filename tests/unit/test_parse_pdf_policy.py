"""PDF text is read for the blank-body invoice trick, and skipped when the body speaks.

Extracting PDF text costs more than the rest of a parse; detection needs it
only when the visible body is short (the scam text then sits in the PDF).
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from mailguard.parse import parse_message
from mailguard.parse.mime import PDF_WHEN_BODY_UNDER

BLANK_PDF = Path(__file__).resolve().parents[1] / "fixtures" / "parse" / "en_blank_body_pdf.eml"


def _pdf_bytes() -> tuple[bytes, str]:
    msg = email.message_from_bytes(BLANK_PDF.read_bytes(), policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "application/pdf":
            return part.get_payload(decode=True), part.get_filename() or "invoice.pdf"
    raise AssertionError("fixture has no PDF")


def _with_body(body: str) -> bytes:
    data, name = _pdf_bytes()
    msg = EmailMessage()
    msg["From"] = "billing@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Invoice"
    msg.set_content(body)
    msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def test_blank_body_pdf_text_is_read() -> None:
    parsed = parse_message(BLANK_PDF.read_bytes())
    [pdf] = [a for a in parsed.attachments if a.content_type == "application/pdf"]
    assert pdf.text.strip(), "the PDF's text is what detection needs here"
    assert pdf.text.strip()[:20] in parsed.body_text


def test_short_body_still_reads_pdf() -> None:
    parsed = parse_message(_with_body("Please see the attached invoice."))
    [pdf] = [a for a in parsed.attachments if a.content_type == "application/pdf"]
    assert pdf.text.strip()


def test_long_body_skips_pdf_and_says_so() -> None:
    body = "Thank you for your order. " * (PDF_WHEN_BODY_UNDER // 20)
    parsed = parse_message(_with_body(body))
    [pdf] = [a for a in parsed.attachments if a.content_type == "application/pdf"]
    assert pdf.text == ""
    assert pdf.size > 0
    assert "pdf:not-read:body-present" in parsed.defects
