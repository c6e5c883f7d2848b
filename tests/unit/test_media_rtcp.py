"""RTCP: the parser on baresip's real datagrams and on built SR/RR packets, and the rules on
real captures of the suite: a 2.4 s call (no report due: what was seen is noted) and an
8.4 s one where Asterisk's sender reports are due, as captured and with one fault each
rewritten into them (no report, the wrong port, a wrong packet count, a jitter never
measured)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from harness.analysis import lync_flow
from harness.analysis.legs import LYNC_LEG
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.media.rtcp import RtcpError, parse, rtcp_packets
from harness.roles import Roles
from tests.support.rewrite import UDP, _fix_checksums, layout, read_pcap, write_pcap

DATA = Path(__file__).parent / "data" / "media"
SIPP_OUT = DATA / "asterisk22_sipp_outbound.pcap"
BARESIP_IN = DATA / "asterisk22_baresip_inbound.pcap"
# Asterisk 22 and SIPp, Lync holding after 6.8 s: Asterisk's sender reports are due
LONG = DATA / "asterisk22_sipp_inbound_8s_rtcp.pcap"
AST, MED, PHONE = "192.168.100.10", "192.168.100.20", "192.168.100.40"
AST_TO_MED = "RTCP Asterisk -> Mediation Server"


def sr(ssrc: int, count: int, blocks: bytes = b"", n_blocks: int = 0) -> bytes:
    body = struct.pack("!IIIIII", ssrc, 0xE0000000, 0, 1234, count, count * 160) + blocks
    return struct.pack("!BBH", 0x80 | n_blocks, 200, len(body) // 4) + body


def block(ssrc: int, lost: int, jitter: int) -> bytes:
    return struct.pack("!IIIIII", ssrc, lost & 0xFFFFFF, 100, jitter, 0, 0)


def test_parser_reads_sr_with_a_block_and_a_compound():
    data = sr(0x11, 50, block(0x22, -1, 80), 1) + struct.pack("!BBHI", 0x81, 203, 1, 0x11)
    first, bye = parse(data)
    assert (first.name, first.ssrc, first.packet_count) == ("SR", 0x11, 50)
    rb = first.reports[0]
    assert (rb.ssrc, rb.cumulative_lost, rb.jitter_ms()) == (0x22, -1, 10.0)
    assert bye.name == "BYE"


@pytest.mark.parametrize("data, problem", [
    (b"\x80\xc8\x00\x06" + b"\0" * 8, "says 28 octets"),
    (b"\x40\xc9\x00\x01\0\0\0\0", "version 1"),
    (b"\x80\x60\x00\x01\0\0\0\0", "packet type 96"),
])
def test_parser_names_what_is_wrong(data, problem):
    with pytest.raises(RtcpError, match=problem):
        parse(data)


def test_baresip_sends_app_and_bye_but_no_reports_in_a_short_call():
    seen = rtcp_packets(open_capture(BARESIP_IN))
    assert [c.types for c in seen] == [["APP"], ["APP"], ["APP"], ["BYE", "SDES"]]
    assert {(c.src, c.dport % 2) for c in seen} == {(PHONE, 1)}  # to Asterisk's RTP port + 1


def verdict_of(path: Path, direction: str = "outbound") -> Verdict:
    cap = open_capture(path)
    prefix = ".".join(cap.src(0).split(".")[:3])  # the long call ran on another subnet
    roles = Roles({f"{prefix}.10": "Asterisk", f"{prefix}.20": "Mediation Server",
                   f"{prefix}.40": "Softphone"})
    return lync_flow.check_lync_flow(cap.sip_messages(), cap, roles, path, direction, "x")


def test_a_short_call_owes_no_report_and_says_what_it_saw():
    v = verdict_of(SIPP_OUT)
    assert v.ok, v.report()
    assert not [r for r in v.results if r.subject.startswith("RTCP")]
    notes = [n for n in v.notes if n.startswith("RTCP on the")]
    assert len(notes) == 2 and "none due in 2.4 s of media" in notes[0], notes
    assert "Asterisk -> Mediation Server: no RTCP" in notes[0]


def test_asterisks_reports_in_a_long_call_pass():
    # 8.4 s of media: Asterisk's SR at 5 s to a=rtcp:40001 and to SIPp's port + 1; the
    # Mediation Server simulator and SIPp send none (noted, not judged)
    v = verdict_of(LONG, "inbound")
    assert v.ok, v.report()
    subjects = {(r.leg, r.subject) for r in v.results if r.subject.startswith("RTCP")}
    assert len(subjects) == 8
    counts = next(r for r in v.results if r.subject == f"{AST_TO_MED} SR packet count")
    assert counts.actual.startswith("250 vs 250"), counts
    assert any("Mediation Server -> Asterisk: no RTCP; not judged" in n for n in v.notes)


def rewrite_rtcp(tmp_path: Path, change) -> Path:
    """The long capture with each SR from Asterisk to the Mediation Server changed in
    place by ``change(record data, rtcp offset, udp offset)``, checksums recomputed."""
    pcap = read_pcap(LONG)
    med = None
    n = 0
    for r in pcap.records:
        lay = layout(pcap.linktype, r.data)
        if lay.proto != UDP or lay.payload < 0 or lay.end - lay.payload < 28:
            continue
        dst = ".".join(str(b) for b in r.data[lay.ip + 16: lay.ip + 20])
        src = ".".join(str(b) for b in r.data[lay.ip + 12: lay.ip + 16])
        med = med or (dst if struct.unpack("!H", r.data[lay.l4 + 2: lay.l4 + 4])[0] == 40001
                      else None)
        if r.data[lay.payload + 1] == 200 and src.endswith(".10") and dst == med:
            change(r.data, lay.payload, lay.l4)
            _fix_checksums(r.data, lay)
            n += 1
    assert n, "no SR from Asterisk to the Mediation Server"
    out = tmp_path / "rtcp.pcap"
    write_pcap(pcap, out)
    return out


def failed(v: Verdict) -> dict[str, str]:
    return {r.subject: r.actual for r in v.failures if r.leg == LYNC_LEG}


def test_no_report_from_the_gateway_fails(tmp_path):
    def not_rtcp(data, at, _l4):  # the datagram no longer reads as RTCP
        data[at] = 0x00

    actual = failed(verdict_of(rewrite_rtcp(tmp_path, not_rtcp), "inbound"))
    assert actual[f"{AST_TO_MED} reports"] == "no RTCP"


def test_report_to_the_wrong_port_fails(tmp_path):
    def port(data, _at, l4):
        data[l4 + 2: l4 + 4] = struct.pack("!H", 40003)

    actual = failed(verdict_of(rewrite_rtcp(tmp_path, port), "inbound"))
    assert actual[f"{AST_TO_MED} port"] == "port 40003"


def test_sender_report_counting_packets_it_did_not_send_fails(tmp_path):
    def count(data, at, _l4):
        old = struct.unpack("!I", data[at + 20: at + 24])[0]
        data[at + 20: at + 24] = struct.pack("!I", old + 100)

    actual = failed(verdict_of(rewrite_rtcp(tmp_path, count), "inbound"))
    assert actual[f"{AST_TO_MED} SR packet count"].startswith("350 vs 250")


def test_receiver_report_with_jitter_never_measured_fails(tmp_path):
    def jitter(data, at, _l4):  # 400 samples: 50 ms
        data[at + 40: at + 44] = struct.pack("!I", 400)

    actual = failed(verdict_of(rewrite_rtcp(tmp_path, jitter), "inbound"))
    assert "jitter 50.00 ms" in actual[f"{AST_TO_MED} report blocks"]
