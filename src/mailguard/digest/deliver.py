"""Put a digest in front of the user: IMAP APPEND into their INBOX, or SMTP.

IMAP needs no mail server of our own and uses the account we already log in
to; the digest is appended without ``\\Seen`` so that it shows up as unread.
SMTP verifies certificates with the system trust store, always.

Errors become :class:`DeliveryError` with a reason a person can act on
("connection refused by smtp.example.org:587", "login as alice was refused").
The SMTP path raises it outside the ``except`` block, so no original
exception (which might carry server text) is chained to it, and scrubs the
secret from the reason in case a server echoed it back.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Literal

from mailguard.config import SmtpConfig
from mailguard.imap.base import MailClient, MailClientError


class DeliveryError(Exception):
    """The digest could not be delivered. The message is fit for a log line; no secrets."""


def deliver_imap(client: MailClient, folder: str, msg: EmailMessage) -> None:
    """APPEND ``msg`` to ``folder`` (normally INBOX) as unread, dated by its Date header."""
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    try:
        when = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        when = None
    try:
        client.append(folder, raw, flags=(), when=when)
    except (MailClientError, OSError) as e:
        raise DeliveryError(f"IMAP APPEND to {folder!r} failed: {e}") from e


def deliver_smtp(
    smtp_cfg: SmtpConfig,
    secret: str | None,
    msg: EmailMessage,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send ``msg`` through the configured server.

    ``ssl_context`` is for a private CA (and for tests); by default the system
    trust store is used, with hostname checking on.
    """
    recipients = [a.addr_spec for a in getattr(msg["To"], "addresses", ())]
    if not recipients:
        raise DeliveryError("the digest has no recipient (To header)")
    if smtp_cfg.username and not secret:
        raise DeliveryError(f"no SMTP password was found for {smtp_cfg.username!r}")
    context = ssl_context or ssl.create_default_context()
    try:
        refused = _send(smtp_cfg, secret, msg, recipients, context)
    except (smtplib.SMTPException, OSError) as e:
        reason = _explain(e, smtp_cfg)
    else:
        if not refused:
            return
        reason = "recipients refused: " + ", ".join(
            f"{addr} ({code})" for addr, (code, _text) in sorted(refused.items())
        )
    raise DeliveryError(_scrub(reason, secret, smtp_cfg.username))


def _send(
    cfg: SmtpConfig,
    secret: str | None,
    msg: EmailMessage,
    recipients: list[str],
    context: ssl.SSLContext,
) -> dict[str, tuple[int, bytes]]:
    smtp: smtplib.SMTP
    if cfg.security == "tls":
        smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
    else:
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
    with smtp:
        smtp.ehlo()
        if cfg.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.username:
            smtp.login(cfg.username, secret or "")
        return smtp.send_message(msg, from_addr=cfg.from_address, to_addrs=recipients)


def _server_text(e: smtplib.SMTPResponseException) -> str:
    raw = e.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:200]


def _explain(e: BaseException, cfg: SmtpConfig) -> str:
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return f"SMTP login as {cfg.username!r} was refused by {where} ({e.smtp_code})"
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return f"{where} does not support a required SMTP feature: {e}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(
            f"{addr} ({code})" for addr, (code, _t) in sorted(e.recipients.items())
        )
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{where} answered {e.smtp_code}: {_server_text(e)}"
    if isinstance(e, smtplib.SMTPServerDisconnected):
        # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
        if "timed out" in str(e):
            return f"no answer from {where} within {cfg.timeout:g}s"
        return f"{where} closed the connection unexpectedly"
    if isinstance(e, smtplib.SMTPException):
        return f"SMTP error with {where}: {e}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} could not be verified: {e.verify_message}"
    if isinstance(e, ssl.SSLError):
        return f"TLS with {where} failed: {e.reason or e}"
    if isinstance(e, TimeoutError | socket.timeout):
        return f"no answer from {where} within {cfg.timeout:g}s"
    if isinstance(e, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve {cfg.host!r}: {e.strerror}"
    if isinstance(e, OSError):
        return f"cannot talk to {where}: {e.strerror or type(e).__name__}"
    return f"{type(e).__name__} while sending to {where}"


def _scrub(text: str, secret: str | None, username: str | None) -> str:
    """Remove the secret, and its AUTH PLAIN/LOGIN encodings, from ``text``."""
    if not secret:
        return text
    forms = {secret, base64.b64encode(secret.encode()).decode()}
    if username:
        forms.add(base64.b64encode(f"\0{username}\0{secret}".encode()).decode())
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def deliver_digest(
    msg: EmailMessage,
    *,
    delivery: Literal["imap", "smtp"],
    client: MailClient | None = None,
    folder: str = "INBOX",
    smtp_cfg: SmtpConfig | None = None,
    secret: str | None = None,
) -> None:
    """Deliver by the configured method (``DigestConfig.delivery``)."""
    if delivery == "imap":
        if client is None:
            raise DeliveryError("IMAP delivery needs a connected mail client")
        deliver_imap(client, folder, msg)
    elif delivery == "smtp":
        if smtp_cfg is None:
            raise DeliveryError('digest.delivery = "smtp" needs an [smtp] section')
        deliver_smtp(smtp_cfg, secret, msg)
    else:
        raise DeliveryError(f"unknown delivery method {delivery!r}")
