"""A call run's artifacts: what the topology and SIPp left for the run, handed to the
report (harness.report.artifacts) to write and attach."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.verdict import Verdict
from harness.flows.run import CallRun
from harness.report.artifacts import artifacts_dir, write_call_artifacts
from harness.report.attachments import ReportedCall
from harness.topology.snapshot import gateway_snapshot

if TYPE_CHECKING:
    from harness.topology.topology import Topology


def reported(run: CallRun) -> ReportedCall:
    return ReportedCall(run.flow, run.pcap.path, run.roles)


def run_logs(run: CallRun, topology: Topology | None, failed: bool) -> dict[str, str]:
    """Name -> text: the gateway's state (for a failed call), Asterisk's and the
    simulator's logs, then SIPp's message and error logs."""
    logs: dict[str, str] = {}
    if topology is not None:
        pcap = run.pcap
        snapshot = gateway_snapshot(
            topology, pcap.started, pcap.stopped or pcap.started, with_state=failed
        )
        logs.update(snapshot.logs())
    sipp_logs = (run.sipp.message_log, run.sipp.error_log) if run.sipp is not None else ()
    for log in sipp_logs:
        if log.exists():
            logs[f"sipp {log.stem.rsplit('-', 1)[-1]}"] = log.read_text(errors="replace")
    return logs


def collect_artifacts(
    run: CallRun, verdict: Verdict | None, topology: Topology | None, failed: bool
) -> list[Path]:
    """Writes the run's artifacts into reports/artifacts/<test>/ (and Allure when it runs);
    returns the files written."""
    out_dir = artifacts_dir(run.pcap.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_call_artifacts(reported(run), verdict, run_logs(run, topology, failed), out_dir)
