"""Crash reconciliation on a real Dovecot: every message ends in exactly one place.

Crashes are injected in-process: a MailClient wrapper performs part of the
move on the real server (through a second connection, the way the real client
would have) and then raises SystemExit, so the state file holds a committed
intent and the server holds whatever the crash left. The next pass must
settle it without losing, duplicating or re-flagging anything -- even when
two different messages share one Message-ID, or a message has none, or has
one the server cannot search for.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailguard.app import App
from mailguard.config import DetectionConfig, Settings, settings_from_dict
from mailguard.detect import Classifier
from mailguard.imap.base import MailClient
from mailguard.state import StateStore
from mailguard.testing import DovecotServer, Mailbox

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
SCAM_FILES = [
    "ja/01_one_click_video_registration.eml",
    "en/01_callback_norton_renewal_plain.eml",
    "ja/07_withdrawal_lure_unext_trial.eml",
    "ja/03_unpaid_mass_settlement_customer_number.eml",
]
HAM_FILES = ["ja/51_real_invoice_hosting_monthly.eml", "en/51_real_invoice_stripe_hosting.eml"]

# Server kinds: what the real client does differs (MOVE; UIDPLUS COPY+STORE+EXPUNGE;
# MOVE without COPYUID; copy-only).
SERVERS: dict[str, list[str]] = {
    "move": [],
    "move-hidden": ["MOVE"],
    "uidplus-hidden": ["UIDPLUS"],
    "copy-only": ["MOVE", "UIDPLUS"],
}
# "flagged-copy": \Deleted stored *before* the copy, so the copy carries it too (the state an
# older mailguard left when it copied a second time after such a crash).
CRASH_POINTS = ["intent", "copy", "store", "flagged-copy", "move"]
SHARED_MID = "<same-id-for-two@scam.example>"
HOSTILE_MID = "<a)(b@scam.example>"
_MID_RE = re.compile(rb"^Message-I[dD]:[^\r\n]*\r?\n", re.MULTILINE)


def with_message_id(data: bytes, mid: str | None) -> bytes:
    """The message with its Message-ID replaced (None: removed). Our own test variants."""
    eol = b"\r\n" if b"\r\n" in data[:2000] else b"\n"
    head, sep, body = data.partition(eol + eol)
    head = _MID_RE.sub(b"", head + eol)[: -len(eol)]
    if mid is not None:
        head += eol + b"Message-ID: " + mid.encode()
    return head + sep + body


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Item:
    data: bytes
    flags: tuple[bytes, ...]
    scam: bool


def contents(mb: Mailbox, folder: str) -> list[tuple[str, frozenset[str]]]:
    """(sha256 of the bytes, flags without \\Recent) of every message in ``folder``."""
    c = mb.client()
    try:
        if not c.folder_exists(folder):
            return []
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        if not uids:
            return []
        out = []
        for _uid, d in c.fetch(uids, ["FLAGS", "BODY.PEEK[]"]).items():
            flags = frozenset(f.decode() for f in d[b"FLAGS"]) - {"\\Recent"}
            out.append((sha(bytes(d[b"BODY[]"])), flags))
        return out
    finally:
        c.logout()


def deliver(mb: Mailbox, items: list[Item]) -> None:
    c = mb.client()
    try:
        for it in items:
            c.append("INBOX", it.data, flags=it.flags)
    finally:
        c.logout()


class CrashingClient:
    """The real client, except that the Nth move stops at ``point`` and 'crashes'.

    ``intent``: nothing reaches the server. ``copy``: UID COPY done. ``store``: COPY
    and ``+FLAGS (\\Deleted)`` on the source done. ``move``: the whole move done.
    Each time the process then dies before confirming (SystemExit).
    """

    def __init__(self, inner: MailClient, mb: Mailbox, point: str, nth: int) -> None:
        self._inner, self._mb, self._point, self._left = inner, mb, point, nth

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def move(self, folder: str, uid: int, dest: str) -> Any:
        self._left -= 1
        if self._left > 0:
            return self._inner.move(folder, uid, dest)
        if self._point == "move":
            self._inner.move(folder, uid, dest)
        elif self._point in ("copy", "store", "flagged-copy"):
            other = self._mb.client()
            try:
                other.select_folder(folder)
                if self._point == "flagged-copy":
                    other.add_flags([uid], [b"\\Deleted"], silent=True)
                other.copy([uid], dest)
                if self._point == "store":
                    other.add_flags([uid], [b"\\Deleted"], silent=True)
            finally:
                other.logout()
        raise SystemExit(f"simulated crash at {self._point}")


def make_settings(tmp_path: Path, mb: Mailbox, env: str) -> Settings:
    account = {
        "name": "acct",
        "host": mb.host,
        "port": mb.port,
        "security": "tls",
        "tls_ca_file": str(mb.ca_file),
        "username": mb.user,
        "password_env": env,
        "timeout": "10s",
        "language": "en",
        "country": "US",
    }
    return settings_from_dict(
        {"state": {"path": str(tmp_path / "state.db")}, "accounts": [account],
         "scan": {"check_sent_folder": False}}
    )  # fmt: skip


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_config(DetectionConfig())


def run_pass(
    settings: Settings,
    classifier: Classifier,
    monkeypatch: pytest.MonkeyPatch,
    wrap: Callable[[MailClient], MailClient] | None = None,
) -> Any:
    with App(settings, classifier=classifier) as app:
        if wrap is not None:
            real = app.connect
            app.connect = lambda a: wrap(real(a))
        return app.scan(settings.accounts[0])


def leaves_copy(kind: str, point: str) -> bool:
    """Whether the original legitimately stays in the source folder too.

    Always on a copy-only server. On a server without UIDPLUS a half-done COPY
    (impossible with its atomic MOVE, but injected here) cannot be finished
    either: there is no way to expunge one UID, so reconciliation leaves the
    documented copy-only state rather than risk a mailbox-wide EXPUNGE.
    """
    half_done = ("copy", "store", "flagged-copy")
    return kind == "copy-only" or (kind == "uidplus-hidden" and point in half_done)


def stays(kind: str, point: str, items: list[Item], crashed: Item | None) -> set[str]:
    """Hashes of the scams whose original legitimately stays in the source folder too."""
    if kind == "copy-only":
        return {sha(it.data) for it in items if it.scam}
    if crashed is not None and leaves_copy(kind, point):
        return {sha(crashed.data)}
    return set()


def check_invariant(mb: Mailbox, settings: Settings, items: list[Item], stay: set[str]) -> None:
    """Every message exactly once, flags unchanged, every quarantined message listed.

    "Once" means: a scam in quarantine once and nowhere else, a ham in the INBOX
    once; a scam in ``stay`` (copy-only) in quarantine once *and* in the INBOX once.
    """
    inbox = Counter(contents(mb, "INBOX"))
    quarantine = Counter(contents(mb, "Quarantine"))
    want_flags = {sha(it.data): frozenset(f.decode() for f in it.flags) for it in items}
    for it in items:
        h, flags = sha(it.data), want_flags[sha(it.data)]
        where_in, where_q = inbox[(h, flags)], quarantine[(h, flags)]
        if it.scam:
            assert where_q == 1, f"scam {h[:8]} in quarantine {where_q} times (flags {flags})"
            want_in = 1 if h in stay else 0
            assert where_in == want_in, f"scam {h[:8]} in INBOX {where_in} times"
        else:
            assert (where_in, where_q) == (1, 0), f"ham {h[:8]}: INBOX {where_in}, Q {where_q}"
    # Nothing else anywhere (no stray copies, no changed flags).
    assert sum(inbox.values()) == sum(1 for it in items if not it.scam or sha(it.data) in stay)
    assert sum(quarantine.values()) == sum(1 for it in items if it.scam)
    with StateStore.open(settings.state.path) as store:
        assert store.pending_moves("acct") == []
        listed = store.list_quarantine(account="acct")
        assert sorted(r.sha256 for r in listed) == sorted(h for h, _f in quarantine)
        uids = [r.quarantine_uid for r in listed]
        assert None not in uids and len(set(uids)) == len(uids), "one row per copy"


@pytest.fixture(scope="module")
def servers(dovecot_factory: Callable[..., DovecotServer]) -> dict[str, DovecotServer]:
    return {
        kind: dovecot_factory(hide_capabilities=hide) if hide else dovecot_factory()
        for kind, hide in SERVERS.items()
    }


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mailbox], str]]:
    n = iter(range(10_000))

    def set_(mb: Mailbox) -> str:
        name = f"MG_RECONCILE_PW_{next(n)}"
        monkeypatch.setenv(name, mb.password)
        return name

    yield set_


# -- item 1 and 4: two different scams, one Message-ID, a crash at each step -------------------
@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("kind", list(SERVERS))
def test_shared_message_id_crash_never_loses_or_duplicates(
    servers: dict[str, DovecotServer],
    kind: str,
    point: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
) -> None:
    server = servers[kind]
    mb = server.mailbox(server.unique_name(f"mid-{kind}-{point}"))
    settings = make_settings(tmp_path, mb, password_env(mb))
    a = Item(with_message_id(raw(SCAM_FILES[0]), SHARED_MID), (b"\\Seen",), True)
    b = Item(with_message_id(raw(SCAM_FILES[1]), SHARED_MID), (b"\\Flagged",), True)
    ham = Item(raw(HAM_FILES[0]), (), False)
    deliver(mb, [a, ham])
    first = run_pass(settings, classifier, monkeypatch)
    assert first.reached and first.quarantined == 1, first
    deliver(mb, [b])
    with pytest.raises(SystemExit):
        run_pass(settings, classifier, monkeypatch, lambda c: CrashingClient(c, mb, point, 1))
    after = run_pass(settings, classifier, monkeypatch)
    assert after.reached, after.error
    check_invariant(mb, settings, [a, b, ham], stays(kind, point, [a, b, ham], b))


# -- item 3: orphans without a (searchable) Message-ID --------------------------------------
@pytest.mark.parametrize("mid", [None, HOSTILE_MID], ids=["no-message-id", "paren-message-id"])
@pytest.mark.parametrize("kind", ["move", "move-hidden", "uidplus-hidden"])
def test_orphan_without_searchable_message_id_is_found_and_listed(
    servers: dict[str, DovecotServer],
    kind: str,
    mid: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
) -> None:
    server = servers[kind]
    mb = server.mailbox(server.unique_name(f"orphan-{kind}"))
    settings = make_settings(tmp_path, mb, password_env(mb))
    scam = Item(with_message_id(raw(SCAM_FILES[2]), mid), (), True)
    deliver(mb, [scam, Item(raw(HAM_FILES[1]), (b"\\Seen",), False)])
    with pytest.raises(SystemExit):
        run_pass(settings, classifier, monkeypatch, lambda c: CrashingClient(c, mb, "move", 1))
    after = run_pass(settings, classifier, monkeypatch)
    assert after.reached, after.error
    check_invariant(mb, settings, [scam, Item(raw(HAM_FILES[1]), (b"\\Seen",), False)], set())
    with StateStore.open(settings.state.path) as store:
        [rec] = store.list_quarantine(account="acct")
        assert rec.sha256 == sha(scam.data)
        actions = [e.action for e in store.audit_entries(quarantine_id=rec.id)]
        assert "move.reconciled" in actions


def test_user_deleted_flag_is_kept_on_a_copy_only_server(
    servers: dict[str, DovecotServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
) -> None:
    """Only a \\Deleted *we* set is removed; one the user set stays on source and copy."""
    server = servers["copy-only"]
    mb = server.mailbox(server.unique_name("userdel"))
    settings = make_settings(tmp_path, mb, password_env(mb))
    scam = Item(raw(SCAM_FILES[3]), (b"\\Deleted",), True)
    deliver(mb, [scam])
    with pytest.raises(SystemExit):
        run_pass(settings, classifier, monkeypatch, lambda c: CrashingClient(c, mb, "store", 1))
    assert run_pass(settings, classifier, monkeypatch).reached
    check_invariant(mb, settings, [scam], {sha(scam.data)})


# -- the property: random mailboxes, random Message-IDs, random crash points ----------------
MID_MODES = st.sampled_from(["own", "shared", "missing", "hostile"])
FLAGS = st.sampled_from(
    [(), (b"\\Seen",), (b"\\Flagged",), (b"\\Seen", b"\\Answered"), (b"\\Deleted",)]
)


@st.composite
def mailboxes(draw: st.DrawFn) -> tuple[str, list[Item], str, int]:
    kind = draw(st.sampled_from(list(SERVERS)))
    n_scams = draw(st.integers(1, 3))
    scams = draw(st.permutations(SCAM_FILES))[:n_scams]
    items = []
    for name in scams:
        mode = draw(MID_MODES)
        data = raw(name)
        if mode == "shared":
            data = with_message_id(data, SHARED_MID)
        elif mode == "missing":
            data = with_message_id(data, None)
        elif mode == "hostile":
            data = with_message_id(data, HOSTILE_MID)
        items.append(Item(data, draw(FLAGS), True))
    if draw(st.booleans()):
        ham = with_message_id(raw(HAM_FILES[0]), SHARED_MID if draw(st.booleans()) else None)
        items.append(Item(ham, draw(FLAGS), False))
    items = draw(st.permutations(items))
    point = draw(st.sampled_from(CRASH_POINTS))
    nth = draw(st.integers(1, n_scams))
    return kind, list(items), point, nth


@settings(
    max_examples=int(os.environ.get("MG_RECONCILE_EXAMPLES", "20")),
    deadline=None,
    derandomize=not os.environ.get("MG_RECONCILE_EXAMPLES"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mailboxes())
def test_property_random_crash_points_keep_every_message_once(
    servers: dict[str, DovecotServer],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
    case: tuple[str, list[Item], str, int],
) -> None:
    kind, items, point, nth = case
    server = servers[kind]
    mb = server.mailbox(server.unique_name("prop"))
    settings = make_settings(tmp_path_factory.mktemp("prop"), mb, password_env(mb))
    # Half the mail arrives before a clean pass, the rest before the crashing one.
    half = len(items) // 2
    deliver(mb, items[:half])
    assert run_pass(settings, classifier, monkeypatch).reached
    deliver(mb, items[half:])
    later_scams = [it for it in items[half:] if it.scam]
    crashed = later_scams[min(nth, len(later_scams)) - 1] if later_scams else None
    if later_scams:
        with pytest.raises(SystemExit):
            run_pass(
                settings,
                classifier,
                monkeypatch,
                lambda c: CrashingClient(c, mb, point, min(nth, len(later_scams))),
            )
    after = run_pass(settings, classifier, monkeypatch)
    assert after.reached, after.error
    check_invariant(mb, settings, items, stays(kind, point, items, crashed))


# -- item 7: the disk holding the state file fills up mid-pass ------------------------------
def _leave_free(directory: Path, free: int) -> Path:
    """Fill ``directory``'s filesystem, then give back ``free`` bytes."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(filler.stat().st_size - free, 0))
    return filler


def test_full_disk_mid_pass_stops_cleanly_and_loses_nothing(
    servers: dict[str, DovecotServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
) -> None:
    fs = tmp_path / "fs"
    fs.mkdir()
    if (
        os.geteuid() != 0
        or not shutil.which("mount")
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(fs)], check=False
        ).returncode
    ):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        server = servers["move"]
        mb = server.mailbox(server.unique_name("diskfull"))
        settings = settings_from_dict(
            {
                **make_settings(tmp_path, mb, password_env(mb)).model_dump(mode="json"),
                "state": {"path": str(fs / "state.db")},
            }
        )
        items = [Item(raw(n), (b"\\Seen",), True) for n in SCAM_FILES]
        deliver(mb, items)
        StateStore.open(settings.state.path).close()
        filler = _leave_free(fs, 160 * 1024)
        summary = run_pass(settings, classifier, monkeypatch)
        assert not summary.reached
        assert f"the disk holding {fs} is full" in (summary.error or "")
        assert "nothing was moved after message" in (summary.error or "")
        inbox, quarantine = Counter(contents(mb, "INBOX")), Counter(contents(mb, "Quarantine"))
        for it in items:  # mid-pass: each message in exactly one place, flags unchanged
            key = (sha(it.data), frozenset({"\\Seen"}))
            assert inbox[key] + quarantine[key] == 1
        filler.unlink()
        assert run_pass(settings, classifier, monkeypatch).reached
        check_invariant(mb, settings, items, set())
    finally:
        subprocess.run(["umount", str(fs)], check=False)


@pytest.mark.parametrize("kind", ["move", "uidplus-hidden"])
def test_release_of_one_of_two_scams_sharing_a_message_id_moves_that_one(
    servers: dict[str, DovecotServer],
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    classifier: Classifier,
    password_env: Callable[[Mailbox], str],
) -> None:
    from mailguard.pipeline.release import release_one

    server = servers[kind]
    mb = server.mailbox(server.unique_name(f"rel-{kind}"))
    settings = make_settings(tmp_path, mb, password_env(mb))
    a = Item(with_message_id(raw(SCAM_FILES[0]), SHARED_MID), (b"\\Seen",), True)
    b = Item(with_message_id(raw(SCAM_FILES[1]), SHARED_MID), (), True)
    deliver(mb, [a, b])
    assert run_pass(settings, classifier, monkeypatch).quarantined == 2
    with StateStore.open(settings.state.path) as store:
        [rec_a] = [r for r in store.list_quarantine(account="acct") if r.sha256 == sha(a.data)]
        client = App(settings).connect(settings.accounts[0])
        try:
            release_one(client, store, rec_a.id)
        finally:
            client.logout()
    assert contents(mb, "INBOX") == [(sha(a.data), frozenset({"\\Seen"}))]
    assert contents(mb, "Quarantine") == [(sha(b.data), frozenset())]
