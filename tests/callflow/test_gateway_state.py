"""The seed's troubleshooting, asked of the gateway over AMI: the trunk is qualified and
answers (`qualify=yes`; "sip show peers ... to_lync ... OK (1 ms)"), and the softphone's
registration is what the gateway routes extension 1000 to."""

from __future__ import annotations

import re

import pytest

from harness.analysis.trunk_rules import MAX_RTT_MS
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
    # within qualify=yes's limit (chan_sip: beyond 2000 ms the peer is LAGGED, not OK)
    assert trunk.rtt_ms is not None and 0 < trunk.rtt_ms <= MAX_RTT_MS, trunk.summary()


def test_trunk_qualify_is_seen_on_the_wire(topology, call_pcap, flow_report):
    """qualify=yes on the wire: the gateway's OPTIONS to the Mediation Server over TCP
    5068, answered 200 OK, within qualify's limit; the gateway's own view beside it."""
    from harness.flows import trunk

    if topology.gateway.login is None:
        pytest.skip("the external gateway was given no AMI login (--gateway-ami): it cannot "
                    "be asked to qualify its trunk")
    run, view = trunk.qualify(topology, call_pcap)
    flow_report.add(run, trunk.verify(run, view)).raise_if_failed()


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
