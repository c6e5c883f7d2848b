"""The gateway as a failed call left it: Asterisk's state, its log cut to the call, and the
Mediation Server simulator's log, read from the running topology for the call's report."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.topology.compose import TopologyError
from harness.topology.http import ControlError

if TYPE_CHECKING:
    from harness.topology.topology import Topology

_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\]")


@dataclass(frozen=True)
class GatewaySnapshot:
    asterisk_log: str  # the lines of Asterisk's full log within the call's time window
    mediation_log: str  # the simulator's container log (its last lines)
    state: dict[str, str] = field(default_factory=dict)  # CLI command -> its output

    def logs(self) -> dict[str, str]:
        """Name -> text, in the order a reader wants them: the state first."""
        return {
            **self.state,
            "asterisk log": self.asterisk_log,
            "mediation server log": self.mediation_log,
        }


def asterisk_log_between(path: Path, start: float, end: float, slack_s: float = 1.0) -> str:
    """The lines of Asterisk's full log (UTC, `dateformat=%F %T.%3q`) within the window;
    continuation lines without a time stay with the line before them."""
    if not path.exists():
        return f"(no Asterisk log at {path})"
    keep, out = False, []
    for line in path.read_text(errors="replace").splitlines():
        m = _LOG_TIME.match(line)
        if m:
            stamp = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()
            keep = start - slack_s <= stamp <= end + slack_s
        if keep:
            out.append(line)
    return "\n".join(out) or "(no Asterisk log lines in the call's time window)"


def gateway_state(topology: Topology) -> dict[str, str]:
    """What the gateway was doing when the call failed (the profile's state commands)."""
    try:
        return topology.gateway.state()
    except (TopologyError, ControlError) as exc:
        return {"gateway state": f"(could not ask: {exc})"}


def gateway_snapshot(
    topology: Topology, start: float, end: float, with_state: bool
) -> GatewaySnapshot:
    """The logs of the window `start`..`end` (wall clock); the CLI state too when
    `with_state` (a failed call)."""
    state = gateway_state(topology) if with_state else {}
    asterisk_log = asterisk_log_between(
        topology.config.asterisk_log / "full", start, end
    )
    try:
        mediation_log = topology.compose.logs("mediation", tail=400)
    except TopologyError as exc:
        mediation_log = f"(could not read: {exc})"
    return GatewaySnapshot(asterisk_log, mediation_log, state)
