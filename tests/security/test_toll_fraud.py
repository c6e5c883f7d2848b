"""Toll fraud: an unknown host calls through the gateway without credentials.

Seed sip.conf [general] (the Google Talk section's): `allowguest=no`. A host that is no
configured peer dials the Lync user (exten 14255550150, +14255550150) and the numbers
that leave for Skype (1001, 1002), and claims to be the softphone (From: 1000): each
INVITE is refused with a 4xx and no INVITE leaves the gateway for a trunk.
"""

from __future__ import annotations

import pytest

from harness.analysis import security_rules as rules
from harness.flows import security

pytestmark = pytest.mark.security


def test_unknown_host_cannot_call_lync_or_outside(topology, call_pcap, flow_report, attacker):
    sec = security.attack(topology, call_pcap, attacker, "security: toll fraud",
                          security.toll_fraud_probes())
    flow_report.add(sec.run, security.verify(sec, topology, rules.check_toll_fraud)
                    ).raise_if_failed()
