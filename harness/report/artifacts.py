"""What a failed call flow leaves behind for someone who cannot re-run it.

Into reports/artifacts/<test>/: the verdict, the gateway's state at the moment of failure
(`pjsip show endpoints`, `core show channels verbose`), Asterisk's log cut to the call,
the simulator's and SIPp's logs; then the ladder, the plots and the pcap through
harness.report.attachments (which also hands them to Allure when it runs).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.topology.compose import TopologyError
from harness.topology.http import ControlError

if TYPE_CHECKING:
    from harness.topology.topology import Topology

_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\]")


def asterisk_log_between(path: Path, start: float, end: float, slack_s: float = 1.0) -> str:
    """The lines of Asterisk's full log (UTC, `dateformat=%F %T.%3q`) within the window;
    continuation lines without a time stay with the line before them."""
    if not path.exists():
        return f"(no Asterisk log at {path})"
    keep, out = False, []
    for line in path.read_text(errors="replace").splitlines():
        m = _LOG_TIME.match(line)
        if m:
            stamp = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()
            keep = start - slack_s <= stamp <= end + slack_s
        if keep:
            out.append(line)
    return "\n".join(out) or "(no Asterisk log lines in the call's time window)"


def gateway_state(topology: Topology) -> dict[str, str]:
    state = {}
    for command in ("pjsip show endpoints", "core show channels verbose"):
        try:
            state[command] = topology.asterisk(command)
        except (TopologyError, ControlError) as exc:
            state[command] = f"(could not run: {exc})"
    return state


def collect_artifacts(run: Any, verdict: Any, topology: Topology | None, failed: bool) -> list[Path]:
    from harness.report.attachments import attach_call_artifacts

    pcap = run.pcap
    out_dir = pcap.path.parent.parent / "artifacts" / pcap.path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    logs: dict[str, str] = {}
    if topology is not None:
        if failed:
            logs.update(gateway_state(topology))
        end = pcap.stopped or pcap.started
        logs["asterisk log"] = asterisk_log_between(
            topology.config.reports / "asterisk-log" / "full", pcap.started, end)
        try:
            logs["mediation server log"] = topology.compose.logs("mediation", tail=400)
        except TopologyError as exc:
            logs["mediation server log"] = f"(could not read: {exc})"
    sipp_logs = (run.sipp.message_log, run.sipp.error_log) if run.sipp is not None else ()
    for log in sipp_logs:
        if log.exists():
            logs[f"sipp {log.stem.rsplit('-', 1)[-1]}"] = log.read_text(errors="replace")
    written = []
    for name, text in logs.items():
        path = out_dir / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".txt")
        path.write_text(text)
        written.append(path)
    return attach_call_artifacts(run, verdict, out_dir, logs=logs) + written
