"""One scan pass (pipeline/scan.py) on the in-memory mail double: fast, no Dovecot.

Deliberately small: pipeline/ is being refactored, and the end-to-end promises
are proven against Dovecot in tests/integration/test_pipeline.py. This shows the
double is enough to drive the scanner, including a connection lost right after a
MOVE the server carried out, which the next pass must reconcile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.config import DetectionConfig, settings_from_dict
from mailguard.detect import Classifier
from mailguard.imap import ConnectionLost
from mailguard.pipeline.scan import AccountScanner
from mailguard.state import StateStore
from mailguard.testing.memory_mail import MemoryMailServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAM = "en/01_callback_norton_renewal_plain.eml"
HAM = "en/51_real_invoice_stripe_hosting.eml"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_config(DetectionConfig())


def test_scan_pass_on_the_memory_double(tmp_path: Path, classifier: Classifier) -> None:
    settings = settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "accounts": [
                {
                    "name": "mem",
                    "host": "memory.invalid",
                    "username": "user",
                    "password_env": "MG_MEMORY_PW",
                    "language": "en",
                }
            ],
        }
    )
    account = settings.accounts[0]
    server = MemoryMailServer()
    scam = server.deliver("INBOX", (FIXTURES / SCAM).read_bytes(), flags=["\\Flagged"])
    ham = server.deliver("INBOX", (FIXTURES / HAM).read_bytes(), flags=["\\Seen"])
    store = StateStore.open(settings.state.path)
    try:
        # First pass: the server moves the scam but the connection drops before the answer.
        # The scanner lets ConnectionLost out (scan_account turns it into "not reached").
        server.fail("MOVE", when="after")
        client = server.client()
        scanner = AccountScanner(settings, account, store, classifier, client)
        with pytest.raises(ConnectionLost):
            scanner.run()
        assert scanner.summary.quarantined == 0 and client.closed
        assert server.uids("INBOX") == [ham]
        assert len(server.uids(account.quarantine_folder)) == 1
        assert [r.original_uid for r in store.pending_moves(account.name)] == [scam]

        # Second pass: reconciliation finds the scam in quarantine only and confirms the
        # move; the ham (never reached) is scanned now and stays where it was, flags intact.
        client = server.client()
        again = AccountScanner(settings, account, store, classifier, client).run()
        assert store.pending_moves(account.name) == []
        assert (again.scanned, again.quarantined) == (1, 0)
        assert server.flags("INBOX") == {ham: ("\\Seen",)}
        assert list(server.flags(account.quarantine_folder).values()) == [("\\Flagged",)]
        assert client.commands.plain("EXPUNGE") == 0

        # Third pass: nothing new, so one STATUS and no FETCH.
        client = server.client()
        AccountScanner(settings, account, store, classifier, client).run()
        assert client.commands["FETCH"] == 0 and client.commands["STATUS"] == 1
    finally:
        store.close()
