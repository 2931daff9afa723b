"""Log in to one account with credentials resolved by the composition root.

``connect`` used to resolve the password itself, deep in the pipeline. Now the
app (:mod:`mailguard.app`) decides *how* an account's credentials are
obtained -- a secret source, or an OAuth2 token provider -- and hands the
pipeline a :class:`ConnectionFactory` that only knows how to use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailguard.config import AccountConfig
from mailguard.imap import ImapEndpoint, ImapMailClient
from mailguard.imap.base import AuthenticationFailed, MailClient, MailClientError


class CredentialsUnavailable(MailClientError):
    """The password or token could not be obtained (the reason never holds the secret)."""


@dataclass(frozen=True)
class Login:
    """How to authenticate one connection: a password, or an OAuth2 access-token source."""

    password: str = ""
    token: Callable[[], str] | None = None  # a fresh (possibly cached) access token per call
    invalidate: Callable[[], None] | None = None  # drop a cached token the server refused


#: Resolves an account's credentials just before a connection is opened.
CredentialResolver = Callable[[AccountConfig], Login]
#: Where an account's server is (``App.endpoint``).
EndpointResolver = Callable[[AccountConfig], ImapEndpoint]


class ConnectionFactory:
    """``factory(account) -> MailClient``: resolve the credentials, then log in."""

    def __init__(
        self,
        credentials: CredentialResolver,
        endpoint: EndpointResolver = ImapEndpoint.from_account,
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint

    def __call__(self, account: AccountConfig) -> MailClient:
        where = self._endpoint(account)
        login = self._credentials(account)
        if login.token is None:
            return ImapMailClient.connect(where, login.password)
        try:
            return ImapMailClient.connect(where, "", oauth2_token=login.token())
        except AuthenticationFailed:
            if login.invalidate is None:
                raise
            # The cached token may have been revoked early: refresh once, then give up.
            login.invalidate()
            return ImapMailClient.connect(where, "", oauth2_token=login.token())
