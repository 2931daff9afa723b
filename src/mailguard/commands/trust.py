"""``mailguard trust|untrust ADDRESS|DOMAIN``: an admin vouches for a sender, or stops.

Trust is what a release records ("this sender is fine"), kept per account in
the state database; the classifier lowers its score for trusted senders and
says so in the reasons (it never silences an overwhelming scam). ``trust``
also forgets what reports taught about that sender. Without ``--account``
the change applies to every configured account.
"""

from __future__ import annotations

import argparse
import re

from mailguard.commands.common import load_or_report, pick_accounts

_SENDER_RE = re.compile(r"^@?[^\s@]+(@[^\s@]+)?$")


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    sender = str(args.sender).strip().lower()
    if not _SENDER_RE.match(sender) or sender.strip("@.") == "":
        print("mailguard: give one address (name@example.com) or domain (example.com)")
        return 2
    accounts = pick_accounts(settings, args.account)
    from mailguard.app import App

    untrust = args._module_action == "untrust"
    with App(settings) as app:
        for account in accounts:
            if untrust:
                removed = app.store.untrust_sender(account.name, sender)
                verb = "no longer trusted" if removed else "was not trusted"
            else:
                app.store.trust_sender(account.name, sender)
                verb = "trusted"
            print(f"{account.name}: {sender.lstrip('@')} {verb}")
    return 0
