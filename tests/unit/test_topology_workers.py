"""pytest -n N: each worker's topology settings (project, subnet, ports, gateway files) are
its own, and a worker's verdicts reach the controller's summary intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.verdict import Verdict
from harness.topology.config import ConfigError, TopologyConfig
from harness.topology.workers import WorkerLayout, for_worker, worker_index


def _base(tmp_path: Path) -> TopologyConfig:
    return TopologyConfig(project="sipharness", root=tmp_path)


def test_each_worker_gets_its_own_project_subnet_ports_and_gateway_files(
    tmp_path: Path,
) -> None:
    base, layout = _base(tmp_path), WorkerLayout("192.168.130", 30000)
    workers = [for_worker(base, f"gw{k}", layout) for k in range(4)]
    assert [w.project for w in workers] == [f"sipharness-gw{k}" for k in range(4)]
    assert [w.net_prefix for w in workers] == [f"192.168.{130 + k}" for k in range(4)]
    assert workers[1].address("asterisk") == "192.168.131.10"
    assert (workers[2].mediation_port, workers[2].capture_port, workers[2].xmpp_port,
            workers[2].ami_port) == (30268, 30290, 30222, 30238)
    ports = [getattr(w, n) for w in workers for n in (
        "mediation_port", "capture_port", "skype_port", "xmpp_port", "ami_port", "phone_port")]
    assert len(set(ports)) == len(ports)
    # one reports folder (pcaps are named by test); the gateway's files per worker
    assert {w.reports_dir for w in workers} == {tmp_path / "reports"}
    assert workers[3].asterisk_fixtures == tmp_path / "reports/workers/gw3/run/asterisk"
    assert workers[3].asterisk_log == tmp_path / "reports/workers/gw3/asterisk-log"
    # a serial run keeps the reports folder for both
    assert base.asterisk_log == tmp_path / "reports/asterisk-log"


@pytest.mark.parametrize(("layout", "worker", "words"), [
    (("192.168.254", 30000), "gw2", "no /24 after 192.168.254"),
    (("192.168.130", 65400), "gw1", "no ports after 65400"),
    (("192.168.130", 80), "gw0", "must leave room"),
    (("10.0", 30000), "gw0", "not the first three octets"),
    (("192.168.130", 30000), "master", "expected gwN"),
])
def test_a_layout_that_cannot_hold_the_worker_is_refused_in_words(
    tmp_path: Path, layout: tuple[str, int], worker: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        for_worker(_base(tmp_path), worker, WorkerLayout(*layout))


def test_an_external_gateway_cannot_be_shared_by_workers(tmp_path: Path) -> None:
    external = TopologyConfig(root=tmp_path, gateway="external", gateway_address="10.1.2.3")
    with pytest.raises(ConfigError, match="without -n"):
        for_worker(external, "gw0", WorkerLayout())


def test_worker_ids() -> None:
    assert worker_index("gw11") == 11


def test_a_verdict_survives_the_trip_from_worker_to_controller(tmp_path: Path) -> None:
    verdict = Verdict("outbound", tmp_path / "a.pcap", family="Lync")
    verdict.equal("3-4", "Asterisk -> softphone", "status", 180, 180, frame=12)
    verdict.check("7", "Lync", "RTP", False, "50 pps", "0 pps")
    verdict.not_checked("SDP", "Lync", "o=", "no SDP in the capture")
    verdict.note("a note")
    verdict.expected_failure = "documented"
    back = Verdict.from_dict(verdict.as_dict())
    assert back == verdict
    assert [r.line() for r in back.failures] == [r.line() for r in verdict.failures]


def test_start_barrier_waits_for_every_topology_that_started(tmp_path: Path) -> None:
    from harness.topology.barrier import StartBarrier

    gw0, gw1, gw2 = (StartBarrier(tmp_path, "run1", f"gw{k}") for k in range(3))
    old_run = StartBarrier(tmp_path, "run0", "gw3")
    old_run.mark("starting")  # a previous run's marker is never waited for
    gw0.mark("starting")
    gw1.mark("starting")
    gw0.mark("up")
    assert gw0.pending() == ["gw1"]  # gw2 runs no topology test: not waited for
    assert gw0.wait(0.2) == ["gw1"]  # bounded: the still pending after the timeout
    gw1.mark("failed")
    assert gw0.wait(5) == []
    gw2.mark("starting")
    assert gw0.pending() == ["gw2"]
    gw2.clear()
    assert gw0.pending() == []
    with pytest.raises(ValueError):
        gw0.mark("ready")
