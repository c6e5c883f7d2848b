"""Which host of a capture plays which role, from the SIP it carries (or as the user says).

Rules run in two passes, each host getting at most one role and each role at most one
host; roles the user gives win and are not looked for. First the identities hosts announce
(``Server:``/``User-Agent:``, Skype's digest realm), then what hosts do (the trunk port, who
talks to whom, who registers where). Nothing here reads files: the caller passes the
capture's SIP records (and, for XMPP, the hosts it saw on TCP port 5222).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.capture import Capture
from harness.capture.sip import CapturedSip
from harness.capture.table import PROTO_TCP
from harness.roles import (
    ASTERISK,
    MEDIATION,
    ROLE_NAMES,
    ROLE_ORDER,
    SKYPE,
    SOFTPHONE,
    XMPP,
    Roles,
)
from harness.sip import Request, Response
from harness.sip.uri import NameAddr, SipUri

ROLE_KEYS: Mapping[str, str] = ROLE_NAMES  # "asterisk" -> "Asterisk", as --roles spells them

TRUNK_PORT = 5068  # the seed's Mediation Server listens for the trunk on TCP 5068
XMPP_PORT = 5222
SKYPE_DOMAIN = "sip.skype.com"
_IDENTITY_HEADERS = ("Server", "User-Agent")
_CHALLENGES = ("WWW-Authenticate", "Proxy-Authenticate")
_ROLES_FORM = "asterisk=IP,mediation=IP,... with keys " + ", ".join(ROLE_KEYS)


class RolesOptionError(ValueError):
    """A --roles value that cannot be used; the message names the bad part and the form."""


def parse_roles_option(text: str) -> dict[str, str]:
    """'asterisk=10.0.0.1,mediation=10.0.0.2' -> {address: display name}."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, address = (s.strip() for s in part.partition("="))
        if not eq:
            raise RolesOptionError(f"--roles: {part!r} has no '=' (expected {_ROLES_FORM})")
        role = ROLE_KEYS.get(key.lower())
        if role is None:
            raise RolesOptionError(f"--roles: unknown role {key!r} (expected {_ROLES_FORM})")
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise RolesOptionError(
                f"--roles: {address!r} for {key} is not an IP address (expected {_ROLES_FORM})"
            ) from None
        if key.lower() in seen:
            raise RolesOptionError(f"--roles: {key} given twice ({seen[key.lower()]}, {address})")
        if address in out:
            raise RolesOptionError(f"--roles: {address} given for two roles")
        seen[key.lower()] = address
        out[address] = role
    if not out:
        raise RolesOptionError(f"--roles: nothing given (expected {_ROLES_FORM})")
    return out


@dataclass(frozen=True)
class RoleEvidence:
    role: str  # display name
    address: str
    rule: str  # why, e.g. "Server: RTCC/3.5.0.0 MediationServer (frame 14)" or "given"


@dataclass(frozen=True)
class Recognition:
    roles: Roles  # address -> display name
    evidence: tuple[RoleEvidence, ...]  # one per named host, in ROLE_ORDER

    def address_of(self, role: str) -> str | None:
        """Display name (or role key) -> its address, None when not recognised."""
        role = ROLE_KEYS.get(role, role)
        return next((e.address for e in self.evidence if e.role == role), None)


def xmpp_servers(capture: Capture) -> list[str]:
    """Hosts that take TCP connections on the XMPP client port, in order of first packet."""
    sel = np.flatnonzero((capture.proto == PROTO_TCP) & (capture.dport == XMPP_PORT))
    return list(dict.fromkeys(capture.dst(i) for i in sel.tolist()))


class _Finder:
    """The assignments so far, and the parsed messages the rules look at."""

    def __init__(self, messages: Sequence[CapturedSip], given: Mapping[str, str]) -> None:
        self.messages = [m for m in messages if m.message is not None]
        self.found: dict[str, RoleEvidence] = {}  # role -> evidence
        for address, role in given.items():
            role = ROLE_KEYS.get(role.lower(), role)
            if role not in self.found and self.role_of(address) is None:
                self.found[role] = RoleEvidence(role, address, "given")

    def role_of(self, address: str) -> str | None:
        return next((e.role for e in self.found.values() if e.address == address), None)

    def address(self, role: str) -> str | None:
        e = self.found.get(role)
        return e.address if e else None

    def free(self, address: str) -> bool:
        return self.role_of(address) is None

    def take(self, role: str, address: str, rule: str) -> None:
        if role not in self.found and self.free(address):
            self.found[role] = RoleEvidence(role, address, rule)

    def first(self, role: str, rule: Callable[[CapturedSip], tuple[str, str] | None]) -> None:
        """Give `role` to the first host `rule` names (with its reason) that is still free."""
        if role in self.found:
            return
        for m in self.messages:
            hit = rule(m)
            if hit is not None and self.free(hit[0]):
                self.take(role, hit[0], f"{hit[1]} (frame {m.frame})")
                return


def _identity(m: CapturedSip, test: Callable[[str], bool]) -> tuple[str, str] | None:
    for name in _IDENTITY_HEADERS:
        value = m.msg.headers.get(name)
        if value is not None and test(value.strip()):
            return m.src, f"{name}: {value.strip()}"
    return None


def _skype_realm(m: CapturedSip) -> tuple[str, str] | None:
    if isinstance(m.msg, Response):
        for name in _CHALLENGES:
            for value in m.msg.headers.get_all(name):
                if f'realm="{SKYPE_DOMAIN}"' in value.replace(" ", "").lower():
                    return m.src, f'{name}: realm="{SKYPE_DOMAIN}"'
    return None


def _host_of(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return NameAddr.parse(value).uri.host.lower()
    except ValueError:
        return None


def _uri_host(uri: str) -> str | None:
    try:
        return SipUri.parse(uri).host.lower()
    except ValueError:
        return None


def _peers(messages: Iterable[CapturedSip]) -> dict[str, dict[str, int]]:
    """Host -> its SIP peers, with the frame each pair was first seen in."""
    peers: dict[str, dict[str, int]] = {}
    for m in messages:
        peers.setdefault(m.src, {}).setdefault(m.dst, m.frame)
        peers.setdefault(m.dst, {}).setdefault(m.src, m.frame)
    return peers


def _by_identity(f: _Finder) -> None:
    f.first(MEDIATION, lambda m: _identity(m, lambda v: "MediationServer" in v))
    f.first(ASTERISK, lambda m: _identity(m, lambda v: v.startswith("Asterisk")))
    f.first(SKYPE, _skype_realm)
    f.first(SKYPE, lambda m: _identity(m, lambda v: v.startswith("Skype")))


def _gateway_by_behaviour(f: _Finder, peers: Mapping[str, Mapping[str, int]]) -> None:
    lync = f.address(MEDIATION)
    if lync is not None and ASTERISK not in f.found:
        talkers = [(frame, host) for host, frame in peers.get(lync, {}).items()
                   if f.free(host) and len(peers[host]) > 1]
        if talkers:
            frame, host = min(talkers)
            f.take(ASTERISK, host,
                   f"talks SIP with the Mediation Server and with others (frame {frame})")
        only = [(frame, host) for host, frame in peers.get(lync, {}).items() if f.free(host)]
        if len(only) == 1:
            f.take(ASTERISK, only[0][1],
                   f"the Mediation Server's only SIP peer (frame {only[0][0]})")

    def answers_register(m: CapturedSip) -> tuple[str, str] | None:
        if isinstance(m.msg, Response) and m.method == "REGISTER":
            return m.src, f"answers REGISTER from {m.dst}"
        return None

    f.first(ASTERISK, answers_register)


def _skype_by_domain(f: _Finder) -> None:
    gateway = f.address(ASTERISK)

    def for_skype(m: CapturedSip) -> tuple[str, str] | None:
        msg = m.msg
        if (m.src == gateway and isinstance(msg, Request) and msg.method in ("REGISTER", "INVITE")
                and SKYPE_DOMAIN in (_uri_host(msg.uri), _host_of(msg.headers.get("To")))):
            return m.dst, f"the gateway sends {msg.method} for {SKYPE_DOMAIN}"
        return None

    if gateway is not None:
        f.first(SKYPE, for_skype)


def _softphone(f: _Finder) -> None:
    gateway = f.address(ASTERISK)
    if gateway is None:
        return

    def registers(m: CapturedSip) -> tuple[str, str] | None:
        if m.is_request and m.dst == gateway and m.method == "REGISTER":
            return m.src, "REGISTERs with the gateway"
        return None

    def calls(m: CapturedSip) -> tuple[str, str] | None:
        if m.transport != "UDP" or m.dst != gateway or m.method != "INVITE":
            return None
        msg = m.msg
        if isinstance(msg, Request) and msg.to_tag is None:
            return m.src, "places a call through the gateway over UDP"
        if isinstance(msg, Response) and 180 <= msg.status < 300:
            return m.src, "answers a call from the gateway over UDP"
        return None

    f.first(SOFTPHONE, registers)
    f.first(SOFTPHONE, calls)


def recognise(
    messages: Sequence[CapturedSip],
    given: Mapping[str, str] | None = None,
    xmpp_hosts: Iterable[str] = (),
) -> Recognition:
    """The roles of the hosts in `messages`; `given` (address -> role, as
    :func:`parse_roles_option` returns) wins. A role no rule finds is left out."""
    f = _Finder(messages, given or {})
    peers = _peers(f.messages)
    _by_identity(f)

    def trunk(m: CapturedSip) -> tuple[str, str] | None:
        if m.transport == "TCP" and m.dport == TRUNK_PORT:
            return m.dst, f"takes SIP over TCP on port {TRUNK_PORT}"
        return None

    f.first(MEDIATION, trunk)
    _gateway_by_behaviour(f, peers)
    _skype_by_domain(f)
    _softphone(f)
    for host in xmpp_hosts:
        f.take(XMPP, host, f"takes TCP connections on port {XMPP_PORT}")
    order = {role: i for i, role in enumerate(ROLE_ORDER)}
    evidence = tuple(sorted(f.found.values(), key=lambda e: order.get(e.role, len(order))))
    return Recognition(Roles({e.address: e.role for e in evidence}), evidence)
