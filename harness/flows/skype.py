"""The seed's Skype flows through Asterisk, driven for real (see analysis/skype_flow.py).

Lync's calls are placed by the Mediation Server simulator; Skype's by the Skype for SIP
simulator; the registration is Asterisk's own (`pjsip send register` restarts it so the
capture sees the whole exchange).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.flows.lync import CallRun, _last_call, roles_of, verdict_of
from harness.topology.compose import TopologyError
from harness.topology.http import ControlError

if TYPE_CHECKING:
    from harness.analysis.verdict import Verdict
    from harness.pytest_plugin import CallPcap
    from harness.topology.topology import Topology

LYNC_CALL = {"hold_after_ms": None, "hangup_after_ms": 2000, "hangup_by": "mediation"}


def lync_dials(topology: Topology, pcap: CallPcap, number: str, skype: dict[str, Any] | None = None,
               **behaviour: Any) -> CallRun:
    """The Lync user dials `number` (1001: Skype's test number; 1002: echo123)."""
    topology.skype_behaviour(**(skype or {}))
    topology.skype.request("DELETE", "/calls")
    topology.mediation_behaviour()
    topology.mediation.request("DELETE", "/calls")
    problems: list[str] = []
    topology.mediation.request("POST", "/calls", {"to": number, "from": "+14255550150",
                                                  **LYNC_CALL, **behaviour})
    call = _last_call(topology, problems, timeout_s=15)
    _last_call(topology, problems, timeout_s=5, peer=topology.skype)  # its BYE answered too
    pcap.stop()
    return CallRun(f"Lync dials {number.lstrip('+')} (Skype)", pcap, None, call, roles_of(topology),
                   {**LYNC_CALL, **behaviour}, problems)


def skype_calls_lync(topology: Topology, pcap: CallPcap, anonymous: bool = True,
                     hangup_after_ms: int = 2000) -> CallRun:
    """A Skype user calls the business account; the profile number routes to Lync."""
    topology.mediation_behaviour(hold_after_ms=None, hangup_by="remote")
    topology.mediation.request("DELETE", "/calls")
    topology.skype_behaviour()
    topology.skype.request("DELETE", "/calls")
    problems: list[str] = []
    topology.skype.request("POST", "/calls", {"to": "99051000107808", "from": "+4420799900",
                                              "anonymous": anonymous, "hangup_after_ms": hangup_after_ms})
    call = _last_call(topology, problems, timeout_s=15, peer=topology.skype)
    _last_call(topology, problems, timeout_s=5)  # the Lync side ends too
    pcap.stop()
    return CallRun("Skype calls Lync", pcap, None, call, roles_of(topology),
                   {"anonymous": anonymous}, problems)


def registration(topology: Topology, pcap: CallPcap, grant_s: int = 8,
                 timeout_s: float = 20) -> tuple[CallRun, list[dict[str, Any]]]:
    """Asterisk registers afresh; Skype grants `grant_s` seconds; Asterisk must refresh."""
    topology.skype_behaviour(max_expires=grant_s)
    topology.skype.request("DELETE", "/registrations")
    problems: list[str] = []
    try:
        topology.asterisk("pjsip send register skype-reg")
    except TopologyError as exc:
        problems.append(str(exc))
    # Two registrations that bind: the first and its refresh.
    try:
        regs = topology.skype.request("GET", f"/registrations?wait=2&timeout={timeout_s:g}",
                                      timeout=timeout_s + 5)
    except ControlError as exc:
        regs = exc.body if isinstance(exc.body, list) else []
        problems.append(f"{len(regs)} registrations within {timeout_s:g} s, expected a refresh")
    pcap.stop()
    return CallRun("Skype for SIP registration", pcap, None, None, roles_of(topology),
                   {"max_expires": grant_s}, problems), regs


def verify(run: CallRun, kind: str, **kwargs: Any) -> Verdict:
    """kind: 'registration', 'lync_to_skype' or 'skype_to_lync' (skype_flow's checks)."""
    from harness.analysis import skype_flow

    def check(capture: Any) -> Verdict:
        sip, path = capture.sip_messages(), run.pcap.path
        if kind == "registration":
            return skype_flow.check_registration(sip, run.roles, path, **kwargs)
        if kind == "lync_to_skype":
            return skype_flow.check_lync_to_skype(sip, capture, run.roles, path, run.flow, **kwargs)
        return skype_flow.check_skype_to_lync(sip, capture, run.roles, path, run.flow, **kwargs)

    return verdict_of(run, check)
