"""The one table of the topology's roles: host numbers, display names, column order.

Checks, ladders, reports and the topology all name hosts from here. A role has a key
(``asterisk``, as compose and the CLI spell it) and a display name (``Asterisk``, as
verdicts and ladders show it). Standard library only, no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Display names, as verdicts and ladders show them.
ASTERISK = "Asterisk"
MEDIATION = "Mediation Server"
SKYPE = "Skype"
SOFTPHONE = "Softphone"
XMPP = "XMPP"

# The seed's host numbers ("Detailed Call Flow": Asterisk 192.168.100.10, Mediation Server
# 192.168.100.20; X-Lite .40 in Figure 1), kept on whatever /24 the user configures; Skype
# and the XMPP server are on the internet in the seed and get .30 and .50 here.
HOST_NUMBERS: Mapping[str, int] = {
    "asterisk": 10,
    "mediation": 20,
    "skype": 30,
    "softphone": 40,
    "xmpp": 50,
}
ROLE_NAMES: Mapping[str, str] = {
    "asterisk": ASTERISK,
    "mediation": MEDIATION,
    "skype": SKYPE,
    "softphone": SOFTPHONE,
    "xmpp": XMPP,
}
# Ladder column order of the known roles (the seed's topology, left to right).
ROLE_ORDER: tuple[str, ...] = (SOFTPHONE, ASTERISK, MEDIATION, SKYPE, XMPP)
DEFAULT_NET_PREFIX = "192.168.100"


def role_names(net_prefix: str = DEFAULT_NET_PREFIX) -> dict[str, str]:
    """Address -> display name for the topology's hosts on the /24 ``net_prefix``."""
    return {f"{net_prefix}.{number}": ROLE_NAMES[key] for key, number in HOST_NUMBERS.items()}


def host_address(net_prefix: str, key: str) -> str:
    """The address of role ``key`` (``asterisk``, ``mediation``, ...) on ``net_prefix``."""
    return f"{net_prefix}.{HOST_NUMBERS[key]}"


@dataclass(frozen=True)
class Roles:
    """Address -> role name, for the hosts of one capture; unknown hosts keep their
    address as their name."""

    by_address: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_topology(cls, net_prefix: str = DEFAULT_NET_PREFIX) -> Roles:
        return cls(role_names(net_prefix))

    def name(self, address: str) -> str:
        return self.by_address.get(address, address)
