"""Derived features that detection matches on: normalised text, URLs, phones, amounts.

Scams dodge keyword filters with full-width digits (０３‐１２３４), invisible
characters inside words, odd phone layouts (``+1 – (888) – (611) – (3596)``)
and amounts written in kanji units (9万9千円). Everything here folds those
forms back to one canonical shape, and refuses the look-alikes that are not
phones or money (dates, order numbers, ZIP codes, IP addresses).

All regexes are compiled once at import; all functions are pure.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import accumulate
from typing import TYPE_CHECKING

from mailguard.parse.model import Amount, Phone, Url

if TYPE_CHECKING:
    from mailguard.parse.model import ParsedMessage

# --- normalisation -----------------------------------------------------------

# The one table of characters that render as nothing; detection adds combining marks to it.
INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors / vowel separator
    (0x200B, 0x200F),  # zero-width space/joiners, LRM/RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space / BOM
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xE0000, 0xE007F),  # tag characters
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_STRIP: dict[int, None] = {cp: None for lo, hi in INVISIBLE_RANGES for cp in range(lo, hi + 1)}
_INVISIBLE_RE = re.compile(
    "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in INVISIBLE_RANGES) + "]"
)


def strip_invisible(text: str) -> str:
    """Remove zero-width, bidi-control and variation-selector characters."""
    if text.isascii():
        return text
    if _INVISIBLE_RE.search(text) is None:
        return text
    return text.translate(_STRIP)


def normalize(text: str) -> str:
    """NFKC fold (full-width → ASCII, ㈱ → (株)) after removing invisible characters.

    Case is left alone: detection casefolds where it needs to.
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", strip_invisible(text))


# --- the text a reader sees --------------------------------------------------

_WORD = re.compile(r"\w+")


def _covered(plain: str, html: str) -> bool:
    """True when the plain part already says (almost) everything the HTML part says."""
    plain_words = set(_WORD.findall(plain.casefold()))
    html_words = set(_WORD.findall(html.casefold()))
    if not html_words:
        return True
    missing = sum(len(w) for w in html_words - plain_words)
    total = sum(len(w) for w in html_words)
    return missing <= max(8, total // 20)


def _quote_lines(text: str) -> bool:
    return any(line.startswith(">") for line in text.splitlines())


def visible_body(msg: ParsedMessage) -> str:
    """Plain text, else the HTML's visible text, both when they differ, plus attachment text.

    Scams sometimes put the harmless story in the text/plain alternative and
    the real demand in the HTML one (or the other way round), so when the two
    disagree we keep both.
    """
    plain = msg.plain_text.strip()
    html = msg.html_text.strip()
    if plain and html:
        if not _covered(plain, html):
            body = plain + "\n" + html
        elif _quote_lines(html) and not _quote_lines(plain):
            # The same words, but only the HTML shows what is quoted (a warning's
            # <blockquote>; generated plain parts often drop the "> ").
            body = html
        else:
            body = plain
    else:
        body = plain or html
    extra = [a.text.strip() for a in msg.attachments if a.text and a.text.strip()]
    if extra:
        body = "\n".join([body, *extra]) if body else "\n".join(extra)
    return body


# --- URLs --------------------------------------------------------------------

_URL_BODY = re.compile(r"[^\s<>\"'`{}|\\^\[\]\u3000-\u303f\uff08\uff09\uff5b\uff5d]+")
_SCHEMES = ("https", "http", "ftp")
_URL_TRAIL = ".,;:!?)]}'\"*>"
_WWW_BEFORE = frozenset("@.-/_")
_MAX_URLS = 500


def url_domain(url: str) -> str:
    """Lower-cased host of ``url`` without userinfo, port or trailing dot ('' if none).

    Hand-rolled rather than urllib's urlsplit: it is called for every link of
    every message, never raises on malformed IPv6 brackets, and treats a
    backslash as a path separator as browsers do.
    """
    i = url.find("//", 0, 12)
    rest = url[i + 2 :] if i >= 0 else url
    end = len(rest)
    for sep in "/?#\\":
        j = rest.find(sep, 0, end)
        if j >= 0:
            end = j
    host = rest[:end].rpartition("@")[2]
    if host.startswith("["):
        close = host.find("]")
        host = host[1:close] if close > 0 else host[1:]
    else:
        host = host.partition(":")[0]
    return host.strip().lower().rstrip(".")


def _clean_url(url: str) -> str:
    """Drop sentence punctuation glued to the end, keeping balanced parentheses."""
    while url and url[-1] in _URL_TRAIL:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _text_urls(text: str) -> list[str]:
    """URLs written in text: scheme://… and www.…, found with str.find, not a regex scan."""
    found: list[tuple[int, str]] = []
    i = text.find("://")
    while i >= 0 and len(found) < _MAX_URLS:
        head = text[max(0, i - 5) : i].lower()
        scheme = next((sc for sc in _SCHEMES if head.endswith(sc)), None)
        if scheme is not None:
            start = i - len(scheme)
            if start == 0 or not text[start - 1].isalnum():
                body = _URL_BODY.match(text, i + 3)
                if body is not None:
                    found.append((start, text[start : body.end()]))
        i = text.find("://", i + 3)
    for marker in ("www.", "WWW.", "Www."):
        i = text.find(marker)
        while i >= 0 and len(found) < 2 * _MAX_URLS:
            before = text[i - 1] if i > 0 else " "
            if not (before.isalnum() or before in _WWW_BEFORE):
                body = _URL_BODY.match(text, i)
                if body is not None:
                    found.append((i, body.group()))
            i = text.find(marker, i + 4)
    found.sort()
    return [url for _, url in found]


# Host names written without a scheme ("sign in to zoom.us", "pay at cutt.ly/3xY"):
# genuine notices name their own site that way and SMS-style lures their link.
# Only well-known top-level domains, so "Mr.Smith" or "invoice.pdf" is no host.
# The reserved "example" and "test" (RFC 2606) never occur in real mail; they
# stand in for real ones in our own texts and fixtures, which must read like
# real mail: without them a genuine "log in at paper.example/account" had no
# own link there, where "paper.com/account" has one.
_BARE_TLDS = frozenset(
    {
        "com", "net", "org", "info", "biz", "edu", "gov", "jp", "uk", "us", "ca", "au", "nz",
        "ie", "de", "fr", "it", "es", "nl", "eu", "in", "io", "co", "me", "ly", "gl", "gd",
        "to", "tv", "cc", "xyz", "top", "site", "online", "shop", "store", "app", "dev",
        "link", "click", "live", "club", "vip", "icu", "buzz", "cyou", "sbs", "asia", "work",
        "support", "help", "email", "services", "page", "win", "mobi", "pw", "tk", "ml", "cn",
        "hk", "tw", "sg", "my", "ph", "th", "vn", "br", "mx", "za", "ch", "at", "be", "se",
        "pl", "ru", "kr", "do", "su", "ws", "bz", "ms", "gy", "lat", "example", "test",
    }
)  # fmt: skip
_BARE_HOST = re.compile(
    r"(?<![\w@.\-/:])(?:[a-z0-9](?:[a-z0-9-]{0,62})\.)+([a-z]{2,12})(?![\w-])(/[^\s<>\"'`]*)?",
    re.IGNORECASE | re.ASCII,
)


def _bare_hosts(text: str) -> list[tuple[int, str]]:
    """Scheme-less host names with a known top-level domain, as ``http://`` URLs."""
    if "." not in text:
        return []
    found: list[tuple[int, str]] = []
    for m in _BARE_HOST.finditer(text):
        if m.group(1).lower() in _BARE_TLDS:
            found.append((m.start(), "http://" + m.group(0)))
            if len(found) >= _MAX_URLS:
                break
    return found


def extract_urls(msg: ParsedMessage) -> tuple[Url, ...]:
    """Every http(s)/ftp/www URL in link targets and in the normalised visible text.

    Scheme-less host names count too (:func:`_bare_hosts`), unless the same
    host is already part of a full URL.
    """
    seen: dict[str, Url] = {}
    hrefs = dict.fromkeys(link.href for link in msg.links)
    for raw in hrefs:
        href = normalize(raw.strip())
        low = href[:8].lower()
        if low.startswith(("http://", "https://", "ftp://", "//", "www.")):
            if href.startswith("//"):
                href = "http:" + href
            if href not in seen:
                seen[href] = Url(href, url_domain(href))
                if len(seen) >= _MAX_URLS:
                    break
    for found in _text_urls(msg.normalized):
        url = _clean_url(found)
        if url and url not in seen:
            seen[url] = Url(url, url_domain(url))
        if len(seen) >= 2 * _MAX_URLS:
            break
    _add_bare_hosts(msg, seen)
    return tuple(u for u in seen.values() if u.domain)


def _add_bare_hosts(msg: ParsedMessage, seen: dict[str, Url]) -> None:
    """Add scheme-less hosts of the visible text whose domain no full URL has yet."""
    known = {u.domain for u in seen.values()}
    # A host written as a link's visible text goes where the href goes: "paypal.com"
    # shown over a link to evil.example is a disguise, not a link to paypal.com.
    shown = " ".join(normalize(link.text) for link in msg.links)
    known.update(url_domain(u) for _, u in _bare_hosts(shown))
    for _, found in _bare_hosts(msg.normalized):
        url = _clean_url(found)
        domain = url_domain(url)
        if domain and domain not in known and url not in seen:
            seen[url] = Url(url, domain)
            known.add(domain)
        if len(seen) >= 3 * _MAX_URLS:
            break


# --- phone numbers -----------------------------------------------------------

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u2500\u2501\ufe63\uff0d\uff70"
_DASH_SET = frozenset(_DASHES.replace("\\", ""))
# A run that starts like a number and continues with digits and separators.
# It starts with a plain character class (the look-behinds that check the
# character before it come second) so that the regex engine can skip ahead
# quickly; that made phone extraction ~3x faster.
_PHONE_RUN = re.compile(
    r"[+(\d](?<![0-9A-Za-z_+\-/=#@$\u00a5\u00a3\u20ac%].)(?<!\d[.,].)"
    r"(?:(?<=\+)\(?\d|(?<=\()\d|(?<=\d))"
    r"[\d \t()./" + _DASHES + r"]{4,48}\d\)?"
    r"(?![0-9A-Za-z_%\u5186\u4e07]|[.,]\d)"
)
_DIGIT_GROUP = re.compile(r"\d+")
# Words that say "the number next to me is a phone", before or after it.
_CUE_WORDS = (
    r"tel|phone|call|dial|helpline|hotline|support|contact"
    r"|電話|でんわ|お?問い?合わ?せ|問合せ|窓口|ダイヤル"
)
_PHONE_CUE = re.compile(
    rf"(?:{_CUE_WORDS}|fax|toll.?free|☎|☏|📞|連絡先|携帯)[^\n\d]{{0,16}}\Z",
    re.I,
)
# Japanese puts the cue after the number: 「本日中に 0366717573 〇〇サポート迄ご連絡ください」.
# Same line, no sentence end in between, so that "Order 0312345678. Call us"
# does not turn an order number into a phone.
_PHONE_CUE_AFTER = re.compile(
    rf"[^\n\d。．.!?！？]{{0,24}}?(?:{_CUE_WORDS}|ring|連絡|サポート|センター|コール)",
    re.I,
)
# Japanese numbers whose prefix alone says "phone": free dial (0120 + 6, 0800 + 7),
# mobile (070/080/090 + 8) and IP phones (050 + 8).
_SERVICE_NUMBER = re.compile(r"0120\d{6}|0800\d{7}|0[5789]0\d{8}")
# A label that makes the number an identifier even with a phone word nearby.
_ID_LABEL = re.compile(
    r"(?:番号|No\.?|ID|#|number|account|acct|order|ref(?:erence)?|invoice|tracking|"
    r"注文|会員|口座|伝票|受付|請求書)[\s:：.]*\Z",
    re.I,
)
_MAX_PHONES = 100
_MAX_GROUPS = 16


def _sep_ok(sep: str) -> bool:
    """A separator between digit groups: spaces, parentheses and at most one dash/dot/slash."""
    core = sep.replace(" ", "").replace("\t", "")
    if len(core) > 4 or len(sep) > 8:
        return False
    if "/" in core:  # 06/08/2002 is a date, not a phone
        return False
    marks = sum(1 for c in core if c in _DASH_SET or c == ".")
    return marks <= 1 and core.count("(") <= 1 and core.count(")") <= 1


def _nanp(d: str) -> bool:
    """North American area code and exchange both start with 2-9."""
    return d[0] in "23456789" and d[3] in "23456789"


# Country codes besides +1 (North American, see _nanp) whose numbers are checked after "+":
# (code, total digit counts accepted). Any other country code is taken as written.
_CHECKED_COUNTRY_CODES = (("81", (11, 12)), ("44", (11, 12)))


def _classify(groups: list[str], plus: bool, cue: bool) -> str | None:
    """Canonical digits for a valid phone layout, or None.

    Accepted: '+' with 8-15 digits (country codes checked for +1, +44, +81);
    a domestic number starting with one 0 with 10-11 digits (Japan, UK);
    North American 3-3-4 or 1-3-3-4. A single unseparated block of digits
    counts only with a cue (see :func:`_single_block_cue`), so that order
    numbers do not.
    """
    digits = "".join(groups)
    if plus:
        return _international(digits)
    single = len(groups) == 1
    if single and not cue:
        return None
    if digits[0] == "0":
        return _trunk_prefixed(digits, groups)
    return _north_american(digits, groups)


def _international(digits: str) -> str | None:
    """'+' and 8-15 digits; +1, +44 and +81 must also have their own length and shape."""
    n = len(digits)
    if not 8 <= n <= 15:
        return None
    if digits[0] == "1":
        return "+" + digits if n == 11 and _nanp(digits[1:]) else None
    for code, lengths in _CHECKED_COUNTRY_CODES:
        if digits.startswith(code):
            # After the country code the domestic leading 0 is dropped.
            return "+" + digits if n in lengths and digits[len(code)] != "0" else None
    return "+" + digits


def _trunk_prefixed(digits: str, groups: list[str]) -> str | None:
    """A domestic number with one leading 0 (Japan, UK): 10-11 digits, 2-5 first, 3-4 last.

    Also the UK's five-plus-six layout ("01632 960123", mobiles "07700 900123"),
    the usual way British numbers and every UK mobile are written.
    """
    if digits[1] == "0" or len(digits) not in (10, 11):
        return None  # "00" is an international call prefix, not a number
    if len(groups) == 1:
        return digits
    if [len(g) for g in groups] == [5, 6]:
        return digits
    if len(groups) > 4 or not 2 <= len(groups[0]) <= 5 or not 3 <= len(groups[-1]) <= 4:
        return None
    return digits


def _north_american(digits: str, groups: list[str]) -> str | None:
    """3-3-4 or 1-3-3-4 (or the same digits unseparated), area code and exchange 2-9."""
    n = len(digits)
    single = len(groups) == 1
    if n == 10 and (single or [len(g) for g in groups] == [3, 3, 4]):
        return digits if _nanp(digits) else None
    if n == 11 and digits[0] == "1" and (single or [len(g) for g in groups] == [1, 3, 3, 4]):
        return digits if _nanp(digits[1:]) else None
    return None


class _Run:
    """One candidate run cut into digit groups, with what is known about each gap.

    ``valid[k]`` says the separator after group k may sit inside a phone;
    ``boundary[k]`` says a phone may end after group k and another start
    after it (the separator holds a space, tab or slash, ends in an opening
    parenthesis, or is no phone separator at all); ``before[k]`` is the
    number of digits before group k, so ranges that cannot hold 8-15 digits
    are skipped without joining them.
    """

    __slots__ = ("before", "boundary", "run", "spans", "valid")

    def __init__(self, run: str, spans: list[tuple[int, int]]) -> None:
        self.run = run
        self.spans = spans
        seps = [run[spans[i][1] : spans[i + 1][0]] for i in range(len(spans) - 1)]
        self.valid = [_sep_ok(sep) for sep in seps]
        # An opening parenthesis may end a number too: Japanese notices glue the
        # opening hours to it, 「0120-386-914（24時間受付）」 (NFKC: "(24"). Longest
        # first, "03(1234)5678" is still read whole.
        self.boundary = [
            not ok or " " in sep or "\t" in sep or "/" in sep or sep.endswith("(")
            for sep, ok in zip(seps, self.valid, strict=True)
        ]
        self.before = [0, *accumulate(b - a for a, b in spans)]

    def start_of(self, i: int) -> int:
        """Where a phone starting at group i starts in the run (with its opening parenthesis)."""
        if i == 0:
            return 0
        start = self.spans[i][0]
        if self.run[start - 1 : start] == "(":
            start -= 1
        return start

    def raw(self, start: int, j: int) -> str:
        """The phone as written, from ``start`` to the end of group j (closing parenthesis too)."""
        end = self.spans[j][1]
        raw = self.run[start:end]
        if raw.count("(") > raw.count(")") and self.run[end : end + 1] == ")":
            raw += ")"
        return raw.strip()

    def may_span(self, i: int, j: int, plus: bool) -> bool | None:
        """Can groups i..j be one phone? None: no, and no shorter range can either."""
        count = self.before[j + 1] - self.before[i]
        if count > 15:
            return False
        if count < 8:
            return None
        if not plus and count not in (10, 11):  # every domestic layout has 10-11 digits
            return False
        return (j == len(self.spans) - 1 or self.boundary[j]) and all(self.valid[i:j])


def _longest_phone_at(text: str, run_start: int, run: _Run, i: int) -> tuple[str, str, int] | None:
    """The longest valid phone starting at group i: (raw text, digits, last group), or None."""
    spans = run.spans
    plus = i == 0 and run.run.startswith("+")
    start = run.start_of(i)
    cue: bool | None = None  # looked up only when a range needs it
    for j in range(len(spans) - 1, i - 1, -1):
        fits = run.may_span(i, j, plus)
        if fits is None:
            break
        if not fits:
            continue
        if cue is None and i == j:
            group = run.run[spans[i][0] : spans[i][1]]
            cue = _single_block_cue(text, run_start + start, run_start + spans[i][1], group)
        digits = _classify([run.run[a:b] for a, b in spans[i : j + 1]], plus, bool(cue))
        if digits is not None:
            return run.raw(start, j), digits, j
    return None


def _single_block_cue(text: str, start: int, end: int, digits: str) -> bool:
    """May the unseparated digits at text[start:end] be a phone?

    Yes after a cue word (TEL, 電話, call); for a number with a leading 0
    (Japan, UK) also when its prefix is a Japanese free-dial, mobile or IP
    phone prefix or a cue follows on the same line (「…迄ご連絡ください」),
    unless a label such as 注文番号 or "Order" names it an identifier.
    Scam SMS write the number bare, and the digest must show the reader which
    number not to call.
    """
    before = text[max(0, start - 24) : start]
    if _PHONE_CUE.search(before) is not None:
        return True
    if digits[:1] != "0" or _ID_LABEL.search(before) is not None:
        return False
    if _SERVICE_NUMBER.fullmatch(digits) is not None:
        return True
    return _PHONE_CUE_AFTER.match(text, end, end + 48) is not None


def _phones_in_run(text: str, run_start: int, run: str) -> list[tuple[str, str]]:
    """Valid phones inside one candidate run, as (raw text, digits), left to right.

    A run may hold several numbers or a number glued to other figures
    ("2024-01-15 03-1234-5678"), so sub-ranges of digit groups are tried,
    longest first, starting and ending only where a separator contains a
    space or slash (never inside "1.810.228.8708" or an IP address).
    """
    spans = [(m.start(), m.end()) for m in _DIGIT_GROUP.finditer(run)][:_MAX_GROUPS]
    if not spans:
        return []
    groups = _Run(run, spans)
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(spans):
        if i > 0 and not groups.boundary[i - 1]:
            i += 1
            continue
        hit = _longest_phone_at(text, run_start, groups, i)
        if hit is None:
            i += 1
        else:
            found.append((hit[0], hit[1]))
            i = hit[2] + 1
    return found


def extract_phones(text: str) -> tuple[Phone, ...]:
    """Phone numbers in ``text`` (expected normalised), deduplicated by digits."""
    found: dict[str, Phone] = {}
    for m in _PHONE_RUN.finditer(text):
        for raw, digits in _phones_in_run(text, m.start(), m.group()):
            if digits not in found:
                found[digits] = Phone(raw=raw, digits=digits, international=digits[0] == "+")
        if len(found) >= _MAX_PHONES:
            break
    return tuple(found.values())


# --- money -------------------------------------------------------------------

_KANJI_DIGITS = {
    "〇": 0, "零": 0, "一": 1, "壱": 1, "二": 2, "弐": 2, "三": 3, "参": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000, "阡": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "億": 100_000_000, "兆": 1_000_000_000_000}
_JA_NUM_CHARS = "".join(_KANJI_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)
_NUM = r"(?:\d{1,3}(?:[,.']\d{3})++(?:[.,]\d{1,2})?|\d++(?:[.,]\d{1,2})?)"
_JA_DIGITS = "".join(_KANJI_DIGITS) + "".join(_SMALL_UNITS)
# A Japanese amount starts with a digit (or 十/百/千), never with 万/億 alone ("数万円").
# Possessive quantifiers and the look-behind keep this linear on long digit runs.
_JA_NUM = (
    rf"(?<![\d,.{_JA_NUM_CHARS}])"
    rf"(?:\d[\d,]*+(?:\.\d+)?+|[{_JA_DIGITS}])(?:\d[\d,]*+(?:\.\d+)?+|[{_JA_NUM_CHARS}])*+"
)

_AMOUNT = re.compile(
    # Japanese: ¥99,000 / 99,000円 / 9万9千円 / 10万円 / JPY 5000 / 5000 yen. A backslash
    # before a comma-grouped number is a yen sign too: byte 0x5C is ¥ on Japanese
    # systems, and mailers that write it in ISO-2022-JP's ASCII mode or in
    # Shift_JIS decode to "\" ("\12,800-"). Only comma-grouped, so a path is no amount.
    rf"(?P<jpre>¥|JPY|\\(?=\d{{1,3}},\d{{3}}))\s?(?P<jprenum>{_NUM})(?:\s?円)?"
    rf"|(?P<jnum>{_JA_NUM})\s?(?:円|えん|(?P<jsuf>JPY|yen)\b)"
    # Dollars, pounds, euros with the symbol or code before or after.
    rf"|(?P<cpre>US\$|USD|C\$|A\$|\$|£|GBP|€|EUR)\s?(?P<cprenum>{_NUM})(?!\d)"
    rf"|(?<![\d.,])(?P<cnum>{_NUM})\s?(?P<csuf>USD|US\$|\$|dollars?|GBP|£|pounds?|EUR|€|euros?)(?![A-Za-z])",
    re.I,
)
_CURRENCY = {
    "us$": "USD", "usd": "USD", "$": "USD", "c$": "CAD", "a$": "AUD", "dollar": "USD",
    "dollars": "USD", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "€": "EUR",
    "eur": "EUR", "euro": "EUR", "euros": "EUR",
}  # fmt: skip
_MAX_AMOUNTS = 100


def parse_number(text: str, currency: str = "") -> float | None:
    """'1,234.56' / '1.234,56' / '99 000' to a float; None if it is not a number."""
    s = text.replace(" ", "").replace("'", "")
    if not s:
        return None
    if "," in s and "." in s:
        if s.rfind(",") > s.rfind("."):
            s = s.replace(".", "").replace(",", ".")
        else:
            s = s.replace(",", "")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        s = (
            head.replace(",", "") + "." + tail
            if len(tail) == 2 and currency == "EUR"
            else (s.replace(",", ""))
        )
    elif s.count(".") > 1 or (currency == "EUR" and len(s.rpartition(".")[2]) == 3):
        s = s.replace(".", "")
    try:
        return float(s)
    except ValueError:
        return None


def parse_japanese_number(text: str) -> float | None:
    """Arabic and kanji numerals with 十/百/千/万/億 units: '9万9千' → 99000."""
    total = 0.0
    section = 0.0
    current: float | None = None
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isdigit() or ch == ",":
            j = i
            while j < n and (text[j].isdigit() or text[j] in ",."):
                j += 1
            value = parse_number(text[i:j].strip(","))
            if value is None:
                return None
            current = value
            i = j
            continue
        if ch in _KANJI_DIGITS:
            current = (
                (current or 0) * 10 + _KANJI_DIGITS[ch]
                if current is not None
                else float(_KANJI_DIGITS[ch])
            )
        elif ch in _SMALL_UNITS:
            section += (current if current is not None else 1) * _SMALL_UNITS[ch]
            current = None
        elif ch in _BIG_UNITS:
            section += current or 0
            total += (section or 1) * _BIG_UNITS[ch]
            section = 0
            current = None
        else:
            return None
        i += 1
    total += section + (current or 0)
    return total if total > 0 else None


_TRIGGER_SYMBOLS = ("$", "£", "€", "¥", "\\", "円", "えん")
_TRIGGER_WORDS = ("usd", "eur", "gbp", "jpy", "yen", "dollar", "pound", "euro")
_NUMBERISH = frozenset("0123456789,.' " + _JA_NUM_CHARS)
_WINDOW = 48


def _amount_windows(text: str) -> list[tuple[int, int]]:
    """Stretches of ``text`` around currency markers, merged; numbers are never cut.

    The full amount pattern is costly per character, and most text has no
    money in it, so we only run it near a currency symbol, code or word
    (found with str.find, which is far faster than any regex scan).
    """
    hits: list[tuple[int, int]] = []
    low = text.lower()
    if len(low) != len(text):  # a few characters grow when lower-cased; offsets would drift
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    for marker in (*_TRIGGER_SYMBOLS, *_TRIGGER_WORDS):
        i = low.find(marker)
        while i >= 0:
            hits.append((i, i + len(marker)))
            if len(hits) > 10_000:
                break
            i = low.find(marker, i + 1)
    if not hits:
        return []
    hits.sort()
    n = len(text)
    windows: list[tuple[int, int]] = []
    for lo, hi in hits:
        start = max(0, lo - _WINDOW)
        while start > 0 and text[start - 1] in _NUMBERISH and lo - start < 4 * _WINDOW:
            start -= 1
        end = min(n, hi + _WINDOW)
        while end < n and text[end] in _NUMBERISH and end - hi < 4 * _WINDOW:
            end += 1
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def extract_amounts(text: str) -> tuple[Amount, ...]:
    """Distinct money amounts in ``text`` (expected normalised) with ISO currency codes."""
    out: list[Amount] = []
    seen: set[tuple[float, str]] = set()
    matches = (m for lo, hi in _amount_windows(text) for m in _AMOUNT.finditer(text, lo, hi))
    for m in matches:
        value: float | None
        if m.group("jprenum") is not None:
            currency = "JPY"
            value = parse_number(m.group("jprenum"), currency)
        elif m.group("jnum") is not None:
            currency = "JPY"
            value = parse_japanese_number(m.group("jnum"))
        elif m.group("cprenum") is not None:
            currency = _CURRENCY.get(m.group("cpre").lower(), "USD")
            value = parse_number(m.group("cprenum"), currency)
        else:
            currency = _CURRENCY.get(m.group("csuf").lower(), "USD")
            value = parse_number(m.group("cnum"), currency)
        if value is None or value <= 0 or value >= 1e13 or (value, currency) in seen:
            continue
        seen.add((value, currency))
        out.append(Amount(raw=m.group().strip(), value=value, currency=currency))
        if len(out) >= _MAX_AMOUNTS:
            break
    return tuple(out)
