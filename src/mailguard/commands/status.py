"""``mailguard status``: is it working? The figures a worried user or admin looks for."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from mailguard.commands.common import load_or_report
from mailguard.state.mailapp import WatchRow
from mailguard.vocabulary import WatchMode


def _ago(t: datetime | None) -> str:
    if t is None:
        return "never"
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _watch_line(w: WatchRow) -> str:
    """``INBOX: IDLE (connected), last event ...`` -- as the running daemon last wrote it."""
    if w.mode == WatchMode.IDLE:
        how = "IDLE, connected" if w.connected else f"IDLE, reconnecting ({w.reconnects} so far)"
    else:
        how = "polling"
    line = f"folder {w.folder}: {how}, last event {_ago(w.last_event)}"
    if w.error and not w.connected:
        line += f" ({w.error})"
    return line
def _next_poll(at: datetime | None, pid: int | None, interval: float) -> str:
    if pid is None:
        return "none: the daemon is not running (start it with `mailguard run` or the service)"
    if at is None or at <= datetime.now(UTC):
        return f"due (the daemon polls every {interval:g}s)"
    return _ago(at)


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    from mailguard.app import App
    from mailguard.state.lock import daemon_pid

    # Truthful about the daemon: from the lock `mailguard run` holds on this state file,
    # not from a "next poll" time a stopped daemon left behind.
    pid = daemon_pid(settings.state.path)
    if pid is None:
        print("daemon: not running (no `mailguard run` holds this state file)")
    else:
        print(f"daemon: running (pid {pid})" if pid else "daemon: running")
    with App(settings) as app:
        store = app.store
        statuses = {s.account: s for s in store.account_statuses()}
        counts = {a.name: len(store.list_quarantine(account=a.name)) for a in settings.accounts}
        skipped = {a.name: store.message_errors(a.name, limit=1) for a in settings.accounts}
        skipped_n = {a.name: store.message_error_count(a.name) for a in settings.accounts}
        watches = {a.name: store.watch_states(a.name) for a in settings.accounts}
    for a in settings.accounts:
        st = statuses.get(a.name)
        print(f"{a.name} ({a.username} at {a.host})")
        if st is None:
            print("  never polled")
            continue
        print(f"  last poll:   {_ago(st.last_poll_at)}  {st.last_result or ''}")
        print(f"  next poll:   {_next_poll(st.next_poll_at, pid, settings.schedule.poll_interval)}")
        print(f"  in quarantine now: {counts[a.name]}")
        print(
            f"  totals: scanned {st.scanned_total}, quarantined {st.quarantined_total}, "
            f"released {st.released_total}, errors {st.errors_total}"
        )
        if st.last_error:
            print(f"  last error:  {st.last_error}")
        for w in watches[a.name]:
            print(f"  {_watch_line(w)}")
        if skipped_n[a.name]:
            last = skipped[a.name][0]
            print(
                f"  messages skipped (could not be checked): {skipped_n[a.name]}; last "
                f"{_ago(last.at)} {last.folder} UID {last.uid}: {last.error}"
            )
    return 0
