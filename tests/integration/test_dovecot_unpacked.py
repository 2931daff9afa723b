"""The test/demo Dovecot can run from unpacked Debian packages, changing nothing on the machine.

``./run setup`` no longer installs ``dovecot-imapd`` (that would remove an
installed Courier or Cyrus) nor stops any service: where no Dovecot is
installed it unpacks the packages into a cache, and the server runs them in a
private mount namespace. These tests do that for real, into a temporary
folder, and check that the overlay is seen by the server only.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailguard.testing.dovecot import DOVECOT_DEBS, DovecotServer, locate_dovecot, unpack_dovecot

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _host_overlays() -> list[str]:
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    return [line for line in mounts if "mailguard-dovecot" in line]


DPKG_STATUS = Path("/var/lib/dpkg/status")
_status_before: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("apt-get"):
        pytest.skip("unpacked Dovecot needs root, unshare and apt-get (Debian/Ubuntu)")
    base = tmp_path_factory.mktemp("dovecot-unpacked")
    base.chmod(0o755)
    _status_before["status"] = DPKG_STATUS.read_bytes()
    # Nested like the real default (~/.cache/mailguard/dovecot-root), parents not there yet.
    yield unpack_dovecot(base / "cache" / "mailguard" / "dovecot-root")


def test_unpacked_dovecot_serves_imap_from_a_private_overlay(
    unpacked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILGUARD_DOVECOT_ROOT", str(unpacked))
    install = locate_dovecot()
    assert install is not None and install.unpacked_root == unpacked
    before = _host_overlays()
    with DovecotServer() as server:
        assert server._proc is not None
        server_mounts = Path(f"/proc/{server._proc.pid}/mounts").read_text()
        assert f"lowerdir={unpacked}/usr:/usr" in server_mounts
        assert _host_overlays() == before  # our own mount table never sees it
        user, password = server.add_user()
        with server.client(user, password) as imap:
            imap.append("INBOX", b"Subject: hello\r\n\r\nbody\r\n")
            imap.select_folder("INBOX", readonly=True)
            assert len(imap.search("ALL")) == 1
    assert _host_overlays() == before


def test_unpack_installs_nothing(unpacked: Path) -> None:
    """dpkg -x only: the files are in the cache and dpkg's database did not change."""
    assert (unpacked / "usr" / "sbin" / "dovecot").exists()
    assert (unpacked / "usr" / "lib" / "dovecot" / "imap").exists()
    assert {"dovecot-core", "dovecot-imapd"} <= set(DOVECOT_DEBS)
    assert DPKG_STATUS.read_bytes() == _status_before["status"]


def test_run_script_never_changes_services_or_removes_packages() -> None:
    script = (ROOT / "run").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    for forbidden in ("systemctl", "service ", "apt-get remove", "apt-get purge", "dpkg -r",
                      "dpkg --remove", "invoke-rc.d", "update-rc.d"):  # fmt: skip
        assert forbidden not in code, forbidden
    apt_line = re.search(r"^apt_packages=\((.*)\)", script, re.M)
    assert apt_line is not None
    assert "dovecot" not in apt_line.group(1)
    # every real install is preceded by a simulation that refuses removals
    assert code.index("apt-get install -s") < code.index("apt-get install -y")
    assert "'^Remv '" in code
