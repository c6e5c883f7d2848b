"""The environment of a topology of a test's own, beside the suite's (which may be up
meanwhile): its compose project, its subnet, and the default published ports moved by
``shift``."""

from __future__ import annotations

from harness.topology.config import PORT_VARIABLES, TopologyConfig


def isolated(project: str, net_prefix: str, shift: int) -> dict[str, str]:
    defaults = TopologyConfig()
    ports = {key: str(getattr(defaults, attr) + shift) for key, attr in PORT_VARIABLES}
    return {"HARNESS_PROJECT": project, "HARNESS_NET_PREFIX": net_prefix, **ports}
