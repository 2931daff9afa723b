"""The config model: the public key names, env overrides, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailguard.config import ConfigError, load_settings, parse_duration, settings_from_dict

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = [REPO / "config" / "mailguard.example.toml", REPO / "config" / "office.example.toml"]

MINIMAL = """
[state]
path = "{state}"

[[accounts]]
name = "alice"
host = "imap.example.org"
username = "alice@example.org"
password_env = "ALICE_IMAP_PASSWORD"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "mailguard.toml"
    p.write_text(text, encoding="utf-8")
    return p


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.exists()], ids=lambda p: p.name)
def test_example_configs_validate(path: Path) -> None:
    settings = load_settings(path)
    assert settings.accounts, "examples configure at least one account"
    r = run_cli("check-config", "--config", str(path))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_documented_keys_and_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL.format(state=tmp_path / "s.db")))
    a = s.accounts[0]
    assert (a.port, a.security, a.folders, a.quarantine_folder) == (
        993,
        "tls",
        ["INBOX"],
        "Quarantine",
    )
    assert (a.language, a.country) == ("ja", "JP")
    assert s.schedule.poll_interval == 300
    assert [t.strftime("%H:%M") for t in s.schedule.digest_times] == ["08:00"]
    assert s.scan.initial_days == 30 and s.scan.batch_size == 100
    assert s.digest.delivery == "imap"
    assert s.state.path == tmp_path / "s.db"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), (45, 45)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "", "-5m", "0s", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL.format(state=tmp_path / "s.db"))
    monkeypatch.setenv("MAILGUARD_SCHEDULE__POLL_INTERVAL", "90s")
    monkeypatch.setenv("MAILGUARD_DETECTION__SCAM_THRESHOLD", "9.5")
    s = load_settings(path)
    assert s.schedule.poll_interval == 90
    assert s.detection.scam_threshold == 9.5


def test_config_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL.format(state=tmp_path / "env.db"))
    monkeypatch.setenv("MAILGUARD_CONFIG", str(path))
    assert load_settings().state.path == tmp_path / "env.db"


BROKEN = """
[state]
path = "/tmp/x.db"
colour = "red"

[[accounts]]
name = "alice"
port = 99999
username = "alice@example.org"
password_env = "ALICE_IMAP_PASSWORD"
password_file = "/etc/mailguard/alice.password"
"""


def test_broken_file_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    with pytest.raises(ConfigError) as ei:
        load_settings(path)
    problems = ei.value.problems
    joined = "\n".join(problems)
    assert any(p.startswith("state.colour: unknown key") for p in problems), joined
    assert any(p.startswith("accounts[0].host") and "missing" in p for p in problems), joined
    assert any(p.startswith("accounts[0].port") and "65535" in p for p in problems), joined
    assert any(
        "password_env and password_file" in p and p.startswith("accounts[0]") for p in problems
    ), joined
    assert len(problems) == 4, joined


def test_check_config_cli_exit_2_and_key_names(tmp_path: Path) -> None:
    r = run_cli("check-config", "--config", str(write(tmp_path, BROKEN)))
    assert r.returncode == 2
    for key in ("state.colour", "accounts[0].host", "accounts[0].port", "password_file"):
        assert key in r.stderr


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('security = "none"', "clear text"),
        ('language = "fr"', "accounts[0].language"),
        ('country = "DE"', "accounts[0].country"),
        ("folders = []", "accounts[0].folders"),
        ('quarantine_folder = "INBOX"', "quarantine_folder"),
    ],
)
def test_account_field_errors(tmp_path: Path, fragment: str, expected: str) -> None:
    text = MINIMAL.format(state=tmp_path / "s.db") + fragment + "\n"
    with pytest.raises(ConfigError) as ei:
        load_settings(write(tmp_path, text))
    assert expected in str(ei.value)


def test_insecure_allowed_on_loopback(tmp_path: Path) -> None:
    text = MINIMAL.format(state=tmp_path / "s.db").replace("imap.example.org", "127.0.0.1")
    s = load_settings(write(tmp_path, text + 'security = "none"\nport = 143\n'))
    assert s.accounts[0].security == "none"


def test_secret_never_echoed(tmp_path: Path) -> None:
    canary = "canary-Pa55w0rd-7f3a"
    text = MINIMAL.format(state=tmp_path / "s.db") + f'password = "{canary}"\nport = "{canary}"\n'
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_settings(path)
    assert canary not in str(ei.value)
    assert "inline passwords are refused" in str(ei.value)
    r = run_cli("check-config", "--config", str(path))
    assert r.returncode == 2
    assert canary not in r.stdout + r.stderr


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_settings(write(tmp_path, "[state\n"))


def test_duplicate_account_names() -> None:
    acct = {"name": "a", "host": "h", "username": "u", "password_env": "X"}
    with pytest.raises(ConfigError, match="unique"):
        settings_from_dict({"accounts": [acct, dict(acct)]})


def test_config_after_subcommand(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(state=tmp_path / "s.db"))
    r = run_cli("check-config", "--config", str(path))
    assert r.returncode == 0, r.stderr
    r2 = run_cli("--config", str(path), "check-config")
    assert r2.returncode == 0, r2.stderr


@pytest.mark.parametrize(
    "sub",
    [
        "check-config",
        "classify",
        "eval",
        "scan",
        "run",
        "quarantine",
        "release",
        "status",
        "digest",
        "demo",
        "oauth2",
    ],
)
def test_every_subcommand_has_help(sub: str) -> None:
    r = run_cli(sub, "--help")
    assert r.returncode == 0, r.stderr
    assert "--config" in r.stdout


def test_idle_and_report_folder_keys() -> None:
    acct = {"name": "a", "host": "h", "username": "u", "password_env": "X"}
    s = settings_from_dict({"accounts": [acct]})
    assert (s.scan.idle, s.scan.idle_max_connections) == (True, 5)
    a = s.accounts[0]
    assert (a.idle, a.idle_max_connections, a.report) == (None, None, "Quarantine/Report")
    custom = {**acct, "quarantine_folder": "Scams", "idle": False, "idle_max_connections": 15}
    b = settings_from_dict({"scan": {"idle": True}, "accounts": [custom]}).accounts[0]
    assert (b.idle, b.idle_max_connections, b.report) == (False, 15, "Scams/Report")
    for bad in ({"report_folder": "INBOX"}, {"report_folder": "Quarantine"}):
        with pytest.raises(ConfigError, match="report_folder"):
            settings_from_dict({"accounts": [{**acct, **bad}]})
