"""Readiness of the topology's services, probed only while the topology comes up.

Each service names its probe in the label ``org.sipharness.ready`` (containers/*.yaml): a
command run in its container that exits 0 once the service answers (an HTTP /health, the
XMPP stream features, ``core waitfullybooted``). Docker's own healthcheck would do the same
for the container's whole life, and on a 2-core machine six probes a second cost 0.65 CPU
and delayed the RTP senders; here a probe runs while a service is not ready, and never
after. A process's readiness has no event to await, so a failing probe is retried, as
Docker's healthcheck retries it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.topology.engine import Engine
from harness.topology.errors import TopologyError

READY_LABEL = "org.sipharness.ready"
RETRY_S = 0.25


def probe(container: Any) -> tuple[bool, str]:
    """Runs the container's readiness probe once: (ready, the last line it said)."""
    command = container.labels.get(READY_LABEL)
    if not command:
        return True, "no probe: running is ready"
    result = container.exec_run(command, demux=True)
    out, err = result.output if result.output else (b"", b"")
    said = ((out or b"") + (err or b"")).decode(errors="replace").strip()
    return result.exit_code == 0, said.splitlines()[-1] if said else f"exit {result.exit_code}"


def wait_ready(find: Callable[[], Mapping[str, Any]], names: Iterable[str], timeout: float,
               logs_hint: str = "harness topology logs {name}") -> None:
    """Returns once each named container (``find()``: name -> container, fresh each call)
    runs and its probe passes; a container that exits, or a probe still failing after
    ``timeout`` s, raises TopologyError naming it, what it last said, and where to look."""
    pending = set(names)
    said: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        for name in sorted(pending):
            container = found.get(name)
            if container is None:
                said[name] = "no container"
                continue
            state = container.attrs.get("State", {})
            if state.get("Status") in ("exited", "dead"):
                tail = container.logs(tail=8).decode(errors="replace").rstrip()
                raise TopologyError(
                    f"{name} exited (code {state.get('ExitCode')}) before it was ready; its "
                    "last log lines:\n  " + "\n  ".join(tail.splitlines())
                    + f"\n  (all of it: `{logs_hint.format(name=name)}`)")
            if state.get("Status") != "running":
                said[name] = str(state.get("Status"))
                continue
            ready, said[name] = probe(container)
            if ready:
                pending.discard(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            first = sorted(pending)[0]
            detail = "; ".join(f"{s}: {said.get(s, '?')}" for s in sorted(pending))
            raise TopologyError(f"not ready within {timeout:.0f} s: {detail}; see "
                                f"`{logs_hint.format(name=first)}`")
        time.sleep(RETRY_S)


@dataclass
class Readiness:
    """The readiness of one compose project's services."""

    engine: Engine
    project: str

    def wait(self, services: Iterable[str], timeout: float) -> None:
        wait_ready(lambda: self.engine.containers(self.project), services, timeout)
