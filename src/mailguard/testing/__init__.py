"""Test helpers that ship with the package, because ``mailguard demo`` uses them too.

Nothing here is imported by the daemon itself.
"""

from mailguard.testing.dovecot import DOVECOT_BINARY, DovecotError, DovecotServer, Mailbox
from mailguard.testing.memory_mail import MemoryMailClient, MemoryMailServer

__all__ = [
    "DOVECOT_BINARY",
    "DovecotError",
    "DovecotServer",
    "Mailbox",
    "MemoryMailClient",
    "MemoryMailServer",
]
