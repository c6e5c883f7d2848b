"""DTMF on every path into Lync's Response Group IVRs, driven for real.

- the softphone (X-Lite, dtmfmode=rfc2833) calls +14255550150 and, once Lync answers,
  keys digits: SIPp replays an RTP pcap of RFC 4733 events (scenarios/
  softphone_dtmf_50150.pcap, written with harness.rtp.rfc4733 by tests/unit/
  test_dtmf_rules.py's ``event_pcap``, which checks the committed file), baresip sends
  them from its dial pad (``sndcode``);
- a Skype user calls the business account, which the profile routes to Lync, and keys
  digits on the Skype client's dial pad ("The Skype for Windows client provides a dial pad
  feature so that people who call into your Lync Server can use interactive menus with
  Response Group IVRs"): the Skype simulator's ``dtmf`` behaviour.

The Mediation Server answers and hangs up after the digits. Each run is checked on both
legs by ``harness.analysis.dtmf_rules``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.analysis.dtmf_rules import Kind, check_dtmf_call
from harness.analysis.verdict import Verdict
from harness.capture import Capture
from harness.flows.phone import PhoneCall
from harness.flows.run import CallPcap, CallRun, Simulators, last_call, prepare, verdict_of

if TYPE_CHECKING:
    from harness.topology.topology import Topology

LYNC_NUMBER = "+14255550150"
PROFILE = "99051000107808"
# The softphone keys the seed's short form of the Lync number (the normalisation rule
# "50150 -> +14255550150") and #, as a caller answering an IVR's "enter the extension".
SOFTPHONE_DIGITS = "50150#"
SKYPE_DIGITS = "1#"  # a Response Group menu choice and its confirmation
SCENARIO = "softphone_uac_dtmf.xml"
PCAP_NAME = "softphone_dtmf_50150.pcap"
# The Mediation Server answers, keeps the call up while the digits go, then hangs up.
LYNC_ANSWERS: dict[str, int | str | None] = {
    "progress_delay_ms": 20, "ring_delay_ms": 40, "answer_delay_ms": 200,
    "hold_after_ms": None, "hangup_after_ms": 6000, "hangup_by": "mediation",
}

# --- the flows ---------------------------------------------------------------------------

def softphone_keys(topology: Topology, pcap: CallPcap, timeout_s: int = 30) -> CallRun:
    """The softphone calls Lync and keys SOFTPHONE_DIGITS once answered."""
    sims = Simulators.of(topology)
    wanted = prepare(sims.mediation, **LYNC_ANSWERS)
    problems: list[str] = []
    sipp = None
    if topology.config.softphone == "baresip":
        dialled = _baresip_keys(topology, SOFTPHONE_DIGITS, timeout_s)
        ok, why = dialled.ok, dialled.describe()
    else:
        sipp = topology.softphone.run(SCENARIO, pcap.label, service=LYNC_NUMBER,
                                      timeout_s=timeout_s)
        ok, why = sipp.ok, sipp.describe()
    call = last_call(sims.mediation, problems, timeout_s=15 if ok else 1)
    pcap.stop()
    if not ok:
        problems.append(why)
    return CallRun(f"softphone keys {SOFTPHONE_DIGITS} to Lync (RFC 4733)", pcap, sipp, call,
                   sims.roles, wanted, problems)


def _baresip_keys(topology: Topology, digits: str, timeout_s: float) -> PhoneCall:
    phone = topology.phone()
    call = PhoneCall()
    if (call.add(phone.wait_registered(timeout_s=10))
            and call.add(phone.dial(LYNC_NUMBER))
            and call.add(phone.wait_established(timeout_s))
            and call.add(phone.send_digits(digits))):
        call.add(phone.wait_closed(timeout_s))
    return call


def skype_keys(topology: Topology, pcap: CallPcap, digits: str = SKYPE_DIGITS) -> CallRun:
    """A Skype user calls the business account (routed to Lync) and keys `digits`."""
    sims = Simulators.of(topology)
    prepare(sims.mediation, hold_after_ms=None, hangup_by="remote")
    prepare(sims.skype)
    problems: list[str] = []
    sims.skype.place_call(PROFILE, anonymous=True, hangup_after_ms=4000, dtmf=digits,
                          dtmf_after_ms=800, **{"from": "+4420799900"})
    call = last_call(sims.skype, problems, timeout_s=15)
    lync = last_call(sims.mediation, problems, timeout_s=5)
    pcap.stop()
    return CallRun(f"Skype user keys {digits} to Lync (RFC 4733)", pcap, None, lync or call,
                   sims.roles, {"dtmf": digits}, problems)


def verify(run: CallRun, kind: Kind, digits: str) -> Verdict:
    """The digits checked on the leg they enter by and on the Lync trunk."""
    def check(capture: Capture) -> Verdict:
        v = check_dtmf_call(capture, run.roles, run.pcap.path, run.flow, kind, digits)
        call = run.mediation_call
        if call is not None:
            v.note(f"the far end's call record: dtmf_received={call.get('dtmf_received')!r}, "
                   f"dtmf_sent={call.get('dtmf_sent')!r}")
        return v

    return verdict_of(run, check)


__all__ = ["skype_keys", "softphone_keys", "verify"]
