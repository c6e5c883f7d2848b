"""The project's own captures (tcpdump -i any in the topology: Linux cooked v2, SIP over
UDP and the Lync leg over TCP 5068): SIP and RTP as tshark sees them, and the hold."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.media.find import rtp_streams
from harness.media.hold import check_hold, media_periods
from harness.sip import Request
from tests.support.capgen import our_rows, tshark_rows

HERE = Path(__file__).parent
LYNC = HERE / "data" / "lync_outbound_sll2.pcap"
# captures the topology tests left behind (finished ones: a minute old)
REPORTS = sorted(
    p
    for p in (HERE.parents[1] / "reports" / "pcaps").glob("*.pcap")
    if time.time() - p.stat().st_mtime > 60
)
DECODE_LYNC = ("-d", "tcp.port==5068,sip")
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark_sip(path: Path) -> list[tuple[int, str]]:
    out = subprocess.run(
        ["tshark", "-r", str(path), *DECODE_LYNC, "-Y", "sip", "-T", "fields",
         "-e", "frame.number", "-e", "sip.Method", "-e", "sip.Status-Code"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        frame, method, status = (line.split("\t") + ["", ""])[:3]
        # one frame may carry several messages: tshark joins their fields with commas
        for m, st in zip(method.split(","), status.split(","), strict=False):
            rows.append((int(frame), m or st))
    return rows


@needs_tshark
def test_sip_messages_as_tshark_frames_them() -> None:
    cap = open_capture(LYNC)
    ours = []
    for m in cap.sip_messages():
        assert m.message is not None, m.error
        msg = m.message
        ours.append((m.frame, msg.method if isinstance(msg, Request) else str(msg.status)))
    assert ours == _tshark_sip(LYNC)
    assert {m.transport for m in cap.sip_messages()} == {"UDP", "TCP"}


@needs_tshark
@pytest.mark.parametrize("path", [LYNC, *REPORTS], ids=lambda p: p.name)
def test_rtp_streams_equal_tshark(path: Path) -> None:
    assert our_rows(rtp_streams(open_capture(path))) == tshark_rows(
        path, heuristic=False, extra=DECODE_LYNC
    )


def test_lync_hold_is_honoured() -> None:
    cap = open_capture(LYNC)
    held = [p for p in media_periods(cap) if not p.may_send]
    # Lync holds with a=inactive (frame 198), Asterisk relays it as sendonly (frame 201)
    assert {(p.src, p.src_port, p.sdp_frame) for p in held} == {
        ("192.168.100.10", 10898, 198),
        ("192.168.100.20", 40000, 198),
        ("192.168.100.40", 6000, 201),
    }
    assert check_hold(cap) == []
