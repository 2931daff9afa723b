"""Runs as any user, and status tells the truth about the daemon (issue 12, items 6 and 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailguard.config import SYSTEM_STATE_PATH, default_state_path, settings_from_dict
from mailguard.state import StateStore, daemon_lock
from mailguard.state.lock import daemon_pid


def test_root_keeps_the_system_state_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailguard.config.os.geteuid", lambda: 0)
    assert default_state_path() == SYSTEM_STATE_PATH == Path("/var/lib/mailguard/state.db")


def test_a_user_gets_the_xdg_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("mailguard.config.os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path() == tmp_path / "xdg" / "mailguard" / "state.db"
    settings = settings_from_dict({"accounts": [{"name": "a", "host": "h", "username": "u",
                                                 "password_env": "X"}]})  # fmt: skip
    assert settings.state.path == tmp_path / "xdg" / "mailguard" / "state.db"


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_a_user_without_a_usable_xdg_gets_local_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.setattr("mailguard.config.os.geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", xdg)
    assert default_state_path() == tmp_path / ".local" / "state" / "mailguard" / "state.db"


def _config(tmp_path: Path, state: Path) -> Path:
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{state}"\n\n[[accounts]]\nname = "acct"\nhost = "127.0.0.1"\n'
        'username = "u"\npassword_env = "UNUSED_PW"\n',
        encoding="utf-8",
    )
    return cfg


def _mailguard(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_status_says_whether_the_daemon_runs(tmp_path: Path) -> None:
    state = tmp_path / "state" / "state.db"
    with StateStore.open(state) as store:
        store.record_poll("acct", ok=True, error=None, scanned=1, quarantined=0)
        # A daemon that stopped left a "next poll" behind, in the future.
        store.set_next_poll("acct", datetime.now(UTC) + timedelta(minutes=5))
    cfg = _config(tmp_path, state)

    stopped = _mailguard(cfg, "status")
    assert stopped.returncode == 0, stopped.stderr
    assert "daemon: not running" in stopped.stdout
    assert "next poll:   none: the daemon is not running" in stopped.stdout

    assert daemon_pid(state) is None
    with daemon_lock(state):  # this process now holds the lock, as `mailguard run` does
        assert daemon_pid(state) == os.getpid()
        with StateStore.open(state) as store:
            store.set_next_poll("acct", None)  # the last pass was a manual scan --once
        running = _mailguard(cfg, "status")
    assert running.returncode == 0, running.stderr
    assert f"daemon: running (pid {os.getpid()})" in running.stdout
    assert "next poll:   due" in running.stdout, running.stdout
    assert daemon_pid(state) is None, "released with the lock"


def test_an_unusable_state_path_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cfg = _config(tmp_path, blocker / "state.db")  # cannot be created, even by root
    checked = _mailguard(cfg, "check-config")
    assert checked.returncode == 2, checked.stdout
    assert "PROBLEM: state database ([state] path)" in checked.stdout
    for args in (["status"], ["scan", "--once", "--dry-run"]):
        r = _mailguard(cfg, *args)
        assert r.returncode != 0, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("mailguard: "), r.stderr
        assert "Traceback" not in r.stderr and "daemon.crash" not in r.stderr, r.stderr


def test_scheduler_chatter_is_kept_at_warning() -> None:
    """APScheduler logs three INFO lines per poll; poll.start/poll.done already say it."""
    import logging

    from mailguard.logs import setup_logging

    root, aps = logging.getLogger(), logging.getLogger("apscheduler")
    saved = (root.level, aps.level)
    handler = setup_logging(level="DEBUG", capture_uncaught=False)
    try:
        assert logging.getLogger("apscheduler.scheduler").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("mailguard.scan").getEffectiveLevel() == logging.DEBUG
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        aps.setLevel(saved[1])
