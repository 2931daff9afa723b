"""Text from attachments that carry scam wording: small PDFs and calendar invites.

Callback-phishing often arrives as a blank body with a PDF "invoice", or as a
calendar invitation whose description holds the phone number. Both must be
readable by detection, but neither may hang or crash the scan, so PDF
extraction is capped in size, pages, operators and time, silenced and wrapped.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import warnings
import zlib
from typing import Any, cast

_MAX_PDF_PAGES = 5
_ENOUGH_PDF_TEXT = 1500  # the scam wording is on the first page; stop once we have plenty
# Hostile-PDF budgets (a 41 KB PDF can inflate to 10 MB of text operators):
PDF_MAX_CONTENT_BYTES = 64 * 1024  # decoded content stream bytes handed to pypdf per page
PDF_MAX_DECODED_STREAM = 8 * 1024 * 1024  # pypdf's own cap for any other stream it decodes
PDF_MAX_OPERATORS = 20_000  # content-stream operators interpreted per PDF
PDF_TIME_BUDGET_S = 0.5  # CPU seconds per PDF (see pdf_clock), checked between operators


def pdf_clock() -> float:
    """The clock the PDF budgets are counted on: this thread's CPU time.

    Not wall-clock time: on a busy machine (a shared two-core server, a
    laptop compiling something) the wall clock ran out before a PDF was read,
    so a verdict depended on the load: one honeypot invoice whose PDF names
    the brand scored 10.4 on one evaluation run and 6.0 on a busier one. A
    hostile PDF costs CPU, which this clock still bounds; time spent waiting
    for a core or for the GIL is not counted against the message.
    """
    return time.thread_time()


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


class _BudgetExceeded(BaseException):
    """Raised from a pypdf visitor to stop extraction; the text read so far is kept.

    A BaseException on purpose: pypdf catches ``Exception`` around every form
    XObject and carries on, which would turn a budget stop into a silent loss
    of time instead of a stop.
    """


def _pdf_config() -> contextlib.AbstractContextManager[object]:
    """pypdf's own resource limits, tightened for mail (pypdf >= 7 has them)."""
    try:
        from pypdf import apply_configuration
    except ImportError:  # older pypdf: our own caps below still apply
        return contextlib.nullcontext()
    try:
        return cast(
            "contextlib.AbstractContextManager[object]",
            apply_configuration(
                zlib_maximum_output_length=PDF_MAX_DECODED_STREAM,
                lzw_maximum_output_length=PDF_MAX_DECODED_STREAM,
                run_length_maximum_output_length=PDF_MAX_DECODED_STREAM,
                array_based_stream_maximum_output_length=PDF_MAX_DECODED_STREAM,
                stream_parsing_work_maximum_count=PDF_MAX_OPERATORS * 8,
            ),
        )
    except TypeError:  # a field renamed in some pypdf version: keep its defaults
        return contextlib.nullcontext()


def _bounded_contents(page: Any, defects: list[str]) -> None:
    """Replace the page's content stream by its first ``PDF_MAX_CONTENT_BYTES`` bytes.

    pypdf parses a whole content stream into Python objects before it reads
    the first operator, so a 40 KB PDF whose stream inflates to megabytes of
    text operators costs a minute and hundreds of MB. The scam wording is at
    the start of the page; a prefix cut at an operator boundary (a line end or
    ``ET``) keeps everything pypdf needs for it.
    """
    from pypdf.generic import ArrayObject, DecodedStreamObject, NameObject

    _bounded_forms(page, defects)
    contents = page.get("/Contents")
    if contents is None:
        return
    contents = contents.get_object()
    streams = list(contents) if isinstance(contents, ArrayObject) else [contents]
    chunks: list[bytes] = []
    size = 0
    cut = False
    for ref in streams:
        stream = ref.get_object()
        data = _stream_prefix(stream, PDF_MAX_CONTENT_BYTES - size + 1)
        if size + len(data) > PDF_MAX_CONTENT_BYTES:
            data = _cut(data, PDF_MAX_CONTENT_BYTES - size)
            cut = True
        chunks.append(data)
        size += len(data)
        if cut:
            break
    if not cut:
        return  # small enough: leave the page exactly as it is
    defects.append("pdf:budget-exceeded:content-size")
    bounded = DecodedStreamObject()
    bounded.set_data(b"\n".join(chunks))
    page[NameObject("/Contents")] = bounded


def _cut(data: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, ending at an operator boundary (a line end or ``ET``)."""
    data = data[:limit]
    end = max(data.rfind(b"\n"), data.rfind(b"\r"), data.rfind(b"ET") + 1)
    return data[: end + 1] if end > 0 else data


_MAX_FORMS = 64


def _bounded_forms(page: Any, defects: list[str]) -> None:
    """Cut the page's form XObjects (content drawn with ``Do``) the same way as the page.

    The operators can as well sit in a form XObject that the page draws;
    pypdf parses such a form whole, too, and swallows any error in it.
    """
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject):
        return
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not isinstance(xobjects, DictionaryObject):
        return
    for name in list(xobjects.keys())[:_MAX_FORMS]:
        form = xobjects[name].get_object()
        if not isinstance(form, DictionaryObject) or form.get("/Subtype") != "/Form":
            continue
        data = _stream_prefix(form, PDF_MAX_CONTENT_BYTES + 1)
        if len(data) <= PDF_MAX_CONTENT_BYTES:
            continue
        bounded = DecodedStreamObject()
        for key, value in form.items():
            if key not in ("/Filter", "/DecodeParms", "/Length"):
                bounded[NameObject(key)] = value
        bounded.set_data(_cut(data, PDF_MAX_CONTENT_BYTES))
        xobjects[NameObject(name)] = bounded
        defects.append("pdf:budget-exceeded:content-size")


def _stream_prefix(stream: Any, limit: int) -> bytes:
    """At most ``limit`` decoded bytes of a content stream.

    Plain /FlateDecode (nearly every content stream) is inflated here with
    ``max_length``, so a deflate bomb never inflates past the limit; other
    filters go through pypdf, whose own output caps are tightened by
    :func:`_pdf_config`.
    """
    filters = stream.get("/Filter")
    raw = getattr(stream, "_data", None)
    if filters == "/FlateDecode" and stream.get("/DecodeParms") is None and isinstance(raw, bytes):
        try:
            return zlib.decompressobj().decompress(raw, limit)
        except zlib.error:
            pass  # let pypdf try its recovery
    data = stream.get_data()
    return data[:limit] if isinstance(data, bytes) else b""


def pdf_text(
    data: bytes, limit: int, *, budget_s: float = PDF_TIME_BUDGET_S
) -> tuple[str, str | None]:
    """Text of the first few pages of a PDF, and a defect string when it failed or was cut.

    Bounded by size (the content stream is cut to a prefix before pypdf
    parses it), by operators and by CPU time (both checked from a pypdf
    visitor before every operator): a hostile PDF costs at most about
    ``budget_s`` CPU seconds. Text read before a cut is kept, and the cut is
    reported as ``pdf:budget-exceeded:…`` so that a reader of the verdict can
    see that the PDF was not read to the end.
    """
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a declared dependency
        return "", "pdf:unavailable"
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    texts: list[str] = []
    defects: list[str] = []
    total = 0
    deadline = pdf_clock() + budget_s
    ops = 0
    wanted = min(limit, _ENOUGH_PDF_TEXT)

    def before(_op: object, _args: object, _cm: object, _tm: object) -> None:
        nonlocal ops
        ops += 1
        if ops > PDF_MAX_OPERATORS:
            raise _BudgetExceeded("operators")
        if ops % 64 == 0 and pdf_clock() > deadline:
            raise _BudgetExceeded("time")

    try:
        with warnings.catch_warnings(), _pdf_config():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    reader.decrypt("")
                except Exception:
                    return "", "pdf:encrypted"
            for i, page in enumerate(reader.pages):
                if i >= _MAX_PDF_PAGES or total >= wanted:
                    break
                if i and pdf_clock() > deadline:  # the visitor guards the first page
                    defects.append("pdf:budget-exceeded:time")
                    break
                _bounded_contents(page, defects)
                seen: list[str] = []

                def on_text(text: str, *_rest: object, seen: list[str] = seen) -> None:
                    seen.append(text)

                try:
                    text = page.extract_text(visitor_operand_before=before, visitor_text=on_text)
                except _BudgetExceeded as cut:
                    texts.append("".join(seen))
                    defects.append(f"pdf:budget-exceeded:{cut}")
                    break
                text = text or ""
                texts.append(text)
                total += len(text)
    except Exception as exc:  # pypdf raises many types on malformed input
        joined = "\n".join(texts)[:limit]
        return joined, f"pdf:error:{type(exc).__name__}"
    return "\n".join(texts)[:limit], (defects[0] if defects else None)
