"""systemd service notifications (``sd_notify``): READY, STATUS, WATCHDOG, STOPPING.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit
started, shows ``STATUS=`` in ``systemctl status``, and with ``WatchdogSec=``
restarts the daemon if ``WATCHDOG=1`` stops arriving, which is what turns a
silent hang after three months into a logged restart.

The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket in
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading
``@``). It is small enough to speak directly, which also lets a failure be
logged instead of swallowed. Without ``$NOTIFY_SOCKET`` (a terminal, a test,
a non-systemd supervisor) every call is a cheap no-op.

Ping the watchdog from the loop that proves the daemon is alive (the main
loop that also drives the scheduler), never from a thread of its own that
would keep pinging while the real work is stuck.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

from mailguard.logs import log_event

__all__ = ["Notifier"]

log = logging.getLogger("mailguard.notify")

_MAX_STATUS = 200


class Notifier:
    """Sends notifications to systemd; all methods return whether a message was sent."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = self._parse_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog = self._parse_watchdog(env)
        self._lock = threading.Lock()
        self._warned = False

    @staticmethod
    def _parse_address(value: str) -> str | None:
        if not value:
            return None
        if value.startswith("@"):
            return "\0" + value[1:]  # Linux abstract namespace
        if value.startswith("/"):
            return value
        # e.g. "vsock:…" (systemd 253+, for VMs): not something a mail daemon is run under.
        log_event(log, "notify.error", logging.WARNING,
                  "NOTIFY_SOCKET has an unsupported address; notifications disabled")
        return None

    @staticmethod
    def _parse_watchdog(env: Mapping[str, str]) -> float | None:
        usec = env.get("WATCHDOG_USEC", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        pid = env.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            return None  # the watchdog is meant for another process (we are a child)
        return int(usec) / 1_000_000

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notification socket."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec=), or None without a watchdog."""
        return self._watchdog / 2 if self._watchdog else None

    def notify(self, *assignments: str) -> bool:
        """Send raw ``KEY=VALUE`` assignments in one datagram. Never raises."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                # Never block: when the reader's queue is full a blocking send hangs
                # the main thread, which then never runs the SIGTERM handler (seen
                # in the service test). A dropped ping is followed by the next one.
                s.setblocking(False)
                s.connect(self._address)
                s.sendall(payload)
        except OSError as e:
            with self._lock:
                first, self._warned = not self._warned, True
            # Once, not on every watchdog ping: systemd will say the rest.
            if first:
                log_event(log, "notify.error", logging.WARNING,
                          "cannot notify systemd", reason=e.strerror or type(e).__name__)
            return False
        return True

    @staticmethod
    def _status_line(text: str) -> str:
        # One line: a newline would start a new assignment in the datagram.
        clean = " ".join(text.split())
        return "STATUS=" + (clean if len(clean) <= _MAX_STATUS else clean[: _MAX_STATUS - 1] + "…")

    def _notify_with_status(self, state: str, status: str | None) -> bool:
        """``state`` and, in the same datagram, the status line that goes with it (if any)."""
        parts = [state]
        if status:
            parts.append(self._status_line(status))
        return self.notify(*parts)

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (``READY=1``), optionally with a status line."""
        return self._notify_with_status("READY=1", status)

    def status(self, text: str) -> bool:
        """Free-form status shown by ``systemctl status``."""
        return self.notify(self._status_line(text))

    def watchdog(self) -> bool:
        """Keep-alive ping; send it every :meth:`watchdog_interval` seconds."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd a clean shutdown has begun, so a slow stop is not mistaken for a hang."""
        return self._notify_with_status("STOPPING=1", status)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time in the current start/stop phase (``EXTEND_TIMEOUT_USEC``)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")
