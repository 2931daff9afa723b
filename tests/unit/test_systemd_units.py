"""The shipped systemd units: required directives, systemd's own verdict, and a working ExecStart.

The directive checks read the files with a small INI reader, so they run
anywhere. ``systemd-analyze verify`` and ``security --offline=true`` need no
running systemd (PID 1) and run whenever the tool is installed; ``verify``
wants the ExecStart binary to exist, so it checks a copy whose
``/usr/local/bin/mailguard`` points at this checkout's ``mailguard``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailguard.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
EXAMPLE_CONFIG = ROOT / "config" / "mailguard.example.toml"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

SYSTEM_UNITS = ["mailguard.service", "mailguard@.service"]
USER_UNIT = "user/mailguard.service"
ALL_UNITS = [*SYSTEM_UNITS, USER_UNIT]

#: The exposure score ("systemd-analyze security") each unit must not exceed.
#: Lower is better; up to 4.x is "OK". The user unit scores worse because it
#: only uses what an unprivileged user manager can apply everywhere (its
#: capability lines count against it although an ordinary user has none).
MAX_EXPOSURE = {"mailguard.service": 2.0, "mailguard@.service": 2.0, USER_UNIT: 6.5}


# -- a small unit-file reader ------------------------------------------------------------


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections → (key, value) pairs in order, with continuations joined, comments dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


@dataclass
class Unit:
    path: Path
    sections: dict[str, list[tuple[str, str]]]

    def values(self, key: str, section: str = "Service") -> list[str]:
        return [v for k, v in self.sections.get(section, []) if k == key]

    def get(self, key: str, section: str = "Service") -> str | None:
        values = self.values(key, section)
        return values[-1] if values else None

    def argv(self) -> list[str]:
        (exec_start,) = self.values("ExecStart")
        return shlex.split(exec_start)

    def environment(self, specifiers: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = {}
        for line in self.values("Environment"):
            for item in shlex.split(line):
                k, _, v = item.partition("=")
                env[k] = expand(v, specifiers)
        return env


def expand(value: str, specifiers: dict[str, str]) -> str:
    return re.sub(r"%([a-zA-Z%])", lambda m: specifiers.get(m.group(1), m.group(0)), value)


def load(name: str) -> Unit:
    path = UNITS / name
    return Unit(path, read_unit(path))


def comments(name: str) -> str:
    return "\n".join(
        ln for ln in (UNITS / name).read_text().splitlines() if ln.lstrip().startswith("#")
    )


def mailguard_command() -> list[str]:
    """This checkout's ``mailguard``: the venv's console script, else ``python -m mailguard``."""
    beside = Path(sys.executable).parent / "mailguard"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mailguard")
    return [found] if found else [sys.executable, "-m", "mailguard"]


# -- required directives -----------------------------------------------------------------

HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallArchitectures": "native",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "UMask": "0077",
    "ProcSubset": "pid",
    "ProtectProc": "invisible",
}

SERVICE_BASICS = {
    "Type": "notify",
    "NotifyAccess": "main",
    "Restart": "on-failure",
    "RestartSec": "30",
    "RestartPreventExitStatus": "2 78",  # a broken config is not fixed by restarting
}


@pytest.mark.parametrize("name", SYSTEM_UNITS)
def test_system_unit_directives(name: str) -> None:
    unit = load(name)
    for key, expected in {**SERVICE_BASICS, **HARDENING}.items():
        assert unit.get(key) == expected, f"{name}: {key}={unit.get(key)!r}, want {expected!r}"
    assert unit.get("DynamicUser") == "yes"
    assert unit.get("ConfigurationDirectory") == "mailguard"
    assert unit.get("StateDirectoryMode") == "0700"
    assert "@system-service" in unit.values("SystemCallFilter")
    assert unit.get("WatchdogSec") not in (None, "", "0", "infinity")
    # IMAP servers are anywhere on the internet: no IP allow list that would break them.
    assert unit.get("IPAddressDeny") is None and unit.get("IPAddressAllow") is None
    assert "network-online.target" in (unit.get("After", "Unit") or "")
    assert "network-online.target" in (unit.get("Wants", "Unit") or "")
    assert unit.get("WantedBy", "Install") == "multi-user.target"
    # Secrets come in as credentials; the unit says how (an active line would
    # make the stock unit fail to start for everyone without that file).
    assert "LoadCredential=" in comments(name)
    assert "password_credential" in comments(name)


def test_system_unit_paths() -> None:
    unit = load("mailguard.service")
    assert unit.argv() == [
        "/usr/local/bin/mailguard", "run", "--config", "/etc/mailguard/mailguard.toml"
    ]
    assert unit.get("StateDirectory") == "mailguard"
    assert unit.environment({})["MAILGUARD_STATE__PATH"] == "/var/lib/mailguard/state.db"


def test_template_unit_paths() -> None:
    unit = load("mailguard@.service")
    assert unit.argv() == ["/usr/local/bin/mailguard", "run", "--config", "/etc/mailguard/%i.toml"]
    assert unit.get("StateDirectory") == "mailguard/%i"
    env = unit.environment({"i": "office"})
    assert env["MAILGUARD_STATE__PATH"] == "/var/lib/mailguard/office/state.db"


def test_user_unit_directives() -> None:
    unit = load(USER_UNIT)
    for key, expected in SERVICE_BASICS.items():
        assert unit.get(key) == expected, key
    for key in ("NoNewPrivileges", "LockPersonality", "MemoryDenyWriteExecute",
                "RestrictRealtime", "RestrictSUIDSGID", "RestrictNamespaces"):
        assert unit.get(key) == "yes", key
    assert unit.get("RestrictAddressFamilies") == "AF_INET AF_INET6 AF_UNIX"
    assert unit.get("SystemCallArchitectures") == "native"
    assert "@system-service" in unit.values("SystemCallFilter")
    assert unit.get("UMask") == "0077"
    assert unit.get("StateDirectory") == "mailguard"
    assert unit.get("WantedBy", "Install") == "default.target"
    assert unit.argv() == [
        "%h/.local/bin/mailguard", "run", "--config", "%E/mailguard/mailguard.toml"
    ]
    # Things an unprivileged user manager cannot do everywhere must not be active:
    # the service would fail to start on systems without unprivileged user namespaces.
    for key in ("DynamicUser", "User", "CapabilityBoundingSet", "PrivateUsers", "ProtectSystem",
                "PrivateTmp", "PrivateDevices", "ProtectHome", "LoadCredential"):
        assert unit.get(key) is None, key
    # …and system targets do not exist in the user manager.
    assert unit.get("After", "Unit") is None


# -- the state path the unit sets is the one the config loader ends up with -------------


@pytest.mark.parametrize("name", ALL_UNITS)
def test_environment_puts_state_inside_the_state_directory(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not EXAMPLE_CONFIG.exists():
        pytest.fail("config/mailguard.example.toml is missing")
    unit = load(name)
    spec = {"i": "office", "S": str(tmp_path / "state"), "E": str(tmp_path / "config"),
            "h": str(tmp_path / "home")}
    for k, v in unit.environment(spec).items():
        monkeypatch.setenv(k, v)
    if name == USER_UNIT:
        # The user unit sets no state path: the default for a non-root user is
        # $XDG_STATE_HOME/mailguard/state.db, which is the unit's %S/mailguard.
        assert "MAILGUARD_STATE__PATH" not in unit.environment(spec)
        monkeypatch.setenv("XDG_STATE_HOME", spec["S"])
        monkeypatch.setattr("mailguard.config.os.geteuid", lambda: 1000)
    settings = load_settings(EXAMPLE_CONFIG)
    state_root = Path(spec["S"]) if name == USER_UNIT else Path("/var/lib")
    state_dir = state_root / expand(unit.get("StateDirectory") or "", spec)
    assert settings.state.path.parent == state_dir


# -- ExecStart actually runs -------------------------------------------------------------


def _unit_argv_with_local_binary(name: str) -> list[str]:
    argv = load(name).argv()
    assert argv[0].endswith("/mailguard") and argv[1] == "run" and "--config" in argv
    return mailguard_command() + argv[1:]


@pytest.mark.parametrize("name", ALL_UNITS)
def test_exec_start_arguments_are_accepted(name: str) -> None:
    argv = [*_unit_argv_with_local_binary(name), "--help"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--config" in proc.stdout


@pytest.mark.parametrize("name", ALL_UNITS)
def test_exec_start_with_a_real_config(name: str, tmp_path: Path) -> None:
    """The unit's exact arguments, with ``run`` swapped for ``check-config`` (which does not
    start the daemon) and the config path pointing at the example config."""
    if not EXAMPLE_CONFIG.exists():
        pytest.fail("config/mailguard.example.toml is missing")
    unit = load(name)
    argv = _unit_argv_with_local_binary(name)
    argv[argv.index("run")] = "check-config"
    argv[argv.index("--config") + 1] = str(EXAMPLE_CONFIG)
    spec = {"i": "office", "S": str(tmp_path / "state"), "E": str(tmp_path / "config"),
            "h": str(tmp_path / "home")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGUARD_")}
    env.update(unit.environment(spec))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_runs() -> None:
    proc = subprocess.run([*mailguard_command(), "--version"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "mailguard" in proc.stdout


# -- systemd's own checks ----------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def _local_copy(name: str, tmp_path: Path) -> Path:
    """The unit with its install paths pointed at this checkout's binary, for ``verify``."""
    exe = mailguard_command()
    if len(exe) != 1:
        pytest.skip("no mailguard console script to point ExecStart at")
    text = (UNITS / name).read_text()
    text = text.replace("/usr/local/bin/mailguard", exe[0])
    text = text.replace("%h/.local/bin/mailguard", exe[0])
    dest = tmp_path / Path(name).name
    dest.write_text(text)
    return dest


def _analyze(args: list[str], tmp_path: Path, *, user: bool) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    env = dict(os.environ)
    if user:
        runtime = tmp_path / "xdg-runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)  # the user manager's lookup paths need one
    cmd = [SYSTEMD_ANALYZE, *(["--user"] if user else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)


@needs_systemd_analyze
@pytest.mark.parametrize("name", ALL_UNITS)
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    copy = _local_copy(name, tmp_path)
    target = copy.with_name("mailguard@office.service") if "@" in copy.name else copy
    proc = _analyze(["verify", str(target)], tmp_path, user=name == USER_UNIT)
    # verify only warns (exit 0) about unknown keys; any output at all is a finding.
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        proc.stdout + proc.stderr
    )


@needs_systemd_analyze
def test_credentials_drop_in_example_verifies(tmp_path: Path) -> None:
    copy = _local_copy("mailguard.service", tmp_path)
    drop_in = tmp_path / "mailguard.service.d"
    drop_in.mkdir()
    shutil.copy(UNITS / "credentials.conf.example", drop_in / "credentials.conf")
    proc = _analyze(["verify", str(copy)], tmp_path, user=False)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        proc.stdout + proc.stderr
    )
    loaded = read_unit(drop_in / "credentials.conf")
    creds = [v for k, v in loaded["Service"] if k == "LoadCredential"]
    assert creds and all(re.fullmatch(r"[\w.-]+:/etc/mailguard/credentials/[\w.-]+", c)
                         for c in creds)


@needs_systemd_analyze
@pytest.mark.parametrize("name", ALL_UNITS)
def test_systemd_analyze_security_exposure(name: str, tmp_path: Path) -> None:
    target = UNITS / name
    if "@" in name:
        target = tmp_path / "mailguard@office.service"
        shutil.copy(UNITS / name, tmp_path / name)
    proc = _analyze(["security", "--offline=true", str(target)], tmp_path,
                    user=name == USER_UNIT)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", proc.stdout)
    if m is None and "--offline" in proc.stderr:
        pytest.skip("this systemd-analyze has no --offline mode")
    assert m, proc.stdout[-2000:] + proc.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE[name], proc.stdout
