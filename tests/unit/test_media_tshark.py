"""RTP stream figures equal to ``tshark -q -z rtp,streams`` (tshark 4.0) at its printed
precision, on generated captures (every pathology, link type and container) and on the
captures shipped with SIPp. Skipped where tshark is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.capture import open_capture
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
    StreamSpec,
    merge,
    our_rows,
    pathology_specs,
    rtp,
    rtp_event,
    sdp,
    sip_request,
    sip_response,
    tcp_frame,
    tshark_rows,
    udp_frame,
    write_pcap,
    write_pcapng,
)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

SIPP = Path("/usr/share/sip-tester")
A, B = "10.1.0.10", "10.1.0.20"


def assert_same(
    path: Path, heuristic: bool = True, ours: bool | None = None, extra: tuple[str, ...] = ()
) -> dict:
    theirs = tshark_rows(path, heuristic=heuristic, extra=extra)
    mine = our_rows(rtp_streams(open_capture(path), heuristic=ours))
    assert theirs, "tshark found no stream: the scenario is broken"
    assert mine == theirs
    return mine


def _pathologies() -> list[StreamSpec]:
    s = {"src": "10.0.0.1", "dst": "10.0.0.2", "count": 400, "jitter_us": 600}
    return [
        *pathology_specs(400),
        StreamSpec(
            sport=40060,
            dport=40062,
            ssrc=7,
            seed=7,
            seq0=65500,  # bursts over the wrap
            bursts=[(30, 40), (100, 150), (300, 310)],
            **s,
        ),
        StreamSpec(
            sport=40070,
            dport=40072,
            ssrc=8,
            seed=8,
            pt=8,
            marker_at=(0, 50, 51, 200),
            ts_jumps={100: 8000, 250: -4000},
            **s,
        ),
        StreamSpec(
            sport=40080,
            dport=40082,
            ssrc=9,
            seed=9,
            pt=9,
            reorder=0.1,
            dup=0.05,
            loss=0.05,
            seq0=65300,
            **s,
        ),
        StreamSpec(
            sport=40090, dport=40092, ssrc=10, seed=10, pt=18, payload_size=20, **{**s, "count": 40}
        ),
        StreamSpec(
            sport=40100, dport=40102, ssrc=11, seed=11, pt=11, clock=44100, payload_size=100, **s
        ),
        StreamSpec(sport=40110, dport=40112, ssrc=12, seed=12, pt=13, **s),  # comfort noise only
        StreamSpec(sport=40120, dport=40122, ssrc=13, seed=13, seq0=0, loss=0.02, **s),
        StreamSpec(sport=40130, dport=40132, ssrc=14, seed=14, ts_jumps={200: -(2**31) - 5}, **s),
        StreamSpec(sport=40140, dport=40142, ssrc=15, seed=15, seq0=65535, reorder=0.2, **s),
        # several SSRCs on one flow, and an SSRC change mid-flow
        StreamSpec(sport=40150, dport=40152, ssrc=16, seed=16, **s),
        StreamSpec(
            sport=40150,
            dport=40152,
            ssrc=17,
            seed=17,
            start_ns=T0 + 3_000_000_000,
            **{**s, "count": 200},
        ),
        StreamSpec(sport=40160, dport=40162, ssrc=18, seed=18, **{**s, "count": 3}),
        StreamSpec(sport=40170, dport=40172, ssrc=19, seed=19, **{**s, "count": 1}),
    ]


def test_every_pathology_equals_tshark(tmp_path: Path) -> None:
    specs = _pathologies()
    frames = merge(*[sp.frames() for sp in specs])
    # comfort noise inside an audio stream, and a stream whose timestamps go backwards
    cn = StreamSpec(
        "10.0.0.1", 40180, "10.0.0.2", 40182, ssrc=20, seed=20, count=300, jitter_us=400
    )
    cn_frames = []
    for i, (t, pkt) in enumerate(cn.packets()):
        if 100 <= i < 110:
            pkt = rtp(1000 + i, 5000 + i * 160, 20, 13, b"\x40")
        cn_frames.append(Frame(t, udp_frame(t, cn.src, cn.dst, cn.sport, cn.dport, pkt).data))
    mine = assert_same(write_pcap(tmp_path / "paths.pcap", merge(frames, cn_frames)))
    assert len(mine) == len(specs) + 1


@pytest.mark.parametrize("linktype", [ETHERNET, SLL, SLL2, RAW, IPV4, IPV6, NULL, LOOP, 12, 14])
def test_link_types_equal_tshark(tmp_path: Path, linktype: int) -> None:
    specs = []
    if linktype != IPV6:
        specs.append(
            StreamSpec(
                "192.0.2.1",
                41000,
                "192.0.2.2",
                41002,
                ssrc=0xAA,
                count=250,
                jitter_us=700,
                loss=0.02,
                seed=linktype,
            )
        )
    if linktype != IPV4:
        specs.append(
            StreamSpec(
                "2001:db8::1",
                42000,
                "2001:db8::2",
                42002,
                ssrc=0xBB,
                count=250,
                jitter_us=700,
                dup=0.02,
                reorder=0.02,
                seed=linktype + 1,
                pt=8,
            )
        )
    frames = merge(*[s.frames(linktype) for s in specs])
    mine = assert_same(write_pcap(tmp_path / "lt.pcap", frames, linktype=linktype))
    assert len(mine) == len(specs)


def test_vlan_tags_big_endian_nanoseconds_equal_tshark(tmp_path: Path) -> None:
    a = StreamSpec(
        "192.0.2.1",
        41000,
        "192.0.2.2",
        41002,
        ssrc=0xAA,
        count=300,
        jitter_us=700,
        seed=3,
        resolution_ns=1,
    )
    b = StreamSpec(
        "192.0.2.3",
        41010,
        "192.0.2.4",
        41012,
        ssrc=0xCC,
        count=250,
        jitter_us=900,
        seed=4,
        resolution_ns=1,
    )
    frames = merge(a.frames(ETHERNET, vlans=(100,)), b.frames(ETHERNET, vlans=(10, 20)))
    assert_same(write_pcap(tmp_path / "vlan.pcap", frames, nsec=True, endian=">"))


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_two_interfaces_equal_tshark(tmp_path: Path, endian: str) -> None:
    a = StreamSpec(
        "192.0.2.1",
        41000,
        "192.0.2.2",
        41002,
        ssrc=0xAA,
        count=300,
        jitter_us=700,
        seed=5,
        resolution_ns=1,
    )
    b = StreamSpec(
        "192.0.2.5", 41020, "192.0.2.6", 41022, ssrc=0xDD, count=300, jitter_us=700, seed=6
    )
    fb = b.frames(SLL)
    for f in fb:
        f.iface = 1
    ifaces = [Iface(ETHERNET, tsresol=9), Iface(SLL, tsresol=6)]
    assert_same(write_pcapng(tmp_path / "two.pcapng", merge(a.frames(), fb), ifaces, endian))


def _call(tmp_path: Path) -> Path:
    """INVITE/200/ACK with SDP (opus/48000, G.722, telephone-event), RTP both ways, a
    second SSRC, RFC 4733 events, and a flow on ports no SDP announced."""
    offer = sdp(A, 30000, [(111, "opus/48000/2"), (9, None), (101, "telephone-event/8000")])
    answer = sdp(B, 40000, [(111, "opus/48000/2"), (101, "telephone-event/8000")])
    sig = [
        udp_frame(T0, A, B, 5060, 5060, sip_request("INVITE", "c1", 1, offer)),
        udp_frame(
            T0 + 50_000_000, B, A, 5060, 5060, sip_response(200, "OK", "c1", 1, "INVITE", answer)
        ),
        udp_frame(T0 + 60_000_000, A, B, 5060, 5060, sip_request("ACK", "c1", 1)),
    ]
    start = T0 + 100_000_000
    s1 = StreamSpec(
        A,
        30000,
        B,
        40000,
        ssrc=0x1111,
        pt=111,
        clock=48000,
        payload_size=80,
        count=300,
        jitter_us=900,
        seed=1,
        start_ns=start,
    )
    s2 = StreamSpec(
        B,
        40000,
        A,
        30000,
        ssrc=0x2222,
        pt=111,
        clock=48000,
        payload_size=80,
        count=300,
        jitter_us=900,
        seed=2,
        start_ns=start,
        loss=0.03,
    )
    s3 = StreamSpec(
        A, 30000, B, 40000, ssrc=0x3333, pt=9, count=200, jitter_us=500, seed=3, start_ns=start
    )
    s4 = StreamSpec(
        A, 30010, B, 40010, ssrc=0x4444, pt=0, count=200, jitter_us=500, seed=4, start_ns=start
    )
    t = T0 + 3_000_000_000
    events = [
        udp_frame(
            t + k * 20_000_000,
            A,
            B,
            30000,
            40000,
            rtp(
                5000 + k, 99999, 0x5555, 101, rtp_event(5, 160 * (k + 1), end=k >= 5), marker=k == 0
            ),
        )
        for k in range(8)
    ]
    frames = merge(sig, s1.frames(), s2.frames(), s3.frames(), s4.frames(), events)
    return write_pcap(tmp_path / "call.pcap", frames)


def test_sdp_guided_streams_equal_tshark(tmp_path: Path) -> None:
    path = _call(tmp_path)
    mine = assert_same(path, heuristic=False)
    assert len(mine) == 4  # 30010 -> 40010 was never announced
    payloads = {row[7] for row in mine.values()}
    assert payloads == {"opus", "g722", "telephone-event"}
    streams = rtp_streams(open_capture(path))
    assert all(s.setup_frame in (1, 2) for s in streams)
    opus = next(s for s in streams if s.ssrc == 0x1111)
    assert opus.clock_rate == 48000 and opus.rtpmap[101] == ("telephone-event", 8000)


@pytest.mark.parametrize("port", [5060, 5068])
def test_sdp_over_reassembled_tcp_equals_tshark(tmp_path: Path, port: int) -> None:
    offer = sdp(A, 30000, [(0, None)])
    answer = sdp(B, 40000, [(0, None)])
    inv = sip_request("INVITE", "c2", 1, offer)
    ok = sip_response(200, "OK", "c2", 1, "INVITE", answer)
    sig = [
        tcp_frame(T0, A, B, 40001, port, 1000, b"", flags=0x02),
        tcp_frame(T0 + 1000, B, A, port, 40001, 5000, b"", flags=0x12),
        tcp_frame(T0 + 2000, A, B, 40001, port, 1001, inv[:300]),
        tcp_frame(T0 + 3000, A, B, 40001, port, 1301, inv[300:]),
        tcp_frame(T0 + 4000, A, B, 40001, port, 1301, inv[300:]),  # retransmission
        tcp_frame(T0 + 50_000_000, B, A, port, 40001, 5001, ok),
    ]
    s1 = StreamSpec(
        A, 30000, B, 40000, ssrc=1, count=200, jitter_us=500, seed=1, start_ns=T0 + 100_000_000
    )
    s2 = StreamSpec(
        B, 40000, A, 30000, ssrc=2, count=200, jitter_us=500, seed=2, start_ns=T0 + 100_000_000
    )
    path = write_pcap(tmp_path / "tcp.pcap", merge(sig, s1.frames(), s2.frames()))
    extra = () if port == 5060 else ("-d", f"tcp.port=={port},sip")
    assert len(assert_same(path, heuristic=False, extra=extra)) == 2


@pytest.mark.skipif(not SIPP.is_dir(), reason="SIPp's pcaps are not installed")
@pytest.mark.parametrize("name", ["g711a.pcap", "dtmf_2833_1.pcap", "dtmf_2833_pound.pcap"])
def test_sipp_captures_equal_tshark(name: str) -> None:
    assert_same(SIPP / name)


def test_cli_tshark_block_is_byte_identical(tmp_path: Path) -> None:
    specs = _pathologies()[:6]
    path = write_pcap(tmp_path / "six.pcap", merge(*[s.frames() for s in specs]))
    theirs = subprocess.run(
        ["tshark", "-r", str(path), "-q", "-z", "rtp,streams", "--enable-heuristic", "rtp_udp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from harness.cli.rtp_stats import tshark_block

    ours = tshark_block([s.stats() for s in rtp_streams(open_capture(path))])
    assert ours == theirs
