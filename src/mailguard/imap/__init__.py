"""The mail-client layer: the protocol the pipeline uses, its IMAP implementation and a
dry-run wrapper. See :mod:`mailguard.imap.base` for the rules every implementation keeps."""

from mailguard.imap.base import (
    AuthenticationFailed,
    CommandCounter,
    ConnectionLost,
    FetchedMessage,
    FolderNotFound,
    FolderStatus,
    MailClient,
    MailClientError,
    MessageNotFound,
    MoveResult,
)
from mailguard.imap.client import ImapMailClient
from mailguard.imap.dryrun import DryRunMailClient

__all__ = [
    "AuthenticationFailed",
    "CommandCounter",
    "ConnectionLost",
    "DryRunMailClient",
    "FetchedMessage",
    "FolderNotFound",
    "FolderStatus",
    "ImapMailClient",
    "MailClient",
    "MailClientError",
    "MessageNotFound",
    "MoveResult",
]
