"""The seed's Lync call flows through the real Asterisk, checked from the pcaps."""

from __future__ import annotations

import pytest

from harness.flows import lync

pytestmark = pytest.mark.callflow


def test_outbound_softphone_calls_lync_twelve_steps(topology, call_pcap, flow_report):
    """Seed "Detailed Call Flow" steps 1-12: X-Lite dials +14255550150, Lync answers,
    holds (a=inactive), resumes (a=sendrecv) and hangs up."""
    run = lync.outbound(topology, call_pcap)
    flow_report.add(run, lync.verify(run, "outbound")).raise_if_failed()


def test_inbound_lync_calls_extension_1000(topology, call_pcap, flow_report):
    """Seed "Basic Call Flow": a Lync user (+14255550150) dials extension 1000; the caller
    number reaches the softphone without the +."""
    run = lync.inbound(topology, call_pcap)
    flow_report.add(run, lync.verify(run, "inbound")).raise_if_failed()
