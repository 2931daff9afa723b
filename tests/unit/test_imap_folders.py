"""Folder names that follow the server: resolve_folder and find_sent (issue 12, items 1-3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailguard.imap.folders import (
    ListedFolder,
    Namespace,
    NamespaceEntry,
    find_sent,
    parse_namespace,
    resolve_folder,
)

DOVECOT = parse_namespace([("", "/")])
COURIER = parse_namespace([("INBOX.", ".")])  # Cyrus (altnamespace off) looks the same
SHARED = parse_namespace([("INBOX.", ".")], [("user.", ".")], [("shared.", ".")])
INBOX_SLASH = parse_namespace([("INBOX/", "/")])


@pytest.mark.parametrize(
    ("name", "namespace", "want"),
    [
        ("Quarantine", DOVECOT, "Quarantine"),
        ("Quarantine", COURIER, "INBOX.Quarantine"),
        ("Quarantine/Report", DOVECOT, "Quarantine/Report"),
        ("Quarantine/Report", COURIER, "INBOX.Quarantine.Report"),
        ("INBOX/Quarantine", COURIER, "INBOX.Quarantine"),  # issue 12 item 2
        ("INBOX.Quarantine", COURIER, "INBOX.Quarantine"),  # an exact name stays
        ("inbox.Quarantine", COURIER, "inbox.Quarantine"),  # INBOX is case-insensitive
        ("Archive.Quarantine", COURIER, "Archive.Quarantine"),  # exact, server separator
        ("INBOX", COURIER, "INBOX"),
        ("inbox", DOVECOT, "INBOX"),
        ("Sent Items", COURIER, "INBOX.Sent Items"),
        ("送信済み", COURIER, "INBOX.送信済み"),
        ("user.bob.Quarantine", SHARED, "user.bob.Quarantine"),
        ("Quarantine", INBOX_SLASH, "INBOX/Quarantine"),
        ("INBOX/Quarantine", INBOX_SLASH, "INBOX/Quarantine"),
        ("[Gmail]/Sent Mail", DOVECOT, "[Gmail]/Sent Mail"),
    ],
)
def test_resolve_folder(name: str, namespace: Namespace, want: str) -> None:
    assert resolve_folder(name, namespace) == want


names = st.lists(
    st.sampled_from([*"abcXYZ/.- 送信", "INBOX", "inbox", "INBOX.", "INBOX/"]),
    min_size=1,
    max_size=8,
).map("".join)


@given(names, st.sampled_from([DOVECOT, COURIER, SHARED, INBOX_SLASH]))
def test_resolving_twice_changes_nothing(name: str, namespace: Namespace) -> None:
    """Names are resolved at more than one layer (client, pipeline, stored records)."""
    once = resolve_folder(name, namespace)
    assert resolve_folder(once, namespace) == once


def test_parse_namespace_without_personal_defaults_to_top_level() -> None:
    ns = parse_namespace(None, None, None)
    assert (ns.prefix, ns.separator) == ("", "/")
    assert SHARED.others == (NamespaceEntry("user.", "."), NamespaceEntry("shared.", "."))


def folders(*names: str, sent: str | None = None) -> list[ListedFolder]:
    out = [ListedFolder(n, frozenset()) for n in names]
    if sent:
        out.append(ListedFolder(sent, frozenset({"\\sent"})))
    return out


@pytest.mark.parametrize(
    ("listed", "namespace", "want"),
    [
        (folders("INBOX", "INBOX.Sent Items", "INBOX.Trash"), COURIER, "INBOX.Sent Items"),
        (folders("INBOX", "INBOX.送信済み"), COURIER, "INBOX.送信済み"),
        (folders("INBOX", "INBOX.Gesendet"), COURIER, "INBOX.Gesendet"),
        (folders("INBOX", "INBOX.Envoyés"), COURIER, "INBOX.Envoyés"),
        (folders("INBOX", "Enviados"), DOVECOT, "Enviados"),
        (folders("INBOX", "sent items"), DOVECOT, "sent items"),  # case does not matter
        (folders("INBOX", "Sent", sent="Outbox Copies"), DOVECOT, "Outbox Copies"),  # \Sent wins
        (folders("INBOX", "Sent Messages", "Sent"), DOVECOT, "Sent"),  # preference order
        (folders("INBOX", "[Gmail]/Sent Mail"), DOVECOT, "[Gmail]/Sent Mail"),
        (folders("INBOX", "Drafts"), COURIER, None),
        (folders("INBOX", "INBOX.Sent"), DOVECOT, "INBOX.Sent"),  # prefix not announced
        (folders("INBOX", "INBOX/Sent Items"), DOVECOT, "INBOX/Sent Items"),
    ],
)
def test_find_sent(listed: list[ListedFolder], namespace: Namespace, want: str | None) -> None:
    assert find_sent(listed, namespace) == want


def test_find_sent_skips_folders_that_cannot_be_selected() -> None:
    listed = [ListedFolder("INBOX.Sent", frozenset({"\\noselect"})), *folders("INBOX.Sent Items")]
    assert find_sent(listed, COURIER) == "INBOX.Sent Items"


# -- the in-memory double resolves the same way (its server refuses names outside "INBOX.") --
def test_memory_client_follows_a_courier_namespace() -> None:
    from mailguard.imap.base import MailClientError
    from mailguard.testing.memory_mail import MemoryMailServer

    server = MemoryMailServer(prefix="INBOX.", separator=".", special_use={})
    with pytest.raises(MailClientError, match="namespace"):
        server.create_folder("Quarantine")
    server.create_folder("INBOX.Sent Items")
    client = server.client()
    client.ensure_folder("Quarantine")
    client.ensure_folder("Quarantine/Report")
    assert server.has_folder("INBOX.Quarantine") and server.has_folder("INBOX.Quarantine.Report")
    assert client.sent_folder() == "INBOX.Sent Items"
    uid = server.deliver("INBOX", b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nhi\r\n")
    client.move("INBOX", uid, "Quarantine")
    assert server.uids("INBOX.Quarantine") == [1] and server.uids("INBOX") == []


def test_memory_client_read_only_examines_and_refuses_writes() -> None:
    from mailguard.imap.base import MailClientError
    from mailguard.testing.memory_mail import MemoryMailServer

    server = MemoryMailServer()
    uid = server.deliver("INBOX", b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nhi\r\n")
    client = server.client()
    client.set_read_only(True)
    assert client.search_uids("INBOX") == [uid]
    assert client.commands["EXAMINE"] == 1 and client.commands["SELECT"] == 0
    for write in (
        lambda: client.ensure_folder("Quarantine"),
        lambda: client.move("INBOX", uid, "Quarantine"),
        lambda: client.append("INBOX", b"Subject: y\r\n\r\n"),
    ):
        with pytest.raises(MailClientError, match="read-only"):
            write()
    assert server.uids("INBOX") == [uid] and not server.has_folder("Quarantine")
