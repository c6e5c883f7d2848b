"""Build capture files for the capture/media tests (no third-party imports).

Packets: IPv4/IPv6 with UDP/TCP, link layers (Ethernet with VLAN tags, SLL, SLL2, raw,
loopback), pcap (either byte order, us or ns) and pcapng (several interfaces, if_tsresol,
EPB/SPB/OPB). Payloads: RTP, RFC 4733 events, SIP with SDP. Streams: seeded generators of
RTP flows with loss, bursts, duplicates, reordering, jitter and wraps.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- network


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ident: int = 1,
    frag: int = 0,
    total: int | None = None,
) -> bytes:
    length = 20 + len(payload) if total is None else total
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        length,
        ident,
        frag,
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(
    src: str, dst: str, nh: int, payload: bytes, ext: bytes = b"", ext_nh: int | None = None
) -> bytes:
    first = nh if not ext else ext_nh
    body = ext + payload
    return (
        struct.pack("!IHBB", 0x60000000, len(body), first, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + body
    )


def udp(sport: int, dport: int, payload: bytes, length: int | None = None) -> bytes:
    return (
        struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0)
        + payload
    )


def tcp(sport: int, dport: int, seq: int, payload: bytes, flags: int = 0x18, ack: int = 0) -> bytes:
    return (
        struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 5 << 4, flags, 65535, 0, 0)
        + payload
    )


def ip_packet(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    if ":" in src:
        return ipv6(src, dst, proto, l4)
    return ipv4(src, dst, proto, l4)


def ip_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return ip_packet(src, dst, 17, udp(sport, dport, payload))


def ip_tcp(
    src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes, flags: int = 0x18
) -> bytes:
    return ip_packet(src, dst, 6, tcp(sport, dport, seq, payload, flags))


# ----------------------------------------------------------------------------- link layers

ETHERNET, RAW, NULL, LOOP, SLL, SLL2, IPV4, IPV6 = 1, 101, 0, 108, 113, 276, 228, 229


def link(
    linktype: int, packet: bytes, vlans: tuple[int, ...] = (), big_endian_null: bool = False
) -> bytes:
    v6 = (packet[0] >> 4) == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == ETHERNET:
        out = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
        for i, vid in enumerate(vlans):
            tpid = 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100
            out += struct.pack("!HH", tpid, vid)
        return out + struct.pack("!H", ethertype) + packet
    if linktype == SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", ethertype) + packet
    if linktype == SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + packet
    if linktype in (RAW, IPV4, IPV6, 12, 14):
        return packet
    if linktype == NULL:
        af = 30 if v6 else 2
        return struct.pack(">I" if big_endian_null else "<I", af) + packet
    if linktype == LOOP:
        return struct.pack(">I", 24 if v6 else 2) + packet
    raise ValueError(linktype)


# ----------------------------------------------------------------------------- files


@dataclass
class Frame:
    t_ns: int
    data: bytes  # link-layer frame as captured
    wire_len: int | None = None
    iface: int = 0


def write_pcap(
    path: Path,
    frames: list[Frame],
    linktype: int = ETHERNET,
    nsec: bool = False,
    endian: str = "<",
    snaplen: int = 65535,
) -> Path:
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for f in frames:
        sec, rest = divmod(f.t_ns, 1_000_000_000)
        frac = rest if nsec else rest // 1000
        data = f.data[:snaplen]
        wire = f.wire_len if f.wire_len is not None else len(f.data)
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), wire) + data)
    path.write_bytes(b"".join(out))
    return path


def _opt(code: int, value: bytes, endian: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes, endian: str) -> bytes:
    body += b"\0" * ((-len(body)) % 4)
    total = 12 + len(body)
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)


@dataclass
class Iface:
    linktype: int = ETHERNET
    snaplen: int = 65535
    tsresol: int | None = None  # None: default (microseconds)
    tsoffset: int = 0


def write_pcapng(
    path: Path,
    frames: list[Frame],
    ifaces: list[Iface] | None = None,
    endian: str = "<",
    block: str = "epb",
) -> Path:
    ifaces = ifaces or [Iface()]
    out = [_block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)]
    for ifc in ifaces:
        opts = b""
        if ifc.tsresol is not None:
            opts += _opt(9, bytes([ifc.tsresol]), endian)
        if ifc.tsoffset:
            opts += _opt(14, struct.pack(endian + "q", ifc.tsoffset), endian)
        if opts:
            opts += _opt(0, b"", endian)
        out.append(
            _block(1, struct.pack(endian + "HHI", ifc.linktype, 0, ifc.snaplen) + opts, endian)
        )
    for f in frames:
        ifc = ifaces[f.iface]
        res = 6 if ifc.tsresol is None else ifc.tsresol
        if res & 0x80:
            units = (f.t_ns - ifc.tsoffset * 1_000_000_000) * (1 << (res & 0x7F)) // 1_000_000_000
        else:
            units = (f.t_ns - ifc.tsoffset * 1_000_000_000) * 10**res // 1_000_000_000
        data = f.data[: ifc.snaplen]
        wire = f.wire_len if f.wire_len is not None else len(f.data)
        if block == "spb":
            out.append(_block(3, struct.pack(endian + "I", wire) + data, endian))
        elif block == "opb":
            out.append(
                _block(
                    2,
                    struct.pack(
                        endian + "HHIIII",
                        f.iface,
                        0,
                        units >> 32,
                        units & 0xFFFFFFFF,
                        len(data),
                        wire,
                    )
                    + data,
                    endian,
                )
            )
        else:
            out.append(
                _block(
                    6,
                    struct.pack(
                        endian + "IIIII", f.iface, units >> 32, units & 0xFFFFFFFF, len(data), wire
                    )
                    + data,
                    endian,
                )
            )
    path.write_bytes(b"".join(out))
    return path


# ----------------------------------------------------------------------------- RTP


def rtp(
    seq: int,
    ts: int,
    ssrc: int,
    pt: int,
    payload: bytes,
    marker: bool = False,
    csrc: tuple[int, ...] = (),
    ext: bytes | None = None,
    padding: int = 0,
) -> bytes:
    b0 = 0x80 | len(csrc) | (0x10 if ext is not None else 0) | (0x20 if padding else 0)
    out = struct.pack(
        "!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )
    out += b"".join(struct.pack("!I", c) for c in csrc)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if padding:
        out += b"\0" * (padding - 1) + bytes([padding])
    return out


def rtp_event(event: int, duration: int, end: bool = False, volume: int = 10) -> bytes:
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


@dataclass
class StreamSpec:
    """A seeded RTP flow. Times in ns from ``start_ns``; packets in arrival order."""

    src: str
    sport: int
    dst: str
    dport: int
    ssrc: int = 0x11223344
    pt: int = 0
    count: int = 500
    ptime_ms: int = 20
    clock: int = 8000
    payload_size: int = 160
    seq0: int = 1000
    ts0: int = 5000
    start_ns: int = 1_700_000_000_000_000_000
    jitter_us: int = 0  # uniform arrival jitter, +/-
    loss: float = 0.0
    bursts: list[tuple[int, int]] = field(default_factory=list)  # lost index ranges
    dup: float = 0.0
    reorder: float = 0.0  # probability of swapping with the next packet
    marker_at: tuple[int, ...] = (0,)
    ts_jumps: dict[int, int] = field(default_factory=dict)  # index -> extra ts offset from then
    seed: int = 1
    resolution_ns: int = 1000

    def packets(self) -> list[tuple[int, bytes]]:
        rnd = random.Random(self.seed)
        step = self.clock * self.ptime_ms // 1000
        out: list[tuple[int, int, bytes]] = []
        extra = 0
        lost: set[int] = set()
        for a, b in self.bursts:
            lost.update(range(a, b))
        for i in range(self.count):
            extra += self.ts_jumps.get(i, 0)
            if i in lost or (self.loss and rnd.random() < self.loss):
                continue
            t = self.start_ns + i * self.ptime_ms * 1_000_000
            if self.jitter_us:
                t += rnd.randint(-self.jitter_us, self.jitter_us) * 1000
            t -= t % self.resolution_ns
            pkt = rtp(
                self.seq0 + i,
                self.ts0 + i * step + extra,
                self.ssrc,
                self.pt,
                bytes([0xD5]) * self.payload_size,
                marker=i in self.marker_at,
            )
            out.append((t, i, pkt))
            if self.dup and rnd.random() < self.dup:
                out.append((t + 150_000, i, pkt))
        for k in range(len(out) - 1):
            if self.reorder and rnd.random() < self.reorder:
                (t1, i1, p1), (t2, i2, p2) = out[k], out[k + 1]
                out[k], out[k + 1] = (t1, i2, p2), (t2, i1, p1)
        return [(t, p) for t, _i, p in out]

    def frames(self, linktype: int = ETHERNET, vlans: tuple[int, ...] = ()) -> list[Frame]:
        return [
            Frame(t, link(linktype, ip_udp(self.src, self.dst, self.sport, self.dport, p), vlans))
            for t, p in self.packets()
        ]


def merge(*frame_lists: list[Frame]) -> list[Frame]:
    return sorted((f for lst in frame_lists for f in lst), key=lambda f: f.t_ns)


# ----------------------------------------------------------------------------- SIP


def sdp(
    addr: str,
    port: int,
    formats: list[tuple[int, str | None]],
    direction: str | None = None,
    session_id: int = 1,
) -> str:
    ip = "IP6" if ":" in addr else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} {session_id} IN {ip} {addr}",
        "s=-",
        f"c=IN {ip} {addr}",
        "t=0 0",
        f"m=audio {port} RTP/AVP " + " ".join(str(p) for p, _ in formats),
    ]
    lines += [f"a=rtpmap:{p} {m}" for p, m in formats if m]
    if direction:
        lines.append(f"a={direction}")
    return "\r\n".join(lines) + "\r\n"


def sip_request(
    method: str,
    call_id: str,
    cseq: int,
    body: str = "",
    uri: str = "sip:bob@b.example",
    branch: str = "z9hG4bK1",
) -> bytes:
    headers = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP a.example;branch={branch}",
        "Max-Forwards: 70",
        "From: <sip:alice@a.example>;tag=a1",
        "To: <sip:bob@b.example>" + (";tag=b1" if method in ("ACK", "BYE") or cseq > 1 else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:alice@a.example>",
    ]
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def sip_response(
    status: int,
    reason: str,
    call_id: str,
    cseq: int,
    method: str,
    body: str = "",
    branch: str = "z9hG4bK1",
) -> bytes:
    headers = [
        f"SIP/2.0 {status} {reason}",
        f"Via: SIP/2.0/UDP a.example;branch={branch}",
        "From: <sip:alice@a.example>;tag=a1",
        "To: <sip:bob@b.example>;tag=b1",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


# ----------------------------------------------------------------------------- tshark

T0 = 1_700_000_000_000_000_000  # an epoch time in ns, for generated captures


Rows = dict[tuple[str, ...], list[str]]


def tshark_rows(path: Path, heuristic: bool = True, extra: tuple[str, ...] = ()) -> Rows:
    """tshark's ``-q -z rtp,streams`` rows, keyed by (src, sport, dst, dport, ssrc) text,
    each the row's whitespace-split tokens (what our ``StreamStats.tshark_row`` prints)."""
    import subprocess

    cmd = ["tshark", "-n", "-r", str(path), "-q", "-z", "rtp,streams", *extra]
    if heuristic:
        cmd += ["--enable-heuristic", "rtp_udp"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "RTP Streams" in line)
    rows = {}
    for line in lines[start + 2 :]:
        if line.startswith("="):
            break
        tokens = line.split()
        rows[tuple(tokens[2:7])] = tokens
    return rows


def our_rows(streams: list[Any]) -> Rows:
    rows: Rows = {}
    for s in streams:
        tokens = s.stats().tshark_row().split()
        rows[tuple(tokens[2:7])] = tokens
    return rows


def udp_frame(
    t_ns: int, src: str, dst: str, sport: int, dport: int, payload: bytes, linktype: int = ETHERNET
) -> Frame:
    return Frame(t_ns, link(linktype, ip_udp(src, dst, sport, dport, payload)))


def tcp_frame(
    t_ns: int,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    payload: bytes,
    flags: int = 0x18,
) -> Frame:
    return Frame(t_ns, link(ETHERNET, ip_tcp(src, dst, sport, dport, seq, payload, flags)))


def pathology_specs(count: int) -> list[StreamSpec]:
    """Six streams each with one of the faults every stream reader must survive: jitter,
    loss, duplicates, reordering, a sequence wrap and a timestamp wrap (10.0.0.1 ->
    10.0.0.2, ports 40000-40052, SSRCs 1-6)."""
    s: dict[str, Any] = {"src": "10.0.0.1", "dst": "10.0.0.2", "count": count,
                         "jitter_us": 600}
    return [
        StreamSpec(sport=40000, dport=40002, ssrc=1, seed=1, **{**s, "jitter_us": 3000}),
        StreamSpec(sport=40010, dport=40012, ssrc=2, seed=2, loss=0.05, **s),
        StreamSpec(sport=40020, dport=40022, ssrc=3, seed=3, dup=0.05, **s),
        StreamSpec(sport=40030, dport=40032, ssrc=4, seed=4, reorder=0.05, **s),
        StreamSpec(sport=40040, dport=40042, ssrc=5, seed=5, seq0=65400, **s),  # seq wrap
        StreamSpec(sport=40050, dport=40052, ssrc=6, seed=6, ts0=2**32 - 20000, **s),  # ts wrap
    ]
