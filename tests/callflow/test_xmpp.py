"""The seed's Google Talk integration: Asterisk's XMPP account, and the text IVR that
routes a Google Talk caller to Lync ("Sample Jabber Interactive Voice Response"), entered
by a real Jingle call from the Google Talk user to the company's account."""

from __future__ import annotations

import pytest

from harness.flows import xmpp
from harness.flows.gtalk_session import GATEWAYS, MOTIF_GONE, MOTIF_GONE_EXPLAINS

pytestmark = [pytest.mark.callflow, pytest.mark.xmpp]

# Asterisk ends every IVR call (the IVR hangs up, or Lync does): chan_motif's <gone/>
MOTIF_REASON = [pytest.mark.gateway_difference(g, reason=MOTIF_GONE,
                                               explains=MOTIF_GONE_EXPLAINS) for g in GATEWAYS]


def test_asterisk_account_is_connected_and_shows_its_status(topology, gtalk_user):
    """Seed jabber.conf: status=available, statusmessage "How can we help?"; subscribes
    from Google Talk users are accepted."""
    xmpp.account_status(topology, gtalk_user).raise_if_failed()


@pytest.mark.parametrize("option", [pytest.param(o, marks=MOTIF_REASON)
                                    for o in ("1", "2", "3", "4", "5")])
def test_ivr_option_routes_as_the_seed_says(topology, call_pcap, gtalk_user, flow_report, option):
    run = xmpp.ivr_call(topology, call_pcap, gtalk_user, option)
    flow_report.add(run, xmpp.verify(run)).raise_if_failed()


@pytest.mark.parametrize("option", [pytest.param(None, id="no-answer", marks=MOTIF_REASON),
                                    pytest.param("9", id="unknown-option", marks=MOTIF_REASON)])
def test_ivr_without_a_valid_answer_ends_the_call(
    topology, call_pcap, gtalk_user, flow_report, option
):
    run = xmpp.ivr_call(topology, call_pcap, gtalk_user, option)
    flow_report.add(run, xmpp.verify(run)).raise_if_failed()
