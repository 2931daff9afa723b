"""The README's "User service (no root)" steps, followed by a real unprivileged user (issue 12).

The steps once crashed: the example config named /var/lib/mailguard/state.db,
which a user cannot create, and the user unit pointed the daemon at another
database than the one ``mailguard status`` typed in a shell opened. Here a
throwaway user (created with ``useradd``, removed afterwards) does what the
README says, from a wheel of this checkout:

1. install it so that ``~/.local/bin/mailguard`` exists (what ``pipx install``
   does: a private venv plus a link; the venv reuses this project's installed
   dependencies read-only instead of downloading them);
2. ``mkdir -p ~/.config/mailguard ~/.config/systemd/user``, copy the example
   config and the user unit, edit the account (host, port, user, a
   ``password_file``, the test server's CA) -- nothing else, no state path;
3. run ``check-config --connect``, ``scan --once --dry-run`` and ``status``;
4. start the daemon with the unit's own ExecStart= line (``%h``/``%E``
   expanded as the user manager would; there is no user manager here), and
   check that ``status`` typed in the shell sees it running and reads the
   database it writes, in ``~/.local/state/mailguard``.

Needs root (useradd, runuser); skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard.testing import Mailbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
SYSTEM_PYTHON = Path("/usr/bin/python3")
SCAM = "ja/01_one_click_video_registration.eml"


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a throwaway user"
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3 for the user's venv"
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys, venv, ensurepip; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0 or probe.stdout.strip() != str(sys.version_info[:2]):
        return "/usr/bin/python3 lacks venv/ensurepip or is another Python than the project's"
    return None


@pytest.fixture
def user_home() -> Iterator[tuple[str, Path]]:
    """A throwaway user whose home is in a directory every user may enter; removed after."""
    why = _usable()
    if why:
        pytest.skip(why)
    name = f"mgu{secrets.token_hex(3)}"
    base = Path(tempfile.mkdtemp(prefix="mailguard-user-", dir="/tmp"))
    base.chmod(0o755)
    home = base / "home"
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh",
         "--user-group", name],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield name, home
    finally:
        # Whatever this test started as the user and left running, by pid.
        for pid in _pids_of(pwd.getpwnam(name).pw_uid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def _wheel(out: Path) -> Path:
    """A wheel of this checkout, built from a copy (the build leaves files in its source)."""
    src = out / "src-copy"
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    # pip's usual isolated build first (it fetches the pinned setuptools); without a
    # network, the setuptools already installed here, if it is recent enough.
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        build[4:4] = ["--no-build-isolation", "--no-index"]
        done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [wheel] = out.glob("mailguard-*.whl")
    wheel.chmod(0o644)
    return wheel


def _as_user(name: str, home: Path, script: str, timeout: float = 180) -> str:
    """Run ``script`` with sh as the user, in a clean login-like environment."""
    env = ["env", "-i", f"HOME={home}", f"USER={name}", f"LOGNAME={name}",
           f"PATH={home}/.local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]  # fmt: skip
    done = subprocess.run(
        ["runuser", "-u", name, "--", *env, "sh", "-euc", f"cd \"$HOME\"\n{script}"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"as {name}: {script}\n{out}"
    return out


def _edit_account(text: str, mailbox: Mailbox, home: Path) -> str:
    """What the user does in $EDITOR: point the example account at the test server."""
    conf = home / ".config" / "mailguard"
    replace = {
        "host": f'"{mailbox.host}"',
        "port": str(mailbox.port),
        "username": f'"{mailbox.user}"',
        "password_env": None,  # replaced by a password file below
    }
    lines = []
    in_account = False
    for line in text.splitlines():
        if line.startswith("[[accounts]]"):
            in_account = True
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else ""
        if in_account and key in replace:
            if replace[key] is None:
                lines.append(f'password_file = "{conf / "alice.password"}"')
                lines.append(f'tls_ca_file = "{conf / "ca.pem"}"')
            else:
                lines.append(f"{key} = {replace[key]}")
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_readme_user_service_steps_work_as_an_unprivileged_user(
    user_home: tuple[str, Path], mailbox: Mailbox, tmp_path: Path
) -> None:
    name, home = user_home
    c = mailbox.client()
    try:
        c.append("INBOX", (FIXTURES / SCAM).read_bytes())
    finally:
        c.logout()

    # 1. install (pipx's layout: a private venv, its entry point linked into ~/.local/bin)
    drop = home.parent / "drop"
    drop.mkdir()
    wheel = _wheel(drop)
    shutil.rmtree(drop / "src-copy")
    deps = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    _as_user(name, home, f"""
        venv=~/.local/share/pipx/venvs/mailguard
        /usr/bin/python3 -m venv $venv
        sp=$($venv/bin/python -c 'import site; print(site.getsitepackages()[0])')
        echo '{deps}' > "$sp/zz-project-deps.pth"
        $venv/bin/python -m pip install -q --no-deps --no-index '{wheel}'
        mkdir -p ~/.local/bin
        ln -s ../share/pipx/venvs/mailguard/bin/mailguard ~/.local/bin/mailguard
    """)  # fmt: skip

    # 2. the README's steps
    _as_user(name, home, f"""
        mkdir -p ~/.config/mailguard ~/.config/systemd/user
        cp '{ROOT}/config/mailguard.example.toml' ~/.config/mailguard/mailguard.toml
        cp '{ROOT}/systemd/user/mailguard.service' ~/.config/systemd/user/
    """)  # fmt: skip
    conf = home / ".config" / "mailguard"
    config = conf / "mailguard.toml"
    config.write_text(_edit_account(config.read_text(encoding="utf-8"), mailbox, home))
    (conf / "alice.password").write_text(mailbox.password + "\n")
    (conf / "alice.password").chmod(0o600)
    shutil.copy2(mailbox.ca_file, conf / "ca.pem")
    (conf / "ca.pem").chmod(0o644)
    user = pwd.getpwnam(name)
    for p in (config, conf / "alice.password", conf / "ca.pem"):
        os.chown(p, user.pw_uid, user.pw_gid)

    # 3. check, dry run, status -- all by the user, from ~/.local/bin, with no env overrides
    out = _as_user(name, home, "mailguard check-config --connect")
    assert "login: OK" in out and "quarantine folder: Quarantine" in out, out
    assert f"state: {home}/.local/state/mailguard/state.db" in out, out
    out = _as_user(name, home, "mailguard scan --once --dry-run")
    assert "would quarantine 1" in out and "daemon.crash" not in out, out
    out = _as_user(name, home, "mailguard status")
    assert "daemon: not running" in out, out

    # 4. the unit's ExecStart=, as the user manager would run it (%h = home, %E = ~/.config)
    unit = (home / ".config" / "systemd" / "user" / "mailguard.service").read_text()
    [exec_start] = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    assert "MAILGUARD_STATE__PATH" not in re.sub(r"^#.*$", "", unit, flags=re.MULTILINE)
    argv = exec_start.replace("%h", str(home)).replace("%E", str(home / ".config")).split()
    env = {"HOME": str(home), "USER": name, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    daemon = subprocess.Popen(
        ["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        db = home / ".local" / "state" / "mailguard" / "state.db"
        deadline = time.monotonic() + 60
        out = ""
        while time.monotonic() < deadline:
            if db.exists():
                out = _as_user(name, home, "mailguard status")
                if "daemon: running" in out and "quarantined 1" in out:
                    break
            assert daemon.poll() is None, daemon.communicate()[0]
            time.sleep(0.5)
        assert "daemon: running" in out and "totals: scanned 1, quarantined 1" in out, out
        assert db.stat().st_uid == user.pw_uid
        assert oct(db.parent.stat().st_mode & 0o777) == "0o700"
    finally:
        # SIGTERM to the daemon itself (runuser's child), as systemctl --user stop would
        # send it; runuser then exits with the daemon's status.
        children = Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        try:
            log = daemon.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            daemon.kill()
            log = daemon.communicate()[0]
    assert daemon.returncode == 0 and "daemon.stop" in log, log[-3000:]
    out = _as_user(name, home, "mailguard status")
    assert "daemon: not running" in out, out
