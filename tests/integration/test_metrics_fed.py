"""Every metric the daemon declares is fed by the production code paths.

Declared-but-never-fed metrics were a finding of the architecture review
(digests_sent, messages_released, most error kinds, poll time). This drives
the daemon's own jobs -- ``Daemon.poll`` and ``Daemon.digest`` -- against a
real Dovecot and checks each declared family has a non-zero sample, so a new
metric without a feed fails here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailguard.app import App
from mailguard.config import settings_from_dict
from mailguard.daemon import Daemon
from mailguard.pipeline.release import release_one
from mailguard.testing import DovecotServer, Mailbox

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
MAIL = [
    "ja/07_withdrawal_lure_unext_trial.eml",  # scam, withdrawal: an immediate alert
    "en/01_callback_norton_renewal_plain.eml",  # scam
    "en/79_utility_shutoff_notice_pay_by_phone.eml",  # suspicious, left in place
    "ja/51_real_invoice_hosting_monthly.eml",  # clean
]


def account(mb: Mailbox, name: str, env: str) -> dict[str, Any]:
    return {
        "name": name,
        "host": mb.host,
        "port": mb.port,
        "tls_ca_file": str(mb.ca_file),
        "username": mb.user,
        "password_env": env,
        "timeout": "10s",
        "language": "en",
        "country": "US",
    }


def fed(text: str) -> dict[str, bool]:
    """Metric family -> does any of its samples carry a non-zero value."""
    out: dict[str, bool] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = any(s.value for s in family.samples)
    return out


def test_every_declared_metric_is_fed_by_the_daemon(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = dovecot.mailbox(dovecot.unique_name("fed"))
    bad = dovecot.mailbox(dovecot.unique_name("fedbad"))
    c = good.client()
    try:
        for name in MAIL:
            c.append("INBOX", (FIXTURES / name).read_bytes())
    finally:
        c.logout()
    monkeypatch.setenv("MG_FED_PW", good.password)
    monkeypatch.setenv("MG_FED_BAD", "not-the-password")
    textfile = tmp_path / "mailguard.prom"
    settings = settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state" / "state.db")},
            "metrics": {"textfile": str(textfile)},
            "digest": {"immediate": True},
            "accounts": [account(good, "fed", "MG_FED_PW"), account(bad, "fedbad", "MG_FED_BAD")],
        }
    )
    daemon = Daemon(settings)
    try:
        assert daemon.metrics is not None
        for a in settings.accounts:
            daemon.metrics.init_account(a.name)
            daemon._sync_released(a.name)  # what Daemon.run does at start
        for a in settings.accounts:
            daemon.poll(a)  # scan, immediate alert, textfile
        # The user releases one message with the CLI (another process, another App) ...
        with App(settings) as cli:
            rec = cli.store.list_quarantine(account="fed")[0]
            client = cli.connect(settings.accounts[0])
            try:
                release_one(client, cli.store, rec.id)
            finally:
                client.logout()
        daemon.poll(settings.accounts[0])  # ... and the daemon's next poll counts it
        daemon.digest()
        daemon.start_watchers()  # IDLE: the folder gauges (idle, last event)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the first event is the catch-up on connect
            if fed(daemon.metrics.render().decode()).get(
                "mailguard_folder_last_event_timestamp_seconds"
            ):
                break
            time.sleep(0.05)
        text = daemon.metrics.render().decode()
    finally:
        daemon.stop.set()
        for w in daemon.watchers:
            w.thread.join(10)
        daemon.app.close()

    families = fed(text)
    declared = {
        m.name
        for m in daemon.metrics.registry.collect()
        if m.type != "info"  # the build label is constant
    }
    assert declared, "the registry declares metrics"
    unfed = sorted(name for name in declared if not families.get(name))
    assert unfed == [], f"declared but never fed in production: {unfed}"
    kinds = {
        s.labels["kind"]
        for f in text_string_to_metric_families(text)
        if f.name == "mailguard_errors"
        for s in f.samples
        if s.value
    }
    assert "auth" in kinds, kinds  # the wrong password is an auth error, not a generic one
    assert textfile.exists() and "mailguard_messages_scanned_total" in textfile.read_text()
