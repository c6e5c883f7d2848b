"""The attacker's container for the security tests: one per session, removed at its end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.flows.security import AttackerHost
from harness.topology.errors import TopologyError


@pytest.fixture(scope="session")
def attacker(topology) -> Iterator[AttackerHost]:
    if topology.config.external:
        pytest.skip("the attacker joins the harness's own network; an external gateway's "
                    "network is not the harness's to join")
    try:
        host = AttackerHost.start(topology)
    except TopologyError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield host
    host.stop()
