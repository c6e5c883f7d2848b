"""RFC 4733 events and their rule breaks: SIPp's DTMF pcaps and generated streams."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.media.dtmf import DtmfEvent
from harness.media.find import rtp_streams
from tests.support.capgen import (
    T0,
    rtp,
    rtp_event,
    sdp,
    sip_request,
    sip_response,
    udp_frame,
    write_pcap,
)

SIPP = Path("/usr/share/sip-tester")
A, B = "10.2.0.1", "10.2.0.2"


@pytest.mark.skipif(not SIPP.is_dir(), reason="SIPp's pcaps are not installed")
@pytest.mark.parametrize("digit", list("0123456789") + ["pound", "star"])
def test_sipp_dtmf_pcaps(digit: str) -> None:
    (stream,) = rtp_streams(open_capture(SIPP / f"dtmf_2833_{digit}.pcap"))
    (ev,) = stream.dtmf_events()
    assert ev.digit == {"pound": "#", "star": "*"}.get(digit, digit)
    assert (ev.duration, ev.duration_ms, ev.volume) == (2240, 280.0, 10)
    assert (ev.packets, ev.end_packets, ev.start_frame, ev.end_frame) == (10, 3, 1, 8)
    assert ev.violations == []


def _packets(spec: list[tuple[int, int, int, bool, int, bool]], start: int = T0) -> list:
    """(seq, ts, event, end, duration, marker) -> frames every 20 ms."""
    return [
        udp_frame(
            start + k * 20_000_000,
            A,
            B,
            30000,
            40000,
            rtp(seq, ts, 0x77, 101, rtp_event(ev, dur, end=end), marker=mk),
        )
        for k, (seq, ts, ev, end, dur, mk) in enumerate(spec)
    ]


def _digit(seq: int, ts: int, ev: int, steps: int = 5, ends: int = 3) -> list:
    out = [(seq + k, ts, ev, False, 160 * (k + 1), k == 0) for k in range(steps)]
    dur = 160 * steps
    out += [(seq + steps, ts, ev, True, dur, False)] * ends
    return out


def _events(tmp_path: Path, spec: list, with_sdp: str | None = None) -> list[DtmfEvent]:
    frames = _packets(spec, T0 + 100_000_000)
    if with_sdp:
        offer = sdp(A, 30000, [(0, None), (101, with_sdp)])
        answer = sdp(B, 40000, [(0, None), (101, with_sdp)])
        frames = [
            udp_frame(T0, A, B, 5060, 5060, sip_request("INVITE", "d1", 1, offer)),
            udp_frame(
                T0 + 1_000_000, B, A, 5060, 5060, sip_response(200, "OK", "d1", 1, "INVITE", answer)
            ),
            *frames,
        ]
    cap = open_capture(write_pcap(tmp_path / "dtmf.pcap", frames))
    (stream,) = rtp_streams(cap)
    return stream.dtmf_events()


def test_clean_digits(tmp_path: Path) -> None:
    evs = _events(tmp_path, _digit(100, 8000, 1) + _digit(108, 16000, 2) + _digit(116, 24000, 11))
    assert [e.digit for e in evs] == ["1", "2", "#"]
    assert all(e.ok for e in evs)
    assert [e.duration_ms for e in evs] == [100.0, 100.0, 100.0]


def test_no_marker_on_first_packet(tmp_path: Path) -> None:
    spec = _digit(100, 8000, 1)
    spec[0] = spec[0][:5] + (False,)
    (ev,) = _events(tmp_path, spec)
    assert ev.violations == ["no marker bit on the first packet (frame 1)"]


def test_timestamp_moving_inside_an_event(tmp_path: Path) -> None:
    spec = _digit(100, 8000, 1)
    spec[2] = (spec[2][0], 8160) + spec[2][2:]
    (ev,) = _events(tmp_path, spec)
    assert ev.violations == ["timestamp moved inside the event at frame 3 (8000 -> 8160)"]


def test_duration_going_down(tmp_path: Path) -> None:
    spec = _digit(100, 8000, 1)
    spec[3] = spec[3][:4] + (100,) + spec[3][5:]
    (ev,) = _events(tmp_path, spec)
    assert ev.violations == ["duration went down at frame 4 (480 -> 100)"]


@pytest.mark.parametrize(
    ("ends", "message"),
    [
        (1, "1 end packet (RFC 4733 sends the end 3 times)"),
        (2, "2 end packets (RFC 4733 sends the end 3 times)"),
        (0, "no end packet (E bit never set)"),
    ],
)
def test_fewer_than_three_end_packets(tmp_path: Path, ends: int, message: str) -> None:
    evs = _events(tmp_path, _digit(100, 8000, 1, ends=ends) + _digit(110, 16000, 2))
    assert evs[0].violations == [message]
    assert evs[1].ok


def test_overlapping_events(tmp_path: Path) -> None:
    # the second digit starts 400 timestamp units after the first, which lasts 800
    evs = _events(tmp_path, _digit(100, 8000, 1) + _digit(108, 8400, 2))
    assert evs[0].ok
    assert evs[1].violations == [
        "overlaps the previous event '1' (starts 400 timestamp units after it, which lasts 800)"
    ]


def test_telephone_event_clock_from_sdp(tmp_path: Path) -> None:
    (ev,) = _events(tmp_path, _digit(100, 8000, 5, steps=6), with_sdp="telephone-event/48000")
    assert (ev.digit, ev.clock_rate, ev.duration) == ("5", 48000, 960)
    assert ev.duration_ms == pytest.approx(20.0)


def test_cli_dtmf_json_and_strict(tmp_path: Path) -> None:
    spec = _digit(100, 8000, 1, ends=1)
    path = write_pcap(tmp_path / "d.pcap", _packets(spec))
    cmd = [sys.executable, "-m", "harness", "dtmf", str(path), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    (item,) = json.loads(out.stdout)
    assert item["digit"] == "1" and item["end_packets"] == 1 and item["src_port"] == 30000
    assert item["violations"] == ["1 end packet (RFC 4733 sends the end 3 times)"]
    strict = subprocess.run(cmd + ["--strict"], capture_output=True, text=True, check=False)
    assert strict.returncode == 1
    table = subprocess.run(cmd[:-1], capture_output=True, text=True, check=False).stdout
    assert "digit 1" in table and "! 1 end packet" in table
