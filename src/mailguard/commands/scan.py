"""``mailguard scan --once``: one pass over every account, a line per account."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from mailguard.commands.common import load_or_report, pick_accounts


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            print(f"mailguard: --since wants YYYY-MM-DD, got {args.since!r}", file=sys.stderr)
            return 2
    accounts = pick_accounts(settings, args.account)

    from mailguard.detect import Classifier
    from mailguard.pipeline.digesting import send_alerts
    from mailguard.pipeline.runner import scan_account
    from mailguard.state import StateStore

    classifier = Classifier.from_config(settings.detection)
    store = StateStore.open(settings.state.path)
    all_reached = True
    try:
        for account in accounts:
            summary = scan_account(
                settings, account, store, classifier, dry_run=args.dry_run, since=since
            )
            print(("[dry-run] " if args.dry_run else "") + summary.line())
            for line in summary.planned:
                print(f"  {line}")
            all_reached &= summary.reached
            if (
                summary.reached
                and not args.dry_run
                and not args.no_alerts
                and settings.digest.immediate
            ):
                # Same as the daemon: what cannot wait for the digest is announced now.
                outcome = send_alerts(settings, account, store)
                if outcome.sent:
                    print(f"  alert sent: {outcome.items} message(s) that cannot wait")
                elif outcome.error:
                    print(f"  alert NOT sent: {outcome.error}")
    finally:
        store.close()
    return 0 if all_reached else 1
