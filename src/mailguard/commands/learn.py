"""``mailguard learn``: teach one account's classifier from messages the user judged.

``--ham FILE...`` (genuine mail), ``--scam FILE...`` (a scam it missed),
``--reset`` (forget the account's examples), ``--export`` (the stored
examples as JSON lines, fingerprints included, for a backup or a look).
Releasing a quarantined message learns it as genuine automatically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mailguard.commands.common import load_or_report, pick_accounts


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    modes = [bool(args.ham), bool(args.scam), args.reset, args.export]
    if sum(modes) != 1:
        print(
            "mailguard learn: give exactly one of --ham, --scam, --reset, --export", file=sys.stderr
        )
        return 2
    if not args.export and not args.account:
        print("mailguard learn: --account NAME is required", file=sys.stderr)
        return 2
    if args.account:
        pick_accounts(settings, args.account)

    from mailguard.pipeline.learning import learn_message
    from mailguard.state import StateStore

    with StateStore.open(settings.state.path) as store:
        if args.reset:
            n = store.reset_learning(args.account)
            print(f"{args.account}: forgot {n} learned example(s)")
            return 0
        if args.export:
            for row in store.learned(args.account):
                print(
                    json.dumps(
                        {
                            "account": row.account,
                            "label": row.label,
                            "learned_at": row.learned_at.isoformat(),
                            "source": row.source,
                            "sender": row.sender_addr,
                            "category": row.category,
                            "message_id": row.message_id,
                            "fingerprint": sorted(row.fingerprint),
                        },
                        ensure_ascii=False,
                    )
                )
            return 0
        label = "ham" if args.ham else "scam"
        failures = 0
        for name in args.ham or args.scam:
            try:
                raw = Path(name).read_bytes()
            except OSError as e:
                print(f"{name}: cannot read: {e.strerror or e}", file=sys.stderr)
                failures += 1
                continue
            try:
                learn_message(store, args.account, raw, label, source="cli")
            except ValueError as e:
                print(f"{name}: {e}", file=sys.stderr)
                failures += 1
                continue
            print(f"{name}: learned as {'genuine mail' if label == 'ham' else 'a scam'}")
        return 1 if failures else 0
