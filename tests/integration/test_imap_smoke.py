"""End to end against real Dovecot: a Japanese ISO-2022-JP scam survives the round trip,
and looking at it never marks it read."""

from __future__ import annotations

import base64
import email
from email import policy

import pytest

from mailguard.imap import ImapMailClient
from mailguard.parse import parse_message
from mailguard.testing import Mailbox

pytestmark = pytest.mark.integration

SUBJECT = "【重要】退会手続きのお知らせ"
BODY = "退会手続きが完了しておりません。\r\n本日中に下記までご連絡ください。\r\n"


def b_encoded(text: str) -> str:
    return "=?ISO-2022-JP?B?" + base64.b64encode(text.encode("iso-2022-jp")).decode() + "?="


def iso2022jp_message() -> bytes:
    head = (
        f"From: {b_encoded('サポートセンター')} <support@example.net>\r\n"
        "To: user@example.org\r\n"
        f"Subject: {b_encoded(SUBJECT)}\r\n"
        "Date: Mon, 02 Jun 2025 09:00:00 +0900\r\n"
        "Message-ID: <smoke-1@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
    )
    raw = head.encode("ascii") + BODY.encode("iso-2022-jp")
    assert max(raw) < 0x80, "ISO-2022-JP mail is 7-bit on the wire"
    return raw


def decode(raw: bytes) -> tuple[str, str]:
    """(subject, plain text) by mailguard's parser, cross-checked against the stdlib's."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    std = (str(msg["Subject"]), body.get_content())
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.plain_text.replace("\r\n", "\n").strip()) == (
        std[0],
        std[1].replace("\r\n", "\n").strip(),
    )
    return parsed.subject, parsed.plain_text


def test_japanese_scam_round_trip_without_marking_read(mailbox: Mailbox) -> None:
    raw = iso2022jp_message()
    with mailbox.client() as imap:
        imap.append("INBOX", raw, flags=())
        imap.select_folder("INBOX")
        (uid,) = imap.search(["ALL"])
        assert b"\\Seen" not in imap.get_flags([uid])[uid]

        # Plain imapclient, BODY.PEEK: the server hands back our exact bytes.
        fetched = imap.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        assert fetched == raw
        assert decode(fetched)[0] == SUBJECT

    # The config only names the variable; connect() is handed the resolved secret.
    account = mailbox.account_config("SMOKE_IMAP_PASSWORD")
    with ImapMailClient.connect(account, mailbox.password) as client:
        (msg,) = client.fetch("INBOX", client.search_uids("INBOX"), max_bytes=1 << 20)
        assert msg.raw == raw
        assert msg.size == len(raw)
        assert not msg.truncated
        assert "\\Seen" not in msg.flags
        assert msg.internaldate is not None and msg.internaldate.tzinfo is not None
        subject, text = decode(msg.raw)
        assert subject == SUBJECT
        assert "退会手続きが完了しておりません。" in text
        assert "本日中に下記までご連絡ください。" in text

    # Seen from a fresh session, after both fetches: still unread.
    with mailbox.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.get_flags([uid])[uid]
        assert b"\\Seen" not in flags
