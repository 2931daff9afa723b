"""``mailguard release ID...``: put quarantined mail back where it came from."""

from __future__ import annotations

import argparse
import sys

from mailguard.commands.common import load_or_report, pick_accounts
from mailguard.state import QuarantineRecord


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    if args.all and not args.account:
        print("mailguard: --all needs --account NAME", file=sys.stderr)
        return 2
    if not args.all and not args.ids:
        print(
            "mailguard: name the IDs to release (see `mailguard quarantine list`)", file=sys.stderr
        )
        return 2

    from mailguard.app import App
    from mailguard.imap.base import MailClientError
    from mailguard.pipeline.release import ReleaseError, release_one

    with App(settings) as app:
        store = app.store
        if args.all:
            pick_accounts(settings, args.account)
            records = store.list_quarantine(account=args.account)
        else:
            records = []
            for qid in args.ids:
                rec = store.get(qid)
                if rec is None:
                    print(f"{qid}: no such quarantined message", file=sys.stderr)
                    continue
                records.append(rec)
        failures = len(args.ids) - len(records) if not args.all else 0
        by_account: dict[str, list[QuarantineRecord]] = {}
        for rec in records:
            by_account.setdefault(rec.account, []).append(rec)
        for account_name, recs in by_account.items():
            try:
                account = settings.account(account_name)
            except KeyError:
                print(f"account {account_name!r} is no longer configured", file=sys.stderr)
                failures += len(recs)
                continue
            try:
                client, _before = app.connections.acquire(account)
            except MailClientError as e:
                print(f"{account_name}: cannot connect: {e}", file=sys.stderr)
                failures += len(recs)
                continue
            try:
                for rec in recs:
                    try:
                        done = release_one(client, store, rec.id)
                        if done.note:
                            print(f"{rec.id}: released ({account_name}): {done.note}")
                        else:
                            print(f"{rec.id}: released to {done.folder} ({account_name})")
                    except (ReleaseError, MailClientError) as e:
                        failures += 1
                        print(f"{rec.id}: {e}", file=sys.stderr)
            finally:
                app.connections.release(account, client, healthy=True)
    return 1 if failures else 0
