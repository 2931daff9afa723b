"""What ``check-config --connect`` and ``scan --dry-run`` learn from a logged-in server.

A config that validates can still quarantine nothing: the quarantine folder
may be refused by the server (Cyrus and Courier keep personal folders under
``INBOX.``), a scanned folder may not exist, there may be no Sent folder to
look in. This module asks the server -- with reads only: LIST, NAMESPACE and,
where the server has ACLs, MYRIGHTS -- and reports each finding as a line, the
ones that would make a real pass fail as problems. It never creates a folder:
"would be created" is reported, and the first real quarantine creates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailguard.config import AccountConfig
from mailguard.imap.base import MailClient
from mailguard.imap.folders import ListedFolder, Namespace

_UNUSABLE = frozenset({"\\noselect", "\\nonexistent"})


@dataclass
class ProbeReport:
    """Lines to print under the account, and which of them are problems."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    quarantine_folder: str | None = None
    sent_folder: str | None = None
    strategy: str | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)

    def problem(self, line: str) -> None:
        self.lines.append(f"PROBLEM: {line}")
        self.problems.append(line)


def move_strategy(capabilities: frozenset[str]) -> str:
    """How a message will be moved on a server with ``capabilities`` (words for people)."""
    if "MOVE" in capabilities:
        return "MOVE"
    if "UIDPLUS" in capabilities:
        return "UIDPLUS (UID COPY + UID STORE \\Deleted + UID EXPUNGE of that one message)"
    return (
        "copy-only (no MOVE, no UIDPLUS): scams are copied to quarantine and the original "
        "stays where it is; a mailbox-wide EXPUNGE is never sent"
    )


def _listed(client: MailClient, name: str) -> ListedFolder | None:
    return next((f for f in client.list_folders(name) if f.name == name), None)


def check_creatable(client: MailClient, name: str, namespace: Namespace) -> str | None:
    """Why ``name`` (resolved, not existing) could not be created, or None if it can be.

    Judged by what the server says without creating anything: the namespaces, the
    parent folder's ``\\Noinferiors``, and the ACL right to create children (``k``).
    """
    if namespace.in_other_namespace(name):
        return "it is in another user's or a shared namespace, where mailguard creates nothing"
    prefix, sep = namespace.prefix, namespace.separator
    if prefix and not name.upper().startswith(prefix.upper()):
        return (
            f'it is outside your personal namespace (prefix "{prefix}", separator "{sep}"); '
            "write the name relative to it, with /, e.g. Quarantine"
        )
    inner = name[len(prefix) :]
    if sep in inner:
        parent = prefix + inner.rsplit(sep, 1)[0]
    else:
        parent = prefix[: -len(sep)] if prefix.endswith(sep) else prefix  # "INBOX." -> "INBOX"
    if parent:
        listed = _listed(client, parent)
        if listed is not None and "\\noinferiors" in listed.flags:
            return f"the server does not allow folders inside {parent} (\\Noinferiors)"
        rights = client.my_rights(parent) if listed is not None else None
        if rights is not None and not ({"k", "c"} & set(rights)):
            return f"your rights on {parent} ({rights}) do not include creating folders (k)"
    return None


def probe_account(client: MailClient, account: AccountConfig) -> ProbeReport:
    """Capabilities, namespace, resolved folders and move strategy of one logged-in account."""
    report = ProbeReport()
    caps = client.capabilities
    report.add("capabilities: " + " ".join(sorted(caps)))
    namespace = client.namespace()
    report.add(f"personal namespace: {namespace.describe()}")

    scanned: set[str] = set()
    for folder in account.folders:
        resolved = client.resolve_folder(folder)
        scanned.add(resolved)
        listed = _listed(client, resolved)
        label = resolved if resolved == folder else f"{resolved} (configured {folder!r})"
        if listed is None or listed.flags & _UNUSABLE:
            report.problem(f"scanned folder {label} does not exist")
        else:
            report.add(f"scanned folder: {label}")

    quarantine = client.resolve_folder(account.quarantine_folder)
    report.quarantine_folder = quarantine
    label = (
        quarantine
        if quarantine == account.quarantine_folder
        else f"{quarantine} (configured {account.quarantine_folder!r})"
    )
    listed = _listed(client, quarantine)
    if quarantine in scanned:
        # "Quarantine" and "INBOX.Quarantine" are one folder on Courier: the config check
        # cannot see that, the server's names can.
        report.problem(f"quarantine folder {label} is also a scanned folder on this server")
    elif listed is not None and not listed.flags & _UNUSABLE:
        report.add(f"quarantine folder: {label}, exists")
    else:
        why = check_creatable(client, quarantine, namespace)
        if why is None:
            report.add(f"quarantine folder: {label}, would be created by the first quarantine")
        else:
            report.problem(f"quarantine folder {label} cannot be created: {why}")

    if account.sent_folder:
        sent = client.resolve_folder(account.sent_folder)
        found = _listed(client, sent)
        if found is None or found.flags & _UNUSABLE:
            report.problem(f"sent_folder {sent} does not exist")
        else:
            report.sent_folder = sent
            report.add(f"Sent folder: {sent} (configured)")
    else:
        sent_found = client.sent_folder()
        report.sent_folder = sent_found
        if sent_found is None:
            report.add(
                "Sent folder: none found (no \\Sent folder, no usual Sent name); the "
                '"you already wrote to them" check is off -- set sent_folder to turn it on'
            )
        else:
            report.add(f"Sent folder: {sent_found}")

    report.strategy = move_strategy(caps)
    report.add(f"move strategy: {report.strategy}")
    return report


__all__ = ["ProbeReport", "check_creatable", "move_strategy", "probe_account"]
