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
    conf = topology.config.asterisk_fixtures / fault.file
    original = conf.read_text()
    broken = original
    for old, new in fault.replacements:
        broken = broken.replace(old, new)
    assert broken != original, f"{fault.file} no longer has the lines this test breaks"
    conf.write_text(broken)
    topology.reload_asterisk_fixtures(modules=fault.reload)
    try:
        yield
    finally:
        conf.write_text(original)
        topology.reload_asterisk_fixtures(modules=fault.reload)
