"""Lenient base64, the one decoder for bodies and RFC 2047 encoded words.

Scam mail (and some genuine mailers) break base64 in small ways: line noise,
padding in the middle of concatenated chunks, a stray final character. A
strict decoder would drop the whole text, which hides a scam; this one
repairs what can be repaired and says whether it had to.
"""

from __future__ import annotations

import binascii
import re

_WS_BYTES = b" \t\r\n\x0b\x0c"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def decode_lenient(data: bytes) -> tuple[bytes, bool] | None:
    """(decoded bytes, was_clean), or None when even the repaired input will not decode."""
    compact = data.translate(None, _WS_BYTES)
    clean = not compact.translate(None, _B64_ALPHABET)
    if not clean:
        compact = _B64_JUNK.sub(b"", compact)
    else:
        eq = compact.find(b"=")
        if 0 <= eq < len(compact) - 2:  # padding in the middle: concatenated chunks
            compact = compact.replace(b"=", b"")
            clean = False
        else:
            compact = compact.rstrip(b"=")
    if len(compact) % 4 == 1:
        compact = compact[:-1]
        clean = False
    compact += b"=" * (-len(compact) % 4)
    try:
        return binascii.a2b_base64(compact), clean
    except (binascii.Error, ValueError):
        return None
