"""Per-message derived facts shared by the feature functions.

Several features need the same derived values (the sender's registrable
domain, which brands the mail claims to be, which domains it links to);
computing them once per message, lazily, keeps classification cheap for the
many messages that never reach the expensive checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

import ahocorasick

from mailguard.detect.normalize import TextViews, fold
from mailguard.detect.rules import Brand, RuleSet
from mailguard.detect.verdict import ClassifyContext
from mailguard.parse.headers import parse_message_ids
from mailguard.parse.model import ParsedMessage

# Second-level public suffixes common in the mail we see. Not the full Public
# Suffix List: an approximation that is right for .jp/.uk/.au style names and
# harmless elsewhere (we only compare domains with each other).
_SECOND_LEVEL = {
    "co",
    "ne",
    "or",
    "ac",
    "go",
    "ad",
    "ed",
    "gr",
    "lg",
    "com",
    "net",
    "org",
    "gov",
    "edu",
    "ltd",
    "plc",
    "me",
    "nom",
    "mil",
    "sch",
}

_WORD_CHARS = "a-z0-9"
_REPLY_PREFIX = re.compile(r"\s*(?:re|fw|fwd|aw|wg|tr)\s*[:：]|\s*(?:転送|返信)\s*[:：]")
_QUOTED = re.compile(r'"[^"]{1,60}"|\u201c[^\u201d]{1,60}\u201d')


def registrable_domain(domain: str) -> str:
    """``mail.example.co.jp`` -> ``example.co.jp``; ``a.b.example.com`` -> ``example.com``."""
    domain = domain.lower().strip().strip(".").rstrip(">")
    parts = [p for p in domain.split(".") if p]
    if len(parts) <= 2:
        return ".".join(parts)
    if len(parts[-1]) == 2 and parts[-2] in _SECOND_LEVEL:
        return ".".join(parts[-3:])
    return ".".join(parts[-2:])


def domain_in(domain: str, allowed: tuple[str, ...] | frozenset[str]) -> bool:
    """True when ``domain`` is one of ``allowed`` or a subdomain of one."""
    if not domain:
        return False
    domain = domain.lower()
    if domain in allowed:
        return True
    parts = domain.split(".")
    return any(".".join(parts[i:]) in allowed for i in range(1, len(parts)))


def _suffixes(domain: str) -> frozenset[str]:
    """``a.b.example.com`` -> {a.b.example.com, b.example.com, example.com, com}."""
    if not domain:
        return frozenset()
    parts = domain.lower().split(".")
    return frozenset(".".join(parts[i:]) for i in range(len(parts)))


def word_regex(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any of ``words`` as whole words (ASCII) or substrings (CJK)."""
    if not words:
        return None
    alts = []
    for w in sorted(set(words), key=len, reverse=True):
        esc = re.escape(w)
        if w.isascii():
            alts.append(rf"(?<![{_WORD_CHARS}]){esc}(?![{_WORD_CHARS}])")
        else:
            alts.append(esc)
    return re.compile("|".join(alts))


class BrandIndex:
    """Finds brand names in text (one Aho-Corasick scan) and knows each brand's domains."""

    def __init__(self, brands: tuple[Brand, ...]) -> None:
        self.brands = brands
        # Every brand's domains: "is the sender any brand" is one set test.
        self.domains: frozenset[str] = frozenset().union(*(b.domains for b in brands))
        # Their names as domain labels ("amazon", "paypal"), for spotting look-alikes.
        labels = (registrable_domain(d).partition(".")[0] for d in self.domains)
        self.labels: frozenset[str] = frozenset(label for label in labels if len(label) >= 4)
        self._auto = ahocorasick.Automaton()
        for b in brands:
            for n in b.names:
                self._auto.add_word(n, (n, b))
        if brands:
            self._auto.make_automaton()

    def near_label(self, label: str) -> bool:
        """A part of ``label`` is a brand's name or one edit from it ("amazen-pay")."""
        return any(
            _within_one_edit(part, brand)
            for part in label.split("-")
            if len(part) >= 4
            for brand in self.labels
        )

    def find(self, text: str) -> list[tuple[Brand, str]]:
        """Brands named in ``text`` (folded, lower-case), first mention first, no repeats.

        ASCII names must stand as whole words ("avast" not in "avastin"); CJK
        names match anywhere, as Japanese has no spaces.
        """
        if not self.brands or not text:
            return []
        out: list[tuple[Brand, str]] = []
        seen: set[str] = set()
        for end, (name, brand) in self._auto.iter(text):
            if brand.key in seen:
                continue
            start = end - len(name) + 1
            if name.isascii() and not _whole(text, start, end + 1):
                continue
            seen.add(brand.key)
            out.append((brand, name))
        return out


def _compact(name: str) -> str:
    """Letters and digits only: "Juniper Bank" and juniper-bank compare equal."""
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())


def _within_one_edit(a: str, b: str) -> bool:
    """Equal, or one substitution, insertion or deletion apart."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def _whole(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


class Facts:
    """Everything a feature function may look at for one message."""

    def __init__(
        self,
        msg: ParsedMessage,
        views: TextViews,
        ruleset: RuleSet,
        brands: BrandIndex,
        context: ClassifyContext,
    ) -> None:
        self.msg = msg
        self.views = views
        self.ruleset = ruleset
        self.brand_index = brands
        self.context = context

    def set(self, name: str) -> frozenset[str]:
        return self.ruleset.sets.get(name, frozenset())

    @cached_property
    def from_addr(self) -> str:
        return self.msg.from_.addr.lower() if self.msg.from_ else ""

    @cached_property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers or continues (In-Reply-To, then References)."""
        heads = self.msg.headers
        return parse_message_ids(f"{heads.get('in-reply-to', '')} {heads.get('references', '')}")

    @cached_property
    def from_domain(self) -> str:
        return self.from_addr.rpartition("@")[2] if "@" in self.from_addr else ""

    @cached_property
    def from_reg_domain(self) -> str:
        return registrable_domain(self.from_domain)

    @cached_property
    def from_name(self) -> str:
        """Display name, folded (look-alikes and invisible characters removed)."""
        return fold(self.msg.from_.name) if self.msg.from_ else ""

    @cached_property
    def from_is_freemail(self) -> bool:
        return bool(self.from_domain) and domain_in(self.from_domain, self.set("freemail"))

    @cached_property
    def brands_in_from_name(self) -> list[tuple[Brand, str]]:
        name = self.from_name
        # A display name that is itself an address ("paypal.com <x@y>") names a brand too.
        return self.brand_index.find(name)

    @cached_property
    def brands_in_subject(self) -> list[tuple[Brand, str]]:
        """Brands the subject speaks as. In a reply or a forward, a brand in double
        quotes is being talked about ('Re: text from "Royal Mail"'), not claimed;
        elsewhere quotes are decoration ('"USPS" your parcel is on hold')."""
        subject = self.views.subject_en
        if _REPLY_PREFIX.match(subject):
            subject = _QUOTED.sub(" ", subject)
        return self.brand_index.find(subject)

    @cached_property
    def brands_in_text(self) -> list[tuple[Brand, str]]:
        return self.brand_index.find(self.views.text_en)

    @cached_property
    def link_hosts(self) -> frozenset[str]:
        """Host names the reader can click through to (see :attr:`link_domains`)."""
        from mailguard.parse.features import url_domain

        if self.msg.links:
            hosts = {url_domain(link.href) for link in self.msg.links}
        else:
            hosts = {u.domain for u in self.msg.urls}
        return frozenset(h for h in hosts if h)

    @cached_property
    def link_domains(self) -> frozenset[str]:
        """Registrable domains the reader can click through to.

        In HTML mail only real anchor targets count: a visible
        "https://amazon.com/..." whose anchor points elsewhere must not make the
        message look as if it linked to Amazon. Plain-text mail has no anchors,
        so there the URLs written in the text are the links.
        """
        domains = {registrable_domain(h) for h in self.link_hosts}
        return frozenset(d for d in domains if d)

    def sender_is_brand(self, brand: Brand) -> bool:
        """The sender mails from one of ``brand``'s own domains (as listed in the data).

        Brand lists name only domains the brand sends from; a carrier's mail
        domain (docomo.ne.jp) is both a brand domain and free-mail, and counts.
        """
        return self.sender_within(brand.domains)

    @cached_property
    def sender_proven(self) -> bool:
        """DMARC passed, or DKIM passed for the sender's own domain, and nothing failed.

        Without Authentication-Results (a home server that adds none) nothing is proven.
        """
        auth = self.msg.auth
        if auth.any_fail or not self.from_domain:
            return False
        own_dkim = auth.dkim == "pass" and self.sender_within(d.lower() for d in auth.dkim_domains)
        return auth.dmarc == "pass" or own_dkim

    def sender_within(self, domains: Iterable[str]) -> bool:
        """The sender's domain is one of ``domains`` or a subdomain of one."""
        return not self._from_suffixes.isdisjoint(domains)

    @cached_property
    def _from_suffixes(self) -> frozenset[str]:
        """The sender's domain and every parent domain: one set test per brand."""
        return _suffixes(self.from_domain)

    @cached_property
    def _link_suffixes(self) -> frozenset[str]:
        return frozenset().union(*(_suffixes(d) for d in self.link_domains))

    @cached_property
    def sender_self_named(self) -> bool:
        """The display name is the sender's own domain name ("Juniper Bank" at
        juniper-bank.example), not free-mail and not a known brand's look-alike.

        Coherent, not proven: a scam operation can name itself after its own
        domain too. What it rules out is the commonest disguise, a name that
        belongs to somebody else's domain.
        """
        own = self.from_reg_domain
        if not own or self.from_is_freemail:
            return False
        label = own.partition(".")[0]
        if _compact(self.from_name) != _compact(label):
            return False
        return self.sender_is_any_brand or not self.brand_index.near_label(label)

    @cached_property
    def sender_is_any_brand(self) -> bool:
        return self.sender_within(self.brand_index.domains)

    def links_to_brand(self, brand: Brand) -> bool:
        return not self._link_suffixes.isdisjoint(brand.domains)

    @cached_property
    def links_to_sender(self) -> bool:
        """A link to the sender's own (non-free-mail) domain: real senders send you home."""
        if not self.from_reg_domain or self.from_is_freemail:
            return False
        return self.from_reg_domain in self.link_domains

    @cached_property
    def visible_body_len(self) -> int:
        """Characters of body text outside attachments (not whitespace)."""
        text = self.msg.plain_text or self.msg.html_text
        return len("".join(text.split()))
