"""The value lines of SDP (RFC 4566) shared by the session and its media: o=, c=, t=,
the ``a=`` attribute list, the direction attributes and RFC 3551's static payload types."""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

#: RFC 3551 static payload types: pt -> (encoding, clock rate, channels)
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}

Attribute = tuple[str, "str | None"]


@dataclass
class Origin:
    username: str
    sess_id: str
    sess_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class Connection:
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def is_hold_address(self) -> bool:
        """RFC 2543 hold (``c=IN IP4 0.0.0.0``), superseded by ``a=inactive``/``sendonly``."""
        return self.address in ("0.0.0.0", "::")


@dataclass
class Timing:
    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)  # r= lines, as written


def get_attr(attributes: list[Attribute], name: str) -> str | None:
    for key, value in attributes:
        if key == name:
            return value
    return None


def has_attr(attributes: list[Attribute], name: str) -> bool:
    return any(key == name for key, _ in attributes)


def direction_attrs(attributes: list[Attribute]) -> list[str]:
    return [key for key, _ in attributes if key in DIRECTIONS]


def format_attr(attr: Attribute) -> str:
    name, value = attr
    return f"a={name}" if value is None else f"a={name}:{value}"


__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Connection",
    "Origin",
    "Timing",
    "direction_attrs",
    "format_attr",
    "get_attr",
    "has_attr",
]
