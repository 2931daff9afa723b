"""Benchmark "within seconds": delivery-to-Quarantine latency on IDLE, and idle CPU.

Starts a throwaway local Dovecot with N accounts (default 5) and runs the real
daemon (``python -m mailguard run``) as a subprocess with a config whose
scheduled poll is an hour away, so every quarantine measured here was
triggered by IMAP IDLE. Then:

1. idle CPU: the daemon's user+system CPU time from ``/proc/<pid>/stat`` over
   ``--idle-seconds`` while every account sits in IDLE, as % of one core;
2. latency: ``--deliveries`` times, another client APPENDs a scam to the first
   account's INBOX (``--gap`` seconds apart) and looks for it in Quarantine
   every 20 ms; the time from the APPEND to its arrival in Quarantine is
   recorded. (Dovecot itself tells an IDLE client about new mail about 0.5 s
   after delivery; that is included.)

Prints median, p95 and max latency and the idle CPU figure.

Usage: python bench/idle_latency.py [--deliveries 50] [--accounts 5] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mailguard.testing import DovecotServer  # noqa: E402

SCAM = REPO / "tests" / "fixtures" / "mail" / "en" / "01_callback_norton_renewal_plain.eml"


def with_message_id(raw: bytes, mid: str) -> bytes:
    return re.sub(rb"(?im)^Message-ID:.*$", b"Message-ID: " + mid.encode(), raw, count=1)


def write_config(root: Path, server: DovecotServer, users: list[tuple[str, str]]) -> Path:
    lines = [
        f'[state]\npath = "{root / "state" / "state.db"}"',
        '[schedule]\npoll_interval = "1h"\ndigest_times = ["03:33"]',
        "[digest]\nimmediate = false",
        '[logging]\nlevel = "WARNING"',
    ]
    for i, (user, _password) in enumerate(users):
        lines.append(
            f'[[accounts]]\nname = "acct{i}"\nhost = "127.0.0.1"\nport = {server.imaps_port}\n'
            f'tls_ca_file = "{server.ca_file}"\nusername = "{user}"\n'
            f'password_env = "MG_BENCH_PW_{i}"\nlanguage = "en"\ncountry = "US"'
        )
    cfg = root / "mailguard.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def wait_all_idle(db: Path, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                n = conn.execute(
                    "SELECT count(*) FROM watch_state WHERE mode = 'idle' AND connected = 1"
                ).fetchone()[0]
            if n >= expected:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the daemon did not get {expected} folders into IDLE in {timeout}s")


def wait_in_quarantine(client: object, mid: str, timeout: float) -> float:
    """Look for ``mid`` in Quarantine every 20 ms (NOOP + SEARCH); its arrival time.

    Polling, not IDLE: Dovecot announces a change to an IDLE client only about
    half a second later, which would add to the figure without being the daemon's.
    """
    c = client  # an imapclient.IMAPClient with Quarantine selected read-only
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.noop()  # type: ignore[attr-defined]
        if c.search(["HEADER", "Message-ID", mid]):  # type: ignore[attr-defined]
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"{mid} did not reach Quarantine within {timeout}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=50)
    ap.add_argument("--accounts", type=int, default=5)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument(
        "--gap",
        type=float,
        default=2.0,
        help="seconds between deliveries (randomised 0.5x-1.5x), so each finds the daemon in IDLE",
    )
    args = ap.parse_args()

    raw = SCAM.read_bytes()
    with tempfile.TemporaryDirectory(prefix="mg-idle-bench-") as tmp, DovecotServer() as server:
        root = Path(tmp)
        users = [server.add_user(server.unique_name(f"bench{i}")) for i in range(args.accounts)]
        cfg = write_config(root, server, users)
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        for i, (_user, password) in enumerate(users):
            env[f"MG_BENCH_PW_{i}"] = password
        # The quarantine folder exists before the bench client selects it.
        first = server.client(*users[0])
        for folder in ("Quarantine", "Quarantine/Report"):
            if not first.folder_exists(folder):
                first.create_folder(folder)
        first.logout()
        log_file = (root / "daemon.log").open("wb")  # kept for a look on failure
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailguard", "run", "--config", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            # Every account watches INBOX and its report folder.
            wait_all_idle(root / "state" / "state.db", 2 * args.accounts, 60)
            time.sleep(2.0)  # the catch-up passes after connecting
            c0, t0 = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            c1, t1 = cpu_seconds(daemon.pid), time.monotonic()
            idle_cpu = 100.0 * (c1 - c0) / (t1 - t0)

            watcher = server.client(*users[0])
            watcher.select_folder("Quarantine", readonly=True)
            sender = server.client(*users[0])
            latencies: list[float] = []
            rng = random.Random(14)
            for n in range(args.deliveries):
                time.sleep(args.gap * rng.uniform(0.5, 1.5))
                mid = f"<bench-idle-{n}-{os.getpid()}@example.net>"
                began = time.monotonic()
                sender.append("INBOX", with_message_id(raw, mid))
                arrived = wait_in_quarantine(watcher, mid, 30.0)
                latencies.append(arrived - began)
            watcher.logout()
            sender.logout()
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log_file.close()
        if daemon.returncode not in (0, -signal.SIGTERM):
            err = (root / "daemon.log").read_text(errors="replace")
            print(f"daemon exited with {daemon.returncode}: {err[-2000:]}", file=sys.stderr)

    print(f"accounts on IDLE: {args.accounts} (INBOX + report folder each)")
    print(
        f"delivery -> Quarantine over {len(latencies)} deliveries: "
        f"median {statistics.median(latencies):.3f} s, p95 {percentile(latencies, 0.95):.3f} s, "
        f"max {max(latencies):.3f} s"
    )
    print(f"idle CPU of the daemon over {args.idle_seconds:.0f} s: {idle_cpu:.2f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
