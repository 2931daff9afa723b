"""Per-account learning: released mail scores lower next time, reported scams higher."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from mailguard.detect import Classifier, ClassifyContext
from mailguard.detect.engine import LEARNED_FAMILY
from mailguard.parse import parse_message
from mailguard.pipeline.learning import learn_message, learned_context
from mailguard.state import StateStore
from mailguard.state.learning import MAX_PER_LABEL, pack, unpack


def mail(sender: str, subject: str, body: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = "hanako@example.jp"
    msg["Subject"] = subject
    msg["Date"] = "Wed, 03 Jun 2026 09:30:00 +0900"
    msg["Message-ID"] = f"<{abs(hash((sender, subject, body)))}@example.test>"
    msg.set_content(body)
    return msg.as_bytes()


# A genuine past-due notice from a small web host: it has an amount, a
# deadline and a suspension warning, so it looks like a bill to the rules.
def host_invoice(month: str, amount: str) -> bytes:
    return mail(
        "Kitsune Hosting Billing <billing@kitsune-hosting.example>",
        f"Payment overdue: invoice for {month}",
        f"Hello Hanako,\n\nYour invoice for {month} ({amount}) is past due. If we do not "
        "receive payment within 7 days your server will be suspended and a late fee "
        "applies. Please pay in the billing portal or call our billing team at "
        "+1 (415) 555-0142 if you have questions about this charge.\n\n"
        "Kitsune Hosting Billing",
    )


SCAM = mail(
    "Account Services <notice@acct-center-help.example>",
    "Final notice: unpaid balance",
    "Dear Customer, our records show an unpaid balance of $389.00 on your account. "
    "Unless you call 1-888-555-0193 within 24 hours your account will be sent to "
    "collections and legal action will begin. Do not ignore this final notice.",
)
PARAPHRASE = mail(
    "Customer Accounts <alert@acct-centre-help.example>",
    "Last notice regarding your unpaid balance",
    "Dear Customer, records show your account still has an unpaid balance of $412.00. "
    "Call 1-888-555-0177 within 24 hours or your account will be sent to collections and "
    "legal action will start. This is your final notice, do not ignore it.",
)


def classify(raw: bytes, store: StateStore | None = None, account: str = "home") -> float:
    learned = learned_context(store, account) if store is not None else ()
    verdict = Classifier.default().classify(parse_message(raw), ClassifyContext(learned=learned))
    return verdict.score


def test_fingerprint_blob_round_trip() -> None:
    values = {1, 2**32 - 1, 12345}
    assert unpack(pack(values)) == frozenset(values)


def test_released_invoice_makes_the_senders_next_one_score_lower(tmp_path: Path) -> None:
    march, april = host_invoice("March 2026", "$18.00"), host_invoice("April 2026", "$18.00")
    with StateStore.open(tmp_path / "state.db") as store:
        before = classify(april, store)
        learn_message(store, "home", march, "ham", source="release")
        after_v = Classifier.default().classify(
            parse_message(april), ClassifyContext(learned=learned_context(store, "home"))
        )
        assert after_v.score < before
        [reason] = [r for r in after_v.reasons if r.family == LEARNED_FAMILY]
        assert reason.weight < 0
        assert "released" in reason.description_en
        # Another account learned nothing.
        assert classify(april, store, account="work") == before


def test_reported_scam_makes_a_paraphrase_score_higher(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        before = classify(PARAPHRASE, store)
        learn_message(store, "home", SCAM, "scam", source="cli")
        after = classify(PARAPHRASE, store)
        assert after > before
        # An unrelated genuine mail is not pulled up by the learned scam.
        invoice = host_invoice("May 2026", "$18.00")
        assert classify(invoice, store) == pytest.approx(classify(invoice))


def test_learning_is_bounded(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        learn_message(store, "home", SCAM, "scam", source="cli")
        same = Classifier.default().classify(
            parse_message(SCAM), ClassifyContext(learned=learned_context(store, "home"))
        )
        [reason] = [r for r in same.reasons if r.family == LEARNED_FAMILY]
        assert 0 < reason.weight <= Classifier.default().blend.learn_cap


def test_reset_and_cap(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        for i in range(3):
            store.learn("home", "ham", {i + 1, i + 2}, source="cli")
        store.learn("work", "ham", {7}, source="cli")
        assert store.reset_learning("home") == 3
        assert store.learned("home") == []
        assert len(store.learned("work")) == 1
        with pytest.raises(ValueError):
            store.learn("home", "spam", {1}, source="cli")
        with pytest.raises(ValueError):
            store.learn("home", "ham", set(), source="cli")
        for i in range(MAX_PER_LABEL + 5):
            store.learn("home", "scam", {i + 1}, source="cli")
        rows = store.learned("home")
        assert len(rows) == MAX_PER_LABEL
        assert min(min(r.fingerprint) for r in rows) == 6, "the oldest were dropped"


def test_learn_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "mailguard.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp_path / "state.db"}"\n\n[[accounts]]\nname = "home"\n'
        'host = "imap.example.test"\nusername = "hanako"\npassword_env = "MG_TEST_PW"\n',
        encoding="utf-8",
    )
    eml = tmp_path / "march.eml"
    eml.write_bytes(host_invoice("March 2026", "$18.00"))
    src = str(Path(__file__).resolve().parents[2] / "src")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailguard", "learn", *args, "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        )

    r = run("--ham", str(eml), "--account", "home")
    assert r.returncode == 0, r.stderr
    r = run("--export")
    assert r.returncode == 0, r.stderr
    [row] = [json.loads(line) for line in r.stdout.splitlines()]
    assert row["label"] == "ham" and row["sender"] == "billing@kitsune-hosting.example"
    assert row["fingerprint"] and "Hanako" not in r.stdout, "no text, only hashes"
    r = run("--scam", str(tmp_path / "missing.eml"), "--account", "home")
    assert r.returncode == 1 and "cannot read" in r.stderr
    r = run("--ham", str(eml), "--account", "nobody")
    assert r.returncode == 2 and "no account named" in r.stderr
    r = run("--reset", "--account", "home")
    assert r.returncode == 0 and "forgot 1" in r.stdout
