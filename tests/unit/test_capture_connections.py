"""Attempts to reach a SIP port that failed: ICMP port unreachable on a real capture (the
Lync trunk configured over UDP, where the Mediation Server takes TCP only), and TCP SYNs
refused, unanswered or answered, built byte by byte."""

from __future__ import annotations

from pathlib import Path

from harness.capture import open_capture
from harness.capture.connections import failed_attempts
from tests.support.capgen import T0, tcp_frame, write_pcap

DATA = Path(__file__).parent / "data" / "trunk"
GW, LYNC = "192.168.100.10", "192.168.100.20"
MS = 1_000_000
SYN, SYNACK, RSTACK = 0x02, 0x12, 0x14


def test_trunk_over_udp_meets_icmp_port_unreachable() -> None:
    found = failed_attempts(open_capture(DATA / "pjsip-trunk-over-udp.pcap"))
    assert found, "the real capture's ICMP port unreachable was not found"
    first = found[0]
    assert (first.src, first.dst, first.dport, first.transport) == (GW, LYNC, 5068, "UDP")
    assert first.label == "UDP to 5068: ICMP port unreachable"


def test_refused_unanswered_and_answered_syns(tmp_path: Path) -> None:
    frames = [
        # refused: the trunk's port is closed
        tcp_frame(T0, GW, LYNC, 40001, 5068, 100, b"", flags=SYN),
        tcp_frame(T0 + 1 * MS, LYNC, GW, 5068, 40001, 0, b"", flags=RSTACK),
        # unanswered, retransmitted twice
        tcp_frame(T0 + 2 * MS, GW, LYNC, 40002, 5068, 200, b"", flags=SYN),
        tcp_frame(T0 + 1002 * MS, GW, LYNC, 40002, 5068, 200, b"", flags=SYN),
        tcp_frame(T0 + 3002 * MS, GW, LYNC, 40002, 5068, 200, b"", flags=SYN),
        # answered: a connection, not a failure
        tcp_frame(T0 + 4000 * MS, GW, LYNC, 40003, 5068, 300, b"", flags=SYN),
        tcp_frame(T0 + 4001 * MS, LYNC, GW, 5068, 40003, 900, b"", flags=SYNACK),
        # not a SIP port: not looked at
        tcp_frame(T0 + 5000 * MS, GW, LYNC, 40004, 8080, 400, b"", flags=SYN),
    ]
    found = failed_attempts(open_capture(write_pcap(tmp_path / "syns.pcap", frames)))
    assert [(a.frame, a.outcome, a.tries) for a in found] == [
        (1, "refused (RST)", 1), (3, "no answer", 3)]
    assert found[1].label == "TCP SYN \N{MULTIPLICATION SIGN}3 to 5068: no answer"
