"""Readiness of the topology's services, probed only while the topology comes up.

Each service names its probe in the label ``org.sipharness.ready`` (containers/*.yaml): a
command run in its container that exits 0 once the service answers (the XMPP stream
features, ``core waitfullybooted``), or the URL of its HTTP health check in its own network
namespace (``http://127.0.0.1:8068/health``). A URL whose port the namespace publishes is
asked from here, through that port; any other is asked by a command in the container.
Docker's own healthcheck would do the same for the container's whole life, and on a 2-core
machine six probes a second cost 0.65 CPU and delayed the RTP senders; here a probe runs
while a service is not ready, and never after. A process's readiness has no event to await,
so a failing probe is retried, as Docker's healthcheck retries it. A probe run in a
container costs a process there (0.12 CPU-s for Python's, measured); one asked through a
published port costs a request.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.topology.engine import Engine
from harness.topology.errors import TopologyError

READY_LABEL = "org.sipharness.ready"
RETRY_S = 0.25


def published(url: str, container: Any, found: Mapping[str, Any]) -> str | None:
    """``url`` (in the container's network namespace) as the host reaches it through the
    port that namespace publishes on the host's loopback or on every address, or None.
    A container in another's namespace (``network_mode: service:X``) publishes nothing
    of its own: X's ports are the namespace's; one in the host's is reached as it is."""
    parts = urlsplit(url)
    owner = container
    mode = str(container.attrs.get("HostConfig", {}).get("NetworkMode", ""))
    if mode == "host":  # the host's own namespace
        return url
    if mode.startswith("container:"):
        wanted = mode.split(":", 1)[1]
        owner = next((c for c in found.values() if c.attrs.get("Id") == wanted), None)
    ports = (owner.attrs.get("NetworkSettings", {}).get("Ports") or {}) if owner else {}
    for binding in ports.get(f"{parts.port}/tcp") or ():
        if binding.get("HostIp") in ("127.0.0.1", "0.0.0.0", ""):
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            return f"http://127.0.0.1:{binding['HostPort']}{path}"
    return None


def probe(container: Any, found: Mapping[str, Any] | None = None) -> tuple[bool, str]:
    """Runs the container's readiness probe once: (ready, the last line it said)."""
    command = container.labels.get(READY_LABEL)
    if not command:
        return True, "no probe: running is ready"
    if command.startswith("http://"):
        outside = published(command, container, found or {})
        if outside is not None:
            return _ask(outside)
        command = ["python3", "-c",
                   f"import urllib.request as u; u.urlopen({command!r}, timeout=2)"]
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
            ready, said[name] = probe(container, found)
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


def _ask(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return True, f"{url}: {answer.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', exc)}"


@dataclass
class Readiness:
    """The readiness of one compose project's services."""

    engine: Engine
    project: str

    def wait(self, services: Iterable[str], timeout: float) -> None:
        wait_ready(lambda: self.engine.containers(self.project), services, timeout)
