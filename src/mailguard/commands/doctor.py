"""``mailguard doctor [--rebuild]``: is the state database sound? If not, rebuild it.

Without ``--rebuild`` nothing is changed: the file is checked read-only
(header, ``PRAGMA integrity_check``) and the verdict printed; exit 1 on a
problem. With ``--rebuild`` a damaged file is moved aside (kept, never
deleted) and the quarantine list is rebuilt from the Quarantine folders and
from whatever the old file still yields (see :mod:`mailguard.pipeline.recover`).
The daemon must be stopped: the daemon lock and the writer lock are held
throughout.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mailguard.commands.common import load_or_report, pick_accounts

if TYPE_CHECKING:
    from mailguard.config import Settings


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    from mailguard.pipeline import recover

    path = settings.state.path
    health = recover.check(path)
    for fact in health.facts:
        print(f"  {fact}")
    if health.ok:
        print(f"{path}: OK")
        if args.rebuild:  # sound file: only add what the Quarantine folder holds unlisted
            return _rebuild(settings, args, damaged=False)
        return 0
    for problem in health.problems:
        print(f"PROBLEM: {problem}")
    if not args.rebuild:
        print(
            "Run `mailguard doctor --rebuild` to keep this file aside and rebuild the quarantine "
            "list from the Quarantine folder (stop the daemon first)."
        )
        return 1
    return _rebuild(settings, args, damaged=True)


def _rebuild(settings: Settings, args: argparse.Namespace, *, damaged: bool) -> int:
    from mailguard.app import App
    from mailguard.detect import Classifier
    from mailguard.imap.base import MailClientError
    from mailguard.pipeline import recover
    from mailguard.state import StateStore
    from mailguard.state.lock import DaemonLock, WriterLock

    path = settings.state.path
    accounts = pick_accounts(settings, getattr(args, "account", None))
    with DaemonLock(path), WriterLock(path, wait=0):
        found = recover.salvage(path) if damaged else recover.Salvage()
        for p in recover.move_aside(path) if damaged else []:
            print(f"kept the damaged file as {p}")
        classifier = Classifier.from_config(settings.detection)
        failures = 0
        with StateStore.open(path) as store:
            restored = sum(
                store.restore_released_sender(account, addr, at)
                for account, addr, at in found.released
            )
            if found.readable:
                print(
                    f"old records read: {len(found.rows)} message(s), {restored} released sender(s)"
                )
            for account in accounts:
                try:
                    client = App(settings).connect(account)
                except MailClientError as e:
                    print(f"{account.name}: cannot connect: {e}", file=sys.stderr)
                    failures += 1
                    continue
                try:
                    result = recover.rebuild_account(
                        client,
                        store,
                        account,
                        classifier,
                        found,
                        max_bytes=settings.scan.max_message_size,
                        max_part_size=settings.scan.max_part_size,
                    )
                except MailClientError as e:
                    print(f"{account.name}: {e}", file=sys.stderr)
                    failures += 1
                    continue
                finally:
                    client.logout()
                print(
                    f"{account.name}: recorded {result.recorded} message(s) found in "
                    f"{account.quarantine_folder} ({result.from_old_records} with their original "
                    "folder from the old records)"
                )
    if failures:
        print("some accounts could not be read; run `mailguard doctor --rebuild` again later "
              "to add their quarantined mail", file=sys.stderr)  # fmt: skip
    return 1 if failures else 0
