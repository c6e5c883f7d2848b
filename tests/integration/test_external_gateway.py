"""A gateway the harness does not start (`--gateway external --gateway-address HOST`): an
Asterisk container started outside the compose project, as a lab PBX would be, on the
topology's network. The harness starts only the peers and a capture on the bridge, drives
the gateway at its address, and asks it over AMI when given a login."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.flows import lync
from harness.flows.run import CallPcap
from harness.topology.config import AmiLogin, TopologyConfig
from harness.topology.engine import Engine
from harness.topology.gateway import GatewayControl, GatewayNotAsked
from harness.topology.ready import READY_LABEL, wait_ready
from harness.topology.topology import Topology
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

NET = "192.168.118"


def _lab_pbx(engine: Engine, config: TopologyConfig) -> object:
    """Asterisk 22 with the harness's PJSIP configuration, at .10 of the topology's
    network, ready (Asterisk fully booted; probed while it starts, as the topology does)."""
    api = engine.client.api
    addresses = {f"{role.upper()}_ADDR": f"{NET}.{n}" for role, n in (
        ("asterisk", 10), ("mediation", 20), ("skype", 30), ("softphone", 40), ("xmpp", 50))}
    network = f"{config.project}_interop"
    created = api.create_container(
        "sipharness/asterisk:latest",
        name=f"{config.project}-lab-pbx",
        environment=addresses,
        labels={READY_LABEL: 'asterisk -rx "core waitfullybooted"'},
        host_config=api.create_host_config(
            binds={str(ROOT / "fixtures" / "asterisk"): {"bind": "/fixtures", "mode": "ro"}}),
        networking_config=api.create_networking_config(
            {network: api.create_endpoint_config(ipv4_address=f"{NET}.10")}),
    )
    api.start(created["Id"])
    wait_ready(lambda: {"lab PBX": engine.client.containers.get(created["Id"])}, ["lab PBX"],
               60, logs_hint=f"docker logs {config.project}-lab-pbx")
    return engine.client.containers.get(created["Id"])


def test_calls_through_a_gateway_the_harness_does_not_start(tmp_path: Path) -> None:
    config = TopologyConfig(
        project="sipharness-external", net_prefix=NET, mediation_port=18168,
        capture_port=18190, skype_port=18170, xmpp_port=15322, ami_port=15138,
        root=ROOT, reports=tmp_path / "reports", gateway="external",
        gateway_address=f"{NET}.10", ami=AmiLogin("harness", "harness-ami"))
    topology = Topology.create(config)
    pbx = None
    try:
        topology.ensure_up()
        assert "asterisk" not in topology.compose.states()  # compose started no gateway
        pbx = _lab_pbx(topology.engine, config)

        relative = "pcaps/external_outbound.pcap"
        pcap = CallPcap(topology.capture, relative, topology.capture.start(relative))
        run = lync.outbound(topology, pcap)
        verdict = lync.verify(run, "outbound")
        assert verdict.ok, verdict.report()

        # captured on the bridge, not in the gateway's namespace: Ethernet frames, both legs
        # (the pcap header's link type: 1 Ethernet, where `-i any` writes Linux cooked)
        linktype = int.from_bytes(pcap.path.read_bytes()[20:24], "little")
        assert linktype == 1, linktype
        # its state over AMI, with the login given
        state = topology.gateway.state()
        assert "active channel" in state["core show channels verbose"], state
        # without a login the harness says it cannot ask, and does not pretend
        blind = GatewayControl(replace(config, ami=None), topology.engine)
        with pytest.raises(GatewayNotAsked, match="--gateway-ami"):
            blind.cli("core show channels")
        assert "could not run" in blind.state()["core show channels verbose"]
    finally:
        if pbx is not None:
            pbx.remove(force=True)  # type: ignore[attr-defined]
        topology.down()
