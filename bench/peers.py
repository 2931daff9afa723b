"""mailguard next to SpamAssassin and rspamd on the same corpus: recall, false positives, speed.

One run classifies the corpus rows with each tool and prints, per tool, recall on
the ``scam`` rows, false positives on the ``ham`` rows and messages/s, then the
speed ratios mailguard/rspamd and mailguard/SpamAssassin.

How each tool is run, and why it is fair:

* **mailguard** -- in this process, one core: ``parse_message`` + ``classify``
  (what the daemon does per message). Flagged = verdict ``scam`` (what gets
  quarantined by default); ``suspicious`` is counted separately.
* **SpamAssassin** -- one persistent Perl process using ``Mail::SpamAssassin``
  (rules compiled once, like spamd; local tests only, no Bayes, no network).
  Flagged = ``is_spam`` (score >= required_score, 5 by default).
* **rspamd** -- a private ``rspamd -f`` with its own config/db/run/log dirs under
  the cache, one normal worker on a free 127.0.0.1 port; each message is POSTed to
  ``/checkv2`` over one kept-alive HTTP connection. Network checks (DNS lists,
  SPF/DKIM/DMARC, fuzzy, ASN, ...) are disabled, as SpamAssassin's are, so
  neither peer waits for DNS and no corpus domain leaves the machine. Flagged =
  action ``reject``, ``add header`` or ``rewrite subject``.

Nothing is installed on the system: the Debian packages (and the dependency
packages not already installed) are fetched with ``apt-get download`` and
unpacked with ``dpkg -x`` into ``~/.cache/mailguard/peers`` (``--cache``); the
binaries run from there with LD_LIBRARY_PATH / PERL5LIB. No system service is
started, stopped or enabled; the private rspamd is stopped at the end. A peer
that cannot be made to run is reported as "blocked" with the reason, and the
others still run.

Speed is the rate over the classification loop only (rule loading/compilation
is reported separately as start-up), twice: messages per wall-clock second and
messages per CPU-second of the tool's own processes (this process for mailguard,
the Perl process, rspamd's process group). The ratios use CPU time: on a shared
machine the wall clock mostly measures what else is running. ``--limit N`` (or ``--sa-limit`` /
``--rspamd-limit``) classifies a stable pseudo-random sample of N rows for that
tool -- use it for the slow one; recall and false positives are then on the sample.

    .venv/bin/python bench/peers.py [--limit N] [--sa-limit N] [--rspamd-limit N]
                                     [--labels scam,ham] [--with-other-spam]
                                     [--only mailguard,rspamd,spamassassin]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO / "src"))

DEFAULT_CACHE = Path.home() / ".cache" / "mailguard" / "peers"
PEER_PACKAGES = ("spamassassin", "rspamd")
RSPAMD_FLAGGED = {"reject", "add header", "rewrite subject"}
# rspamd modules that query the network (DNS lists, SPF/DKIM/DMARC, fuzzy storage, ...)
# or need Redis; disabled so the comparison with local-only SpamAssassin is like for like.
RSPAMD_OFF = (
    "rbl", "surbl", "emails", "spf", "dkim", "dmarc", "arc", "fuzzy_check", "asn", "dcc",
    "mx_check", "greylist", "ratelimit", "replies", "neural", "reputation", "history_redis",
    "url_redirector", "external_services", "antivirus", "p0f", "rspamd_update", "bimi",
    "dkim_signing", "metadata_exporter", "clickhouse", "elastic", "once_received",
)  # fmt: skip

SA_DRIVER = r"""
use strict; use warnings;
use Mail::SpamAssassin;
my ($root, $state) = @ARGV;
open(my $p, '>', "$state/user_prefs") or die "user_prefs: $!";
print $p "use_bayes 0\nbayes_auto_learn 0\nuse_txrep 0\nskip_rbl_checks 1\n"
       . "use_razor2 0\nuse_pyzor 0\ndns_available no\n";
close $p;
my $sa = Mail::SpamAssassin->new({
  rules_filename => "$root/usr/share/spamassassin",
  site_rules_filename => "$root/etc/spamassassin",
  userprefs_filename => "$state/user_prefs",
  userstate_dir => $state,
  local_tests_only => 1,
  dont_copy_prefs => 1,
});
$sa->compile_now(0);
$| = 1;
print "READY\n";
while (my $path = <STDIN>) {
  chomp $path;
  my $fh;
  unless (open($fh, '<:raw', $path)) { print "ERR\t$path\n"; next; }
  my $data = do { local $/; <$fh> };
  close $fh;
  my $mail = $sa->parse($data);
  my $st = $sa->check($mail);
  printf "%s\t%.2f\t%d\n", $path, $st->get_score, $st->is_spam ? 1 : 0;
  $st->finish; $mail->finish;
}
"""


class Blocked(Exception):
    """A peer cannot be run privately here; the message says why."""


@dataclass(frozen=True)
class Row:
    path: Path
    label: str  # scam | ham | other_spam
    kind: str
    collected: bool


@dataclass
class Result:
    tool: str
    rows: int = 0
    seconds: float = 0.0
    startup: float = 0.0
    flagged: dict[str, int] = field(default_factory=dict)  # label -> flagged count
    totals: dict[str, int] = field(default_factory=dict)  # label -> rows
    second: dict[str, int] = field(default_factory=dict)  # mailguard "suspicious" by label
    false_positives: list[str] = field(default_factory=list)  # ham rows flagged
    errors: int = 0
    blocked: str | None = None
    note: str = ""

    def count(self, row: Row, flagged: bool, second: bool = False) -> None:
        self.rows += 1
        self.totals[row.label] = self.totals.get(row.label, 0) + 1
        keys = [row.label]
        if row.label == "scam":
            keys.append("scam:collected" if row.collected else "scam:pot")
        for key in keys[1:]:
            self.totals[key] = self.totals.get(key, 0) + 1
        if flagged:
            for key in keys:
                self.flagged[key] = self.flagged.get(key, 0) + 1
            if row.label == "ham":
                self.false_positives.append(str(row.path.relative_to(CORPUS)))
        if second:
            self.second[row.label] = self.second.get(row.label, 0) + 1

    cpu: float = 0.0  # CPU seconds the tool itself used in the loop (all its processes)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.rows / self.cpu if self.cpu > 0 else 0.0


# --------------------------------------------------------------------------- corpus


def load_rows(labels: set[str]) -> list[Row]:
    rows = []
    for line in (CORPUS / "labels.tsv").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip():
            continue
        label = parts[1]
        if label not in labels:
            continue
        path = CORPUS / parts[0]
        if path.is_file():
            kind = parts[3] if len(parts) > 3 else ""
            rows.append(Row(path, label, kind, parts[0].startswith("collected/")))
    return rows


def sample(rows: list[Row], limit: int | None) -> list[Row]:
    """A stable pseudo-random sample (by a hash of the path), so every run and every tool
    limited to N sees the same N rows, with labels in their corpus proportions."""
    if not limit or limit >= len(rows):
        return rows
    keyed = sorted(rows, key=lambda r: hashlib.sha1(str(r.path).encode()).hexdigest())
    return keyed[:limit]


# --------------------------------------------------------------------------- private install


def installed(package: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return done.returncode == 0 and "install ok installed" in done.stdout


def ensure_unpacked(cache: Path) -> Path:
    """Download the peers' .debs (and missing dependencies) and unpack them under ``cache``.

    ``apt-get install -s`` only *simulates*, to learn the dependency closure; packages
    already installed on the system are used from there, the rest are unpacked here.
    """
    root = cache / "root"
    if (root / "usr" / "bin" / "rspamd").exists() and (
        root / "usr" / "share" / "perl5" / "Mail" / "SpamAssassin.pm"
    ).exists():
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise Blocked("no apt-get/dpkg here to fetch the Debian packages")
    sim = subprocess.run(
        ["apt-get", "install", "-s", "--no-install-recommends", *PEER_PACKAGES],
        capture_output=True, text=True,
    )  # fmt: skip
    if sim.returncode != 0:
        raise Blocked(f"apt-get cannot resolve {' '.join(PEER_PACKAGES)}: {sim.stderr.strip()}")
    wanted = [ln.split()[1] for ln in sim.stdout.splitlines() if ln.startswith("Inst ")]
    # Upgrades of something already installed (e.g. perl) are not needed: ours works.
    wanted = [p for p in wanted if not installed(p)]
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(["apt-get", "download", *wanted], cwd=debs, capture_output=True, text=True)
    if got.returncode != 0:
        raise Blocked(f"apt-get download failed: {got.stderr.strip()[-300:]}")
    root.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of every live process in process group ``pgid``.

    Wall-clock rates on a shared 2-core machine swing with whatever else runs;
    CPU time per message barely does, so the speed ratios are computed from it.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp is the 5th field overall
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- the tools


def run_mailguard(rows: list[Row]) -> Result:
    from mailguard.detect import Classifier
    from mailguard.parse import parse_message

    res = Result("mailguard")
    t0 = time.perf_counter()
    classifier = Classifier.default()
    res.startup = time.perf_counter() - t0
    data = [(row, row.path.read_bytes()) for row in rows]
    start, cpu = time.perf_counter(), time.process_time()
    for row, raw in data:
        verdict = classifier.classify(parse_message(raw))
        res.count(row, verdict.verdict == "scam", second=verdict.verdict == "suspicious")
    res.seconds = time.perf_counter() - start
    res.cpu = time.process_time() - cpu
    res.note = "in-process parse+classify; flagged = scam verdict"
    return res


def run_spamassassin(rows: list[Row], root: Path, work: Path) -> Result:
    res = Result("SpamAssassin")
    perl = shutil.which("perl")
    if perl is None:
        raise Blocked("no perl on this machine")
    driver = work / "sa_driver.pl"
    driver.write_text(SA_DRIVER)
    state = work / "sa-state"
    state.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["PERL5LIB"] = ":".join(
        str(root / p) for p in ("usr/share/perl5", "usr/lib/x86_64-linux-gnu/perl5/5.36")
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [perl, str(driver), str(root), str(state)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, start_new_session=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "READY":
            err = proc.stderr.read() if proc.stderr else ""
            raise Blocked(f"Mail::SpamAssassin did not start: {err.strip()[-300:]}")
        res.startup = time.perf_counter() - t0
        start, cpu = time.perf_counter(), group_cpu_seconds(proc.pid)
        # One message in flight at a time, as spamc would do it.
        for row in rows:
            proc.stdin.write(f"{row.path}\n")
            proc.stdin.flush()
            parts = proc.stdout.readline().rstrip("\n").split("\t")
            if len(parts) != 3:
                res.errors += 1
                res.count(row, False)
                continue
            res.count(row, parts[2] == "1")
        res.seconds = time.perf_counter() - start
        res.cpu = group_cpu_seconds(proc.pid) - cpu
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    version = subprocess.run(
        [perl, "-MMail::SpamAssassin", "-e", "print Mail::SpamAssassin::Version()"],
        capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip
    res.note = f"SpamAssassin {version}, Perl API, local tests only, no Bayes; flagged = is_spam"
    return res


@contextlib.contextmanager
def nxdomain_resolver() -> Iterator[int]:
    """A loopback DNS server that answers every query at once with NXDOMAIN.

    rspamd modules left enabled still look some names up (PTRs of Received IPs, URL
    hosts). With no resolver each lookup waits for its timeout, which would make
    rspamd look slow for a reason that has nothing to do with it; a real resolver
    would send corpus domains off the machine. "Does not exist" is the neutral
    answer (not on a list, no PTR)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            if len(query) < 12:
                continue
            end = 12
            while end < len(query) and query[end] != 0:
                end += query[end] + 1
            question = query[12 : end + 5]  # name, then QTYPE and QCLASS
            flags = 0x8180 | (query[2] & 0x01) << 8 | 3  # response, RD echoed, RA, NXDOMAIN
            header = query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0)
            with contextlib.suppress(OSError):
                sock.sendto(header + question, peer)

    thread = threading.Thread(target=serve, name="nxdomain-dns", daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


@contextlib.contextmanager
def private_rspamd(root: Path, work: Path, dns_port: int) -> Iterator[tuple[int, str, int]]:
    """rspamd -f with every path under ``work``; yields (port of the normal worker, version,
    its process group id)."""
    binary = root / "usr" / "bin" / "rspamd"
    if not binary.exists():
        raise Blocked("rspamd binary missing after unpacking")
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(
        str(root / p) for p in ("usr/lib/x86_64-linux-gnu", "usr/lib/rspamd")
    )
    base = work / "rspamd"
    dirs = {name: base / name for name in ("local", "db", "run", "log")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    (dirs["local"] / "local.d").mkdir(exist_ok=True)
    override = dirs["local"] / "override.d"
    override.mkdir(exist_ok=True)
    port, controller, proxy = free_port(), free_port(), free_port()
    (override / "worker-normal.inc").write_text(
        f'bind_socket = "127.0.0.1:{port}";\ncount = 1;\nmime = true;\n'
    )
    (override / "worker-controller.inc").write_text(
        f'bind_socket = "127.0.0.1:{controller}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n'
    )
    (override / "worker-proxy.inc").write_text(
        f'bind_socket = "127.0.0.1:{proxy}";\ncount = -1;\n'  # not started
    )
    log_level = os.environ.get("PEERS_RSPAMD_LOG_LEVEL", "error")  # "info" to see timings
    (override / "logging.inc").write_text(
        f'type = "file";\nfilename = "{dirs["log"]}/rspamd.log";\nlevel = "{log_level}";\n'
    )
    (override / "options.inc").write_text(
        f'dns {{\n  nameserver = ["127.0.0.1:{dns_port}"];\n'
        "  timeout = 1s;\n  retransmits = 1;\n}\n"
    )
    for module in RSPAMD_OFF:
        (override / f"{module}.conf").write_text("enabled = false;\n")
    # hfilter's HELO/hostname/From checks resolve names or need the SMTP client's data,
    # which stored mail does not have (unresolvable would score as suspicious).
    (dirs["local"] / "local.d" / "hfilter.conf").write_text(
        "helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n"
    )
    share = root / "usr" / "share" / "rspamd"
    variables = {
        "CONFDIR": root / "etc" / "rspamd",
        "LOCAL_CONFDIR": dirs["local"],
        "RUNDIR": dirs["run"],
        "DBDIR": dirs["db"],
        "LOGDIR": dirs["log"],
        "SHAREDIR": share,
        "RULESDIR": share / "rules",
        "PLUGINSDIR": share / "plugins",
        "LUALIBDIR": share / "lualib",
        "WWWDIR": share / "www",
    }
    cmd = [str(binary), "-f", "-c", str(root / "etc" / "rspamd" / "rspamd.conf")]
    cmd += ["-p", str(dirs["run"] / "rspamd.pid")]
    for key, value in variables.items():
        cmd += ["--var", f"{key}={value}"]
    if os.geteuid() == 0:
        cmd.append("-i")  # rspamd refuses root workers unless told; nothing here is shared
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, env=env
    ).stdout.strip()
    out = open(base / "stdout.log", "wb")  # noqa: SIM115 -- closed in finally
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = (base / "stdout.log").read_text(errors="replace")[-600:]
                logtail = ""
                with contextlib.suppress(OSError):
                    logtail = (dirs["log"] / "rspamd.log").read_text(errors="replace")[-600:]
                raise Blocked(f"rspamd exited with {proc.returncode}: {tail} {logtail}".strip())
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            if time.monotonic() > deadline:
                raise Blocked("rspamd did not answer /ping within 120 s")
            time.sleep(0.2)
        hyperscan = wait_for_hyperscan(dirs["db"], proc)
        yield port, version + ("" if hyperscan else " (hyperscan not ready: PCRE)"), proc.pid
    finally:
        # Only our own process group: the master and the workers it forked.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


def wait_for_hyperscan(db: Path, proc: subprocess.Popen[bytes], limit: float = 120.0) -> bool:
    """Wait until rspamd's helper has compiled the regexps to Hyperscan and the worker
    has loaded them. Until then rspamd scans with PCRE, several times slower; timing
    that would measure its start-up, not its speed. The compiled files appear in
    ``db``; once their number has been stable for 3 s the worker has been told (the
    helper waits 1 s before it notifies)."""
    deadline = time.monotonic() + limit
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline and proc.poll() is None:
        count = len(list(db.glob("*.hs*")))
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - stable_since >= 3.0:
            return True
        time.sleep(0.5)
    return False


def run_rspamd(rows: list[Row], root: Path, work: Path) -> Result:
    res = Result("rspamd")
    t0 = time.perf_counter()
    with nxdomain_resolver() as dns_port, private_rspamd(root, work, dns_port) as rspamd:
        port, version, pgid = rspamd
        res.startup = time.perf_counter() - t0
        data = [(row, row.path.read_bytes()) for row in rows]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start, cpu = time.perf_counter(), group_cpu_seconds(pgid)
        for row, raw in data:
            conn.request("POST", "/checkv2", body=raw, headers={"Content-Length": str(len(raw))})
            resp = conn.getresponse()
            body = resp.read()
            try:
                action = str(json.loads(body).get("action", "")) if resp.status == 200 else ""
            except ValueError:
                action = ""
            if not action:
                res.errors += 1
            res.count(row, action in RSPAMD_FLAGGED)
        res.seconds = time.perf_counter() - start
        res.cpu = group_cpu_seconds(pgid) - cpu
        conn.close()
    res.note = f"{version}, one worker, network checks off; flagged = reject/add header/rewrite"
    return res


# --------------------------------------------------------------------------- report


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f} %)" if d else "-"


def print_table(results: list[Result]) -> None:
    head = (
        "tool",
        "rows",
        "scam recall",
        "phishing_pot",
        "collected",
        "ham FP",
        "msg/s (wall)",
        "msg/CPU-s",
        "start-up",
    )
    lines = [head]
    for r in results:
        if r.blocked:
            lines.append((r.tool, "-", f"blocked: {r.blocked[:60]}", "", "", "", "", "", ""))
            continue
        lines.append((
            r.tool,
            str(r.rows),
            pct(r.flagged.get("scam", 0), r.totals.get("scam", 0)),
            pct(r.flagged.get("scam:pot", 0), r.totals.get("scam:pot", 0)),
            pct(r.flagged.get("scam:collected", 0), r.totals.get("scam:collected", 0)),
            pct(r.flagged.get("ham", 0), r.totals.get("ham", 0)),
            f"{r.rate:.1f}",
            f"{r.cpu_rate:.1f}",
            f"{r.startup:.1f} s",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for r in results:
        if r.blocked:
            print(f"{r.tool}: BLOCKED -- {r.blocked}")
            continue
        extra = ""
        if r.second:
            extra = (
                f"; also 'suspicious' (not moved by default): scam {r.second.get('scam', 0)}, "
                f"ham {r.second.get('ham', 0)}"
            )
        if "other_spam" in r.totals:
            spam = pct(r.flagged.get("other_spam", 0), r.totals["other_spam"])
            extra += f"; other_spam flagged {spam}"
        errs = f"; {r.errors} errors" if r.errors else ""
        print(f"{r.tool}: {r.note}{extra}{errs}")
        if r.tool == "mailguard" and r.false_positives:
            print("  mailguard false positives: " + ", ".join(r.false_positives[:10]))
    by = {r.tool: r for r in results if not r.blocked and r.cpu_rate > 0 and r.rate > 0}
    mg = by.get("mailguard")
    print()
    for peer in ("rspamd", "SpamAssassin"):
        if mg and peer in by:
            p = by[peer]
            print(
                f"speed mailguard/{peer}: {mg.cpu_rate / p.cpu_rate:.2f}x per CPU-second "
                f"({mg.cpu_rate:.1f} vs {p.cpu_rate:.1f} msg/CPU-s); "
                f"wall clock {mg.rate / p.rate:.2f}x ({mg.rate:.1f} vs {p.rate:.1f} msg/s)"
            )
        else:
            print(f"speed mailguard/{peer}: n/a")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="rows per tool (a stable sample) for every tool")
    ap.add_argument("--sa-limit", type=int, help="rows for SpamAssassin only (it is slow)")
    ap.add_argument("--rspamd-limit", type=int, help="rows for rspamd only")
    ap.add_argument("--labels", default="scam,ham",
                    help="which labels.tsv rows to classify (default scam,ham)")  # fmt: skip
    ap.add_argument("--with-other-spam", action="store_true",
                    help="also classify the other_spam rows (speed; not scored)")  # fmt: skip
    ap.add_argument("--only", default="mailguard,rspamd,spamassassin",
                    help="comma-separated subset of mailguard,rspamd,spamassassin")  # fmt: skip
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    if not (CORPUS / "labels.tsv").is_file():
        print(f"corpus not found at {CORPUS}; skipping")
        return 0
    labels = {x.strip() for x in args.labels.split(",") if x.strip()}
    if args.with_other_spam:
        labels.add("other_spam")
    rows = load_rows(labels)
    only = {t.strip().lower() for t in args.only.split(",") if t.strip()}
    print(f"corpus: {len(rows)} rows from {CORPUS}")
    results: list[Result] = []
    root: Path | None = None
    root_error: str | None = None
    if only & {"rspamd", "spamassassin"}:
        try:
            root = ensure_unpacked(args.cache)
        except (Blocked, subprocess.CalledProcessError, OSError) as e:
            root_error = str(e)

    def root_or_block() -> Path:
        if root is None:
            raise Blocked(root_error or "peer packages not available")
        return root

    mg_rows = sample(rows, args.limit)
    rs_rows = sample(rows, args.rspamd_limit or args.limit)
    sa_rows = sample(rows, args.sa_limit or args.limit)
    work = Path(tempfile.mkdtemp(prefix="peers-", dir=args.cache if args.cache.exists() else None))
    plan: list[tuple[str, Callable[[], Result]]] = []
    if "mailguard" in only:
        plan.append(("mailguard", lambda: run_mailguard(mg_rows)))
    if "rspamd" in only:
        plan.append(("rspamd", lambda: run_rspamd(rs_rows, root_or_block(), work)))
    if "spamassassin" in only:
        plan.append(("SpamAssassin", lambda: run_spamassassin(sa_rows, root_or_block(), work)))
    try:
        for name, run in plan:
            print(f"running {name} ...", flush=True)
            try:
                results.append(run())
            except Blocked as e:
                results.append(Result(name, blocked=str(e)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
