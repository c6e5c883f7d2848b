"""The strict checks fail on real misconfigurations of the gateway (issue 10), at the step
and leg that cover them: each fault is the profile's own setting (harness/gateway/
profiles.py), applied to the run copy of the configuration and reloaded."""

from __future__ import annotations

import pytest

from harness.analysis.legs import LYNC_LEG
from harness.analysis.lync_flow import PHONE_LEG
from harness.flows import lync
from tests.support.faults import broken_fixture

pytestmark = [pytest.mark.integration, pytest.mark.own_gateway_config]


def _failed(verdict):
    return {(r.step, r.leg, r.subject): r for r in verdict.failures}


def test_trunk_allowing_alaw_fails_the_codec_set_on_the_trunk(topology, call_pcap):
    """Seed [to_lync]: disallow=all, allow=ulaw. With alaw allowed too, the gateway's
    offer to Lync carries PCMA: the call still works, and the verdict says what is wrong."""
    with broken_fixture(topology, "trunk-allows-alaw"):
        run = lync.outbound(topology, call_pcap)
    verdict = lync.verify(run, "outbound")
    codec_set = _failed(verdict).get(("SDP", LYNC_LEG, "codec set"))
    assert codec_set is not None, verdict.report()
    assert " 8 " in f" {codec_set.actual.split(': ')[-1]} ", verdict.report()
    assert all(r.leg == LYNC_LEG for r in verdict.failures if r.subject == "codec set")


def test_no_180_after_183_fails_step_4_toward_the_caller(topology, call_pcap):
    """Seed steps 3-4: the trunk's 183 "can cause a 180 Ringing message to the X-Lite
    client". PJSIP without allow_sending_180_after_183 sends the caller no 180."""
    with broken_fixture(topology, "no-180-after-183"):
        run = lync.outbound(topology, call_pcap)
    verdict = lync.verify(run, "outbound")
    assert ("4", PHONE_LEG, "180 Ringing") in _failed(verdict), verdict.report()


@pytest.mark.security
def test_calls_without_credentials_fail_the_toll_fraud_check(topology, call_pcap, attacker):
    """Seed allowguest=no and secret = 1000, each undone in the gateway's own words
    (chan_sip: allowguest=yes; PJSIP: the softphone's endpoint without its auth): the
    stranger's INVITEs get through, and the security verdict says so on the trunk."""
    from harness.analysis import security_rules as rules
    from harness.flows import security

    with broken_fixture(topology, "unauthenticated-calls"):
        sec = security.attack(topology, call_pcap, attacker, "security: toll fraud",
                              security.toll_fraud_probes())
        topology.gateway.cli("channel request hangup all")  # the calls it let through
    verdict = security.verify(sec, topology, rules.check_toll_fraud)
    steps = {r.step for r in verdict.failures}
    assert "trunks" in steps, verdict.report()
    assert any(r.subject.startswith("toll/INVITE") for r in verdict.failures), verdict.report()
