"""The seed's Lync call flows through the real Asterisk, checked from the pcaps."""

from __future__ import annotations

import pytest

from harness.flows import lync

pytestmark = pytest.mark.callflow

# Asterisk 16's chan_sip running the seed's sip.conf as written (measured; pcaps in the
# README's "Test your own gateway"): Lync's hold (a=inactive) and resume are answered by
# Asterisk itself and never reach the softphone (the seed's sip.conf has no
# mohinterpret=passthrough, and chan_sip plays no music without res_musiconhold), so the
# softphone hears no RTP while Lync holds and SIPp's scripted hold is never met; and its
# requests carry no rport in the Via where the seed's trace of Asterisk 1.8 does (chan_sip
# adds it only with nat=force_rport since Asterisk 11).
CHAN_SIP_HOLD = pytest.mark.gateway_difference(
    "asterisk16-chansip",
    reason="chan_sip answers Lync's hold itself (no hold passed on to the softphone, no "
    "RTP to it meanwhile) and sends no rport in its Via",
    explains=("7:RTP Asterisk -> Softphone", "8:hold re-INVITE", "9:resume re-INVITE",
              "call:call completed", "headers:Via rport"),
)


@CHAN_SIP_HOLD
def test_outbound_softphone_calls_lync_twelve_steps(topology, call_pcap, flow_report):
    """Seed "Detailed Call Flow" steps 1-12: X-Lite dials +14255550150, Lync answers,
    holds (a=inactive), resumes (a=sendrecv) and hangs up."""
    run = lync.outbound(topology, call_pcap)
    flow_report.add(run, lync.verify(run, "outbound")).raise_if_failed()


@CHAN_SIP_HOLD
def test_inbound_lync_calls_extension_1000(topology, call_pcap, flow_report):
    """Seed "Basic Call Flow": a Lync user (+14255550150) dials extension 1000; the caller
    number reaches the softphone without the +."""
    run = lync.inbound(topology, call_pcap)
    flow_report.add(run, lync.verify(run, "inbound")).raise_if_failed()


@CHAN_SIP_HOLD
def test_long_call_carries_the_gateways_rtcp(topology, call_pcap, flow_report):
    """A call long enough for RTCP (RFC 3550 6.2: reports at least 5 s apart, up to 7.5 s):
    9 s of talk before Lync's hold. Asterisk's sender and receiver reports reach each far
    end at the port its SDP gave, and agree with the streams the capture measured."""
    run = lync.outbound(topology, call_pcap, hold_after_ms=9000)
    verdict = flow_report.add(run, lync.verify(run, "outbound"))
    verdict.raise_if_failed()
    judged = {(r.leg, r.subject) for r in verdict.results if r.checked
              and r.subject.startswith("RTCP Asterisk")}
    assert judged, "no RTCP check was made on a call long enough for reports: " + verdict.report()
