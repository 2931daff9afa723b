"""``python -m mailguard.testing.dovecot_setup``: the Dovecot steps of ``./run setup``.

A module of its own so that ``-m`` does not re-run ``mailguard.testing.dovecot``,
which the package already imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailguard.testing.dovecot import (
    DovecotError,
    locate_dovecot,
    unpack_dovecot,
    unpacked_dovecot_root,
)


def main(argv: list[str]) -> int:
    """What ``./run setup`` calls.

    ``--found``: exit 0 when :func:`locate_dovecot` finds a Dovecot it can run
    (the one definition of "usable", for the shell script too);
    ``--unpack [DIR]``: unpack the packages.
    """
    if argv == ["--found"]:
        return 0 if locate_dovecot() is not None else 1
    if argv[:1] != ["--unpack"] or len(argv) > 2:
        print(f"usage: python -m {__name__} --found | --unpack [DIR]", file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else unpacked_dovecot_root()
    try:
        unpack_dovecot(root)
    except (DovecotError, OSError, subprocess.CalledProcessError) as e:
        print(f"mailguard setup: {e}", file=sys.stderr)
        return 1
    print(f"mailguard setup: Dovecot unpacked into {root} (nothing installed)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
