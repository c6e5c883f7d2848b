"""A dead Lync trunk is one named verdict before any call (issue 10: trunk health): the
gateway's configuration points to_lync at the Mediation Server's address on a port where
nothing listens (5069 for the seed's 5068), for real, in a topology of its own. The
harness asks the gateway's qualify state as the session starts and says the trunk is
unreachable, in the gateway's own words, without placing a call."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.topology.config import TopologyConfig
from harness.topology.topology import Topology
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]


def test_dead_trunk_is_named_before_any_call(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc-asterisk"
    shutil.copytree(ROOT / "fixtures" / "asterisk", config_dir)
    pjsip = config_dir / "pjsip.conf"
    text = pjsip.read_text()
    assert "${MEDIATION_ADDR}:5068" in text
    pjsip.write_text(text.replace("${MEDIATION_ADDR}:5068", "${MEDIATION_ADDR}:5069"))
    config = TopologyConfig(
        project="sipharness-notrunk", net_prefix="192.168.116", mediation_port=18368,
        capture_port=18390, skype_port=18370, xmpp_port=15422, ami_port=15238,
        phone_port=18340, root=ROOT, reports=tmp_path / "reports",
        gateway_config=config_dir)
    topology = Topology.create(config)
    try:
        topology.ensure_up()
        problem = topology.gateway.trunk_problem(timeout=10)
        assert problem is not None, "a trunk to a closed port was called reachable"
        assert "the Lync trunk is unreachable, so no call was placed" in problem, problem
        assert "to_lync (pjsip): Unreachable" in problem, problem
        # the seed's configuration in the same place answers: the check can pass
        pjsip.write_text(text)
        topology.sync_fixtures()
        topology.reload_asterisk_fixtures()
        assert topology.gateway.trunk_problem(timeout=10) is None
    finally:
        topology.down()
