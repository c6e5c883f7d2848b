"""Link layers: which link types are read, and where each packet's IP header starts.

Ethernet (with stacked 802.1Q/802.1ad tags), Linux cooked SLL and SLL2 (``tcpdump -i
any``), raw IP (101, and the platform values 12 and 14), IPv4 (228), IPv6 (229), BSD
loopback (0, host byte order) and OpenBSD loopback (108).
"""

from __future__ import annotations

import numpy as np

from harness.capture.rows import Ix, Rows, u16

LINKTYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}
KNOWN_LINKTYPE_NAMES = {
    6: "Token Ring",
    9: "PPP",
    10: "FDDI",
    105: "IEEE 802.11",
    119: "Prism",
    127: "802.11 radiotap",
    147: "user 0",
    195: "IEEE 802.15.4",
    201: "Bluetooth HCI H4",
    220: "USB Linux mmapped",
    249: "USBPcap",
}
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype) or KNOWN_LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)



def decode_link(rows: Rows, lt: int, ix: Ix, l3: np.ndarray, ipver: np.ndarray) -> None:
    idx = ix.idx
    cap = rows.caplen[ix.loc]
    if lt in (1, 113, 276):
        hlen, col = {1: (14, 12), 113: (16, 14), 276: (20, 0)}[lt]
        long_enough = cap >= hlen
        if bool(long_enough.all()):  # rows as a slice where it can be: views, no gathers
            sub: np.ndarray | slice = ix.loc
        else:
            sub = idx = idx[long_enough]
        et = u16(rows.take(sub, col, 2)).astype(np.int64)
        off = np.full(idx.size, hlen, dtype=np.int64)
        for _ in range(4):  # 802.1Q / 802.1ad tags, possibly stacked
            tagged = np.flatnonzero(np.isin(et, VLAN_TPIDS))
            if tagged.size == 0:
                break
            ok = rows.caplen[idx[tagged]] >= off[tagged] + 4
            et[tagged[~ok]] = 0
            tagged = tagged[ok]
            et[tagged] = u16(rows.take(idx[tagged], off[tagged] + 2, 2))
            off[tagged] += 4
        l3[sub] = off
        ipver[sub] = np.where(et == ETH_IPV4, 4, np.where(et == ETH_IPV6, 6, 0))
    elif lt in (0, 108):
        idx = idx[cap >= 4]
        raw = np.ascontiguousarray(rows.take(idx, 0, 4))
        if lt == 108:
            af = raw.view(">u4")[:, 0].astype(np.int64)
        else:
            af = raw.view("<u4")[:, 0].astype(np.int64)
            swap = (af & 0xFFFF0000) != 0
            af[swap] = raw[swap].view(">u4")[:, 0]
        l3[idx] = 4
        ipver[idx[af == 2]] = 4
        ipver[idx[np.isin(af, (10, 24, 28, 30))]] = 6
    else:  # raw IP: the version nibble decides
        idx = idx[cap >= 1]
        nib = rows.take(idx, 0, 1)[:, 0] >> 4
        if lt != 229:
            ipver[idx[nib == 4]] = 4
        if lt != 228:
            ipver[idx[nib == 6]] = 6
        l3[idx] = 0
