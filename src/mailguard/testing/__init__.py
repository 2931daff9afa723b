"""Test helpers that ship with the package, because ``mailguard demo`` uses them too.

Nothing here is imported by the daemon itself.
"""

from mailguard.testing.dovecot import (
    DOVECOT_BINARY,
    SETUP_HINT,
    DovecotError,
    DovecotServer,
    Mailbox,
    locate_dovecot,
)
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer

__all__ = [
    "DOVECOT_BINARY",
    "SETUP_HINT",
    "DovecotError",
    "DovecotServer",
    "Mailbox",
    "MemoryMailClient",
    "MemoryMailServer",
    "locate_dovecot",
]
