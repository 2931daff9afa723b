"""A real, throwaway Dovecot IMAP server on loopback.

The test suite and ``mailguard demo`` both need an IMAP server that behaves
like the ones users have -- real MOVE/UIDPLUS semantics, real flag handling,
real TLS -- and a fake would only test our assumptions about IMAP. So this
module runs Debian's Dovecot in the foreground from a private temporary
directory: its own config, self-signed certificate, users file, mail, logs and
sockets, listening on free ports on 127.0.0.1. Nothing outside that directory
is touched, and no process outlives :meth:`stop`.

Which Dovecot (:func:`locate_dovecot`): an installed ``/usr/sbin/dovecot`` if
the machine has one (we only run the binary, with our own config; a system
Dovecot service is never started, stopped or reconfigured), else the Debian
packages unpacked without installing them (``apt-get download`` + ``dpkg -x``,
what ``./run setup`` does) into ``$MAILGUARD_DOVECOT_ROOT`` or
``~/.cache/mailguard/dovecot-root``. Installing ``dovecot-imapd`` would remove
an installed Courier or Cyrus (they conflict); an unpacked copy cannot. Its
binaries look for their modules under the compiled-in ``/usr/lib/dovecot``, so
an unpacked copy runs inside a private mount namespace (``unshare -m``) in
which an overlay puts it over ``/usr``; the machine's own ``/usr`` is never
changed. That needs root.

It works as root (CI; Debian's ``dovecot``/``dovenull`` service users when they
exist, else ``nobody``, and ``nobody`` as the mail owner) and as a normal user
with an installed Dovecot (everything runs as that user; login chroots are
disabled).

Example::

    with DovecotServer() as server:
        user, password = server.add_user()
        with server.client(user, password) as imap:
            imap.append("INBOX", b"Subject: hi\\r\\n\\r\\nhello\\r\\n")
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import imapclient

if TYPE_CHECKING:
    from mailguard.config import AccountConfig

DOVECOT_BINARY = Path("/usr/sbin/dovecot")
SYSTEM_IMAP_BINARY = Path("/usr/lib/dovecot/imap")  # from dovecot-imapd
SETUP_HINT = (
    "in a source checkout run `./run setup` (as root: it unpacks Dovecot into a cache "
    "without installing it); otherwise install the Debian/Ubuntu package dovecot-imapd"
)


@dataclass(frozen=True)
class DovecotInstall:
    """A Dovecot to run: the system's, or an unpacked copy laid over ``/usr`` privately."""

    binary: Path
    unpacked_root: Path | None = None  # a dpkg -x tree holding usr/sbin/dovecot

    @property
    def needs_overlay(self) -> bool:
        return self.unpacked_root is not None


def unpacked_dovecot_root() -> Path:
    """Where ``./run setup`` unpacks the Dovecot packages (``$MAILGUARD_DOVECOT_ROOT`` wins)."""
    configured = os.environ.get("MAILGUARD_DOVECOT_ROOT")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mailguard" / "dovecot-root"


# The packages an unpacked Dovecot needs beyond a minimal Debian: Dovecot itself and the
# libraries it links that such a machine may lack.
DOVECOT_DEBS = ("dovecot-core", "dovecot-imapd", "libexttextcat-2.0-0", "liblua5.4-0", "libwrap0")


def unpack_dovecot(root: Path) -> Path:
    """Download Dovecot's Debian packages and unpack them into ``root``; install nothing.

    ``apt-get download`` fetches the .deb files only and ``dpkg-deb -x`` extracts
    them: no maintainer scripts run, so no service is started, no user created
    and no conflicting IMAP server (Courier, Cyrus) removed. Returns ``root``.
    """
    apt, dpkg_deb = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt is None or dpkg_deb is None:
        raise DovecotError("apt-get and dpkg-deb are needed to unpack Dovecot (Debian/Ubuntu)")
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)  # dpkg-deb -x creates one level, not ~/.cache/mailguard/
    with tempfile.TemporaryDirectory(prefix="mailguard-debs-") as tmp:
        os.chmod(tmp, 0o755)  # apt's download user must be able to write here
        done = subprocess.run(
            [apt, "download", "-qq", *DOVECOT_DEBS], cwd=tmp, capture_output=True, text=True
        )
        debs = sorted(Path(tmp).glob("*.deb"))
        if done.returncode != 0 or len(debs) < len(DOVECOT_DEBS):
            raise DovecotError(
                "apt-get download of Dovecot failed (run `apt-get update` first?): "
                + done.stderr.strip()[-500:]
            )
        for deb in debs:
            subprocess.run([dpkg_deb, "-x", str(deb), str(partial)], check=True)
    for path in [partial, *partial.rglob("*")]:
        if not path.is_symlink():  # nobody (Dovecot's unprivileged processes) must read it
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def locate_dovecot() -> DovecotInstall | None:
    """The Dovecot the tests and the demo can run, or None with nothing usable here."""
    root = unpacked_dovecot_root()
    unpacked = root / "usr" / "sbin" / "dovecot"
    if os.environ.get("MAILGUARD_DOVECOT_ROOT") and unpacked.exists():
        return DovecotInstall(unpacked, root)
    # An installed dovecot-core without dovecot-imapd (e.g. Courier took the IMAP role)
    # cannot serve IMAP: then the unpacked copy is the one to run.
    if DOVECOT_BINARY.exists() and SYSTEM_IMAP_BINARY.exists():
        return DovecotInstall(DOVECOT_BINARY)
    if unpacked.exists() and os.geteuid() == 0 and shutil.which("unshare"):
        return DovecotInstall(unpacked, root)
    return None


# "dovecot": Dovecot's usual layout (prefix "", separator "/", SPECIAL-USE, MOVE);
# "courier": what Courier and Cyrus show a client (prefix "INBOX.", separator ".").
LAYOUTS = ("dovecot", "courier")

_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,62}$")


class DovecotError(RuntimeError):
    """Dovecot could not be set up, started or stopped; the message carries its log tail."""


@dataclass(frozen=True)
class _Identity:
    """Who the Dovecot processes and the mail files run as."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int
    rootless: bool


def _identity() -> _Identity:
    """Debian service users when root; otherwise everything is the current user.

    Mail must not be owned by root (Dovecot refuses UID 0 for mail access), so
    as root the mail owner is ``nobody``.
    """
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("nobody")
        except KeyError:
            raise DovecotError("the 'nobody' user is missing; Dovecot needs it") from None
        owner_group = grp.getgrgid(owner.pw_gid).gr_name
        try:
            pwd.getpwnam("dovenull")
            dovecot_group = grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
        except KeyError:
            # Unpacked, not installed: no service users were created (and we create
            # none). ``nobody`` runs the unprivileged processes instead.
            return _Identity("nobody", owner_group, "nobody", owner.pw_uid, owner.pw_gid, False)
        return _Identity("dovecot", dovecot_group, "dovenull", owner.pw_uid, owner.pw_gid, False)
    me = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(os.getegid()).gr_name
    return _Identity(me.pw_name, group, me.pw_name, me.pw_uid, os.getegid(), True)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    """Self-signed certificate for 127.0.0.1 and localhost, usable as its own CA file."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DovecotError(f"the openssl command is missing; {SETUP_HINT}")
    cmd = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
        "-subj", "/CN=127.0.0.1/O=mailguard test",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext", "extendedKeyUsage=serverAuth",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DovecotError(f"openssl could not make a test certificate:\n{done.stderr.strip()}")
    key.chmod(0o600)
    return cert, key


@dataclass(frozen=True)
class Mailbox:
    """One test user on a running :class:`DovecotServer`, with what a client needs."""

    server: DovecotServer
    user: str
    password: str = field(repr=False)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        """The implicit-TLS port (what ``security = "tls"`` connects to)."""
        return self.server.imaps_port

    @property
    def imap_port(self) -> int:
        """The plain/STARTTLS port."""
        return self.server.imap_port

    @property
    def ca_file(self) -> Path:
        return self.server.ca_file

    def client(self, *, ssl: bool = True, starttls: bool = False) -> imapclient.IMAPClient:
        return self.server.client(self.user, self.password, ssl=ssl, starttls=starttls)

    def account_config(self, password_env: str, **overrides: Any) -> AccountConfig:
        return self.server.account_config(self.user, password_env, **overrides)


class DovecotServer:
    """Runs ``dovecot -F`` in its own process group from a private temporary directory.

    ``directory`` puts the server's files there instead (created if missing,
    never deleted by :meth:`close`); Dovecot's mail processes must be able to
    enter it, which :meth:`start` checks.

    ``capability`` replaces the post-login CAPABILITY list outright;
    ``hide_capabilities`` removes names (e.g. ``{"MOVE"}``) from the list this
    Dovecot really advertises (learned by logging in once); ``extra_capabilities``
    adds names (e.g. ``{"X-GM-EXT-1"}``). Hiding a capability only changes what
    is advertised -- Dovecot still accepts the command -- which is exactly what a
    client that must decide by capabilities should be tested against.

    ``sent_auto`` makes Dovecot create (and subscribe) the ``Sent`` folder for
    every user; by default it exists only once a client creates it, so tests can
    choose. ``Sent`` and ``Junk`` carry SPECIAL-USE ``\\Sent`` / ``\\Junk``.

    ``layout="courier"`` makes this Dovecot look like Courier or Cyrus to a client:
    the personal namespace has the prefix ``INBOX.`` and the separator ``.``
    (``CREATE Quarantine`` is refused), MOVE and SPECIAL-USE are not advertised
    and no folder carries a special-use flag. Combine with
    ``hide_capabilities=["UIDPLUS"]`` for a server that can only copy.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        capability: str | None = None,
        hide_capabilities: Iterable[str] = (),
        extra_capabilities: Iterable[str] = (),
        sent_auto: bool = False,
        layout: str = "dovecot",
        binary: Path | str | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 20.0,
        keep_files: bool = False,
    ) -> None:
        install = DovecotInstall(Path(binary)) if binary is not None else locate_dovecot()
        self._install = install
        self.binary = install.binary if install is not None else DOVECOT_BINARY
        self.host = host
        self.start_timeout = start_timeout
        self.keep_files = keep_files
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
        self.layout = layout
        self._capability = capability
        hidden = set(hide_capabilities)
        if layout == "courier":
            hidden |= {"MOVE", "SPECIAL-USE"}
        self._hide = frozenset(c.upper() for c in hidden)
        self._extra = tuple(extra_capabilities)
        self._sent_auto = sent_auto
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._directory = Path(directory) if directory is not None else None
        self._root: Path | None = None
        self.imap_port = 0
        self.imaps_port = 0

    # -- paths ---------------------------------------------------------------

    @property
    def root(self) -> Path:
        if self._root is None:
            raise DovecotError("the server has not been started")
        return self._root

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate; pass it as ``tls_ca_file`` / ``cafile``."""
        return self.root / "cert.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def users_dir(self) -> Path:
        return self.root / "users"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start (or start again, keeping users and mail) and wait until both ports answer."""
        if self.running:
            return
        if self._install is None or not self.binary.exists():
            raise DovecotError(f"no Dovecot found; {SETUP_HINT}")
        if self._root is None:
            self._prepare()
        if self._hide and self._capability is None:
            self._capability = self._probe_capability_line()
        self._write_config()
        self._launch()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group and wait; SIGKILL whatever is left. Keeps the files."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)  # the master shuts its children down
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self._kill_group(proc)

    def kill(self) -> None:
        """SIGKILL every Dovecot process at once, like a crash or power cut of the server."""
        proc = self._proc
        if proc is None:
            return
        self._kill_group(proc)

    def restart(self) -> None:
        """Stop if running, then start again with the same ports, users and mail."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop; delete the directory if it was our own temporary one (and not ``keep_files``)."""
        self.stop()
        if self._root is not None and self._directory is None and not self.keep_files:
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def _kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        pgid = proc.pid  # start_new_session made the master the group leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        # Children were re-parented when the master died; wait until they are gone
        # so that the ports and files are free for a restart.
        deadline = time.monotonic() + 10
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._proc = None

    # -- users ---------------------------------------------------------------

    def unique_name(self, stem: str = "user") -> str:
        """A user name no other test of this server has (``stem`` helps reading logs)."""
        return f"{stem}-{next(self._counter)}-{secrets.token_hex(2)}"

    def add_user(self, name: str | None = None, password: str | None = None) -> tuple[str, str]:
        """Add a user; works while running.

        Each user has its own passwd-file (``users/<name>``): Dovecot stats a
        passwd-file at most once a second, so users appended to one shared file
        in quick succession would be "unknown" for up to a second.
        """
        with self._lock:
            if name is None:
                name = self.unique_name()
            if not _USER_RE.match(name):
                raise ValueError(f"test user names are [a-z0-9._-], got {name!r}")
            if password is None:
                password = secrets.token_urlsafe(12)
            if any(c in password for c in ":\r\n") or not password:
                raise ValueError("test passwords must be non-empty and contain no ':' or newline")
            path = self.users_dir / name
            if path.exists():
                raise ValueError(f"user {name!r} already exists")
            tmp = self.users_dir / f".{name}.tmp"
            tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
            tmp.chmod(0o644)
            tmp.replace(path)  # atomic: Dovecot never reads half a file
        return name, password

    def mailbox(self, name: str | None = None) -> Mailbox:
        """A fresh user, returned with everything a client needs to reach it."""
        user, password = self.add_user(name)
        return Mailbox(self, user, password)

    # -- clients -------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(
        self, user: str, password: str, *, ssl: bool = True, starttls: bool = False
    ) -> imapclient.IMAPClient:
        """A logged-in imapclient, verifying TLS against :attr:`ca_file`.

        ``ssl=True`` uses the implicit-TLS port; ``ssl=False`` the plain port,
        upgraded with STARTTLS when ``starttls=True``.
        """
        ctx = self.ssl_context()
        if ssl:
            conn = imapclient.IMAPClient(self.host, self.imaps_port, ssl_context=ctx, timeout=10)
        else:
            conn = imapclient.IMAPClient(self.host, self.imap_port, ssl=False, timeout=10)
            if starttls:
                conn.starttls(ctx)
        conn.login(user, password)
        return conn

    def account_config(self, user: str, password_env: str, **overrides: Any) -> AccountConfig:
        """An AccountConfig for ``user`` over verified TLS; the password comes from $password_env.

        The caller sets the environment variable (``monkeypatch.setenv``);
        ``overrides`` replace any field, e.g. ``security="starttls", port=server.imap_port``.
        """
        from mailguard.config import AccountConfig

        fields: dict[str, Any] = {
            "name": user,
            "host": self.host,
            "port": self.imaps_port,
            "security": "tls",
            "tls_ca_file": self.ca_file,
            "username": user,
            "password_env": password_env,
            "timeout": 10.0,
        }
        fields.update(overrides)
        return AccountConfig(**fields)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        try:
            err = (self.root / "stderr.log").read_text(errors="replace")
        except (OSError, DovecotError):
            err = ""
        return "\n".join((err + text).splitlines()[-lines:])

    # -- internals -----------------------------------------------------------

    def _prepare(self) -> None:
        ident = _identity()
        if self._directory is None:
            root = Path(tempfile.mkdtemp(prefix="mailguard-dovecot-"))
        else:
            root = self._directory.absolute()
            root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # mail processes (as the mail owner) must traverse it
        _check_traversable(root, ident.mail_uid, ident.mail_gid)
        self._root = root
        for d in ("run", "state", "users"):
            (root / d).mkdir(exist_ok=True)
        home = root / "home"
        home.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, ident.mail_uid, ident.mail_gid)
        if not self.ca_file.exists():
            _make_certificate(root)
        self.imap_port = free_port(self.host)
        self.imaps_port = free_port(self.host)
        while self.imaps_port == self.imap_port:
            self.imaps_port = free_port(self.host)

    def _write_config(self) -> None:
        self.config_path.write_text(
            render_config(
                root=self.root,
                identity=_identity(),
                host=self.host,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                capability=self._capability_setting(),
                sent_auto=self._sent_auto,
                layout=self.layout,
            )
        )

    def _capability_setting(self) -> str | None:
        if self._capability is not None:
            names = [c for c in self._capability.split() if c.upper() not in self._hide]
            names += [c for c in self._extra if c.upper() not in {n.upper() for n in names}]
            return " ".join(names)
        if self._extra:
            return "+" + " ".join(self._extra)
        return None

    def _probe_capability_line(self) -> str:
        """Start once with Dovecot's own list, log in, and read what it advertises."""
        self._write_config_plain()
        self._launch()
        try:
            user, password = self.add_user(f"probe-{secrets.token_hex(3)}")
            with self.client(user, password) as conn:
                caps = [c.decode() for c in conn.capabilities()]
        finally:
            self.kill()  # nothing to keep, and a graceful stop takes Dovecot a second
        return " ".join(caps)

    def _write_config_plain(self) -> None:
        saved, extra = self._capability, self._extra
        self._capability, self._extra = None, ()
        try:
            self._write_config()
        finally:
            self._capability, self._extra = saved, extra

    def _launch(self) -> None:
        # After kill() the pid file is stale; if its PID were reused, Dovecot would
        # refuse to start ("already running"). Nothing of ours runs now, so drop it.
        (self.root / "run" / "master.pid").unlink(missing_ok=True)
        stderr = (self.root / "stderr.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # own process group: stop/kill reach every child
                cwd=self.root,
            )
        finally:
            stderr.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _command(self) -> list[str]:
        """``dovecot -F``; for an unpacked copy, inside a private mount namespace.

        ``unshare -m`` gives the process its own mount table with private
        propagation, so the overlay that lays the unpacked ``usr`` over ``/usr``
        is seen by this Dovecot and its children only and vanishes with them.
        ``exec`` keeps one PID, so stop/kill reach the server itself.
        """
        config = str(self.config_path)
        install = self._install
        if install is None or install.unpacked_root is None:
            return [str(self.binary), "-F", "-c", config]
        script = (
            'mount -t overlay mailguard-dovecot -o "lowerdir=$1/usr:/usr" /usr '
            '&& exec /usr/sbin/dovecot -F -c "$2"'
        )
        unpacked = str(install.unpacked_root)
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", unpacked,
                config]  # fmt: skip

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        pending = {self.imap_port, self.imaps_port}
        while pending:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with status {self._proc.returncode} while starting; "
                    f"log tail ({self.root}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"dovecot did not accept connections on {sorted(pending)} within "
                    f"{self.start_timeout}s; log tail:\n{self.log_tail()}"
                )
            for port in list(pending):
                tls = self.ssl_context() if port == self.imaps_port else None
                if _greets(self.host, port, tls):
                    pending.discard(port)
            if pending:
                time.sleep(0.05)


def _check_traversable(path: Path, uid: int, gid: int) -> None:
    """Dovecot's mail processes run as ``uid``; every directory above the mail must let them in.

    Checked up front because Dovecot would only report it per login, as an
    "internal error", long after start() returned.
    """
    for p in (path, *path.parents):
        st = p.stat()
        need = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & need:
            raise DovecotError(
                f"Dovecot's mail processes (uid {uid}) cannot enter {p}; put the server directory "
                f"somewhere they can reach (e.g. directly under /tmp) or run `chmod o+x {p}`"
            )


def _greets(host: str, port: int, tls: ssl.SSLContext | None) -> bool:
    """True once the port answers with an IMAP greeting (after TLS, if ``tls``).

    A full exchange ending in LOGOUT, not a bare TCP connect: a login process
    left half-way by a dropped probe holds up Dovecot's shutdown for seconds.
    """
    try:
        with socket.create_connection((host, port), timeout=2) as raw:
            sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
            with sock, sock.makefile("rb") as f:
                if not f.readline().startswith(b"* OK"):
                    return False
                sock.sendall(b"r1 LOGOUT\r\n")
                while line := f.readline():
                    if line.startswith(b"r1 "):
                        break
                return True
    except OSError:
        return False


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, from /proc."""
    found: list[int] = []
    for entry in _proc_entries():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parens.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _proc_entries() -> Iterator[Path]:
    try:
        yield from (p for p in Path("/proc").iterdir() if p.name.isdigit())
    except OSError:
        return


def render_config(
    *,
    root: Path,
    identity: _Identity,
    host: str,
    imap_port: int,
    imaps_port: int,
    capability: str | None = None,
    sent_auto: bool = False,
    layout: str = "dovecot",
) -> str:
    """The whole dovecot.conf; nothing is read from /etc/dovecot."""
    rootless = ""
    if identity.rootless:
        # Without root there is no chroot and no switching users.
        rootless = """
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
service auth-worker {
  user = $default_internal_user
}
"""
    cap_line = f"imap_capability = {capability}\n" if capability else ""
    sent_mode = "subscribe" if sent_auto else "no"
    if layout == "courier":
        # Courier/Cyrus: everything under "INBOX." with "." between levels, no special-use.
        namespace = f"""namespace inbox {{
  inbox = yes
  prefix = INBOX.
  separator = .
  mailbox Sent {{
    auto = {sent_mode}
  }}
}}"""
    else:
        namespace = f"""namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = {sent_mode}
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = no
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = no
  }}
}}"""
    return f"""# generated by mailguard.testing.dovecot -- a private throwaway server
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = mailguard-test-{imaps_port}
protocols = imap
listen = {host}
shutdown_clients = yes

default_internal_user = {identity.internal_user}
default_internal_group = {identity.internal_group}
default_login_user = {identity.login_user}
first_valid_uid = 1
first_valid_gid = 1

ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
# the plain port must accept LOGIN too, for tests of security = "none" on loopback
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# no 2-second penalty on a wrong password: the tests try wrong passwords on purpose
auth_failure_delay = 0
mail_max_userip_connections = 100

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={identity.mail_uid} gid={identity.mail_gid} home={root}/home/%u allow_all_users=yes
}}

mail_location = maildir:~/Maildir
mail_plugins =
mail_fsync = never
{cap_line}
{namespace}

# No anvil auth penalty: it would delay every login from 127.0.0.1 by up to 15 s
# after a test tried a wrong password on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
}}
{rootless}"""
