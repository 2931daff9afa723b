"""Shared fixtures: one real Dovecot per test session, one fresh user per test.

The integration suite is mandatory, so a missing Dovecot is a failure with a fix,
never a skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from mailguard.testing import SETUP_HINT, DovecotServer, Mailbox, locate_dovecot

# CI replays the same examples every run (a red CI must be reproducible);
# local runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def start_dovecot(**options: Any) -> DovecotServer:
    """Start a DovecotServer, or fail the test with the way to fix the machine."""
    if locate_dovecot() is None:
        pytest.fail(
            f"no Dovecot here: the integration tests need a real one; {SETUP_HINT}.",
            pytrace=False,
        )
    server = DovecotServer(**options)
    server.start()
    return server


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """The session's Dovecot (MOVE, UIDPLUS, SPECIAL-USE; TLS with ``ca_file``)."""
    server = start_dovecot()
    try:
        yield server
    finally:
        server.close()


def _canonical(value: Any) -> Any:
    return sorted(value) if isinstance(value, set | frozenset | list | tuple) else value


@pytest.fixture(scope="session")
def dovecot_factory() -> Iterator[Callable[..., DovecotServer]]:
    """Extra Dovecots that differ in capabilities, e.g. ``dovecot_factory(hide_capabilities=
    ["MOVE"])``. One server per distinct set of options for the whole session."""
    servers: dict[str, DovecotServer] = {}

    def get(**options: Any) -> DovecotServer:
        key = repr(sorted((k, _canonical(v)) for k, v in options.items()))
        if key not in servers:
            servers[key] = start_dovecot(**options)
        return servers[key]

    try:
        yield get
    finally:
        for server in servers.values():
            server.close()


@pytest.fixture
def mailbox(dovecot: DovecotServer, request: pytest.FixtureRequest) -> Mailbox:
    """A fresh user on the session Dovecot, named after the test for readable logs.

    Has ``user``, ``password``, ``host``, ``port`` (implicit TLS), ``imap_port``,
    ``ca_file``, ``client()`` (a logged-in imapclient) and
    ``account_config(password_env, **overrides)``.
    """
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:24] or "t"
    return dovecot.mailbox(dovecot.unique_name(stem))
