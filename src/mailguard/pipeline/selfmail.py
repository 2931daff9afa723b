"""Recognise our own digests so the scanner never quarantines them -- and only them.

Every digest carries ``X-Mailguard-Digest: 1``, but anyone can add that
header to a scam. So the digest's Message-ID also carries an HMAC made with a
key kept in the state directory; a message is skipped as "ours" only when
that signature checks out.

The key is created only by someone about to *send* a digest
(:meth:`DigestSigner.load_or_create`, called from the composition root when a
digest goes out). Scanning -- a dry run above all -- only reads it
(:meth:`DigestSigner.load`): with no key yet, no digest of ours can exist.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from email.message import EmailMessage
from pathlib import Path

_MSGID = re.compile(r"^<?mg\.([0-9a-f]{24})\.([0-9a-f]{32})@[^>]+>?$")


class DigestSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def key_path(state_path: Path) -> Path:
        """Where the per-installation key lives: beside the state database."""
        return state_path.parent / "digest.key"

    @classmethod
    def load(cls, state_path: Path) -> DigestSigner | None:
        """The existing key, or None; never writes anything."""
        try:
            return cls(bytes.fromhex(cls.key_path(state_path).read_text().strip()))
        except (FileNotFoundError, ValueError):
            return None

    @classmethod
    def load_or_create(cls, state_path: Path) -> DigestSigner:
        """Load (or create, 0600) the key; only for someone about to sign a digest."""
        existing = cls.load(state_path)
        if existing is not None:
            return existing
        path = cls.key_path(state_path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        return cls(key)

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def sign(self, msg: EmailMessage, domain: str = "mailguard.invalid") -> str:
        nonce = secrets.token_hex(12)
        message_id = f"<mg.{nonce}.{self._mac(nonce)}@{domain}>"
        del msg["Message-ID"]
        msg["Message-ID"] = message_id
        return message_id

    def is_ours(self, message_id: str) -> bool:
        m = _MSGID.match(message_id.strip())
        return m is not None and hmac.compare_digest(self._mac(m.group(1)), m.group(2))
