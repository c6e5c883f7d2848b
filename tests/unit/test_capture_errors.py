"""Bad input: one clear line naming the problem (and the packet), figures for what could be
read, never a traceback."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture import CaptureError, open_capture
from harness.media.find import rtp_streams
from tests.support.capgen import (
    ETHERNET,
    T0,
    Frame,
    Iface,
    StreamSpec,
    ip_udp,
    link,
    merge,
    sdp,
    sip_request,
    sip_response,
    udp_frame,
    write_pcap,
    write_pcapng,
)


def _good(tmp_path: Path, count: int = 60) -> Path:
    a = StreamSpec("10.0.0.1", 4000, "10.0.0.2", 4002, ssrc=1, count=count, seed=1)
    b = StreamSpec("10.0.0.2", 4002, "10.0.0.1", 4000, ssrc=2, count=count, seed=2)
    return write_pcap(tmp_path / "good.pcap", merge(a.frames(), b.frames()))


def _cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "rtp-stats", str(path), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file: not a capture"),
        (b"\xd4\xc3", "not a capture file: only 2 bytes"),
        (b'<?xml version="1.0"?>', "not a pcap or pcapng file: it starts with '<?xml ve'"),
        (
            b"\x00\x01\x02\x03\x04\x05\x06\x07",
            "not a pcap or pcapng file: it starts with '00 01 02 03 04 05 06 07'",
        ),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header: 6 of 24 bytes"),
        (
            b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a",
            "truncated pcapng section header: 12 of 28 bytes",
        ),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert info.value.reason == reason
    assert str(info.value) == reason and info.value.path == str(path)
    out = _cli(path)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"harness rtp-stats: {path}: {reason}\n"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path, reason in ((tmp_path / "nope.pcap", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(CaptureError, match=reason):
            open_capture(path)
        out = _cli(path)
        assert out.returncode == 1 and out.stderr.count("\n") == 1 and reason in out.stderr


def test_unknown_link_type(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "wifi.pcap", [Frame(T0, b"\x00" * 40)], linktype=105)
    with pytest.raises(CaptureError, match=r"unsupported link type 105 \(IEEE 802.11\)"):
        open_capture(path)


def test_unknown_link_type_on_one_interface(tmp_path: Path) -> None:
    frames = [udp_frame(T0, "10.0.0.1", "10.0.0.2", 1, 2, b"x"), Frame(T0 + 1, b"\0" * 30, iface=1)]
    cap = open_capture(write_pcapng(tmp_path / "two.pcapng", frames, [Iface(ETHERNET), Iface(147)]))
    assert cap.warnings == [
        "link type 147 (user 0) is not supported: 1 packets skipped (first is packet 2)"
    ]
    assert cap.payload(0) == b"x"


def test_truncated_last_packet(tmp_path: Path) -> None:
    good = _good(tmp_path)
    data = good.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-50])
    cap = open_capture(cut)
    assert cap.warnings == ["packet 120: cut short (164 of 214 bytes)"]
    assert sum(len(s) for s in rtp_streams(cap)) == 119
    out = _cli(cut)
    assert out.returncode == 0
    assert (
        out.stderr
        == f"harness rtp-stats: warning: {cut}: packet 120: cut short (164 of 214 bytes)\n"
    )
    assert "0x00000001" in out.stdout and "0x00000002" in out.stdout


def test_truncated_pcapng_block(tmp_path: Path) -> None:
    frames = StreamSpec("10.0.0.1", 4000, "10.0.0.2", 4002, count=30).frames()
    path = write_pcapng(tmp_path / "c.pcapng", frames)
    path.write_bytes(path.read_bytes()[:-7])
    cap = open_capture(path)
    assert cap.warnings == ["packet 30: block cut short (241 of 248 bytes)"]
    assert len(cap) == 29


def test_corrupt_record_length(tmp_path: Path) -> None:
    data = bytearray(_good(tmp_path).read_bytes())
    off = 24
    for _ in range(9):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    data[off + 8 : off + 12] = struct.pack("<I", 10_000_000)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    cap = open_capture(path)
    assert cap.warnings == [
        "packet 10: corrupt record (captured length 10000000 > 262144); the rest of the file"
        + " is ignored"
    ]
    assert len(cap) == 9


def test_garbage_inside_packets(tmp_path: Path) -> None:
    good = [udp_frame(T0 + k, "10.0.0.1", "10.0.0.2", 1, 2, b"ok") for k in range(3)]
    bad_ip = Frame(T0 + 5, link(ETHERNET, b"\x41" + ip_udp("10.0.0.1", "10.0.0.2", 1, 2, b"x")[1:]))
    bad_udp = ip_udp("10.0.0.1", "10.0.0.2", 1, 2, b"x")
    bad_udp = bad_udp[:24] + b"\x00\x03" + bad_udp[26:]  # UDP length 3
    short = Frame(T0 + 7, link(ETHERNET, ip_udp("10.0.0.1", "10.0.0.2", 1, 2, b""))[:30])
    frames = [good[0], bad_ip, good[1], Frame(T0 + 6, link(ETHERNET, bad_udp)), short, good[2]]
    cap = open_capture(write_pcap(tmp_path / "g.pcap", frames))
    assert cap.warnings == [
        "packet 2: bad IPv4 header (version or length fields)",
        "packet 4: bad UDP length field",
        "packet 5: IPv4 header cut short",
    ]
    assert [cap.payload(i) for i in (0, 2, 5)] == [b"ok"] * 3


def _exercise(path: Path) -> None:
    try:
        cap = open_capture(path)
    except CaptureError:
        return
    for msg in cap.sip_messages():
        assert msg.message is not None or msg.error
    for stream in rtp_streams(cap, heuristic=True):
        stream.stats().tshark_row()
        stream.dtmf_events()
        stream.silence_windows(100)


def test_fuzzed_captures_never_raise(tmp_path: Path) -> None:
    offer = sdp("10.0.0.1", 4000, [(0, None), (101, "telephone-event/8000")])
    answer = sdp("10.0.0.2", 4002, [(0, None), (101, "telephone-event/8000")])
    sig = [
        udp_frame(T0 - 2, "10.0.0.1", "10.0.0.2", 5060, 5060, sip_request("INVITE", "f", 1, offer)),
        udp_frame(
            T0 - 1,
            "10.0.0.2",
            "10.0.0.1",
            5060,
            5060,
            sip_response(200, "OK", "f", 1, "INVITE", answer),
        ),
    ]
    frames = merge(sig, StreamSpec("10.0.0.1", 4000, "10.0.0.2", 4002, count=40).frames())
    base = write_pcap(tmp_path / "base.pcap", frames).read_bytes()
    ng = write_pcapng(tmp_path / "base.pcapng", frames).read_bytes()
    rng = random.Random(5)
    path = tmp_path / "fuzz.bin"
    for trial in range(150):
        data = bytearray(base if trial % 2 else ng)
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if trial % 3 == 0:
            del data[rng.randrange(len(data)) :]
        path.write_bytes(bytes(data))
        _exercise(path)
    for _trial in range(20):
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000))))
        _exercise(path)
