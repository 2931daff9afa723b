"""Prometheus metrics: per-account counters, poll duration, last successful poll.

Everything lives in a private :class:`~prometheus_client.CollectorRegistry`,
not the library's global one, so a test or a second instance in the same
process starts from zero, and the process/platform collectors (which describe
Python, not mailguard) stay out unless asked for.

Two ways out, both optional (``[metrics]`` in the config):

* ``listen = "127.0.0.1:9464"``: an HTTP endpoint in a daemon thread, on a
  loopback address only. The metrics name accounts, which is nobody else's
  business; a scraper on another host should come through a reverse proxy or
  node_exporter.
* ``textfile = "/var/lib/node_exporter/mailguard.prom"``: a file for
  node_exporter's textfile collector, rewritten atomically after each poll.

Label values are bounded: ``account`` comes from the validated config, and
``kind`` is mapped onto a fixed set, so a stray error string cannot create a
new time series per message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import start_http_server

from mailguard import __version__

__all__ = [
    "ERROR_KINDS",
    "Metrics",
    "MetricsError",
    "MetricsServer",
    "parse_listen",
]

#: The values the ``kind`` label of ``mailguard_errors_total`` can take.
ERROR_KINDS = frozenset(
    {
        "poll",
        "auth",
        "connect",
        "imap",
        "parse",
        "classify",
        "move",
        "state",
        "digest",
        "secret",
        "other",
    }
)
#: Poll durations range from well under a second (nothing new) to minutes
#: (the first scan of a large mailbox).
POLL_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class MetricsError(Exception):
    """The metrics endpoint or file could not be set up."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` / ``"[::1]:9464"`` / ``"localhost:9464"`` → (address, port).

    Refuses anything but a loopback address: the config model checks this
    too, but binding is where it has to hold.
    """
    host, sep, port_s = listen.rpartition(":")
    if not sep or not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise MetricsError(f"metrics.listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise MetricsError(f"metrics.listen {listen!r}: only a loopback address is allowed")
    return host, int(port_s)


@dataclass
class MetricsServer:
    """The running HTTP endpoint; ``port`` is the bound one (useful with port 0)."""

    server: WSGIServer
    address: str
    port: int

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Metrics:
    """The daemon's metrics. Create one per process (or per test) and pass it around."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.scanned = Counter(
            "mailguard_messages_scanned",
            "Messages fetched and classified.",
            ["account"],
            registry=r,
        )
        self.quarantined = Counter(
            "mailguard_messages_quarantined",
            "Messages moved to the quarantine folder.",
            ["account"],
            registry=r,
        )
        self.suspicious = Counter(
            "mailguard_messages_suspicious",
            "Messages flagged suspicious but left in place.",
            ["account"],
            registry=r,
        )
        self.released = Counter(
            "mailguard_messages_released",
            "Messages moved back out of quarantine.",
            ["account"],
            registry=r,
        )
        self.errors = Counter(
            "mailguard_errors",
            "Failures, by account and kind.",
            ["account", "kind"],
            registry=r,
        )
        self.digests = Counter(
            "mailguard_digests_sent",
            "Digests and alerts delivered.",
            ["account"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "mailguard_poll_duration_seconds",
            "Wall time of one poll of one account.",
            ["account"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "mailguard_last_successful_poll_timestamp_seconds",
            "Unix time when the account was last polled without a connection failure.",
            ["account"],
            registry=r,
        )
        self.folder_idle = Gauge(
            "mailguard_folder_idle",
            "1 while the folder is watched on an IMAP IDLE connection, 0 while it is polled.",
            ["account", "folder"],
            registry=r,
        )
        self.folder_last_event = Gauge(
            "mailguard_folder_last_event_timestamp_seconds",
            "Unix time of the last new-mail event on the folder's IDLE connection.",
            ["account", "folder"],
            registry=r,
        )
        self.build = Info("mailguard_build", "mailguard version.", registry=r)
        self.build.info({"version": __version__})
        self._server: MetricsServer | None = None
        self._released_seen: dict[str, int] = {}

    # -- recording ------------------------------------------------------------------------
    def init_account(self, account: str) -> None:
        """Create the account's series at zero, so rate() and absence alerts work from the start."""
        for c in (self.scanned, self.quarantined, self.suspicious, self.released, self.digests):
            c.labels(account)
        self.errors.labels(account, "poll")
        self.poll_duration.labels(account)
        self.last_success.labels(account)

    def observe_poll(self, account: str, summary: Any, duration: float) -> None:
        """Record one finished poll from its summary (``scanned``, ``quarantined``,
        ``suspicious``, ``errors``, ``reached``; missing attributes count as 0/True).

        A poll that reached the server sets the last-success time even if some
        messages failed (those are counted as ``kind="poll"`` errors); a poll
        that did not reach it counts one ``kind="connect"`` error instead.
        """
        self.init_account(account)
        self.scanned.labels(account).inc(max(0, int(getattr(summary, "scanned", 0) or 0)))
        self.quarantined.labels(account).inc(max(0, int(getattr(summary, "quarantined", 0) or 0)))
        self.suspicious.labels(account).inc(max(0, int(getattr(summary, "suspicious", 0) or 0)))
        kinds = dict(getattr(summary, "error_kinds", None) or {})
        message_errors = max(0, int(getattr(summary, "errors", 0) or 0))
        unlabelled = message_errors - sum(kinds.values())
        if unlabelled > 0:
            kinds["poll"] = kinds.get("poll", 0) + unlabelled
        for kind, n in kinds.items():
            if n > 0:
                self.error(account, kind, n)
        self.poll_duration.labels(account).observe(max(0.0, float(duration)))
        if getattr(summary, "reached", True):
            self.last_success.labels(account).set(time.time())
        else:
            self.error(account, getattr(summary, "error_kind", None) or "connect")

    def error(self, account: str, kind: str = "other", n: int = 1) -> None:
        """Count ``n`` failures; an unknown ``kind`` is counted as ``other``."""
        self.errors.labels(account, kind if kind in ERROR_KINDS else "other").inc(n)

    def message_released(self, account: str, n: int = 1) -> None:
        self.released.labels(account).inc(n)

    def observe_released_total(self, account: str, total: int) -> None:
        """Feed ``messages_released`` from the state's running total.

        Releases are done by ``mailguard release`` in another process; the
        daemon sees the account's ``released_total`` grow. The first reading
        is the baseline (a counter counts from process start), later ones add
        the difference.
        """
        last = self._released_seen.get(account)
        self._released_seen[account] = total
        if last is not None and total > last:
            self.message_released(account, total - last)

    def observe_watch(
        self, account: str, folder: str, *, idle: bool, last_event: float | None
    ) -> None:
        """A folder's watch state (from the daemon's WatchBoard): IDLE or polling, last event."""
        self.folder_idle.labels(account, folder).set(1 if idle else 0)
        if last_event is not None:
            self.folder_last_event.labels(account, folder).set(last_event)

    def digest_sent(self, account: str) -> None:
        self.digests.labels(account).inc()

    # -- exporting ------------------------------------------------------------------------
    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def start_http(self, listen: str) -> MetricsServer:
        """Serve ``/metrics`` on a loopback ``HOST:PORT`` in a daemon thread."""
        if self._server is not None:
            return self._server
        host, port = parse_listen(listen)
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            raise MetricsError(
                f"metrics.listen {listen!r}: cannot listen: {e.strerror or e}"
            ) from None
        self._server = MetricsServer(server, host, int(server.server_address[1]))
        return self._server

    def stop_http(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def write_textfile(self, path: Path | str, *, mode: int = 0o644) -> None:
        """Atomically replace ``path`` with the current metrics for node_exporter.

        This is ``prometheus_client.write_to_textfile`` plus an explicit file
        mode: under the unit's ``UMask=0077`` the library's temporary file
        would be 0600 and node_exporter (another user) could not read it. The
        mode is set before the rename, so readers never see a file they cannot
        open, or half a file.
        """
        p = Path(path)
        data = generate_latest(self.registry)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data)
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
