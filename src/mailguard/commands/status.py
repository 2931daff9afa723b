"""``mailguard status``: is it working? The figures a worried user or admin looks for."""

from __future__ import annotations

import argparse
from datetime import datetime

from mailguard.commands.common import load_or_report


def _ago(t: datetime | None) -> str:
    if t is None:
        return "never"
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    from mailguard.state import StateStore

    store = StateStore.open(settings.state.path)
    try:
        statuses = {s.account: s for s in store.account_statuses()}
        counts = {a.name: len(store.list_quarantine(account=a.name)) for a in settings.accounts}
    finally:
        store.close()
    for a in settings.accounts:
        st = statuses.get(a.name)
        print(f"{a.name} ({a.username} at {a.host})")
        if st is None:
            print("  never polled")
            continue
        print(f"  last poll:   {_ago(st.last_poll_at)}  {st.last_result or ''}")
        nxt = _ago(st.next_poll_at) if st.next_poll_at else "not scheduled (set by `mailguard run`)"
        print(f"  next poll:   {nxt}")
        print(f"  in quarantine now: {counts[a.name]}")
        print(
            f"  totals: scanned {st.scanned_total}, quarantined {st.quarantined_total}, "
            f"released {st.released_total}, errors {st.errors_total}"
        )
        if st.last_error:
            print(f"  last error:  {st.last_error}")
    return 0
