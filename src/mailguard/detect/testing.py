"""Build :class:`ParsedMessage` objects directly, for tests of detection.

Detection tests should exercise one rule or one scoring mechanism at a time,
without depending on MIME encoding details; this builder fills every field of
the model with neutral defaults so a test states only what it is about.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parseaddr

from mailguard.detect.checks import build_feature
from mailguard.detect.facts import BrandIndex, Facts
from mailguard.detect.matchers import TextMatcher
from mailguard.detect.normalize import TextViews
from mailguard.detect.rules import Rule, RuleSet
from mailguard.detect.verdict import ClassifyContext, QuarantinedScams
from mailguard.parse import parse_message
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


# --- rule examples ----------------------------------------------------------------------

_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*: ")
CONTEXT_HEADER = "x-example-context"


def example_message(rule: Rule, example: str) -> tuple[ParsedMessage, ClassifyContext]:
    """The message (and account context) an ``examples.hit``/``examples.miss`` text stands for.

    A plain text is put where the rule looks: the body for text rules, the
    subject for ``scope = "subject"``, the sender's display name for
    ``scope = "from"``. A text that starts with header lines and a blank line
    is a whole raw message, parsed by the real parser (feature and header
    rules need senders, links and attachments). Its pseudo-header
    ``X-Example-Context: trusted=ADDR released=ADDR contacted quarantined=ADDR
    quarantined_id=<ID>`` supplies the per-account knowledge that context rules
    look at.
    """
    if _HEADER_LINE.match(example) and "\n\n" in example:
        raw = example.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        msg = parse_message(raw)
        return msg, _example_context(msg.header(CONTEXT_HEADER))
    if rule.scope == "subject":
        return make_message("", subject=example), ClassifyContext()
    if rule.scope == "from":
        return make_message("", from_=f"{example} <sender@example.com>"), ClassifyContext()
    return make_message(example), ClassifyContext()


def _example_context(spec: str) -> ClassifyContext:
    trusted: list[str] = []
    released: list[str] = []
    contacted: datetime | None = None
    held_senders: list[str] = []
    held_ids: list[str] = []
    for token in spec.split():
        key, _, value = token.partition("=")
        if key == "trusted":
            trusted.append(value)
        elif key == "released":
            released.append(value)
        elif key == "contacted":
            contacted = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        elif key == "quarantined":
            held_senders.append(value)
        elif key == "quarantined_id":
            held_ids.append(value)
        else:
            raise ValueError(f"unknown {CONTEXT_HEADER} item {key!r}")
    return ClassifyContext(
        trusted_senders=frozenset(trusted),
        released_senders=frozenset(released),
        contacted_on=contacted,
        quarantined=QuarantinedScams(frozenset(held_ids), frozenset(held_senders)),
    )


def fired_rules(
    ruleset: RuleSet, msg: ParsedMessage, context: ClassifyContext | None = None
) -> dict[str, str]:
    """Rule id -> evidence for every rule whose matcher fires on ``msg``.

    This is the matching layer alone, before scoring: family caps, combos and
    the ``min_prior_score`` gate decide how much a hit counts, not whether the
    rule recognised its pattern, which is what a rule's examples pin down.
    """
    context = context or ClassifyContext()
    from_text = f"{msg.from_.name} {msg.from_.addr}" if msg.from_ is not None else ""
    views = TextViews.build(msg.normalized, msg.subject, from_text)
    quote_families = frozenset(n for n, f in ruleset.families.items() if f.quote_trigger)
    hits = TextMatcher(ruleset.rules, quote_families).match(views, msg)
    facts = Facts(msg, views, ruleset, BrandIndex(ruleset.brands), context)
    for rule in ruleset.rules:
        if rule.kind == "feature":
            evidence = build_feature(rule.feature, rule.params)(facts)
            if evidence is not None:
                hits[rule.id] = evidence
    return hits
