"""No configured value is ever echoed: a canary in every value, grepped in everything we write.

The classic mistake is a password pasted into the wrong key
(``password_env = "<the password>"``, a duration, a file path). Whatever key
it lands in, mailguard must name the key and never print the value: not in
``check-config``, not in log lines (text and JSON, at DEBUG), not in the state
database, not in ``status``, not in a digest preview file.

Two configs: one where every key holds the canary (so every value is
invalid), plus ``MAILGUARD_…`` overrides holding it; and one valid config
whose accounts carry the canary in every secret-bearing key (environment
variable name, file path, command line, credential name, OAuth2 fields, the
wrong password itself), scanned against the real Dovecot. Values that are
identifiers shown by design (account name, host, user name, folder names,
state path) hold no canary in the second config: ``check-config`` and
``status`` print them on purpose.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mailguard.testing import DovecotServer, Mailbox

pytestmark = pytest.mark.integration

CANARY = "Hunter2CanaryQ7zx"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAM = "en/01_callback_norton_renewal_plain.eml"


def _no_canary(text: str | bytes, where: str) -> None:
    hay = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    assert CANARY.lower() not in hay.lower(), f"canary echoed in {where}"


def _run(
    cfg: Path, *args: str, env: dict[str, str], umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailguard", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGUARD_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return env


_EVERY_KEY_INVALID = """
typo_key = "{c}"

[state]
path = {{ nested = "{c}" }}

[schedule]
poll_interval = "{c}"
digest_times = ["{c}"]
jitter = "{c}"

[scan]
initial_days = "{c}"
batch_size = "{c}"
max_message_size = "{c}"
max_part_size = "{c}"
check_sent_folder = "{c}"

[detection]
scam_threshold = "{c}"
suspicious_threshold = "{c}"
quarantine_suspicious = "{c}"

[digest]
delivery = "{c}"
send_empty = "{c}"
immediate = "{c}"

[smtp]
host = 1
port = "{c}"
security = "{c}"
allow_insecure = "{c}"
from_address = 2
timeout = "{c}"
password_env = "{c}"
password_file = "{c}"
password = "{c}"

[metrics]
listen = "{c}"
textfile = 3

[logging]
level = "{c}"
format = "{c}"

[[accounts]]
name = "{c}!"
host = ""
port = "{c}"
security = "{c}"
allow_insecure = "{c}"
tls_verify = "{c}"
tls_ca_file = 4
username = ""
auth = "{c}"
oauth2_token_command = 5
oauth2_client_id = 6
oauth2_client_secret_env = 7
oauth2_token_endpoint = 8
oauth2_scope = 9
folders = "{c}"
quarantine_folder = ""
sent_folder = 10
digest_to = 11
language = "{c}"
country = "{c}"
trusted_senders = "{c}"
timeout = "{c}"
password_env = "{c}"
password_file = "/tmp/{c}"
password_command = ["{c}"]
password_credential = "{c}"
password = "{c}"
"""


def test_invalid_values_and_env_overrides_are_never_echoed(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_EVERY_KEY_INVALID.format(c=CANARY), encoding="utf-8")
    env = _base_env()
    for args in (["check-config"], ["check-config", "--secrets"], ["status"], ["scan", "--once"]):
        r = _run(cfg, *args, env=env)
        assert r.returncode == 2, (args, r.stderr)
        _no_canary(r.stdout + r.stderr, " ".join(args))
    report = _run(cfg, "check-config", env=env).stderr
    for key in ("schedule.poll_interval", "scan.max_message_size", "schedule.digest_times"):
        assert key in report, "each problem names its key"

    good = tmp_path / "good.toml"
    good.write_text(
        f'[state]\npath = "{tmp_path / "s.db"}"\n[[accounts]]\nname = "a"\nhost = "localhost"\n'
        'username = "u"\npassword_env = "MG_NOECHO_UNUSED"\n',
        encoding="utf-8",
    )
    overrides = {
        "MAILGUARD_SCHEDULE__POLL_INTERVAL": CANARY,
        "MAILGUARD_SCHEDULE__JITTER": CANARY,
        "MAILGUARD_SCHEDULE__DIGEST_TIMES": f'["{CANARY}"]',
        "MAILGUARD_SCAN__MAX_MESSAGE_SIZE": CANARY,
        "MAILGUARD_SCAN__MAX_PART_SIZE": CANARY,
        "MAILGUARD_SCAN__BATCH_SIZE": CANARY,
        "MAILGUARD_DETECTION__SCAM_THRESHOLD": CANARY,
        "MAILGUARD_LOGGING__LEVEL": CANARY,
        "MAILGUARD_METRICS__LISTEN": CANARY,
    }
    for name, value in overrides.items():
        r = _run(good, "check-config", env={**env, name: value})
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        _no_canary(r.stdout + r.stderr, name)
    r = _run(good, "check-config", env={**env, "MAILGUARD_ACCOUNTS": f"[{CANARY}"})
    assert r.returncode == 2
    _no_canary(r.stdout + r.stderr, "MAILGUARD_ACCOUNTS")


def _accounts(mb: Mailbox, tmp_path: Path) -> str:
    """One account that works, and one per way a secret source can hold the canary."""
    py = sys.executable
    leak = f"import sys; print('{CANARY}', file=sys.stderr); print('{CANARY}'); sys.exit(3)"
    common = (
        f'host = "{mb.host}"\nport = {mb.port}\ntls_ca_file = "{mb.ca_file}"\n'
        f'username = "{mb.user}"\nlanguage = "en"\ncountry = "US"\ntimeout = "20s"\n'
    )
    accounts = {
        "good": 'password_env = "MG_NOECHO_GOOD"',
        # the classic mistake: the password itself as the variable's name
        "envname": f'password_env = "{CANARY}"',
        # the variable exists but holds a wrong password (the server refuses it)
        "wrongpw": 'password_env = "MG_NOECHO_WRONG"',
        "command": f'password_command = ["{py}", "-c", "{leak}", "{CANARY}-arg"]',
        "file": f'password_file = "{tmp_path / CANARY / "pw"}"',
        "credential": f'password_credential = "{CANARY}"',
        "oauth_env": (
            f'auth = "oauth2"\noauth2_client_id = "{CANARY}"\n'
            f'oauth2_token_endpoint = "http://127.0.0.1:1/{CANARY}"\n'
            f'oauth2_scope = "{CANARY}"\noauth2_client_secret_env = "{CANARY}"\n'
            'password_env = "MG_NOECHO_WRONG"'
        ),
        "oauth_net": (
            f'auth = "oauth2"\noauth2_client_id = "{CANARY}"\n'
            f'oauth2_token_endpoint = "http://127.0.0.1:1/{CANARY}"\n'
            'password_env = "MG_NOECHO_WRONG"'
        ),
        "oauth_cmd": (
            f'auth = "oauth2"\noauth2_token_command = ["{py}", "-c", "{leak}", "{CANARY}"]'
        ),
    }
    return "".join(
        f'\n[[accounts]]\nname = "{name}"\n{common}quarantine_folder = "Q-{name}"\n{source}\n'
        for name, source in accounts.items()
    )


def test_secret_sources_never_echo_their_values(dovecot: DovecotServer, tmp_path: Path) -> None:
    mb = dovecot.mailbox(dovecot.unique_name("noecho"))
    client = mb.client()
    try:
        client.append("INBOX", (FIXTURES / SCAM).read_bytes())
    finally:
        client.logout()
    state = tmp_path / "state"
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{state / "state.db"}"\n\n[schedule]\npoll_interval = "90s"\n'
        'digest_times = ["07:30"]\njitter = "5s"\n\n[scan]\nmax_message_size = "2MB"\n'
        'max_part_size = "512KB"\n' + _accounts(mb, tmp_path),
        encoding="utf-8",
    )
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    env = {
        **_base_env(),
        "MG_NOECHO_GOOD": mb.password,
        "MG_NOECHO_WRONG": CANARY,
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    html = tmp_path / "preview.html"
    runs = {}
    for args in (
        ("check-config",),
        ("check-config", "--secrets"),
        ("scan", "--once", "--log-level", "DEBUG"),
        ("scan", "--once", "--log-level", "DEBUG", "--log-format", "json"),
        ("status",),
        ("status", "--log-level", "DEBUG"),
        ("quarantine", "list"),
        ("digest", "--preview", "--html", str(html), "--account", "good", "--log-level", "DEBUG"),
    ):
        r = _run(cfg, *args, env=env, umask=0)
        runs[args] = r
        _no_canary(r.stdout + r.stderr, " ".join(args))

    # The runs did reach the places that used to echo.
    secrets = runs[("check-config", "--secrets")].stdout
    assert "password_env" in secrets and "password_command exited with status 3" in secrets
    scan = runs[("scan", "--once", "--log-level", "DEBUG")]
    assert scan.returncode == 1, "some accounts fail, the good one is scanned"
    assert "account.error" in scan.stderr
    assert "uid fetch" in scan.stderr.lower(), "the IMAP exchange is logged at DEBUG…"
    assert "Norton" not in scan.stderr, "…but not the content of the message"

    # Every file mailguard wrote: the state database (+WAL), its key, the preview.
    written = [p for p in state.rglob("*") if p.is_file()] + [html]
    assert html.exists() and "<html" in html.read_text(encoding="utf-8").lower()
    for path in written:
        _no_canary(path.read_bytes(), str(path))
    assert stat.S_IMODE(html.stat().st_mode) == 0o600, "preview holds subjects and senders"

