"""The gateway's Google Talk account as the seed's troubleshooting views show it, over AMI:
`xmpp show connections` (seed: `jabber show connections`) and `xmpp show buddies` (seed:
`jabber show buddies`). res_xmpp sends no event for a connection's state or a buddy's
capabilities, so awaiting one means asking again every ``POLL_S`` until a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.topology.topology import Topology

# jabber.conf's (xmpp.conf's) account section
ACCOUNT = "gtalk_account"
POLL_S = 0.2


@dataclass(frozen=True)
class AccountView:
    """The account's connection state, and whether a buddy is listed with a resource
    that says Jingle (chan_motif calls only such a resource)."""

    state: str
    listed: bool = False
    capable: bool = False


def account_view(topology: Topology, buddy: str | None = None) -> AccountView:
    adapter = topology.gateway.adapter()
    state = str(adapter.xmpp_connections().get(ACCOUNT, "no such account"))
    if buddy is None:
        return AccountView(state)
    resources = adapter.xmpp_buddies().get(ACCOUNT, {}).get(buddy)
    return AccountView(state, resources is not None, any(r.jingle for r in resources or []))


def wait_account(topology: Topology, done: Callable[[AccountView], bool], timeout_s: float,
                 buddy: str | None = None) -> AccountView:
    """The view once ``done`` accepts it, or the last one seen at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = account_view(topology, buddy)
        if done(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(POLL_S)


def wait_connected(topology: Topology, timeout_s: float) -> str:
    """The account's state once Connected, or at the deadline."""
    return wait_account(topology, lambda v: v.state == "Connected", timeout_s).state


def wait_buddy(topology: Topology, buddy: str, capable: bool,
               timeout_s: float = 8.0) -> AccountView:
    """The view once connected with ``buddy``'s resource Jingle-capable (or, with
    ``capable=False``, gone)."""
    return wait_account(topology, lambda v: v.state == "Connected" and v.capable == capable,
                        timeout_s, buddy)
