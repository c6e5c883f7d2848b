"""A real fault in the gateway's configuration, applied for the length of a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.topology.topology import Topology


@contextmanager
def broken_fixture(topology: Topology, fault_name: str) -> Iterator[None]:
    """The run copy of the gateway's configuration with the profile's fault `fault_name`
    (harness/gateway/profiles.py: the same misconfiguration in each gateway's own words)
    applied and reloaded; restored (and reloaded) afterwards."""
    profile = topology.config.profile
    assert profile is not None, "own_gateway_config tests run on a profile's gateway"
    fault = profile.faults.get(fault_name)
    if fault is None:
        pytest.skip(f"{profile.name} has no setting for the fault "
                    f"{fault_name!r} (harness/gateway/profiles.py says why)")

    def broken(text: str) -> str:
        for old, new in fault.replacements:
            text = text.replace(old, new)
        return text

    with topology.gateway_config_edited(fault.file, broken, fault.reload, fault.applied):
        yield
