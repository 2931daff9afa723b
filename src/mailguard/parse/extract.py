"""Text from attachments that carry scam wording: small PDFs and calendar invites.

Callback-phishing often arrives as a blank body with a PDF "invoice", or as a
calendar invitation whose description holds the phone number. Both must be
readable by detection, but neither may hang or crash the scan, so PDF
extraction is size- and page-capped, silenced and wrapped.
"""

from __future__ import annotations

import io
import logging
import re
import warnings

_MAX_PDF_PAGES = 5
_ENOUGH_PDF_TEXT = 1500  # the scam wording is on the first page; stop once we have plenty
_CAL_UNFOLD = re.compile(r"\r?\n[ \t]")
_CAL_PROP = re.compile(
    r"^(SUMMARY|DESCRIPTION|LOCATION|COMMENT|X-ALT-DESC)((?:;[^:\r\n]*)?):(.*)$", re.I | re.M
)
_CAL_ESCAPE = re.compile(r"\\([nN,;\\:])")
_CAL_ESCAPES = {"n": "\n", "N": "\n", ",": ",", ";": ";", "\\": "\\", ":": ":"}


def calendar_text(ics: str, limit: int) -> str:
    """SUMMARY / DESCRIPTION / LOCATION / COMMENT of an iCalendar body, unfolded and unescaped."""
    from mailguard.parse.html import html_to_text

    ics = _CAL_UNFOLD.sub("", ics[: limit * 2])
    out: list[str] = []
    for name, params, value in _CAL_PROP.findall(ics):
        text = _CAL_ESCAPE.sub(lambda m: _CAL_ESCAPES[m.group(1)], value.rstrip("\r"))
        if name.upper() == "X-ALT-DESC":
            if "html" not in params.lower():
                continue
            text = html_to_text(text).text
        if text.strip() and text not in out:
            out.append(text)
    return "\n".join(out)[:limit]


def pdf_text(data: bytes, limit: int) -> tuple[str, str | None]:
    """Text of the first few pages of a PDF, and a defect string when it failed."""
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a declared dependency
        return "", "pdf:unavailable"
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    texts: list[str] = []
    total = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    reader.decrypt("")
                except Exception:
                    return "", "pdf:encrypted"
            for i, page in enumerate(reader.pages):
                if i >= _MAX_PDF_PAGES or total >= min(limit, _ENOUGH_PDF_TEXT):
                    break
                text = page.extract_text() or ""
                texts.append(text)
                total += len(text)
    except Exception as exc:  # pypdf raises many types on malformed input
        joined = "\n".join(texts)[:limit]
        return joined, f"pdf:error:{type(exc).__name__}"
    return "\n".join(texts)[:limit], None
