"""The capture reader: containers, link types, IP versions, VLANs, fragments, snaplen."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from harness.capture import open_capture
from harness.capture.addresses import addr_from_str, addr_to_str
from harness.capture.records import gather
from harness.media.find import rtp_streams
from tests.support.capgen import (
    ETHERNET,
    IPV4,
    IPV6,
    LOOP,
    NULL,
    RAW,
    SLL,
    SLL2,
    T0,
    Frame,
    Iface,
    ip_udp,
    ipv4,
    ipv6,
    link,
    sip_request,
    udp,
    udp_frame,
    write_pcap,
    write_pcapng,
)

PAYLOAD = b"\x80\x00\x00\x01" + b"x" * 40


def _frames(linktype: int, vlans: tuple[int, ...] = ()) -> list[Frame]:
    out = []
    for k, (src, dst) in enumerate([("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")]):
        if (linktype == IPV4 and ":" in src) or (linktype == IPV6 and ":" not in src):
            continue
        pkt = ip_udp(src, dst, 1000 + k, 2000 + k, PAYLOAD)
        out.append(Frame(T0 + k * 1_000_000, link(linktype, pkt, vlans)))
    return out


@pytest.mark.parametrize("linktype", [ETHERNET, SLL, SLL2, RAW, IPV4, IPV6, NULL, LOOP, 12, 14])
def test_link_types(tmp_path: Path, linktype: int) -> None:
    frames = _frames(linktype)
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames, linktype=linktype))
    assert len(cap) == len(frames) and cap.warnings == []
    for i in range(len(cap)):
        assert cap.proto[i] == 17
        assert cap.payload(i) == PAYLOAD
        assert cap.src(i) in ("192.0.2.1", "2001:db8::1")
        assert cap.sport[i] + 1000 == cap.dport[i]
    assert list(cap.ip_version) == ([4] if linktype != IPV6 else []) + (
        [6] if linktype != IPV4 else []
    )


def test_bsd_loopback_in_the_other_byte_order(tmp_path: Path) -> None:
    frames = [
        Frame(T0, link(NULL, ip_udp("192.0.2.1", "192.0.2.2", 1, 2, PAYLOAD), big_endian_null=True))
    ]
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames, linktype=NULL))
    assert cap.ip_version[0] == 4 and cap.payload(0) == PAYLOAD


@pytest.mark.parametrize("vlans", [(100,), (10, 20), (1, 2, 3)])
def test_vlan_tags(tmp_path: Path, vlans: tuple[int, ...]) -> None:
    cap = open_capture(write_pcap(tmp_path / "c.pcap", _frames(ETHERNET, vlans)))
    assert [cap.payload(i) for i in range(len(cap))] == [PAYLOAD, PAYLOAD]
    assert list(cap.ip_version) == [4, 6]


@pytest.mark.parametrize(("nsec", "endian"), [(False, "<"), (True, "<"), (False, ">"), (True, ">")])
def test_pcap_variants_keep_exact_times(tmp_path: Path, nsec: bool, endian: str) -> None:
    t = [T0 + 123_456_789, T0 + 2_000_000_001]
    frames = [Frame(x, f.data) for x, f in zip(t, _frames(ETHERNET), strict=True)]
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames, nsec=nsec, endian=endian))
    expect = t if nsec else [x - x % 1000 for x in t]
    assert cap.ts_ns.tolist() == expect
    assert cap.time[0] == pytest.approx(expect[0] / 1e9)
    assert cap.frame.tolist() == [1, 2]


@pytest.mark.parametrize("block", ["epb", "opb"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_offsets(tmp_path: Path, endian: str, block: str) -> None:
    eth = _frames(ETHERNET)
    raw = _frames(RAW)
    for f in raw:
        f.iface, f.t_ns = 1, f.t_ns + 500
    ifaces = [Iface(ETHERNET, tsresol=9), Iface(RAW, tsresol=0x80 | 20, tsoffset=5)]
    path = write_pcapng(tmp_path / "c.pcapng", eth + raw, ifaces, endian=endian, block=block)
    cap = open_capture(path)
    assert cap.file_format == "pcapng" and cap.warnings == []
    assert [cap.payload(i) for i in range(4)] == [PAYLOAD] * 4
    assert cap.ts_ns[:2].tolist() == [f.t_ns for f in eth]
    # 2^-20 s units from an offset of 5 s: the exact nanoseconds the units stand for
    units = [(f.t_ns - 5_000_000_000) * 2**20 // 1_000_000_000 for f in raw]
    assert cap.ts_ns[2:].tolist() == [(u * 1_000_000_000 >> 20) + 5_000_000_000 for u in units]


def test_pcapng_simple_packet_blocks(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "c.pcapng", _frames(ETHERNET), [Iface(ETHERNET)], block="spb")
    cap = open_capture(path)
    assert [cap.payload(i) for i in range(2)] == [PAYLOAD, PAYLOAD]


def test_ipv6_extension_headers(tmp_path: Path) -> None:
    hop = bytes([17, 0]) + b"\x00" * 6  # hop-by-hop options, next header UDP
    pkt = ipv6("2001:db8::1", "2001:db8::2", 17, udp(7, 8, PAYLOAD), ext=hop, ext_nh=0)
    cap = open_capture(write_pcap(tmp_path / "c.pcap", [Frame(T0, link(ETHERNET, pkt))]))
    assert (cap.proto[0], cap.sport[0], cap.dport[0], cap.payload(0)) == (17, 7, 8, PAYLOAD)


def test_ipv4_fragments_are_reassembled(tmp_path: Path) -> None:
    msg = sip_request("OPTIONS", "frag", 1, body="v=0\r\n" + "a=x\r\n" * 400)
    dgram = udp(5060, 5060, msg)
    cut = 1480
    frames = []
    for k, off in enumerate(range(0, len(dgram), cut)):
        more = 0x2000 if off + cut < len(dgram) else 0
        pkt = ipv4(
            "192.0.2.1", "192.0.2.2", 17, dgram[off : off + cut], ident=7, frag=more | (off // 8)
        )
        frames.append(Frame(T0 + k, link(ETHERNET, pkt)))
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames))
    assert len(frames) >= 2
    assert cap.fragment.tolist() == [True] * (len(frames) - 1) + [False]
    (sip,) = cap.sip_messages()
    assert sip.frame == len(frames) and sip.data == msg and sip.error is None


def test_snaplen_cut_packets(tmp_path: Path) -> None:
    frames = [udp_frame(T0, "192.0.2.1", "192.0.2.2", 1, 2, PAYLOAD)]
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames, snaplen=60))
    assert cap.payload_wire_len[0] == len(PAYLOAD)
    assert cap.payload_len[0] == 60 - 42
    assert cap.payload(0) == PAYLOAD[:18]
    assert cap.head[0].tobytes() == PAYLOAD[:12]


def test_non_ip_frames_keep_their_numbers(tmp_path: Path) -> None:
    arp = Frame(T0, b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28)
    frames = [arp] + _frames(ETHERNET)
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames))
    assert cap.ip_version.tolist() == [0, 4, 6] and cap.frame.tolist() == [1, 2, 3]


def test_long_runs_of_equal_records(tmp_path: Path) -> None:
    # thousands of same-sized records exercise the strided run check of the walk
    frames = [
        udp_frame(T0 + k * 1000, "192.0.2.1", "192.0.2.2", 1, 2, PAYLOAD) for k in range(5000)
    ]
    frames.insert(2500, udp_frame(T0 + 2_499_500, "192.0.2.1", "192.0.2.2", 1, 2, b"odd"))
    cap = open_capture(write_pcap(tmp_path / "c.pcap", frames))
    assert len(cap) == 5001 and cap.payload(2500) == b"odd" and cap.payload(5000) == PAYLOAD


def test_helpers() -> None:
    for text in ("192.0.2.7", "2001:db8::7", "::1"):
        assert addr_to_str(*addr_from_str(text)) == text
    buf = bytes(range(10))
    rows = gather(buf, np.array([0, 8]), 4)
    assert rows.tolist() == [[0, 1, 2, 3], [8, 9, 0, 0]]
    assert struct.pack("<I", 1)  # keep struct imported for readers of this file


def test_stream_grouping_survives_hash_collisions(tmp_path: Path, monkeypatch) -> None:
    from harness.media import find as rtpfind
    from tests.support.capgen import StreamSpec, merge

    specs = [
        StreamSpec("10.9.0.1", 4000 + k, "10.9.0.2", 5000, ssrc=k % 3, count=50, seed=k)
        for k in range(6)
    ]
    path = write_pcap(tmp_path / "c.pcap", merge(*[s.frames() for s in specs]))
    normal = [(s.key, s.frame.tolist()) for s in rtp_streams(open_capture(path))]
    real = rtpfind._hashes

    def colliding(cols):  # every row gets the same first hash
        h1, h2 = real(cols)
        return np.zeros_like(h1), h2

    monkeypatch.setattr(rtpfind, "_hashes", colliding)
    forced = [(s.key, s.frame.tolist()) for s in rtp_streams(open_capture(path))]
    assert forced == normal and len(normal) == 6


def test_a_second_process_gives_the_same_results(tmp_path: Path, monkeypatch) -> None:
    from harness.capture import packets
    from harness.media import find as rtpfind
    from harness.media import streams as media_streams
    from tests.support.capgen import StreamSpec, merge

    specs = [
        StreamSpec("10.9.0.1", 4000 + k, "10.9.0.2", 5000, ssrc=k, count=300, seed=k, loss=0.02)
        for k in range(4)
    ]
    frames = merge(*[s.frames() for s in specs])
    cut = link(ETHERNET, ip_udp("10.9.0.1", "10.9.0.2", 1, 2, b"x"))[:30]
    frames.insert(1000, Frame(T0, cut))  # a malformed packet in the second half
    path = write_pcap(tmp_path / "c.pcap", frames)
    one = open_capture(path)
    monkeypatch.setattr(packets, "PARALLEL_MIN", 100)
    monkeypatch.setattr(packets, "CHUNK", 256)
    monkeypatch.setattr(media_streams, "PARALLEL_MIN", 100)
    monkeypatch.setattr(rtpfind, "PARALLEL_MIN", 100)  # the SIP parsed alongside
    two = open_capture(path, workers=2)
    for name in ("ts_ns", "ip_version", "proto", "src_lo", "ports", "payload_off", "head"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.warnings == two.warnings == ["packet 1001: IPv4 header cut short"]
    s1 = media_streams.stats_of(rtp_streams(one))
    s2 = media_streams.stats_of(rtp_streams(two), workers=2)
    assert s1 == s2 and len(s1) == 4


@pytest.mark.parametrize("fmt", ["pcap", "pcap-be", "pcapng", "pcapng-be"])
def test_the_lockstep_walk_equals_the_plain_walk(tmp_path: Path, monkeypatch, fmt: str) -> None:
    # The lockstep walk is for files of megabytes: made to run on a small one here, with
    # records of many sizes, payloads that look like record headers, a corrupt length, a
    # record cut short and (pcapng) another block among the packets.
    from harness.capture import formats, lockstep

    endian = ">" if fmt.endswith("-be") else "<"
    ng = fmt.startswith("pcapng")
    rng = np.random.default_rng(5)
    frames = []
    for k in range(3000):
        size = int(rng.choice([20, 160, 600, 1400]))
        payload = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        if k % 7 == 0 and size > 40:  # a record header look-alike
            payload[8:24] = struct.pack(endian + "IIII", T0 // 10**9, 5, 40, 40)
        frames.append(udp_frame(T0 + k * 20_000_000, "10.0.0.1", "10.0.0.2", 4000, 4002, payload))
    if ng:
        whole = write_pcapng(tmp_path / "c.pcapng", frames, endian=endian).read_bytes()
    else:
        whole = write_pcap(tmp_path / "c.pcap", frames, endian=endian).read_bytes()
    off, k = (0, 0) if ng else (24, 0)
    while True:  # the header of packet 2001
        if ng:
            btype, blen = struct.unpack_from(endian + "II", whole, off)
            if btype == 6 and k == 2000:
                break
            k += btype == 6
            off += blen
        else:
            if k == 2000:
                break
            k += 1
            off += 16 + struct.unpack_from(endian + "I", whole, off + 8)[0]
    corrupt = bytearray(whole)
    struct.pack_into(endian + "I", corrupt, off + (4 if ng else 8), 7_000_003)
    variants = [whole, whole[: len(whole) * 3 // 4 + 5], bytes(corrupt)]
    if ng:
        other = struct.pack(endian + "II", 0xBAD, 16) + bytes(4) + struct.pack(endian + "I", 16)
        variants.append(whole[:off] + other + whole[off:])

    def records(data: bytes, workers: int) -> tuple:
        r = formats.read_records(data, workers)
        return r.data_off.tolist(), r.caplen.tolist(), r.warnings

    plain = [records(data, 1) for data in variants]
    assert plain[2][2] and plain[1][2]  # the corrupt length and the cut are reported
    monkeypatch.setattr(lockstep, "LOCKSTEP_MIN", 1 << 12)
    monkeypatch.setattr(lockstep, "SEGMENT", 1 << 12)
    monkeypatch.setattr(lockstep, "WINDOW", 1 << 10)
    monkeypatch.setattr(lockstep, "_LOCKSTEP_FEW", 4)
    monkeypatch.setattr(lockstep, "_LOCKSTEP_SPLIT", 4)
    for workers in (1, 2):
        assert [records(data, workers) for data in variants] == plain
