"""What the user reported, as evidence the engine weighs like any other.

A report by moving (the mail app's ``Quarantine/Report`` folder) teaches
more than wording: the sender's address, its domain and the phone numbers
in the message. The next message that shares them gets one reason per
match. They are *provenance* evidence, and they go through the same verdict
rule as everything else (family gate, thresholds), with one exception: the
exact address the user reported is the user's own word that this sender is
a scammer, which is decisive (:data:`DECISIVE_RULES`).

Why here and not in the pipeline: one place decides verdicts. Re-deciding a
verdict after the classifier (as the first version did) let a reported
domain or phone number make a scam without the evidence the gate asks for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mailguard.detect.verdict import Reason
from mailguard.parse.model import ParsedMessage

REPORTED_SENDER_RULE = "user.reported_sender"
REPORTED_PREFIX = "reported."  # families: reported.sender, reported.domain, reported.phone
# Rules whose single hit satisfies the family gate: the user's explicit word.
DECISIVE_RULES = frozenset({REPORTED_SENDER_RULE})

# How much each kind of match counts. The exact address the user reported is their word
# that this sender is a scammer; a domain or a phone number is strong evidence, not proof.
REPORT_WEIGHTS: dict[str, float] = {"sender": 100.0, "domain": 4.0, "phone": 4.0}
_REPORT_WORDS = {
    "sender": ("以前あなたが詐欺として報告した差出人です", "a sender you reported as a scam"),
    "domain": (
        "以前あなたが詐欺として報告したドメインからです",
        "from a domain you reported as a scam",
    ),
    "phone": (
        "以前あなたが詐欺として報告した電話番号が書かれています",
        "gives a phone number you reported as a scam",
    ),
}


def sender_of(msg: ParsedMessage) -> tuple[str, str]:
    """(address, domain) of the From header, lower-cased; empty strings when absent."""
    addr = (msg.from_.addr if msg.from_ is not None else "").strip().lower()
    return addr, (addr.rpartition("@")[2] if "@" in addr else "")


def phone_digits(msg: ParsedMessage) -> set[str]:
    """The message's phone numbers as digit strings (9 digits or more: real numbers)."""
    return {d for d in (re.sub(r"\D", "", p.raw) for p in msg.phones) if len(d) >= 9}


def reported_features(
    msg: ParsedMessage, shared_domains: frozenset[str] = frozenset()
) -> dict[str, set[str]]:
    """What a report teaches beyond the text: sender address, its domain, phone numbers.

    A domain everyone shares (gmail.com and the other free-mail providers in
    ``shared_domains``) is not learned: one scammer on Gmail must not make
    every Gmail sender a scam.
    """
    addr, domain = sender_of(msg)
    return {
        "sender": {addr} if addr else set(),
        "domain": {domain} if domain and domain not in shared_domains else set(),
        "phone": phone_digits(msg),
    }


def _vouched_for(addr: str, domain: str, vouched: frozenset[str]) -> bool:
    """Is the sender (address, or domain or a parent of it) one the user vouched for?"""
    return addr in vouched or bool(
        domain and any(domain == v or domain.endswith("." + v) for v in vouched)
    )


def report_reasons(
    msg: ParsedMessage, reported: Mapping[str, frozenset[str]], vouched: frozenset[str]
) -> list[Reason]:
    """One reason for each of sender, domain and (first) phone number the user reported.

    Trusted and released senders (addresses or domains) get none: the user's
    later "this one is fine" wins over an older report. Each kind is its own
    family (``reported.<kind>``): a reported domain and a reported phone
    number in one message are two independent matches.
    """
    if not any(reported.values()):
        return []
    addr, domain = sender_of(msg)
    if _vouched_for(addr, domain, vouched):
        return []
    found: list[tuple[str, str]] = []
    if addr and addr in reported.get("sender", ()):
        found.append(("sender", addr))
    if domain and domain in reported.get("domain", ()):
        found.append(("domain", domain))
    phones = sorted(phone_digits(msg) & set(reported.get("phone", ())))
    if phones:
        found.append(("phone", phones[0]))
    return [
        Reason(
            rule=f"user.reported_{kind}",
            family=f"{REPORTED_PREFIX}{kind}",
            weight=REPORT_WEIGHTS[kind],
            description_ja=_REPORT_WORDS[kind][0],
            description_en=_REPORT_WORDS[kind][1],
            evidence=evidence[:80],
        )
        for kind, evidence in found
    ]
