"""End to end against a real Dovecot: the scan-and-quarantine promises.

Each test has its own mailbox and its own SQLite state file. Messages are the
project's own fixtures (tests/fixtures/mail), appended over IMAP with chosen
flags, so we can check where every message ends up and with which flags.
"""

from __future__ import annotations

import email
import email.utils
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailguard.app import App
from mailguard.config import Settings, settings_from_dict
from mailguard.detect import Classifier
from mailguard.imap.base import MailClient
from mailguard.pipeline.connection import ConnectionFactory
from mailguard.pipeline.release import release_one
from mailguard.state import StateStore
from mailguard.testing import DovecotServer, Mailbox

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAMS = [
    "ja/01_one_click_video_registration.eml",
    "en/01_callback_norton_renewal_plain.eml",
    "ja/07_withdrawal_lure_unext_trial.eml",
]
HAMS = [
    "ja/51_real_invoice_hosting_monthly.eml",
    "en/51_real_invoice_stripe_hosting.eml",
    "ja/59_withdrawal_done_online_course.eml",
]


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data).get("Message-ID", "")).strip()


def account_dict(mb: Mailbox, env: str, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": mb.user.split("@")[0],
        "host": mb.host,
        "port": mb.port,
        "security": "tls",
        "tls_ca_file": str(mb.ca_file),
        "username": mb.user,
        "password_env": env,
        "timeout": "10s",
        "language": "en",
        "country": "US",
    }
    d.update(extra)
    return d


def make_settings(tmp_path: Path, accounts: list[dict[str, Any]], **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "state" / "state.db")},
        "accounts": accounts,
    }
    data.update(sections)
    return settings_from_dict(data)


@pytest.fixture
def env_password(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mailbox], str]:
    counter = iter(range(1000))

    def set_(mb: Mailbox) -> str:
        name = f"MG_TEST_PW_{next(counter)}"
        monkeypatch.setenv(name, mb.password)
        return name

    return set_


def folder_contents(mb: Mailbox, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags (without \\Recent), read without touching anything."""
    c = mb.client()
    try:
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        if not uids:
            return {}
        data = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        out: dict[str, set[str]] = {}
        for _uid, item in data.items():
            hdr = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
            mid = hdr.split(":", 1)[1].strip() if ":" in hdr else ""
            flags = {f.decode() for f in item[b"FLAGS"]} - {"\\Recent"}
            assert mid not in out, f"duplicate {mid} in {folder}"
            out[mid] = flags
        return out
    finally:
        c.logout()


def folder_exists(mb: Mailbox, folder: str) -> bool:
    c = mb.client()
    try:
        return c.folder_exists(folder)
    finally:
        c.logout()


def fill(mb: Mailbox, folder: str, items: list[tuple[str, list[bytes]]]) -> None:
    c = mb.client()
    try:
        if not c.folder_exists(folder):
            c.create_folder(folder)
        for name, flags in items:
            c.append(folder, raw(name), flags=flags)
    finally:
        c.logout()


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    from mailguard.config import DetectionConfig

    return Classifier.from_config(DetectionConfig())


def scan(
    settings: Settings,
    classifier: Classifier,
    *,
    wrap: Callable[[MailClient], Any] | None = None,
    **kw: Any,
) -> Any:
    """One pass over every account through the real composition root.

    ``wrap`` wraps each real connection (fault injection).
    """
    app = App(settings, classifier=classifier)
    if wrap is not None:
        real = ConnectionFactory(app.credentials, app.endpoint)
        app.connect = lambda a: wrap(real(a))
    with app:
        return [app.scan(a, **kw) for a in settings.accounts]


STANDARD = [
    (SCAMS[0], [b"\\Seen"]),
    (SCAMS[1], [b"\\Flagged"]),
    (SCAMS[2], []),
    (HAMS[0], [b"\\Seen"]),
    (HAMS[1], [b"\\Flagged"]),
    (HAMS[2], []),
]


def expected_flags(items: list[tuple[str, list[bytes]]]) -> dict[str, set[str]]:
    return {message_id(raw(n)): {f.decode() for f in fl} for n, fl in items}


# 1 -------------------------------------------------------------------------------------------
def test_scams_move_ham_stays_flags_preserved(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [summary] = scan(settings, classifier)
    assert summary.reached, summary.error
    assert (summary.scanned, summary.quarantined, summary.errors) == (6, 3, 0)

    want = expected_flags(STANDARD)
    inbox = folder_contents(mailbox, "INBOX")
    quarantine = folder_contents(mailbox, "Quarantine")
    assert set(inbox) == {message_id(raw(n)) for n in HAMS}
    assert set(quarantine) == {message_id(raw(n)) for n in SCAMS}
    for mid, flags in {**inbox, **quarantine}.items():
        assert flags == want[mid], mid

    with StateStore.open(settings.state.path) as store:
        recs = store.list_quarantine(account=settings.accounts[0].name)
        assert {r.message_id for r in recs} == set(quarantine)
        for r in recs:
            actions = [e.action for e in store.audit_entries(quarantine_id=r.id)]
            assert actions.index("move.intent") < actions.index("move.confirmed")
            assert r.reasons, "every verdict carries its reasons"


# 2 -------------------------------------------------------------------------------------------
def test_second_scan_moves_nothing_and_fetches_nothing(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [first] = scan(settings, classifier)
    assert first.quarantined == 3
    before = (folder_contents(mailbox, "INBOX"), folder_contents(mailbox, "Quarantine"))
    [second] = scan(settings, classifier)
    assert second.reached
    assert (second.scanned, second.quarantined) == (0, 0)
    assert second.commands.get("FETCH", 0) == 0, second.commands
    assert second.commands.get("SELECT", 0) == 0, second.commands
    assert (folder_contents(mailbox, "INBOX"), folder_contents(mailbox, "Quarantine")) == before


# 3 -------------------------------------------------------------------------------------------
def test_new_mail_between_polls(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", [(HAMS[0], []), (SCAMS[0], [])])
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [first] = scan(settings, classifier)
    assert (first.scanned, first.quarantined) == (2, 1)
    fill(mailbox, "INBOX", [(SCAMS[1], [b"\\Seen"]), (HAMS[1], [])])
    [second] = scan(settings, classifier)
    assert (second.scanned, second.quarantined) == (2, 1), "only the new mail is read"
    assert set(folder_contents(mailbox, "Quarantine")) == {
        message_id(raw(SCAMS[0])),
        message_id(raw(SCAMS[1])),
    }
    assert folder_contents(mailbox, "Quarantine")[message_id(raw(SCAMS[1]))] == {"\\Seen"}


# 4 -------------------------------------------------------------------------------------------
def test_uidvalidity_change_no_duplicates(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    items = [(SCAMS[0], []), (SCAMS[1], []), (HAMS[0], [])]
    fill(mailbox, "Work", items)
    settings = make_settings(
        tmp_path, [account_dict(mailbox, env_password(mailbox), folders=["Work"])]
    )
    [first] = scan(settings, classifier)
    assert first.quarantined == 2
    # Someone restores the folder from a backup: same messages, new UIDVALIDITY.
    c = mailbox.client()
    try:
        c.delete_folder("Work")
    finally:
        c.logout()
    fill(mailbox, "Work", items)
    [second] = scan(settings, classifier)
    assert second.reached
    assert second.quarantined == 0
    quarantine = folder_contents(mailbox, "Quarantine")  # asserts no duplicate Message-IDs
    assert len(quarantine) == 2
    with StateStore.open(settings.state.path) as store:
        assert len(store.list_quarantine(account=settings.accounts[0].name)) == 2


# 5 -------------------------------------------------------------------------------------------
class KillingClient:
    """Real client; kills the real server just before the Nth move (fault injection)."""

    def __init__(self, inner: MailClient, server: DovecotServer, kill_before_move: int) -> None:
        self._inner = inner
        self._server = server
        self._left = kill_before_move

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def move(self, folder: str, uid: int, dest: str) -> Any:
        self._left -= 1
        if self._left == 0:
            self._server.kill()
        return self._inner.move(folder, uid, dest)


class DyingAfterMoveClient(KillingClient):
    """The move reaches the server, then 'mailguard crashes' before confirming it."""

    def move(self, folder: str, uid: int, dest: str) -> Any:
        result = self._inner.move(folder, uid, dest)
        self._left -= 1
        if self._left == 0:
            raise SystemExit("simulated crash after the move, before the confirm")
        return result


@pytest.mark.parametrize("mode", ["server-killed-before-move", "crash-after-move"])
def test_crash_mid_batch_every_message_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classifier: Classifier, mode: str
) -> None:
    server = DovecotServer()
    server.start()
    try:
        mb = server.mailbox("crash")
        fill(mb, "INBOX", STANDARD)
        monkeypatch.setenv("MG_CRASH_PW", mb.password)
        settings = make_settings(
            tmp_path, [account_dict(mb, "MG_CRASH_PW")], scan={"batch_size": 2}
        )
        wrapper = KillingClient if mode == "server-killed-before-move" else DyingAfterMoveClient
        wrap = lambda c: wrapper(c, server, 2)  # noqa: E731
        if mode == "crash-after-move":
            with pytest.raises(SystemExit):
                scan(settings, classifier, wrap=wrap)
        else:
            [summary] = scan(settings, classifier, wrap=wrap)
            assert not summary.reached
            server.restart()

        [after] = scan(settings, classifier)
        assert after.reached, after.error
        inbox = folder_contents(mb, "INBOX")
        quarantine = folder_contents(mb, "Quarantine")
        every = set(expected_flags(STANDARD))
        assert set(inbox) | set(quarantine) == every, "nothing lost"
        assert not set(inbox) & set(quarantine), "nothing in two places"
        assert set(quarantine) == {message_id(raw(n)) for n in SCAMS}
        want = expected_flags(STANDARD)
        for mid, flags in {**inbox, **quarantine}.items():
            assert flags == want[mid]
        with StateStore.open(settings.state.path) as store:
            name = settings.accounts[0].name
            assert store.pending_moves(name) == []
            recs = store.list_quarantine(account=name)
            assert {r.message_id for r in recs} == set(quarantine), "the audit agrees"
            for r in recs:
                actions = [e.action for e in store.audit_entries(quarantine_id=r.id)]
                assert "move.intent" in actions and "move.confirmed" in actions
    finally:
        server.close()


# 6 -------------------------------------------------------------------------------------------
def test_server_without_move_uses_uidplus(
    dovecot_factory: Callable[..., DovecotServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
) -> None:
    server = dovecot_factory(hide_capabilities=["MOVE"])
    mb = server.mailbox(server.unique_name("nomove"))
    fill(mb, "INBOX", STANDARD)
    # Another client marked a ham message \Deleted without expunging: it must survive.
    c = mb.client()
    try:
        c.select_folder("INBOX")
        target = [
            u
            for u, d in c.fetch(c.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).items()
            if message_id(raw(HAMS[2])) in d[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
        ]
        c.add_flags(target, [b"\\Deleted"])
    finally:
        c.logout()
    monkeypatch.setenv("MG_NOMOVE_PW", mb.password)
    settings = make_settings(tmp_path, [account_dict(mb, "MG_NOMOVE_PW")])
    [summary] = scan(settings, classifier)
    assert summary.quarantined == 3
    assert summary.commands.get("MOVE", 0) == 0
    assert summary.commands.get("COPY", 0) >= 3
    inbox = folder_contents(mb, "INBOX")
    assert message_id(raw(HAMS[2])) in inbox and "\\Deleted" in inbox[message_id(raw(HAMS[2]))]
    assert set(folder_contents(mb, "Quarantine")) == {message_id(raw(n)) for n in SCAMS}
    with StateStore.open(settings.state.path) as store:
        methods = {
            e.detail.get("method") for e in store.audit_entries() if e.action == "move.confirmed"
        }
        assert methods == {"uidplus"}


# 7 -------------------------------------------------------------------------------------------
def test_release_restores_with_flags_and_remembers_sender(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    scan(settings, classifier)
    account = settings.accounts[0]
    with StateStore.open(settings.state.path) as store:
        rec = next(
            r
            for r in store.list_quarantine(account=account.name)
            if r.message_id == message_id(raw(SCAMS[0]))
        )
        client = App(settings).connect(account)
        try:
            done = release_one(client, store, rec.id)
        finally:
            client.logout()
        assert done.folder == "INBOX"
        assert store.get(rec.id).status == "released"
        assert rec.from_addr in store.released_senders(account.name)
        # The released message is learned as this account's genuine mail.
        assert [(r.label, r.source) for r in store.learned(account.name)] == [("ham", "release")]
    inbox = folder_contents(mailbox, "INBOX")
    assert inbox[message_id(raw(SCAMS[0]))] == {"\\Seen"}, "flags restored"
    assert message_id(raw(SCAMS[0])) not in folder_contents(mailbox, "Quarantine")
    # The next scan sees the released message again and leaves it alone.
    [again] = scan(settings, classifier)
    assert again.quarantined == 0
    assert message_id(raw(SCAMS[0])) in folder_contents(mailbox, "INBOX")


def test_release_cli(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", STANDARD[:2])
    env = env_password(mailbox)
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n\n[[accounts]]\nname = "cli"\n'
        f'host = "{mailbox.host}"\nport = {mailbox.port}\ntls_ca_file = "{mailbox.ca_file}"\n'
        f'username = "{mailbox.user}"\npassword_env = "{env}"\nlanguage = "en"\n',
        encoding="utf-8",
    )
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "mailguard", *a, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    r = run("scan", "--once")
    assert r.returncode == 0, r.stderr
    assert "quarantined 2" in r.stdout
    r = run("quarantine", "list", "--json")
    assert r.returncode == 0, r.stderr
    import json

    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 2 and all(row["reasons"] for row in rows)
    assert {row["original_folder"] for row in rows} == {"INBOX"}
    r = run("release", str(rows[0]["id"]))
    assert r.returncode == 0, r.stderr
    r = run("quarantine", "list", "--json")
    remaining = [json.loads(line)["id"] for line in r.stdout.splitlines()]
    assert remaining == [rows[1]["id"]], "the released message left the quarantine list"
    assert len(folder_contents(mailbox, "Quarantine")) == 1
    r = run("status")
    assert r.returncode == 0 and "released 1" in r.stdout, r.stdout


# 8 -------------------------------------------------------------------------------------------
def test_wrong_password_on_one_account_does_not_stop_another(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classifier: Classifier
) -> None:
    good = dovecot.mailbox(dovecot.unique_name("good"))
    bad = dovecot.mailbox(dovecot.unique_name("bad"))
    fill(good, "INBOX", STANDARD)
    monkeypatch.setenv("MG_GOOD_PW", good.password)
    monkeypatch.setenv("MG_BAD_PW", "definitely-wrong-canary")
    settings = make_settings(
        tmp_path, [account_dict(bad, "MG_BAD_PW"), account_dict(good, "MG_GOOD_PW")]
    )
    bad_summary, good_summary = scan(settings, classifier)
    assert not bad_summary.reached and bad_summary.error
    assert "definitely-wrong-canary" not in bad_summary.error
    assert good_summary.reached and good_summary.quarantined == 3
    with StateStore.open(settings.state.path) as store:
        st = {s.account: s for s in store.account_statuses()}
        assert st[settings.accounts[0].name].last_error
        assert not st[settings.accounts[1].name].last_error


# 9 -------------------------------------------------------------------------------------------
def test_dry_run_moves_nothing_but_reports(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    before = folder_contents(mailbox, "INBOX")
    [summary] = scan(settings, classifier, dry_run=True)
    assert summary.quarantined == 3 and len(summary.planned) == 3
    assert summary.dry_run and "would quarantine 3" in summary.line()
    writes = {"CREATE", "MOVE", "COPY", "STORE", "EXPUNGE", "APPEND", "SUBSCRIBE"}
    assert not writes & set(summary.commands), summary.commands
    assert folder_contents(mailbox, "INBOX") == before
    assert not folder_exists(mailbox, "Quarantine")
    assert not (settings.state.path.parent / "digest.key").exists(), "a dry run creates no key"
    with StateStore.open(settings.state.path) as store:
        assert store.list_quarantine(account=settings.accounts[0].name) == []
        assert store.get_folder_state(settings.accounts[0].name, "INBOX") is None
        assert store.account_status(settings.accounts[0].name) is None
    # A real run afterwards still does the work.
    [real] = scan(settings, classifier)
    assert real.quarantined == 3


# 10 ------------------------------------------------------------------------------------------
def test_daemon_polls_on_schedule_and_stops_on_sigterm(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str]
) -> None:
    env = env_password(mailbox)
    fill(mailbox, "INBOX", STANDARD[:2])
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n[schedule]\npoll_interval = "2s"\n'
        f'jitter = "0.1s"\n[digest]\nimmediate = false\n\n[[accounts]]\nname = "daemon"\n'
        f'host = "{mailbox.host}"\nport = {mailbox.port}\ntls_ca_file = "{mailbox.ca_file}"\n'
        f'username = "{mailbox.user}"\npassword_env = "{env}"\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailguard", "run", "--config", str(cfg), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(folder_contents(mailbox, "INBOX")) != 0:
            time.sleep(0.3)
        assert folder_contents(mailbox, "INBOX") == {}, "first poll quarantined both"
        fill(mailbox, "INBOX", [(SCAMS[2], [])])  # arrives while the daemon runs
        while time.monotonic() < deadline and len(folder_contents(mailbox, "INBOX")) != 0:
            time.sleep(0.3)
        assert folder_contents(mailbox, "INBOX") == {}, "a later scheduled poll picked it up"
        second = subprocess.run(
            [sys.executable, "-m", "mailguard", "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
        )
        assert second.returncode != 0 and "already running" in second.stderr.lower()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert '"daemon.stop"' in err
    polls = err.count('"poll.done"')
    assert polls >= 2, err[-2000:]
    with StateStore.open(tmp_path / "state.db") as store:
        assert len(store.list_quarantine(account="daemon")) == 3
        assert store.pending_moves("daemon") == []


def test_interrupted_scan_resumes(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """A stop request between batches commits progress; the next pass does only the rest."""
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(
        tmp_path, [account_dict(mailbox, env_password(mailbox))], scan={"batch_size": 2}
    )
    stop = threading.Event()

    class StopAfterFirstFetch:
        def __init__(self, inner: MailClient) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def fetch(self, *a: Any, **kw: Any) -> Any:
            out = list(self._inner.fetch(*a, **kw))
            stop.set()
            return out

    [first] = scan(settings, classifier, stop=stop, wrap=StopAfterFirstFetch)
    assert first.scanned == 2
    [rest] = scan(settings, classifier)
    assert rest.scanned == 4
    assert set(folder_contents(mailbox, "Quarantine")) == {message_id(raw(n)) for n in SCAMS}


def test_kept_connection_unchanged_poll_is_noop_and_status(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """The daemon keeps its connection: an unchanged poll is NOOP + STATUS, nothing else.

    One STATUS per scanned folder, plus Quarantine (did the user move or delete
    anything?) and the report folder (did the user report anything?).
    """
    fill(mailbox, "INBOX", STANDARD)
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    with App(settings, pooled=True, classifier=classifier) as app:
        account = settings.accounts[0]
        first = app.scan(account)
        assert first.quarantined == 3 and "LOGIN" in first.commands
        idle = app.scan(account)
        assert idle.commands == {"NOOP": 1, "STATUS": 3}
        fill(mailbox, "INBOX", [(HAMS[0], [])])
        again = app.scan(account)
        assert "LOGIN" not in again.commands
        assert again.scanned == 1


def test_crash_between_copy_and_expunge_is_finished(
    dovecot_factory: Callable[..., DovecotServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
) -> None:
    """UIDPLUS path: COPY done, EXPUNGE not, then a crash. The next run finishes the move."""
    server = dovecot_factory(hide_capabilities=["MOVE"])
    mb = server.mailbox(server.unique_name("copycrash"))
    fill(mb, "INBOX", [(SCAMS[0], [b"\\Seen"]), (HAMS[0], [])])
    monkeypatch.setenv("MG_COPYCRASH_PW", mb.password)
    settings = make_settings(tmp_path, [account_dict(mb, "MG_COPYCRASH_PW")])
    class CopyThenCrash:
        def __init__(self, inner: MailClient) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def move(self, folder: str, uid: int, dest: str) -> Any:
            other = mb.client()  # the first half of the UIDPLUS move, on the real server
            try:
                other.select_folder(folder)
                other.copy([uid], dest)
            finally:
                other.logout()
            raise SystemExit("simulated crash between UID COPY and UID EXPUNGE")

    with pytest.raises(SystemExit):
        scan(settings, classifier, wrap=CopyThenCrash)
    assert message_id(raw(SCAMS[0])) in folder_contents(mb, "INBOX")
    assert message_id(raw(SCAMS[0])) in folder_contents(mb, "Quarantine")

    [after] = scan(settings, classifier)
    assert after.reached, after.error
    inbox, quarantine = folder_contents(mb, "INBOX"), folder_contents(mb, "Quarantine")
    assert set(inbox) == {message_id(raw(HAMS[0]))}
    assert quarantine == {message_id(raw(SCAMS[0])): {"\\Seen"}}
    with StateStore.open(settings.state.path) as store:
        [rec] = store.list_quarantine(account=settings.accounts[0].name)
        actions = [e.action for e in store.audit_entries(quarantine_id=rec.id)]
        assert "move.reconciled" in actions or "move.confirmed" in actions
        assert store.pending_moves(settings.accounts[0].name) == []


def test_sent_folder_contact_is_recorded_and_raises_severity(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """The founding story: the user wrote to the scammer; the follow-up says so."""
    lure = raw(SCAMS[2])
    sender = email.utils.parseaddr(str(email.message_from_bytes(lure)["From"]))[1]
    reply = (
        f"From: {mailbox.user}\r\nTo: {sender}\r\nSubject: taikai\r\n"
        "Date: Mon, 23 Nov 2026 21:14:00 +0900\r\nMessage-ID: <sent-1@example.jp>\r\n\r\n"
        "I want to withdraw.\r\n"
    ).encode()
    c = mailbox.client()
    try:
        c.create_folder("Sent")
        c.append("Sent", reply, flags=[b"\\Seen"])
        c.append("INBOX", lure)
    finally:
        c.logout()
    settings = make_settings(
        tmp_path, [account_dict(mailbox, env_password(mailbox), sent_folder="Sent")]
    )
    [summary] = scan(settings, classifier)
    assert summary.quarantined == 1
    with StateStore.open(settings.state.path) as store:
        [rec] = store.list_quarantine(account=settings.accounts[0].name)
    assert rec.contacted_on is not None, "the contact date is kept for the digest"
    assert rec.category == "withdrawal"
    assert any(r["family"] == "postcontact" for r in rec.reasons)
    assert folder_contents(mailbox, "Sent") == {"<sent-1@example.jp>": {"\\Seen"}}, "Sent untouched"


def follow_up(sender: str, replying_to: str, tag: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: someone@example.org\r\nSubject: Re: your order\r\n"
        f"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{tag}@example.test>\r\n"
        f"In-Reply-To: {replying_to}\r\nReferences: {replying_to}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


FOLLOW_UP = (
    "Thank you for your reply. As we said on the phone, your refund is ready. First buy two "
    "gift cards and send photos of the back to this address.\r\n"
)


def thread_rules(store: StateStore, account: str, mid: str) -> set[str]:
    recs = [r for r in store.list_quarantine(account=account) if r.message_id == mid]
    return {str(r["rule"]) for rec in recs for r in rec.reasons}


def test_a_follow_up_in_a_quarantined_scam_thread_is_recognised(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """The follow-up stage: after the victim answered a quarantined scam, the next mail
    comes from another address, in the same thread (References), with bland words."""
    lure = raw(SCAMS[1])
    lure_id = message_id(lure)
    fill(mailbox, "INBOX", [(SCAMS[1], [])])
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    account = settings.accounts[0]
    [first] = scan(settings, classifier)
    assert first.quarantined == 1
    c = mailbox.client()
    try:
        c.append("INBOX", follow_up("Refunds <desk@refund-team.test>", lure_id, "fu-1", FOLLOW_UP))
        # The owner's own reply copied into the inbox is theirs, whatever the thread.
        mine = follow_up(mailbox.user, lure_id, "mine-1", "I never ordered this. Cancel it.\r\n")
        c.append("INBOX", mine)
    finally:
        c.logout()
    [second] = scan(settings, classifier)
    assert second.reached, second.error
    assert "<fu-1@example.test>" in folder_contents(mailbox, "Quarantine")
    assert "<mine-1@example.test>" in folder_contents(mailbox, "INBOX")
    with StateStore.open(settings.state.path) as store:
        assert "common.thread.quarantined_reply" in thread_rules(
            store, account.name, "<fu-1@example.test>"
        )
        assert "common.thread.quarantined_reply" not in thread_rules(
            store, account.name, "<mine-1@example.test>"
        )
        # Once the user releases the first mail, it is no longer our finding.
        rec = next(r for r in store.list_quarantine(account=account.name)
                   if r.message_id == lure_id)  # fmt: skip
        client = App(settings).connect(account)
        try:
            release_one(client, store, rec.id)
        finally:
            client.logout()
    c = mailbox.client()
    try:
        c.append("INBOX", follow_up("Refunds <desk@refund-team.test>", lure_id, "fu-2", FOLLOW_UP))
    finally:
        c.logout()
    [third] = scan(settings, classifier)
    assert third.reached, third.error
    with StateStore.open(settings.state.path) as store:
        assert "common.thread.quarantined_reply" not in thread_rules(
            store, account.name, "<fu-2@example.test>"
        )


# -- one message never stops an account (issue 10, items 2 and 5) ---------------------------------
def with_message_id(data: bytes, new_id: bytes) -> bytes:
    """The fixture with its Message-ID header replaced by ``new_id`` (raw bytes allowed)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = [
        b"Message-ID: " + new_id if line.lower().startswith(b"message-id:") else line
        for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines) + sep + body


def append_raw(mb: Mailbox, *messages: bytes) -> None:
    c = mb.client()
    try:
        for data in messages:
            c.append("INBOX", data)
    finally:
        c.logout()


def count_in(mb: Mailbox, folder: str) -> int:
    c = mb.client()
    try:
        if not c.folder_exists(folder):
            return 0
        c.select_folder(folder, readonly=True)
        return len(c.search("ALL"))
    finally:
        c.logout()


def test_raw_8bit_message_id_is_quarantined_and_does_not_block_the_folder(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """Raw UTF-8 in a Message-ID once stopped every scan of the folder at that message."""
    eight_bit = with_message_id(raw(SCAMS[0]), "<詐欺-1@請求.example>".encode())
    append_raw(mailbox, eight_bit, raw(SCAMS[1]))
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [summary] = scan(settings, classifier)
    assert summary.reached, summary.error
    assert (summary.scanned, summary.quarantined, summary.errors) == (2, 2, 0)
    assert count_in(mailbox, "INBOX") == 0
    with StateStore.open(settings.state.path) as store:
        name = settings.accounts[0].name
        ids = {r.message_id for r in store.list_quarantine(account=name)}
        assert "<詐欺-1@請求.example>" in ids, ids
        # Stored the same way it is looked up: a rescan recognises it.
        assert store.get_folder_state(name, "INBOX") is not None
    [again] = scan(settings, classifier, since=None)
    assert (again.scanned, again.quarantined, again.errors) == (0, 0, 0)


class FailsOnSubject(Classifier):
    """The real classifier, except that it breaks on one subject (a bug in a rule, say)."""

    marker = "invoice from Acme"

    def classify(self, msg: Any, context: Any = None) -> Any:
        if self.marker in msg.subject:
            raise RuntimeError("rule engine bug on this message")
        return super().classify(msg, context)


def test_a_message_that_fails_is_recorded_skipped_and_reported(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str]
) -> None:
    from mailguard.config import DetectionConfig

    fill(mailbox, "INBOX", [(HAMS[1], []), (SCAMS[0], []), (SCAMS[1], [])])
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    broken = FailsOnSubject.from_config(DetectionConfig())
    subject = str(email.message_from_bytes(raw(HAMS[1]))["Subject"])
    assert FailsOnSubject.marker in subject, "the fixture must trip the broken classifier"
    with App(settings, classifier=broken) as app:
        [summary] = [app.scan(a) for a in settings.accounts]
    assert summary.reached, "one message must never stop an account"
    assert (summary.scanned, summary.quarantined, summary.errors) == (3, 2, 1)
    assert summary.error_kinds == {"classify": 1}
    name = settings.accounts[0].name
    with StateStore.open(settings.state.path) as store:
        [err] = store.message_errors(name)
        assert "rule engine bug" in err.error and err.folder == "INBOX"
        assert store.message_error_count(name) == 1
        state = store.get_folder_state(name, "INBOX")
        assert state is not None and state.last_uid >= err.uid, "the position moved past it"
    # The digest can tell the user which message went unchecked.
    with App(settings) as app:
        assert [e.uid for e in app.digests.unchecked(settings.accounts[0])] == [err.uid]
    # The next pass does not trip over it again, and `status` tells the user.
    with App(settings, classifier=broken) as app:
        [again] = [app.scan(a) for a in settings.accounts]
    assert (again.scanned, again.errors) == (0, 0)
    cfg = tmp_path / "status.toml"
    cfg.write_text(
        f'[state]\npath = "{settings.state.path}"\n\n[[accounts]]\nname = "{name}"\n'
        f'host = "{mailbox.host}"\nport = {mailbox.port}\nusername = "{mailbox.user}"\n'
        f'password_env = "UNUSED"\n',
        encoding="utf-8",
    )
    r = subprocess.run(
        [sys.executable, "-m", "mailguard", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert r.returncode == 0, r.stderr
    assert "messages skipped (could not be checked): 1" in r.stdout, r.stdout
    assert "rule engine bug" in r.stdout


def test_identical_scam_delivered_twice_is_quarantined_twice(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    """The second copy is a second message, not 'already known' left in the INBOX."""
    append_raw(mailbox, raw(SCAMS[0]))
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [first] = scan(settings, classifier)
    assert first.quarantined == 1
    append_raw(mailbox, raw(SCAMS[0]))  # the scammer sends the very same mail again
    [second] = scan(settings, classifier)
    assert (second.scanned, second.quarantined) == (1, 1)
    assert count_in(mailbox, "INBOX") == 0
    assert count_in(mailbox, "Quarantine") == 2
    with StateStore.open(settings.state.path) as store:
        recs = store.list_quarantine(account=settings.accounts[0].name)
        assert len(recs) == 2 and len({r.original_uid for r in recs}) == 2


class CountingClassifier(Classifier):
    """The real classifier, counting how often it is asked."""

    calls = 0

    def classify(self, msg: Any, context: Any = None) -> Any:
        type(self).calls += 1
        return super().classify(msg, context)


def test_one_classification_per_message_and_no_sent_search_for_clean_mail(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str]
) -> None:
    """The Sent-folder contact rides along in the single classify pass, looked up on demand."""
    from mailguard.config import DetectionConfig

    lure = raw(SCAMS[2])
    sender = email.utils.parseaddr(str(email.message_from_bytes(lure)["From"]))[1]
    reply = (
        f"From: {mailbox.user}\r\nTo: {sender}\r\nSubject: taikai\r\n"
        "Date: Mon, 23 Nov 2026 21:14:00 +0900\r\nMessage-ID: <sent-2@example.jp>\r\n\r\n"
        "I want to withdraw.\r\n"
    ).encode()
    c = mailbox.client()
    try:
        c.create_folder("Sent")
        c.append("Sent", reply, flags=[b"\\Seen"])
        c.append("INBOX", raw(HAMS[0]))
    finally:
        c.logout()
    settings = make_settings(
        tmp_path, [account_dict(mailbox, env_password(mailbox), sent_folder="Sent")]
    )
    counting = CountingClassifier.from_config(DetectionConfig())
    CountingClassifier.calls = 0
    with App(settings, classifier=counting) as app:
        [clean] = [app.scan(a) for a in settings.accounts]
        assert (clean.scanned, CountingClassifier.calls) == (1, 1)
        assert clean.commands.get("SEARCH") == 1, "clean mail costs no Sent-folder search"
        append_raw(mailbox, lure)
        [flagged] = [app.scan(a) for a in settings.accounts]
    assert (flagged.scanned, flagged.quarantined) == (1, 1)
    assert CountingClassifier.calls == 2, "the follow-up was classified once, not twice"
    assert flagged.commands.get("SEARCH", 0) >= 2, "its sender was looked up in Sent"
    with StateStore.open(settings.state.path) as store:
        [rec] = store.list_quarantine(account=settings.accounts[0].name)
    assert rec.contacted_on is not None
    assert any(r["family"] == "postcontact" for r in rec.reasons)


def test_releasing_a_suspicious_message_vouches_for_the_sender_without_moving_it(
    mailbox: Mailbox, tmp_path: Path, env_password: Callable[[Mailbox], str], classifier: Classifier
) -> None:
    suspicious = "en/79_utility_shutoff_notice_pay_by_phone.eml"
    fill(mailbox, "INBOX", [(suspicious, [b"\\Seen"])])
    settings = make_settings(tmp_path, [account_dict(mailbox, env_password(mailbox))])
    [summary] = scan(settings, classifier)
    assert (summary.suspicious, summary.quarantined) == (1, 0)
    account = settings.accounts[0]
    with App(settings) as app:
        [rec] = app.store.list_quarantine(account=account.name, status="suspicious")
        client = app.connect(account)
        try:
            done = release_one(client, app.store, rec.id)
            moves = client.commands["MOVE"] + client.commands["COPY"]
        finally:
            client.logout()
        assert moves == 0, "a suspicious message never left its folder: nothing to move"
        assert (done.folder, done.uid) == ("INBOX", rec.original_uid)
        assert app.store.get(rec.id).status == "released"
        assert rec.from_addr in app.store.released_senders(account.name)
    assert folder_contents(mailbox, "INBOX") == {message_id(raw(suspicious)): {"\\Seen"}}
