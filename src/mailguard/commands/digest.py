"""``mailguard digest --preview | --send-now``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mailguard.commands.common import load_or_report, pick_accounts


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), whatever the umask.

    A digest preview lists the subjects and senders of quarantined mail: it is
    as private as the mailbox. The file is created 0600 from the start (never
    readable by others, not even for a moment), an existing file is truncated
    and its mode corrected too, and a symbolic link is refused rather than
    followed (someone else's link in a shared directory must not redirect it).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


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
                    try:
                        write_private(html_path, rendered.html)
                    except OSError as e:
                        print(f"mailguard: cannot write the HTML preview {html_path}: {e.strerror}")
                        failed = True
                        continue
                    print(f"(HTML written to {html_path}, mode 0600)")
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
