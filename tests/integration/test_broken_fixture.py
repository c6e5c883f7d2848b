"""A real fault in the gateway's configuration must fail the flow at the step it breaks.

The seed's to_lync peer must use TCP (Lync 2010's Mediation Server takes direct SIP over
TCP only). Here the fixture is broken on purpose (to_lync over UDP), Asterisk reloads it,
and the outbound flow must fail at step 1 on the Lync trunk, with the pcap kept.
"""

from __future__ import annotations

import pytest

from harness.analysis.legs import LYNC_LEG
from harness.flows import lync
from tests.support.faults import broken_fixture

pytestmark = [pytest.mark.integration, pytest.mark.own_gateway_config]


@pytest.fixture
def trunk_over_udp(topology):
    with broken_fixture(topology, "trunk-over-udp"):
        yield
        # The call over UDP may still be trying: end it before the next test captures.
        topology.asterisk("channel request hangup all")


def test_trunk_over_udp_fails_at_step_1_with_pcap(topology, call_pcap, trunk_over_udp):
    run = lync.outbound(topology, call_pcap, sipp_timeout_s=8)
    verdict = lync.verify(run, "outbound")
    assert not verdict.ok, verdict.report()
    first = verdict.failures[0]
    assert (first.step, first.leg) == ("1", LYNC_LEG), verdict.report()
    report = verdict.report()
    assert "first failure at step 1 on the Lync trunk (TCP) leg" in report
    assert str(call_pcap.path) in report
    assert call_pcap.path.exists() and call_pcap.path.stat().st_size > 24


def test_failed_flow_leaves_every_attachment(topology, call_pcap, trunk_over_udp):
    """Issue 5: the failure explains itself: ladder, plots, gateway state, logs, pcap."""
    from harness.flows.artifacts import collect_artifacts

    run = lync.outbound(topology, call_pcap, sipp_timeout_s=8)
    verdict = lync.verify(run, "outbound")
    assert not verdict.ok
    paths = {p.name: p for p in collect_artifacts(run, verdict, topology, failed=True)}
    stem = call_pcap.path.stem
    # the profile's view of its peers: `pjsip show endpoints` or `sip show peers`
    peers = topology.config.profile.state_commands[0].replace(" ", "-") + ".txt"
    for name in (
        f"{stem}-verdict.txt",
        f"{stem}-ladder.svg",
        f"{stem}-ladder.html",
        peers,
        "core-show-channels-verbose.txt",
        "asterisk-log.txt",
        "mediation-server-log.txt",
        "sipp-messages.txt",
    ):
        assert name in paths and paths[name].stat().st_size > 0, (name, sorted(paths))
    assert "step 1 [Lync trunk (TCP)]" in paths[f"{stem}-verdict.txt"].read_text()
    ladder = paths[f"{stem}-ladder.svg"].read_text()
    assert "INVITE" in ladder and "expected TCP" in ladder
    assert "to_lync" in paths[peers].read_text()


@pytest.fixture
def caller_id_not_set(topology):
    """The seed's warning ignored: 1001 dials Skype without setting the caller ID."""
    with broken_fixture(topology, "caller-id-not-set"):
        yield


@pytest.mark.skype
def test_caller_id_not_set_is_rejected_by_skype_with_a_verdict_naming_it(
    topology, call_pcap, caller_id_not_set
):
    from harness.flows import skype

    run = skype.lync_dials(topology, call_pcap, "1001")
    verdict = skype.verify(
        run, "lync_to_skype", dialled="+1001", target="+17606604690", via_profile=True
    )
    failed = {r.subject: r for r in verdict.failures}
    caller_id = failed.get("caller ID (seed: 'set the caller ID to your Skype for SIP number')")
    assert caller_id is not None and caller_id.expected == "99051000107808", verdict.report()
    assert "call accepted" in failed and failed["call accepted"].actual.startswith("403"), (
        verdict.report()
    )
    assert verdict.failures[0] is caller_id, verdict.report()


@pytest.fixture
def wrong_xmpp_password(topology):
    with broken_fixture(topology, "wrong-xmpp-password"):
        yield


@pytest.mark.xmpp
def test_wrong_xmpp_password_fails_with_a_verdict_naming_it(
    topology, gtalk_user, wrong_xmpp_password
):
    from harness.flows import xmpp

    verdict = xmpp.account_status(topology, gtalk_user, timeout_s=4)
    failed = {r.subject: r for r in verdict.failures}
    assert "xmpp show connections: gtalk_account" in failed, verdict.report()
    assert failed["xmpp show connections: gtalk_account"].actual != "Connected"
    assert "presence of asterisk@gmail.test" in failed, verdict.report()
