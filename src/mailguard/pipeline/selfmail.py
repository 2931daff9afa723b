"""Recognise our own digests so the scanner never quarantines them -- and only them.

Every digest carries ``X-Mailguard-Digest: 1``, but anyone can add that
header to a scam. So the digest's Message-ID also carries an HMAC made with a
key kept in the state directory; a message is skipped as "ours" only when
that signature checks out.
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

    @classmethod
    def for_state(cls, state_path: Path) -> DigestSigner:
        """Load (or create, 0600) the per-installation key beside the state database."""
        path = state_path.parent / "digest.key"
        try:
            return cls(bytes.fromhex(path.read_text().strip()))
        except (FileNotFoundError, ValueError):
            pass
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
        return bool(m) and hmac.compare_digest(self._mac(m.group(1)), m.group(2))
