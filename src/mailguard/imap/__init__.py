"""The mail-client layer: the protocol the pipeline uses and its IMAP implementation.
See :mod:`mailguard.imap.base` for the rules every implementation keeps. (Dry runs are
enforced above this layer, by the pipeline's executor: ``mailguard.pipeline.act``.)"""

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
from mailguard.imap.client import ImapEndpoint, ImapMailClient

__all__ = [
    "AuthenticationFailed",
    "CommandCounter",
    "ConnectionLost",
    "FetchedMessage",
    "FolderNotFound",
    "FolderStatus",
    "ImapEndpoint",
    "ImapMailClient",
    "MailClient",
    "MailClientError",
    "MessageNotFound",
    "MoveResult",
]
