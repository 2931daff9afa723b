"""The scan-and-quarantine promises on the in-memory mail double (issue 9, item 5): no Dovecot.

tests/integration/test_pipeline.py, test_reconcile.py and test_mailapp.py prove
these against a real Dovecot, one TLS login and one maildir per test. The double
(:class:`mailguard.testing.MemoryMailServer`) is held to Dovecot's behaviour by
tests/contract/, so the same promises are checked here in milliseconds, with
failures injected at exact commands (``server.fail`` or a hook), which a real
server cannot do:

* scams move with their flags, ham stays untouched, nothing is read twice;
* a crash after any IMAP command of a MOVE, a UIDPLUS move or a copy-only
  quarantine leaves every message in exactly one place after the next pass;
* a dry run changes nothing anywhere;
* one failing message is recorded and skipped;
* what the user does in the mail app (move back, report, delete) is recorded.

Every pass goes through the real composition root: ``App(settings, classifier=...,
connect=...)`` with the double's clients in place of IMAP connections.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mailguard.app import App
from mailguard.config import AccountConfig, DetectionConfig, Settings, settings_from_dict
from mailguard.detect import Classifier
from mailguard.imap.base import ConnectionLost
from mailguard.pipeline.release import release_one
from mailguard.state import StateStore
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer, iter_messages
from mailguard.vocabulary import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAMS = [
    "ja/01_one_click_video_registration.eml",
    "en/01_callback_norton_renewal_plain.eml",
    "ja/07_withdrawal_lure_unext_trial.eml",
]
HAMS = [
    "ja/51_real_invoice_hosting_monthly.eml",
    "en/51_real_invoice_stripe_hosting.eml",
    "ja/59_withdrawal_done_online_course.eml",
]
# Scams and hams interleaved, each with its own flags, so a crash lands mid-batch.
STANDARD: list[tuple[str, tuple[str, ...]]] = [
    (SCAMS[0], ("\\Seen",)),
    (HAMS[0], ("\\Seen",)),
    (SCAMS[1], ("\\Flagged",)),
    (HAMS[1], ("\\Flagged",)),
    (SCAMS[2], ()),
    (HAMS[2], ()),
]
# Our own words: bland enough that the classifier lets it through; the user knows better.
MISSED = (
    b"From: Points Desk <points@rewards-desk.example>\r\n"
    b"To: user@example.org\r\n"
    b"Subject: Your member points\r\n"
    b"Message-ID: <pts-mem-1@rewards-desk.example>\r\n"
    b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello, your member points statement is ready. Questions? Ring us on 0120-555-013.\r\n"
)
# The same sender's mail in words the rules alone make suspicious (no model needed).
PAST_DUE = MISSED.replace(
    b"Hello, your member points statement is ready. Questions? Ring us on",
    b"Final notice: your points are past due. Call",
)
WRITES = ("MOVE", "COPY", "STORE", "EXPUNGE", "APPEND", "CREATE", "SUBSCRIBE", "SELECT")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def mid_of(data: bytes) -> str:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("fixture without Message-ID")


def make_settings(tmp_path: Path, **sections: Any) -> Settings:
    account = {"name": "mem", "host": "memory.invalid", "username": "user@example.org",
               "password_env": "MG_MEMORY_PW", "language": "en", "country": "US"}  # fmt: skip
    account.update(sections.pop("account", {}))
    data: dict[str, Any] = {"state": {"path": str(tmp_path / "state" / "state.db")},
                            "accounts": [account]}  # fmt: skip
    data.update(sections)
    return settings_from_dict(data)


def fill(server: MemoryMailServer, folder: str, items: Sequence[tuple[str, Sequence[str]]]) -> None:
    for name, flags in items:
        server.deliver(folder, raw(name), flags=list(flags))


def contents(server: MemoryMailServer, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags of every message in ``folder``; a duplicate fails the test."""
    if not server.has_folder(folder):
        return {}
    out: dict[str, set[str]] = {}
    for msg in iter_messages(server, folder):
        [mid] = msg.headers("Message-ID")
        assert mid not in out, f"{mid} twice in {folder}"
        out[mid] = set(msg.flags)
    return out


def expected(items: Sequence[tuple[str, Sequence[str]]]) -> dict[str, set[str]]:
    return {mid_of(raw(n)): set(fl) for n, fl in items}


class Connections:
    """The connector handed to App: one fresh double client per connection, all kept for
    command-count assertions (a plain EXPUNGE by any of them fails the test)."""

    def __init__(self, server: MemoryMailServer) -> None:
        self.server = server
        self.clients: list[MemoryMailClient] = []

    def __call__(self, _account: AccountConfig) -> MemoryMailClient:
        self.clients.append(self.server.client())
        return self.clients[-1]

    def sent(self, verb: str) -> int:
        return sum(c.commands[verb] for c in self.clients)

    def plain_expunges(self) -> int:
        return sum(c.commands.plain("EXPUNGE") for c in self.clients)


def fail_nth(server: MemoryMailServer, verb: str, n: int, when: str) -> list[int]:
    """The ``n``-th ``verb`` command loses the connection ``when`` ("before"/"after" the
    server ran it); returns a one-item list counting how often it fired."""
    seen, fired = [0], [0]

    def hook(client: MemoryMailClient, v: str, phase: str) -> None:
        if v != verb or phase != when:
            return
        seen[0] += 1
        if seen[0] == n:
            fired[0] += 1
            raise ConnectionLost(f"{verb} {when}: connection lost (injected)")

    server.add_hook(hook)
    return fired


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_config(DetectionConfig())


# -- the basic promises ----------------------------------------------------------------------
def test_scams_move_with_flags_ham_stays_untouched(tmp_path: Path, classifier: Classifier) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    fill(server, "INBOX", STANDARD)
    conns = Connections(server)
    with App(settings, classifier=classifier, connect=conns) as app:
        summary = app.scan(settings.accounts[0])
        assert summary.reached, summary.error
        assert (summary.scanned, summary.quarantined, summary.errors) == (6, 3, 0)
        want = expected(STANDARD)
        inbox, quarantine = contents(server, "INBOX"), contents(server, "Quarantine")
        assert set(inbox) == {mid_of(raw(n)) for n in HAMS}
        assert set(quarantine) == {mid_of(raw(n)) for n in SCAMS}
        for mid, flags in {**inbox, **quarantine}.items():
            assert flags == want[mid], f"flags of {mid} changed: {flags} != {want[mid]}"
        recs = app.store.list_quarantine(account="mem")
        assert {r.message_id for r in recs} == set(quarantine)
        for r in recs:
            assert r.reasons, "every verdict carries its reasons"
            actions = [e.action for e in app.store.audit_entries(quarantine_id=r.id)]
            assert actions.index("move.intent") < actions.index("move.confirmed")
    assert conns.plain_expunges() == 0


def test_second_pass_fetches_nothing_and_new_mail_alone_is_read(
    tmp_path: Path, classifier: Classifier
) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    fill(server, "INBOX", STANDARD)
    account = settings.accounts[0]
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(account).quarantined == 3
        before = (contents(server, "INBOX"), contents(server, "Quarantine"))
        again = app.scan(account)  # a fresh connection: LOGIN, then STATUS per folder
        assert (again.scanned, again.quarantined) == (0, 0)
        assert again.commands.get("FETCH", 0) == 0, again.commands
        assert again.commands.get("SELECT", 0) == 0, again.commands
        assert (contents(server, "INBOX"), contents(server, "Quarantine")) == before
        server.deliver("INBOX", raw(SCAMS[1]).replace(b"@mail.gmail.com>", b"@new.example>", 1))
        newer = app.scan(account)
        assert (newer.scanned, newer.quarantined) == (1, 1), "only the new message is read"
    with App(settings, classifier=classifier, pooled=True, connect=Connections(server)) as app:
        app.scan(account)  # the daemon's kept connection: the first pass logs in
        idle = app.scan(account)
        assert idle.commands == {"NOOP": 1, "STATUS": 3}, idle.commands


def test_uidvalidity_change_does_not_duplicate(tmp_path: Path, classifier: Classifier) -> None:
    items = [(SCAMS[0], ()), (SCAMS[1], ()), (HAMS[0], ())]
    server = MemoryMailServer(folders=["Work"])
    settings = make_settings(tmp_path, account={"folders": ["Work"]})
    fill(server, "Work", items)
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(settings.accounts[0]).quarantined == 2
        old_validity = server.status("Work").uidvalidity
        # The folder is restored from a backup: the same messages, a new UIDVALIDITY.
        server.delete_folder("Work")
        server.create_folder("Work", subscribe=True)
        fill(server, "Work", items)
        assert server.status("Work").uidvalidity != old_validity
        second = app.scan(settings.accounts[0])
        assert second.reached, second.error
        assert second.quarantined == 0
        assert len(contents(server, "Quarantine")) == 2  # contents() fails on a duplicate
        assert len(app.store.list_quarantine(account="mem")) == 2


# -- a crash at any command leaves every message in exactly one place --------------------------
CRASHES = [
    # (server kind, command that loses the connection, before/after the server ran it)
    ("move", "MOVE", "after"),
    ("move", "MOVE", "before"),
    ("uidplus", "COPY", "after"),  # copied, nothing flagged
    ("uidplus", "STORE", "after"),  # copied and \Deleted on the source, not expunged
    ("uidplus", "EXPUNGE", "before"),  # the same, seen from the EXPUNGE side
    ("uidplus", "EXPUNGE", "after"),  # moved, the answer lost
    ("copy-only", "COPY", "after"),
    ("copy-only", "COPY", "before"),
]
HIDE = {"move": [], "uidplus": ["MOVE"], "copy-only": ["MOVE", "UIDPLUS"]}


@pytest.mark.parametrize(("kind", "verb", "when"), CRASHES, ids=["-".join(c) for c in CRASHES])
def test_a_crash_leaves_every_message_in_exactly_one_place(
    tmp_path: Path, classifier: Classifier, kind: str, verb: str, when: str
) -> None:
    server = MemoryMailServer(hide_capabilities=HIDE[kind])
    settings = make_settings(tmp_path, scan={"batch_size": 2})
    fill(server, "INBOX", STANDARD)
    fired = fail_nth(server, verb, 2, when)  # the second scam's move, mid-pass
    conns = Connections(server)
    with App(settings, classifier=classifier, connect=conns) as app:
        first = app.scan(settings.accounts[0])
        assert fired == [1], "the injected failure happened"
        assert not first.reached and conns.clients[-1].closed
        after = app.scan(settings.accounts[0])
        assert after.reached, after.error
        assert app.store.pending_moves("mem") == []
        recs = app.store.list_quarantine(account="mem")
        for r in recs:
            actions = [e.action for e in app.store.audit_entries(quarantine_id=r.id)]
            assert "move.intent" in actions, actions
            assert "move.confirmed" in actions or "move.reconciled" in actions, actions

    want = expected(STANDARD)
    inbox, quarantine = contents(server, "INBOX"), contents(server, "Quarantine")
    scams = {mid_of(raw(n)) for n in SCAMS}
    assert set(quarantine) == scams, "each scam exactly once in Quarantine"
    assert {r.message_id for r in recs} == scams, "the records agree with the mailbox"
    if kind == "copy-only":
        # No way to delete exactly one message: every original stays, once, as it was.
        assert set(inbox) == set(want)
        assert {r.move_method for r in recs} == {"copy-only"}
    else:
        assert set(inbox) == set(want) - scams, "nothing in two places, nothing lost"
    for mid, flags in {**inbox, **quarantine}.items():
        assert flags == want[mid], f"{mid}: {flags} (a stray \\Deleted would show here)"
    assert conns.plain_expunges() == 0


# -- dry run --------------------------------------------------------------------------------
def table_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def test_dry_run_changes_nothing(tmp_path: Path, classifier: Classifier) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    fill(server, "INBOX", STANDARD)
    before = contents(server, "INBOX")
    folders = server.folders()
    conns = Connections(server)
    with App(settings, classifier=classifier, connect=conns) as app:
        summary = app.scan(settings.accounts[0], dry_run=True)
    assert summary.reached, summary.error
    assert (summary.scanned, summary.quarantined) == (6, 3), "it reports what it would do"
    assert len(summary.planned) == 3 and all("would move" in p for p in summary.planned)
    assert contents(server, "INBOX") == before, "no message moved, no flag changed"
    assert server.folders() == folders, "no Quarantine or report folder created"
    for verb in WRITES:
        assert conns.sent(verb) == 0, f"a dry run sent {verb}"
    assert conns.sent("EXAMINE") >= 1, "it did read the INBOX"
    # The state file holds exactly what a freshly opened one holds: no row of this pass.
    with StateStore.open(tmp_path / "fresh.db"):
        pass
    assert table_rows(settings.state.path) == table_rows(tmp_path / "fresh.db")
    assert not (settings.state.path.parent / "digest.key").exists()


# -- one message never stops an account --------------------------------------------------------
class FailsOnSubject(Classifier):
    """The real classifier, except that it breaks on one subject (a bug in a rule, say)."""

    marker = "invoice from Acme"

    def classify(self, msg: Any, context: Any = None) -> Any:
        if self.marker in msg.subject:
            raise RuntimeError("rule engine bug on this message")
        return super().classify(msg, context)


def test_a_failing_message_is_recorded_and_skipped(tmp_path: Path) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    fill(server, "INBOX", [(HAMS[1], ()), (SCAMS[0], ()), (SCAMS[1], ())])
    broken = FailsOnSubject.from_config(DetectionConfig())
    with App(settings, classifier=broken, connect=Connections(server)) as app:
        summary = app.scan(settings.accounts[0])
        assert summary.reached, "one message must never stop an account"
        assert (summary.scanned, summary.quarantined, summary.errors) == (3, 2, 1)
        assert summary.error_kinds == {"classify": 1}
        [err] = app.store.message_errors("mem")
        assert "rule engine bug" in err.error and err.folder == "INBOX"
        assert server.uids("INBOX") == [err.uid], "the failed one is left where it was"
        state = app.store.get_folder_state("mem", "INBOX")
        assert state is not None and state.last_uid >= err.uid, "the position moved past it"
        assert [e.uid for e in app.digests.unchecked(settings.accounts[0])] == [err.uid]
        again = app.scan(settings.accounts[0])
        assert (again.scanned, again.errors) == (0, 0), "not tripped over twice"
        assert app.store.message_error_count("mem") == 1


# -- release ---------------------------------------------------------------------------------
def test_copy_only_release_leaves_one_copy_and_the_next_pass_keeps_it(
    tmp_path: Path, classifier: Classifier
) -> None:
    server = MemoryMailServer(hide_capabilities=["MOVE", "UIDPLUS"])
    settings = make_settings(tmp_path)
    original = server.deliver("INBOX", raw(SCAMS[1]), flags=["\\Flagged"])
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(settings.accounts[0]).quarantined == 1
        [rec] = app.store.list_quarantine(account="mem")
        assert rec.move_method == "copy-only"
        client = server.client()
        done = release_one(client, app.store, rec.id)
        assert client.commands["COPY"] + client.commands["APPEND"] == 0, "never copied back"
        assert (done.folder, done.uid) == ("INBOX", original)
        again = app.scan(settings.accounts[0])  # the released original is not held again
        assert (again.quarantined, again.errors) == (0, 0)
        assert app.store.get(rec.id).status == Status.RELEASED  # type: ignore[union-attr]
        assert len(app.store.list_quarantine(account="mem", status=None)) == 1
    assert server.uids("INBOX") == [original], "one copy in INBOX, not two"
    assert server.flags("INBOX") == {original: ("\\Flagged",)}
    assert len(server.uids("Quarantine")) == 1, "the quarantine copy is left, untouched"


# -- the mail app as user interface ---------------------------------------------------------
def test_release_by_moving_is_recorded_and_not_undone(
    tmp_path: Path, classifier: Classifier
) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    server.deliver("INBOX", raw(SCAMS[1]), flags=["\\Seen"])
    mid = mid_of(raw(SCAMS[1]))
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(settings.accounts[0]).quarantined == 1
        [rec] = app.store.list_quarantine(account="mem")
        users_app = server.client()  # the user drags it back: "this one is mine"
        [uid] = server.uids("Quarantine")
        users_app.move("Quarantine", uid, "INBOX")
        summary = app.scan(settings.accounts[0])
        assert summary.reached and summary.quarantined == 0
        assert app.store.get(rec.id).status == Status.RELEASED  # type: ignore[union-attr]
        entries = {e.action: e for e in app.store.audit_entries(quarantine_id=rec.id)}
        assert entries["release.by_move"].detail["folder"] == "INBOX"
        assert app.store.user_actions("mem")[rec.id].action == "released_by_move"
        assert app.store.is_released_sender("mem", rec.from_addr or "")
        app.scan(settings.accounts[0])
    assert set(contents(server, "INBOX")) == {mid}, "left in the INBOX, not moved again"
    assert contents(server, "INBOX")[mid] == {"\\Seen"}
    assert contents(server, "Quarantine") == {}


def test_report_by_moving_is_held_and_learned(tmp_path: Path, classifier: Classifier) -> None:
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    account = settings.accounts[0]
    uid = server.deliver("INBOX", MISSED, flags=["\\Seen"])
    mid = mid_of(MISSED)
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(account).quarantined == 0, "the classifier lets it through"
        assert server.has_folder(account.report), "the report folder is offered to the user"
        server.client().move("INBOX", uid, account.report)  # the user: "this is a scam"
        app.scan(account)
        assert set(contents(server, "Quarantine")) == {mid}
        assert contents(server, "Quarantine")[mid] == {"\\Seen"}, "flags kept"
        assert contents(server, account.report) == {} and contents(server, "INBOX") == {}
        [rec] = app.store.list_quarantine(account="mem")
        assert rec.verdict == "scam" and rec.original_folder == account.report
        assert rec.reasons[0]["rule"] == "user.reported"
        actions = [e.action for e in app.store.audit_entries(quarantine_id=rec.id)]
        assert actions.index("move.intent") < actions.index("move.confirmed")
        assert "report.by_move" in actions
        learned = app.store.reported_features("mem")
        assert learned["sender"] == {"points@rewards-desk.example"}
        assert learned["phone"] == {"0120555013"}
        # What was learned counts: the same sender's next, equally bland mail is held.
        nxt = MISSED.replace(b"pts-mem-1", b"pts-mem-2").replace(b"is ready", b"is attached")
        server.deliver("INBOX", nxt)
        assert app.scan(account).quarantined == 1
        assert "user.reported_sender" in [
            r["rule"] for r in app.store.list_quarantine(account="mem")[-1].reasons
        ]


def test_reporting_a_suspicious_message_holds_it_under_its_one_record(tmp_path: Path) -> None:
    """Mentioned as suspicious, then reported: the move is recorded first and reversible."""
    rules_only = Classifier.rules_only()  # the verdict must not hang on the model
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    account = settings.accounts[0]
    mail = PAST_DUE
    uid = server.deliver("INBOX", mail, flags=["\\Seen"])
    mid = mid_of(mail)
    with App(settings, classifier=rules_only, connect=Connections(server)) as app:
        assert app.scan(account).quarantined == 0
        [first] = app.store.list_quarantine(account="mem", status=None)
        assert first.status == Status.SUSPICIOUS and first.original_folder == "INBOX"
        server.client().move("INBOX", uid, account.report)  # the user: "this is a scam"
        app.scan(account)
        assert set(contents(server, "Quarantine")) == {mid}
        assert contents(server, "Quarantine")[mid] == {"\\Seen"}, "flags kept"
        assert contents(server, account.report) == {} and contents(server, "INBOX") == {}
        [rec] = app.store.list_quarantine(account="mem", status=None)
        assert rec.id == first.id, "one message, one record"
        assert rec.status == Status.QUARANTINED and rec.verdict == "scam"
        assert rec.original_folder == account.report
        assert rec.reasons[0]["rule"] == "user.reported"
        actions = [e.action for e in app.store.audit_entries(quarantine_id=rec.id)]
        assert actions.index("move.intent") < actions.index("move.confirmed")
        assert "report.by_move" in actions
        assert app.store.reported_features("mem")["sender"] == {"points@rewards-desk.example"}
        release_one(server.client(), app.store, rec.id)
    assert set(contents(server, account.report)) == {mid}, "released back to where it was taken"
    assert contents(server, "Quarantine") == {}


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_while_holding_a_reported_suspicious_message_loses_nothing(
    tmp_path: Path, when: str
) -> None:
    """The connection drops on the move out of the report folder: the next pass settles it."""
    server, settings = MemoryMailServer(), make_settings(tmp_path)
    account = settings.accounts[0]
    mail = PAST_DUE
    uid = server.deliver("INBOX", mail, flags=["\\Seen"])
    mid = mid_of(mail)
    with App(settings, classifier=Classifier.rules_only(), connect=Connections(server)) as app:
        app.scan(account)
        server.client().move("INBOX", uid, account.report)
        fired = fail_nth(server, "MOVE", 1, when)
        assert not app.scan(account).reached and fired == [1], "the injected failure happened"
        # The next passes settle it: reconciled, or left in the report folder (a move
        # that never ran) and held on the pass after. It is in one place throughout.
        for _ in range(2):
            assert app.scan(account).reached
            places = [f for f in ("INBOX", account.report, "Quarantine") if contents(server, f)]
            assert len(places) == 1 and sum(len(contents(server, f)) for f in places) == 1
        assert app.store.pending_moves("mem") == []
        held = app.store.list_quarantine(account="mem")
        assert [r.message_id for r in held] == [mid], "held under one live record"
    assert contents(server, "Quarantine") == {mid: {"\\Seen"}}, "once, flags kept"
    assert contents(server, account.report) == {} and contents(server, "INBOX") == {}


def test_deleted_by_the_user_is_recorded_and_teaches_nothing(
    tmp_path: Path, classifier: Classifier
) -> None:
    server, settings = MemoryMailServer(folders=["Trash"]), make_settings(tmp_path)
    data = raw(SCAMS[1])
    server.deliver("INBOX", data.replace(b"@mail.gmail.com>", b"@trash.example>", 1))
    server.deliver("INBOX", data.replace(b"@mail.gmail.com>", b"@gone.example>", 1))
    with App(settings, classifier=classifier, connect=Connections(server)) as app:
        assert app.scan(settings.accounts[0]).quarantined == 2
        to_trash, to_expunge = server.uids("Quarantine")
        users_app = server.client()
        users_app.move("Quarantine", to_trash, "Trash")  # the mail app's "delete"
        server.add_flags("Quarantine", [to_expunge], ["\\Deleted"])  # ... and a hard delete
        server.expunge_deleted("Quarantine")
        summary = app.scan(settings.accounts[0])
        assert summary.reached and summary.quarantined == 0
        recs = app.store.list_quarantine(account="mem", status=None)
        assert len(recs) == 2 and {r.status for r in recs} == {Status.DELETED}
        for r in recs:
            actions = [e.action for e in app.store.audit_entries(quarantine_id=r.id)]
            assert "quarantine.deleted_by_user" in actions
        assert not app.store.is_released_sender("mem", recs[0].from_addr or "")
        assert app.store.reported_features("mem")["sender"] == frozenset()
        assert {a.action for a in app.store.user_actions("mem").values()} == {"deleted_by_user"}
    assert len(server.uids("Trash")) == 1 and server.uids("INBOX") == []
