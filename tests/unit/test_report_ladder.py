"""harness.report.ladder: the SIP ladder of a real capture, as SVG and HTML.

The reference for the arrows is tshark: the ladder must list the same SIP messages, in the
same order, with the same frame numbers, as ``tshark -Y sip`` shows them. Variants of the
real capture (no RTP, no SIP, a packet dropped) are derived from it with scapy.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis.legs import Roles
from harness.analysis.lync_flow import check_lync_flow
from harness.analysis.verdict import Verdict
from harness.capture import CapturedSip, open_capture
from harness.media.find import rtp_streams
from harness.report.ladder import (
    LadderError,
    build_ladder,
    ladder_data,
    ladder_of_capture,
    parse_role,
    render_html,
    render_svg,
    write_ladder,
)
from harness.roles import role_names
from harness.sip import parse_message

DATA = Path(__file__).parent / "data"
PCAP = DATA / "lync_outbound.pcap"
SVG_NS = "{http://www.w3.org/2000/svg}"
ROLES = role_names()
FLOW = "outbound: softphone -> Asterisk -> Lync"


# ----------------------------------------------------------------------------- helpers


def derive(dst: Path, keep) -> Path:
    """A copy of the real capture with only the packets ``keep(packet, frame)`` accepts."""
    import scapy.layers.inet  # registers IP/UDP/TCP
    import scapy.layers.l2  # noqa: F401 - registers Linux cooked v2, the capture's link type
    from scapy.utils import rdpcap, wrpcap

    packets = rdpcap(str(PCAP))
    linktype = struct.unpack_from("<I", PCAP.read_bytes(), 20)[0]
    wrpcap(str(dst), [p for n, p in enumerate(packets, 1) if keep(p, n)], linktype=linktype)
    return dst


def is_rtp(packet) -> bool:
    """Every UDP packet of this capture that is not SIP (port 5060) is RTP."""
    from scapy.layers.inet import UDP

    return UDP in packet and 5060 not in (packet[UDP].sport, packet[UDP].dport)


def tshark_sip(path: Path) -> list[tuple[int, str]]:
    """(frame, label) of every SIP message as tshark shows it: the method of a request
    line, the code and reason of a status line."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number",
         "-e", "sip.Request-Line", "-e", "sip.Status-Line"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        frame, request, status = (line.split("\t") + ["", ""])[:3]
        label = request.split(" ", 1)[0] if request else status.split(" ", 1)[1]
        rows.append((int(frame), label))
    return rows


def svg_arrows(svg: str) -> list[tuple[int, str, set[str]]]:
    """(frame, label, classes) of every arrow of an SVG ladder, top to bottom."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG_NS}g"):
        classes = set(g.get("class", "").split())
        if "msg" not in classes:
            continue
        method = next(t for t in g.iter(f"{SVG_NS}tspan") if t.get("class") == "method")
        out.append((int(g.get("data-frame")), method.text, classes))
    return out


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@pytest.fixture(scope="module")
def capture():
    return open_capture(PCAP)


@pytest.fixture(scope="module")
def ladder(capture):
    return ladder_of_capture(capture, ROLES)


# ----------------------------------------------------------------------------- the real capture


@needs_tshark
def test_arrows_are_tsharks_sip_messages_in_order(ladder):
    expected = tshark_sip(PCAP)
    assert [label for _, label in expected][:8] == [
        "INVITE", "401 Unauthorized", "ACK", "INVITE", "100 Trying", "INVITE", "100 Trying",
        "183 Session Progress",
    ]
    arrows = svg_arrows(render_svg(ladder))
    assert [(frame, label) for frame, label, _ in arrows] == expected
    assert len(arrows) == 31


@needs_tshark
def test_html_view_lists_the_same_messages_with_their_text(ladder):
    page = render_html(ladder)
    expected = tshark_sip(PCAP)
    blob = re.search(r'<script type="application/json" id="ladder-data">(.*?)</script>', page,
                     re.DOTALL).group(1)
    data = json.loads(blob)
    assert [(m["frame"], m["label"].split(" (")[0]) for m in data["messages"]] == expected
    first = data["messages"][0]
    assert first["text"].startswith("INVITE sip:+14255550150@192.168.100.10:5060 SIP/2.0")
    assert first["time"] == "0.165" and first["from"].startswith("Softphone 192.168.100.40:")
    # The SVG is inline, with the same arrows.
    svg = page[page.index("<svg"): page.index("</svg>") + 6]
    assert [(f, label) for f, label, _ in svg_arrows(svg)] == expected


def test_hosts_are_columns_named_by_role(ladder):
    assert ladder.hosts == ["192.168.100.40", "192.168.100.10", "192.168.100.20"]
    root = ET.fromstring(render_svg(ladder))
    names = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "name"]
    assert names[:3] == ["Softphone", "Asterisk", "Mediation Server"]


def test_unknown_hosts_keep_their_address(capture):
    ladder = ladder_of_capture(capture, {"192.168.100.10": "Asterisk"})
    assert ladder.name("192.168.100.20") == "192.168.100.20"
    # Known roles first, then the others in order of first appearance.
    assert ladder.hosts == ["192.168.100.10", "192.168.100.40", "192.168.100.20"]


def test_sdp_direction_and_relative_time_on_the_arrows(ladder):
    by_frame = {a.frame: a for a in ladder.arrows}
    assert by_frame[8].sdp_label == "SDP a=sendrecv"
    assert by_frame[198].sdp_label == "SDP a=inactive"  # Lync holds with inactive
    assert by_frame[201].sdp_label == "SDP a=sendonly"  # Asterisk passes it on as sendonly
    assert by_frame[203].sdp_label == "SDP a=recvonly"
    assert by_frame[218].sdp_label == "SDP a=sendrecv"
    assert by_frame[9].sdp_label is None  # 401: no SDP
    assert f"{by_frame[198].time:.3f}" == "1.177"
    root = ET.fromstring(render_svg(ladder))
    g = next(g for g in root.iter(f"{SVG_NS}g") if g.get("data-frame") == "198")
    texts = {t.get("class"): t for t in g.iter(f"{SVG_NS}text")}
    assert texts["sdp"].text == "SDP a=inactive"
    assert texts["axis"].text == "1.177"
    assert texts["frame"].text == "198"


def test_hold_windows_from_the_sdp(ladder):
    holds = [(h.a, h.b, h.direction, h.start_frame, h.end_frame) for h in ladder.holds]
    assert holds == [
        ("192.168.100.10", "192.168.100.20", "inactive", 198, 218),
        ("192.168.100.10", "192.168.100.40", "sendonly", 201, 221),
    ]
    root = ET.fromstring(render_svg(ladder))
    shaded = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "hold"]
    assert [g.get("data-start-frame") for g in shaded] == ["198", "201"]


def test_rtp_bands_with_packet_counts(ladder):
    bands = sorted((b.src, b.dst, b.packets, len(b.segments)) for b in ladder.bands)
    assert bands == [
        ("192.168.100.10", "192.168.100.20", 79, 2),  # two talk periods around the hold
        ("192.168.100.10", "192.168.100.40", 80, 2),
        ("192.168.100.20", "192.168.100.10", 80, 2),
        ("192.168.100.40", "192.168.100.10", 79, 2),
    ]
    svg = render_svg(ladder)
    root = ET.fromstring(svg)
    drawn = sorted(int(g.get("data-packets")) for g in root.iter(f"{SVG_NS}g")
                   if g.get("class") == "rtp-stream")
    assert drawn == [79, 79, 80, 80]
    assert "RTP \N{RIGHTWARDS ARROW} 79 pkts g711U 0xCA110000" in svg


def test_a_passing_verdict_draws_nothing_red(capture, ladder):
    verdict = check_lync_flow(capture.sip_messages(), capture, Roles(ROLES), PCAP, "outbound", FLOW)
    assert verdict.ok
    drawn = ladder_of_capture(capture, ROLES, verdict)
    assert not drawn.failed_frames
    svg = render_svg(drawn)
    assert all("failed" not in classes for _, _, classes in svg_arrows(svg))
    assert f"all {len(verdict.results)} checks passed" in svg


def test_a_failed_check_marks_its_frame_red_with_expected_and_actual(capture):
    verdict = Verdict(FLOW, PCAP)
    verdict.check("8", "Lync trunk (TCP)", "hold direction", False, "a=sendonly", "a=inactive", 198)
    verdict.check("1", "Lync trunk (TCP)", "INVITE transport", True, "TCP", "TCP", 13)
    verdict.check("7", "Lync trunk (TCP)", "RTP both ways", False, "media both ways", "none", None)
    ladder = ladder_of_capture(capture, ROLES, verdict)
    assert ladder.failed_frames == {198}
    svg = render_svg(ladder)
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG_NS}g"):
        if "msg" not in g.get("class", "").split():
            continue
        line = next(el for el in g.iter(f"{SVG_NS}line") if el.get("class") != "hit")
        if g.get("data-frame") == "198":
            assert "failed" in g.get("class")
            assert line.get("stroke") == "#c62828"
            notes = " ".join(t.text or "" for t in g.iter(f"{SVG_NS}text"))
            assert "expected: a=sendonly" in notes and "actual: a=inactive" in notes
            assert "step 8 [Lync trunk (TCP)] hold direction" in notes
        else:
            assert line.get("stroke") != "#c62828", g.get("data-frame")
    # A failure that is on no message is listed under the diagram.
    assert [f.subject for f in ladder.other_failures] == ["RTP both ways"]
    heading = next(t for t in root.iter(f"{SVG_NS}text") if t.get("class") == "verdict-fail")
    assert heading.text == f"{FLOW}: 2 of 3 checks failed"
    # The HTML view opens on the failed message.
    data = ladder_data(ladder)
    first = data["messages"][data["first_failure"]]
    assert first["frame"] == 198 and first["failures"][0]["expected"] == "a=sendonly"


def test_a_dropped_packet_fails_the_flow_and_the_ladder_still_draws(tmp_path, capture):
    # Drop frame 26 (the softphone's ACK to the 200 OK): step 6 on the softphone's leg fails.
    broken = derive(tmp_path / "no_ack.pcap", lambda p, frame: frame != 26)
    cap = open_capture(broken)
    verdict = check_lync_flow(cap.sip_messages(), cap, Roles(ROLES), broken, "outbound", FLOW)
    assert not verdict.ok
    ladder = ladder_of_capture(cap, ROLES, verdict)
    assert len(ladder.arrows) == 30 and 26 not in {a.frame for a in ladder.arrows}
    shown = ladder.failed_frames | {f.frame for f in ladder.other_failures}
    assert shown >= {f.frame for f in verdict.failures}
    ET.fromstring(render_svg(ladder))


# ----------------------------------------------------------------------------- other captures


@needs_tshark
def test_a_capture_without_rtp_still_gets_a_ladder(tmp_path):
    path = derive(tmp_path / "no_rtp.pcap", lambda p, _: not is_rtp(p))
    cap = open_capture(path)
    assert rtp_streams(cap) == []
    ladder = ladder_of_capture(cap, ROLES)
    assert ladder.bands == [] and len(ladder.holds) == 2
    arrows = svg_arrows(render_svg(ladder))
    assert [(f, label) for f, label, _ in arrows] == tshark_sip(path)
    assert "rtp-stream" not in render_svg(ladder)


def test_a_capture_without_sip_is_a_clear_error(tmp_path):
    path = derive(tmp_path / "rtp_only.pcap", lambda p, _: is_rtp(p))
    with pytest.raises(LadderError, match=r"^no SIP messages in the capture \(318 packets\)"):
        ladder_of_capture(path, ROLES)


def test_call_filter_keeps_one_call_and_its_rtp(capture):
    ladder = ladder_of_capture(capture, ROLES, call="301f0364")
    assert {a.call_id for a in ladder.arrows} == {"301f0364-c093-4451-97f6-19735454cbd9"}
    assert sorted(b.packets for b in ladder.bands) == [79, 80]
    assert ladder.hosts == ["192.168.100.10", "192.168.100.20"]
    with pytest.raises(LadderError, match="no SIP message with a Call-ID containing 'nope'"):
        ladder_of_capture(capture, ROLES, call="nope")


def test_write_ladder_by_suffix(tmp_path, ladder):
    svg = write_ladder(ladder, tmp_path / "l.svg").read_text()
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg')
    ET.fromstring(svg.encode())
    page = write_ladder(ladder, tmp_path / "l.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external assets
    with pytest.raises(ValueError, match="as .svg or .html"):
        write_ladder(ladder, tmp_path / "l.png")


# ----------------------------------------------------------------------------- pure functions


def record(frame, time, src, dst, data: bytes, transport="UDP"):
    """A CapturedSip, as the capture layer gives it."""
    try:
        message, error = parse_message(data), None
    except Exception as exc:  # noqa: BLE001
        message, error = None, str(exc)
    return CapturedSip(frame=frame, time=time, src=src, sport=5060, dst=dst, dport=5060,
                       transport=transport, data=data, message=message, error=error)


OPTIONS = (b"OPTIONS sip:a@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
           b"From: <sip:b@10.0.0.1>;tag=1\r\nTo: <sip:a@10.0.0.2>\r\nCall-ID: c1\r\n"
           b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nX-Note: <b>&amp;</b> \x01\r\n"
           b"Content-Length: 0\r\n\r\n")
OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
      b"From: <sip:b@10.0.0.1>;tag=1\r\nTo: <sip:a@10.0.0.2>;tag=2\r\nCall-ID: c1\r\n"
      b"CSeq: 1 OPTIONS\r\nX-Evil: </script><script>alert(1)</script>\r\n"
      b"Content-Length: 0\r\n\r\n")


def test_build_ladder_from_plain_records():
    items = [record(1, 100.0, "10.0.0.1", "10.0.0.2", OPTIONS),
             record(2, 100.5, "10.0.0.2", "10.0.0.1", OK),
             record(3, 101.0, "10.0.0.1", "10.0.0.1", b"garbage that is not SIP\r\n\r\n")]
    ladder = build_ladder(items, roles={"10.0.0.2": "Skype"})
    assert [a.label for a in ladder.arrows] == ["OPTIONS", "200 OK", "unparsable SIP"]
    assert ladder.hosts == ["10.0.0.2", "10.0.0.1"]  # Skype is a known role: first
    assert [a.time for a in ladder.arrows] == [0.0, 0.5, 1.0]
    assert ladder.bands == [] and ladder.holds == []
    svg = render_svg(ladder)
    root = ET.fromstring(svg)  # escaped and free of control characters
    arrows = svg_arrows(svg)
    assert "unparsable" in arrows[2][2]
    assert "<b>&amp;</b>" in root.find(f"{SVG_NS}g[@data-frame='1']/{SVG_NS}title").text
    page = render_html(ladder)
    assert page.count("</script>") == 2  # the message's </script> cannot end the data block
    assert "alert(1)" in page


def test_no_sip_records_is_an_error():
    with pytest.raises(LadderError):
        build_ladder([])


def test_parse_role():
    assert parse_role("10.0.0.5=Skype for SIP") == ("10.0.0.5", "Skype for SIP")
    with pytest.raises(ValueError, match="ADDR=NAME"):
        parse_role("10.0.0.5")
    assert role_names("10.77.0") == {"10.77.0.10": "Asterisk",
                                     "10.77.0.20": "Mediation Server",
                                     "10.77.0.30": "Skype",
                                     "10.77.0.40": "Softphone",
                                     "10.77.0.50": "XMPP"}
