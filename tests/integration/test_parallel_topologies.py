"""`pytest -n 2`: each pytest-xdist worker brings up a topology of its own (compose project,
/24, published ports, gateway files) and the controller reports for all of them: one
junit.xml, one Allure result set, one summary table. No cross-talk: every pcap holds the
hosts of one worker's subnet only. Nothing is left running afterwards."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import docker
import pytest

from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

PROJECT = "sipharness-isolated"
NET_BASE = "192.168.140"
SUBNETS = [ipaddress.ip_network(f"192.168.{140 + k}.0/24") for k in range(2)]
# two files: with --dist loadfile each worker takes one, so both topologies carry calls
TESTS = [
    "tests/callflow/test_lync.py::test_outbound_softphone_calls_lync_twelve_steps",
    "tests/callflow/test_lync.py::test_inbound_lync_calls_extension_1000",
    "tests/callflow/test_gateway_state.py::test_trunk_qualify_is_seen_on_the_wire",
    "tests/callflow/test_gateway_state.py::test_softphone_registration_is_the_gateways_route_to_1000",
]


def _subnets_in(pcap: Path) -> set[ipaddress.IPv4Network]:
    """The topology subnets of every IPv4 address in the capture (an address of no worker's
    subnet counts as its own /24, so it fails the check below)."""
    # scapy, a reader independent of the harness's; imported here, not at collection: its
    # import reads the host's routes, seconds on a machine with many Docker bridges
    from scapy.layers.inet import IP
    from scapy.utils import PcapReader

    seen: set[ipaddress.IPv4Network] = set()
    with PcapReader(str(pcap)) as packets:
        for packet in packets:
            if IP not in packet:
                continue
            for address in (packet[IP].src, packet[IP].dst):
                seen.add(ipaddress.ip_network(f"{address}/24", strict=False))
    return seen


def _why(out: str) -> str:
    """What the inner run said went wrong: its failure and error lines (a topology that did
    not come up says so there, before the log tail it quotes), then its last lines."""
    marks = ("FAILED", "ERROR", "Failed:", "did not come up", "exited (code")
    said = [line for line in out.splitlines() if any(mark in line for mark in marks)]
    return "\n".join(said[:40]) + "\n...\n" + out[-1500:]


def _project_containers() -> list[str]:
    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True, ignore_removed=True)
                if c.labels.get("com.docker.compose.project", "").startswith(PROJECT)]
    finally:
        client.close()


def test_two_workers_run_isolated_topologies_and_report_as_one(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = dict(os.environ, HARNESS_PROJECT=PROJECT, HARNESS_WORKER_NET=NET_BASE,
               HARNESS_WORKER_PORTS="31000")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p",
         "no:cacheprovider", f"--reports-dir={reports}", f"--junitxml={reports}/junit.xml",
         f"--alluredir={reports}/allure-results", *TESTS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 0, _why(out)

    # one junit.xml from the controller with every test, none failed
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (int(suite.get("tests", 0)), int(suite.get("failures", 0)),
            int(suite.get("errors", 0))) == (len(TESTS), 0, 0), out[-2000:]
    # one Allure result set: a result per test, from both workers
    results = list((reports / "allure-results").glob("*-result.json"))
    assert len(results) == len(TESTS)
    # one summary: the flows of both workers in the controller's tables
    assert "outbound: softphone -> Asterisk -> Lync" in out
    assert "inbound: Lync -> Asterisk -> softphone" in out
    assert "Lync trunk qualify" in out

    # each worker had its own gateway files, and every pcap holds one worker's hosts only
    assert sorted(p.name for p in (reports / "workers").iterdir()) == ["gw0", "gw1"]
    pcaps = sorted((reports / "pcaps").glob("*.pcap"))
    assert len(pcaps) >= 3, pcaps
    used: set[ipaddress.IPv4Network] = set()
    for pcap in pcaps:
        subnets = _subnets_in(pcap)
        assert len(subnets) == 1 and subnets <= set(SUBNETS), (pcap.name, subnets)
        used |= subnets
    assert used == set(SUBNETS), "both workers' topologies carried calls"

    # and nothing is left running
    assert _project_containers() == []
