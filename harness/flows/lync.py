"""The seed's Lync flows through Asterisk, driven for real.

- outbound: the softphone (SIPp, extension 1000) calls +14255550150; Asterisk routes it
  over the TCP trunk to the Mediation Server simulator, which answers, holds, resumes and
  hangs up on the timeline the test gives ("Detailed Call Flow", steps 1-12);
- inbound: the Mediation Server places the Lync user's call to +1000; Asterisk routes it to
  the registered softphone, which answers ("Basic Call Flow", Figure 2).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.analysis.legs import Roles
from harness.topology.config import role_names
from harness.topology.http import ControlError
from harness.topology.sipp import SippResult

if TYPE_CHECKING:
    from harness.analysis.verdict import Verdict
    from harness.pytest_plugin import CallPcap
    from harness.topology.topology import Topology

# The seed's timeline, shortened: answer quickly, talk, hold, resume, talk, Lync hangs up.
DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "progress_delay_ms": 20,
    "ring_delay_ms": 40,
    "answer_delay_ms": 200,
    "hold_after_ms": 800,
    "hold_duration_ms": 800,
    "hangup_after_ms": 800,
    "hangup_by": "mediation",
}


@dataclass
class CallRun:
    flow: str
    pcap: Any  # CallPcap
    sipp: SippResult | None
    mediation_call: dict[str, Any] | None
    roles: Roles
    behaviour: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def roles_of(topology: Topology) -> Roles:
    return Roles(role_names(topology.config.net_prefix))


def _last_call(topology: Topology, problems: list[str], timeout_s: float = 10,
               peer: Any = None) -> dict[str, Any] | None:
    peer = peer or topology.mediation
    try:
        return peer.request(
            "GET", f"/calls/last?wait=ended&timeout={timeout_s:g}", timeout=timeout_s + 5)
    except ControlError as exc:
        if exc.status == 408 and isinstance(exc.body, dict):
            problems.append(f"the {peer.name}'s call did not end within {timeout_s:g} s")
            return exc.body
        if exc.status == 404:
            problems.append(f"no call reached the {peer.name}")
            return None
        raise


def _label(pcap: CallPcap) -> str:
    return pcap.path.stem


def outbound(topology: Topology, pcap: CallPcap, sipp_timeout_s: int = 30,
             **behaviour: Any) -> CallRun:
    """Softphone -> Asterisk -> Mediation Server (the seed's steps 1-12)."""
    wanted = {**DEFAULT_BEHAVIOUR, **behaviour}
    topology.mediation_behaviour(**wanted)
    topology.mediation.request("DELETE", "/calls")
    problems: list[str] = []
    sipp = topology.softphone.run("softphone_uac_call_lync.xml", _label(pcap),
                                  service="+14255550150", timeout_s=sipp_timeout_s)
    # A failed call may never have reached the Mediation Server: do not wait long for it.
    call = _last_call(topology, problems, timeout_s=10 if sipp.ok else 1)
    pcap.stop()
    if not sipp.ok:
        problems.append(sipp.describe())
    return CallRun("outbound: softphone -> Asterisk -> Lync", pcap, sipp, call,
                   roles_of(topology), wanted, problems)


def inbound(topology: Topology, pcap: CallPcap, **behaviour: Any) -> CallRun:
    """Mediation Server (Lync user +14255550150) -> Asterisk -> softphone 1000."""
    wanted = {**DEFAULT_BEHAVIOUR, **behaviour}
    topology.mediation_behaviour()
    topology.mediation.request("DELETE", "/calls")
    label = _label(pcap)
    problems: list[str] = []
    # X-Lite registers first (from another port: the answering SIPp holds 5060).
    reg = topology.softphone.run("softphone_register.xml", f"{label}-register", service="1000",
                                 extra=["-p", "5061"])
    if not reg.ok:
        problems.append("registration failed: " + reg.describe())
    results: list[SippResult] = []
    uas = threading.Thread(target=lambda: results.append(
        topology.softphone.run("softphone_uas_answer.xml", label, service="1000")))
    uas.start()
    if not topology.softphone.wait_listening(5060):
        problems.append("the answering softphone (SIPp) did not bind UDP 5060 within 10 s")
    topology.mediation.request("POST", "/calls", {"to": "+1000", "from": "+14255550150", **wanted})
    uas.join(60)
    call = _last_call(topology, problems)
    pcap.stop()
    sipp = results[0] if results else reg
    if results and not sipp.ok:
        problems.append(sipp.describe())
    return CallRun("inbound: Lync -> Asterisk -> softphone", pcap, sipp, call,
                   roles_of(topology), wanted, problems)


def verdict_of(run: CallRun, check: Callable[[Any], Verdict]) -> Verdict:
    """Opens the run's pcap and applies `check(capture)`; an unreadable pcap, the
    capture's warnings and drops, and the run's own problems go into the verdict."""
    from harness.analysis.verdict import Verdict
    from harness.capture import CaptureError, open_capture

    path = run.pcap.path
    try:
        capture = open_capture(path)
    except CaptureError as exc:
        verdict = Verdict(run.flow, path)
        verdict.check("capture", "-", "pcap", False, "a readable capture of the call", str(exc))
        return verdict
    verdict = check(capture)
    for warning in capture.warnings:
        verdict.note(f"capture: {warning}")
    dropped = run.pcap.result.dropped if run.pcap.result is not None else None
    if dropped:
        verdict.note(f"tcpdump dropped {dropped} packets: a missing packet may be the capture's")
    for problem in run.problems:
        verdict.check("call", "-", "call completed", False, "the scripted call runs to its end", problem)
    return verdict


def verify(run: CallRun, direction: str) -> Verdict:
    """Checks the seed's steps on both legs of the run's pcap."""
    from harness.analysis.lync_flow import check_lync_flow

    return verdict_of(run, lambda capture: check_lync_flow(
        capture.sip_messages(), capture, run.roles, run.pcap.path, direction, run.flow))
