"""One scan pass (pipeline/scan.py) on the in-memory mail double: fast, no Dovecot.

Deliberately small: pipeline/ is being refactored, and the end-to-end promises
are proven against Dovecot in tests/integration/test_pipeline.py. This shows the
double is enough to drive the scanner, including a connection lost right after a
MOVE the server carried out, which the next pass must reconcile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.app import App
from mailguard.config import AccountConfig, DetectionConfig, settings_from_dict
from mailguard.detect import Classifier
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer

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
    clients: list[MemoryMailClient] = []

    def connect(_account: AccountConfig) -> MemoryMailClient:
        clients.append(server.client())
        return clients[-1]

    with App(settings, classifier=classifier, connect=connect) as app:
        # First pass: the server moves the scam but the connection drops before the answer.
        server.fail("MOVE", when="after")
        first = app.scan(account)
        assert not first.reached and first.quarantined == 0 and clients[-1].closed
        assert server.uids("INBOX") == [ham]
        assert len(server.uids(account.quarantine_folder)) == 1
        assert [r.original_uid for r in app.store.pending_moves(account.name)] == [scam]

        # Second pass: reconciliation finds the scam in quarantine only and confirms the
        # move; the ham (never reached) is scanned now and stays where it was, flags intact.
        again = app.scan(account)
        assert again.reached and app.store.pending_moves(account.name) == []
        assert (again.scanned, again.quarantined) == (1, 0)
        assert server.flags("INBOX") == {ham: ("\\Seen",)}
        assert list(server.flags(account.quarantine_folder).values()) == [("\\Flagged",)]
        assert clients[-1].commands.plain("EXPUNGE") == 0

        # Third pass: nothing new, so one STATUS per folder (INBOX, and Quarantine and the
        # report folder for what the user did in the mail app) and no FETCH.
        app.scan(account)
        assert clients[-1].commands["FETCH"] == 0 and clients[-1].commands["STATUS"] == 3


def test_a_message_the_user_moves_away_before_our_move_is_left_alone(
    tmp_path: Path, classifier: Classifier
) -> None:
    """The mail app archives the scam between our FETCH and MOVE: nothing moved, no alarm."""
    settings = settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "accounts": [
                {"name": "mem", "host": "memory.invalid", "username": "u",
                 "password_env": "MG_MEMORY_PW"}
            ],
        }
    )  # fmt: skip
    account = settings.accounts[0]
    server = MemoryMailServer()
    scam = server.deliver("INBOX", (FIXTURES / SCAM).read_bytes())
    app_client = server.client()

    def users_app_moves_it(client: MemoryMailClient, verb: str, phase: str) -> None:
        if verb == "MOVE" and phase == "before" and client is not app_client:
            remove()
            app_client.ensure_folder("Archive")
            app_client.move("INBOX", scam, "Archive")

    remove = server.add_hook(users_app_moves_it)
    with App(settings, classifier=classifier, connect=lambda _a: server.client()) as app:
        summary = app.scan(account)
        assert summary.reached and summary.quarantined == 0
        assert app.store.pending_moves(account.name) == []
        assert server.uids("INBOX") == [] and len(server.uids("Archive")) == 1
        assert server.uids(account.quarantine_folder) == []
        record = app.store.get(1)  # the intent written before the MOVE was tried
        assert record is not None and record.status == "failed"
        assert record.original_uid == scam
