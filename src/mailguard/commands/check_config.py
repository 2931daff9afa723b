"""``mailguard check-config``: validate and say exactly what is wrong, never a secret."""

from __future__ import annotations

import argparse

from mailguard.commands.common import load_or_report
from mailguard.config import find_config_path


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    path = find_config_path(getattr(args, "config", None))
    print(f"{path}: OK")
    print(f"  state: {settings.state.path}")
    print(
        f"  poll every {settings.schedule.poll_interval:g}s; digest at "
        + ", ".join(t.strftime("%H:%M") for t in settings.schedule.digest_times)
        + f" by {settings.digest.delivery}"
    )
    problems = 0
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
    return 2 if problems else 0
