"""Privacy of what mailguard writes: IMAP wire logs and the digest preview file."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest

from mailguard.commands.digest import write_private
from mailguard.logs import setup_logging, summarize_wire

BODY_WORDS = "Your Norton plan renewed"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("> b'ABCD4 UID FETCH 1:3 (BODY.PEEK[])'", "> ABCD4 UID FETCH"),
        (f"< b'* 3 FETCH (UID 9 ENVELOPE (\"{BODY_WORDS}\"))'", "< * 3 FETCH"),
        (f"   (literal) > b'Subject: {BODY_WORDS}\\r\\n'", "(literal) >"),
        (f"untagged_responses[FETCH] 0 += [\"(b'1 (BODY[] {{9}}', b'{BODY_WORDS}')\"]",
         "untagged_responses[FETCH]"),
        (f"> b'ABCD7 UID SEARCH HEADER Subject \"{BODY_WORDS}\"'", "> ABCD7 UID SEARCH"),
    ],
)  # fmt: skip
def test_wire_lines_keep_the_command_and_size_not_the_content(line: str, kept: str) -> None:
    out = summarize_wire(line)
    assert out.startswith(kept)
    assert "bytes]" in out
    assert "Norton" not in out


def _log_imap_line(wire: bool) -> str:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", stream=stream, capture_uncaught=False, wire=wire)
    try:
        logging.getLogger("imapclient.imaplib").debug(
            "< %r", f"* 1 FETCH (BODY[] {{24}} {BODY_WORDS})".encode()
        )
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue()


def test_debug_log_hides_imap_content_unless_log_wire() -> None:
    hidden = _log_imap_line(wire=False)
    assert "FETCH" in hidden and BODY_WORDS not in hidden
    assert BODY_WORDS in _log_imap_line(wire=True)


def test_preview_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "digest.html"
        write_private(path, "<html>subjects</html>")
    finally:
        os.umask(old)
    assert path.read_text() == "<html>subjects</html>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_preview_fixes_the_mode_of_an_existing_file_and_truncates(tmp_path: Path) -> None:
    path = tmp_path / "old.html"
    path.write_text("an older and much longer preview")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_preview_refuses_to_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "digest.html"
    link.symlink_to(target)
    with pytest.raises(OSError):
        write_private(link, "x")
    assert target.read_text() == "keep"
