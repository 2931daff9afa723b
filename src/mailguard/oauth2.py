"""OAuth2 access tokens for SASL XOAUTH2 (Gmail, Microsoft 365).

Two ways to get a token, chosen by the account's config:

* ``oauth2_token_command``: a helper program prints a current access token
  (e.g. ``oama access alice@example.com``). It is run like ``password_command``
  (no shell, timeout, scrubbed errors) each time a token is needed; such
  helpers keep their own cache, and a second cache here would only hold on to
  a token the helper already knows is stale.
* a refresh-token grant (RFC 6749 §6) against ``oauth2_token_endpoint`` with
  ``oauth2_client_id``, the client secret from ``$oauth2_client_secret_env``
  (if any) and the refresh token from the account's password source. The
  access token is cached until shortly before ``expires_in`` runs out, and
  dropped early by :meth:`TokenProvider.invalidate` when the server rejects it.

Microsoft rotates the refresh token on every use and the old one stops
working after at most 90 days, while this daemon runs for months. A rotated
token is therefore kept in memory and, when a store directory is given,
persisted there (mode 0600) together with a hash of the configured token it
descends from; a newly configured token (a fresh ``oauth2 login``) has a
different hash and wins over the stored one.

The HTTP exchange uses Authlib's RFC 6749 request builder and the standard
library's ``urllib`` (neither ``requests`` nor ``httpx`` is a dependency).
Redirects are not followed (a token endpoint has no reason to redirect, and a
redirected POST would carry the refresh token elsewhere), and plain ``http``
is refused except to a loopback address.

:func:`device_code_login` implements the RFC 8628 device authorization grant
for ``mailguard oauth2 login``: it prints a code to enter on another device
and returns the refresh token. Microsoft 365 supports it for IMAP; Google does
not allow the ``https://mail.google.com/`` scope in the device flow, so Gmail
users need a token helper and ``oauth2_token_command``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from authlib.oauth2.rfc6749.parameters import prepare_token_request

from mailguard.config import AccountConfig
from mailguard.logs import log_event, redact, register_secret
from mailguard.secrets import SecretError, resolve_secret, run_secret_command, write_secret_file

__all__ = [
    "DEVICE_CODE_GRANT_TYPE",
    "DeviceAuthorization",
    "OAuth2Error",
    "RefreshTokenStore",
    "TokenProvider",
    "default_device_endpoint",
    "device_code_login",
    "reset_token_providers",
    "token_provider_for",
    "xoauth2_string",
]

log = logging.getLogger("mailguard.oauth2")

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
#: Used when the server does not say how long a token lives. Short on purpose:
#: an extra refresh costs one HTTP request; a stale token costs a failed login.
DEFAULT_LIFETIME = 300.0
MAX_RESPONSE_BYTES = 1024 * 1024
#: Error codes after which retrying with the same credentials cannot help.
_PERMANENT_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type",
     "invalid_scope", "access_denied", "expired_token"}
)


class OAuth2Error(SecretError):
    """No access token could be had. ``error`` is the OAuth2 error code, if the server gave one.

    ``permanent`` is true when retrying with the same credentials cannot help
    (revoked refresh token, wrong client id), so the operator must act.
    """

    def __init__(self, message: str, *, error: str | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.permanent = permanent


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Gmail and Microsoft expect it."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def _register_token(username: str, token: str) -> None:
    # The token itself, and the base64 blob that an IMAP debug log would show.
    register_secret(token, ephemeral=True)
    blob = base64.b64encode(xoauth2_string(username, token).encode()).decode()
    register_secret(blob, ephemeral=True)


def _boottime() -> float:
    """Seconds on a clock that keeps running while a laptop sleeps.

    ``time.monotonic`` stops during suspend on Linux, so a token cached before
    a two-hour sleep would look fresh afterwards; CLOCK_BOOTTIME does not stop.
    """
    return time.clock_gettime(time.CLOCK_BOOTTIME)


_clock: Callable[[], float] = _boottime if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None



def _check_endpoint(url: str, what: str, option: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    if parsed.scheme == "https" and host:
        return
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if parsed.scheme == "http" and loopback:
        return
    raise OAuth2Error(f"{what}: {option} must be an https:// URL", permanent=True)


def _clean_text(value: Any, limit: int = 200, *, hide: str = "") -> str:
    text = redact(str(value))
    if len(hide) >= 3:  # e.g. a TLS error that names the configured host
        text = text.replace(hide, "<host>")
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _post_form(url: str, body: str, *, timeout: float, what: str) -> tuple[int, dict[str, Any]]:
    """POST a form, return (status, JSON object).

    Errors never quote the request body, nor the endpoint: its URL is a config
    value, and config values are never echoed (see mailguard.secrets).
    """
    raw_host = urllib.parse.urlsplit(url).hostname or ""
    host = "the endpoint"
    req = urllib.request.Request(
        url,
        data=body.encode("ascii"),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": "mailguard",
        },
    )
    try:
        # Built per request so proxy settings from the environment are current.
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as e:
        status = e.code
        try:
            raw = e.read(MAX_RESPONSE_BYTES + 1)
        except OSError:
            raw = b""
        finally:
            e.close()
    except urllib.error.URLError as e:
        reason = _clean_text(e.reason, hide=raw_host)
        raise OAuth2Error(f"{what}: cannot reach {host}: {reason}") from None
    except TimeoutError:
        raise OAuth2Error(f"{what}: {host} did not answer within {timeout:g}s") from None
    except OSError as e:
        reason = _clean_text(e, hide=raw_host)
        raise OAuth2Error(f"{what}: talking to {host} failed: {reason}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise OAuth2Error(f"{what}: {host} sent an oversized answer (HTTP {status})")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise OAuth2Error(
            f"{what}: {host} answered HTTP {status} without a JSON object",
            permanent=False,
        )
    return status, data


def _server_error(what: str, status: int, data: Mapping[str, Any], hint: str = "") -> OAuth2Error:
    code = data.get("error")
    code = _clean_text(code, 64) if isinstance(code, str) else None
    desc = data.get("error_description")
    text = f"{what}: token endpoint refused (HTTP {status}"
    text += f", {code}" if code else ""
    text += ")"
    if isinstance(desc, str) and desc.strip():
        text += f": {_clean_text(desc.strip().splitlines()[0])}"
    permanent = code in _PERMANENT_ERRORS
    if hint and permanent:
        text += f". {hint}"
    return OAuth2Error(text, error=code, permanent=permanent)


def _lifetime(data: Mapping[str, Any]) -> float:
    raw = data.get("expires_in")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return value if value > 0 else DEFAULT_LIFETIME


def _client_secret(account: AccountConfig, what: str) -> str | None:
    """The client secret from ``$oauth2_client_secret_env``, or None when none is configured.

    A configured but unset (or empty) variable is an error rather than "no
    secret": the server would refuse the client anyway, with a vaguer message.
    """
    name = account.oauth2_client_secret_env
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise OAuth2Error(
            f"{what}: the environment variable named by oauth2_client_secret_env is "
            f"{'empty' if value == '' else 'not set'}",
            permanent=True,
        )
    register_secret(value)
    return value


# ---------------------------------------------------------------------------------------
# refresh-token persistence
# ---------------------------------------------------------------------------------------


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokenStore:
    """Rotated refresh tokens, one file per account, each tied to the token it replaced.

    The file records the SHA-256 of the *configured* refresh token the chain
    started from. If the configuration later holds a different token (the user
    signed in again), the stored one is ignored rather than shadowing it.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def _path(self, account: str) -> Path:
        return self.directory / f"{account}.refresh-token.json"

    def load(self, account: str, configured: str) -> str | None:
        try:
            data = json.loads(self._path(account).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("origin_sha256") != _fingerprint(configured):
            return None
        token = data.get("refresh_token")
        return token if isinstance(token, str) and token else None

    def save(self, account: str, configured: str, token: str) -> None:
        payload = json.dumps({"origin_sha256": _fingerprint(configured), "refresh_token": token})
        write_secret_file(self._path(account), payload)


# ---------------------------------------------------------------------------------------
# the provider
# ---------------------------------------------------------------------------------------


class TokenProvider:
    """Hands out a valid access token for one account; thread-safe.

    Call :meth:`access_token` before each XOAUTH2 login and :meth:`invalidate`
    when the server rejects the token, then try once more.
    """

    def __init__(
        self,
        account: AccountConfig,
        *,
        store: RefreshTokenStore | None = None,
        clock: Callable[[], float] | None = None,
        leeway: float = 60.0,
        command_timeout: float | None = None,
    ) -> None:
        if account.auth != "oauth2":
            raise ValueError(f"account {account.name} does not use oauth2")
        self.account = account
        self.what = f"account {account.name} oauth2"
        self.store = store
        self._clock = clock or _clock
        self._leeway = leeway
        self._command_timeout = command_timeout
        self._lock = threading.Lock()
        self._access: str | None = None
        self._valid_until = 0.0
        self._configured: str | None = None  # the refresh token from the password source
        self._refresh: str | None = None  # the one to use next (may be a rotated one)
        if not account.oauth2_token_command:
            if not (account.oauth2_token_endpoint and account.oauth2_client_id):
                raise OAuth2Error(
                    f"{self.what}: needs oauth2_token_command, or oauth2_token_endpoint and "
                    "oauth2_client_id",
                    permanent=True,
                )
            _check_endpoint(account.oauth2_token_endpoint, self.what, "oauth2_token_endpoint")

    # -- public ---------------------------------------------------------------------------
    def access_token(self) -> str:
        """A current access token; raises :class:`OAuth2Error` (a SecretError) if there is none."""
        if self.account.oauth2_token_command:
            return self._from_command()
        with self._lock:
            if self._access is not None and self._clock() < self._valid_until:
                return self._access
            return self._refresh_locked()

    get = access_token

    def invalidate(self) -> None:
        """Forget the cached access token (the server said no); the next call refreshes."""
        with self._lock:
            self._access = None
            self._valid_until = 0.0

    def xoauth2(self) -> str:
        """The SASL XOAUTH2 string for this account, with a current token."""
        return xoauth2_string(self.account.username, self.access_token())

    # -- internals ------------------------------------------------------------------------
    def _from_command(self) -> str:
        assert self.account.oauth2_token_command
        kwargs = {"timeout": self._command_timeout} if self._command_timeout else {}
        token = run_secret_command(
            self.account.oauth2_token_command,
            what=self.what,
            option="oauth2_token_command",
            **kwargs,
        )
        _register_token(self.account.username, token)
        return token

    def _current_refresh_token(self) -> str:
        configured = resolve_secret(self.account, what=f"{self.what} refresh token")
        if configured != self._configured:
            # First use, or the user stored a new token: start a new chain from it.
            self._configured = configured
            stored = self.store.load(self.account.name, configured) if self.store else None
            if stored:
                register_secret(stored)
            self._refresh = stored or configured
        assert self._refresh is not None
        return self._refresh

    def _refresh_locked(self) -> str:
        account = self.account
        assert account.oauth2_token_endpoint and account.oauth2_client_id
        refresh_token = self._current_refresh_token()
        client_secret = _client_secret(account, self.what)
        body = prepare_token_request(
            "refresh_token",
            refresh_token=refresh_token,
            client_id=account.oauth2_client_id,
            client_secret=client_secret,
            scope=account.oauth2_scope,
        )
        started = self._clock()
        status, data = _post_form(
            account.oauth2_token_endpoint, body, timeout=account.timeout, what=self.what
        )
        if status != 200 or "error" in data:
            err = _server_error(
                self.what,
                status,
                data,
                hint=f"Sign in again (mailguard oauth2 login --account {account.name}) and "
                "store the new refresh token in the account's password source",
            )
            log_event(log, "oauth2.error", logging.WARNING, str(err), account=account.name,
                      error=err.error, permanent=err.permanent)
            raise err
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuth2Error(f"{self.what}: token endpoint answered without an access_token")
        token_type = data.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise OAuth2Error(
                f"{self.what}: token endpoint issued a {_clean_text(token_type, 32)!r} token, "
                "XOAUTH2 needs a bearer token",
                permanent=True,
            )
        _register_token(account.username, token)
        lifetime = _lifetime(data)
        # Refresh a minute early, or halfway through a very short lifetime.
        margin = min(self._leeway, lifetime / 2)
        self._access = token
        self._valid_until = started + lifetime - margin
        log_event(log, "oauth2.refreshed", logging.DEBUG, account=account.name,
                  expires_in=round(lifetime))
        rotated = data.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh_token:
            self._rotate(rotated)
        return token

    def _rotate(self, rotated: str) -> None:
        register_secret(rotated)
        self._refresh = rotated
        persisted = False
        if self.store is not None and self._configured is not None:
            try:
                self.store.save(self.account.name, self._configured, rotated)
                persisted = True
            except OSError as e:
                log_event(log, "oauth2.error", logging.WARNING,
                          "could not store the rotated refresh token; keeping it in memory",
                          account=self.account.name, reason=e.strerror or type(e).__name__)
        log_event(
            log,
            "oauth2.refresh_token_rotated",
            logging.INFO if persisted or self.store is None else logging.WARNING,
            "the server issued a new refresh token"
            + ("" if persisted else "; it is kept in memory only until restart"),
            account=self.account.name,
            persisted=persisted,
        )


_providers: dict[str, TokenProvider] = {}
_providers_lock = threading.Lock()


def token_provider_for(
    account: AccountConfig, *, store_dir: Path | str | None = None
) -> TokenProvider:
    """The process-wide provider for ``account``, so its cached token is shared.

    A provider is replaced when the account's configuration changes (a
    reload). ``store_dir`` enables persisting rotated refresh tokens (pass the
    state directory's ``oauth2`` subfolder); once given, it sticks, so later
    calls that do not know the state directory keep using it.
    """
    with _providers_lock:
        provider = _providers.get(account.name)
        store = RefreshTokenStore(store_dir) if store_dir is not None else None
        if provider is None or provider.account != account:
            if store is None and provider is not None:
                store = provider.store
            provider = TokenProvider(account, store=store)
            _providers[account.name] = provider
        elif store is not None and provider.store is None:
            provider.store = store
        return provider


def reset_token_providers() -> None:
    """Forget every cached provider (tests, config reload)."""
    with _providers_lock:
        _providers.clear()


# ---------------------------------------------------------------------------------------
# RFC 8628 device authorization grant
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the user has to do: open ``verification_uri`` and enter ``user_code``."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float
    message: str | None = None  # Microsoft sends a ready-made sentence


def default_device_endpoint(token_endpoint: str) -> str | None:
    """The device authorization endpoint that belongs to a well-known token endpoint."""
    parsed = urllib.parse.urlsplit(token_endpoint)
    if parsed.hostname == "login.microsoftonline.com" and parsed.path.endswith("/token"):
        path = parsed.path[: -len("/token")] + "/devicecode"
        return urllib.parse.urlunsplit(parsed._replace(path=path, query=""))
    if parsed.hostname == "oauth2.googleapis.com":
        return "https://oauth2.googleapis.com/device/code"
    return None


def _print_prompt(auth: DeviceAuthorization) -> None:
    if auth.message:
        print(auth.message, file=sys.stderr)
    else:
        print(
            f"Open {auth.verification_uri_complete or auth.verification_uri} and enter the code "
            f"{auth.user_code} (valid for {int(auth.expires_in // 60)} minutes).",
            file=sys.stderr,
        )
    sys.stderr.flush()


def device_code_login(
    account: AccountConfig,
    *,
    device_endpoint: str | None = None,
    prompt: Callable[[DeviceAuthorization], None] = _print_prompt,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Sign in with the device authorization grant and return the new refresh token.

    Needs ``oauth2_client_id`` and ``oauth2_token_endpoint``; the scope should
    include ``offline_access`` for Microsoft, or no refresh token is issued.
    The caller stores the result (for example with
    :func:`mailguard.secrets.write_secret_file`) and points the account's
    password source at it. ``sleep`` and ``clock`` exist for tests.
    """
    what = f"account {account.name} oauth2 login"
    endpoint = _device_login_endpoint(account, device_endpoint, what)
    client_id, token_endpoint = account.oauth2_client_id, account.oauth2_token_endpoint
    assert client_id and token_endpoint  # checked by _device_login_endpoint
    client_secret = _client_secret(account, what)
    device_code, auth = _request_device_code(account, endpoint, client_secret, what)
    prompt(auth)
    poll_form = {
        "grant_type": DEVICE_CODE_GRANT_TYPE,
        "device_code": device_code,
        "client_id": client_id,
    }
    if client_secret:
        poll_form["client_secret"] = client_secret
    data = _poll_device_token(
        account, urllib.parse.urlencode(poll_form), auth, what, sleep=sleep, clock=clock
    )
    access = data.get("access_token")
    if isinstance(access, str) and access:
        _register_token(account.username, access)
    refresh = data.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise _no_refresh_token(what)
    register_secret(refresh)
    return refresh


def _device_login_endpoint(account: AccountConfig, given: str | None, what: str) -> str:
    """The device endpoint to ask, once the account is known to be able to sign in at all.

    Both URLs are checked here, before anything is sent, so that a plain-http
    endpoint never sees the client id.
    """
    if not (account.oauth2_client_id and account.oauth2_token_endpoint):
        raise OAuth2Error(
            f"{what}: needs oauth2_client_id and oauth2_token_endpoint in the config",
            permanent=True,
        )
    endpoint = given or default_device_endpoint(account.oauth2_token_endpoint)
    if not endpoint:
        raise OAuth2Error(
            f"{what}: no device authorization endpoint known for "
            f"{urllib.parse.urlsplit(account.oauth2_token_endpoint).hostname}; "
            "pass --device-endpoint URL",
            permanent=True,
        )
    _check_endpoint(endpoint, what, "the device endpoint")
    _check_endpoint(account.oauth2_token_endpoint, what, "oauth2_token_endpoint")
    return endpoint


def _request_device_code(
    account: AccountConfig, endpoint: str, client_secret: str | None, what: str
) -> tuple[str, DeviceAuthorization]:
    """Ask the device endpoint for a code; return the (secret) device code and the prompt."""
    assert account.oauth2_client_id
    form: dict[str, str] = {"client_id": account.oauth2_client_id}
    if account.oauth2_scope:
        form["scope"] = account.oauth2_scope
    if client_secret:
        form["client_secret"] = client_secret
    status, data = _post_form(
        endpoint, urllib.parse.urlencode(form), timeout=account.timeout, what=what
    )
    if status != 200 or "error" in data:
        raise _server_error(what, status, data)
    device_code = data.get("device_code")
    user_code = data.get("user_code")
    # Google calls it verification_url; RFC 8628 says verification_uri.
    uri = data.get("verification_uri") or data.get("verification_url")
    if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
        raise OAuth2Error(f"{what}: the device endpoint's answer lacks device_code/user_code/uri")
    assert isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)
    register_secret(device_code, ephemeral=True)
    try:
        interval = max(1.0, float(data.get("interval", 5)))
    except (TypeError, ValueError):
        interval = 5.0
    complete = data.get("verification_uri_complete")
    message = data.get("message")
    auth = DeviceAuthorization(
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete if isinstance(complete, str) else None,
        expires_in=_lifetime({"expires_in": data.get("expires_in", 900)}),
        interval=interval,
        message=_clean_text(message, 500) if isinstance(message, str) else None,
    )
    return device_code, auth


def _poll_device_token(
    account: AccountConfig,
    body: str,
    auth: DeviceAuthorization,
    what: str,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Poll the token endpoint until the user has signed in (RFC 8628 §3.4-3.5).

    Returns the successful answer; raises when the code expires or the server
    says anything but "pending" or "slow down".
    """
    assert account.oauth2_token_endpoint
    deadline = clock() + auth.expires_in
    interval = auth.interval
    while True:
        sleep(interval)
        if clock() > deadline:
            raise OAuth2Error(f"{what}: the code expired before sign-in finished", permanent=True)
        status, data = _post_form(
            account.oauth2_token_endpoint, body, timeout=account.timeout, what=what
        )
        error = data.get("error")
        if status == 200 and not error:
            return data
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            continue
        raise _server_error(what, status, data)


def _no_refresh_token(what: str) -> NoReturn:
    raise OAuth2Error(
        f"{what}: signed in, but the server issued no refresh token; add offline_access "
        "to oauth2_scope (Microsoft) and try again",
        permanent=True,
    )
