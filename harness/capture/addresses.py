"""Addresses as two uint64 halves of the 16-byte IPv6 form, and back to text.

IPv4 is kept as ``::ffff:a.b.c.d`` (high half 0) so that one set of arrays serves both
IP versions.
"""

from __future__ import annotations

import ipaddress

IPV4_MAPPED = 0xFFFF_0000_0000  # the low half's marker of an IPv4 address


def addr_to_str(hi: int, lo: int) -> str:
    """Text form of an address kept as two uint64 halves."""
    hi, lo = int(hi), int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def addr_from_str(text: str) -> tuple[int, int]:
    """The (hi, lo) halves of an address given as text; ValueError if it is not an address."""
    ip = ipaddress.ip_address(text.strip("[]"))
    if ip.version == 4:
        return 0, IPV4_MAPPED | int(ip)
    value = int(ip)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF
