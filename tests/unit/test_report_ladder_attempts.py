"""Failed connections toward SIP ports on the ladder (issue 10): a failure with no SIP
answer, or no SIP at all, still draws: ICMP port unreachable on a real capture (the Lync
trunk configured over UDP), and a TCP SYN the trunk's closed port refused."""

from __future__ import annotations

from pathlib import Path

from harness.report.ladder import ladder_of_capture, render_svg
from tests.support.capgen import T0, tcp_frame, write_pcap

DATA = Path(__file__).parent / "data" / "trunk"


def test_icmp_port_unreachable_is_drawn_beside_the_sip() -> None:
    ladder = ladder_of_capture(DATA / "pjsip-trunk-over-udp.pcap")
    assert ladder.arrows, "the SIP is still drawn"
    labels = [a.label for _, a in ladder.attempts]
    assert labels and set(labels) == {"UDP to 5068: ICMP port unreachable"}
    svg = render_svg(ladder)
    assert svg.count('class="attempt failed"') == len(labels)
    assert "ICMP port unreachable" in svg


def test_a_refused_connection_draws_without_any_sip(tmp_path: Path) -> None:
    gw, lync = "192.168.100.10", "192.168.100.20"
    pcap = write_pcap(tmp_path / "refused.pcap", [
        tcp_frame(T0, gw, lync, 40001, 5068, 100, b"", flags=0x02),
        tcp_frame(T0 + 1_000_000, lync, gw, 5068, 40001, 0, b"", flags=0x14)])
    ladder = ladder_of_capture(pcap)
    assert not ladder.arrows
    assert [a.label for _, a in ladder.attempts] == ["TCP SYN to 5068: refused (RST)"]
    assert ladder.hosts == [gw, lync]
    assert "refused (RST)" in render_svg(ladder)
