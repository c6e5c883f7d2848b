"""DTMF on every path into Lync's Response Group IVRs: the softphone's and the Skype user's
RFC 4733 digits reach the Mediation Server as RFC 4733, checked on both legs of each call
from the pcap (harness/analysis/dtmf_rules.py). And a real fault: the Lync trunk set to
inband DTMF fails the verdict on the trunk."""

from __future__ import annotations

import pytest

from harness.analysis.legs import LYNC_LEG
from harness.flows import dtmf
from harness.flows.run import CallPcap
from harness.pytest_plugin import FlowReport
from harness.topology.topology import Topology
from tests.support.faults import broken_fixture


@pytest.mark.callflow
def test_softphone_keys_digits_to_lync_ivr(
    topology: Topology, call_pcap: CallPcap, flow_report: FlowReport
) -> None:
    """Seed [1000] dtmfmode=rfc2833 and [to_lync] dtmfmode=rfc2833: X-Lite calls
    +14255550150 and keys 50150# once answered; the same events reach Lync."""
    run = dtmf.softphone_keys(topology, call_pcap)
    verdict = dtmf.verify(run, "softphone", dtmf.SOFTPHONE_DIGITS)
    flow_report.add(run, verdict).raise_if_failed()


@pytest.mark.callflow
@pytest.mark.skype
def test_skype_user_keys_digits_to_lync_ivr(
    topology: Topology, call_pcap: CallPcap, flow_report: FlowReport
) -> None:
    """Seed: "The Skype for Windows client provides a dial pad feature so that people who
    call into your Lync Server can use interactive menus with Response Group IVRs"."""
    run = dtmf.skype_keys(topology, call_pcap)
    verdict = dtmf.verify(run, "skype", dtmf.SKYPE_DIGITS)
    flow_report.add(run, verdict).raise_if_failed()


@pytest.mark.integration
@pytest.mark.own_gateway_config
def test_trunk_with_inband_dtmf_fails_on_the_trunk(
    topology: Topology, call_pcap: CallPcap
) -> None:
    """[to_lync] with inband DTMF: the softphone's events reach Asterisk, none reach Lync
    (the digits become tones in the audio, which a Response Group IVR configured for
    RFC 4733 does not read)."""
    with broken_fixture(topology, "trunk-dtmf-inband"):
        run = dtmf.softphone_keys(topology, call_pcap)
    verdict = dtmf.verify(run, "softphone", dtmf.SOFTPHONE_DIGITS)
    failed = {(r.step, r.leg, r.subject): r.actual for r in verdict.failures}
    egress = "Asterisk -> Mediation Server"
    assert failed.get(("7", LYNC_LEG, f"RFC 4733 digits {egress}")) == "none", verdict.report()
    assert {leg for _s, leg, _subject in failed} == {LYNC_LEG}, verdict.report()
