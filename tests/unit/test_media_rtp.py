"""RTP (RFC 3550), RFC 4733 telephone-event and G.711 mu-law: packing round trips."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from harness.rtp.packet import RtpPacket, RtpParseError, looks_like_rtcp, seq_next, ts_next
from harness.rtp.rfc4733 import (
    EventParseError,
    TelephoneEvent,
    digit_to_event,
    event_plan,
    event_to_digit,
)
from harness.rtp.tone import (
    ToneGenerator,
    linear_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_linear,
)


def test_rtp_minimal_header_bytes() -> None:
    packet = RtpPacket(
        payload_type=0,
        sequence=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        payload=b"\xff" * 160,
        marker=True,
    )
    data = packet.pack()
    assert data[:12] == bytes.fromhex("80801234deadbeef01020304")
    assert len(data) == 172
    assert RtpPacket.parse(data) == packet


@pytest.mark.parametrize("seed", range(20))
def test_rtp_round_trip_random(seed: int) -> None:
    rnd = random.Random(seed)
    packet = RtpPacket(
        payload_type=rnd.randrange(128),
        sequence=rnd.randrange(1 << 16),
        timestamp=rnd.randrange(1 << 32),
        ssrc=rnd.randrange(1 << 32),
        payload=rnd.randbytes(rnd.randrange(0, 200)),
        marker=rnd.random() < 0.5,
        csrcs=[rnd.randrange(1 << 32) for _ in range(rnd.randrange(0, 16))],
        extension_profile=rnd.choice([None, 0xBEDE]),
        padding=rnd.choice([0, 1, 4]),
    )
    if packet.extension_profile is not None:
        packet.extension_data = rnd.randbytes(4 * rnd.randrange(0, 4))
    data = packet.pack()
    assert RtpPacket.parse(data) == packet
    assert RtpPacket.parse(data).pack() == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x00", "needs 12"),
        (bytes.fromhex("40000001000000010000000100"), "version 1"),
        (bytes.fromhex("83000001000000010000000100"), "CSRC count 3"),
        (bytes.fromhex("90000001000000010000000100"), "extension header is truncated"),
        (bytes.fromhex("a00000010000000100000001") + b"\x00", "padding count 0"),
        (bytes.fromhex("a00000010000000100000001") + b"\x09", "padding count 9"),
    ],
)
def test_rtp_parse_errors(data: bytes, reason: str) -> None:
    with pytest.raises(RtpParseError) as info:
        RtpPacket.parse(data)
    assert reason in info.value.reason


def test_rtp_pack_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="sequence"):
        RtpPacket(0, 70000, 0, 0).pack()
    with pytest.raises(ValueError, match="payload_type"):
        RtpPacket(128, 0, 0, 0).pack()


def test_rtp_helpers() -> None:
    assert seq_next(0xFFFF) == 0
    assert ts_next(0xFFFFFF00, 0x200) == 0x100
    assert looks_like_rtcp(bytes.fromhex("80c80006"))
    assert not looks_like_rtcp(RtpPacket(0, 1, 1, 1).pack())


def test_telephone_event_bytes_and_round_trip() -> None:
    event = TelephoneEvent(event=11, duration=800, end=True, volume=10)
    assert event.pack() == bytes.fromhex("0b8a0320")
    assert TelephoneEvent.parse(event.pack()) == event
    assert event.digit == "#"
    for e in range(17):
        for end in (False, True):
            te = TelephoneEvent(e, 160 * (e + 1), end, e % 64)
            assert TelephoneEvent.parse(te.pack()) == te


def test_telephone_event_errors() -> None:
    with pytest.raises(EventParseError, match="3 bytes"):
        TelephoneEvent.parse(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="volume"):
        TelephoneEvent(1, 1, volume=64).pack()
    with pytest.raises(ValueError, match="not a DTMF digit"):
        digit_to_event("x")


def test_digit_mapping() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("d") == 15
    assert event_to_digit(10) == "*"
    assert event_to_digit(16) is None


def test_event_plan_100ms() -> None:
    plan = event_plan(5, duration_samples=800, step_samples=160)
    assert [[p.duration for p in tick] for tick in plan] == [[160], [320], [480], [640], [800] * 3]
    assert [[p.end for p in tick] for tick in plan][-1] == [True, True, True]
    assert not any(p.end for tick in plan[:-1] for p in tick)


def test_ulaw_known_values_and_round_trip() -> None:
    # Reference octets (CPython's audioop.lin2ulaw gives the same).
    assert linear_to_ulaw(0) == 0xFF
    assert linear_to_ulaw(-1) == 0x7E
    assert linear_to_ulaw(100) == 0xF2
    assert linear_to_ulaw(-100) == 0x72
    assert linear_to_ulaw(1000) == 0xCE
    assert linear_to_ulaw(32767) == 0x80
    assert linear_to_ulaw(-32768) == 0x00
    assert ulaw_to_linear(0xFF) == 0
    assert ulaw_to_linear(0x80) == 32124
    for octet in range(256):  # decode then encode is the identity (except -0 -> +0)
        assert linear_to_ulaw(ulaw_to_linear(octet)) in (octet, 0xFF)
    assert ulaw_decode(ulaw_encode([0, 1000, -1000])) == [0, 988, -988]


def test_tone_generator_is_continuous_and_periodic() -> None:
    gen = ToneGenerator(frequency=1000.0, amplitude=8000.0)
    first = gen.frame(160)
    second = gen.frame(160)
    assert len(first) == 160
    assert first == second  # 1 kHz at 8 kHz: 20 whole periods per 20 ms frame
    samples = ToneGenerator(frequency=440.0).samples(8000)
    crossings = sum(1 for a, b in itertools.pairwise(samples) if a < 0 <= b)
    assert crossings in (439, 440)
    assert max(samples) == pytest.approx(8000, rel=0.01)
    assert math.isclose(sum(samples) / len(samples), 0, abs_tol=50)
