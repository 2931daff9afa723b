"""``mailguard check-config``: validate and say exactly what is wrong, never a secret.

With ``--connect`` (implied by ``--secrets``) it also logs in to every account,
because a config can be valid and still quarantine nothing: a wrong password or
port, or a quarantine folder the server refuses (``Quarantine`` on Cyrus and
Courier, where it is ``INBOX.Quarantine``). What the server says is reported by
:func:`mailguard.imap.probe.probe_account`; nothing is created or changed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mailguard.commands.common import load_or_report
from mailguard.config import AccountConfig, Settings, find_config_path


def _state_problem(path: Path) -> str | None:
    """Why this user could not open or create the state database at ``path`` (None: can).

    Checked here because ``scan`` and ``status`` open it first thing; a config that
    names /var/lib/... for a non-root user once passed check-config and then crashed.
    """
    path = path.expanduser()
    if path.exists():
        if path.is_dir():
            return "it is a directory"
        ok = os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
        return None if ok else "this user cannot write it (or its directory)"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return "a file stands where its directory should be"
    if not os.access(parent, os.W_OK | os.X_OK):
        return "this user cannot create it (its directory is not writable)"
    return None


def _connect_and_probe(settings: Settings, account: AccountConfig) -> int:
    """Log in, print what the server says; the number of problems found."""
    from mailguard.app import App
    from mailguard.imap.base import MailClientError
    from mailguard.imap.probe import probe_account

    with App(settings) as app:
        try:
            client = app.connect(account)
        except MailClientError as e:
            print(f"    PROBLEM: cannot log in: {e}")
            return 1
        try:
            client.set_read_only(True)  # belt and braces: the probe only reads
            report = probe_account(client, account)
        except MailClientError as e:
            print(f"    PROBLEM: {e}")
            return 1
        finally:
            client.logout()
    print("    login: OK")
    for line in report.lines:
        print(f"    {line}")
    return len(report.problems)


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    path = find_config_path(getattr(args, "config", None))
    print(f"{path}: OK")
    print(f"  state: {settings.state.path}")
    problems = 0
    why = _state_problem(settings.state.path)
    if why:
        problems += 1
        print(f"    PROBLEM: state database ([state] path): {why}")
    print(
        f"  poll every {settings.schedule.poll_interval:g}s; digest at "
        + ", ".join(t.strftime("%H:%M") for t in settings.schedule.digest_times)
        + f" by {settings.digest.delivery}"
    )
    for a in settings.accounts:
        source = a.secret_source_name() or "oauth2_token_command"
        print(
            f"  account {a.name}: {a.username} at {a.host}:{a.port} ({a.security}), "
            f"folders {', '.join(a.folders)} -> {a.quarantine_folder}, "
            f"digest in {a.language} for {a.country}, secret from {source}"
        )
        if getattr(args, "secrets", False):
            from mailguard.secrets import SecretError, resolve_secret

            if a.secret_source_name():
                try:
                    resolve_secret(a, what=f"account {a.name}")
                    print("    secret: resolves")
                except SecretError as e:
                    problems += 1
                    print(f"    secret: {e}")
                    continue  # logging in cannot work without it
        if getattr(args, "connect", False) or getattr(args, "secrets", False):
            problems += _connect_and_probe(settings, a)
    if problems:
        print(f"{problems} problem(s) found")
    return 2 if problems else 0
