"""Turn state records into digests and alerts, deliver them, and record what was sent.

Each quarantined message appears in exactly one digest: items are marked sent
in the same transaction that records the digest, and only after delivery
succeeded. A failed delivery leaves them pending for the next run.

Delivery goes through :func:`mailguard.digest.deliver_digest` with a
connection from the app's connection source -- in the daemon, the same
pooled connection its polls use, not a fresh login per digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mailguard.config import AccountConfig, DigestConfig, SmtpConfig
from mailguard.digest import (
    DigestItem,
    DigestReason,
    RenderedDigest,
    build_message,
    deliver_digest,
    render_digest,
)
from mailguard.logs import log_event
from mailguard.metrics import Metrics
from mailguard.pipeline.pool import ConnectionSource
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.pipeline.verdict_record import positive_reasons, reason_facts
from mailguard.situations import alert_reasons, derive_situations
from mailguard.state import KIND_ALERT, KIND_DIGEST, MessageError, QuarantineRecord, StateStore
from mailguard.state.codec import dt_from_db
from mailguard.vocabulary import Situation, Status, VerdictKind

log = logging.getLogger("mailguard.digest")

Kind = Literal["digest", "alert"]


def record_situations(rec: QuarantineRecord) -> frozenset[Situation]:
    """The situations stored with the record; derived from its reasons for older rows."""
    stored = (rec.details or {}).get("situations")
    if stored is not None:
        return frozenset(Situation(s) for s in stored if s in Situation._value2member_map_)
    return derive_situations(
        verdict=rec.verdict,
        category=rec.category,
        reasons=reason_facts(rec.reasons),
        sender_name=rec.from_name or "",
        subject=rec.subject or "",
        contacted=rec.contacted_on is not None,
    )


def alert_reasons_for(rec: QuarantineRecord) -> tuple[str, ...]:
    """Why this held message cannot wait for the morning digest (empty: it can)."""
    return alert_reasons(
        record_situations(rec),
        flags=rec.flags,
        reasons=reason_facts(rec.reasons),
        subject=rec.subject or "",
    )


def to_item(rec: QuarantineRecord) -> DigestItem:
    """A stored record as the digest sees it."""
    details = rec.details or {}
    internaldate = dt_from_db(details.get("internaldate"))
    reasons = tuple(
        DigestReason(
            rule=str(r.get("rule", "")),
            description_ja=str(r.get("description_ja", "")),
            description_en=str(r.get("description_en", "")),
            evidence=str(r.get("evidence", "")),
            weight=float(r.get("weight", 0.0)),
        )
        for r in positive_reasons(rec.reasons)
    )
    held = rec.status == Status.QUARANTINED
    return DigestItem(
        id=rec.id,
        arrived=internaldate or rec.date,
        arrived_from_header=internaldate is None and rec.date is not None,
        sender_name=rec.from_name or "",
        sender_addr=rec.from_addr or "",
        subject=rec.subject or "",
        category=rec.category,
        verdict=VerdictKind.SCAM if held else VerdictKind.SUSPICIOUS,
        reasons=reasons,
        folder=(rec.quarantine_folder or rec.original_folder) if held else rec.original_folder,
        original_folder=rec.original_folder,
        urls=tuple(details.get("urls", ())),
        phones=tuple(details.get("phones", ())),
        contacted_on=rec.contacted_on,
        situations=record_situations(rec),
        copy_only=held and rec.move_method == "copy-only",
    )


@dataclass(frozen=True)
class DigestOutcome:
    sent: bool
    items: int
    rendered: RenderedDigest | None
    error: str | None = None


class DigestSender:
    """Renders, delivers and books digests and alerts for the app's accounts."""

    def __init__(
        self,
        store: StateStore,
        config: DigestConfig,
        connections: ConnectionSource,
        *,
        signer: Callable[[], DigestSigner],
        smtp: SmtpConfig | None = None,
        smtp_secret: Callable[[], str | None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.connections = connections
        self.signer = signer
        self.smtp = smtp
        self.smtp_secret = smtp_secret
        self.metrics = metrics

    def render(
        self, account: AccountConfig, *, kind: Kind = KIND_DIGEST, now: datetime | None = None
    ) -> tuple[RenderedDigest | None, list[int]]:
        """Render what would be sent now; marks nothing."""
        now = now or datetime.now().astimezone()
        if kind == KIND_ALERT:
            # Alerts interrupt the user, so only for what cannot wait for the morning
            # (mailguard.situations.alert_reasons): withdrawal lures, follow-ups after
            # contact, mail the user had already opened, same-day deadlines, legal threats.
            records = [
                r for r in self.store.pending_alert_items(account.name) if alert_reasons_for(r)
            ]
        else:
            records = self.store.pending_digest_items(account.name)
        if not records and not (kind == KIND_DIGEST and self.config.send_empty):
            return None, []
        rendered = render_digest(
            [to_item(r) for r in records],
            language=account.language,
            country=account.country,
            account_name=account.name,
            quarantine_folder=account.quarantine_folder,
            now=now,
            kind=kind,
        )
        return rendered, [r.id for r in records]

    def unchecked(self, account: AccountConfig) -> list[MessageError]:
        """Messages skipped as unreadable since the last daily digest, newest first.

        A message mailguard could not check may be a scam left in the INBOX;
        the user should hear about it in the next digest.
        """
        last = self.store.last_digest(account.name, KIND_DIGEST)
        return self.store.message_errors(account.name, since=last.sent_at if last else None)

    def _deliver(self, account: AccountConfig, rendered: RenderedDigest, now: datetime) -> None:
        from_addr = self.smtp.from_address if self.smtp else f"mailguard@{account.host}"
        msg = build_message(rendered, from_addr=from_addr, to_addr=account.recipient, now=now)
        # The key is created here, when a digest really goes out, and nowhere else.
        self.signer().sign(msg, from_addr.rpartition("@")[2] or "localhost")
        if self.config.delivery == "smtp":
            deliver_digest(msg, delivery="smtp", smtp_cfg=self.smtp, secret=self.smtp_secret())
            return
        client, _before = self.connections.acquire(account)
        healthy = False
        try:
            deliver_digest(msg, delivery="imap", client=client, folder="INBOX")
            healthy = True
        finally:
            self.connections.release(account, client, healthy=healthy)

    def send(
        self, account: AccountConfig, *, kind: Kind = KIND_DIGEST, now: datetime | None = None
    ) -> DigestOutcome:
        now = now or datetime.now().astimezone()
        rendered, ids = self.render(account, kind=kind, now=now)
        if rendered is None:
            return DigestOutcome(False, 0, None)
        delivery = self.config.delivery
        try:
            self._deliver(account, rendered, now)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            self.store.record_digest_failure(
                account.name, error, digest_kind=kind, delivery=delivery, item_count=len(ids)
            )
            if self.metrics is not None:
                self.metrics.error(account.name, "digest")
            log_event(
                log,
                "digest.failed",
                level=logging.ERROR,
                account=account.name,
                kind=kind,
                error=error,
            )
            return DigestOutcome(False, len(ids), rendered, error)
        if kind == KIND_ALERT:
            self.store.mark_alerted(ids)
        else:
            self.store.mark_digest_sent(account.name, ids, kind, delivery)
        if self.metrics is not None:
            self.metrics.digest_sent(account.name)
        log_event(
            log, "digest.sent", account=account.name, kind=kind, items=len(ids), delivery=delivery
        )
        return DigestOutcome(True, len(ids), rendered)
