"""The seed's troubleshooting, asked of the gateway over AMI: the trunk is qualified and
answers (`qualify=yes`; "sip show peers ... to_lync ... OK (1 ms)"), and the softphone's
registration is what the gateway routes extension 1000 to."""

from __future__ import annotations

import re

import pytest

from harness.flows import phone

pytestmark = pytest.mark.callflow


@pytest.fixture
def own_profile(topology):
    if topology.config.profile is None:
        pytest.skip("an external gateway's CLI views are its own; its AMI state is asked below")
    return topology.config.profile


def test_trunk_is_qualified_and_answers(topology):
    """qualify=yes: the gateway sends OPTIONS to the Mediation Server and has its round
    trip time (seed: `sip show peers` ... `OK (1 ms)`)."""
    trunk = topology.gateway.adapter().wait_reachable("to_lync", timeout=15)
    assert trunk.reachable is True, trunk.summary()
    assert trunk.rtt_ms is not None and 0 < trunk.rtt_ms < 1000, trunk.summary()


def test_seed_troubleshooting_view_shows_the_trunk_ok(topology, own_profile):
    """The seed's own words in the profile's CLI: chan_sip's `sip show peers` lists
    `to_lync ... OK (N ms)`; PJSIP's `pjsip show contacts` its contact Avail with an RTT."""
    topology.gateway.adapter().wait_reachable("to_lync", timeout=15)
    command, wanted = own_profile.trunk_view
    text = topology.asterisk(command)
    assert re.search(wanted, text, re.MULTILINE), f"{command}:\n{text}"


def test_softphone_registration_is_the_gateways_route_to_1000(topology, call_pcap):
    """The X-Lite (1000) registers; the gateway holds its contact (seed: type=friend with
    its secret; `sip show peers` shows 1000 with its address)."""
    if topology.config.softphone == "baresip":  # it registered when it started, as X-Lite
        reg = phone.registered(topology)
    else:
        reg = topology.softphone.run("softphone_register.xml", f"{call_pcap.label}-register",
                                     service="1000")
    assert reg.ok, reg.describe()
    peer = topology.gateway.adapter().peer_state("1000")
    assert peer.contact is not None, peer.summary()
    assert topology.config.address("softphone") in peer.contact, peer.summary()
