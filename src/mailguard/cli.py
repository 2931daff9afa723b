"""Command-line entry point: builds the argument parser and dispatches.

Each subcommand lives in its own module under :mod:`mailguard.commands` and is
imported only when used, so ``mailguard classify`` does not pay for IMAP or
APScheduler imports and a broken optional dependency cannot stop ``--help``.

``--config`` (and the logging options) are accepted after every subcommand,
e.g. ``mailguard scan --once --config FILE``, because that is where people
type them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mailguard import __version__


def _common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # On subparsers the default is SUPPRESS so a value given before the
    # subcommand is not overwritten by the subcommand's default.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (else $MAILGUARD_CONFIG, ~/.config/mailguard/mailguard.toml, "
        "/etc/mailguard/mailguard.toml)",
    )
    parser.add_argument(
        "--log-format", choices=["text", "json"], default=default, help="log line format"
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=default,
        help="log level (overrides [logging] level)",
    )
    parser.add_argument(
        "--log-wire",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="with --log-level DEBUG, log the full IMAP exchange including message content "
        "(default: commands and sizes only)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mailguard",
        description="Quarantines fake-billing and fake-withdrawal scams from IMAP mailboxes "
        "and explains what to do next.",
    )
    p.add_argument("--version", action="version", version=f"mailguard {__version__}")
    _common(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str, module: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        _common(sp)
        sp.set_defaults(_module=module)
        return sp

    sp = add("check-config", "validate the config file and report every problem", "check_config")
    sp.add_argument(
        "--secrets",
        action="store_true",
        help="also check that every password source resolves, and log in (implies --connect)",
    )
    sp.add_argument(
        "--connect",
        action="store_true",
        help="log in to every account and report capabilities, the resolved quarantine and "
        "Sent folders and the move strategy (creates nothing)",
    )

    sp = add("classify", "classify .eml files, directories or stdin (-) and explain", "classify")
    sp.add_argument("paths", nargs="+", metavar="PATH", help=".eml file, directory, or - for stdin")
    sp.add_argument("--json", action="store_true", help="one JSON object per line and message")
    sp.add_argument("--lang", choices=["ja", "en"], default=None, help="language of the reasons")

    sp = add("eval", "measure detection against a labels.tsv file", "evaluate")
    sp.add_argument("labels", metavar="LABELS.tsv", nargs="?")
    sp.add_argument("--root", default=None, help="folder the paths are relative to")
    sp.add_argument("--lang", choices=["ja", "en"], default="en")
    from mailguard.evaluate import add_lso_arguments

    add_lso_arguments(sp)

    sp = add("scan", "scan every account once and quarantine scams", "scan")
    sp.add_argument("--once", action="store_true", help="one pass, then exit (the default)")
    sp.add_argument("--dry-run", action="store_true", help="report what would move; move nothing")
    sp.add_argument("--account", metavar="NAME", help="only this account")
    sp.add_argument("--since", metavar="YYYY-MM-DD", help="also look at mail since this date")
    sp.add_argument(
        "--no-alerts",
        action="store_true",
        help="do not send the immediate alert for held mail that cannot wait (sent by default)",
    )

    add("run", "run the daemon: poll on schedule and send digests", "run")

    sp = add("quarantine", "list what is in quarantine", "quarantine")
    qsub = sp.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    ql = qsub.add_parser("list", help="list quarantined messages")
    _common(ql)
    ql.add_argument("--account", metavar="NAME")
    ql.add_argument("--json", action="store_true")
    ql.add_argument("--all", action="store_true", help="include released and deleted messages")

    sp = add("release", "move quarantined messages back where they came from", "release")
    sp.add_argument("ids", nargs="*", type=int, metavar="ID")
    sp.add_argument("--all", action="store_true", help="release everything (needs --account)")
    sp.add_argument("--account", metavar="NAME")

    for action, help_ in (
        ("trust", "trust a sender address or domain (as a release does)"),
        ("untrust", "stop trusting a sender address or domain"),
    ):
        sp = add(action, help_, "trust")
        sp.set_defaults(_module_action=action)
        sp.add_argument("sender", metavar="ADDRESS|DOMAIN")
        sp.add_argument("--account", metavar="NAME", help="only this account (default: all)")

    sp = add("learn", "teach one account's classifier from mail you judged", "learn")
    sp.add_argument("--ham", nargs="+", metavar="FILE", help="genuine mail (.eml files)")
    sp.add_argument("--scam", nargs="+", metavar="FILE", help="scams it missed (.eml files)")
    sp.add_argument("--reset", action="store_true", help="forget what this account learned")
    sp.add_argument("--export", action="store_true", help="print learned examples as JSON lines")
    sp.add_argument("--account", metavar="NAME")

    add("status", "per account: last poll, next poll, counts, last error", "status")

    sp = add("doctor", "check the state database; --rebuild it from Quarantine", "doctor")
    sp.add_argument("--rebuild", action="store_true", help="keep a damaged file aside and rebuild")
    sp.add_argument("--account", metavar="NAME", help="only rebuild this account's list")

    sp = add("digest", "preview or send the digest", "digest")
    mode = sp.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", action="store_true", help="print what would be sent now")
    mode.add_argument("--send-now", action="store_true", help="send it now")
    sp.add_argument("--account", metavar="NAME")
    sp.add_argument("--html", metavar="FILE", help="with --preview: also write the HTML here")

    sp = add("demo", "start a throwaway IMAP server, scan sample mail, show the digest", "demo")
    sp.add_argument("--lang", choices=["ja", "en"], default="ja")
    sp.add_argument("--keep", action="store_true", help="leave the temporary folder for a look")

    sp = add("oauth2", "OAuth2 helpers", "oauth2_cmd")
    osub = sp.add_subparsers(dest="oauth2_command", metavar="ACTION", required=True)
    ol = osub.add_parser("login", help="device-code sign-in; prints a refresh token to store")
    _common(ol)
    ol.add_argument("--account", metavar="NAME", required=True)
    ol.add_argument("--device-endpoint", metavar="URL", required=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"mailguard.commands.{args._module}")
    try:
        return int(module.main(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        # A full disk, a damaged or unwritable state file, a scan already running: one clear
        # sentence, no traceback. (Looked up lazily: `classify` never imports the state.)
        errors = sys.modules.get("mailguard.state.errors")
        if errors is None or not isinstance(e, errors.StateError):
            raise
        print(f"mailguard: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
