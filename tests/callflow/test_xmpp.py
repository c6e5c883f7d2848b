"""The seed's Google Talk integration: Asterisk's XMPP account, and the text IVR that
routes a Google Talk caller to Lync ("Sample Jabber Interactive Voice Response"), entered
by a real Jingle call from the Google Talk user to the company's account."""

from __future__ import annotations

import pytest

from harness.flows import xmpp, xmpp_tls
from harness.flows.gtalk_session import GATEWAYS, MOTIF_GONE, MOTIF_GONE_EXPLAINS

pytestmark = [pytest.mark.callflow, pytest.mark.xmpp]

# Asterisk ends every IVR call (the IVR hangs up, or Lync does): chan_motif's <gone/>
MOTIF_REASON = [pytest.mark.gateway_difference(g, reason=MOTIF_GONE,
                                               explains=MOTIF_GONE_EXPLAINS) for g in GATEWAYS]


def test_asterisk_account_is_connected_and_shows_its_status(topology, gtalk_user):
    """Seed jabber.conf: status=available, statusmessage "How can we help?"; subscribes
    from Google Talk users are accepted."""
    xmpp.account_status(topology, gtalk_user).raise_if_failed()


@pytest.mark.own_gateway_config
@pytest.mark.gateway_difference("asterisk22-pjsip", reason=xmpp_tls.NO_TLS_22,
                                explains=(xmpp_tls.STEP,))
def test_asterisk_signs_in_with_starttls_as_the_seed_asks(topology, call_pcap, flow_report):
    """Seed jabber.conf usetls=yes: from a fresh sign-in's capture, Asterisk asks STARTTLS,
    the server grants it, and none of the account's stanzas travels in clear."""
    run = xmpp_tls.sign_in(topology, call_pcap)
    flow_report.add(run, xmpp_tls.verify(run)).raise_if_failed()


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
