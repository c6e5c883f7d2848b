"""What every test suite shares. Helpers that build captures, SIP samples or run the
simulators live in ``tests/support`` (importable as ``tests.support``: ``pythonpath`` in
pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.capture import Capture, open_capture

if TYPE_CHECKING:
    from harness.flows.security import AttackerHost
    from harness.topology.topology import Topology
from tests.support.paths import LYNC_PCAP


@pytest.fixture
def lync_pcap() -> Path:
    """The harness's own capture of the seed's outbound flow (both legs)."""
    return LYNC_PCAP


@pytest.fixture
def lync_capture() -> Capture:
    return open_capture(LYNC_PCAP)


@pytest.fixture(scope="session")
def attacker(topology: Topology) -> Iterator[AttackerHost]:
    """The security tests' stranger: a container at .66 of the topology's network, one per
    session, removed at its end (harness/flows/security.py)."""
    from harness.flows.security import AttackerHost
    from harness.topology.errors import TopologyError

    if topology.config.external:
        pytest.skip("the attacker joins the harness's own network; an external gateway's "
                    "network is not the harness's to join")
    try:
        host = AttackerHost.start(topology)
    except TopologyError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield host
    host.stop()
