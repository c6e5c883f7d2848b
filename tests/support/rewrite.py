"""Derived captures from real ones, for the tests of ``harness check``.

``rewrite`` moves every host of one IPv4 /24 to another subnet and changes SIP and RTP ports,
in the IP/UDP/TCP headers (checksums recomputed), in ARP and in Docker's MAC addresses (they
carry the IPv4 address), and in the payloads' text: SIP start lines, headers and SDP
(``host:port``, ``rport=``, ``m=``, ``a=rtcp:``, ICE candidates). Every replacement has the
length of what it replaces, so Content-Length, IP lengths and TCP sequence numbers stay
right: an address ``P.X`` of the old prefix becomes ``Q.Y`` with ``Y`` chosen to make up the
difference in the prefixes' lengths, and a port keeps its number of digits.

``filter_packets`` (and ``drop``, ``keep_from``, ``keep_hosts``) writes the packets a
predicate keeps; a dropped TCP segment's bytes are taken out of the sequence numbers of the
later segments of its direction and out of the acknowledgements of the other, so the
stream reads as if the segment had never been sent.

Classic pcap in, the same pcap format out (either byte order, us or ns timestamps); link
types Ethernet (with VLAN tags), Linux cooked SLL and SLL2, raw IP, BSD loopback.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.capgen import _checksum

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
               b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
ETH_IPV4, ETH_ARP, ETH_VLANS = 0x0800, 0x0806, (0x8100, 0x88A8)
ICMP, TCP, UDP = 1, 6, 17
# SIP ports moved by default: the gateway's 5060, the softphone's second port, the Lync
# trunk's 5068 and the Skype simulator's echo port; each keeps its number of digits.
SIP_PORTS: Mapping[int, int] = {5060: 5090, 5061: 5091, 5068: 5098, 5070: 5072}
OLD_PREFIX, NEW_PREFIX = "192.168.100.", "172.16.200."


# ----------------------------------------------------------------------------- pcap


@dataclass
class Record:
    frame: int  # 1-based, as Wireshark numbers frames
    header: bytes  # the 16-byte record header, as read
    data: bytearray
    t_ns: int


@dataclass
class Pcap:
    header: bytes  # the 24-byte file header, as read
    endian: str
    nsec: bool
    linktype: int
    records: list[Record]


def read_pcap(path: Path) -> Pcap:
    buf = Path(path).read_bytes()
    endian = PCAP_MAGICS.get(buf[:4])
    if endian is None:
        raise ValueError(f"{path}: not a classic pcap file")
    nsec = buf[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", buf[20:24])[0] & 0x0FFFFFFF
    records: list[Record] = []
    off = 24
    while off + 16 <= len(buf):
        sec, frac, caplen, _wire = struct.unpack(endian + "IIII", buf[off : off + 16])
        t_ns = sec * 1_000_000_000 + (frac if nsec else frac * 1000)
        records.append(Record(len(records) + 1, buf[off : off + 16],
                              bytearray(buf[off + 16 : off + 16 + caplen]), t_ns))
        off += 16 + caplen
    return Pcap(buf[:24], endian, nsec, linktype, records)


def write_pcap(pcap: Pcap, path: Path, records: Iterable[Record] | None = None) -> Path:
    out = [pcap.header]
    for r in pcap.records if records is None else records:
        out.append(r.header[:8] + struct.pack(pcap.endian + "I", len(r.data)) + r.header[12:])
        out.append(bytes(r.data))
    Path(path).write_bytes(b"".join(out))
    return Path(path)


# ----------------------------------------------------------------------------- layout


@dataclass
class Layout:
    """Where one frame's layers are: offsets into its bytes (-1: not there)."""

    link_end: int = -1  # start of the network layer
    ethertype: int = 0
    ip: int = -1  # IPv4 header
    l4: int = -1  # UDP/TCP header (first fragment only)
    proto: int = 0
    payload: int = -1
    end: int = -1  # end of the IP datagram, as captured


def _link(linktype: int, data: bytes | bytearray) -> tuple[int, int]:
    """(offset of the network layer, ethertype), or (-1, 0) when not known."""
    if linktype == 1 and len(data) >= 14:
        off, etype = 12, struct.unpack("!H", data[12:14])[0]
        while etype in ETH_VLANS and len(data) >= off + 6:
            off += 4
            etype = struct.unpack("!H", data[off : off + 2])[0]
        return off + 2, etype
    if linktype == 113 and len(data) >= 16:
        return 16, struct.unpack("!H", data[14:16])[0]
    if linktype == 276 and len(data) >= 20:
        return 20, struct.unpack("!H", data[0:2])[0]
    if linktype in (101, 228, 12, 14) and data:
        return 0, ETH_IPV4 if data[0] >> 4 == 4 else 0
    if linktype in (0, 108) and len(data) >= 4:
        return 4, ETH_IPV4 if len(data) > 4 and data[4] >> 4 == 4 else 0
    return -1, 0


def layout(linktype: int, data: bytes | bytearray) -> Layout:
    lay = Layout()
    lay.link_end, lay.ethertype = _link(linktype, data)
    if lay.ethertype != ETH_IPV4 or lay.link_end < 0 or len(data) < lay.link_end + 20:
        return lay
    return ip_layout(data, lay.link_end, len(data), lay)


def ip_layout(data: bytes | bytearray, ip: int, limit: int, lay: Layout | None = None) -> Layout:
    """The layers of the IPv4 datagram at ``ip`` (captured up to ``limit``)."""
    lay = lay or Layout(link_end=ip, ethertype=ETH_IPV4)
    lay.ip = ip
    ihl = (data[ip] & 0x0F) * 4
    total = struct.unpack("!H", data[ip + 2 : ip + 4])[0]
    lay.end = min(limit, ip + total)
    lay.proto = data[ip + 9]
    if struct.unpack("!H", data[ip + 6 : ip + 8])[0] & 0x1FFF:
        return lay  # a later fragment: no transport header
    l4 = ip + ihl
    if lay.proto == UDP and lay.end >= l4 + 8:
        lay.l4, lay.payload = l4, l4 + 8
    elif lay.proto == TCP and lay.end >= l4 + 20:
        lay.l4, lay.payload = l4, l4 + (data[l4 + 12] >> 4) * 4
    return lay


@dataclass(frozen=True)
class Packet:
    """What a predicate sees of one frame."""

    frame: int
    t_ns: int
    src: str | None
    dst: str | None
    proto: int
    sport: int | None
    dport: int | None
    payload: bytes


def packet_of(linktype: int, r: Record) -> Packet:
    lay = layout(linktype, r.data)
    d = bytes(r.data)
    if lay.ip < 0:
        return Packet(r.frame, r.t_ns, None, None, 0, None, None, b"")
    src = str(ipaddress.IPv4Address(d[lay.ip + 12 : lay.ip + 16]))
    dst = str(ipaddress.IPv4Address(d[lay.ip + 16 : lay.ip + 20]))
    if lay.l4 < 0:
        return Packet(r.frame, r.t_ns, src, dst, lay.proto, None, None, b"")
    sport, dport = struct.unpack("!HH", d[lay.l4 : lay.l4 + 4])
    return Packet(r.frame, r.t_ns, src, dst, lay.proto, sport, dport, d[lay.payload : lay.end])


def packets(path: Path) -> list[Packet]:
    pcap = read_pcap(path)
    return [packet_of(pcap.linktype, r) for r in pcap.records]


def _fix_checksums(data: bytearray, lay: Layout) -> None:
    ip = lay.ip
    ihl = (data[ip] & 0x0F) * 4
    data[ip + 10 : ip + 12] = b"\0\0"
    data[ip + 10 : ip + 12] = struct.pack("!H", _checksum(bytes(data[ip : ip + ihl])))
    if lay.l4 < 0:
        return
    total = struct.unpack("!H", data[ip + 2 : ip + 4])[0]
    seg_len = total - ihl
    at = lay.l4 + (6 if lay.proto == UDP else 16)
    if lay.end < ip + total:  # truncated by the snap length: the checksum cannot be computed
        data[at : at + 2] = b"\0\0"
        return
    if lay.proto == UDP and data[at : at + 2] == b"\0\0":
        return  # no checksum was sent: keep it that way
    data[at : at + 2] = b"\0\0"
    pseudo = bytes(data[ip + 12 : ip + 20]) + struct.pack("!BBH", 0, lay.proto, seg_len)
    value = _checksum(pseudo + bytes(data[lay.l4 : lay.l4 + seg_len]))
    if lay.proto == UDP and value == 0:
        value = 0xFFFF
    data[at : at + 2] = struct.pack("!H", value)


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """What to change: the old prefix to the new one, ports old -> new, SIP ports (whose
    payloads get their ports rewritten too) and same-length text replacements in SIP."""

    old_prefix: str = OLD_PREFIX
    new_prefix: str = NEW_PREFIX
    ports: Mapping[int, int] = field(default_factory=lambda: dict(SIP_PORTS))
    sip_ports: frozenset[int] = frozenset(SIP_PORTS)
    text: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        if len(self.old_prefix) - len(self.new_prefix) not in (0, 1):
            raise ValueError("the new prefix must be as long as the old one or one shorter")
        for old, new in self.ports.items():
            if len(str(old)) != len(str(new)):
                raise ValueError(f"port {old} -> {new}: the number of digits must not change")
        for old_text, new_text in self.text:
            if len(old_text) != len(new_text):
                raise ValueError(f"{old_text!r} -> {new_text!r}: lengths differ")

    def address(self, old: str) -> str:
        """``P.X`` -> ``Q.Y``, as long as the old address; others unchanged."""
        if not old.startswith(self.old_prefix):
            return old
        host = old[len(self.old_prefix) :]
        if len(self.old_prefix) == len(self.new_prefix):
            return self.new_prefix + host
        # One character more to fill: 1-9 -> 11-19, 10-99 -> 110-199.
        if len(host) == 3:
            raise ValueError(f"{old}: no address of {self.new_prefix}0/24 has its length")
        return self.new_prefix + str(int(host) + 10 ** len(host))

    def port(self, old: int) -> int:
        return self.ports.get(old, old)

    @property
    def packed(self) -> dict[bytes, bytes]:
        """Old -> new address as 4 bytes, for every host of the old /24 that fits."""
        out = {}
        for host in range(1, 255):
            old = f"{self.old_prefix}{host}"
            if len(str(host)) < 3 or len(self.old_prefix) == len(self.new_prefix):
                out[ipaddress.IPv4Address(old).packed] = ipaddress.IPv4Address(
                    self.address(old)).packed
        return out


_SDP_PORTS = re.compile(rb"(?:m=[a-z]+ |a=rtcp:)([0-9]+)")


def _shifted(port: int) -> int:
    """Another port with as many digits, RTP and RTCP (even, odd) moved together."""
    base = port & ~1
    for delta in (10000, -10000, 1000, -1000, 100, -100):
        lo, hi = base + delta, base + 1 + delta
        if 0 < lo and hi < 65536 and len(str(lo)) == len(str(base)) == len(str(hi)):
            return port + delta
    raise ValueError(f"no port like {port} to move it to")


def plan_for(path: Path, old_prefix: str = OLD_PREFIX, new_prefix: str = NEW_PREFIX,
             sip_ports: Mapping[int, int] = SIP_PORTS,
             text: tuple[tuple[bytes, bytes], ...] = ()) -> Plan:
    """A plan for one capture: its SIP ports, and every RTP/RTCP port its SDP announces."""
    pkts = packets(path)
    ports = dict(sip_ports)
    for p in pkts:
        if p.sport in sip_ports or p.dport in sip_ports:
            for m in _SDP_PORTS.finditer(p.payload):
                rtp = int(m.group(1)) & ~1
                if rtp:
                    ports.setdefault(rtp, _shifted(rtp))
                    ports.setdefault(rtp + 1, _shifted(rtp + 1))
    seen = {port for p in pkts for port in (p.sport, p.dport) if port is not None}
    clash = (set(ports.values()) & seen) - set(ports)
    if clash:
        raise ValueError(f"new ports {sorted(clash)} are already used in {path}")
    return Plan(old_prefix, new_prefix, ports, frozenset(sip_ports), text)


# ----------------------------------------------------------------------------- rewriting


def _text(payload: bytes, plan: Plan, sip: bool) -> bytes:
    prefix = re.escape(plan.old_prefix.encode())
    out = re.sub(rb"(?<![0-9.])" + prefix + rb"[0-9]{1,3}(?![0-9])",
                 lambda m: plan.address(m.group().decode()).encode(), payload)
    if not sip:
        return out

    def port(m: re.Match[bytes]) -> bytes:
        return m.group(1) + str(plan.port(int(m.group(2)))).encode()

    # host:port (URIs, Via sent-by, a=rtcp:), rport=, the SDP m= port, ICE candidates
    out = re.sub(rb"([A-Za-z0-9\]]:)([0-9]{1,5})(?![0-9])", port, out)
    out = re.sub(rb"(rport=)([0-9]{1,5})(?![0-9])", port, out)
    out = re.sub(rb"(m=[a-z]+ )([0-9]{1,5})(?![0-9])", port, out)
    out = re.sub(rb"([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ )([0-9]{1,5})(?![0-9])", port, out)
    for old, new in plan.text:
        out = out.replace(old, new)
    return out


def _docker_macs(data: bytearray, start: int, end: int, packed: Mapping[bytes, bytes]) -> None:
    """Docker's MACs are 02:42 and the IPv4 address: move them with the address."""
    i = data.find(b"\x02\x42", start, end)
    while 0 <= i <= end - 6:
        new = packed.get(bytes(data[i + 2 : i + 6]))
        if new is not None:
            data[i + 2 : i + 6] = new
        i = data.find(b"\x02\x42", i + 1, end)


def rewrite_frame(linktype: int, data: bytearray, plan: Plan, packed: Mapping[bytes, bytes],
                  ) -> None:
    lay = layout(linktype, data)
    if lay.link_end > 0:
        _docker_macs(data, 0, lay.link_end, packed)
    if lay.ethertype == ETH_ARP and lay.link_end >= 0:
        a = lay.link_end
        if len(data) >= a + 28 and data[a + 4 : a + 6] == b"\x06\x04":
            for at in (a + 14, a + 24):
                data[at : at + 4] = packed.get(bytes(data[at : at + 4]), data[at : at + 4])
            _docker_macs(data, a + 8, a + 28, packed)
        return
    if lay.ip >= 0:
        _rewrite_ip(data, lay, plan, packed)


def _rewrite_ip(data: bytearray, lay: Layout, plan: Plan, packed: Mapping[bytes, bytes]) -> None:
    ip = lay.ip
    for at in (ip + 12, ip + 16):
        data[at : at + 4] = packed.get(bytes(data[at : at + 4]), data[at : at + 4])
    ihl = (data[ip] & 0x0F) * 4
    inner = ip + ihl + 8
    if lay.proto == ICMP and data[ip + ihl] in (3, 11, 12) and lay.end >= inner + 20:
        # An ICMP error quotes the datagram it is about: move that one too.
        _rewrite_ip(data, ip_layout(data, inner, lay.end), plan, packed)
        at = ip + ihl + 2
        data[at : at + 2] = b"\0\0"
        data[at : at + 2] = struct.pack("!H", _checksum(bytes(data[ip + ihl : lay.end])))
    if lay.l4 >= 0:
        sport, dport = struct.unpack("!HH", data[lay.l4 : lay.l4 + 4])
        data[lay.l4 : lay.l4 + 4] = struct.pack("!HH", plan.port(sport), plan.port(dport))
        body = bytes(data[lay.payload : lay.end])
        sip = sport in plan.sip_ports or dport in plan.sip_ports
        new = _text(body, plan, sip)
        assert len(new) == len(body), "a replacement changed the payload's length"
        data[lay.payload : lay.end] = new
    _fix_checksums(data, lay)


def rewrite(src: Path, dst: Path, plan: Plan | None = None) -> Plan:
    """Write ``dst``: ``src`` moved to ``plan``'s subnet and ports. Returns the plan."""
    plan = plan or plan_for(src)
    pcap = read_pcap(src)
    packed = plan.packed
    for r in pcap.records:
        rewrite_frame(pcap.linktype, r.data, plan, packed)
    write_pcap(pcap, dst)
    return plan


# ----------------------------------------------------------------------------- filtering


def _after(a: int, b: int) -> bool:
    """TCP sequence ``a`` comes at or after ``b`` (modulo 2**32)."""
    return (a - b) & 0xFFFFFFFF < 0x80000000


def filter_packets(src: Path, dst: Path, keep: Callable[[Packet], bool],
                   renumber_tcp: bool = True) -> list[int]:
    """Write the frames ``keep`` accepts; returns the dropped frame numbers. With
    ``renumber_tcp``, a dropped TCP segment's bytes leave the sequence space."""
    pcap = read_pcap(src)
    kept: list[Record] = []
    dropped: list[int] = []
    holes: dict[tuple[bytes, bytes], list[tuple[int, int]]] = {}  # direction -> (seq, len)
    for r in pcap.records:
        lay = layout(pcap.linktype, r.data)
        if keep(packet_of(pcap.linktype, r)):
            if renumber_tcp and lay.proto == TCP and lay.l4 >= 0 and holes:
                _renumber(r.data, lay, holes)
            kept.append(r)
            continue
        dropped.append(r.frame)
        if lay.proto == TCP and lay.l4 >= 0 and lay.end > lay.payload:
            d = bytes(r.data)
            key = (d[lay.ip + 12 : lay.ip + 20], d[lay.l4 : lay.l4 + 4])
            seq = struct.unpack("!I", d[lay.l4 + 4 : lay.l4 + 8])[0]
            holes.setdefault(key, []).append((seq, lay.end - lay.payload))
    write_pcap(pcap, dst, kept)
    return dropped


def _renumber(data: bytearray, lay: Layout, holes: Mapping[tuple[bytes, bytes],
                                                            list[tuple[int, int]]]) -> None:
    d = bytes(data)
    addrs, ports = d[lay.ip + 12 : lay.ip + 20], d[lay.l4 : lay.l4 + 4]
    seq, ack = struct.unpack("!II", d[lay.l4 + 4 : lay.l4 + 12])
    mine = holes.get((addrs, ports), [])
    theirs = holes.get((addrs[4:] + addrs[:4], ports[2:] + ports[:2]), [])
    new_seq = (seq - sum(n for s, n in mine if _after(seq, s + n))) & 0xFFFFFFFF
    new_ack = ack
    if d[lay.l4 + 13] & 0x10:
        new_ack = (ack - sum(n for s, n in theirs if _after(ack, s + n))) & 0xFFFFFFFF
    if (new_seq, new_ack) != (seq, ack):
        data[lay.l4 + 4 : lay.l4 + 12] = struct.pack("!II", new_seq, new_ack)
        _fix_checksums(data, lay)


def drop(src: Path, dst: Path, frames: Iterable[int]) -> list[int]:
    """A fault: the given frames never sent."""
    gone = set(frames)
    return filter_packets(src, dst, lambda p: p.frame not in gone)


def keep_from(src: Path, dst: Path, t_ns: int) -> list[int]:
    """A capture started late: only frames at or after ``t_ns``."""
    return filter_packets(src, dst, lambda p: p.t_ns >= t_ns, renumber_tcp=False)


def keep_hosts(src: Path, dst: Path, a: str, b: str) -> list[int]:
    """One leg: only IPv4 packets between hosts ``a`` and ``b``."""
    pair = {a, b}
    return filter_packets(src, dst, lambda p: {p.src, p.dst} == pair, renumber_tcp=False)
