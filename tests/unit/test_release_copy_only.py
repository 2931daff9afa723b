"""Release on a server that could only copy (issue 12, item 4), on the in-memory double.

The Dovecot version (tests/integration/test_interop.py) shows the user-visible
result; here the two branches are pinned down quickly: without UIDPLUS the
quarantine copy is left (never a plain EXPUNGE), and if the server offers
UIDPLUS by the time of the release, exactly that copy is deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailguard.app import App
from mailguard.config import AccountConfig, DetectionConfig, settings_from_dict
from mailguard.detect import Classifier
from mailguard.pipeline.digest_dispatch import to_item
from mailguard.pipeline.release import release_one
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAM = "en/01_callback_norton_renewal_plain.eml"


@pytest.mark.parametrize("uidplus_later", [False, True])
def test_copy_only_release_never_copies_back(tmp_path: Path, uidplus_later: bool) -> None:
    settings = settings_from_dict(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "accounts": [{"name": "mem", "host": "memory.invalid", "username": "u",
                          "password_env": "MG_MEMORY_PW", "language": "en"}],
        }
    )  # fmt: skip
    account = settings.accounts[0]
    # Courier-like namespace, and neither MOVE nor UIDPLUS: quarantining can only copy.
    server = MemoryMailServer(
        prefix="INBOX.", separator=".", special_use={}, hide_capabilities=["MOVE", "UIDPLUS"]
    )
    original = server.deliver("INBOX", (FIXTURES / SCAM).read_bytes(), flags=["\\Flagged"])

    def connect(_account: AccountConfig) -> MemoryMailClient:
        return server.client()

    classifier = Classifier.from_config(DetectionConfig())
    with App(settings, classifier=classifier, connect=connect) as app:
        summary = app.scan(account)
        assert summary.reached and summary.quarantined == 1
        assert server.uids("INBOX") == [original], "the original stays"
        assert len(server.uids("INBOX.Quarantine")) == 1
        [rec] = app.store.list_quarantine(account="mem")
        assert rec.move_method == "copy-only" and to_item(rec).copy_only

        if uidplus_later:
            server.capabilities = server.capabilities | {"UIDPLUS"}
        client = server.client()
        done = release_one(client, app.store, rec.id)
        sent = dict(client.commands.counts)
        assert app.store.get(rec.id).status == "released"

    assert server.uids("INBOX") == [original], "one copy in INBOX, not two"
    assert set(server.message("INBOX", original).flags) == {"\\Flagged"}, "flags untouched"
    assert "COPY" not in sent and "MOVE" not in sent and "APPEND" not in sent, sent
    assert (done.folder, done.uid) == ("INBOX", original)
    if uidplus_later:
        assert server.uids("INBOX.Quarantine") == [] and done.note is None
    else:
        assert len(server.uids("INBOX.Quarantine")) == 1, "left, untouched"
        assert done.note and "still in INBOX" in done.note
        assert "EXPUNGE" not in sent and "STORE" not in sent, sent
