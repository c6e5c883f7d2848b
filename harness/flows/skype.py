"""The seed's Skype flows through Asterisk, driven for real (see analysis/skype_flow.py).

Lync's calls are placed by the Mediation Server simulator; Skype's by the Skype for SIP
simulator; the registration is Asterisk's own (the profile's command, `pjsip send register`
or `sip reload`, restarts it so the capture sees the whole exchange).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from harness.analysis import skype_flow
from harness.analysis.verdict import Verdict
from harness.capture import Capture
from harness.flows.run import CallPcap, CallRun, Simulators, last_call, prepare, verdict_of
from harness.peers.client import Behaviour, ControlApiError, JsonValue, Registration
from harness.topology.compose import TopologyError

if TYPE_CHECKING:
    from harness.topology.topology import Topology

LYNC_CALL: Behaviour = {"hold_after_ms": None, "hangup_after_ms": 2000, "hangup_by": "mediation"}

Check = Literal["registration", "lync_to_skype", "skype_to_lync"]


def lync_dials(topology: Topology, pcap: CallPcap, number: str,
               skype: Behaviour | None = None, **behaviour: JsonValue) -> CallRun:
    """The Lync user dials `number` (1001: Skype's test number; 1002: echo123); Lync's
    dial plan makes it +1001 and routes it to Asterisk (harness/peers/lync/dialling.py)."""
    sims = Simulators.of(topology)
    prepare(sims.skype, **(skype or {}))
    prepare(sims.mediation)
    problems: list[str] = []
    wanted = {**LYNC_CALL, **behaviour}
    sims.mediation.place_call(number, as_dialled=True, **{"from": "+14255550150", **wanted})
    call = last_call(sims.mediation, problems, timeout_s=15)
    last_call(sims.skype, problems, timeout_s=5)  # its BYE answered too
    pcap.stop()
    return CallRun(f"Lync dials {number.lstrip('+')} (Skype)", pcap, None, call, sims.roles,
                   wanted, problems)


def skype_calls_lync(topology: Topology, pcap: CallPcap, anonymous: bool = True,
                     hangup_after_ms: int = 2000) -> CallRun:
    """A Skype user calls the business account; the profile number routes to Lync."""
    sims = Simulators.of(topology)
    prepare(sims.mediation, hold_after_ms=None, hangup_by="remote")
    prepare(sims.skype)
    problems: list[str] = []
    sims.skype.place_call("99051000107808", anonymous=anonymous, hangup_after_ms=hangup_after_ms,
                          **{"from": "+4420799900"})
    call = last_call(sims.skype, problems, timeout_s=15)
    last_call(sims.mediation, problems, timeout_s=5)  # the Lync side ends too
    pcap.stop()
    return CallRun("Skype calls Lync", pcap, None, call, sims.roles, {"anonymous": anonymous},
                   problems)


def skype_user_calls_lync_via_sfa(topology: Topology, pcap: CallPcap,
                                  hangup_after_ms: int = 2000) -> CallRun:
    """Seed "Skype for Asterisk": a Skype user calls the business account; chan_skype
    hands the call to Asterisk as 14255550150 (chan_skype.conf exten), which dials Lync."""
    sims = Simulators.of(topology)
    prepare(sims.mediation, hold_after_ms=None, hangup_by="remote")
    prepare(sims.skype)
    problems: list[str] = []
    sims.skype.place_call(skype_flow.SFA_NUMBER, via="sfa", anonymous=False,
                          hangup_after_ms=hangup_after_ms, **{"from": "skype.caller"})
    call = last_call(sims.skype, problems, timeout_s=15)
    last_call(sims.mediation, problems, timeout_s=5)  # the Lync side ends too
    pcap.stop()
    return CallRun("Skype for Asterisk calls Lync", pcap, None, call, sims.roles,
                   {"via": "sfa"}, problems)


def registration(topology: Topology, pcap: CallPcap, grant_s: int = 8,
                 timeout_s: float = 20) -> tuple[CallRun, list[Registration]]:
    """Asterisk registers afresh; Skype grants `grant_s` seconds; Asterisk must refresh."""
    sims = Simulators.of(topology)
    sims.skype.behaviour(max_expires=grant_s)
    sims.skype.clear_registrations()
    problems: list[str] = []
    try:
        topology.gateway.register_again()
    except TopologyError as exc:
        problems.append(str(exc))
    # Two registrations that bind: the first and its refresh.
    try:
        wait = sims.skype.registrations(wait=2, timeout_s=timeout_s)
        regs, reached = wait.value, wait.reached
    except ControlApiError:
        regs, reached = [], False
    if not reached:
        problems.append(f"{len(regs)} registrations within {timeout_s:g} s, expected a refresh")
    pcap.stop()
    return CallRun("Skype for SIP registration", pcap, None, None, sims.roles,
                   {"max_expires": grant_s}, problems), regs


def verify(run: CallRun, kind: Check, *, granted_s: int | None = None,
           dialled: str | None = None, target: str | None = None, via_profile: bool = True,
           anonymous: bool = True, refused: int | None = None) -> Verdict:
    """kind: 'registration' (with `granted_s`), 'lync_to_skype' (with `dialled`, `target`,
    `via_profile`, and `refused`: the status Skype was asked to refuse with) or
    'skype_to_lync' (with `anonymous`): skype_flow's checks."""
    if kind == "registration" and granted_s is None:
        raise TypeError("verify(kind='registration') needs granted_s")
    if kind == "lync_to_skype" and (dialled is None or target is None):
        raise TypeError("verify(kind='lync_to_skype') needs dialled and target")

    def check(capture: Capture) -> Verdict:
        sip, path = capture.sip_messages(), run.pcap.path
        if kind == "registration" and granted_s is not None:
            return skype_flow.check_registration(sip, run.roles, path, granted_s=granted_s)
        if kind == "lync_to_skype" and dialled is not None and target is not None:
            return skype_flow.check_lync_to_skype(sip, capture, run.roles, path, run.flow,
                                                  dialled, target, via_profile,
                                                  refused=refused)
        return skype_flow.check_skype_to_lync(sip, capture, run.roles, path, run.flow, anonymous,
                                              via_profile=via_profile)

    return verdict_of(run, check)
