"""harness.flows.run and harness.flows.artifacts without Docker: the test's capture, the
verdict of a run from its pcap, and the report a run leaves (reports/artifacts/<test>/);
harness.topology.snapshot's cut of Asterisk's log; the plugin's flow report."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

from harness.analysis.lync_flow import check_lync_flow
from harness.analysis.verdict import Verdict
from harness.flows.artifacts import collect_artifacts, reported
from harness.flows.run import CallPcap, CallRun, Simulators, verdict_of
from harness.peers.client import SkypeClient
from harness.pytest_plugin import FlowReport
from harness.report.artifacts import write_call_artifacts
from harness.roles import Roles
from harness.topology.capture import CaptureResult
from harness.topology.config import TopologyConfig
from harness.topology.snapshot import GatewaySnapshot, asterisk_log_between
from tests.support.paths import LYNC_PCAP

FLOW = "outbound: softphone -> Asterisk -> Lync"


class Recorder:
    """The capture agent, as far as a CallPcap sees it."""

    def __init__(self, dropped: int | None = None) -> None:
        self.stopped: list[str] = []
        self.dropped = dropped

    def stop(self, relative: str) -> CaptureResult:
        self.stopped.append(relative)
        return CaptureResult(Path(relative), 100, self.dropped, 2048)


def run_of(pcap: Path, problems: list[str] | None = None, dropped: int | None = None) -> CallRun:
    call_pcap = CallPcap(Recorder(dropped), f"pcaps/{pcap.name}", pcap)
    return CallRun(FLOW, call_pcap, None, None, Roles.of_topology(), {}, problems or [])


def outbound(run: CallRun) -> Verdict:
    return verdict_of(run, lambda capture: check_lync_flow(
        capture.sip_messages(), capture, run.roles, run.pcap.path, "outbound", run.flow))


def test_the_pcap_is_stopped_once():
    recorder = Recorder()
    pcap = CallPcap(recorder, "pcaps/t.pcap", Path("/reports/pcaps/t.pcap"))
    first = pcap.stop()
    assert pcap.stop() is first and recorder.stopped == ["pcaps/t.pcap"]
    assert pcap.stopped is not None and pcap.stopped >= pcap.started
    assert pcap.label == "t"


def test_a_clean_run_passes_and_the_runs_problems_fail_it():
    assert outbound(run_of(LYNC_PCAP)).ok
    run = run_of(LYNC_PCAP, ["SIPp exited 1"], dropped=4)
    run.pcap.stop()
    v = outbound(run)
    assert [(r.step, r.subject, r.actual) for r in v.failures] == [
        ("call", "call completed", "SIPp exited 1")]
    assert "tcpdump dropped 4 packets: a missing packet may be the capture's" in v.notes


def test_an_unreadable_pcap_is_a_verdict_not_an_error(tmp_path):
    bogus = tmp_path / "bogus.pcap"
    bogus.write_text("not a capture")
    v = outbound(run_of(bogus))
    assert [(r.step, r.subject) for r in v.failures] == [("capture", "pcap")]
    assert v.flow == FLOW and v.pcap == bogus


def test_the_simulators_of_a_topology():
    topology = SimpleNamespace(
        mediation=SimpleNamespace(name="Mediation Server simulator", base_url="http://h:1"),
        skype=SimpleNamespace(name="Skype for SIP simulator", base_url="http://h:2"),
        config=TopologyConfig(net_prefix="10.1.2"))
    sims = Simulators.of(topology)
    assert sims.mediation.base_url == "http://h:1" and isinstance(sims.skype, SkypeClient)
    assert sims.roles.name("10.1.2.20") == "Mediation Server"


def test_an_external_gateway_is_named_by_its_address():
    topology = SimpleNamespace(
        mediation=SimpleNamespace(name="Mediation Server simulator", base_url="http://h:1"),
        skype=SimpleNamespace(name="Skype for SIP simulator", base_url="http://h:2"),
        config=TopologyConfig(net_prefix="10.1.2", gateway="external",
                              gateway_address="10.1.2.77"))
    roles = Simulators.of(topology).roles
    assert roles.name("10.1.2.77") == "Asterisk" and roles.name("10.1.2.10") == "10.1.2.10"


def test_a_run_without_topology_leaves_its_report(tmp_path):
    pcap = tmp_path / "pcaps" / "test_call.pcap"
    pcap.parent.mkdir()
    shutil.copy(LYNC_PCAP, pcap)
    run = run_of(pcap)
    verdict = outbound(run)
    paths = collect_artifacts(run, verdict, None, failed=False)
    assert {p.name for p in paths} == {"test_call-verdict.txt", "test_call-ladder.svg",
                                       "test_call-ladder.html", "test_call-rtp.png"}
    assert all(p.parent == tmp_path / "artifacts" / "test_call" for p in paths)
    assert reported(run).roles == run.roles and reported(run).pcap == pcap


def test_the_logs_it_is_given_become_text_files(tmp_path):
    snapshot = GatewaySnapshot("asterisk lines", "mediation lines",
                               {"pjsip show endpoints": "to_lync ... Unavailable"})
    assert list(snapshot.logs()) == ["pjsip show endpoints", "asterisk log",
                                     "mediation server log"]
    paths = write_call_artifacts(reported(run_of(LYNC_PCAP)), None, snapshot.logs(), tmp_path)
    names = [p.name for p in paths]
    assert names[-3:] == ["pjsip-show-endpoints.txt", "asterisk-log.txt",
                          "mediation-server-log.txt"]
    assert (tmp_path / "pjsip-show-endpoints.txt").read_text() == "to_lync ... Unavailable"
    assert names[0] == "lync_outbound-verdict.txt"
    assert (tmp_path / names[0]).read_text().startswith(f"{FLOW}: no verdict")


def test_asterisks_log_is_cut_to_the_call(tmp_path):
    log = tmp_path / "full"
    log.write_text("[2026-01-01 10:00:00.000] before\n"
                   "[2026-01-01 10:00:05.000] during\n"
                   "  a continuation line\n"
                   "[2026-01-01 10:00:09.500] after\n")
    start = 1767261600.0 + 4  # 2026-01-01 10:00:04 UTC
    assert asterisk_log_between(log, start, start + 2) == (
        "[2026-01-01 10:00:05.000] during\n  a continuation line")
    assert asterisk_log_between(tmp_path / "none", 0, 1).startswith("(no Asterisk log at")


def test_the_flow_report_keeps_runs_and_their_verdicts():
    report = FlowReport()
    run, verdict = run_of(LYNC_PCAP), Verdict(FLOW, LYNC_PCAP)
    assert report.add(run, verdict) is verdict and report.entries == [(run, verdict)]
