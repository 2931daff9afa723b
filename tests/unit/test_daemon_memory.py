"""The daemon's jobs on the in-memory mail double (issue 9, item 5): no Dovecot, no scheduler.

``mailguard.daemon.Daemon`` is built as ``mailguard run`` builds it (from
Settings, with a pooled App and metrics), then its connector is replaced by the
double's (``daemon.app.connect`` is late-bound for exactly this). Its jobs are
driven directly -- ``Daemon.poll`` (the gate the schedule and the IDLE watchers
call), ``Daemon.digest`` -- so each promise is checked in milliseconds and
deterministically, where tests/integration/test_pipeline.py,
test_metrics_fed.py and test_mailapp.py need a real Dovecot and wall-clock waits:

* one pass per account at a time; triggers during a pass fold into one more pass;
* a failing account does not stop the others (polls and digests);
* a failing account backs off (doubling intervals), an IDLE event skips the wait;
* alerts and digests are APPENDed over the pooled connection: no second login;
* every metric the daemon declares is fed.
"""

from __future__ import annotations

import signal
import threading
import time
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailguard import daemon as daemon_module
from mailguard.app import App
from mailguard.config import AccountConfig, Settings, settings_from_dict
from mailguard.daemon import Daemon, backoff_seconds
from mailguard.imap.base import FolderStatus, MailClientError
from mailguard.pipeline.release import release_one
from mailguard.pipeline.summary import ScanSummary
from mailguard.state import KIND_DIGEST
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer, iter_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
WITHDRAWAL = "ja/07_withdrawal_lure_unext_trial.eml"  # scam that cannot wait: an alert
SCAM = "en/01_callback_norton_renewal_plain.eml"
SUSPICIOUS = "en/79_utility_shutoff_notice_pay_by_phone.eml"  # reported, left in place
HAM = "ja/51_real_invoice_hosting_monthly.eml"
SECRET = "right-secret"
WRONG = "not-the-secret-but-still-private"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def renamed(data: bytes, tag: str) -> bytes:
    """The fixture under another Message-ID: a different message with the same text."""
    return data.replace(b"@mail.gmail.com>", f"@{tag}.example>".encode(), 1)


def make_settings(tmp_path: Path, names: list[str], **sections: Any) -> Settings:
    accounts = [
        {"name": n, "host": f"{n}.memory.invalid", "username": f"{n}@example.org",
         "password_env": "MG_MEMORY_PW", "language": "en", "country": "US"}
        for n in names
    ]  # fmt: skip
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "state" / "state.db")},
        "metrics": {"textfile": str(tmp_path / "mailguard.prom")},
        "scan": {"idle": False},
        "accounts": accounts,
    }
    data.update(sections)
    return settings_from_dict(data)


class IdleMemoryClient:
    """A double client with ``idle_wait`` (which the double itself does not offer), so the
    daemon's real FolderWatcher can run on it. Like a real connection it remembers the
    folder as it was when EXAMINEd or last announced, and reports any change since then
    (UIDNEXT or message count, as an IDLE EXISTS/EXPUNGE or a NOOP would), including one
    that happened between two waits."""

    def __init__(self, inner: MemoryMailClient) -> None:
        self._inner = inner
        self._seen: dict[str, tuple[int, int]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def select(self, folder: str, readonly: bool = False) -> FolderStatus:
        status = self._inner.select(folder, readonly=readonly)
        self._seen[self._inner.resolve_folder(folder)] = (status.uidnext, status.messages)
        return status

    def idle_wait(
        self, folder: str, timeout: float, *, should_stop: Callable[[], bool] = lambda: False
    ) -> bool:
        folder = self._inner.resolve_folder(folder)
        if folder not in self._seen:
            self.select(folder, readonly=True)
        server = self._inner.server
        deadline = time.monotonic() + timeout
        while True:
            now = server.status(folder)
            if (now.uidnext, now.messages) != self._seen[folder]:
                self._seen[folder] = (now.uidnext, now.messages)
                return True
            if should_stop() or time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


class Servers:
    """One double server per account, and the connector the daemon gets instead of IMAP."""

    def __init__(self, names: list[str]) -> None:
        self.by_name = {n: MemoryMailServer(password=SECRET, host=f"{n}.memory.invalid")
                        for n in names}  # fmt: skip
        self.secret = dict.fromkeys(names, SECRET)  # what the "credentials" resolve to
        self.connects: dict[str, int] = dict.fromkeys(names, 0)
        self.clients: list[MemoryMailClient] = []

    def __getitem__(self, name: str) -> MemoryMailServer:
        return self.by_name[name]

    def connect(self, account: AccountConfig) -> Any:
        self.connects[account.name] += 1
        client = self.by_name[account.name].client(self.secret[account.name])
        self.clients.append(client)
        return IdleMemoryClient(client)


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Callable[..., tuple[Daemon, Servers]]]:
    """``build(names, **sections)`` -> (daemon, servers); stopped and closed afterwards."""
    made: list[Daemon] = []

    def make(names: list[str], **sections: Any) -> tuple[Daemon, Servers]:
        settings = make_settings(tmp_path, names, **sections)
        servers = Servers(names)
        d = Daemon(settings)
        d.app.connect = servers.connect  # the pool, the alerts and the watchers all use it
        made.append(d)
        return d, servers

    yield make
    for d in made:
        d.stop.set()
        for w in d.watchers:
            w.thread.join(10)
        d.app.close()


def digests_in(server: MemoryMailServer, folder: str = "INBOX") -> list[Any]:
    return [m for m in iter_messages(server, folder) if m.headers("X-Mailguard-Digest")]


def fed(text: str) -> dict[str, bool]:
    """Metric family -> does any of its samples carry a non-zero value."""
    return {f.name: any(s.value for s in f.samples) for f in text_string_to_metric_families(text)}


def metric(d: Daemon, family: str, **labels: str) -> float:
    assert d.metrics is not None
    for f in text_string_to_metric_families(d.metrics.render().decode()):
        for s in f.samples:
            if s.name == family and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


# -- the gate ------------------------------------------------------------------------------------
def test_one_pass_at_a_time_and_triggers_during_a_pass_fold_into_one_more(
    build: Callable[..., tuple[Daemon, Servers]],
) -> None:
    d, servers = build(["gate"])
    account = d.settings.accounts[0]
    server = servers["gate"]
    server.deliver("INBOX", raw(SCAM))
    passes: list[str] = []
    running = [0, 0]  # now, most at once
    real_scan = d.app.scan

    def counting_scan(acc: AccountConfig, **kw: Any) -> ScanSummary:
        running[0] += 1
        running[1] = max(running)
        passes.append(acc.name)
        try:
            return real_scan(acc, **kw)
        finally:
            running[0] -= 1

    d.app.scan = counting_scan  # type: ignore[method-assign,assignment]
    triggered: list[tuple[bool, list[str]]] = []  # (a caller still waiting, passes so far)

    def during_first_fetch(client: MemoryMailClient, verb: str, phase: str) -> None:
        if verb != "FETCH" or phase != "after" or triggered:
            return
        # New mail arrives mid-pass, after this pass searched the INBOX, and the schedule
        # and two IDLE watchers all ask for a pass from their own threads. Each must
        # return at once (daemon threads: if the gate broke, they would block on the
        # pass in hand, and the test must fail rather than hang).
        server.deliver("INBOX", renamed(raw(WITHDRAWAL), "mid-pass"))
        callers = [
            threading.Thread(target=d.poll, args=(account,), daemon=True),
            threading.Thread(target=d._on_change, args=("gate", "INBOX"), daemon=True),
            threading.Thread(target=d._on_change, args=("gate", account.report), daemon=True),
        ]
        for t in callers:
            t.start()
        for t in callers:
            t.join(1)
        triggered.append((any(t.is_alive() for t in callers), list(passes)))

    server.add_hook(during_first_fetch)
    d.poll(account)
    [(waiting, during)] = triggered
    assert not waiting, "a trigger waited for the running pass"
    assert during == ["gate"], "no second pass started while one was running"
    assert passes == ["gate", "gate"], "three triggers during the pass cost exactly one more"
    assert running[1] == 1, "never two passes of one account at once"
    assert d._passes == {}
    assert len(server.uids("Quarantine")) == 2, "the extra pass caught the mid-pass mail"
    assert len(server.uids("INBOX")) == len(digests_in(server)), "only our alerts are left"


# -- isolation and backoff -----------------------------------------------------------------------
def test_a_failing_account_does_not_stop_the_others(
    build: Callable[..., tuple[Daemon, Servers]],
) -> None:
    d, servers = build(["broken", "fine"], digest={"immediate": False})
    broken = d.settings.accounts[0]
    servers.secret["broken"] = WRONG  # its password was changed on the server
    servers["broken"].deliver("INBOX", raw(SCAM))
    servers["fine"].deliver("INBOX", raw(SCAM))
    servers["fine"].deliver("INBOX", raw(HAM))
    for account in d.settings.accounts:
        d.poll(account)
    assert servers["broken"].uids("INBOX") == [1], "nothing happened there"
    assert len(servers["fine"].uids("Quarantine")) == 1 and len(servers["fine"].uids("INBOX")) == 1
    bad = d.store.account_status("broken")
    good = d.store.account_status("fine")
    assert bad is not None and good is not None
    assert (bad.last_result, bad.consecutive_failures) == ("error", 1)
    assert "login rejected" in (bad.last_error or "")
    assert WRONG not in (bad.last_error or ""), "an error never echoes a secret"
    assert (good.last_result, good.consecutive_failures, good.quarantined_total) == ("ok", 0, 1)
    assert metric(d, "mailguard_errors_total", account="broken", kind="auth") == 1
    assert metric(d, "mailguard_messages_quarantined_total", account="fine") == 1

    # Digests too: one account's failed delivery does not keep the next one's back.
    servers.secret["broken"] = SECRET
    d.poll(broken, urgent=True)
    assert len(servers["broken"].uids("Quarantine")) == 1
    servers["broken"].fail("APPEND", error=MailClientError)
    d.digest()
    assert digests_in(servers["broken"]) == [] and len(digests_in(servers["fine"])) == 1
    failed = d.store.last_digest("broken", KIND_DIGEST, sent_only=False)
    assert failed is not None and failed.status == "failed"
    assert metric(d, "mailguard_errors_total", account="broken", kind="digest") == 1
    d.digest()  # the items stayed pending: the next run delivers them, once
    assert len(digests_in(servers["broken"])) == 1 and len(digests_in(servers["fine"])) == 1


class Clock:
    """Stands in for ``time`` in mailguard.daemon: the backoff reads ``monotonic`` only."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_failing_account_backs_off_and_an_idle_event_skips_the_wait(
    build: Callable[..., tuple[Daemon, Servers]], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(daemon_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    d, servers = build(["flaky"], schedule={"poll_interval": "5m"})
    account = d.settings.accounts[0]
    servers.secret["flaky"] = WRONG
    interval = d.settings.schedule.poll_interval
    assert [backoff_seconds(interval, n) for n in (1, 2, 3)] == [300, 600, 1200]

    def next_poll_in() -> float:
        st = d.store.account_status("flaky")
        assert st is not None and st.next_poll_at is not None
        return (st.next_poll_at - datetime.now(UTC)) / timedelta(seconds=1)

    d.poll(account)
    assert servers.connects["flaky"] == 1
    assert 290 < next_poll_in() <= 300
    clock.now += 100
    d.poll(account)  # the schedule fires again too early: no login attempt
    assert servers.connects["flaky"] == 1
    clock.now += 200
    d.poll(account)  # one interval after the failure: tried, failed again
    assert servers.connects["flaky"] == 2
    assert 590 < next_poll_in() <= 600, "the wait doubles"
    clock.now += 300
    d.poll(account)
    assert servers.connects["flaky"] == 2, "still backing off"
    d.poll(account, urgent=True)  # an IDLE event: the server is answering, try now
    assert servers.connects["flaky"] == 3
    st = d.store.account_status("flaky")
    assert st is not None and st.consecutive_failures == 3
    servers.secret["flaky"] = SECRET  # fixed
    clock.now += 1200
    d.poll(account)
    st = d.store.account_status("flaky")
    assert st is not None and (st.last_result, st.consecutive_failures) == ("ok", 0)
    assert 290 < next_poll_in() <= 300, "back to the normal rhythm"
    clock.now += 1
    d.poll(account)  # no backoff left: the next scheduled poll runs at once (kept connection)
    assert servers.connects["flaky"] == 4 and servers.clients[-1].commands["NOOP"] == 1


# -- digests and alerts over the pooled connection ------------------------------------------------
def test_alerts_and_digests_are_appended_over_the_pooled_connection(
    build: Callable[..., tuple[Daemon, Servers]],
) -> None:
    d, servers = build(["pool"], digest={"immediate": True})
    account = d.settings.accounts[0]
    server = servers["pool"]
    server.deliver("INBOX", raw(WITHDRAWAL))
    server.deliver("INBOX", raw(SCAM))
    ham = server.deliver("INBOX", raw(HAM), flags=["\\Seen"])
    d.poll(account)
    assert len(server.uids("Quarantine")) == 2
    [alert] = digests_in(server)
    assert "\\Seen" not in alert.flags, "it lands unread"
    d.digest()
    assert len(digests_in(server)) == 2
    assert server.logins == 1 and servers.connects["pool"] == 1, "one login for everything"
    [pooled] = servers.clients
    assert pooled.commands["APPEND"] == 2 and not pooled.closed
    last = d.store.last_digest("pool", KIND_DIGEST)
    assert last is not None and last.item_count == 2
    # Our own signed digests are never quarantined by the next pass.
    d.poll(account)
    assert len(server.uids("Quarantine")) == 2
    assert ham in server.uids("INBOX") and len(server.uids("INBOX")) == 3
    assert servers.connects["pool"] == 1 and pooled.commands["NOOP"] >= 1


# -- IDLE watchers drive the gate ----------------------------------------------------------------
def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    # Returns as soon as the predicate holds; these waits are the test's only timing.
    # (The failures once put down to a loaded machine were a real race: the watcher
    # EXAMINEd its folder after the catch-up pass, see FolderWatcher._run.)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_every_declared_metric_is_fed(build: Callable[..., tuple[Daemon, Servers]]) -> None:
    d, servers = build(
        ["fed", "fedbad"],
        digest={"immediate": True},
        scan={"idle": True},
        schedule={"poll_interval": "1h"},
    )
    good = d.settings.accounts[0]
    servers.secret["fedbad"] = WRONG
    for name in (WITHDRAWAL, SCAM, SUSPICIOUS, HAM):
        servers["fed"].deliver("INBOX", raw(name))
    assert d.metrics is not None
    for a in d.settings.accounts:  # what Daemon.run does at start
        d.metrics.init_account(a.name)
        d._sync_released(a.name)
    for a in d.settings.accounts:
        d.poll(a)  # scan, immediate alert, textfile
    # The user releases one message with the CLI (another App) ...
    with App(d.settings, connect=servers.connect) as cli:
        rec = cli.store.list_quarantine(account="fed")[0]
        client = cli.connect(good)
        try:
            release_one(client, cli.store, rec.id)
        finally:
            client.logout()
    d.poll(good)  # ... and the daemon's next poll counts it
    d.digest()
    d.start_watchers()  # IDLE on INBOX and the report folder: the folder gauges
    assert wait_until(lambda: fed(d.metrics.render().decode()).get(  # type: ignore[union-attr]
        "mailguard_folder_last_event_timestamp_seconds"
    ))  # fmt: skip
    # A scam arriving while the watcher is in IDLE is moved by the pass it triggers.
    held = len(servers["fed"].uids("Quarantine"))
    servers["fed"].deliver("INBOX", renamed(raw(SCAM), "while-idle"))
    assert wait_until(lambda: len(servers["fed"].uids("Quarantine")) == held + 1)
    text = d.metrics.render().decode()

    families = fed(text)
    declared = {m.name for m in d.metrics.registry.collect() if m.type != "info"}
    assert declared, "the registry declares metrics"
    unfed = sorted(name for name in declared if not families.get(name))
    assert unfed == [], f"declared but never fed: {unfed}"
    assert metric(d, "mailguard_messages_released_total", account="fed") == 1
    assert metric(d, "mailguard_folder_idle", account="fed", folder="INBOX") == 1
    assert metric(d, "mailguard_errors_total", account="fedbad", kind="auth") == 1
    textfile = Path(str(d.settings.metrics.textfile))
    assert "mailguard_messages_scanned_total" in textfile.read_text()


# -- the real scheduler, briefly -----------------------------------------------------------------
def test_run_schedules_polls_and_the_digest_then_stops_and_logs_out(
    build: Callable[..., tuple[Daemon, Servers]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Daemon.run`` as ``mailguard run`` calls it: APScheduler with a 1 s poll interval and
    a digest due 2 s from now, IDLE watchers, then a stop request (what SIGTERM does)."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    due = (datetime.now().astimezone() + timedelta(seconds=2)).strftime("%H:%M:%S")
    d, servers = build(
        ["first", "second"],
        schedule={"poll_interval": "1s", "jitter": "0.01s", "digest_times": [due]},
        digest={"immediate": False},
        scan={"idle": True},
    )
    servers["first"].deliver("INBOX", raw(SCAM))
    servers["second"].deliver("INBOX", raw(SCAM))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def done() -> bool:
        statuses = [d.store.account_status(a.name) for a in d.settings.accounts]
        polled = all(s is not None and s.last_result == "ok" for s in statuses)
        return polled and all(digests_in(servers[n]) for n in ("first", "second"))

    finished: list[bool] = []  # read while running: run() closes the store on its way out

    def stop_when_done() -> None:
        finished.append(wait_until(done, 8))
        d.stop.set()  # what the SIGTERM handler does

    stopper = threading.Thread(target=stop_when_done, daemon=True)
    stopper.start()
    try:
        assert d.run() == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    stopper.join(1)
    assert finished == [True], (
        "both accounts polled on schedule and the digest went out at its time"
    )
    for name in ("first", "second"):
        assert len(servers[name].uids("Quarantine")) == 1
    assert not d.scheduler.running
    assert all(not w.thread.is_alive() for w in d.watchers), "the watchers ended"
    assert servers.clients and all(c.closed for c in servers.clients), "every connection logged out"
