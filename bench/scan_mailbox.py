"""Benchmark the scan pipeline end to end against a real local Dovecot.

Fills a throwaway mailbox with N messages cycled from ../shared/corpus (each
copy made distinct by an extra header and Message-ID suffix), then, in a
fresh child process so its peak RSS is the scan's own:

* the first scan: messages/s, IMAP commands by verb, peak RSS;
* an unchanged poll, repeated: median wall time and the commands it sent.

Usage: python bench/scan_mailbox.py [--messages 10000] [--polls 7]
Skips (exit 0 with a note) when the corpus is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_messages() -> list[bytes]:
    labels = CORPUS / "labels.tsv"
    out = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        path = line.split("\t", 1)[0]
        out.append((CORPUS / path).read_bytes())
    return out


def distinct_copy(raw: bytes, n: int) -> bytes:
    raw = re.sub(
        rb"(?im)^(message-id:\s*<)([^>\r\n]*)>",
        lambda m: m.group(1) + m.group(2) + b".copy" + str(n).encode() + b">",
        raw,
        count=1,
    )
    return b"X-Bench-Copy: " + str(n).encode() + b"\r\n" + raw


def fill(server: object, user: str, password: str, count: int) -> float:
    msgs = corpus_messages()
    client = server.client(user, password)  # type: ignore[attr-defined]
    started = time.perf_counter()
    try:
        chunk: list[bytes] = []
        for i in range(count):
            chunk.append(distinct_copy(msgs[i % len(msgs)], i // len(msgs)))
            if len(chunk) == 200 or i == count - 1:
                client.multiappend("INBOX", chunk)
                chunk = []
    finally:
        client.logout()
    return time.perf_counter() - started


def child(config_path: str, polls: int) -> None:
    """Runs in a fresh process: first scan, then unchanged polls; prints JSON."""
    from mailguard.app import App
    from mailguard.config import load_settings

    settings = load_settings(config_path)
    account = settings.accounts[0]
    fresh = App(settings)  # as `scan --once` does it
    t0 = time.perf_counter()
    first = fresh.scan(account)
    first_s = time.perf_counter() - t0
    rss_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    poll_times, poll_cmds = [], []
    cold_times = []
    for _ in range(polls):  # as `scan --once` does it: connect, STATUS, log out
        t = time.perf_counter()
        s = fresh.scan(account)
        cold_times.append((time.perf_counter() - t) * 1000)
    cold_cmds = s.commands
    fresh.close()
    pooled = App(settings, pooled=True, classifier=fresh.classifier)  # as the daemon does it
    pooled.scan(account)  # opens the kept connection
    for _ in range(polls):  # a kept-open connection
        t = time.perf_counter()
        s = pooled.scan(account)
        poll_times.append((time.perf_counter() - t) * 1000)
        poll_cmds.append(s.commands)
    pooled.close()
    print(
        json.dumps(
            {
                "scanned": first.scanned,
                "quarantined": first.quarantined,
                "suspicious": first.suspicious,
                "errors": first.errors,
                "seconds": first_s,
                "commands": first.commands,
                "peak_rss_mb": rss_first,
                "poll_ms": poll_times,
                "poll_commands": poll_cmds[-1],
                "poll_scanned": s.scanned,
                "cold_ms": cold_times,
                "cold_commands": cold_cmds,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--polls", type=int, default=7)
    ap.add_argument("--child", metavar="CONFIG")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.polls)
        return 0
    if not (CORPUS / "labels.tsv").exists():
        print(f"skipped: corpus not found at {CORPUS}")
        return 0
    from mailguard.testing import DovecotServer

    with tempfile.TemporaryDirectory(prefix="mailguard-bench-") as tmp:
        os.chmod(tmp, 0o755)
        with DovecotServer(Path(tmp) / "dovecot") as server:
            user, password = server.add_user("bench", "bench-password")
            fill_s = fill(server, user, password, args.messages)
            cfg = Path(tmp) / "bench.toml"
            cfg.write_text(
                f'[state]\npath = "{tmp}/state/state.db"\n[scan]\ninitial_days = 3650\n'
                f'[logging]\nlevel = "WARNING"\n\n[[accounts]]\nname = "bench"\n'
                f'host = "127.0.0.1"\nport = {server.imaps_port}\n'
                f'tls_ca_file = "{server.ca_file}"\nusername = "{user}"\n'
                f'password_env = "MG_BENCH_PW"\nlanguage = "en"\n',
                encoding="utf-8",
            )
            env = dict(os.environ, MG_BENCH_PW=password)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(cfg), "--polls", str(args.polls)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode != 0:
                print(out.stderr[-3000:])
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
    total_cmds = sum(r["commands"].values())
    print(f"mailbox: {args.messages} messages (filled in {fill_s:.1f}s by MULTIAPPEND)")
    print(
        f"first scan: {r['scanned']} scanned, {r['quarantined']} quarantined, "
        f"{r['suspicious']} suspicious, {r['errors']} errors in {r['seconds']:.1f}s "
        f"= {r['scanned'] / r['seconds']:.0f} messages/s"
    )
    print(
        f"first scan IMAP commands: {total_cmds} total "
        + json.dumps(dict(sorted(r["commands"].items())))
    )
    print(f"first scan peak RSS: {r['peak_rss_mb']:.0f} MB")
    print(
        f"unchanged poll, new connection (scan --once): median "
        f"{statistics.median(r['cold_ms']):.1f} ms, commands "
        + json.dumps(dict(sorted(r["cold_commands"].items())))
    )
    print(
        f"unchanged poll, kept connection (daemon): median "
        f"{statistics.median(r['poll_ms']):.1f} ms over "
        f"{len(r['poll_ms'])} polls (min {min(r['poll_ms']):.1f}, max {max(r['poll_ms']):.1f}), "
        f"scanned {r['poll_scanned']}, commands "
        + json.dumps(dict(sorted(r["poll_commands"].items())))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
