"""OAuth2 tokens against a real HTTP token endpoint on loopback, started by the test."""

from __future__ import annotations

import base64
import json
import logging
import stat
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mailguard import logs
from mailguard.config import AccountConfig
from mailguard.oauth2 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorization,
    OAuth2Error,
    RefreshTokenStore,
    TokenProvider,
    default_device_endpoint,
    device_code_login,
    reset_token_providers,
    token_provider_for,
    xoauth2_string,
)
from mailguard.secrets import SecretError

REFRESH = "refresh-CANARY-1d2c3b"
CLIENT_SECRET = "client-secret-CANARY-77"


# -- a scripted token endpoint -----------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)


class TokenServer:
    """Answers POSTs from a queue of replies per path and records every form it got."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                server.requests.append((self.path, form))
                queue = server.replies.get(self.path) or [Reply(404, {"error": "not_found"})]
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                body = reply.body
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def forms(self, path: str = "/token") -> list[dict[str, str]]:
        return [f for p, f in self.requests if p == path]


@pytest.fixture
def server() -> Iterator[TokenServer]:
    s = TokenServer()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    logs._redactor.clear()
    reset_token_providers()
    monkeypatch.setenv("MG_REFRESH", REFRESH)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # the test endpoint is on loopback
    yield
    reset_token_providers()
    logs._redactor.clear()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _account(server: TokenServer | None = None, **overrides: Any) -> AccountConfig:
    data: dict[str, Any] = {
        "name": "office",
        "host": "outlook.office365.com",
        "username": "alice@example.org",
        "auth": "oauth2",
        "oauth2_client_id": "client-123",
        "oauth2_token_endpoint": server.url("/token") if server else "https://x.invalid/token",
        "oauth2_scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        "password_env": "MG_REFRESH",
    }
    data.update(overrides)
    return AccountConfig(**data)


def _ok(token: str, expires_in: int = 3600, **extra: Any) -> Reply:
    return Reply(200, {"access_token": token, "token_type": "Bearer",
                       "expires_in": expires_in, **extra})


# -- refresh-token grant -----------------------------------------------------------------


def test_first_call_fetches_second_uses_cache_expiry_refreshes(server: TokenServer) -> None:
    server.script("/token", _ok("access-1"), _ok("access-2"))
    clock = FakeClock()
    p = TokenProvider(_account(server), clock=clock)

    assert p.access_token() == "access-1"
    (form,) = server.forms()
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "client-123",
        "scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    }

    clock.now += 3000  # well inside the hour
    assert p.access_token() == "access-1"
    assert len(server.forms()) == 1

    clock.now += 550  # 3550 s: inside the one-minute safety margin before expiry
    assert p.access_token() == "access-2"
    assert len(server.forms()) == 2


def test_invalidate_forces_a_refresh(server: TokenServer) -> None:
    server.script("/token", _ok("access-1"), _ok("access-2"))
    p = TokenProvider(_account(server), clock=FakeClock())
    assert p.access_token() == "access-1"
    p.invalidate()  # the IMAP server said AUTHENTICATIONFAILED
    assert p.access_token() == "access-2"


def test_short_lifetime_refreshes_halfway(server: TokenServer) -> None:
    server.script("/token", _ok("a1", expires_in=60), _ok("a2", expires_in=60))
    clock = FakeClock()
    p = TokenProvider(_account(server), clock=clock)
    assert p.access_token() == "a1"
    clock.now += 29
    assert p.access_token() == "a1"
    clock.now += 2
    assert p.access_token() == "a2"


def test_missing_expires_in_uses_a_short_default(server: TokenServer) -> None:
    server.script("/token", Reply(200, {"access_token": "a1", "token_type": "bearer"}),
                  _ok("a2"))
    clock = FakeClock()
    p = TokenProvider(_account(server), clock=clock)
    assert p.access_token() == "a1"
    clock.now += 300
    assert p.access_token() == "a2"


def test_client_secret_comes_from_the_environment(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MG_CLIENT_SECRET", CLIENT_SECRET)
    server.script("/token", _ok("a1"))
    p = TokenProvider(_account(server, oauth2_client_secret_env="MG_CLIENT_SECRET"),
                      clock=FakeClock())
    p.access_token()
    assert server.forms()[0]["client_secret"] == CLIENT_SECRET
    assert logs.redact(CLIENT_SECRET) == "***"


def test_client_secret_env_unset_is_a_clear_error(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MG_CLIENT_SECRET", raising=False)
    p = TokenProvider(_account(server, oauth2_client_secret_env="MG_CLIENT_SECRET"))
    with pytest.raises(OAuth2Error, match="oauth2_client_secret_env is not set") as e:
        p.access_token()
    assert "MG_CLIENT_SECRET" not in str(e.value)  # the key is named, not its value
    assert server.forms() == []


def test_invalid_grant_is_permanent_clear_and_leaks_nothing(
    server: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Some servers echo the rejected token in the description; it must not get through.
    server.script("/token", Reply(400, {
        "error": "invalid_grant",
        "error_description": f"AADSTS70008: The refresh token {REFRESH} has expired.\nTrace: x",
    }))
    p = TokenProvider(_account(server), clock=FakeClock())
    with (
        caplog.at_level(logging.WARNING, logger="mailguard.oauth2"),
        pytest.raises(OAuth2Error) as e,
    ):
        p.access_token()
    err = e.value
    assert isinstance(err, SecretError)  # callers that handle SecretError handle this too
    assert err.permanent and err.error == "invalid_grant"
    msg = str(err)
    assert "invalid_grant" in msg and "HTTP 400" in msg and "AADSTS70008" in msg
    assert "mailguard oauth2 login --account office" in msg
    assert REFRESH not in msg
    assert "Trace:" not in msg  # first line of the description only
    # The warning logged for it is built from the same scrubbed text, so even a
    # handler without redaction (pytest's) never sees the token.
    assert "oauth2.error" in [getattr(r, "mg_event", None) for r in caplog.records]
    assert REFRESH not in caplog.text


def test_server_error_without_json_is_transient(server: TokenServer) -> None:
    server.script("/token", Reply(502, b"<html>Bad gateway</html>"))
    p = TokenProvider(_account(server), clock=FakeClock())
    with pytest.raises(OAuth2Error) as e:
        p.access_token()
    assert not e.value.permanent
    assert "HTTP 502" in str(e.value)


def test_redirects_are_not_followed(server: TokenServer) -> None:
    server.script("/token", Reply(307, {}, {"Location": server.url("/elsewhere")}))
    server.script("/elsewhere", _ok("stolen"))
    p = TokenProvider(_account(server), clock=FakeClock())
    with pytest.raises(OAuth2Error, match="HTTP 307"):
        p.access_token()
    assert server.forms("/elsewhere") == []


def test_unreachable_endpoint(server: TokenServer) -> None:
    url = server.url("/token")
    server.httpd.shutdown()
    server.httpd.server_close()
    p = TokenProvider(_account(oauth2_token_endpoint=url), clock=FakeClock())
    with pytest.raises(OAuth2Error, match=r"cannot reach the endpoint") as e:
        p.access_token()
    assert "127.0.0.1" not in str(e.value)  # config values are not echoed


def test_non_bearer_token_is_refused(server: TokenServer) -> None:
    server.script("/token", Reply(200, {"access_token": "a", "token_type": "mac"}))
    with pytest.raises(OAuth2Error, match="bearer"):
        TokenProvider(_account(server), clock=FakeClock()).access_token()


@pytest.mark.parametrize("url", ["http://login.example.com/token", "ftp://127.0.0.1/token"])
def test_plain_http_is_refused_except_on_loopback(url: str) -> None:
    with pytest.raises(OAuth2Error, match="https://"):
        TokenProvider(_account(oauth2_token_endpoint=url))


def test_tokens_are_registered_for_redaction_including_the_xoauth2_blob(
    server: TokenServer,
) -> None:
    server.script("/token", _ok("access-CANARY-5e6f"))
    p = TokenProvider(_account(server), clock=FakeClock())
    token = p.access_token()
    blob = base64.b64encode(xoauth2_string("alice@example.org", token).encode()).decode()
    assert logs.redact(f"> AUTHENTICATE XOAUTH2 {blob}") == "> AUTHENTICATE XOAUTH2 ***"
    assert logs.redact(token) == "***"
    assert logs.redact(REFRESH) == "***"


def test_xoauth2_string_format() -> None:
    assert xoauth2_string("a@b.c", "tok") == "user=a@b.c\x01auth=Bearer tok\x01\x01"


# -- refresh-token rotation --------------------------------------------------------------


def test_rotated_refresh_token_is_used_next_and_logged(
    server: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script("/token", _ok("a1", refresh_token="rotated-1"), _ok("a2"))
    clock = FakeClock()
    p = TokenProvider(_account(server), clock=clock)
    with caplog.at_level(logging.INFO, logger="mailguard.oauth2"):
        p.access_token()
    assert any(getattr(r, "mg_event", None) == "oauth2.refresh_token_rotated"
               for r in caplog.records)
    p.invalidate()
    p.access_token()
    assert [f["refresh_token"] for f in server.forms()] == [REFRESH, "rotated-1"]


def test_rotated_refresh_token_survives_a_restart_with_a_store(
    server: TokenServer, tmp_path: Path
) -> None:
    store = RefreshTokenStore(tmp_path / "oauth2")
    server.script("/token", _ok("a1", refresh_token="rotated-1"), _ok("a2"))
    TokenProvider(_account(server), store=store, clock=FakeClock()).access_token()
    saved = tmp_path / "oauth2" / "office.refresh-token.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert REFRESH not in saved.read_text()  # only a hash of the configured one

    # A new process (new provider) continues the chain from the stored token.
    TokenProvider(_account(server), store=store, clock=FakeClock()).access_token()
    assert server.forms()[-1]["refresh_token"] == "rotated-1"


def test_a_newly_configured_refresh_token_beats_the_stored_one(
    server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RefreshTokenStore(tmp_path)
    store.save("office", "an-older-configured-token", "stale-rotated")
    server.script("/token", _ok("a1"))
    TokenProvider(_account(server), store=store, clock=FakeClock()).access_token()
    assert server.forms()[-1]["refresh_token"] == REFRESH


def test_configured_token_change_is_picked_up_without_restart(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script("/token", _ok("a1", refresh_token="rotated-1"), _ok("a2"))
    p = TokenProvider(_account(server), clock=FakeClock())
    p.access_token()
    monkeypatch.setenv("MG_REFRESH", "freshly-signed-in-token")
    p.invalidate()
    p.access_token()
    assert server.forms()[-1]["refresh_token"] == "freshly-signed-in-token"


# -- token command -----------------------------------------------------------------------


def test_token_command_is_run_each_time(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    code = (
        "import pathlib,sys; p=pathlib.Path(sys.argv[1]); "
        "n=int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); print(f'cmd-{n}')"
    )
    acct = _account(oauth2_token_command=[sys.executable, "-c", code, str(counter)],
                    oauth2_client_id=None, oauth2_token_endpoint=None, password_env=None)
    p = TokenProvider(acct)
    assert p.access_token() == "cmd-1"
    assert p.access_token() == "cmd-2"  # the helper owns caching, not us
    assert logs.redact("cmd-2") == "***"


def test_token_command_failure_is_a_secret_error() -> None:
    code = "import sys; print('tok-CANARY'); sys.exit(2)"
    acct = _account(oauth2_token_command=[sys.executable, "-c", code],
                    oauth2_client_id=None, oauth2_token_endpoint=None, password_env=None)
    with pytest.raises(SecretError) as e:
        TokenProvider(acct).access_token()
    assert "oauth2_token_command" in str(e.value) and "status 2" in str(e.value)
    assert "tok-CANARY" not in str(e.value)


def test_token_provider_for_shares_one_provider_per_account(server: TokenServer) -> None:
    acct = _account(server)
    assert token_provider_for(acct) is token_provider_for(_account(server))
    changed = _account(server, oauth2_scope="other")
    assert token_provider_for(changed) is not token_provider_for(acct)


def test_token_provider_for_keeps_a_store_once_given(server: TokenServer, tmp_path: Path) -> None:
    acct = _account(server)
    first = token_provider_for(acct)
    assert first.store is None
    assert token_provider_for(acct, store_dir=tmp_path).store is not None
    assert token_provider_for(acct).store is not None
    # A reloaded (changed) account keeps persisting too.
    assert token_provider_for(_account(server, oauth2_scope="x")).store is not None


def test_password_accounts_have_no_token_provider() -> None:
    acct = AccountConfig(name="p", host="h", username="u", password_env="MG_REFRESH")
    with pytest.raises(ValueError):
        TokenProvider(acct)


# -- device code login (RFC 8628) --------------------------------------------------------


def test_device_code_login_polls_until_signed_in(server: TokenServer) -> None:
    server.script("/device", Reply(200, {
        "device_code": "device-CANARY-9", "user_code": "ABCD-EFGH",
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
        "interval": 2, "message": "To sign in, enter ABCD-EFGH at https://microsoft.com/devicelogin",
    }))
    server.script(
        "/token",
        Reply(400, {"error": "authorization_pending"}),
        Reply(400, {"error": "slow_down"}),
        _ok("access-x", refresh_token="brand-new-refresh"),
    )
    prompts: list[DeviceAuthorization] = []
    slept: list[float] = []
    clock = FakeClock()

    def sleep(s: float) -> None:
        slept.append(s)
        clock.now += s

    token = device_code_login(_account(server), device_endpoint=server.url("/device"),
                              prompt=prompts.append, sleep=sleep, clock=clock)
    assert token == "brand-new-refresh"
    (prompt,) = prompts
    assert prompt.user_code == "ABCD-EFGH" and "devicelogin" in prompt.verification_uri
    assert slept == [2, 2, 7]  # slow_down adds five seconds (RFC 8628 §3.5)
    (dev_form,) = server.forms("/device")
    assert dev_form == {"client_id": "client-123",
                        "scope": "https://outlook.office.com/IMAP.AccessAsUser.All "
                                 "offline_access"}
    polls = server.forms("/token")
    assert all(f["grant_type"] == DEVICE_CODE_GRANT_TYPE for f in polls)
    assert all(f["device_code"] == "device-CANARY-9" for f in polls)
    assert logs.redact("brand-new-refresh device-CANARY-9") == "*** ***"


def test_device_code_login_denied(server: TokenServer) -> None:
    server.script("/device", Reply(200, {"device_code": "d", "user_code": "U",
                                         "verification_uri": "https://x", "interval": 1}))
    server.script("/token", Reply(400, {"error": "access_denied",
                                        "error_description": "The user declined"}))
    with pytest.raises(OAuth2Error) as e:
        device_code_login(_account(server), device_endpoint=server.url("/device"),
                          prompt=lambda a: None, sleep=lambda s: None, clock=FakeClock())
    assert e.value.permanent and "access_denied" in str(e.value)


def test_device_code_expires(server: TokenServer) -> None:
    server.script("/device", Reply(200, {"device_code": "d", "user_code": "U",
                                         "verification_uri": "https://x", "interval": 5,
                                         "expires_in": 12}))
    server.script("/token", Reply(400, {"error": "authorization_pending"}))
    clock = FakeClock()

    def sleep(s: float) -> None:
        clock.now += s

    with pytest.raises(OAuth2Error, match="expired"):
        device_code_login(_account(server), device_endpoint=server.url("/device"),
                          prompt=lambda a: None, sleep=sleep, clock=clock)
    assert len(server.forms("/token")) == 2


def test_device_code_without_refresh_token_explains_offline_access(server: TokenServer) -> None:
    server.script("/device", Reply(200, {"device_code": "d", "user_code": "U",
                                         "verification_uri": "https://x", "interval": 1}))
    server.script("/token", _ok("only-access"))
    with pytest.raises(OAuth2Error, match="offline_access"):
        device_code_login(_account(server), device_endpoint=server.url("/device"),
                          prompt=lambda a: None, sleep=lambda s: None, clock=FakeClock())


def test_device_code_login_sends_the_client_secret_to_both_endpoints(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MG_CLIENT_SECRET", CLIENT_SECRET)
    server.script("/device", Reply(200, {"device_code": "d", "user_code": "U",
                                         "verification_uri": "https://x", "interval": 1}))
    server.script("/token", _ok("a", refresh_token="r-new"))
    acct = _account(server, oauth2_client_secret_env="MG_CLIENT_SECRET")
    assert device_code_login(acct, device_endpoint=server.url("/device"),
                             prompt=lambda a: None, sleep=lambda s: None,
                             clock=FakeClock()) == "r-new"
    assert server.forms("/device")[0]["client_secret"] == CLIENT_SECRET
    assert server.forms("/token")[0]["client_secret"] == CLIENT_SECRET


@pytest.mark.parametrize(("value", "word"), [(None, "not set"), ("", "empty")])
def test_device_code_login_with_missing_client_secret_asks_nothing(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch, value: str | None, word: str
) -> None:
    if value is None:
        monkeypatch.delenv("MG_CLIENT_SECRET", raising=False)
    else:
        monkeypatch.setenv("MG_CLIENT_SECRET", value)
    acct = _account(server, oauth2_client_secret_env="MG_CLIENT_SECRET")
    with pytest.raises(OAuth2Error, match=f"oauth2_client_secret_env is {word}") as e:
        device_code_login(acct, device_endpoint=server.url("/device"), prompt=lambda a: None)
    assert e.value.permanent
    assert server.forms("/device") == [] and server.forms("/token") == []


def test_default_device_endpoints() -> None:
    ms = "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    assert default_device_endpoint(ms) == (
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
    )
    assert default_device_endpoint("https://oauth2.googleapis.com/token") == (
        "https://oauth2.googleapis.com/device/code"
    )
    assert default_device_endpoint("https://idp.example.org/token") is None


def test_device_login_needs_an_endpoint_for_unknown_providers() -> None:
    acct = _account(oauth2_token_endpoint="https://idp.example.org/token")
    with pytest.raises(OAuth2Error, match="--device-endpoint"):
        device_code_login(acct, prompt=lambda a: None)
