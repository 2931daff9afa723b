"""Render a digest or alert from Jinja2 templates, one set per language.

Everything a template sees is a plain string made safe by
:mod:`mailguard.digest.safe` first; the HTML templates are autoescaped on top
of that, and never put message data in an attribute, so there is no way for a
scam to add a link, an image or a script to our HTML. Plain-text templates
are not escaped (there is no markup to break) but get the same neutralised
strings.

Times are shown in the time zone of ``now``: pass an aware local time
(``datetime.now().astimezone()``) and the reader sees their own clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

import jinja2

from mailguard.digest import nextsteps, safe
from mailguard.digest.model import CATEGORIES, DigestItem, RenderedDigest

Kind = Literal["digest", "alert"]
MAX_LISTED = 50  # per group; a flood of scams must not bury the advice
MAX_REASONS = 2  # the two strongest: enough to see why, short enough for a phone screen
MAX_URLS = 2
MAX_URL_CHARS = 60  # tracking URLs run to hundreds of characters; the host is what matters
MAX_PHONES = 3


@dataclass(frozen=True)
class ReasonView:
    text: str
    evidence: str


@dataclass(frozen=True)
class ItemView:
    """One message as the templates see it: every string already made safe."""

    id: int
    quarantined: bool
    category: str
    category_known: bool
    arrived: str
    arrived_from_header: bool
    sender_name: str
    sender_addr: str
    subject: str
    reasons: tuple[ReasonView, ...]
    folder: str
    original_folder: str
    urls: tuple[str, ...]
    more_urls: int
    phones: tuple[str, ...]
    more_phones: int
    contacted_on: str
    followup: bool
    copy_only: bool


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith((".html.j2", ".html"))


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mailguard.digest", "templates"),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def format_datetime(
    when: datetime | None, now: datetime, language: str, *, date_only: bool = False
) -> str:
    """Localised date (and time) in ``now``'s time zone; empty when unknown."""
    if when is None:
        return ""
    if when.tzinfo is not None and now.tzinfo is not None:
        when = when.astimezone(now.tzinfo)
    fmt = nextsteps.language_data(language)["format"]
    pattern = fmt["date"] if date_only else fmt["datetime"]
    return str(pattern).format(
        year=when.year,
        month=fmt["months"][when.month - 1],
        month_number=when.month,
        day=when.day,
        hour=when.hour,
        minute=when.minute,
    )


def _reasons(item: DigestItem, language: str) -> tuple[ReasonView, ...]:
    """The strongest reasons, rules first: a rule says *what* the message does ("asks you
    to call this number to cancel"); the text model only says it reads like a scam, so it
    is shown when fewer rules than ``MAX_REASONS`` fired."""
    ranked = sorted(
        (r for r in item.reasons if r.weight >= 0),
        key=lambda r: (r.rule.startswith("model."), -r.weight),
    )
    return tuple(
        ReasonView(
            text=safe.field(r.description(language), 160), evidence=safe.evidence(r.evidence)
        )
        for r in ranked[:MAX_REASONS]
    )


def _limited(
    values: Iterable[str], cleaner: Callable[[object], str], limit: int
) -> tuple[tuple[str, ...], int]:
    """The first ``limit`` distinct non-empty cleaned values, and how many more there were."""
    cleaned: list[str] = []
    for v in values:
        c = cleaner(v)
        if c and c not in cleaned:
            cleaned.append(c)
    return tuple(cleaned[:limit]), max(0, len(cleaned) - limit)


def _short(url: str) -> str:
    return url if len(url) <= MAX_URL_CHARS else url[: MAX_URL_CHARS - 1] + "…"


def item_view(item: DigestItem, language: str, now: datetime) -> ItemView:
    urls, more_urls = _limited(item.urls, safe.url, MAX_URLS)
    urls = tuple(_short(u) for u in urls)  # after counting: two long URLs may share a prefix
    phones, more_phones = _limited(item.phones, safe.phone, MAX_PHONES)
    return ItemView(
        id=int(item.id),
        quarantined=item.quarantined,
        category=nextsteps.category_label(item.category, language, quarantined=item.quarantined),
        category_known=item.category in CATEGORIES,
        arrived=format_datetime(item.arrived, now, language),
        arrived_from_header=item.arrived_from_header,
        sender_name=safe.name(item.sender_name),
        sender_addr=safe.address(item.sender_addr),
        subject=safe.subject(item.subject),
        reasons=_reasons(item, language),
        folder=safe.folder(item.folder),
        original_folder=safe.folder(item.original_folder),
        urls=urls,
        more_urls=more_urls,
        phones=phones,
        more_phones=more_phones,
        contacted_on=format_datetime(item.contacted_on, now, language, date_only=True),
        followup=item.followup,
        copy_only=item.copy_only,
    )


def _newest_first(items: Sequence[DigestItem]) -> list[DigestItem]:
    def key(i: DigestItem) -> tuple[float, int]:
        ts = i.arrived.timestamp() if i.arrived is not None else float("-inf")
        return (-ts, i.id)

    return sorted(items, key=key)


def _views(items: Sequence[DigestItem], language: str, now: datetime) -> tuple[list[ItemView], int]:
    """Views of the newest MAX_LISTED items, and how many were left out.

    Items are labelled with their record id, not a running number: the digest,
    the alert, ``quarantine list`` and ``release`` then all use one number.
    """
    ordered = _newest_first(items)
    shown = ordered[:MAX_LISTED]
    return [item_view(i, language, now) for i in shown], len(ordered) - len(shown)


def render_digest(
    items: Sequence[DigestItem],
    *,
    language: str,
    country: str,
    account_name: str,
    quarantine_folder: str,
    now: datetime,
    kind: Kind = "digest",
) -> RenderedDigest:
    """Render subject, plain text and HTML for one account.

    ``kind="alert"`` is the short message sent at once for withdrawal lures and
    follow-ups after contact; the caller chooses which items it holds.
    """
    if kind not in ("digest", "alert"):
        raise ValueError(f"kind must be 'digest' or 'alert', got {kind!r}")
    nextsteps.language_data(language)  # ValueError for a language without text
    scams = [i for i in items if i.quarantined]
    unsure = [i for i in items if not i.quarantined]
    folder = safe.folder(quarantine_folder)
    keys = nextsteps.situations(items)
    scam_views, more_scams = _views(scams, language, now)
    unsure_views, more_unsure = _views(unsure, language, now)
    context: dict[str, Any] = {
        "kind": kind,
        "account": safe.field(account_name, 64, link_safe=False),
        "now": format_datetime(now, now, language),
        "quarantine_folder": folder,
        "n_scam": len(scams),
        "n_suspicious": len(unsure),
        "scams": scam_views,
        "more_scams": more_scams,
        "suspicious": unsure_views,
        "more_suspicious": more_unsure,
        "blocks": nextsteps.blocks(keys, language, country, {"quarantine_folder": folder}),
        "help": nextsteps.help_section(language, country) if items else None,
    }
    env = environment()
    subject = env.get_template(f"subject.{language}.txt.j2").render(context)
    context["subject"] = safe.neutralise(subject)
    return RenderedDigest(
        subject=context["subject"],
        text=env.get_template(f"digest.{language}.txt.j2").render(context),
        html=env.get_template(f"digest.{language}.html.j2").render(context),
        language=language,
    )
