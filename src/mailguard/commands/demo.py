"""``mailguard demo``: the whole product in under a minute, on a throwaway server.

It starts a private Dovecot on loopback in a temporary folder, fills an INBOX
with the project's own sample mail (Japanese and English scams beside
real-looking legitimate mail), runs one scan, shows the quarantine and the
digest, delivers the digest into the INBOX the way the daemon would, and
stops the server. Nothing is left running and nothing outside the temporary
folder is touched.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from mailguard.commands.common import setup_logging_for

SENT_REPLY = (
    "From: {user} <{user}>\r\n"
    "To: {to}\r\n"
    "Subject: =?UTF-8?B?{subject}?=\r\n"
    "Date: {date}\r\n"
    "Message-ID: <demo-sent-1@localhost>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "{body}\r\n"
)


def _samples() -> list[tuple[str, bytes]]:
    root = resources.files("mailguard") / "samples"
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".eml"):
            out.append((entry.name, entry.read_bytes()))
    return out


def _say(text: str = "") -> None:
    print(text)
    sys.stdout.flush()


def main(args: argparse.Namespace) -> int:
    import base64

    from mailguard.app import App
    from mailguard.config import settings_from_dict
    from mailguard.parse import parse_message
    from mailguard.pipeline.verdict_record import top_descriptions
    from mailguard.testing.dovecot import SETUP_HINT, DovecotServer, locate_dovecot

    if locate_dovecot() is None:
        # The demo needs a real IMAP server; a traceback would not say how to get one.
        print(f"mailguard demo: no Dovecot found; {SETUP_HINT}.", file=sys.stderr)
        return 1
    setup_logging_for(args, None) if getattr(args, "log_level", None) else None
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="mailguard-demo-"))
    tmp.chmod(0o755)  # Dovecot's mail processes run unprivileged and must reach their folder
    samples = _samples()
    try:
        _say("mailguard demo")
        _say("=" * 60)
        _say(f"1. Starting a throwaway IMAP server (Dovecot) in {tmp} ...")
        with DovecotServer(tmp / "dovecot") as server:
            password = secrets.token_urlsafe(16)
            user, password = server.add_user("demo@localhost", password)
            client = server.client(user, password)
            try:
                client.create_folder("Sent")
                seen_every = 3
                scam_senders: list[str] = []
                for i, (name, raw) in enumerate(samples):
                    flags = [b"\\Seen"] if i % seen_every == 0 else []
                    client.append("INBOX", raw, flags=flags)
                    msg = parse_message(raw)
                    if "contact" in name and msg.from_ is not None:
                        scam_senders.append(msg.from_.addr)
                # The founding story: the user once wrote to a scammer to "withdraw".
                for to in scam_senders[:1]:
                    subject = base64.b64encode("退会について".encode()).decode()
                    client.append(
                        "Sent",
                        SENT_REPLY.format(
                            user=user,
                            to=to,
                            # Written after the first scam, before the follow-up that
                            # arrives now and answers it.
                            date=email.utils.format_datetime(
                                datetime.now(UTC) - timedelta(hours=2)
                            ),
                            subject=subject,
                            body="退会したいです。登録した覚えはありません。",
                        ).encode("utf-8"),
                        flags=[b"\\Seen"],
                    )
            finally:
                client.logout()
            _say(
                f"   INBOX filled with {len(samples)} sample messages "
                f"(Japanese and English; scams and real-looking legitimate mail)."
            )
            if scam_senders:
                _say("   The Sent folder holds one reply the user once wrote to a scammer.")

            os.environ["MAILGUARD_DEMO_PASSWORD"] = password
            settings = settings_from_dict(
                {
                    "state": {"path": str(tmp / "state" / "state.db")},
                    "logging": {"level": "WARNING"},
                    "accounts": [
                        {
                            "name": "demo",
                            "host": "127.0.0.1",
                            "port": server.imaps_port,
                            "security": "tls",
                            "tls_ca_file": str(server.ca_file),
                            "username": user,
                            "password_env": "MAILGUARD_DEMO_PASSWORD",
                            "language": args.lang,
                            "country": "JP" if args.lang == "ja" else "US",
                            "digest_to": user,
                        }
                    ],
                }
            )
            account = settings.accounts[0]
            with App(settings) as app:
                store = app.store
                _say("\n2. Scanning the INBOX once (mailguard scan --once) ...")
                summary = app.scan(account)
                _say("   " + summary.line())
                if not summary.reached:
                    return 1

                _say("\n3. The quarantine (mailguard quarantine list):")
                for rec in store.list_quarantine(account="demo"):
                    desc = top_descriptions(rec.reasons, args.lang, 2)
                    subject = (rec.subject or "")[:50]
                    _say(f"   #{rec.id} [{rec.category}] score {rec.score:.1f}  {subject}")
                    _say(f"       from {rec.from_addr}: " + "; ".join(str(d) for d in desc))

                _say("\n4. The digest the user receives (mailguard digest --preview):")
                _say("-" * 60)
                rendered, _ids = app.digests.render(account)
                if rendered is not None:
                    _say(f"Subject: {rendered.subject}\n")
                    _say(rendered.text)
                _say("-" * 60)
                outcome = app.digests.send(account)

                check = server.client(user, password)
                try:
                    check.select_folder("INBOX", readonly=True)
                    inbox = len(check.search("ALL"))
                    unseen = len(check.search("UNSEEN"))
                    check.select_folder(account.quarantine_folder, readonly=True)
                    held = len(check.search("ALL"))
                finally:
                    check.logout()

        elapsed = time.monotonic() - started
        _say("\nWhat just happened")
        _say(f"- {summary.scanned} messages were read with BODY.PEEK, so none was marked read.")
        _say(
            f"- {summary.quarantined} scams were moved, untouched, to the "
            f"'{account.quarantine_folder}' folder ({held} there now); "
            f"{summary.suspicious} suspicious ones were left in place and reported."
        )
        _say(
            f"- The INBOX keeps {inbox} messages ({unseen} unread), including the digest"
            + (" that was just delivered there, unread." if outcome.sent else ".")
        )
        _say(
            "- Every move was written to the state database before it was made, and can be "
            "undone with `mailguard release ID`."
        )
        _say(
            f"- The demo server has been stopped; it took {elapsed:.1f}s. Nothing is left running."
        )
        return 0
    finally:
        if args.keep:
            _say(f"(temporary folder kept: {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
