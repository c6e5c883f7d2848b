"""`pytest -m callflow --gateway-config DIR` with a broken line: refused before the
topology starts, in one message naming the file and line, with Asterisk's own words."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from harness.topology.engine import Engine
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

PROJECT = "sipharness-userconf"


def test_a_broken_line_is_refused_before_any_call(tmp_path):
    config = tmp_path / "my-asterisk"
    shutil.copytree(ROOT / "fixtures" / "asterisk", config)
    lines = (config / "pjsip.conf").read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("dtmf_mode="))
    lines[number - 1] = "dtmf_mode=sometimes\n"
    (config / "pjsip.conf").write_text("".join(lines))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTEST_"))}
    env["HARNESS_PROJECT"] = PROJECT
    run = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-m", "callflow",
         "--gateway-config", str(config), "--reports-dir", str(tmp_path / "reports"),
         "-o", "addopts=", str(ROOT / "tests" / "callflow")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 4, out[-3000:]
    assert f"{config / 'pjsip.conf'} line {number}:" in out, out[-3000:]
    assert "Error parsing dtmf_mode=sometimes" in out, out[-3000:]
    assert "Traceback" not in out
    # nothing was started, so no call was placed
    assert Engine.connect().containers(PROJECT) == {}
    assert not (tmp_path / "reports" / "pcaps").exists()
