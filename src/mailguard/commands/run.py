"""``mailguard run``: the daemon. Refuses to start twice on one state file."""

from __future__ import annotations

import argparse
import sys

from mailguard.commands.common import load_or_report


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    from mailguard.daemon import run
    from mailguard.state import StateLocked

    try:
        return run(settings)
    except StateLocked as e:
        print(f"mailguard: {e}", file=sys.stderr)
        return 1
