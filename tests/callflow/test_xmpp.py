"""The seed's Google Talk integration: Asterisk's XMPP account, and the text IVR that
routes a Google Talk caller to Lync ("Sample Jabber Interactive Voice Response")."""

from __future__ import annotations

import pytest

from harness.flows import xmpp

pytestmark = [pytest.mark.callflow, pytest.mark.xmpp]


def test_asterisk_account_is_connected_and_shows_its_status(topology, gtalk_user):
    """Seed jabber.conf: status=available, statusmessage "How can we help?"; subscribes
    from Google Talk users are accepted."""
    xmpp.account_status(topology, gtalk_user).raise_if_failed()


@pytest.mark.parametrize("option", ["1", "2", "3", "4", "5"])
def test_ivr_option_routes_as_the_seed_says(topology, call_pcap, gtalk_user, flow_report, option):
    run = xmpp.ivr_call(topology, call_pcap, gtalk_user, option)
    flow_report.add(run, xmpp.verify(run)).raise_if_failed()


@pytest.mark.parametrize("option", [None, "9"], ids=["no-answer", "unknown-option"])
def test_ivr_without_a_valid_answer_ends_the_call(
    topology, call_pcap, gtalk_user, flow_report, option
):
    run = xmpp.ivr_call(topology, call_pcap, gtalk_user, option)
    flow_report.add(run, xmpp.verify(run)).raise_if_failed()
