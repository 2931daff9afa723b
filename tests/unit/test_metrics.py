"""Metrics: scraped over real HTTP on loopback, and written as a node_exporter textfile."""

from __future__ import annotations

import os
import stat
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailguard import __version__
from mailguard.metrics import Metrics, MetricsError, parse_listen


@dataclass
class Summary:
    scanned: int = 0
    quarantined: int = 0
    suspicious: int = 0
    errors: int = 0
    reached: bool = True


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(text: str, name: str, **labels: str) -> float:
    return _samples(text)[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics()
    yield m
    m.stop_http()


def test_http_endpoint_serves_per_account_metrics(metrics: Metrics) -> None:
    metrics.observe_poll("alice", Summary(scanned=5, quarantined=2, suspicious=1), 1.5)
    metrics.observe_poll("alice", Summary(scanned=3, quarantined=1), 0.4)
    metrics.observe_poll("bob", Summary(reached=False), 30.0)
    metrics.message_released("alice")
    server = metrics.start_http("127.0.0.1:0")
    assert server.port != 0

    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()

    assert 'mailguard_messages_scanned_total{account="alice"} 8.0' in text
    assert _value(text, "mailguard_messages_quarantined_total", account="alice") == 3
    assert _value(text, "mailguard_messages_suspicious_total", account="alice") == 1
    assert _value(text, "mailguard_messages_released_total", account="alice") == 1
    assert _value(text, "mailguard_messages_scanned_total", account="bob") == 0
    assert _value(text, "mailguard_errors_total", account="bob", kind="connect") == 1
    assert _value(text, "mailguard_poll_duration_seconds_count", account="alice") == 2
    assert _value(text, "mailguard_poll_duration_seconds_sum", account="alice") == 1.9
    assert _value(text, "mailguard_last_successful_poll_timestamp_seconds", account="alice") > 0
    # bob never reached his server: the gauge exists (pre-created) but stays 0.
    assert _value(text, "mailguard_last_successful_poll_timestamp_seconds", account="bob") == 0
    assert _value(text, "mailguard_build_info", version=__version__) == 1
    # A private registry: nothing about the Python process itself.
    assert "process_cpu_seconds_total" not in text
    assert "python_gc_objects_collected_total" not in text


def test_message_errors_in_a_reached_poll(metrics: Metrics) -> None:
    metrics.observe_poll("alice", Summary(scanned=4, errors=2), 1.0)
    text = metrics.render().decode()
    assert _value(text, "mailguard_errors_total", account="alice", kind="poll") == 2
    assert _value(text, "mailguard_last_successful_poll_timestamp_seconds", account="alice") > 0


def test_init_account_exports_zeroes_before_the_first_poll(metrics: Metrics) -> None:
    metrics.init_account("carol")
    text = metrics.render().decode()
    assert _value(text, "mailguard_messages_scanned_total", account="carol") == 0
    assert _value(text, "mailguard_messages_quarantined_total", account="carol") == 0
    assert _value(text, "mailguard_poll_duration_seconds_count", account="carol") == 0


def test_error_kinds_are_bounded(metrics: Metrics) -> None:
    metrics.error("alice", "auth")
    metrics.error("alice", "connection refused by 203.0.113.5 at 12:00:01")
    text = metrics.render().decode()
    assert _value(text, "mailguard_errors_total", account="alice", kind="auth") == 1
    assert _value(text, "mailguard_errors_total", account="alice", kind="other") == 1


def test_instances_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.observe_poll("alice", Summary(scanned=1), 0.1)
    assert "mailguard_messages_scanned_total" in a.render().decode()
    assert 'account="alice"' not in b.render().decode()


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "192.0.2.10:9464", "[::]:9464",
                                    "example.org:9464", "9464", "127.0.0.1:http"])
def test_listen_must_be_loopback_host_port(listen: str) -> None:
    with pytest.raises(MetricsError):
        parse_listen(listen)


@pytest.mark.parametrize(("listen", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    ("127.0.0.2:9464", ("127.0.0.2", 9464)),
    ("localhost:9464", ("127.0.0.1", 9464)),
    ("[::1]:9464", ("::1", 9464)),
])
def test_loopback_listen_values(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


def test_port_in_use_is_a_clear_error(metrics: Metrics) -> None:
    first = metrics.start_http("127.0.0.1:0")
    other = Metrics()
    with pytest.raises(MetricsError, match="cannot listen"):
        other.start_http(f"127.0.0.1:{first.port}")


def test_textfile_is_written_atomically_and_readable_by_node_exporter(
    metrics: Metrics, tmp_path: Path
) -> None:
    target = tmp_path / "mailguard.prom"
    metrics.observe_poll("alice", Summary(scanned=2, quarantined=1), 0.5)
    old_umask = os.umask(0o077)  # as under the unit's UMask=0077
    try:
        metrics.write_textfile(target)
        metrics.observe_poll("alice", Summary(scanned=1), 0.5)
        metrics.write_textfile(target)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["mailguard.prom"]  # no temporary file left over
    text = target.read_text()
    assert _value(text, "mailguard_messages_scanned_total", account="alice") == 3
    assert _value(text, "mailguard_messages_quarantined_total", account="alice") == 1


def test_textfile_into_a_missing_directory_fails_loudly(metrics: Metrics, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        metrics.write_textfile(tmp_path / "nope" / "mailguard.prom")
