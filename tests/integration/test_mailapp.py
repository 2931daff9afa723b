"""The daemon on IDLE and the mail app as its user interface, against a real Dovecot.

A second IMAP client plays the user's mail app (or the MTA): it APPENDs mail,
drags messages out of Quarantine, into the report folder or into Trash. The
daemon runs its real IDLE watchers and its real poll gate (``Daemon.poll``);
the scheduled poll is set to an hour so that anything that happens within
seconds was done by IDLE.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mailguard.config import Settings, settings_from_dict
from mailguard.daemon import Daemon
from mailguard.state import KIND_ALERT, StateStore
from mailguard.testing import DovecotServer, Mailbox
from mailguard.vocabulary import Status, WatchMode

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAM = "en/01_callback_norton_renewal_plain.eml"
WITHDRAWAL = "en/20_withdrawal_lure_trial_call_to_cancel.eml"

# Our own words: a message the classifier lets through (one phone number, nothing else),
# which the user knows is a scam and drags into the report folder.
MISSED = (
    b"From: Points Desk <points@rewards-desk.example>\r\n"
    b"To: user@example.org\r\n"
    b"Subject: Your member points\r\n"
    b"Message-ID: <pts-1@rewards-desk.example>\r\n"
    b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    # Bland enough that the classifier lets it through: the user's report is what
    # teaches. ("Hello, your member points are waiting. Ring us on ..." reads like
    # a points lure to the model trained on round 22, and is held.)
    b"Hi, your member points are waiting for you this month. Points Desk, 0120-555-013\r\n"
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def with_message_id(raw: bytes, mid: str) -> bytes:
    return re.sub(rb"(?im)^Message-ID:.*$", b"Message-ID: " + mid.encode(), raw, count=1)


def settings_for(mb: Mailbox, tmp_path: Path, env: str, **detection: Any) -> Settings:
    return settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state" / "state.db")},
            "schedule": {"poll_interval": "1h"},
            "detection": detection,
            "digest": {"immediate": False},
            "accounts": [
                {
                    "name": "app",
                    "host": mb.host,
                    "port": mb.port,
                    "tls_ca_file": str(mb.ca_file),
                    "username": mb.user,
                    "password_env": env,
                    "timeout": "10s",
                    "language": "en",
                    "country": "US",
                }
            ],
        }
    )


@contextmanager
def daemon_on_idle(settings: Settings) -> Iterator[Daemon]:
    """The daemon's watchers (no scheduler: nothing may come from the hourly poll)."""
    d = Daemon(settings)
    d.start_watchers()
    try:
        assert wait_until(lambda: all(s.connected and s.last_event for s in d.board.all()), 15), (
            d.board.all()
        )
        assert wait_until(lambda: not d._passes, 15), "the catch-up pass after connecting"
        yield d
    finally:
        d.stop.set()
        for w in d.watchers:
            w.thread.join(10)
        d.app.close()


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def uids_of(mb: Mailbox, folder: str, message_id: str) -> list[int]:
    c = mb.client()
    try:
        if not c.folder_exists(folder):
            return []
        c.select_folder(folder, readonly=True)
        return list(c.search(["HEADER", "Message-ID", message_id]))
    finally:
        c.logout()


def flags_of(mb: Mailbox, folder: str, uid: int) -> set[str]:
    c = mb.client()
    try:
        c.select_folder(folder, readonly=True)
        return {f.decode() for f in c.get_flags([uid])[uid]} - {"\\Recent"}
    finally:
        c.logout()


def app_move(mb: Mailbox, src: str, message_id: str, dest: str) -> None:
    """What a mail app does when the user drags a message: UID MOVE."""
    c = mb.client()
    try:
        if not c.folder_exists(dest):
            c.create_folder(dest)
        c.select_folder(src)
        uids = c.search(["HEADER", "Message-ID", message_id])
        assert uids, f"{message_id} not in {src}"
        c.move(uids, dest)
    finally:
        c.logout()


def deliver(mb: Mailbox, raw: bytes, flags: tuple[str, ...] = ()) -> None:
    c = mb.client()
    try:
        c.append("INBOX", raw, flags=flags)
    finally:
        c.logout()


@pytest.fixture
def env(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MG_MAILAPP_PW", mailbox.password)
    return "MG_MAILAPP_PW"


def test_mail_appended_while_on_idle_is_quarantined_within_seconds(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    settings = settings_for(mailbox, tmp_path, env)
    raw = fixture(SCAM)
    mid = "<idle-now-1@example.net>"
    with daemon_on_idle(settings) as d:
        polls_before = d.store.account_status("app")
        sent = time.monotonic()
        deliver(mailbox, with_message_id(raw, mid), flags=("\\Flagged",))
        assert wait_until(lambda: uids_of(mailbox, "Quarantine", mid), 10)
        took = time.monotonic() - sent
        [uid] = uids_of(mailbox, "Quarantine", mid)
        assert flags_of(mailbox, "Quarantine", uid) == {"\\Flagged"}, "flags kept, still unread"
        assert uids_of(mailbox, "INBOX", mid) == []
    assert took < 5.0, f"{took:.1f}s from APPEND to Quarantine"
    assert polls_before is not None, "the catch-up pass ran on connect"
    # `mailguard status` is another process: it reads the watch state from the state DB.
    with StateStore.open(settings.state.path) as other:
        rows = {r.folder: r for r in other.watch_states("app")}
        [rec] = other.list_quarantine(account="app")
        intent = [e.action for e in other.audit_entries(quarantine_id=rec.id)]
    assert set(rows) == {"INBOX", "Quarantine/Report"}
    assert rows["INBOX"].mode == WatchMode.IDLE and rows["INBOX"].last_event is not None
    assert intent.index("move.intent") < intent.index("move.confirmed")


def test_idle_connection_killed_then_mail_from_meanwhile_is_caught(
    dovecot_factory: Callable[..., DovecotServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = DovecotServer()
    server.start()
    try:
        mb = server.mailbox(server.unique_name("mailapp-kill"))
        monkeypatch.setenv("MG_KILL_PW", mb.password)
        settings = settings_for(mb, tmp_path, "MG_KILL_PW")
        mid = "<while-away@example.net>"
        with daemon_on_idle(settings) as d:
            server.kill()  # a crash: no BYE, every socket reset
            assert wait_until(lambda: not any(s.connected for s in d.board.all()), 15)
            server.start()
            deliver(mb, with_message_id(fixture(SCAM), mid))  # before the watcher is back
            assert wait_until(lambda: uids_of(mb, "Quarantine", mid), 30)
            state = d.board.get("app", "INBOX")
            assert state is not None and state.connected and state.reconnects >= 1
    finally:
        server.close()


def test_release_by_moving_is_recorded_and_the_senders_next_mail_stays(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    # A threshold just under this message's score: after the release vouches for the
    # sender (as `mailguard release` does), their next such mail scores below it.
    settings = settings_for(mailbox, tmp_path, env, scam_threshold=17.0)
    raw = fixture(SCAM)
    mid = "<release-by-move@example.net>"
    with daemon_on_idle(settings) as d:
        deliver(mailbox, with_message_id(raw, mid))
        assert wait_until(lambda: uids_of(mailbox, "Quarantine", mid), 10)
        [rec] = d.store.list_quarantine(account="app")
        app_move(mailbox, "Quarantine", mid, "INBOX")  # the user: "this is mine"
        assert wait_until(lambda: d.store.get(rec.id).status == Status.RELEASED, 10)  # type: ignore[union-attr]
        time.sleep(1.0)  # any further pass would have moved it again by now
        assert wait_until(lambda: not d._passes, 10)
        assert uids_of(mailbox, "INBOX", mid), "never quarantined again under its new UID"
        assert uids_of(mailbox, "Quarantine", mid) == []
        entries = {e.action: e for e in d.store.audit_entries(quarantine_id=rec.id)}
        assert entries["release.by_move"].detail["folder"] == "INBOX"
        assert "release.confirmed" in entries
        assert d.store.is_released_sender("app", rec.from_addr or "")
        acts = d.store.user_actions("app")
        assert acts[rec.id].action == "released_by_move"
        # The same sender writes again: left where it is.
        nxt = "<release-next@example.net>"
        deliver(mailbox, with_message_id(raw, nxt))
        assert wait_until(lambda: len(d.store.list_quarantine("app", status=None)) == 2, 10)
        assert wait_until(lambda: not d._passes, 10)
        assert uids_of(mailbox, "INBOX", nxt) and uids_of(mailbox, "Quarantine", nxt) == []


def test_report_by_moving_is_learned_held_and_in_the_next_digest(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    settings = settings_for(mailbox, tmp_path, env)
    mid = "<pts-1@rewards-desk.example>"
    with daemon_on_idle(settings) as d:
        deliver(mailbox, MISSED)
        assert wait_until(lambda: d.store.account_status("app") or None, 10)
        time.sleep(0.5)
        assert wait_until(lambda: not d._passes, 10)
        assert uids_of(mailbox, "INBOX", mid), "the classifier let it through"
        app_move(mailbox, "INBOX", mid, "Quarantine/Report")  # the user: "this is a scam"
        assert wait_until(lambda: uids_of(mailbox, "Quarantine", mid), 10)
        assert uids_of(mailbox, "Quarantine/Report", mid) == []
        [rec] = d.store.list_quarantine(account="app")
        assert rec.verdict == "scam" and rec.original_folder == "Quarantine/Report"
        assert rec.reasons[0]["rule"] == "user.reported"
        assert rec.reasons[0]["description_en"] == "reported by you"
        actions = [e.action for e in d.store.audit_entries(quarantine_id=rec.id)]
        assert actions.index("move.intent") < actions.index("move.confirmed")
        assert "report.by_move" in actions
        learned = d.store.reported_features("app")
        assert learned["sender"] == {"points@rewards-desk.example"}
        assert learned["domain"] == {"rewards-desk.example"}
        assert learned["phone"] == {"0120555013"}
        rendered, ids = d.app.digests.render(settings.accounts[0])
        assert rec.id in ids and rendered is not None
        assert "reported by you" in str(rendered.text)
        # What was learned counts: the same sender's next, equally bland mail is held.
        again = with_message_id(MISSED, "<pts-2@rewards-desk.example>").replace(
            b"member points are waiting", b"points will lapse"
        )
        deliver(mailbox, again)
        assert wait_until(
            lambda: uids_of(mailbox, "Quarantine", "<pts-2@rewards-desk.example>"), 10
        )
        nxt = d.store.list_quarantine(account="app")[-1]
        assert "user.reported_sender" in [r["rule"] for r in nxt.reasons]


def test_a_withdrawal_lure_reported_by_moving_raises_an_immediate_alert(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    settings = settings_for(mailbox, tmp_path, env)
    mid = "<reported-withdrawal@example.net>"
    c = mailbox.client()
    try:
        c.create_folder("Quarantine")
        c.create_folder("Quarantine/Report")
        c.append("Quarantine/Report", with_message_id(fixture(WITHDRAWAL), mid))
    finally:
        c.logout()
    with daemon_on_idle(settings) as d:
        assert wait_until(lambda: uids_of(mailbox, "Quarantine", mid), 10)
        [rec] = d.store.list_quarantine(account="app")
        assert rec.category == "withdrawal"
        rendered, ids = d.app.digests.render(settings.accounts[0], kind=KIND_ALERT)
        assert ids == [rec.id] and rendered is not None


def test_deleting_from_quarantine_is_recorded_and_teaches_nothing(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    settings = settings_for(mailbox, tmp_path, env)
    raw = fixture(SCAM)
    trashed, expunged = "<to-trash@example.net>", "<expunged@example.net>"
    with daemon_on_idle(settings) as d:
        deliver(mailbox, with_message_id(raw, trashed))
        deliver(mailbox, with_message_id(raw.replace(b"NRT-48821937", b"NRT-1"), expunged))
        assert wait_until(lambda: len(d.store.list_quarantine(account="app")) == 2, 10)
        app_move(mailbox, "Quarantine", trashed, "Trash")  # the mail app's "delete"
        c = mailbox.client()
        try:  # ... and a hard delete of the other one
            c.select_folder("Quarantine")
            c.delete_messages(c.search(["HEADER", "Message-ID", expunged]))
            c.expunge()
        finally:
            c.logout()
        # Deleting from Quarantine wakes no watched folder: the next pass notices.
        d.poll(settings.accounts[0])
        recs = d.store.list_quarantine(account="app", status=None)
        assert {r.status for r in recs} == {Status.DELETED}
        for r in recs:
            assert "quarantine.deleted_by_user" in [
                e.action for e in d.store.audit_entries(quarantine_id=r.id)
            ]
        assert not d.store.is_released_sender("app", recs[0].from_addr or "")
        assert d.store.reported_features("app")["sender"] == frozenset()
        assert {a.action for a in d.store.user_actions("app").values()} == {"deleted_by_user"}


def test_cli_shows_watch_state_user_moves_and_trusts_senders(
    mailbox: Mailbox,
    tmp_path: Path,
    env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mailguard.cli import main

    settings = settings_for(mailbox, tmp_path, env)
    mid = "<cli-release@example.net>"
    with daemon_on_idle(settings) as d:
        deliver(mailbox, with_message_id(fixture(SCAM), mid))
        assert wait_until(lambda: uids_of(mailbox, "Quarantine", mid), 10)
        [rec] = d.store.list_quarantine(account="app")
        app_move(mailbox, "Quarantine", mid, "INBOX")
        assert wait_until(lambda: d.store.get(rec.id).status == Status.RELEASED, 10)  # type: ignore[union-attr]
        cfg = tmp_path / "mailguard.toml"
        cfg.write_text(
            f'[state]\npath = "{settings.state.path}"\n'
            f'[[accounts]]\nname = "app"\nhost = "{mailbox.host}"\nport = {mailbox.port}\n'
            f'tls_ca_file = "{mailbox.ca_file}"\nusername = "{mailbox.user}"\n'
            f'password_env = "{env}"\nlanguage = "en"\ncountry = "US"\n',
            encoding="utf-8",
        )
        capsys.readouterr()
        assert main(["status", "--config", str(cfg)]) == 0
        status = capsys.readouterr().out
        assert "folder INBOX: IDLE, connected, last event 20" in status
        assert "folder Quarantine/Report: IDLE, connected" in status
        assert main(["quarantine", "list", "--all", "--config", str(cfg)]) == 0
        listed = capsys.readouterr().out
        assert f"#{rec.id} [released]" in listed
        assert "released by you (moved to INBOX) on 20" in listed
    assert main(["trust", "billing.example.com", "--config", str(cfg)]) == 0
    assert "app: billing.example.com trusted" in capsys.readouterr().out
    with StateStore.open(settings.state.path) as store:
        assert store.is_released_sender("app", "billing.example.com")
    assert main(["untrust", "billing.example.com", "--config", str(cfg)]) == 0
    assert "no longer trusted" in capsys.readouterr().out
    assert main(["untrust", "billing.example.com", "--config", str(cfg)]) == 0
    assert "was not trusted" in capsys.readouterr().out
    with StateStore.open(settings.state.path) as store:
        assert not store.is_released_sender("app", "billing.example.com")


def test_a_report_after_the_user_wrote_to_the_sender_gets_the_after_contact_alert(
    mailbox: Mailbox, tmp_path: Path, env: str
) -> None:
    settings = settings_for(mailbox, tmp_path, env)
    c = mailbox.client()
    try:
        if not c.folder_exists("Sent"):
            c.create_folder("Sent")
        c.append(
            "Sent",
            b"From: user@example.org\r\nTo: points@rewards-desk.example\r\n"
            b"Subject: Re: Your member points\r\nDate: Fri, 04 Dec 2026 09:00:00 +0000\r\n"
            b"Message-ID: <mine-1@example.org>\r\n\r\nPlease cancel my account.\r\n",
        )
        c.create_folder("Quarantine")
        c.create_folder("Quarantine/Report")
        c.append("Quarantine/Report", MISSED)
    finally:
        c.logout()
    with daemon_on_idle(settings) as d:
        assert wait_until(
            lambda: uids_of(mailbox, "Quarantine", "<pts-1@rewards-desk.example>"), 10
        )
        [rec] = d.store.list_quarantine(account="app")
        assert rec.contacted_on is not None, "the Sent folder shows the user wrote to them"
        rendered, ids = d.app.digests.render(settings.accounts[0], kind=KIND_ALERT)
        assert ids == [rec.id] and rendered is not None
