"""Did the user already write to this sender? The founding story of mailguard.

A person who mailed the scammer to "withdraw" has handed over a working
address, and the next mail is a follow-up. Finding that in the Sent folder
(by header search only, never fetching bodies) changes the advice we give.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache

from mailguard.detect.engine import load_default_checked
from mailguard.imap.base import MailClient, MailClientError
from mailguard.logs import log_event

log = logging.getLogger("mailguard.sentcheck")

# Accounts already warned about a missing Sent folder: once per process, not per pass.
_warned_no_sent: set[str] = set()


@lru_cache(maxsize=1)
def _freemail_domains() -> frozenset[str]:
    return load_default_checked().sets.get("freemail", frozenset())


def is_freemail(domain: str) -> bool:
    """True for gmail.com, yahoo.co.jp and the like (the rule data's free-mail list)."""
    domain = domain.lower().strip(".")
    return any(domain == d or domain.endswith("." + d) for d in _freemail_domains())


class SentFolderCheck:
    """Looks up the Sent folder once per pass and caches answers per address.

    The client opens Sent with EXAMINE (it is only read), and the scanner assesses
    a whole batch before acting on it, so the lookups of one batch share one
    selection of Sent.
    """

    def __init__(self, client: MailClient, account: str, sent_folder: str | None = None) -> None:
        self.client = client
        self.account = account
        self._configured = sent_folder
        self._folder: str | None = None
        self._looked = False
        self._cache: dict[str, datetime | None] = {}

    def _sent_folder(self) -> str | None:
        if not self._looked:
            self._looked = True
            self._folder = self._configured or self.client.sent_folder()
            if self._folder is None and self.account not in _warned_no_sent:
                _warned_no_sent.add(self.account)
                log_event(
                    log,
                    "sentcheck.no_sent_folder",
                    level=logging.WARNING,
                    account=self.account,
                    reason="no folder marked \\Sent and none with a usual Sent name; the "
                    '"you already wrote to them" check is off (set sent_folder to turn it on)',
                )
        return self._folder

    def last_contact(self, address: str) -> datetime | None:
        """Latest date the user wrote to ``address`` (or its non-free-mail domain)."""
        address = address.strip().lower()
        if not address or "@" not in address:
            return None
        if address in self._cache:
            return self._cache[address]
        result: datetime | None = None
        try:
            folder = self._sent_folder()
            if folder is not None:
                dates = self.client.search_sent_to(folder, address)
                domain = address.rpartition("@")[2]
                if not dates and domain and not is_freemail(domain):
                    # Any address at the scammer's own domain counts; a free-mail
                    # domain would match half the user's correspondents.
                    dates = self.client.search_sent_to(folder, "@" + domain)
                result = max(dates) if dates else None
        except MailClientError as e:
            log_event(
                log,
                "sentcheck.failed",
                level=logging.WARNING,
                account=self.account,
                error=str(e),
            )
        self._cache[address] = result
        return result
