"""The digest as a MIME message, and IMAP delivery against a recording fake client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from mailguard.digest import (
    DIGEST_HEADER,
    DeliveryError,
    DigestItem,
    DigestReason,
    RenderedDigest,
    build_message,
    deliver_digest,
    deliver_imap,
    render_digest,
)
from mailguard.imap.base import MailClientError

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=timezone(timedelta(hours=9)))


def _rendered(lang: str) -> RenderedDigest:
    item = DigestItem(
        id=5,
        arrived=datetime(2026, 11, 27, tzinfo=UTC),
        sender_name="料金センター",
        sender_addr="c@center.example",
        subject="【重要】未納料金 99,000円",
        category="fake_billing",
        verdict="scam",
        reasons=(
            DigestReason("r", "登録完了を告げている", "Claims you registered", "登録完了", 3),
        ),
        folder="Quarantine",
        original_folder="INBOX",
    )
    return render_digest(
        [item],
        language=lang,
        country="JP",
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
    )


def _message(lang: str = "ja") -> tuple[RenderedDigest, EmailMessage]:
    r = _rendered(lang)
    return r, build_message(
        r, from_addr="mailguard@example.org", to_addr="alice@example.org", now=NOW
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_message_is_multipart_alternative_with_both_parts(lang: str) -> None:
    r, msg = _message(lang)
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content() == r.text
    assert parts[1].get_content() == r.html
    assert str(parsed["Subject"]) == r.subject
    assert parsed["Content-Language"] == lang


def test_message_headers() -> None:
    _r, msg = _message()
    assert msg[DIGEST_HEADER] == "1" and DIGEST_HEADER == "X-Mailguard-Digest"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")
    assert msg["From"] == "mailguard@example.org" and msg["To"] == "alice@example.org"


def test_message_ids_are_unique() -> None:
    assert _message()[1]["Message-ID"] != _message()[1]["Message-ID"]


def test_message_is_seven_bit_clean_with_short_lines() -> None:
    for lang in ("ja", "en"):
        raw = _message(lang)[1].as_bytes()
        assert all(b < 128 for b in raw), "8-bit data would need 8BITMIME everywhere"
        assert max(len(line) for line in raw.split(b"\n")) <= 998


def test_naive_now_is_taken_as_local_time() -> None:
    msg = build_message(
        _rendered("en"),
        from_addr="a@b.example",
        to_addr="c@d.example",
        now=datetime(2026, 1, 2, 3, 4),
    )
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message(
            _rendered("en"),
            from_addr="a@b.example",
            to_addr="alice@example.org\r\nBcc: eve@evil.example",
            now=NOW,
        )


def test_odd_from_address_still_gets_a_valid_message_id() -> None:
    msg = build_message(_rendered("en"), from_addr="mailguard", to_addr="a@b.example", now=NOW)
    assert msg["Message-ID"].endswith("@mailguard.invalid>")


class RecordingClient:
    """Just enough of MailClient for delivery: records APPEND calls."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.appended: list[tuple[str, bytes, tuple[str, ...], datetime | None]] = []

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> int | None:
        if self.fail:
            raise MailClientError("NO [OVERQUOTA] Quota exceeded")
        self.appended.append((folder, raw, tuple(flags), when))
        return 42


def test_deliver_imap_appends_unread_with_crlf() -> None:
    r, msg = _message()
    client = RecordingClient()
    deliver_imap(client, "INBOX", msg)  # type: ignore[arg-type]
    [(folder, raw, flags, when)] = client.appended
    assert folder == "INBOX"
    assert "\\Seen" not in flags and flags == ()
    assert when == NOW
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed[DIGEST_HEADER] == "1"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == r.text  # type: ignore[union-attr]


def test_deliver_imap_failure_is_a_delivery_error() -> None:
    _r, msg = _message()
    with pytest.raises(DeliveryError, match="IMAP APPEND to 'INBOX' failed: NO \\[OVERQUOTA\\]"):
        deliver_imap(RecordingClient(fail=True), "INBOX", msg)  # type: ignore[arg-type]


def test_deliver_digest_dispatches_and_checks_its_inputs() -> None:
    _r, msg = _message()
    client = RecordingClient()
    deliver_digest(msg, delivery="imap", client=client)  # type: ignore[arg-type]
    assert len(client.appended) == 1
    with pytest.raises(DeliveryError, match="mail client"):
        deliver_digest(msg, delivery="imap")
    with pytest.raises(DeliveryError, match="smtp"):
        deliver_digest(msg, delivery="smtp")
