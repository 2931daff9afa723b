"""`mailguard doctor` against a real Dovecot: a damaged state file is rebuilt from Quarantine.

The CLI runs as a subprocess, as a user would run it, so "no traceback" and
the exit codes are checked for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailguard.state import StateStore
from mailguard.testing import Mailbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
SCAMS = [
    "ja/01_one_click_video_registration.eml",
    "en/01_callback_norton_renewal_plain.eml",
    "ja/07_withdrawal_lure_unext_trial.eml",
]
HAM = "ja/51_real_invoice_hosting_monthly.eml"
PW_ENV = "MG_DOCTOR_TEST_PW"


def write_config(tmp_path: Path, mb: Mailbox) -> Path:
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f"""
[state]
path = "{tmp_path / "state" / "state.db"}"

[scan]
check_sent_folder = false

[[accounts]]
name = "home"
host = "{mb.host}"
port = {mb.port}
security = "tls"
tls_ca_file = "{mb.ca_file}"
username = "{mb.user}"
password_env = "{PW_ENV}"
timeout = "10s"
language = "en"
country = "US"
"""
    )
    return cfg


def cli(mb: Mailbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), PW_ENV: mb.password}
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def listed(mb: Mailbox, cfg: Path) -> list[dict[str, object]]:
    done = cli(mb, "quarantine", "list", "--json", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def count(mb: Mailbox, folder: str) -> int:
    """Messages in ``folder``, not counting mailguard's own alerts and digests."""
    c = mb.client()
    try:
        if not c.folder_exists(folder):
            return 0
        c.select_folder(folder, readonly=True)
        return len(c.search(["NOT", "HEADER", "X-Mailguard-Digest", ""]))
    finally:
        c.logout()


def deliver(mb: Mailbox, names: list[str]) -> None:
    c = mb.client()
    try:
        for name in names:
            c.append("INBOX", (FIXTURES / name).read_bytes())
    finally:
        c.logout()


def _zero(p: Path) -> None:
    p.write_bytes(b"")


def _smash(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for off in range(4096, len(data), 4096):
        data[off + 8 : off + 300] = os.urandom(292)
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_zero, _smash], ids=["zero-bytes", "smashed-pages"])
def test_doctor_rebuilds_a_damaged_database_from_quarantine(
    mailbox: Mailbox, tmp_path: Path, damage: object
) -> None:
    cfg = write_config(tmp_path, mailbox)
    deliver(mailbox, [*SCAMS, HAM])
    done = cli(mailbox, "scan", "--once", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    before = {item["subject"]: item for item in listed(mailbox, cfg)}
    assert len(before) == 3
    db = tmp_path / "state" / "state.db"
    damage(db)  # type: ignore[operator]
    damaged_bytes = db.read_bytes()

    checked = cli(mailbox, "doctor", "--config", str(cfg))
    assert checked.returncode == 1 and "PROBLEM" in checked.stdout
    assert "Traceback" not in checked.stderr
    refused = cli(mailbox, "scan", "--once", "--config", str(cfg))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "doctor --rebuild" in refused.stderr

    rebuilt = cli(mailbox, "doctor", "--rebuild", "--config", str(cfg))
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "Traceback" not in rebuilt.stderr
    kept = [p for p in db.parent.iterdir() if p.name.startswith("state.db.damaged-")]
    assert any(p.read_bytes() == damaged_bytes for p in kept), "the damaged file is kept"

    after = {item["subject"]: item for item in listed(mailbox, cfg)}
    assert set(after) == set(before), "every quarantined message is listed again"
    for item in after.values():
        assert item["reasons"], "recovered items carry their reasons"
        assert item["original_folder"] == "INBOX"
    healthy = cli(mailbox, "doctor", "--config", str(cfg))
    assert healthy.returncode == 0 and "OK" in healthy.stdout

    # Scanning again duplicates nothing; a recovered item can be released.
    again = cli(mailbox, "scan", "--once", "--config", str(cfg))
    assert again.returncode == 0, again.stderr
    assert (count(mailbox, "INBOX"), count(mailbox, "Quarantine")) == (1, 3)
    first = min(int(str(item["id"])) for item in after.values())
    released = cli(mailbox, "release", str(first), "--config", str(cfg))
    assert released.returncode == 0, released.stdout + released.stderr
    assert (count(mailbox, "INBOX"), count(mailbox, "Quarantine")) == (2, 2)


def test_doctor_rebuild_on_a_sound_database_lists_unlisted_quarantine_mail(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, mailbox)
    deliver(mailbox, SCAMS[:1])
    assert cli(mailbox, "scan", "--once", "--config", str(cfg)).returncode == 0
    c = mailbox.client()  # a message lands in Quarantine behind mailguard's back
    try:
        c.append("Quarantine", (FIXTURES / SCAMS[1]).read_bytes(), flags=[b"\\Seen"])
    finally:
        c.logout()
    assert len(listed(mailbox, cfg)) == 1
    done = cli(mailbox, "doctor", "--rebuild", "--config", str(cfg))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recorded 1 message" in done.stdout
    assert len(listed(mailbox, cfg)) == 2
    with StateStore.open(tmp_path / "state" / "state.db") as store:
        recs = store.list_quarantine(account="home")
        assert len({r.quarantine_uid for r in recs}) == 2


def test_two_scans_at_once_never_collide(mailbox: Mailbox, tmp_path: Path) -> None:
    """Issue 10 item 6: a second scanner waits for the writer lock (or refuses honestly)."""
    cfg = write_config(tmp_path, mailbox)
    deliver(mailbox, [*SCAMS, HAM] * 3)  # identical copies too: each is its own message
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), PW_ENV: mailbox.password}
    cmd = [sys.executable, "-m", "mailguard", "scan", "--once", "--config", str(cfg)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert "Traceback" not in err and "DuplicateMessage" not in out + err, err
        assert p.returncode == 0 or "is running; try again" in out, out + err
    assert any(p.returncode == 0 for p in procs)
    assert count(mailbox, "INBOX") + count(mailbox, "Quarantine") == 12, "nothing lost or doubled"
    with StateStore.open(tmp_path / "state" / "state.db") as store:
        assert store.pending_moves("home") == []
        recs = store.list_quarantine(account="home")
        assert len({r.quarantine_uid for r in recs}) == len(recs) == count(mailbox, "Quarantine")
