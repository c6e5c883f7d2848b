"""A real gateway misconfiguration that spoils the audio while every packet stays on time:
the dialplan turns the caller's audio down (VOLUME(RX)=-10 on the route to Lync, Asterisk's
func_volume: a tenth of the amplitude, -20 dB). The RTP timing checks pass; the media
content check fails at step 7 (and 9) on the Lync trunk, naming the level it measured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.analysis.legs import LYNC_LEG
from harness.flows import lync
from harness.topology.topology import Topology

pytestmark = [pytest.mark.integration, pytest.mark.own_gateway_config]

SUBJECT = "RTP Asterisk -> Mediation Server content"
# The route to Lync in either gateway's dialplan: its first priority is the Dial
ROUTE = re.compile(r"^exten => 14255550150,1,(.*)$", re.M)


@contextmanager
def caller_turned_down(topology: Topology) -> Iterator[None]:
    """The run copy of extensions.conf with VOLUME(RX)=-10 before the Dial to Lync,
    reloaded; restored (and reloaded) afterwards."""
    # The harness's modules.conf loads only what the seed's flows use (autoload=no), and
    # AMI refuses `module load`: the gateway's own console loads it
    gw = topology.gateway
    out = gw.engine.exec(topology.config.project, "asterisk",
                         ["asterisk", "-rx", "module load func_volume.so"])
    assert out.exit_code == 0 and "func_volume" in (out.stdout + out.stderr), out
    conf = topology.config.asterisk_fixtures / "extensions.conf"
    original = conf.read_text()
    broken, n = ROUTE.subn(r"exten => 14255550150,1,Set(VOLUME(RX)=-10)\n same => n,\1",
                           original, count=1)
    assert n == 1, "extensions.conf no longer routes 14255550150 with priority 1"
    conf.write_text(broken)
    topology.reload_asterisk_fixtures(modules=("pbx_config.so",))
    try:
        yield
    finally:
        conf.write_text(original)
        topology.reload_asterisk_fixtures(modules=("pbx_config.so",))


def test_caller_audio_turned_down_fails_the_content_on_the_trunk(topology, call_pcap):
    with caller_turned_down(topology):
        run = lync.outbound(topology, call_pcap)
    verdict = lync.verify(run, "outbound")
    failed = {(r.step, r.leg, r.subject): r for r in verdict.failures}
    content = failed.get(("7", LYNC_LEG, SUBJECT))
    assert content is not None, verdict.report()
    assert re.search(r"level -(19|20|21)\.\d dB from the source's", content.actual), content
    # what the timing checks see is a good call: only the content says otherwise
    assert not [r for r in verdict.failures if "content" not in r.subject
                and r.subject.startswith("RTP Asterisk -> Mediation Server")], verdict.report()
