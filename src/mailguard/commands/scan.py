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

    from mailguard.app import App

    all_reached = True
    with App(settings) as app:
        for account in accounts:
            summary = app.scan(account, dry_run=args.dry_run, since=since)
            print(("[dry-run] " if args.dry_run else "") + summary.line())
            for line in summary.resolution:  # dry run: the folders, as check-config shows them
                print(f"  {line}")
            for line in summary.planned:
                print(f"  {line}")
            all_reached &= summary.reached and not summary.problems
            alerts = not args.dry_run and not args.no_alerts and settings.digest.immediate
            if summary.reached and alerts:
                # Same as the daemon: what cannot wait for the digest is announced now.
                outcome = app.digests.send(account, kind="alert")
                if outcome.sent:
                    print(f"  alert sent: {outcome.items} message(s) that cannot wait")
                elif outcome.error:
                    print(f"  alert NOT sent: {outcome.error}")
    return 0 if all_reached else 1
