"""The simulators' RTP sender keeps an absolute 20 ms grid and does not bunch after a stall:
behind by up to 40 ms it catches up a packet every 10 ms; further behind, the packets whose
slots passed are not sent and the next one goes out with its own timestamp and the marker
bit (RFC 3550 5.1, RFC 3551 4.1); the sequence number grows by one per packet sent. Run on
an event loop with virtual time: waiting costs nothing, and a stall is a callback that
moves the clock on while it holds the loop."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from harness.peers.common.rtp_session import RtpSession, SendSchedule
from harness.rtp.packet import RtpPacket
from harness.rtp.rfc4733 import TelephoneEvent

T0 = 1000.0  # the virtual clock's start, s


@dataclass
class Clock:
    now: float = T0

    def stall(self, seconds: float) -> None:
        """Work that holds the loop (or a process that is not scheduled) for `seconds`."""
        self.now += seconds


class VirtualSelector(selectors.SelectSelector):
    """Nothing ever becomes readable; waiting for a timeout moves the clock to its end."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout:
            self.clock.now += timeout
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.clock = Clock()
        super().__init__(VirtualSelector(self.clock))

    def time(self) -> float:
        return self.clock.now


@dataclass
class Wire:
    """Stands in for the session's UDP transport: records each packet with its send time."""

    clock: Clock
    sent: list[tuple[float, RtpPacket]] = field(default_factory=list)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((self.clock.now, RtpPacket.parse(data)))

    def close(self) -> None:
        pass


@dataclass
class Run:
    session: RtpSession
    sent: list[tuple[float, RtpPacket]]
    events: list[tuple[str, str]]

    @property
    def voice(self) -> list[tuple[float, RtpPacket]]:
        return [(t, p) for t, p in self.sent if p.payload_type == 0]

    def times_ms(self) -> list[float]:
        return [round((t - T0) * 1000, 3) for t, _ in self.sent]


def run(script: Callable[[RtpSession, VirtualLoop], Awaitable[None]]) -> Run:
    """Start sending at T0, run `script`, close the session."""
    loop = VirtualLoop()
    wire = Wire(loop.clock)
    events: list[tuple[str, str]] = []

    async def main() -> RtpSession:
        session = RtpSession(0, cast(asyncio.DatagramTransport, wire), None,
                             on_event=lambda name, detail: events.append((name, detail)))
        session.set_remote("192.0.2.20", 40000)
        session.set_sending(True)
        await script(session, loop)
        session.close()
        return session

    try:
        session = loop.run_until_complete(main())
    finally:
        loop.close()
    return Run(session, wire.sent, events)


def steps(sent: list[tuple[float, RtpPacket]], attr: str, modulo: int) -> list[int]:
    values = [getattr(p, attr) for _, p in sent]
    return [(b - a) % modulo for a, b in zip(values, values[1:], strict=False)]


def stall_at(offset_s: float, seconds: float, run_s: float = 0.5
             ) -> Callable[[RtpSession, VirtualLoop], Awaitable[None]]:
    async def script(session: RtpSession, loop: VirtualLoop) -> None:
        loop.call_at(T0 + offset_s, loop.clock.stall, seconds)
        await asyncio.sleep(run_s)

    return script


async def half_a_second(session: RtpSession, loop: VirtualLoop) -> None:
    await asyncio.sleep(0.5)


# ----------------------------------------------------------------------------- the grid


def test_the_schedule_catches_up_what_it_can_and_drops_the_rest():
    s = SendSchedule()
    s.join(10.0)
    assert (s.tick, s.due()) == (0, 10.0)
    assert s.take(10.035) == 0  # 35 ms behind: caught up
    s.sent(10.035)
    assert s.due() == pytest.approx(10.045)  # slot 1 began at 10.02: 10 ms after the last
    assert s.take(10.045) == 0
    s.sent(10.045)
    assert s.due() == pytest.approx(10.055)
    s.sent(10.055)
    assert s.due() == pytest.approx(10.065)  # 5 ms behind slot 3
    s.sent(10.065)
    assert s.due() == pytest.approx(10.08)  # back on the grid
    assert s.take(10.131) == 2 and s.tick == 6  # slot 4 is 51 ms behind: 4 and 5 dropped
    s.sent(10.131)
    assert s.due() == pytest.approx(10.141)


def test_behind_without_a_long_gap_it_keeps_catching_up_up_to_200_ms():
    """A machine so busy that every wake-up comes 50-55 ms after the last packet: the lag
    grows, but no gap breaks the stream, so nothing is dropped until 200 ms behind."""
    s = SendSchedule()
    s.join(10.0)
    for now in (10.035, 10.085, 10.14, 10.195, 10.25):  # lag 35, 65, 100, 135, 170 ms
        assert s.take(now) == 0
        s.sent(now)
    assert s.take(10.305) == 10 and s.tick == 15  # slot 5 is 205 ms behind


def test_without_catch_up_a_packet_goes_in_its_own_slot_or_not_at_all():
    s = SendSchedule(catch_up=0.0)
    s.join(10.0)
    assert s.take(10.0195) == 0  # late within its own slot: still sent
    s.sent(10.0195)
    assert s.due() == pytest.approx(10.0295)  # never closer than 10 ms to the last
    assert s.take(10.091) == 3 and s.tick == 4  # slots 1-3 passed: 4 is due now


def test_resuming_rejoins_the_grid_at_the_next_slot():
    s = SendSchedule()
    s.join(10.0)
    s.sent(10.0)
    s.join(10.5031)  # after a hold: the next slot that has not begun
    assert s.tick == 26 and s.due() == pytest.approx(10.52)


def test_on_time_every_20_ms_with_plus_1_and_plus_160():
    r = run(half_a_second)
    assert r.times_ms() == [pytest.approx(20 * n) for n in range(25)]
    assert set(steps(r.sent, "sequence", 1 << 16)) == {1}
    assert set(steps(r.sent, "timestamp", 1 << 32)) == {160}
    assert [p.marker for _, p in r.sent] == [True] + [False] * 24
    assert r.session.stats.packets_skipped == 0 and not r.events


def no_burst(times: list[float]) -> bool:
    return min(b - a for a, b in zip(times, times[1:], strict=False)) >= 10.0 - 1e-6


def test_after_a_stall_of_up_to_two_packet_times_the_sender_catches_up():
    """Held 36 ms from 205 ms on: slot 11 goes 21 ms late, 12 and 13 follow 10 ms apart."""
    r = run(stall_at(0.205, 0.036))
    times = r.times_ms()
    assert times[:11] == [pytest.approx(20 * n) for n in range(11)]
    assert times[11:15] == [pytest.approx(t) for t in (241.0, 251.0, 261.0, 280.0)]
    assert no_burst(times)
    assert set(steps(r.sent, "sequence", 1 << 16)) == {1}
    assert set(steps(r.sent, "timestamp", 1 << 32)) == {160}
    assert [n for n, (_, p) in enumerate(r.sent) if p.marker] == [0]
    assert r.session.stats.packets_skipped == 0
    assert r.events == [("rtp_late", "woke 21.0 ms late: catching up")]


def test_after_a_longer_stall_the_due_packet_goes_and_the_missed_ones_do_not():
    """The issue's stall: the loop is held 71 ms from 205 ms on; slots 11 and 12 pass."""
    r = run(stall_at(0.205, 0.071))
    times = r.times_ms()
    assert times[:11] == [pytest.approx(20 * n) for n in range(11)]
    assert times[11:14] == [pytest.approx(t) for t in (276.0, 286.0, 300.0)]  # 13, 14, 15
    assert no_burst(times)
    assert set(steps(r.sent, "sequence", 1 << 16)) == {1}
    assert steps(r.sent, "timestamp", 1 << 32)[10] == 3 * 160  # the clock ran on
    assert [n for n, (_, p) in enumerate(r.sent) if p.marker] == [0, 11]
    assert r.session.stats.packets_skipped == 2
    assert r.events == [("rtp_late", "woke 56.0 ms late: 2 packets not sent")]


def test_late_within_its_slot_the_packet_still_goes():
    r = run(stall_at(0.199, 0.015))
    assert r.times_ms()[10:12] == [pytest.approx(214.0), pytest.approx(224.0)]
    assert r.times_ms()[12] == pytest.approx(240.0)
    assert set(steps(r.sent, "timestamp", 1 << 32)) == {160}
    assert r.session.stats.packets_skipped == 0 and not r.events


def test_a_long_stall_sends_one_packet_stamped_for_the_time_it_wakes():
    r = run(stall_at(0.101, 1.0, run_s=1.5))
    assert r.times_ms()[6:8] == [pytest.approx(1101.0), pytest.approx(1120.0)]
    assert steps(r.sent, "timestamp", 1 << 32)[5] == (55 - 5) * 160
    assert r.session.stats.packets_skipped == 49


def test_hold_and_resume_keep_the_grid_and_mark_the_new_talkspurt():
    async def script(session: RtpSession, loop: VirtualLoop) -> None:
        await asyncio.sleep(0.1005)
        session.set_sending(False)
        await asyncio.sleep(0.2028)
        session.set_sending(True)
        await asyncio.sleep(0.1)

    r = run(script)
    times = r.times_ms()
    assert times[5:7] == [pytest.approx(100.0), pytest.approx(320.0)]
    assert [n for n, (_, p) in enumerate(r.sent) if p.marker] == [0, 6]
    assert steps(r.sent, "timestamp", 1 << 32)[5] == 11 * 160
    assert set(steps(r.sent, "sequence", 1 << 16)) == {1}
    assert r.session.stats.packets_skipped == 0


def test_a_stall_during_a_digit_drops_updates_but_never_the_end_packets():
    async def script(session: RtpSession, loop: VirtualLoop) -> None:
        await asyncio.sleep(0.05)
        done = session.send_digits("5", duration_ms=200)
        loop.call_at(T0 + 0.105, loop.clock.stall, 0.06)  # slots 6 and 7 pass
        await done

    r = run(script)
    events = [(t, p) for t, p in r.sent if p.payload_type == 101]
    parsed = [TelephoneEvent.parse(p.payload) for _, p in events]
    assert {p.timestamp for _, p in events} == {events[0][1].timestamp}
    assert [e.end for e in parsed][-3:] == [True] * 3 and [e.duration for e in parsed][-1] == 1600
    durations = [e.duration for e in parsed if not e.end]
    assert len(durations) == 9 - 2 and durations == sorted(durations)  # 2 updates skipped
    assert r.session.stats.dtmf_sent == "5" and r.session.stats.packets_skipped == 2
    assert set(steps(r.sent, "sequence", 1 << 16)) == {1}
