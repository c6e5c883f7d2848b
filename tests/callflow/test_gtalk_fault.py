"""A real fault in chan_motif's configuration fails the Google Talk flows at the step that
covers it: the seed's [guest]/[account] allow=ulaw removed (motif.conf, in each gateway's
words: harness/gateway/profiles.py "motif-without-ulaw"), so the one endpoint allows no
codec. The Google Talk user's session-initiate is refused with an IQ error (XEP-0166 6.3.2)
and no IVR runs; Lync's 9501 gets Busy and Sara no session-initiate."""

from __future__ import annotations

import pytest

from harness.analysis.jingle_rules import JINGLE_LEG
from harness.flows import gtalk_out, xmpp
from tests.support.faults import broken_fixture

pytestmark = [pytest.mark.callflow, pytest.mark.xmpp, pytest.mark.own_gateway_config]


@pytest.fixture
def motif_without_ulaw(topology):
    with broken_fixture(topology, "motif-without-ulaw"):
        yield


def test_gtalk_call_is_refused_at_the_jingle_step(topology, call_pcap, gtalk_user,
                                                  motif_without_ulaw):
    run = xmpp.ivr_call(topology, call_pcap, gtalk_user, "5")
    verdict = xmpp.verify(run)
    assert not verdict.ok, verdict.report()
    jingle = [r for r in verdict.failures if (r.step, r.leg) == ("jingle", JINGLE_LEG)]
    acks = [r for r in jingle if r.subject == "IQ results"]
    assert acks and "session-initiate from Google Talk user: error" in acks[0].actual, (
        verdict.report())
    assert any(r.subject == "session-accept" for r in jingle), verdict.report()
    # nothing reached Lync: the IVR never ran
    assert any(r.step == "route" for r in verdict.failures), verdict.report()
    assert call_pcap.path.exists()


def test_9501_gets_busy_without_a_session_initiate(topology, call_pcap, gtalk_user,
                                                   motif_without_ulaw):
    run = gtalk_out.lync_calls_sara(topology, call_pcap, gtalk_user, "answer")
    verdict = gtalk_out.verify(run)
    assert not verdict.ok, verdict.report()
    failed = {(r.step, r.subject) for r in verdict.failures}
    assert ("answer", "200 OK") in failed, verdict.report()
    assert ("jingle", "session-initiate") in failed, verdict.report()
    assert any("Sara got no Jingle session-initiate" in r.actual for r in verdict.failures)
