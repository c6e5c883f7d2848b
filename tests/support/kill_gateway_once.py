"""A pytest plugin for tests of the harness itself (`-p tests.support.kill_gateway_once`):
the gateway's container is killed once (SIGKILL, a real crash of the real Asterisk), as
Asterisk 22 once died at pytest -n 4. HARNESS_TEST_KILL says when: `after-up` (default),
right after the topology came up, before any call; `before-ready`, while the harness
waits for the gateway to be ready."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

from harness.topology.ready import Readiness
from harness.topology.topology import Topology


def pytest_configure(config: pytest.Config) -> None:
    killed: list[str] = []
    if os.environ.get("HARNESS_TEST_KILL", "after-up") == "before-ready":
        wait = Readiness.wait

        def wait_killing(self: Readiness, services: Iterable[str], timeout: float) -> None:
            services = list(services)
            if not killed and "asterisk" in services:
                killed.append(self.project)
                self.engine.containers(self.project)["asterisk"].kill()
            wait(self, services, timeout)

        Readiness.wait = wait_killing  # type: ignore[method-assign]
        return
    ensure_up = Topology.ensure_up

    def ensure_up_killing(self: Topology) -> None:
        ensure_up(self)
        if not killed:
            killed.append(self.config.project)
            self.engine.container(self.config.project, "asterisk").kill()

    Topology.ensure_up = ensure_up_killing  # type: ignore[method-assign]
