"""``mailguard oauth2 login --account NAME``: device-code sign-in (RFC 8628).

The refresh token is written to the account's ``password_file`` (0600), never
printed, so it does not end up in a terminal scroll-back or shell history.
"""

from __future__ import annotations

import argparse
import sys

from mailguard.commands.common import load_or_report, pick_accounts


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    [account] = pick_accounts(settings, args.account)
    if account.auth != "oauth2" or not (account.oauth2_client_id and account.oauth2_token_endpoint):
        print(
            f'mailguard: account {account.name!r} needs auth = "oauth2", oauth2_client_id and '
            "oauth2_token_endpoint for a device-code login",
            file=sys.stderr,
        )
        return 2
    if account.password_file is None:
        print(
            f"mailguard: set password_file for account {account.name!r}: the refresh token "
            "is stored there (mode 0600)",
            file=sys.stderr,
        )
        return 2
    from mailguard.oauth2 import OAuth2Error, device_code_login
    from mailguard.secrets import write_secret_file

    try:
        token = device_code_login(account, device_endpoint=args.device_endpoint)
    except OAuth2Error as e:
        print(f"mailguard: sign-in failed: {e}", file=sys.stderr)
        return 1
    write_secret_file(account.password_file, token)
    print(f"Signed in. The refresh token was saved to {account.password_file} (mode 0600).")
    return 0
