"""`harness sip-lint` run as a user runs it: the installed command, in another process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

HARNESS = Path(sys.executable).with_name("harness")  # .venv/bin/harness


def sip_lint(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The command's exit status and output; never a traceback."""
    proc = subprocess.run(
        [str(HARNESS), "sip-lint", *argv],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc
