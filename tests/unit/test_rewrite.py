"""tests/support/rewrite.py: the real captures moved to another subnet and other ports, and
cut (a fault, a late start, one leg), still read as the same calls by us and by tshark."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.media.find import rtp_streams
from tests.support.paths import DATA
from tests.support.rewrite import (
    SIP_PORTS,
    Plan,
    drop,
    keep_from,
    keep_hosts,
    packets,
    plan_for,
    rewrite,
)

DEPLOYMENT = DATA / "deployment"
CAPTURES = sorted(DEPLOYMENT.glob("*.pcap"))
OUTBOUND = DEPLOYMENT / "test_outbound_softphone_calls_lync_twelve_steps.pcap"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark_sip(path: Path, trunk_port: int, udp_ports: tuple[int, ...] = ()) -> list[str]:
    # tshark knows SIP on 5060 and 5061 only: the moved ports are named to it.
    decode = [f"tcp.port=={trunk_port},sip"] + [f"udp.port=={p},sip" for p in udp_ports]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), *(a for d in decode for a in ("-d", d)), "-Y", "sip",
         "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code"],
        capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_the_captures_are_there() -> None:
    assert len(CAPTURES) == 8


@pytest.mark.parametrize("original", CAPTURES, ids=lambda p: p.stem)
def test_rewritten_capture_holds_the_same_calls_elsewhere(original: Path, tmp_path: Path) -> None:
    out = tmp_path / original.name
    plan = rewrite(original, out)
    data = out.read_bytes()
    assert b"192.168.100." not in data
    assert len(data) == original.stat().st_size

    before, after = open_capture(original), open_capture(out)
    assert after.warnings == before.warnings
    old_sip, new_sip = before.sip_messages(), after.sip_messages()
    assert len(new_sip) == len(old_sip)
    for old, new in zip(old_sip, new_sip, strict=True):
        assert new.error is None and new.message is not None, new.error
        assert (new.src, new.dst) == (plan.address(old.src), plan.address(old.dst))
        assert (new.sport, new.dport) == (plan.port(old.sport), plan.port(old.dport))
        assert new.src.startswith("172.16.200.") and new.dst.startswith("172.16.200.")
        assert new.msg.start_line.replace(" ", "") != "" and new.method == old.method
        assert new.cseq == old.cseq
    for m in new_sip:
        text = m.data.decode(errors="replace")
        for port in re.findall(r"(?:m=audio |a=rtcp:)(\d+)", text):
            assert int(port) not in plan.ports, f"frame {m.frame}: SDP port {port} kept"
        assert ":5060" not in text and ":5068" not in text

    old_streams = {(plan.address(s.src), plan.port(s.src_port), plan.address(s.dst),
                    plan.port(s.dst_port), s.ssrc): len(s.frame) for s in rtp_streams(before)}
    new_streams = {(s.src, s.src_port, s.dst, s.dst_port, s.ssrc): len(s.frame)
                   for s in rtp_streams(after)}
    assert new_streams == old_streams


@needs_tshark
@pytest.mark.parametrize("original", CAPTURES, ids=lambda p: p.stem)
def test_tshark_reads_the_rewritten_sip(original: Path, tmp_path: Path) -> None:
    out = tmp_path / original.name
    plan = rewrite(original, out)
    moved = tuple(plan.port(p) for p in sorted(plan.sip_ports))
    assert _tshark_sip(out, plan.port(5068), moved) == _tshark_sip(
        original, 5068, tuple(sorted(plan.sip_ports)))
    # Checksums were recomputed: tshark, told to verify them, finds none bad.
    bad = subprocess.run(
        ["tshark", "-n", "-r", str(out), "-o", "ip.check_checksum:TRUE", "-o",
         "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-Y",
         "ip.checksum.status==0 or udp.checksum.status==0 or tcp.checksum.status==0"],
        capture_output=True, text=True, check=True).stdout
    assert bad == ""


def test_addresses_keep_their_length_and_move_together() -> None:
    plan = Plan()
    assert plan.address("192.168.100.10") == "172.16.200.110"
    assert plan.address("192.168.100.1") == "172.16.200.11"
    assert plan.address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError, match="length"):
        plan.address("192.168.100.200")
    with pytest.raises(ValueError, match="digits"):
        Plan(ports={5060: 50600})


def test_plan_moves_sip_and_every_announced_rtp_port() -> None:
    plan = plan_for(OUTBOUND)
    for old, new in SIP_PORTS.items():
        assert plan.port(old) == new
    assert {6000, 6001, 10442, 10443, 10880, 10881, 40000, 40001} <= set(plan.ports)
    assert all(len(str(a)) == len(str(b)) and a != b for a, b in plan.ports.items())
    assert all((a - b) % 2 == 0 for a, b in plan.ports.items())


def test_text_replacements_keep_content_length(tmp_path: Path) -> None:
    plan = plan_for(OUTBOUND, text=((b"MediationServer", b"SomeSipEndpoint"),))
    out = tmp_path / "renamed.pcap"
    rewrite(OUTBOUND, out, plan)
    sip = open_capture(out).sip_messages()
    assert all(m.message is not None for m in sip)
    assert b"MediationServer" not in out.read_bytes()
    assert any("SomeSipEndpoint" in (m.msg.headers.get("Server") or "") for m in sip)


@needs_tshark
def test_dropping_a_tcp_segment_renumbers_the_stream(tmp_path: Path) -> None:
    moved = tmp_path / "moved.pcap"
    rewrite(OUTBOUND, moved)
    sip = open_capture(moved).sip_messages()
    # Asterisk's ACK to Lync's 200 OK: a TCP segment in the middle of the trunk's stream.
    ack = next(m for m in sip if m.transport == "TCP" and m.method == "ACK")
    out = tmp_path / "fault.pcap"
    assert drop(moved, out, [ack.frame]) == [ack.frame]
    after = open_capture(out).sip_messages()
    assert len(after) == len(sip) - 1
    assert all(m.message is not None for m in after)
    assert [m.data for m in after] == [m.data for m in sip if m.frame != ack.frame]
    lost = subprocess.run(
        ["tshark", "-n", "-r", str(out), "-Y",
         "tcp.analysis.lost_segment or tcp.analysis.ack_lost_segment"],
        capture_output=True, text=True, check=True).stdout
    assert lost == ""


def test_keep_from_and_keep_hosts(tmp_path: Path) -> None:
    all_packets = packets(OUTBOUND)
    t = all_packets[100].t_ns
    late = tmp_path / "late.pcap"
    dropped = keep_from(OUTBOUND, late, t)
    assert dropped == list(range(1, 101)) or dropped == [
        p.frame for p in all_packets if p.t_ns < t]
    assert min(p.t_ns for p in packets(late)) >= t

    leg = tmp_path / "leg.pcap"
    keep_hosts(OUTBOUND, leg, "192.168.100.10", "192.168.100.20")
    kept = packets(leg)
    assert kept and all({p.src, p.dst} == {"192.168.100.10", "192.168.100.20"} for p in kept)
    sip = open_capture(leg).sip_messages()
    assert sip and all(m.transport == "TCP" for m in sip)
