"""The softphone's secret under attack (seed sip.conf [1000]: type = friend,
secret = 1000), from a host the gateway does not know."""

from __future__ import annotations

import pytest

from harness.analysis import security_rules as rules
from harness.flows import security

pytestmark = pytest.mark.security

# The seed's own line: its complete sip.conf gives X-Lite the extension as its password.
SEED_WEAK_SECRET = ('seed sip.conf [1000] "secret = 1000" (the complete file of "Configure '
                    'sip.conf"): the extension is its own password, the guess every '
                    'dictionary makes')


def test_wrong_password_is_refused(topology, call_pcap, flow_report, attacker):
    """REGISTER and INVITE as 1000 with a wrong secret: refused, no call placed."""
    sec = security.attack(topology, call_pcap, attacker, "security: wrong password",
                          security.wrong_password_probes())
    flow_report.add(sec.run, security.verify(sec, topology, rules.check_wrong_password)
                    ).raise_if_failed()


@pytest.mark.gateway_difference(
    "asterisk16-chansip",
    reason="chan_sip answers OPTIONS without a challenge (auth_options_requests=no, its "
    "default; the seed's sip.conf leaves it): 200 OK for an extension in the dialplan, 404 "
    "for one that is not, so OPTIONS lists the extensions",
    explains=("probing:OPTIONS",),
)
def test_probing_does_not_reveal_extensions(topology, call_pcap, flow_report, attacker):
    """REGISTER, INVITE and OPTIONS for 1000 (exists) and 1999, 2000 (do not): the same
    status code and reason for each (RFC 3261 26.1.1; chan_sip's alwaysauthreject). The
    gateway's Server / User-Agent is noted in the verdict."""
    sec = security.attack(topology, call_pcap, attacker, "security: extension probing",
                          security.probing_probes())
    flow_report.add(sec.run, security.verify(sec, topology, rules.check_same_answers)
                    ).raise_if_failed()


def test_dictionary_attack_does_not_find_the_secret(request, topology, call_pcap,
                                                    flow_report, attacker):
    """Fifteen common secrets, the extension among them: finding one is "weak secret"."""
    cfg = topology.config
    if cfg.gateway_config is None and not cfg.external:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=SEED_WEAK_SECRET,
                                                  raises=rules.WeakSecret))
    sec = security.attack(topology, call_pcap, attacker, "security: dictionary attack",
                          security.dictionary_probes(), stop_at_success=True)
    rules.raise_if_failed(flow_report.add(
        sec.run, security.verify(sec, topology, rules.check_weak_secret)))
