"""``mailguard digest --preview | --send-now``."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailguard.commands.common import load_or_report, pick_accounts


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    from mailguard.app import App

    accounts = pick_accounts(settings, args.account)
    failed = False
    with App(settings) as app:
        for account in accounts:
            if args.preview:
                unchecked = app.digests.unchecked(account)
                if unchecked:
                    print(
                        f"{account.name}: {len(unchecked)} message(s) could not be checked "
                        f"since the last digest (see `mailguard status`)"
                    )
                rendered, _ids = app.digests.render(account)
                if rendered is None:
                    print(f"{account.name}: nothing new since the last digest")
                    continue
                print(f"Subject: {rendered.subject}\n")
                print(rendered.text)
                if args.html:
                    html_path = Path(args.html)
                    if len(accounts) > 1:
                        html_path = html_path.with_name(
                            f"{html_path.stem}.{account.name}{html_path.suffix}"
                        )
                    html_path.write_text(rendered.html, encoding="utf-8")
                    print(f"(HTML written to {html_path})")
            else:
                outcome = app.digests.send(account)
                if outcome.error:
                    failed = True
                    print(f"{account.name}: digest NOT sent: {outcome.error}")
                elif outcome.sent:
                    print(
                        f"{account.name}: digest sent ({outcome.items} item(s)) "
                        f"by {settings.digest.delivery}"
                    )
                else:
                    print(f"{account.name}: nothing new since the last digest")
    return 1 if failed else 0
