"""The seed's "Outbound Calls": Lync dials 9501 and reaches Sara Davis on Google Talk over a
real Jingle call through chan_motif ([gtalk-out]), or gets Busy when she declines or is
offline; the seed's troubleshooting views (connection, buddy list, the Motif channel)
read over AMI on the way."""

from __future__ import annotations

import pytest

from harness.flows import gtalk_out
from harness.flows.gtalk_session import (
    GATEWAYS,
    MOTIF_CANCEL_GONE,
    MOTIF_GONE,
    MOTIF_GONE_EXPLAINS,
)

pytestmark = [pytest.mark.callflow, pytest.mark.xmpp]

MOTIF_REASON = [pytest.mark.gateway_difference(g, reason=MOTIF_GONE,
                                               explains=MOTIF_GONE_EXPLAINS) for g in GATEWAYS]


def _scripted_phone(topology) -> None:
    if topology.config.softphone != "sipp":
        pytest.skip("the softphone's 9501 calls are SIPp scenarios "
                    "(scenarios/softphone_uac_*_gtalk.xml); baresip is not driven to dial them yet")


@pytest.mark.parametrize("mode", [pytest.param("answer", marks=MOTIF_REASON)])
def test_lync_dials_9501_and_sara_answers(topology, call_pcap, gtalk_user, flow_report, mode):
    """Asterisk's session-initiate reaches Sara's Jingle resource, she answers, ICE
    completes, RTP both ways Lync <-> Asterisk <-> Sara, Lync hangs up, session-terminate."""
    run = gtalk_out.lync_calls_sara(topology, call_pcap, gtalk_user, mode)
    flow_report.add(run, gtalk_out.verify(run)).raise_if_failed()


@pytest.mark.parametrize("mode", ["decline", "offline"])
def test_lync_dials_9501_and_gets_busy(topology, call_pcap, gtalk_user, flow_report, mode):
    """Sara declines (session-terminate <decline/>) or is offline (no Jingle resource):
    the Dial fails and Lync gets 486 Busy Here."""
    run = gtalk_out.lync_calls_sara(topology, call_pcap, gtalk_user, mode)
    flow_report.add(run, gtalk_out.verify(run)).raise_if_failed()


@pytest.mark.parametrize("mode", [pytest.param("answer", marks=MOTIF_REASON), "decline",
                                  "offline"])
def test_softphone_dials_9501(topology, call_pcap, gtalk_user, flow_report, mode):
    """The softphone (SIPp as X-Lite) dials 9501: answered (RTP both ways, the softphone's
    BYE, session-terminate), or 486 Busy Here when Sara declines or is offline."""
    _scripted_phone(topology)
    run = gtalk_out.phone_calls_sara(topology, call_pcap, gtalk_user, mode)
    flow_report.add(run, gtalk_out.verify(run)).raise_if_failed()


@pytest.mark.gateway_difference("asterisk22-pjsip", reason=MOTIF_CANCEL_GONE,
                                explains=MOTIF_GONE_EXPLAINS)
@pytest.mark.gateway_difference("asterisk16-chansip", reason=MOTIF_CANCEL_GONE,
                                explains=MOTIF_GONE_EXPLAINS)
def test_softphone_gives_up_while_sara_rings(topology, call_pcap, gtalk_user, flow_report):
    """Sara's client rings and nobody answers: her session-info <ringing/> reaches the
    softphone as 180 Ringing; the softphone's CANCEL ends the Jingle session (XEP-0166
    7.4 <cancel/>) and gets 487 on the SIP leg."""
    _scripted_phone(topology)
    run = gtalk_out.phone_calls_sara(topology, call_pcap, gtalk_user, "ring")
    flow_report.add(run, gtalk_out.verify(run)).raise_if_failed()
