"""What every subcommand needs: load the config once, set up logging, report errors."""

from __future__ import annotations

import argparse
import sys

from mailguard.config import ConfigError, Settings, load_settings


def load_or_report(args: argparse.Namespace) -> Settings | None:
    """Load the config; on failure print one line per problem to stderr and return None."""
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as e:
        print(f"mailguard: the configuration has {len(e.problems)} problem(s):", file=sys.stderr)
        for line in str(e).splitlines():
            print(f"  {line}", file=sys.stderr)
        return None
    setup_logging_for(args, settings)
    return settings


def setup_logging_for(args: argparse.Namespace, settings: Settings | None) -> None:
    from mailguard.logs import setup_logging

    level = getattr(args, "log_level", None) or (settings.logging.level if settings else "INFO")
    fmt = getattr(args, "log_format", None) or (settings.logging.format if settings else "text")
    wire = bool(getattr(args, "log_wire", False))
    setup_logging(level=level, fmt=fmt, stream=sys.stderr, wire=wire)


def pick_accounts(settings: Settings, name: str | None) -> list:
    """All accounts, or the one named; raises SystemExit(2) with a clear message if unknown."""
    if name is None:
        return list(settings.accounts)
    for a in settings.accounts:
        if a.name == name:
            return [a]
    known = ", ".join(a.name for a in settings.accounts)
    print(f"mailguard: no account named {name!r} (configured: {known})", file=sys.stderr)
    raise SystemExit(2)
