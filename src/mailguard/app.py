"""The composition root: every long-lived part of mailguard is built here, once.

Commands and the daemon used to each open the store, build the classifier,
resolve secrets and connect in their own way. Now they build an :class:`App`
from ``Settings`` and take what they need from it:

* ``store`` -- the state database (opened on first use, closed by ``close``);
* ``classifier`` -- built from ``[detection]``;
* ``connect`` -- a :class:`~mailguard.pipeline.connection.ConnectionFactory`
  whose credentials are resolved *here* (:meth:`App.credentials`), and
  ``connections`` -- fresh per use, or the daemon's pool (``pooled=True``);
* ``poller`` -- scans accounts (``app.scan(account, dry_run=...)``);
* ``digests`` -- renders and delivers digests and alerts over ``connections``;
* ``metrics`` -- when the daemon asks for them.

The digest signing key is created only when a digest is really sent
(:meth:`signer_for_sending`); scanning, a dry run above all, only reads it.
"""

from __future__ import annotations

import threading
from datetime import date
from functools import cached_property
from types import TracebackType

from mailguard.config import AccountConfig, Settings
from mailguard.detect import Classifier
from mailguard.imap import ImapEndpoint
from mailguard.imap.base import MailClient
from mailguard.metrics import Metrics
from mailguard.pipeline.connection import ConnectionFactory, CredentialsUnavailable, Login
from mailguard.pipeline.digest_dispatch import DigestSender
from mailguard.pipeline.mailapp import MailAppSync
from mailguard.pipeline.options import QuarantinePolicy, ScanLimits
from mailguard.pipeline.poll import Poller
from mailguard.pipeline.pool import ConnectionPool, ConnectionSource, Connector, FreshConnections
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.pipeline.summary import ScanSummary
from mailguard.state import StateStore


class App:
    """Everything one process needs, built from ``Settings``. Use as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        pooled: bool = False,
        metrics: Metrics | None = None,
        persist_oauth2_tokens: bool = False,
        classifier: Classifier | None = None,
        connect: Connector | None = None,
    ) -> None:
        """``classifier`` and ``connect`` replace the built ones (a shared classifier in a
        benchmark, a fault-injecting connection in a test)."""
        self.settings = settings
        self.metrics = metrics
        self.limits = ScanLimits.from_config(settings.scan)
        self.policy = QuarantinePolicy.from_config(settings.detection)
        self._pooled = pooled
        self._persist_tokens = persist_oauth2_tokens
        self._endpoints = {a.name: ImapEndpoint.from_account(a) for a in settings.accounts}
        self.connect: Connector = connect or ConnectionFactory(self.credentials, self.endpoint)
        if classifier is not None:
            self.__dict__["classifier"] = classifier  # fills the cached_property
        self._lock = threading.Lock()

    # -- parts, built on first use ----------------------------------------------------------
    @cached_property
    def store(self) -> StateStore:
        return StateStore.open(self.settings.state.path)

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier.from_config(self.settings.detection)

    @cached_property
    def connections(self) -> ConnectionSource:
        # Late-bound, so a test (or a wrapper) may replace ``app.connect`` after building.
        def connect(account: AccountConfig) -> MailClient:
            return self.connect(account)

        return ConnectionPool(connect) if self._pooled else FreshConnections(connect)

    @cached_property
    def poller(self) -> Poller:
        return Poller(
            self.store,
            self.classifier,
            self.connections,
            limits=self.limits,
            policy=self.policy,
            signer=self.signer_for_scanning,
            metrics=self.metrics,
            mailapp=MailAppSync(
                self.store,
                self.classifier,
                check_sent_folder=self.limits.check_sent_folder,
            ),
        )

    @cached_property
    def digests(self) -> DigestSender:
        return DigestSender(
            self.store,
            self.settings.digest,
            self.connections,
            signer=self.signer_for_sending,
            smtp=self.settings.smtp,
            smtp_secret=self.smtp_secret,
            metrics=self.metrics,
        )

    # -- credentials and keys -----------------------------------------------------------------
    def endpoint(self, account: AccountConfig) -> ImapEndpoint:
        """Where ``account``'s server is (built once from the settings)."""
        return self._endpoints.get(account.name) or ImapEndpoint.from_account(account)

    def credentials(self, account: AccountConfig) -> Login:
        """How to log in to ``account``, resolved now (just in time, never cached here)."""
        from mailguard.secrets import SecretError, resolve_secret

        try:
            if account.auth == "oauth2":
                from mailguard.oauth2 import token_provider_for

                store_dir = (
                    self.settings.state.path.parent / "oauth2" if self._persist_tokens else None
                )
                provider = token_provider_for(account, store_dir=store_dir)
                return Login(token=provider.access_token, invalidate=provider.invalidate)
            return Login(password=str(resolve_secret(account, what=f"account {account.name}")))
        except SecretError as e:
            raise CredentialsUnavailable(str(e)) from None

    def smtp_secret(self) -> str | None:
        smtp = self.settings.smtp
        if smtp is None or not smtp.username:
            return None
        from mailguard.secrets import resolve_secret

        return str(resolve_secret(smtp, what="smtp"))

    def signer_for_scanning(self) -> DigestSigner | None:
        """The key, if one exists; never creates it (a scan, or a dry run, writes nothing)."""
        return DigestSigner.load(self.settings.state.path)

    def signer_for_sending(self) -> DigestSigner:
        """The key, created (0600) on the first digest that really goes out."""
        with self._lock:
            return DigestSigner.load_or_create(self.settings.state.path)

    # -- what commands do -------------------------------------------------------------------
    def scan(
        self,
        account: AccountConfig,
        *,
        dry_run: bool = False,
        since: date | None = None,
        stop: threading.Event | None = None,
    ) -> ScanSummary:
        return self.poller.poll(account, dry_run=dry_run, since=since, stop=stop)

    def close(self) -> None:
        """Log out of kept connections and close the store (whatever was opened)."""
        if "connections" in self.__dict__ and isinstance(self.connections, ConnectionPool):
            self.connections.close()
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
