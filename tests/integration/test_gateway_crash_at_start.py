"""A gateway that dies during or right after start-up, before any call, is said in the
session's setup output (how its container ended, its last output; pytest shows it with -rA
or on a failure) and started once more; the flows then run against it. Nothing is left
running afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from tests.support.isolation import isolated
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

ISOLATED = isolated("sipharness-crash", "192.168.124", 400)
# a flow with its capture: the capture agents share the gateway's network namespace
TEST = "tests/callflow/test_gateway_state.py::test_trunk_qualify_is_seen_on_the_wire"


@pytest.mark.parametrize(("when", "said_as"), [
    ("after-up", "exited right after start-up (the gateway's container exited with code 137"),
    ("before-ready", "exited during start-up (the gateway's container exited with code 137"),
])
def test_a_gateway_dead_at_start_up_is_said_and_started_again(tmp_path: Path, when: str,
                                                               said_as: str) -> None:
    reports = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "tests.support.kill_gateway_once", "-p",
         "no:cacheprovider", f"--reports-dir={reports}", f"--junitxml={reports}/junit.xml",
         TEST],
        cwd=ROOT, env=dict(os.environ, HARNESS_TEST_KILL=when, **ISOLATED),
        capture_output=True, text=True, timeout=600, check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    said = [line for line in out.splitlines() if said_as in line]
    assert said, out[-3000:]
    assert "; started again; topology up in " in said[0], said[0]
    assert "1 passed" in out
    client = docker.from_env()
    try:
        left = [c.name for c in client.containers.list(all=True, ignore_removed=True)
                if c.labels.get("com.docker.compose.project") == ISOLATED["HARNESS_PROJECT"]]
    finally:
        client.close()
    assert left == []
