"""SMTP delivery of the digest against a real aiosmtpd server on loopback.

Covers plain delivery, AUTH, STARTTLS and implicit TLS with certificate
verification (an untrusted certificate must be refused), and the failures a
user will meet: refused connection, silent server, wrong password, refused
recipient. Every failure must be a DeliveryError that does not carry the
password, not even in a chained exception.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from mailguard.config import SmtpConfig
from mailguard.digest import (
    DIGEST_HEADER,
    DeliveryError,
    DigestItem,
    DigestReason,
    build_message,
    deliver_smtp,
    render_digest,
)

pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

pytestmark = pytest.mark.integration

SECRET = "s3cret-Pa55-never-shown"
USER = "alice"
NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


class Sink:
    """Keeps every message it is given; can refuse one recipient."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.envelopes: list[Any] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == SECRET.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(sink: Sink | None = None, **kwargs: Any) -> Iterator[tuple[int, Sink]]:
    sink = sink or Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with `cryptography` (via authlib)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailguard test")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


def _client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def _cfg(
    port: int, security: str = "none", username: str | None = None, timeout: float = 10.0
) -> SmtpConfig:
    extra: dict[str, Any] = (
        {"username": username, "password_env": "MG_TEST_SMTP"} if username else {}
    )
    return SmtpConfig(
        host="127.0.0.1",
        port=port,
        security=security,  # type: ignore[arg-type]
        from_address="mailguard@example.org",
        timeout=timeout,
        **extra,
    )


def _msg() -> Any:
    item = DigestItem(
        id=9,
        arrived=NOW,
        sender_name="料金センター",
        sender_addr="c@center.example",
        subject="【重要】未納料金 99,000円",
        category="fake_billing",
        verdict="scam",
        reasons=(
            DigestReason("r", "登録完了を告げている", "Claims you registered", "登録完了", 3),
        ),
        folder="Quarantine",
        original_folder="INBOX",
    )
    rendered = render_digest(
        [item],
        language="ja",
        country="JP",
        account_name="alice",
        quarantine_folder="Quarantine",
        now=NOW,
    )
    return build_message(
        rendered, from_addr="mailguard@example.org", to_addr="alice@example.org", now=NOW
    )


def _assert_received(sink: Sink) -> None:
    [env] = sink.envelopes
    assert env.mail_from == "mailguard@example.org"
    assert env.rcpt_tos == ["alice@example.org"]
    got = message_from_bytes(env.original_content, policy=policy.default)
    assert got.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]
    assert got[DIGEST_HEADER] == "1"
    assert "架空請求" in got.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _assert_clean(err: DeliveryError) -> None:
    assert SECRET not in str(err)
    assert err.__cause__ is None and err.__context__ is None
    assert SECRET not in "".join(traceback.format_exception(err))


def test_plain_delivery_on_loopback() -> None:
    with smtp_server() as (port, sink):
        deliver_smtp(_cfg(port), None, _msg())
    _assert_received(sink)


def test_plain_auth_on_loopback() -> None:
    with smtp_server(authenticator=_authenticator, auth_require_tls=False) as (port, sink):
        deliver_smtp(_cfg(port, username=USER), SECRET, _msg())
    _assert_received(sink)


def test_wrong_password_is_reported_without_the_secret() -> None:
    with (
        smtp_server(authenticator=_authenticator, auth_require_tls=False) as (port, sink),
        pytest.raises(DeliveryError, match="login as 'alice' was refused") as ei,
    ):
        deliver_smtp(_cfg(port, username=USER), "wrong-" + SECRET, _msg())
    _assert_clean(ei.value)
    assert "wrong-" not in str(ei.value)
    assert sink.envelopes == []


def test_missing_secret_for_a_username_is_refused_before_connecting() -> None:
    with pytest.raises(DeliveryError, match="no SMTP password"):
        deliver_smtp(_cfg(_free_port(), username=USER), None, _msg())


def test_starttls_with_verified_certificate(certificate: tuple[Path, Path]) -> None:
    with smtp_server(
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_authenticator,
    ) as (port, sink):
        deliver_smtp(
            _cfg(port, "starttls", USER), SECRET, _msg(), ssl_context=_client_context(certificate)
        )
    _assert_received(sink)


def test_starttls_refuses_an_untrusted_certificate(certificate: tuple[Path, Path]) -> None:
    with (
        smtp_server(
            tls_context=_server_context(certificate),
            require_starttls=True,
            authenticator=_authenticator,
        ) as (port, sink),
        pytest.raises(DeliveryError, match="could not be verified") as ei,
    ):
        deliver_smtp(_cfg(port, "starttls", USER), SECRET, _msg())  # system trust store
    _assert_clean(ei.value)
    assert sink.envelopes == []


def test_starttls_not_offered_is_an_error() -> None:
    with (
        smtp_server() as (port, _sink),
        pytest.raises(DeliveryError, match="does not support"),
    ):
        deliver_smtp(_cfg(port, "starttls"), None, _msg())


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    with smtp_server(ssl_context=_server_context(certificate)) as (port, sink):
        deliver_smtp(_cfg(port, "tls"), None, _msg(), ssl_context=_client_context(certificate))
    _assert_received(sink)
    with (
        smtp_server(ssl_context=_server_context(certificate)) as (port, sink),
        pytest.raises(DeliveryError, match="could not be verified"),
    ):
        deliver_smtp(_cfg(port, "tls"), None, _msg())
    assert sink.envelopes == []


def test_connection_refused_is_reported_without_the_secret() -> None:
    port = _free_port()  # nothing listens here any more
    with pytest.raises(DeliveryError, match=f"connection refused by 127.0.0.1:{port}") as ei:
        deliver_smtp(_cfg(port, username=USER), SECRET, _msg())
    _assert_clean(ei.value)


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the TCP connection but never greets
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryError, match=r"no answer from .* within 1s") as ei:
            deliver_smtp(_cfg(port, username=USER, timeout=1), SECRET, _msg())
    _assert_clean(ei.value)


def test_refused_recipient_is_reported() -> None:
    with (
        smtp_server(Sink(refuse="alice@example.org")) as (port, sink),
        pytest.raises(DeliveryError, match=r"recipients refused: alice@example\.org \(550\)"),
    ):
        deliver_smtp(_cfg(port), None, _msg())
    assert sink.envelopes == []
