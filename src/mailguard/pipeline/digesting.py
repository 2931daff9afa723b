"""Turn state records into digests and alerts, deliver them, and record what was sent.

Each quarantined message appears in exactly one digest: items are marked sent
in the same transaction that records the digest, and only after delivery
succeeded. A failed delivery leaves them pending for the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailguard.config import AccountConfig, Settings
from mailguard.digest import (
    DigestItem,
    DigestReason,
    RenderedDigest,
    build_message,
    deliver_imap,
    deliver_smtp,
    render_digest,
)
from mailguard.logs import log_event
from mailguard.pipeline.records import positive_reasons, reason_facts
from mailguard.pipeline.selfmail import DigestSigner
from mailguard.situations import alert_reasons, derive_situations
from mailguard.state import StateStore
from mailguard.state.codec import dt_from_db
from mailguard.state.records import QuarantineRecord
from mailguard.vocabulary import Situation, Status, VerdictKind

log = logging.getLogger("mailguard.digest")


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


def _to_item(rec: QuarantineRecord) -> DigestItem:
    details: dict[str, Any] = rec.details or {}
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
    quarantined = rec.status == Status.QUARANTINED
    return DigestItem(
        id=rec.id,
        arrived=internaldate or rec.date,
        arrived_from_header=internaldate is None and rec.date is not None,
        sender_name=rec.from_name or "",
        sender_addr=rec.from_addr or "",
        subject=rec.subject or "",
        category=rec.category,
        verdict=VerdictKind.SCAM if quarantined else VerdictKind.SUSPICIOUS,
        reasons=reasons,
        folder=(rec.quarantine_folder or rec.original_folder)
        if quarantined
        else rec.original_folder,
        original_folder=rec.original_folder,
        urls=tuple(details.get("urls", ())),
        phones=tuple(details.get("phones", ())),
        contacted_on=rec.contacted_on,
        situations=record_situations(rec),
        copy_only=quarantined and rec.move_method == "copy-only",
    )


def alert_reasons_for(rec: QuarantineRecord) -> tuple[str, ...]:
    """Why this held message cannot wait for the morning digest (empty: it can)."""
    return alert_reasons(
        record_situations(rec),
        flags=rec.flags,
        reasons=reason_facts(rec.reasons),
        subject=rec.subject or "",
    )


@dataclass(frozen=True)
class DigestOutcome:
    sent: bool
    items: int
    rendered: RenderedDigest | None
    error: str | None = None


def render_for(
    settings: Settings,
    account: AccountConfig,
    store: StateStore,
    *,
    kind: str = "digest",
    now: datetime | None = None,
) -> tuple[RenderedDigest | None, list[int]]:
    """Render what would be sent now; marks nothing."""
    now = now or datetime.now().astimezone()
    if kind == "alert":
        # Alerts interrupt the user, so only for what cannot wait for the morning
        # (mailguard.situations.alert_reasons): withdrawal lures, follow-ups after
        # contact, mail the user had already opened, same-day deadlines, legal threats.
        records = [r for r in store.pending_alert_items(account.name) if alert_reasons_for(r)]
    else:
        records = store.pending_digest_items(account.name)
    if not records and not (kind == "digest" and settings.digest.send_empty):
        return None, []
    items = [_to_item(r) for r in records]
    rendered = render_digest(
        items,
        language=account.language,
        country=account.country,
        account_name=account.name,
        quarantine_folder=account.quarantine_folder,
        now=now,
        kind=kind,
    )
    return rendered, [r.id for r in records]


def _deliver(
    settings: Settings, account: AccountConfig, rendered: RenderedDigest, now: datetime
) -> None:
    from_addr = settings.smtp.from_address if settings.smtp else f"mailguard@{account.host}"
    msg = build_message(rendered, from_addr=from_addr, to_addr=account.recipient, now=now)
    DigestSigner.for_state(settings.state.path).sign(
        msg, from_addr.rpartition("@")[2] or "localhost"
    )
    if settings.digest.delivery == "smtp":
        assert settings.smtp is not None  # the config model guarantees it
        secret = None
        if settings.smtp.username:
            from mailguard.secrets import resolve_secret

            secret = str(resolve_secret(settings.smtp, what="smtp"))
        deliver_smtp(settings.smtp, secret, msg)
    else:
        from mailguard.pipeline.runner import connect

        client = connect(account)
        try:
            deliver_imap(client, "INBOX", msg)
        finally:
            client.logout()


def send(
    settings: Settings,
    account: AccountConfig,
    store: StateStore,
    *,
    kind: str,
    now: datetime | None = None,
) -> DigestOutcome:
    now = now or datetime.now().astimezone()
    rendered, ids = render_for(settings, account, store, kind=kind, now=now)
    if rendered is None:
        return DigestOutcome(False, 0, None)
    try:
        _deliver(settings, account, rendered, now)
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        store.record_digest_failure(
            account.name,
            error,
            digest_kind=kind,
            delivery=settings.digest.delivery,
            item_count=len(ids),
        )
        log_event(
            log, "digest.failed", level=logging.ERROR, account=account.name, kind=kind, error=error
        )
        return DigestOutcome(False, len(ids), rendered, error)
    if kind == "alert":
        store.mark_alerted(ids)
    else:
        store.mark_digest_sent(account.name, ids, kind, settings.digest.delivery)
    log_event(
        log,
        "digest.sent",
        account=account.name,
        kind=kind,
        items=len(ids),
        delivery=settings.digest.delivery,
    )
    return DigestOutcome(True, len(ids), rendered)


def send_digest(
    settings: Settings, account: AccountConfig, store: StateStore, now: datetime | None = None
) -> DigestOutcome:
    return send(settings, account, store, kind="digest", now=now)


def send_alerts(
    settings: Settings, account: AccountConfig, store: StateStore, now: datetime | None = None
) -> DigestOutcome:
    return send(settings, account, store, kind="alert", now=now)
