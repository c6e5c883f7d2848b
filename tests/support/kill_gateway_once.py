"""A pytest plugin for tests of the harness itself (`-p tests.support.kill_gateway_once`):
the gateway's container is killed (SIGKILL, a real crash of the real Asterisk) right after
the topology first comes up, before any call, as Asterisk 22 once exited at pytest -n 4."""

from __future__ import annotations

import pytest

from harness.topology.topology import Topology


def pytest_configure(config: pytest.Config) -> None:
    original = Topology.ensure_up
    killed: list[str] = []

    def ensure_up(self: Topology) -> None:
        original(self)
        if not killed:
            killed.append(self.config.project)
            self.engine.container(self.config.project, "asterisk").kill()

    Topology.ensure_up = ensure_up  # type: ignore[method-assign]
