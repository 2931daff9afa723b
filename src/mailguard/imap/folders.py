"""Folder names that follow the server: namespaces, separators and the Sent folder.

Why this exists: Cyrus and Courier keep every personal folder under the prefix
``INBOX.`` with ``.`` as the hierarchy separator, so ``CREATE Quarantine`` is
refused there, while Dovecot and Gmail put folders at the top level with
``/``. A configured name is therefore read as *relative to the personal
namespace and written with "/"*, and translated here to what this server
calls it. An exact server name can still be given: a name that already starts
with a namespace prefix, or is written with the server's own (non-"/")
separator, is used as it is.

:func:`resolve_folder` is pure and idempotent (resolving a resolved name gives
the same name), so a name may be resolved at any layer without harm. Every
folder a :class:`~mailguard.imap.client.ImapMailClient` is handed goes through
it, which is how the quarantine folder, the scanned folders and the mail-app
report folder (``Quarantine/Report``) all land in the same place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

INBOX = "INBOX"


@dataclass(frozen=True)
class NamespaceEntry:
    """One ``(prefix, separator)`` pair of an RFC 2342 NAMESPACE response."""

    prefix: str
    separator: str | None  # None: a flat namespace (no hierarchy)


@dataclass(frozen=True)
class Namespace:
    """What NAMESPACE (or, without it, ``LIST "" ""``) told us about the server's names.

    ``personal`` is the namespace the user's own folders live in; ``others``
    are the "other users" and "shared" namespaces, whose names are never
    prefixed with the personal prefix and in which we never create anything.
    """

    personal: NamespaceEntry = NamespaceEntry("", "/")
    others: tuple[NamespaceEntry, ...] = ()

    @property
    def prefix(self) -> str:
        return self.personal.prefix

    @property
    def separator(self) -> str:
        return self.personal.separator or "/"

    def describe(self) -> str:
        """For check-config: ``prefix "INBOX.", separator "."``."""
        return f'prefix "{self.prefix}", separator "{self.separator}"'

    def in_other_namespace(self, name: str) -> bool:
        """True for a name in another user's or a shared namespace (not ours to create)."""
        return any(
            e.prefix and _starts_with(name, e.prefix) and not _starts_with(name, self.prefix)
            for e in self.others
        )

    def relative(self, name: str) -> str:
        """``name`` without the personal prefix, written with "/" (for matching and display)."""
        if self.prefix and _starts_with(name, self.prefix):
            name = name[len(self.prefix) :]
        sep = self.separator
        return name.replace(sep, "/") if sep != "/" else name


DEFAULT_NAMESPACE = Namespace()


def _starts_with(name: str, prefix: str) -> bool:
    """Prefix test where the INBOX part is case-insensitive (RFC 3501 5.1)."""
    if name.startswith(prefix):
        return True
    head = prefix[: len(INBOX)]
    return (
        head.upper() == INBOX
        and name[: len(INBOX)].upper() == INBOX
        and name[len(INBOX) :].startswith(prefix[len(INBOX) :])
    )


def resolve_folder(name: str, namespace: Namespace = DEFAULT_NAMESPACE) -> str:
    """The server's name for the configured folder ``name``.

    * ``INBOX`` (any case) is ``INBOX``.
    * A name already under the personal prefix, or in another namespace, is exact.
    * A name containing the server's separator, when that is not "/", is exact
      (``INBOX.Quarantine`` on Courier; also a name such as ``Archive.2024``
      there, which is then reported by ``check-config`` if it is outside the
      personal namespace).
    * Otherwise "/" becomes the server's separator and the personal prefix is
      put in front: ``Quarantine`` -> ``INBOX.Quarantine`` on Cyrus/Courier,
      ``Quarantine/Report`` -> ``INBOX.Quarantine.Report``; unchanged on
      Dovecot and Gmail (prefix "", separator "/"). ``INBOX/Quarantine`` on
      Cyrus becomes ``INBOX.Quarantine`` (the prefix written with "/").
    """
    if name.upper() == INBOX:
        return INBOX
    prefix, sep = namespace.prefix, namespace.separator
    if prefix and _starts_with(name, prefix):
        return name
    if namespace.in_other_namespace(name):
        return name
    if sep != "/" and sep in name:
        return name
    translated = name.replace("/", sep) if sep != "/" else name
    if prefix and _starts_with(translated, prefix):
        return translated
    if prefix and translated.upper() == prefix.rstrip(sep).upper():
        return translated  # the prefix folder itself, e.g. "INBOX"
    return prefix + translated


# Names a Sent folder goes by when the server does not mark it with SPECIAL-USE \Sent,
# in order of preference, compared without case and relative to the personal namespace.
COMMON_SENT_NAMES: tuple[str, ...] = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "送信済み",
    "送信済みアイテム",
    "送信済みメール",
    "送信済みトレイ",
    "送信箱",
    "Gesendet",
    "Gesendete Objekte",
    "Gesendete Elemente",
    "Envoyés",
    "Éléments envoyés",
    "Messages envoyés",
    "Enviados",
    "Elementos enviados",
    "Itens enviados",
    "Inviati",
    "Posta inviata",
    "Verzonden",
    "Verzonden items",
    "Skickat",
    "Skickade objekt",
    "Sendt",
    "Wysłane",
    "Отправленные",
    "已发送",
    "寄件備份",
    "보낸편지함",
    "[Gmail]/Sent Mail",
    "[Google Mail]/Sent Mail",
)


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


@dataclass(frozen=True)
class ListedFolder:
    """One LIST response line: the name and its attributes (lower-cased)."""

    name: str
    flags: frozenset[str]


def find_sent(listed: Iterable[ListedFolder], namespace: Namespace) -> str | None:
    """The Sent folder: SPECIAL-USE ``\\Sent``, else the best common name under the namespace.

    A folder that cannot be selected (``\\Noselect``, ``\\NonExistent``) is never chosen.
    """
    usable = [f for f in listed if not f.flags & {"\\noselect", "\\nonexistent"}]
    for f in usable:
        if "\\sent" in f.flags:
            return f.name
    by_relative: dict[str, str] = {}
    for f in usable:
        by_relative.setdefault(_key(namespace.relative(f.name)), f.name)
        by_relative.setdefault(_key(f.name), f.name)
    for f in usable:
        # A server that does not announce its "INBOX." prefix (no NAMESPACE): INBOX.Sent.
        for sep in ".", "/":
            if f.name.upper().startswith(INBOX + sep):
                by_relative.setdefault(_key(f.name[len(INBOX) + 1 :].replace(sep, "/")), f.name)
    for candidate in COMMON_SENT_NAMES:
        hit = by_relative.get(_key(candidate))
        if hit is not None:
            return hit
    return None


def parse_namespace(
    personal: Sequence[tuple[str, str | None]] | None,
    other: Sequence[tuple[str, str | None]] | None = None,
    shared: Sequence[tuple[str, str | None]] | None = None,
) -> Namespace:
    """A :class:`Namespace` from the three lists of a NAMESPACE response (the first personal
    entry counts; a missing personal namespace means prefix "" and separator "/")."""
    entries = [NamespaceEntry(p, s) for p, s in (personal or ())]
    rest = tuple(NamespaceEntry(p, s) for p, s in [*(other or ()), *(shared or ())])
    return Namespace(entries[0] if entries else NamespaceEntry("", "/"), rest)


__all__ = [
    "COMMON_SENT_NAMES",
    "DEFAULT_NAMESPACE",
    "ListedFolder",
    "Namespace",
    "NamespaceEntry",
    "find_sent",
    "parse_namespace",
    "resolve_folder",
]
