"""The seed's Lync flows through Asterisk, driven for real.

- outbound: the softphone (SIPp, extension 1000) calls +14255550150; Asterisk routes it
  over the TCP trunk to the Mediation Server simulator, which answers, holds, resumes and
  hangs up on the timeline the test gives ("Detailed Call Flow", steps 1-12);
- inbound: the Mediation Server places the Lync user's call to +1000; Asterisk routes it to
  the registered softphone, which answers ("Basic Call Flow", Figure 2).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

from harness.analysis.deployment import check_capture
from harness.analysis.verdict import Verdict
from harness.flows import phone
from harness.flows.run import CallPcap, CallRun, Simulators, last_call, prepare, verdict_of
from harness.peers.client import Behaviour, JsonValue
from harness.topology.sipp import SippResult

if TYPE_CHECKING:
    from harness.topology.topology import Topology

# The seed's timeline, shortened: answer quickly, talk, hold, resume, talk, Lync hangs up.
DEFAULT_BEHAVIOUR: Behaviour = {
    "progress_delay_ms": 20,
    "ring_delay_ms": 40,
    "answer_delay_ms": 200,
    "hold_after_ms": 800,
    "hold_duration_ms": 800,
    "hangup_after_ms": 800,
    "hangup_by": "mediation",
}


def outbound(topology: Topology, pcap: CallPcap, sipp_timeout_s: int = 30,
             **behaviour: JsonValue) -> CallRun:
    """Softphone -> Asterisk -> Mediation Server (the seed's steps 1-12)."""
    wanted = {**DEFAULT_BEHAVIOUR, **behaviour}
    sims = Simulators.of(topology)
    prepare(sims.mediation, **wanted)
    problems: list[str] = []
    dialled: phone.PhoneCall | SippResult
    if topology.config.softphone == "baresip":
        dialled = phone.calls(topology, "+14255550150", timeout_s=sipp_timeout_s)
        sipp = None
    else:
        sipp = topology.softphone.run("softphone_uac_call_lync.xml", pcap.label,
                                      service="+14255550150", timeout_s=sipp_timeout_s)
        dialled = sipp
    # A failed call may never have reached the Mediation Server: do not wait long for it.
    call = last_call(sims.mediation, problems, timeout_s=10 if dialled.ok else 1)
    pcap.stop()
    if not dialled.ok:
        problems.append(dialled.describe())
    return CallRun("outbound: softphone -> Asterisk -> Lync", pcap, sipp, call, sims.roles,
                   wanted, problems)


def inbound(topology: Topology, pcap: CallPcap, **behaviour: JsonValue) -> CallRun:
    """Mediation Server (Lync user +14255550150) -> Asterisk -> softphone 1000."""
    wanted = {**DEFAULT_BEHAVIOUR, **behaviour}
    sims = Simulators.of(topology)
    prepare(sims.mediation)
    label = pcap.label
    problems: list[str] = []
    if topology.config.softphone == "baresip":
        return _inbound_to_baresip(topology, pcap, sims, wanted)
    # X-Lite registers first, from its Contact's port as a phone does (a registrar may
    # route to the REGISTER's source: chan_sip does); the answering SIPp binds it afterwards.
    reg = topology.softphone.run("softphone_register.xml", f"{label}-register", service="1000")
    if not reg.ok:
        problems.append("registration failed: " + reg.describe())
    results: list[SippResult] = []
    uas = threading.Thread(target=lambda: results.append(
        topology.softphone.run("softphone_uas_answer.xml", label, service="1000")))
    uas.start()
    if not topology.softphone.wait_listening(5060):
        problems.append("the answering softphone (SIPp) did not bind UDP 5060 within 10 s")
    sims.mediation.place_call("1000", as_dialled=True,  # Lync's rule: +1000
                              **{"from": "+14255550150", **wanted})
    uas.join(60)
    call = last_call(sims.mediation, problems)
    pcap.stop()
    sipp = results[0] if results else reg
    if results and not sipp.ok:
        problems.append(sipp.describe())
    return CallRun("inbound: Lync -> Asterisk -> softphone", pcap, sipp, call, sims.roles,
                   wanted, problems)


def _inbound_to_baresip(topology: Topology, pcap: CallPcap, sims: Simulators,
                        wanted: Behaviour) -> CallRun:
    """baresip registered when it started, as X-Lite does when it logs on: the gateway's
    registration state says where it routes 1000 (the pcap has no REGISTER)."""
    problems: list[str] = []
    reg = phone.registered(topology)
    if not reg.ok:
        problems.append("registration failed: " + reg.describe())
    contact = topology.gateway.adapter().peer_state("1000").contact
    answered: list[phone.PhoneCall] = []
    answering = threading.Thread(target=lambda: answered.append(phone.answers(topology, 30)))
    answering.start()
    sims.mediation.place_call("1000", as_dialled=True,  # Lync's rule: +1000
                              **{"from": "+14255550150", **wanted})
    answering.join(60)
    call = last_call(sims.mediation, problems)
    pcap.stop()
    if not answered or not answered[0].ok:
        problems.append(answered[0].describe() if answered else "baresip did not answer")
    return CallRun("inbound: Lync -> Asterisk -> softphone", pcap, None, call, sims.roles,
                   wanted, problems, registered_contact=contact)


def verify(run: CallRun, direction: Literal["outbound", "inbound"], *,
           registered_contact: str | None = None) -> Verdict:
    """Checks the seed's steps on both legs of the run's pcap, through the engine of
    `harness check` (the whole pcap as the one call, the topology's roles, strict).
    `registered_contact`: the Contact the gateway holds for 1000 (its registration state,
    e.g. from AMI), where the pcap does not hold the softphone's REGISTER (a phone that
    registered before the capture began): the inbound INVITE's Request-URI is checked
    against it."""
    return verdict_of(run, lambda capture: check_capture(
        capture, run.roles.by_address, direction, deployment=False, title=run.flow,
        registered_contact=registered_contact or run.registered_contact,
    ).calls[0].verdict)
