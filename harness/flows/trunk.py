"""The Lync trunk's qualify, driven for real: the gateway is asked (over AMI) to qualify
to_lync now, rather than at its next 60 s interval; the Mediation Server simulator says
when the OPTIONS has come; the capture and the gateway's own view are then checked
(harness/analysis/trunk_rules.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.analysis import trunk_rules
from harness.analysis.verdict import Verdict
from harness.capture import Capture
from harness.flows.run import CallPcap, CallRun, Simulators, verdict_of
from harness.topology.gateway import TRUNK, GatewayNotAsked

if TYPE_CHECKING:
    from harness.topology.topology import Topology

WAIT_S = 10.0


def qualify(topology: Topology, pcap: CallPcap) -> tuple[CallRun, trunk_rules.GatewayView | None]:
    sims = Simulators.of(topology)
    sims.mediation.clear_options()
    problems: list[str] = []
    view = None
    try:
        adapter = topology.gateway.adapter()
        adapter.qualify(TRUNK)
        if not sims.mediation.options(count=1, timeout_s=WAIT_S).reached:
            problems.append(f"no OPTIONS reached the Mediation Server within {WAIT_S:g} s "
                            f"of asking the gateway to qualify {TRUNK}")
        # the gateway counts the round trip once the 200 OK is back: await its state
        state = adapter.wait_reachable(TRUNK, timeout=WAIT_S)
        view = trunk_rules.GatewayView(state.summary(), state.reachable, state.rtt_ms)
    except GatewayNotAsked as exc:
        problems.append(str(exc))
    pcap.stop()
    return CallRun("Lync trunk qualify", pcap, None, None, sims.roles, {}, problems), view


def verify(run: CallRun, view: trunk_rules.GatewayView | None) -> Verdict:
    def check(capture: Capture) -> Verdict:
        v = Verdict(run.flow, run.pcap.path, family="Lync trunk")
        messages = [m.with_roles(run.roles) for m in capture.sip_messages()]
        trunk_rules.check_qualify(v, messages, view)
        return v

    return verdict_of(run, check)
