"""Derived-feature functions, referenced by name from the rule data.

Some signals are not phrases: "the display name says PayPal but the sender is
a Gmail address", "SPF failed", "the body is empty and the text is in a PDF".
They are small Python functions registered here under a name; a TOML rule
gives them a weight, a family and a description (``feature = "..."``), so
the scoring stays in data. Each registered *factory* takes the rule's
``params`` table and returns the check; bad params fail at load time.

A check returns ``None`` (did not fire) or a short evidence string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from mailguard.detect.facts import Facts, domain_in, registrable_domain, word_regex
from mailguard.detect.normalize import fold
from mailguard.detect.verdict import sender_matches

Check = Callable[[Facts], str | None]
Factory = Callable[[Mapping[str, Any]], Check]

FEATURES: dict[str, Factory] = {}


def feature(name: str) -> Callable[[Factory], Factory]:
    """Register a feature factory under ``name`` (the name used in TOML)."""

    def register(factory: Factory) -> Factory:
        if name in FEATURES:
            raise ValueError(f"feature {name!r} registered twice")
        FEATURES[name] = factory
        return factory

    return register


def check_feature(name: str, params: Mapping[str, Any]) -> str | None:
    """Validate a feature reference for the rule loader: an error message or None."""
    factory = FEATURES.get(name)
    if factory is None:
        return f"unknown feature {name!r} (known: {', '.join(sorted(FEATURES))})"
    try:
        factory(params)
    except (ValueError, TypeError, KeyError) as exc:
        return f"feature {name!r}: bad params: {exc}"
    return None


def build_feature(name: str, params: Mapping[str, Any]) -> Check:
    return FEATURES[name](params)


def _no_params(params: Mapping[str, Any], *allowed: str) -> None:
    unknown = set(params) - set(allowed)
    if unknown:
        raise ValueError(f"unknown params {sorted(unknown)}")


def _str_list(params: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = params.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return tuple(v.lower() for v in value)


def _sender(f: Facts) -> str:
    name = f.msg.from_.name if f.msg.from_ else ""
    return f"{name} <{f.from_addr}>" if name else f.from_addr


# --- sender identity ---------------------------------------------------------------


@feature("freemail_sender")
def _freemail_sender(params: Mapping[str, Any]) -> Check:
    """The From address is at a free-mail provider (a weak signal alone; used by combos)."""
    _no_params(params)
    return lambda f: f.from_addr if f.from_is_freemail else None


@feature("freemail_claims_company")
def _freemail_claims_company(params: Mapping[str, Any]) -> Check:
    """A free-mail sender whose display name claims a brand or a business role.

    Companies send invoices from their own domain; "Billing Department
    <x@gmail.com>" is a person pretending to be one.
    """
    _no_params(params, "role_words")
    roles = word_regex(_str_list(params, "role_words"))

    def check(f: Facts) -> str | None:
        if not f.from_is_freemail or f.sender_is_any_brand:
            return None
        if f.brands_in_from_name or (roles is not None and roles.search(f.from_name)):
            return _sender(f)
        return None

    return check


@feature("brand_name_foreign_domain")
def _brand_name_foreign_domain(params: Mapping[str, Any]) -> Check:
    """The display name names a brand, but the address is not on that brand's domains."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        if not f.from_domain:
            return None
        for brand, _name in f.brands_in_from_name:
            if not f.sender_is_brand(brand):
                return _sender(f)
        return None

    return check


@feature("brand_claim_unbacked")
def _brand_claim_unbacked(params: Mapping[str, Any]) -> Check:
    """Subject or display name names a brand; neither the sender nor any link is that brand.

    Real brand mail comes from the brand and sends you to the brand's site.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        claimed = f.brands_in_from_name + f.brands_in_subject
        for brand, name in claimed:
            if not f.sender_is_brand(brand) and not f.links_to_brand(brand):
                return f"{name} / {f.from_domain or '?'}"
        return None

    return check


@feature("brand_mention_unbacked")
def _brand_mention_unbacked(params: Mapping[str, Any]) -> Check:
    """The text names a brand that neither the sender nor any link belongs to."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        if f.sender_is_any_brand:
            return None  # brands legitimately name each other (app-store receipts)
        # A company under its own name that names a brand only in the body is
        # naming how you paid ("we tried to charge your PayPal account"), not who it is.
        body_only = f.sender_self_named and not (f.brands_in_from_name or f.brands_in_subject)
        if body_only:
            return None
        for brand, name in f.brands_in_text:
            if not f.links_to_brand(brand):
                return f"{name} / {f.from_domain or '?'}"
        return None

    return check


@feature("sender_is_claimed_brand")
def _sender_is_claimed_brand(params: Mapping[str, Any]) -> Check:
    """The sender's domain is the brand the mail claims, and authentication did not fail.

    Legit evidence (negative weight), never proof: PayPal's own invoicing
    carries callback scams, so the weight is kept modest.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        if f.msg.auth.any_fail or not f.from_domain:
            return None
        claimed = f.brands_in_from_name + f.brands_in_subject
        for brand, _name in claimed:
            if f.sender_is_brand(brand):
                return f.from_domain
        return None

    return check


class _WordSplitter:
    """Splits an address part into words from a fixed list, or says it cannot.

    ``billing.support218`` -> (billing, support); ``carebilling`` -> (care,
    billing); ``tanaka.mika`` -> None. Digits and separators are skipped.
    Greedy longest-first with backtracking: the lists are short and so are
    the labels, so a cache keeps it cheap on a mailbox of one sender's mail.
    """

    _MAX_WORD = 16

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = frozenset(words)
        self._cache: dict[str, tuple[str, ...] | None] = {}

    def split(self, text: str) -> tuple[str, ...] | None:
        out: list[str] = []
        for chunk in re.split(r"[^a-z]+", text.lower()):
            if not chunk:
                continue
            got = self._chunk(chunk)
            if got is None:
                return None
            out.extend(got)
        return tuple(out)

    def _chunk(self, chunk: str) -> tuple[str, ...] | None:
        if chunk in self._cache:
            return self._cache[chunk]
        found: tuple[str, ...] | None = None
        for i in range(min(len(chunk), self._MAX_WORD), 0, -1):
            head = chunk[:i]
            if head not in self.words:
                continue
            rest = () if i == len(chunk) else self._chunk(chunk[i:])
            if rest is not None:
                found = (head, *rest)
                break
        if len(self._cache) < 4096:
            self._cache[chunk] = found
        return found


@feature("generic_sender")
def _generic_sender(params: Mapping[str, Any]) -> Check:
    """The address is assembled from generic service words and names nobody.

    Companies mail from their own name (``billing@acme-widgets.com``); an
    address made only of words like billing, support, secure and notice
    (``account.help152@secure-office.info``, or ``care.billing22@`` at a
    free-mail provider) was put together to look official. For a company
    domain the registrable name is judged; at a free-mail provider, the part
    before the @. ``not_domains`` lists real senders whose names happen to be
    generic words (PayPay is "pay" twice).
    """
    _no_params(params, "words", "min_words", "not_domains")
    splitter = _WordSplitter(_str_list(params, "words"))
    min_words = int(params.get("min_words", 2))
    exempt = frozenset(_str_list(params, "not_domains"))

    def check(f: Facts) -> str | None:
        if not f.from_domain or domain_in(f.from_domain, exempt):
            return None
        if f.from_is_freemail:  # Yahoo and the carriers are brands *and* free-mail
            part = f.from_addr.rpartition("@")[0]
        elif f.sender_is_any_brand:
            return None
        else:
            part = f.from_reg_domain.partition(".")[0]
        words = splitter.split(part)
        if words is None or len(words) < min_words:
            return None
        return f.from_addr

    return check


@feature("public_sector_sender")
def _public_sector_sender(params: Mapping[str, Any]) -> Check:
    """The sender's domain is under a public-sector suffix (gov.uk, lg.jp ...) and proven.

    Registries hand these out only to public bodies, so a penalty notice
    from one is where such mail really comes from. A From header alone is
    forgeable ("IRS <refunds@irs.gov>"), so this needs DMARC to pass, or
    DKIM to pass for the sender's own domain, and nothing to fail. Without
    Authentication-Results (a home server that adds none) it never fires.
    Universities are left out: their accounts are phished and then used.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        if not f.from_domain or not domain_in(f.from_domain, f.set("public_sector")):
            return None
        return f.from_domain if f.sender_proven else None

    return check


_TEXT_ADDR_RE = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


def _addresses_all(f: Facts, ok: Callable[[str], bool]) -> bool:
    """Every address the reader could write to (Reply-To, and addresses in the
    text) is on a domain ``ok`` accepts: the address half of the route checks."""
    if not all(ok(a.addr.rpartition("@")[2]) for a in f.msg.reply_to):
        return False
    return all(ok(d) for d in _TEXT_ADDR_RE.findall(f.views.text_en))


@feature("public_sector_routes")
def _public_sector_routes(params: Mapping[str, Any]) -> Check:
    """Every route the mail offers leads to a public body: sender, reply address and
    every link on a public-sector domain, and no phone number or other address.

    Unlike ``public_sector_sender`` this needs no authentication: whoever
    really sent such a mail, the only place it can take the reader is the
    authority's own site, so there is nothing to protect them from. A scam
    needs a route of its own (a look-alike link, a number to call, an
    address to write to), and any one of those stops this from firing.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        suffixes = f.set("public_sector")

        def public(domain: str) -> bool:
            return domain_in(domain, suffixes)

        if not public(f.from_domain) or f.msg.phones:
            return None
        hosts = {u.domain for u in f.msg.urls}  # anchor targets and URLs in the text
        if not hosts or not all(public(h) for h in hosts) or not _addresses_all(f, public):
            return None
        return ", ".join(sorted(hosts))

    return check


@feature("own_routes")
def _own_routes(params: Mapping[str, Any]) -> Check:
    """A company that names itself and sends you only home: the display name is the
    sender's domain name (:attr:`Facts.sender_self_named`), every link leads to
    that domain, and the mail has no phone number, no amount, no Reply-To
    elsewhere and no other address.

    Spoofing such a mail gains a scammer nothing, since every route goes to the
    real company; a look-alike domain ("Netflix" at netflix-billing, "Amazen
    Pay") or a route of the scam's own (a number to call, a second address)
    stops it. What it cannot tell apart is a scam site under its own coherent
    name, so it is weak evidence: it caps the text model's reading rather than
    clearing the rules, and it requires that the mail name no amount, because
    such a site's fake "fee" or "balance" is exactly what the coherent name
    would otherwise cover.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        own = f.from_reg_domain
        if f.msg.phones or f.msg.amounts or not f.sender_self_named or f.link_domains != {own}:
            return None
        if not _addresses_all(f, lambda domain: registrable_domain(domain) == own):
            return None
        return own

    return check


_DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@feature("malformed_sender")
def _malformed_sender(params: Mapping[str, Any]) -> Check:
    """The From address has no valid domain ("noreply@customer"): hand-made, not a company."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        if f.msg.from_ is None:
            return None  # no From at all is a parse matter, not evidence
        if not f.from_domain or not _DOMAIN_RE.match(f.from_domain):
            return str(f.msg.from_) or "(empty address)"
        return None

    return check


_GENERIC_NAMES = frozenset(
    {
        "customer",
        "user",
        "member",
        "client",
        "account",
        "info",
        "support",
        "admin",
        "mail",
        "お客様",
        "会員",
        "ユーザー",
        "様",
    }
)


@feature("addressed_by_name")
def _addressed_by_name(params: Mapping[str, Any]) -> Check:
    """The opening of the text uses the recipient's own name (from the To header).

    Genuine bills name you; mass-mailed scams cannot. Legit evidence, modest:
    a name is in the To header for anyone who knows your address book entry.
    """
    _no_params(params, "window")
    window = int(params.get("window", 600))

    def check(f: Facts) -> str | None:
        head_en = f.views.text_en[:window]
        head_ja = f.views.text_ja[:window]
        for addr in f.msg.to:
            name = fold(addr.name) if addr.name else ""
            if not name or "@" in name:
                continue
            for token in name.replace(",", " ").replace("　", " ").split():
                if token in _GENERIC_NAMES:
                    continue
                if token.isascii():
                    if len(token) >= 3 and re.search(
                        rf"(?<![a-z]){re.escape(token)}(?![a-z])", head_en
                    ):
                        return token
                elif len(token) >= 2 and token in head_ja:
                    return token
        return None

    return check


@feature("links_home")
def _links_home(params: Mapping[str, Any]) -> Check:
    """Every link leads to the sender's own (non-free-mail) domain, and there is one.

    A From header proves nothing by itself; a mail whose every route is that
    domain's site gains a spoofer nothing there.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        if not f.links_to_sender or f.link_domains != {f.from_reg_domain}:
            return None
        return f.from_reg_domain

    return check


@feature("reply_to_freemail_elsewhere")
def _reply_to_freemail_elsewhere(params: Mapping[str, Any]) -> Check:
    """Replies go to a free-mail address at a different domain than the sender's."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        freemail = f.set("freemail")
        for addr in f.msg.reply_to:
            dom = addr.domain.lower()
            if dom and addr.addr.lower() != f.from_addr and domain_in(dom, freemail):
                return f"reply-to {addr.addr}"
        return None

    return check


@feature("no_own_link")
def _no_own_link(params: Mapping[str, Any]) -> Check:
    """No link to the sender's own domain or to any brand the mail names.

    A genuine bill asks you to act in your account on the sender's site; a
    callback scam gives you nothing to click but a phone number. Messages
    linking to more than ``max_link_domains`` sites (newsletters) do not count:
    they are not shaped like a callback scam whatever their sender.
    """
    _no_params(params, "max_link_domains")
    max_domains = int(params.get("max_link_domains", 3))

    def check(f: Facts) -> str | None:
        if f.links_to_sender:
            return None
        claimed = f.brands_in_from_name + f.brands_in_subject + f.brands_in_text
        if any(f.links_to_brand(b) for b, _ in claimed):
            return None
        n = len(f.link_domains)
        if n > max_domains:
            return None
        return "no links" if n == 0 else f"{n} link domain(s), none the sender's"

    return check


_IPISH_HOST = re.compile(r"^(?:\d{1,3}[.-]){3}\d{1,3}(?:[.-]|$)|^\[?[0-9a-f:]+\]?$")


@feature("links_to_hosting")
def _links_to_hosting(params: Mapping[str, Any]) -> Check:
    """A link goes to a file host, a URL shortener or a bare IP address.

    Companies send billing links to their own site; phishing kits live on
    free hosting (storage buckets, pages.dev) behind shorteners. The host
    list is the ``hosting`` word set in the rule data.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        hosting = f.set("hosting")
        for host in sorted(f.link_hosts):  # sorted: the same evidence every run
            if domain_in(host, hosting) or _IPISH_HOST.match(host):
                return host
        return None

    return check


@feature("transaction_word_domain")
def _transaction_word_domain(params: Mapping[str, Any]) -> Check:
    """The sender's or a link's domain is words joined by hyphens, one of them a
    transaction word (``secure-verify``, ``parcel-fee-uk``, ``ryokin-kakunin``).

    Phishing kits register throwaway names that describe the act they want
    ("refund", "verify", "billing") next to a brand; companies bill from their
    own name and put the act in the path or a subdomain (billing.example.com).
    Only the registrable name is read, and only whole hyphen-separated words
    count, so a brand that happens to contain "pay" is not one. The words are
    the ``transaction_words`` set in the rule data. Free-mail senders are
    skipped: their domain is the provider's.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        words = f.set("transaction_words")
        own = () if f.from_is_freemail or not f.from_reg_domain else (f.from_reg_domain,)
        for domain in (*own, *sorted(f.link_domains)):  # sorted: the same evidence every run
            label = domain.partition(".")[0]
            if "-" in label and not words.isdisjoint(label.split("-")):
                return domain
        return None

    return check


@feature("recipient_address_greeting")
def _recipient_address_greeting(params: Mapping[str, Any]) -> Check:
    """The recipient's address is used where a name should be ("Hi user@example.com")."""
    _no_params(params)
    greet = re.compile(r"\b(?:dear|hi|hello|hey|attention)\s*,?\s*([^\s,:<>]+@[^\s,:<>]+)")

    def check(f: Facts) -> str | None:
        head = f.views.text_en[:2000]
        m = greet.search(head)
        if m:
            return m.group(0)  # a greeting addressed to an e-mail address, anyone's
        addrs = {a.addr.lower() for a in f.msg.to if a.addr}
        if not addrs:
            return None
        subj = f.views.subject_en
        for a in addrs:
            if a in subj:
                return f"subject: {a}"
        for a in addrs:
            if head.find(a + "様") >= 0 or head.find(a + " 様") >= 0:
                return a + "様"
        return None

    return check


# --- authentication and upstream filters ------------------------------------------------


@feature("auth_fail")
def _auth_fail(params: Mapping[str, Any]) -> Check:
    """SPF, DKIM or DMARC failed. (A pass is never scored as legit evidence.)"""
    _no_params(params)

    def check(f: Facts) -> str | None:
        a = f.msg.auth
        if not a.any_fail:
            return None
        return " ".join(
            f"{k}={v}" for k, v in (("spf", a.spf), ("dkim", a.dkim), ("dmarc", a.dmarc)) if v
        )

    return check


# --- content shape --------------------------------------------------------------------


@feature("phone_present")
def _phone_present(params: Mapping[str, Any]) -> Check:
    """A phone number is written in the message (toll-free numbers included)."""
    _no_params(params, "ignore")
    ignore = frozenset(_str_list(params, "ignore"))

    def check(f: Facts) -> str | None:
        for p in f.msg.phones:
            if p.digits.lstrip("+") not in ignore:
                return p.raw
        return None

    return check


@feature("amount_present")
def _amount_present(params: Mapping[str, Any]) -> Check:
    """A money amount is written in the message (at least ``min_value`` of its currency)."""
    _no_params(params, "min_value")
    min_value = params.get("min_value", {})
    if not isinstance(min_value, dict):
        raise ValueError("min_value must be a table of currency = number")

    def check(f: Facts) -> str | None:
        for a in f.msg.amounts:
            if a.value >= float(min_value.get(a.currency, 0)):
                return a.raw
        return None

    return check


@feature("attachment_only_body")
def _attachment_only_body(params: Mapping[str, Any]) -> Check:
    """Almost no body text, but a PDF or image attachment: the text hides in the file."""
    _no_params(params, "max_body_chars", "types")
    max_chars = int(params.get("max_body_chars", 40))
    types = _str_list(params, "types") or ("application/pdf", "image/")

    def check(f: Facts) -> str | None:
        if f.visible_body_len > max_chars:
            return None
        for att in f.msg.attachments:
            ct = att.content_type.lower()
            ext = att.filename.lower().rpartition(".")[2]
            if any(ct.startswith(t) for t in types) or ext in _DOC_EXTS:
                return f"{att.filename or ct} ({att.size} bytes)"
        return None

    return check


_DOC_EXTS = frozenset({"pdf", "jpg", "jpeg", "png", "gif", "webp", "heic", "tif", "tiff"})


@feature("parse_defect")
def _parse_defect(params: Mapping[str, Any]) -> Check:
    """A parser defect that is itself evidence (e.g. ``mime:too-deep``: nesting used to evade)."""
    _no_params(params, "defects")
    wanted = _str_list(params, "defects")
    if not wanted:
        raise ValueError("parse_defect needs params.defects, a list of defect names")

    def check(f: Facts) -> str | None:
        for defect in f.msg.defects:
            if defect in wanted:
                return defect
        return None

    return check


@feature("calendar_invite_text")
def _calendar_invite_text(params: Mapping[str, Any]) -> Check:
    """A calendar invitation whose event text carries a phone number or an amount."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        cal = [a for a in f.msg.attachments if a.content_type.lower() == "text/calendar"]
        cal_text = " ".join(a.text for a in cal)
        is_invite = bool(cal) or any(p.content_type == "text/calendar" for p in f.msg.text_parts)
        if not is_invite:
            return None
        if not cal_text:
            cal_text = " ".join(
                p.text for p in f.msg.text_parts if p.content_type == "text/calendar"
            )
        squashed = re.sub(r"\D", "", cal_text)
        for p in f.msg.phones:
            if p.digits.lstrip("+") and p.digits.lstrip("+") in squashed:
                return f"invite with phone {p.raw}"
        for a in f.msg.amounts:
            if a.raw in cal_text:
                return f"invite with amount {a.raw}"
        return None

    return check


@feature("consistent_sender")
def _consistent_sender(params: Mapping[str, Any]) -> Check:
    """Authenticated own-domain sender whose links all go home and who claims no other brand.

    Legit evidence (negative weight): a genuine bill or renewal notice asks you
    to act in your account on the sender's own site. A phisher can link to
    their own look-alike domain too, so this needs a passing authentication
    verdict, no failing one, and no brand named anywhere that the sender is
    not; it is kept weak because a scammer's own domain can pass SPF.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        auth = f.msg.auth
        if auth.any_fail or "pass" not in (auth.spf, auth.dkim, auth.dmarc):
            return None
        if not f.from_reg_domain or f.from_is_freemail or not f.link_domains:
            return None
        if f.link_domains != {f.from_reg_domain}:
            return None
        claimed = f.brands_in_from_name + f.brands_in_subject + f.brands_in_text
        if any(not f.sender_is_brand(brand) for brand, _ in claimed):
            return None
        return f"{f.from_domain}: all links to {f.from_reg_domain}"

    return check


_LIST_PRECEDENCE = frozenset({"list", "bulk"})


@feature("mailing_list")
def _mailing_list(params: Mapping[str, Any]) -> Check:
    """Sent through a mailing list: legit evidence, weak.

    A List-Id alone is cheap to add, so it needs a second list-server header
    beside it: List-Unsubscribe (every list and bulk sender today), or
    Precedence: list/bulk, which older list servers (Mailman 1, Majordomo,
    ezmlm) add instead.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        if not f.msg.list_id:
            return None
        precedence = f.msg.headers.get("precedence", "").strip().lower()
        if f.msg.list_unsubscribe or precedence in _LIST_PRECEDENCE:
            return f"List-Id: {f.msg.list_id}"
        return None

    return check


# --- account context ---------------------------------------------------------------------


@feature("trusted_sender")
def _trusted_sender(params: Mapping[str, Any]) -> Check:
    """The user listed this sender (address or domain) as trusted for this account."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        if f.msg.auth.any_fail:
            return None  # a forged From must not borrow the trust
        hit = sender_matches(f.from_addr, f.context.trusted_senders)
        return hit

    return check


@feature("released_sender")
def _released_sender(params: Mapping[str, Any]) -> Check:
    """The user released an earlier message from this sender as a false positive."""
    _no_params(params)
    return lambda f: sender_matches(f.from_addr, f.context.released_senders)


@feature("replies_to_quarantined")
def _replies_to_quarantined(params: Mapping[str, Any]) -> Check:
    """The message answers or continues a thread whose scam this account quarantined.

    The scammer's follow-up after the victim replied carries the first mail's
    Message-ID in References, whatever address it now comes from.
    """
    _no_params(params)

    def check(f: Facts) -> str | None:
        held = f.context.quarantined.message_ids
        if not held:  # most mailboxes, and every evaluation: leave the headers unread
            return None
        return next((i for i in f.thread_ids if i in held), None)

    return check


@feature("quarantined_sender")
def _quarantined_sender(params: Mapping[str, Any]) -> Check:
    """The exact sender address of a scam this account holds in quarantine writes again."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        # A scam that forged a real address (service@brand) must not taint the brand's
        # own mail from it, which proves its domain; the forger's next mail cannot.
        if f.from_addr not in f.context.quarantined.senders or f.sender_proven:
            return None
        return f.from_addr

    return check


@feature("contacted_before")
def _contacted_before(params: Mapping[str, Any]) -> Check:
    """The user wrote to this sender before (Sent folder): the follow-up stage of a scam."""
    _no_params(params)

    def check(f: Facts) -> str | None:
        when = f.context.contacted_on
        return when.date().isoformat() if when is not None else None

    return check
