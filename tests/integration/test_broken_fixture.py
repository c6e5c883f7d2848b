"""A real fault in the gateway's configuration must fail the flow at the step it breaks.

The seed's to_lync peer must use TCP (Lync 2010's Mediation Server takes direct SIP over
TCP only). Here the fixture is broken on purpose (to_lync over UDP), Asterisk reloads it,
and the outbound flow must fail at step 1 on the Lync trunk, with the pcap kept.
"""

from __future__ import annotations

import pytest

from harness.analysis.lync_flow import LYNC_LEG
from harness.flows import lync

pytestmark = pytest.mark.integration


@pytest.fixture
def trunk_over_udp(topology):
    conf = topology.config.asterisk_fixtures / "pjsip.conf"
    original = conf.read_text()
    broken = original.replace("transport=transport-tcp", "transport=transport-udp").replace(
        "\\;transport=tcp", "\\;transport=udp")
    assert broken != original, "the fixture no longer has the lines this test breaks"
    conf.write_text(broken)
    topology.reload_asterisk_fixtures(modules=("res_pjsip.so",))
    yield
    # The call over UDP may still be trying: end it before the next test captures.
    topology.asterisk("channel request hangup all")
    conf.write_text(original)
    topology.reload_asterisk_fixtures(modules=("res_pjsip.so",))


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
    from harness.report.artifacts import collect_artifacts

    run = lync.outbound(topology, call_pcap, sipp_timeout_s=8)
    verdict = lync.verify(run, "outbound")
    assert not verdict.ok
    paths = {p.name: p for p in collect_artifacts(run, verdict, topology, failed=True)}
    stem = call_pcap.path.stem
    for name in (f"{stem}-verdict.txt", f"{stem}-ladder.svg", f"{stem}-ladder.html",
                 "pjsip-show-endpoints.txt", "core-show-channels-verbose.txt",
                 "asterisk-log.txt", "mediation-server-log.txt", "sipp-messages.txt"):
        assert name in paths and paths[name].stat().st_size > 0, (name, sorted(paths))
    assert "step 1 [Lync trunk (TCP)]" in paths[f"{stem}-verdict.txt"].read_text()
    ladder = paths[f"{stem}-ladder.svg"].read_text()
    assert "INVITE" in ladder and "expected TCP" in ladder
    assert "to_lync" in paths["pjsip-show-endpoints.txt"].read_text()
