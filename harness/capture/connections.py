"""Attempts to reach a SIP port that never became a conversation: a TCP SYN the far end
refused (RST, RFC 9293 3.10.7.1) or never answered, and a UDP datagram answered by ICMP
port unreachable (RFC 792). A failure with no SIP message in it (the Lync trunk's TCP
port closed, say) still has something to show. Arrays in, attempts out: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.capture.capture import Capture

SIP_PORTS = frozenset({5060, 5061, 5068})
SYN, RST, ACK = 0x02, 0x04, 0x10
TCP, UDP, ICMP = 6, 17, 1


@dataclass(frozen=True)
class FailedAttempt:
    frame: int  # the first SYN, or the ICMP message
    time: float  # epoch seconds of that frame
    src: str  # who tried
    dst: str  # whom it tried to reach
    dport: int
    transport: str  # "TCP" or "UDP"
    outcome: str  # "refused (RST)", "no answer", "ICMP port unreachable"
    tries: int = 1  # SYNs sent for the same connection (retransmissions)

    @property
    def label(self) -> str:
        what = "SYN" if self.transport == "TCP" else "UDP"
        tries = f" \N{MULTIPLICATION SIGN}{self.tries}" if self.tries > 1 else ""
        return f"TCP {what}{tries} to {self.dport}: {self.outcome}" if self.transport == "TCP" \
            else f"UDP to {self.dport}: {self.outcome}"


def failed_attempts(cap: Capture, ports: frozenset[int] = SIP_PORTS) -> list[FailedAttempt]:
    """Every refused or unanswered TCP connection and every ICMP port unreachable toward
    one of `ports`, in capture order."""
    found = _tcp(cap, ports) + _icmp(cap, ports)
    return sorted(found, key=lambda a: a.frame)


def _same_pair(cap: Capture, i: int) -> np.ndarray:
    """Packets from packet i's destination back to its source, ports swapped."""
    same: np.ndarray = ((cap.src_hi == cap.dst_hi[i]) & (cap.src_lo == cap.dst_lo[i])
                        & (cap.dst_hi == cap.src_hi[i]) & (cap.dst_lo == cap.src_lo[i])
                        & (cap.sport == cap.dport[i]) & (cap.dport == cap.sport[i]))
    return same


def _tcp(cap: Capture, ports: frozenset[int]) -> list[FailedAttempt]:
    tcp = cap.proto == TCP
    flags = cap.tcp_flags
    syns = np.flatnonzero(tcp & ((flags & (SYN | ACK)) == SYN)
                          & np.isin(cap.dport, np.array(sorted(ports))))
    out: list[FailedAttempt] = []
    seen: dict[tuple[str, int, str, int], int] = {}
    index = np.arange(len(cap))
    for i in syns.tolist():
        key = (cap.src(i), int(cap.sport[i]), cap.dst(i), int(cap.dport[i]))
        if key in seen:  # a retransmitted SYN of an attempt already listed
            k = seen[key]
            out[k] = FailedAttempt(**{**out[k].__dict__, "tries": out[k].tries + 1})
            continue
        back = tcp & _same_pair(cap, i) & (index > i)
        if (back & ((flags & (SYN | ACK)) == (SYN | ACK))).any():
            continue  # answered: a connection, not a failure
        outcome = "refused (RST)" if (back & ((flags & RST) != 0)).any() else "no answer"
        seen[key] = len(out)
        out.append(FailedAttempt(int(cap.frame[i]), float(cap.time[i]), key[0], key[2],
                                 key[3], "TCP", outcome))
    return out


def _icmp(cap: Capture, ports: frozenset[int]) -> list[FailedAttempt]:
    """ICMP destination unreachable, port unreachable (type 3, code 3), quoting a UDP
    datagram to one of `ports` (the quoted IPv4 header, then 8 bytes of UDP)."""
    out: list[FailedAttempt] = []
    for i in np.flatnonzero((cap.proto == ICMP) & (cap.ip_version == 4)).tolist():
        body = bytes(cap.payload(i))
        if len(body) < 8 + 20 + 4 or body[0] != 3 or body[1] != 3:
            continue
        inner = body[8:]
        ihl = (inner[0] & 0x0F) * 4
        if inner[9] != UDP or len(inner) < ihl + 4:
            continue
        dport = int.from_bytes(inner[ihl + 2:ihl + 4], "big")
        if dport not in ports:
            continue
        src = ".".join(str(b) for b in inner[12:16])
        dst = ".".join(str(b) for b in inner[16:20])
        out.append(FailedAttempt(int(cap.frame[i]), float(cap.time[i]), src, dst, dport, "UDP",
                                 "ICMP port unreachable"))
    return out
