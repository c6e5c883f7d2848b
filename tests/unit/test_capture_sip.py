"""SIP messages of a capture: UDP datagrams and reassembled TCP streams, any port."""

from __future__ import annotations

from pathlib import Path

from harness.capture import open_capture
from harness.sip import Request, Response
from tests.support.capgen import (
    T0,
    sdp,
    sip_request,
    sip_response,
    tcp_frame,
    udp_frame,
    write_pcap,
)

A, B = "10.4.0.1", "10.4.0.2"
INV = sip_request("INVITE", "t1", 1, sdp(A, 30000, [(0, None)]))
OK = sip_response(200, "OK", "t1", 1, "INVITE", sdp(B, 40000, [(0, None)]))
ACK = sip_request("ACK", "t1", 1)
BYE = sip_request("BYE", "t1", 2)


def _open(tmp_path: Path, frames: list) -> list:
    return open_capture(write_pcap(tmp_path / "sip.pcap", frames)).sip_messages()


def test_udp_on_any_port(tmp_path: Path) -> None:
    frames = [
        udp_frame(T0, A, B, 5099, 15060, INV),
        udp_frame(T0 + 1000, B, A, 15060, 5099, OK),
        udp_frame(T0 + 2000, A, B, 5099, 15060, b"\x80\x00" + b"\0" * 30),  # not SIP
        udp_frame(T0 + 3000, "2001:db8::1", "2001:db8::2", 5060, 5060, BYE),
    ]
    msgs = _open(tmp_path, frames)
    assert [(m.frame, m.transport, m.sport, m.dport) for m in msgs] == [
        (1, "UDP", 5099, 15060),
        (2, "UDP", 15060, 5099),
        (4, "UDP", 5060, 5060),
    ]
    assert isinstance(msgs[0].message, Request) and msgs[0].message.method == "INVITE"
    assert isinstance(msgs[1].message, Response) and msgs[1].message.status == 200
    assert msgs[0].data == INV and msgs[0].error is None
    assert msgs[0].time == T0 / 1e9
    assert (msgs[2].src, msgs[2].dst) == ("2001:db8::1", "2001:db8::2")
    assert msgs[1].message.sdp().media[0].port == 40000


def test_unparsable_message_is_kept_with_its_reason(tmp_path: Path) -> None:
    broken = INV.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE")
    (msg,) = _open(tmp_path, [udp_frame(T0, A, B, 5060, 5060, broken)])
    assert msg.message is None and msg.error and "CSeq" in msg.error
    assert msg.data == broken


def test_tcp_segments_retransmissions_and_reordering(tmp_path: Path) -> None:
    stream = INV + ACK + BYE
    seq = 1001
    cut = len(INV) - 10
    frames = [
        tcp_frame(T0, A, B, 40000, 5068, 1000, b"", flags=0x02),
        tcp_frame(T0 + 1, A, B, 40000, 5068, seq, stream[:100]),
        tcp_frame(T0 + 2, A, B, 40000, 5068, seq + 100, stream[100:cut]),
        tcp_frame(T0 + 3, A, B, 40000, 5068, seq, stream[:100]),  # retransmitted
        # the rest, out of order: the INVITE ends and ACK + BYE arrive coalesced
        tcp_frame(T0 + 4, A, B, 40000, 5068, seq + cut + 300, stream[cut + 300 :]),
        tcp_frame(T0 + 5, A, B, 40000, 5068, seq + cut, stream[cut : cut + 300]),
        tcp_frame(T0 + 6, B, A, 5068, 40000, 9000, OK),
    ]
    msgs = _open(tmp_path, frames)
    assert [(m.frame, m.summary) for m in msgs] == [
        (6, "INVITE sip:bob@b.example SIP/2.0"),
        (6, "ACK sip:bob@b.example SIP/2.0"),
        (6, "BYE sip:bob@b.example SIP/2.0"),
        (7, "SIP/2.0 200 OK"),
    ]
    assert [m.data for m in msgs] == [INV, ACK, BYE, OK]
    assert all(m.transport == "TCP" and m.error is None for m in msgs)


def test_tcp_capture_starting_mid_message_and_lost_segment(tmp_path: Path) -> None:
    stream = INV + BYE + ACK
    frames = [
        tcp_frame(T0, A, B, 40000, 5060, 5000, stream[50 : len(INV)]),  # tail of a message
        tcp_frame(T0 + 1, A, B, 40000, 5060, 5000 + len(INV) - 50, BYE[:40]),
        # the rest of the BYE never made it into the capture
        tcp_frame(T0 + 2, A, B, 40000, 5060, 5000 + len(INV) + len(BYE) - 50, ACK),
    ]
    msgs = _open(tmp_path, frames)
    assert [(m.frame, m.summary) for m in msgs] == [(3, "ACK sip:bob@b.example SIP/2.0")]


def test_tcp_framing_error_then_recovery(tmp_path: Path) -> None:
    no_length = b"BYE sip:x@y SIP/2.0\r\nCall-ID: z\r\n\r\n"
    frames = [tcp_frame(T0, A, B, 40000, 5060, 1, INV + no_length + ACK)]
    msgs = _open(tmp_path, frames)
    assert msgs[0].summary == "INVITE sip:bob@b.example SIP/2.0"
    bad = msgs[1]
    assert bad.message is None and "Content-Length" in bad.error and bad.data == no_length
    assert msgs[2].data == ACK
