"""Per-account learning: what the user said about messages in this mailbox.

A released message is genuine mail and a reported one is a scam, for *this*
user; the classifier uses the closest ones as one bounded reason ("similar to
mail you released on …"). Everything stays in the local state file: only a
fingerprint (a set of 32-bit hashes of character n-grams, made by
``mailguard.detect.textmodel.fingerprint``) is stored, never the text, and
it never leaves the machine except through ``mailguard learn --export``,
which the user runs.

Kept free of detection imports (the state package is below detect): rows come
back as :class:`LearnedRow` and the pipeline turns them into the classifier's
``LearnedExample``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mailguard.state.codec import dt_from_db, dt_to_db
from mailguard.state.db import Repository

LABELS = ("ham", "scam")
SOURCES = ("release", "cli", "report")
# The oldest examples are dropped beyond this many per account and label, so
# the per-message comparison cost stays bounded.
MAX_PER_LABEL = 500


@dataclass(frozen=True)
class LearnedRow:
    id: int
    account: str
    label: str
    learned_at: datetime
    source: str
    sender_addr: str | None
    category: str | None
    message_id: str | None
    fingerprint: frozenset[int]


def pack(fingerprint: Iterable[int]) -> bytes:
    """Sorted unsigned 32-bit integers, little-endian: compact and portable."""
    arr = array("I", sorted(fingerprint))
    if arr.itemsize != 4:  # pragma: no cover - every platform we run on has 4-byte "I"
        arr = array("L", sorted(fingerprint))
    return arr.tobytes()


def unpack(blob: bytes) -> frozenset[int]:
    arr = array("I")
    arr.frombytes(blob)
    return frozenset(arr)


class LearningOps(Repository):
    def learn(
        self,
        account: str,
        label: str,
        fingerprint: Iterable[int],
        *,
        source: str,
        sender_addr: str | None = None,
        category: str | None = None,
        message_id: str | None = None,
    ) -> int:
        """Store one example; returns its id. Old examples beyond the cap are dropped."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        fp = pack(fingerprint)
        if not fp:
            raise ValueError("empty fingerprint: nothing to learn from")
        now = self._db.now()
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO learned_examples (account, label, learned_at, source, sender_addr,"
                " category, message_id, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account,
                    label,
                    dt_to_db(now),
                    source,
                    (sender_addr or "").lower() or None,
                    category,
                    message_id,
                    fp,
                ),
            )
            conn.execute(
                "DELETE FROM learned_examples WHERE account = ? AND label = ? AND id NOT IN"
                " (SELECT id FROM learned_examples WHERE account = ? AND label = ?"
                "  ORDER BY id DESC LIMIT ?)",
                (account, label, account, label, MAX_PER_LABEL),
            )
            return int(cur.lastrowid or 0)

    def learned(self, account: str | None = None) -> list[LearnedRow]:
        """The account's examples (all accounts when None), oldest first."""
        if account is None:
            rows = self._db.query("SELECT * FROM learned_examples ORDER BY account, id")
        else:
            rows = self._db.query(
                "SELECT * FROM learned_examples WHERE account = ? ORDER BY id", (account,)
            )
        out = []
        for r in rows:
            learned_at = dt_from_db(r["learned_at"])
            assert learned_at is not None
            out.append(
                LearnedRow(
                    id=r["id"],
                    account=r["account"],
                    label=r["label"],
                    learned_at=learned_at,
                    source=r["source"],
                    sender_addr=r["sender_addr"],
                    category=r["category"],
                    message_id=r["message_id"],
                    fingerprint=unpack(r["fingerprint"]),
                )
            )
        return out

    def reset_learning(self, account: str) -> int:
        """Forget everything learned for one account; returns how many examples were dropped."""
        with self._db.transaction() as conn:
            cur = conn.execute("DELETE FROM learned_examples WHERE account = ?", (account,))
            return int(cur.rowcount)
