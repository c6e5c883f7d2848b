"""What the suite asks of a gateway, over AMI: its CLI, reloads, channels, idleness, the
trunk's and the softphone's state, and its health. The same code serves the harness's own
Asterisk container and a gateway the harness does not start.

The SIP channel driver decides which actions give a peer's state:
- ``chan_sip`` (Asterisk 16, the seed's sip.conf): ``SIPshowpeer`` (Peer) answers
  ``Status: OK (N ms)`` / ``LAGGED (N ms)`` / ``UNREACHABLE`` / ``UNKNOWN`` /
  ``Unmonitored``, ``Reg-Contact`` (the last registered contact, kept after the peer
  unregisters) and ``RegExpire`` (``70 seconds`` while registered, ``-1 seconds`` not);
- ``pjsip`` (Asterisk 22): ``PJSIPShowEndpoint`` (Endpoint) answers a list whose
  ``ContactStatusDetail`` events give each contact's ``URI``, ``Status``
  (Reachable/Unreachable/Unknown/NonQualified), ``RoundtripUsec`` and ``RegExpire`` (0 for a
  contact from the configuration, the expiry of a registered one). It also covers the
  trunk's static contact, which ``PJSIPShowContacts`` does not list.

Pass ``driver=`` when the profile knows it; otherwise the adapter asks once: a gateway
whose ``SIPpeers`` action lists at least one peer runs chan_sip, any other runs PJSIP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from harness.gateway.ami import AmiError, Event, Response
from harness.gateway.ami_client import AmiClient

__all__ = [
    "DRIVERS",
    "Driver",
    "GatewayAdapter",
    "GatewayError",
    "PeerState",
    "XmppResource",
    "chan_sip_peer_state",
    "parse_xmpp_buddies",
    "parse_xmpp_connections",
    "pjsip_peer_state",
]

Driver = Literal["pjsip", "chan_sip"]
DRIVERS: tuple[Driver, ...] = ("pjsip", "chan_sip")
# how long the gateway's own qualify may take to report: res_pjsip's qualify_timeout
# default (3 s) and a margin
OWN_QUALIFY_S = 4.0

_CHAN_SIP_STATUS = re.compile(r"^(OK|LAGGED) \((\d+) ms\)$")
_PJSIP_UP = frozenset({"reachable", "avail", "available"})
_PJSIP_DOWN = frozenset({"unreachable", "unavail", "unavailable"})


class GatewayError(AmiError):
    """The gateway answered, but not what the suite needs (no such peer, a module that
    did not reload, an action it does not know)."""


class NoSuchPeer(GatewayError):
    """The gateway has no peer (chan_sip) or endpoint (PJSIP) of that name."""


class AmiSession(Protocol):
    """What the adapter needs of a connection (harness.gateway.ami_client.AmiClient)."""

    @property
    def fully_booted(self) -> bool: ...

    def action(self, name: str, **fields: str | int | list[str] | tuple[str, ...]) -> Response:
        ...

    def command(self, cli: str) -> str: ...

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event | None:
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PeerState:
    """A SIP peer (the trunk, the softphone) as the gateway sees it, whatever its driver."""

    name: str
    driver: Driver
    # the driver's own words: "OK (1 ms)", "UNREACHABLE", "Reachable", "NonQualified", ...
    status: str
    # True/False when the gateway qualifies the peer (OPTIONS); None when it does not or
    # has no answer yet
    reachable: bool | None
    rtt_ms: float | None
    # the contact the peer registered, None when it has not (or is configured statically)
    contact: str | None
    # the gateway's answer as text, for reports
    raw: str

    def summary(self) -> str:
        rtt = f", {self.rtt_ms:g} ms" if self.rtt_ms is not None else ""
        contact = f", registered at {self.contact}" if self.contact else ""
        return f"{self.name} ({self.driver}): {self.status}{rtt}{contact}"


def chan_sip_peer_state(name: str, response: Response) -> PeerState:
    """A `SIPshowpeer` response as a PeerState."""
    if not response.ok:
        raise NoSuchPeer(
            f"the gateway has no chan_sip peer {name!r} ({response.message}): check the "
            "name against `sip show peers`"
        )
    status = response.get("Status") or ""
    match = _CHAN_SIP_STATUS.match(status)
    reachable: bool | None
    if match:
        reachable = True  # LAGGED answered too, only slower than qualify's limit
    elif status == "UNREACHABLE":
        reachable = False
    else:
        reachable = None  # UNKNOWN (no answer yet) or Unmonitored (qualify=no)
    return PeerState(
        name=name,
        driver="chan_sip",
        status=status,
        reachable=reachable,
        rtt_ms=float(match.group(2)) if match else None,
        contact=_chan_sip_contact(response),
        raw=response.text(),
    )


def _chan_sip_contact(response: Response) -> str | None:
    # chan_sip keeps Reg-Contact after the peer unregisters; only a running registration
    # has RegExpire above 0 ("70 seconds"; "-1 seconds" once expired or removed)
    expire = re.match(r"\s*(-?\d+)", response.get("RegExpire") or "")
    if expire is None or int(expire.group(1)) <= 0:
        return None
    return response.get("Reg-Contact") or None


def pjsip_peer_state(name: str, response: Response) -> PeerState:
    """A `PJSIPShowEndpoint` response (with its ContactStatusDetail events) as a
    PeerState: reachable if any contact is, unreachable if every qualified one is not."""
    if not response.ok:
        raise NoSuchPeer(
            f"the gateway has no PJSIP endpoint {name!r} ({response.message}): check the "
            "name against `pjsip show endpoints`"
        )
    contacts = [e for e in response.events if e.name == "ContactStatusDetail"]
    words = [(c.get("Status") or "").strip() for c in contacts]
    lowered = [w.lower() for w in words]
    reachable: bool | None = None
    if any(w in _PJSIP_UP for w in lowered):
        reachable = True
    elif any(w in _PJSIP_DOWN for w in lowered):
        reachable = False
    rtts = [
        _usec_to_ms(c.get("RoundtripUsec"))
        for c, w in zip(contacts, lowered, strict=True)
        if w in _PJSIP_UP
    ]
    known = [r for r in rtts if r is not None]
    registered = [c.get("URI") for c in contacts if (c.get("RegExpire") or "0") not in ("", "0")]
    return PeerState(
        name=name,
        driver="pjsip",
        status=", ".join(words) if words else "no contact",
        reachable=reachable,
        rtt_ms=min(known) if known else None,
        contact=registered[0] if registered else None,
        raw=response.text(),
    )


def _usec_to_ms(value: str | None) -> float | None:
    try:
        return int(value or "") / 1000.0
    except ValueError:
        return None  # "N/A": not qualified yet


class GatewayAdapter:
    """The suite's questions to one gateway, over one AMI session."""

    def __init__(self, client: AmiSession, driver: Driver | None = None) -> None:
        if driver is not None and driver not in DRIVERS:
            raise GatewayError(f"unknown SIP driver {driver!r}: choose one of {DRIVERS}")
        self.client = client
        self._driver: Driver | None = driver

    @classmethod
    def connect(
        cls, host: str, port: int, username: str, secret: str, *,
        driver: Driver | None = None, timeout: float = 10.0,
    ) -> GatewayAdapter:
        return cls(AmiClient.connect(host, port, username, secret, timeout), driver)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GatewayAdapter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the CLI and reloads -----------------------------------------------------------

    def cli(self, command: str) -> str:
        """A CLI command's output, as `asterisk -rx` prints it."""
        return self.client.command(command)

    def reload(self, modules: tuple[str, ...] | list[str]) -> None:
        """`module reload` each module in order; returns once `module reload` has. (chan_sip
        then still reloads in its own thread: ``Fault.applied`` says how to see it done.)"""
        for module in modules:
            out = self.cli(f"module reload {module}")
            if "reloaded successfully" not in out and "Reloading" not in out:
                raise GatewayError(f"Asterisk did not reload {module}: {out.strip()}")

    # -- XMPP (res_xmpp, chan_motif): the seed's "jabber show ..." views ------------------

    def xmpp_connections(self) -> dict[str, str]:
        """`xmpp show connections` (seed: jabber show connections): account -> state."""
        return parse_xmpp_connections(self.cli("xmpp show connections"))

    def xmpp_buddies(self) -> dict[str, dict[str, list[XmppResource]]]:
        """`xmpp show buddies` (seed: jabber show buddies): account -> buddy -> resources."""
        return parse_xmpp_buddies(self.cli("xmpp show buddies"))

    def channels_of(self, technology: str) -> list[str]:
        """The names of the channels up now whose technology is ``technology`` (Motif:
        the seed's `gtalk show channels`, which chan_motif does not have)."""
        return [name for e in self.channels()
                if (name := e.get("Channel") or "").startswith(f"{technology}/")]

    # -- channels ----------------------------------------------------------------------

    def channels(self) -> list[Event]:
        """The channels up now (CoreShowChannel events: Channel, Uniqueid, State, ...)."""
        response = self._ask("CoreShowChannels")
        return [e for e in response.events if e.name == "CoreShowChannel"]

    def active_channels(self) -> int:
        return len(self.channels())

    def wait_idle(self, timeout: float) -> bool:
        """True once no channel is up, False if some still are after `timeout` s. Awaits
        the Hangup event of each channel listed, then lists again (a Dial may have added
        channels meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = {uid for e in self.channels() if (uid := e.get("Uniqueid"))}
            if not pending:
                return True
            if not self._await_hangups(pending, deadline):
                return self.active_channels() == 0

    def _await_hangups(self, pending: set[str], deadline: float) -> bool:
        """Consumes Hangup events until every channel in `pending` has one; False at the
        deadline."""

        def ended(event: Event) -> bool:
            return event.name == "Hangup" and event.get("Uniqueid") in pending

        while pending:
            remaining = deadline - time.monotonic()
            hangup = self.client.wait_for(ended, remaining) if remaining > 0 else None
            if hangup is None:
                return False
            pending.discard(hangup.get("Uniqueid") or "")
        return True

    # -- peers -------------------------------------------------------------------------

    @property
    def driver(self) -> Driver:
        """The SIP channel driver: as given, or asked of the gateway once."""
        if self._driver is None:
            peers = self.client.action("SIPpeers")
            listed = any(e.name == "PeerEntry" for e in peers.events)
            self._driver = "chan_sip" if peers.ok and listed else "pjsip"
        return self._driver

    def peer_state(self, name: str) -> PeerState:
        """The trunk's or the softphone's state (`to_lync`, `1000`)."""
        if self.driver == "chan_sip":
            return chan_sip_peer_state(name, self._ask("SIPshowpeer", Peer=name, check=False))
        return pjsip_peer_state(name, self._ask("PJSIPShowEndpoint", Endpoint=name, check=False))

    def qualify(self, name: str) -> None:
        """Has the gateway send OPTIONS to the peer now (`sip qualify peer` /
        `pjsip qualify`), rather than at its next qualify interval."""
        if self.driver == "chan_sip":
            self._ask("SIPqualifypeer", Peer=name)
        else:
            self._ask("PJSIPQualify", Endpoint=name)

    def wait_reachable(self, name: str, timeout: float) -> PeerState:
        """The peer's state once it is reachable, or at the deadline. Asks for a qualify
        and awaits the gateway's status events (ContactStatus / PeerStatus)."""
        deadline = time.monotonic() + timeout
        state = self.peer_state(name)
        if state.reachable:
            return state
        if state.reachable is None:
            # No answer yet: the gateway's own first qualify may be in flight. A qualify
            # asked meanwhile made Asterisk 22 time its first one out although answered,
            # and call the trunk Unreachable until the next, 60 s later (seen at -n 4 on
            # 2 cores); so its own result is awaited first.
            self.client.wait_for(self._status_event(name),
                                 min(OWN_QUALIFY_S, max(0.0, deadline - time.monotonic())))
            state = self.peer_state(name)
            if state.reachable:
                return state
        self.qualify(name)
        while not state.reachable:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return state
            event = self.client.wait_for(self._status_event(name), remaining)
            state = self.peer_state(name)
            if event is None:
                return state
        return state

    def _status_event(self, name: str) -> Callable[[Event], bool]:
        if self.driver == "chan_sip":
            return lambda e: e.name == "PeerStatus" and e.get("Peer") in (f"SIP/{name}", name)
        return lambda e: e.name == "ContactStatus" and name in (
            e.get("AOR"), e.get("EndpointName")
        )

    # -- health ------------------------------------------------------------------------

    def health(self) -> str:
        """One line: version, fully booted or not, since when, calls up, SIP driver."""
        settings = self._ask("CoreSettings")
        status = self._ask("CoreStatus")
        booted = "fully booted" if self.client.fully_booted else "NOT fully booted"
        return (
            f"Asterisk {settings.get('AsteriskVersion', '?')} "
            f"(AMI {settings.get('AMIversion', '?')}), {booted}; up since "
            f"{status.get('CoreStartupDate', '?')} {status.get('CoreStartupTime', '?')}, "
            f"last reload {status.get('CoreReloadDate', '?')} "
            f"{status.get('CoreReloadTime', '?')}; {status.get('CoreCurrentCalls', '?')} "
            f"calls up; SIP driver {self.driver}"
        )

    def _ask(self, action: str, *, check: bool = True, **fields: str) -> Response:
        response = self.client.action(action, **fields)
        if response.message.startswith("Invalid/unknown command"):
            raise GatewayError(
                f"the gateway does not know AMI action {action}: is the module that provides "
                "it loaded (modules.conf)?"
            )
        if check and not response.ok:
            raise GatewayError(f"the gateway refused AMI action {action}: {response.message}")
        return response


@dataclass(frozen=True)
class XmppResource:
    """One resource of a buddy as `xmpp show buddies` lists it."""

    name: str
    node: str
    jingle: bool
    google: bool


_CONNECTION = re.compile(r"^\s*\[(?P<account>[^\]]+)\]\s+\S+\s+-\s+(?P<state>.+?)\s*$")


def parse_xmpp_connections(text: str) -> dict[str, str]:
    """account -> state ("Connected", "Disconnected", ...) from `xmpp show connections`."""
    return {m["account"]: m["state"] for line in text.splitlines()
            if (m := _CONNECTION.match(line))}


def parse_xmpp_buddies(text: str) -> dict[str, dict[str, list[XmppResource]]]:
    """account -> buddy JID -> resources, from `xmpp show buddies` (res_xmpp's layout:
    "Client: A", "Buddy:<tab>JID", "Resource: R", then node/version/capable lines)."""
    out: dict[str, dict[str, list[XmppResource]]] = {}
    account = buddy = None
    res: dict[str, str] | None = None

    def flush() -> None:
        if res is not None and account is not None and buddy is not None:
            out[account][buddy].append(XmppResource(
                res["name"], res.get("node", ""), res.get("jingle capable") == "yes",
                res.get("google talk capable") == "yes"))

    for raw in text.splitlines():
        line = raw.strip()
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "client":
            flush()
            res, account, buddy = None, value, None
            out.setdefault(value, {})
        elif key == "buddy" and account is not None:
            flush()
            res, buddy = None, value
            out[account].setdefault(value, [])
        elif key == "resource" and buddy is not None:
            flush()
            res = {"name": value}
        elif res is not None and key in ("node", "version", "jingle capable",
                                         "google talk capable"):
            res[key] = value
    flush()
    return out
