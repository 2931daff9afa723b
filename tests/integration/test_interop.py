"""The key pipeline scenarios on the folder layouts people's servers actually have (issue 12).

Every test that takes ``layout`` runs twice with the DEFAULT config (no
``quarantine_folder``, no ``sent_folder``):

* ``dovecot`` -- prefix "", separator "/", MOVE, UIDPLUS, SPECIAL-USE;
* ``courier`` -- what Cyrus and Courier show a client: every personal folder under
  ``INBOX.`` with "." between levels, no MOVE, no SPECIAL-USE, no special-use flags
  (a real Dovecot configured that way; it refuses ``CREATE Quarantine`` exactly as
  Cyrus and Courier do).

The messages are the project's own fixtures; replies in Sent are written here.
"""

from __future__ import annotations

import email
import email.utils
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailguard.app import App
from mailguard.config import Settings, settings_from_dict
from mailguard.detect import Classifier
from mailguard.pipeline.digest_dispatch import to_item
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
STANDARD = [
    (SCAMS[0], [b"\\Seen"]),
    (SCAMS[1], [b"\\Flagged"]),
    (SCAMS[2], []),
    (HAMS[0], [b"\\Seen"]),
    (HAMS[1], [b"\\Flagged"]),
    (HAMS[2], []),
]
QUARANTINE = {"dovecot": "Quarantine", "courier": "INBOX.Quarantine"}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data).get("Message-ID", "")).strip()


def sender_of(name: str) -> str:
    return email.utils.parseaddr(str(email.message_from_bytes(raw(name))["From"]))[1]


@pytest.fixture(params=["dovecot", "courier"])
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(
    layout: str,
    dovecot: DovecotServer,
    dovecot_factory: Callable[..., DovecotServer],
) -> DovecotServer:
    return dovecot if layout == "dovecot" else dovecot_factory(layout="courier")


@pytest.fixture
def mb(server: DovecotServer, request: pytest.FixtureRequest) -> Mailbox:
    return server.mailbox(server.unique_name("interop"))


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mailbox], str]:
    counter = iter(range(1000))

    def set_(box: Mailbox) -> str:
        name = f"MG_INTEROP_PW_{next(counter)}"
        monkeypatch.setenv(name, box.password)
        return name

    return set_


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    from mailguard.config import DetectionConfig

    return Classifier.from_config(DetectionConfig())


def account(box: Mailbox, env: str, **extra: Any) -> dict[str, Any]:
    """The default account config: nothing about folders is set."""
    d: dict[str, Any] = {
        "name": "acct",
        "host": box.host,
        "port": box.port,
        "tls_ca_file": str(box.ca_file),
        "username": box.user,
        "password_env": env,
        "timeout": "10s",
        "language": "en",
        "country": "US",
    }
    d.update(extra)
    return d


def settings_for(tmp_path: Path, *accounts: dict[str, Any], **sections: Any) -> Settings:
    data: dict[str, Any] = {"state": {"path": str(tmp_path / "state.db")}, "accounts": accounts}
    data.update(sections)
    return settings_from_dict(data)


def toml_for(tmp_path: Path, box: Mailbox, env: str, extra: str = "", port: int = 0) -> Path:
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n\n[[accounts]]\nname = "acct"\n'
        f'host = "{box.host}"\nport = {port or box.port}\ntls_ca_file = "{box.ca_file}"\n'
        f'username = "{box.user}"\npassword_env = "{env}"\nlanguage = "en"\ntimeout = "5s"\n'
        + extra,
        encoding="utf-8",
    )
    return cfg


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def contents(box: Mailbox, folder: str) -> dict[str, list[set[str]]]:
    """Message-ID -> the flags of each copy (a duplicate shows as two entries); read-only."""
    c = box.client()
    try:
        if not c.folder_exists(folder):
            return {}
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        out: dict[str, list[set[str]]] = {}
        if not uids:
            return out
        for _uid, item in c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).items():
            hdr = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
            mid = hdr.split(":", 1)[1].strip() if ":" in hdr else ""
            out.setdefault(mid, []).append({f.decode() for f in item[b"FLAGS"]} - {"\\Recent"})
        return out
    finally:
        c.logout()


def fill(box: Mailbox, folder: str, items: list[tuple[str, list[bytes]]]) -> None:
    c = box.client()
    try:
        if not c.folder_exists(folder):
            c.create_folder(folder)
        for name, flags in items:
            c.append(folder, raw(name), flags=flags)
    finally:
        c.logout()


def scan(settings: Settings, classifier: Classifier, **kw: Any) -> Any:
    with App(settings, classifier=classifier) as app:
        return app.scan(settings.accounts[0], **kw)


# -- the default config quarantines, keeps flags, and is quiet when nothing changed ----------
def test_default_config_quarantines_on_every_layout(
    layout: str,
    mb: Mailbox,
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
) -> None:
    fill(mb, "INBOX", STANDARD)
    settings = settings_for(tmp_path, account(mb, password_env(mb)))
    summary = scan(settings, classifier)
    assert summary.reached, summary.error
    assert (summary.scanned, summary.quarantined, summary.errors) == (6, 3, 0)

    quarantine = contents(mb, QUARANTINE[layout])
    inbox = contents(mb, "INBOX")
    assert set(quarantine) == {message_id(raw(n)) for n in SCAMS}
    assert set(inbox) == {message_id(raw(n)) for n in HAMS}
    want = {message_id(raw(n)): {f.decode() for f in fl} for n, fl in STANDARD}
    for mid, copies in {**inbox, **quarantine}.items():
        assert copies == [want[mid]], mid  # one copy each, flags kept
    if layout == "courier":
        assert summary.commands.get("MOVE", 0) == 0
        assert not contents(mb, "Quarantine"), "nothing outside the personal namespace"
    with StateStore.open(settings.state.path) as store:
        recs = store.list_quarantine(account="acct")
        assert {r.quarantine_folder for r in recs} == {"Quarantine"}, "the configured name"
        assert {r.move_method for r in recs} == {"move" if layout == "dovecot" else "uidplus"}

    again = scan(settings, classifier)
    assert again.reached and (again.scanned, again.quarantined) == (0, 0)
    assert not {"FETCH", "SELECT", "EXAMINE"} & set(again.commands), again.commands


def test_release_puts_it_back_on_every_layout(
    layout: str,
    mb: Mailbox,
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
) -> None:
    fill(mb, "INBOX", [(SCAMS[0], [b"\\Seen"]), (HAMS[0], [])])
    settings = settings_for(tmp_path, account(mb, password_env(mb)))
    assert scan(settings, classifier).quarantined == 1
    with App(settings) as app:
        [rec] = app.store.list_quarantine(account="acct")
        client = app.connect(settings.accounts[0])
        try:
            done = release_one(client, app.store, rec.id)
        finally:
            client.logout()
        assert done.note is None and done.folder == "INBOX"
        assert app.store.get(rec.id).status == "released"
    assert contents(mb, "INBOX")[message_id(raw(SCAMS[0]))] == [{"\\Seen"}]
    assert contents(mb, QUARANTINE[layout]) == {}


# -- the Sent folder: found under the namespace, read with one EXAMINE per pass --------------
@pytest.mark.parametrize(
    ("layout", "sent"),
    [("dovecot", "Sent"), ("courier", "INBOX.Sent Items"), ("courier", "INBOX.送信済み")],
)
def test_sent_folder_found_and_examined_once(
    layout: str,
    sent: str,
    mb: Mailbox,
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
) -> None:
    replies = []
    for n, scam in enumerate(SCAMS):
        replies.append(
            (
                f"From: {mb.user}\r\nTo: {sender_of(scam)}\r\nSubject: re\r\n"
                f"Date: Mon, 23 Nov 2026 21:1{n}:00 +0900\r\nMessage-ID: <reply-{n}@example.jp>"
                "\r\n\r\nPlease cancel.\r\n"
            ).encode()
        )
    c = mb.client()
    try:
        c.create_folder(sent)
        for reply in replies:
            c.append(sent, reply, flags=[b"\\Seen"])
    finally:
        c.logout()
    fill(mb, "INBOX", [(n, []) for n in SCAMS] + [(HAMS[0], [])])
    settings = settings_for(tmp_path, account(mb, password_env(mb)))
    summary = scan(settings, classifier)
    assert summary.reached and summary.quarantined == 3
    with StateStore.open(settings.state.path) as store:
        recs = store.list_quarantine(account="acct")
    assert all(r.contacted_on is not None for r in recs), "every reply was found"
    # One EXAMINE of Sent for all three senders; INBOX selected to search and to move.
    assert summary.commands.get("EXAMINE") == 1, summary.commands
    assert summary.commands.get("SELECT") == 2, summary.commands
    assert contents(mb, sent) == {f"<reply-{n}@example.jp>": [{"\\Seen"}] for n in range(3)}


def test_no_sent_folder_is_said_once_and_shown_by_check_config(
    layout: str,
    mb: Mailbox,
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = password_env(mb)
    # The warning is once per account and process: a name no other test used.
    settings = settings_for(tmp_path, account(mb, env, name=mb.user))
    caplog.set_level(logging.WARNING, logger="mailguard.sentcheck")
    with App(settings, pooled=True, classifier=classifier) as app:
        for scam in SCAMS[:2]:  # two passes, each with a scam whose sender is looked up
            fill(mb, "INBOX", [(scam, [])])
            assert app.scan(settings.accounts[0]).quarantined == 1
    warned = [r for r in caplog.records if "sentcheck.no_sent_folder" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]
    r = cli(toml_for(tmp_path, mb, env), "check-config", "--connect")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Sent folder: none found" in r.stdout


# -- dry run: EXAMINE throughout, nothing written, the plan names the real folder -------------
def test_dry_run_examines_only_and_names_the_resolved_folder(
    layout: str,
    mb: Mailbox,
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
) -> None:
    fill(mb, "INBOX", STANDARD)
    settings = settings_for(tmp_path, account(mb, password_env(mb)))
    before = contents(mb, "INBOX")
    summary = scan(settings, classifier, dry_run=True)
    assert summary.quarantined == 3
    assert "SELECT" not in summary.commands and summary.commands.get("EXAMINE", 0) >= 1
    writes = {"CREATE", "MOVE", "COPY", "STORE", "EXPUNGE", "APPEND", "SUBSCRIBE"}
    assert not writes & set(summary.commands), summary.commands
    assert all(f" to {QUARANTINE[layout]}:" in line for line in summary.planned), summary.planned
    assert any(
        line.startswith(f"quarantine folder: {QUARANTINE[layout]}") and "would be created" in line
        for line in summary.resolution
    ), summary.resolution
    assert not summary.problems
    assert contents(mb, "INBOX") == before


# -- a server that can only copy --------------------------------------------------------------
def test_copy_only_release_leaves_exactly_one_copy(
    dovecot_factory: Callable[..., DovecotServer],
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
    classifier: Classifier,
) -> None:
    server = dovecot_factory(layout="courier", hide_capabilities=["UIDPLUS"])
    box = server.mailbox(server.unique_name("copyonly"))
    fill(box, "INBOX", [(SCAMS[0], [b"\\Seen"]), (HAMS[0], [])])
    env = password_env(box)
    cfg = toml_for(tmp_path, box, env)
    r = cli(cfg, "scan", "--once")
    assert r.returncode == 0 and "quarantined 1" in r.stdout, r.stdout + r.stderr
    scam = message_id(raw(SCAMS[0]))
    assert contents(box, "INBOX")[scam] == [{"\\Seen"}], "the original stays (no MOVE/UIDPLUS)"
    assert contents(box, "INBOX.Quarantine")[scam] == [{"\\Seen"}]

    listing = cli(cfg, "quarantine", "list")
    assert "copied; the original is still in INBOX" in listing.stdout, listing.stdout
    listed = cli(cfg, "quarantine", "list", "--json").stdout.splitlines()
    [row] = [json.loads(line) for line in listed if line]
    assert row["copy_only"] is True
    with StateStore.open(tmp_path / "state.db") as store:
        held = store.get(row["id"])
    assert to_item(held).copy_only, "the digest says copied, not moved"

    released = cli(cfg, "release", str(row["id"]))
    assert released.returncode == 0, released.stderr
    assert "still in INBOX" in released.stdout and "was left there" in released.stdout
    inbox = contents(box, "INBOX")
    assert inbox[scam] == [{"\\Seen"}], "exactly one copy in INBOX, not two"
    assert contents(box, "INBOX.Quarantine")[scam] == [{"\\Seen"}], "left, untouched"
    with StateStore.open(tmp_path / "state.db") as store:
        rec = store.get(row["id"])
        assert rec.status == "released" and rec.restored_uid is not None
    again = cli(cfg, "scan", "--once")
    assert "quarantined 0" in again.stdout, again.stdout
    assert contents(box, "INBOX")[scam] == [{"\\Seen"}]


# -- check-config --connect ----------------------------------------------------------------------
def test_check_config_connect_reports_the_resolved_folders(
    layout: str, mb: Mailbox, tmp_path: Path, password_env: Callable[[Mailbox], str]
) -> None:
    r = cli(toml_for(tmp_path, mb, password_env(mb)), "check-config", "--connect")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "login: OK" in out and "capabilities: " in out
    assert f"quarantine folder: {QUARANTINE[layout]}" in out
    assert "would be created" in out
    if layout == "courier":
        assert 'prefix "INBOX.", separator "."' in out
        assert "move strategy: UIDPLUS" in out
    else:
        assert "move strategy: MOVE" in out
    assert "PROBLEM" not in out
    assert not contents(mb, QUARANTINE[layout]) and not _exists(mb, QUARANTINE[layout]), (
        "check-config creates nothing"
    )


def _exists(box: Mailbox, folder: str) -> bool:
    c = box.client()
    try:
        return bool(c.folder_exists(folder))
    finally:
        c.logout()


def test_check_config_catches_a_wrong_password(
    mb: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MG_INTEROP_BAD", "wrong-canary-Zq8")
    r = cli(toml_for(tmp_path, mb, "MG_INTEROP_BAD"), "check-config", "--secrets")
    assert r.returncode == 2, r.stdout
    assert "secret: resolves" in r.stdout and "cannot log in" in r.stdout
    assert "wrong-canary-Zq8" not in r.stdout + r.stderr


def test_check_config_catches_an_uncreatable_quarantine_folder(
    dovecot_factory: Callable[..., DovecotServer],
    tmp_path: Path,
    password_env: Callable[[Mailbox], str],
) -> None:
    server = dovecot_factory(layout="courier")
    box = server.mailbox(server.unique_name("uncreatable"))
    fill(box, "INBOX", [(SCAMS[0], [])])
    extra = 'quarantine_folder = "Archive.Quarantine"\n'  # exact name, outside "INBOX."
    cfg = toml_for(tmp_path, box, password_env(box), extra)
    r = cli(cfg, "check-config", "--connect")
    assert r.returncode == 2, r.stdout
    assert "quarantine folder Archive.Quarantine cannot be created" in r.stdout
    assert "outside your personal namespace" in r.stdout
    # The dry run says the same, and does not pass as if all were well.
    dry = cli(cfg, "scan", "--once", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "would quarantine 1" in dry.stdout
    assert "PROBLEM: quarantine folder Archive.Quarantine cannot be created" in dry.stdout
    # ...and the server agrees: CREATE really is refused there.
    c = box.client()
    try:
        with pytest.raises(Exception, match="namespace"):
            c.create_folder("Archive.Quarantine")
    finally:
        c.logout()


def test_check_config_hints_at_starttls_on_a_plain_port(
    mb: Mailbox, tmp_path: Path, password_env: Callable[[Mailbox], str]
) -> None:
    cfg = toml_for(tmp_path, mb, password_env(mb), port=mb.imap_port)  # TLS to the plain port
    r = cli(cfg, "check-config", "--connect")
    assert r.returncode == 2, r.stdout
    assert "TLS handshake failed" in r.stdout and 'security = "starttls"' in r.stdout


def test_a_failed_login_logs_poll_done_with_one_error(
    mb: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MG_INTEROP_BAD2", "wrong")
    r = cli(toml_for(tmp_path, mb, "MG_INTEROP_BAD2"), "scan", "--once", "--log-format", "json")
    done = [
        json.loads(line)
        for line in r.stderr.splitlines()
        if line.startswith("{") and '"poll.done"' in line
    ]
    assert len(done) == 1, r.stderr
    assert done[0]["ok"] is False and done[0]["errors"] == 1, done[0]
