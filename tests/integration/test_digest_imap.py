"""Digest delivery into a real Dovecot INBOX, and the once-only bookkeeping."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest

from mailguard.app import App
from mailguard.config import DetectionConfig, Settings, settings_from_dict
from mailguard.detect import Classifier
from mailguard.pipeline.digest_dispatch import DigestOutcome
from mailguard.state import KIND_ALERT, StateStore
from mailguard.testing import Mailbox

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAMS = ["ja/01_one_click_video_registration.eml", "ja/16_debt_collector_law_firm_visit.eml"]
LURE = "ja/07_withdrawal_lure_unext_trial.eml"
HAM = "ja/51_real_invoice_hosting_monthly.eml"


def settings_for(
    mb: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **digest: Any
) -> Settings:
    monkeypatch.setenv("MG_DIGEST_PW", mb.password)
    return settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "digest": digest,
            "accounts": [
                {
                    "name": "d",
                    "host": mb.host,
                    "port": mb.port,
                    "tls_ca_file": str(mb.ca_file),
                    "username": mb.user,
                    "password_env": "MG_DIGEST_PW",
                    "language": "ja",
                    "country": "JP",
                }
            ],
        }
    )


def append(mb: Mailbox, *names: str) -> None:
    c = mb.client()
    try:
        for n in names:
            c.append("INBOX", (FIXTURES / n).read_bytes())
    finally:
        c.logout()


def digests_in_inbox(mb: Mailbox) -> list[tuple[set[bytes], email.message.EmailMessage]]:
    c = mb.client()
    try:
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["HEADER", "X-Mailguard-Digest", "1"])
        data = c.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        return [
            (set(d[b"FLAGS"]), email.message_from_bytes(d[b"BODY[]"], policy=email.policy.default))
            for d in data.values()
        ]
    finally:
        c.logout()


def scan(settings: Settings) -> Any:
    with App(settings, classifier=Classifier.from_config(DetectionConfig())) as app:
        return app.scan(settings.accounts[0])


def send_digest(settings: Settings, account: Any, store: StateStore) -> DigestOutcome:
    """The daily digest, as the daemon sends it (``store``: the test's own handle)."""
    with App(settings) as app:
        return app.digests.send(account)


def send_alerts(settings: Settings, account: Any, store: StateStore) -> DigestOutcome:
    with App(settings) as app:
        return app.digests.send(account, kind=KIND_ALERT)


def test_digest_lands_unread_and_is_never_quarantined(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(mailbox, *SCAMS, HAM)
    settings = settings_for(mailbox, tmp_path, monkeypatch)
    assert scan(settings).quarantined == 2
    with StateStore.open(settings.state.path) as store:
        outcome = send_digest(settings, settings.accounts[0], store)
        assert outcome.sent and outcome.items == 2
        # Each item appears in exactly one digest: the next run has nothing to send.
        again = send_digest(settings, settings.accounts[0], store)
        assert not again.sent and again.items == 0
    [(flags, msg)] = digests_in_inbox(mailbox)
    assert b"\\Seen" not in flags
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "188" in text and "#9110" in text
    assert "mailguard release" in text
    assert "<script" not in html.lower() and "href=" not in html.lower()
    # The next scan sees the digest and leaves it where it is.
    second = scan(settings)
    assert second.quarantined == 0 and second.reached
    assert len(digests_in_inbox(mailbox)) == 1


def test_forged_digest_header_does_not_protect_a_scam(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (FIXTURES / SCAMS[0]).read_bytes()
    forged = b"X-Mailguard-Digest: 1\r\n" + raw
    c = mailbox.client()
    try:
        c.append("INBOX", forged)
    finally:
        c.logout()
    settings = settings_for(mailbox, tmp_path, monkeypatch)
    assert scan(settings).quarantined == 1


def test_nothing_new_means_no_digest_unless_send_empty(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(mailbox, HAM)
    settings = settings_for(mailbox, tmp_path, monkeypatch)
    scan(settings)
    with StateStore.open(settings.state.path) as store:
        assert not send_digest(settings, settings.accounts[0], store).sent
    assert digests_in_inbox(mailbox) == []
    empty = settings_for(mailbox, tmp_path, monkeypatch, send_empty=True)
    with StateStore.open(empty.state.path) as store:
        assert send_digest(empty, empty.accounts[0], store).sent
    assert len(digests_in_inbox(mailbox)) == 1


def test_immediate_alert_for_withdrawal_then_daily_digest(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(mailbox, LURE, SCAMS[0])
    settings = settings_for(mailbox, tmp_path, monkeypatch, immediate=True)
    assert scan(settings).quarantined == 2
    with StateStore.open(settings.state.path) as store:
        alert = send_alerts(settings, settings.accounts[0], store)
        assert alert.sent and alert.items == 1, "only the withdrawal lure is urgent"
        assert not send_alerts(settings, settings.accounts[0], store).sent
        daily = send_digest(settings, settings.accounts[0], store)
        assert daily.sent and daily.items == 2
    assert len(digests_in_inbox(mailbox)) == 2


def test_delivery_failure_is_recorded_and_retried(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(mailbox, SCAMS[0])
    settings = settings_for(mailbox, tmp_path, monkeypatch)
    scan(settings)
    monkeypatch.setenv("MG_DIGEST_PW", "wrong-password-now")
    with StateStore.open(settings.state.path) as store:
        failed = send_digest(settings, settings.accounts[0], store)
        assert not failed.sent and failed.error
        assert "wrong-password-now" not in failed.error
        monkeypatch.setenv("MG_DIGEST_PW", mailbox.password)
        retry = send_digest(settings, settings.accounts[0], store)
        assert retry.sent and retry.items == 1
        kinds = [e.action for e in store.audit_entries(account="d")]
        assert "digest.failed" in kinds and "digest.sent" in kinds
    assert len(digests_in_inbox(mailbox)) == 1


def test_digest_cli_preview_marks_nothing_then_send_now(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    append(mailbox, SCAMS[0], HAM)
    monkeypatch.setenv("MG_DIGEST_PW", mailbox.password)
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n\n[[accounts]]\nname = "d"\n'
        f'host = "{mailbox.host}"\nport = {mailbox.port}\ntls_ca_file = "{mailbox.ca_file}"\n'
        f'username = "{mailbox.user}"\npassword_env = "MG_DIGEST_PW"\nlanguage = "en"\n'
        f'country = "GB"\n',
        encoding="utf-8",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailguard", *args, "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ.copy(),
        )

    assert run("scan", "--once").returncode == 0
    html = tmp_path / "digest.html"
    for _ in range(2):  # previewing twice shows the same thing: nothing is marked
        preview = run("digest", "--preview", "--html", str(html))
        assert preview.returncode == 0, preview.stderr
        assert "0300 123 2040" in preview.stdout and "reportfraud.police.uk" in preview.stdout
        assert "mailguard release 1" in preview.stdout
    assert "<html" in html.read_text().lower()
    assert digests_in_inbox(mailbox) == []
    sent = run("digest", "--send-now")
    assert sent.returncode == 0 and "digest sent (1 item(s))" in sent.stdout, sent.stdout
    assert len(digests_in_inbox(mailbox)) == 1
    again = run("digest", "--preview")
    assert "nothing new" in again.stdout


# An own-words one-click bill with a same-day deadline; the user has already opened it.
READ_BILL = (
    "From: =?UTF-8?B?{name}?= <billing@movie-club.example>\r\n"
    "To: user@localhost\r\n"
    "Subject: =?UTF-8?B?{subject}?=\r\n"
    "Date: Tue, 07 Mar 2023 09:00:00 +0900\r\n"
    "Message-ID: <read-bill-1@movie-club.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "{body}\r\n"
)


def _read_bill() -> bytes:
    import base64

    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    body = (
        "この度は動画サイト「ムービークラブ」にご登録いただきありがとうございます。\r\n"
        "会員登録が完了いたしました。ご利用料金 99,000円 を本日中にお支払いください。\r\n"
        "お支払いが確認できない場合、延滞金が発生いたします。\r\n"
        "誤って登録された方は、退会のため下記までお電話ください。\r\n"
        "料金センター 03-5555-0147（10時〜20時）\r\n"
        "IPアドレス・端末情報は記録済みです。\r\n"
    )
    return READ_BILL.format(
        name=b64("ムービークラブ 料金センター"),
        subject=b64("【ムービークラブ】会員登録完了と料金のお知らせ"),
        body=body,
    ).encode()


def _cli(cfg: Path, *args: str) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def _config_file(mb: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MG_DIGEST_PW", mb.password)
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n\n[[accounts]]\nname = "d"\n'
        f'host = "{mb.host}"\nport = {mb.port}\ntls_ca_file = "{mb.ca_file}"\n'
        f'username = "{mb.user}"\npassword_env = "MG_DIGEST_PW"\nlanguage = "ja"\n'
        'country = "JP"\n',
        encoding="utf-8",
    )
    return cfg


def test_scan_once_alerts_for_a_read_bill_due_today(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user opened a one-click bill 「本日中に」; it vanishes from the INBOX: say so now."""
    from datetime import UTC, datetime

    arrived = datetime(2026, 12, 1, 1, 23, tzinfo=UTC)
    c = mailbox.client()
    try:
        c.append("INBOX", _read_bill(), flags=[b"\\Seen"], msg_time=arrived)
    finally:
        c.logout()
    cfg = _config_file(mailbox, tmp_path, monkeypatch)
    r = _cli(cfg, "scan", "--once")
    assert r.returncode == 0, r.stderr
    assert "quarantined 1" in r.stdout and "alert sent: 1" in r.stdout, r.stdout
    [(flags, msg)] = digests_in_inbox(mailbox)
    assert b"\\Seen" not in flags
    text = msg.get_body(("plain",)).get_content()
    rows = _cli(cfg, "quarantine", "list", "--json").stdout.splitlines()
    import json

    [row] = [json.loads(line) for line in rows]
    # one number for the message: the alert's label is the id `release` takes
    assert f"[{row['id']}]" in text and f"mailguard release {row['id']}" in text
    # arrival is when the server received it, not the sender's 2023 Date: header
    from mailguard.digest.render import format_datetime

    shown = format_datetime(arrived, datetime.now().astimezone(), "ja")  # the reader's clock
    assert f"受信: {shown}\n" in text and "2023" not in text
    # the reasons quote the message's own words, whole phrases
    assert "誤って登録された方は、退会のため下記までお電話ください。" in text
    # no court warning: a movie site's billing centre claims no court or public body
    assert "特別送達" not in text and "裁判所" not in text
    # the bill invites a call "to withdraw": the withdrawal advice is there too
    assert "解約の手続きは必要ありません" in text
    assert len(text.splitlines()) <= 40, text


def test_scan_once_no_alerts_flag_defers_to_the_digest(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = mailbox.client()
    try:
        c.append("INBOX", _read_bill(), flags=[b"\\Seen"])
    finally:
        c.logout()
    cfg = _config_file(mailbox, tmp_path, monkeypatch)
    r = _cli(cfg, "scan", "--once", "--no-alerts")
    assert r.returncode == 0, r.stderr
    assert "quarantined 1" in r.stdout and "alert" not in r.stdout
    assert digests_in_inbox(mailbox) == []
