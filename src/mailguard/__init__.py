"""mailguard: quarantines fake-billing and fake-withdrawal scams from IMAP mailboxes."""

__version__ = "0.1.0"
