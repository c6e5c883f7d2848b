"""One call's RTP endpoint: a PCMU tone every 20 ms on an absolute schedule, RFC 4733 DTMF,
and receive counters.

Sending: packet n belongs to the slot that starts at ``start + n * ptime`` on the event
loop's clock, and its timestamp is ``ts0 + n * 160``; the sequence number grows by one per
packet sent. When the process was stalled (a loaded machine), the sender never sends its
backlog in a burst (``SendSchedule``): it catches up a packet every 10 ms, so a stall of up
to two packet times leaves every packet and timestamp in place and no interval over three
packet times. After a longer stall, whose gap is there anyway, or when 200 ms behind, it
drops the packets whose slots have passed and sends the current slot's. That is what
RFC 3550 section 5.1 describes for blocks not transmitted: the timestamp advances by 160
per block "regardless of whether the block is transmitted in a packet or dropped", the
sequence number only per packet sent (so a receiver counts no loss the network did not
cause, and the timestamp keeps following the sampling clock); RFC 3551 section 4.1 asks for
the marker bit on the first packet after packets were not sent contiguously. Each stall of
a packet time or more is reported as an ``rtp_late`` event. Pausing (hold) stops the
schedule; resuming re-joins the same grid (marker set), so the timestamp keeps tracking
wall time while the sequence stays continuous. The very first packet has the marker too.
One random SSRC per session (= per call direction). DTMF events replace voice packets
while they last.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from harness.rtp.packet import PT_PCMU, RtpPacket, RtpParseError, looks_like_rtcp
from harness.rtp.rfc4733 import TelephoneEvent, digit_to_event, event_plan, event_to_digit
from harness.rtp.tone import ToneGenerator

PTIME_S = 0.020
SAMPLES_PER_PACKET = 160
# After a stall, the sender catches up a packet every 10 ms; it drops what it missed instead
# when the stall left a gap over three packet times (more than a receiver's jitter buffer
# of a few packets hides, so the stream is broken there anyway), or when it is 200 ms
# behind.
MIN_GAP_S = PTIME_S / 2
CATCH_UP_S = 2 * PTIME_S
MAX_LAG_S = 0.2

EventFn = Callable[[str, str], None]


@dataclass
class RtpStats:
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0
    invalid_received: int = 0
    rtcp_received: int = 0
    dtmf_sent: str = ""
    dtmf_received: str = ""
    last_source: tuple[str, int] | None = None
    packets_skipped: int = 0  # dropped: their slots passed while the process was stalled


@dataclass
class SendSchedule:
    """When each packet goes: slot n starts at ``start + n * ptime``; ``tick`` is the next
    packet to send. Times are passed in (no clock is read here).

    A packet is due at its slot's start, or ``min_gap`` after the previous one when that is
    later: a sender that fell behind catches up at twice the packet rate, never in a burst.
    It drops the packets whose slots have passed instead, and goes on with the slot it is
    in (``take``), when the previous packet went more than ``ptime + catch_up`` ago, or
    when it is more than ``max_lag`` behind.
    """

    ptime: float = PTIME_S
    catch_up: float = CATCH_UP_S
    min_gap: float = MIN_GAP_S
    max_lag: float = MAX_LAG_S
    start: float | None = None
    tick: int = 0
    last: float | None = None  # when the previous packet went

    def join(self, now: float) -> None:
        """Start sending at ``now``: the grid begins here the first time; after a pause the
        next slot that has not begun yet is the next one sent."""
        if self.start is None:
            self.start, self.tick = now, 0
        else:
            self.tick = max(self.tick, math.ceil((now - self.start) / self.ptime))

    def slot(self, tick: int) -> float:
        assert self.start is not None, "join() first"
        return self.start + tick * self.ptime

    def due(self) -> float:
        """When packet ``tick`` may go."""
        slot = self.slot(self.tick)
        return slot if self.last is None else max(slot, self.last + self.min_gap)

    def take(self, now: float) -> int:
        """Packet ``tick`` goes at ``now``, or, after a long gap or far behind, the packet of
        the slot ``now`` falls in. Returns the packets dropped."""
        lag = now - self.slot(self.tick)
        gap = 0.0 if self.last is None else now - self.last
        if lag <= self.catch_up or (gap <= self.ptime + self.catch_up and lag <= self.max_lag):
            return 0
        current = math.floor((now - self.slot(0)) / self.ptime)
        skipped = max(current - self.tick, 0)
        self.tick += skipped
        return skipped

    def sent(self, now: float) -> None:
        self.tick += 1
        self.last = now


@dataclass
class _DtmfJob:
    digits: deque[str]
    duration_ms: int
    gap_ms: int
    done: asyncio.Future[None]
    not_before_tick: int = 0


@dataclass
class _ActiveEvent:
    digit: str
    timestamp: int
    start_tick: int
    plan: deque[list[TelephoneEvent]]
    first: bool = True


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: ignore
        pass


@dataclass
class RtpSession:
    """Create with :meth:`open`; ``close()`` releases both sockets. A subclass sees every
    valid RTP packet received through :meth:`on_packet`."""

    local_port: int
    rtp: asyncio.DatagramTransport
    rtcp: asyncio.DatagramTransport | None
    on_event: EventFn = field(default=lambda event, detail: None)
    tone: ToneGenerator = field(default_factory=ToneGenerator)
    payload_type: int = PT_PCMU
    dtmf_payload_type: int | None = 101
    receive_dtmf_payload_type: int = 101
    stats: RtpStats = field(default_factory=RtpStats)
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    _seq: int = field(default_factory=lambda: random.getrandbits(16))
    _ts0: int = field(default_factory=lambda: random.getrandbits(32))
    _remote: tuple[str, int] | None = None
    _wanted: bool = False
    _schedule: SendSchedule = field(default_factory=SendSchedule)
    _frame: bytes | None = None  # the next voice payload, made before the wait for its slot
    _go: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _closed: bool = False
    _jobs: deque[_DtmfJob] = field(default_factory=deque)
    _event: _ActiveEvent | None = None
    _rx_event_ts: int | None = None
    _used: set[int] | None = None

    @classmethod
    async def open(
        cls,
        bind_host: str,
        port_range: tuple[int, int],
        used: set[int],
        **kwargs: object,
    ) -> Self:
        """Bind an even RTP port and the RTCP port above it from ``port_range`` (inclusive),
        skipping ``used`` (updated). ``(0, 0)`` lets the OS choose. Raises OSError when full."""
        loop = asyncio.get_running_loop()
        holder: dict[str, RtpSession] = {}

        def on_rtp(data: bytes, addr: tuple[str, int]) -> None:
            if "s" in holder:
                holder["s"]._received(data, addr)

        def on_rtcp(data: bytes, addr: tuple[str, int]) -> None:
            if "s" in holder:
                holder["s"].stats.rtcp_received += 1

        first, last = port_range
        candidates: list[int] = (
            [0] * 20 if first == 0 else [p for p in range(first + first % 2, last, 2)]
        )
        for want in candidates:
            if want and (want in used or want + 1 in used):
                continue
            rtp_t = rtcp_t = None
            try:
                rtp_t, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(on_rtp), local_addr=(bind_host, want)
                )
                port = int(rtp_t.get_extra_info("sockname")[1])
                if port % 2 and want == 0:
                    raise OSError("odd port from the OS")
                rtcp_t, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(on_rtcp), local_addr=(bind_host, port + 1)
                )
            except OSError:
                if rtp_t is not None:
                    rtp_t.close()
                continue
            used.update({port, port + 1})
            session = cls(port, rtp_t, rtcp_t, _used=used, **kwargs)  # type: ignore[arg-type]
            holder["s"] = session
            return session
        raise OSError(f"no free RTP port pair in {first}-{last}")

    # -- control -------------------------------------------------------------------------

    @property
    def sending(self) -> bool:
        return self._go.is_set()

    @property
    def closed(self) -> bool:
        return self._closed

    def set_remote(self, host: str, port: int) -> None:
        """Where to send; port 0 or host 0.0.0.0 (old-style hold) means nowhere."""
        if port == 0 or host in ("0.0.0.0", ""):
            self._remote = None
        else:
            self._remote = (host, port)
        self._update()

    def set_sending(self, wanted: bool) -> None:
        self._wanted = wanted
        self._update()

    def send_digits(
        self, digits: str, duration_ms: int = 100, gap_ms: int = 50
    ) -> asyncio.Future[None]:
        """Queue DTMF digits; the future completes when the last end packet has gone out."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for d in digits:
            digit_to_event(d)  # validate early
        self._jobs.append(_DtmfJob(deque(digits.upper()), duration_ms, gap_ms, done))
        return done

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._go.clear()
        if self._task is not None:
            self._task.cancel()
        for job in self._jobs:
            if not job.done.done():
                job.done.cancel()
        self._jobs.clear()
        self.rtp.close()
        if self.rtcp is not None:
            self.rtcp.close()
        if self._used is not None:
            self._used.difference_update({self.local_port, self.local_port + 1})

    def _update(self) -> None:
        if self._closed:
            return
        if self._wanted and self._remote is not None:
            if not self._go.is_set():
                self._go.set()
                if self._task is None:
                    self._task = asyncio.get_running_loop().create_task(self._run())
        else:
            self._go.clear()

    # -- sending -------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        schedule = self._schedule
        while not self._closed:
            await self._go.wait()
            schedule.join(loop.time())
            marker = True
            while self._go.is_set() and not self._closed:
                if self._frame is None:
                    # Made before the wait: between the wake-up and the send there is only
                    # the header to pack, so a stall has less room to land in.
                    self._frame = self.tone.frame(SAMPLES_PER_PACKET)
                planned = schedule.due()
                delay = planned - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if not self._go.is_set() or self._closed:
                        break
                now = loop.time()
                skipped = schedule.take(now)
                if skipped:
                    marker = True  # RFC 3551 4.1: first packet after a break in sending
                    self._skip_event_updates(skipped)
                self._send_tick(schedule.tick, marker)
                marker = False
                schedule.sent(now)
                # Reported after the send (it takes time): each stall of a packet time or
                # more, once, with what the schedule did about it.
                self.stats.packets_skipped += skipped
                if now - planned >= PTIME_S:
                    self.on_event("rtp_late", f"woke {(now - planned) * 1000:.1f} ms late: "
                                  + (f"{skipped} packets not sent" if skipped else "catching up"))

    def _timestamp(self, tick: int) -> int:
        return (self._ts0 + tick * SAMPLES_PER_PACKET) & 0xFFFFFFFF

    def _emit(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> None:
        if self._remote is None:
            return
        packet = RtpPacket(payload_type, self._seq, timestamp, self.ssrc, payload, marker)
        self._seq = (self._seq + 1) & 0xFFFF
        try:
            self.rtp.sendto(packet.pack(), self._remote)
        except OSError as exc:
            self.on_event("rtp_error", f"send failed: {exc}")
            return
        self.stats.packets_sent += 1
        self.stats.bytes_sent += len(payload)

    def _send_tick(self, tick: int, marker: bool) -> None:
        if self._event is None and self._jobs and self.dtmf_payload_type is not None:
            job = self._jobs[0]
            if tick >= job.not_before_tick:
                digit = job.digits.popleft()
                plan = event_plan(
                    digit_to_event(digit),
                    duration_samples=job.duration_ms * 8,
                    step_samples=SAMPLES_PER_PACKET,
                )
                self._event = _ActiveEvent(digit, self._timestamp(tick), tick, deque(plan))
                self.on_event("dtmf_start", digit)
        elif self._jobs and self.dtmf_payload_type is None:
            job = self._jobs.popleft()
            self.on_event("dtmf_skipped", "peer did not negotiate telephone-event")
            job.done.set_result(None)
        if self._event is not None and self.dtmf_payload_type is not None:
            self._send_event_tick(self._event, self.dtmf_payload_type)
            return
        frame = self._frame if self._frame is not None else self.tone.frame(SAMPLES_PER_PACKET)
        self._frame = None
        self._emit(self.payload_type, frame, self._timestamp(tick), marker)

    def _skip_event_updates(self, skipped: int) -> None:
        """Slots missed during a DTMF event drop its duration updates with them; the end
        packets always go (RFC 4733 2.5.1.4: they are what a receiver must not miss)."""
        event = self._event
        if event is None:
            return
        for _ in range(min(skipped, len(event.plan) - 1)):
            event.plan.popleft()

    def _send_event_tick(self, event: _ActiveEvent, payload_type: int) -> None:
        for payload in event.plan.popleft():
            self._emit(payload_type, payload.pack(), event.timestamp, event.first)
            event.first = False
        if event.plan:
            return
        self._event = None
        self.stats.dtmf_sent += event.digit
        self.on_event("dtmf_sent", event.digit)
        job = self._jobs[0]
        if job.digits:
            span_ms = job.duration_ms + job.gap_ms
            job.not_before_tick = event.start_tick + math.ceil(span_ms / (PTIME_S * 1000))
        else:
            self._jobs.popleft()
            if not job.done.done():
                job.done.set_result(None)

    # -- receiving -----------------------------------------------------------------------

    def on_packet(self, packet: RtpPacket, addr: tuple[str, int]) -> None:
        """Called for every valid RTP packet received, once it is counted (and its RFC 4733
        event, if any, noted). Does nothing here; a subclass overrides it (e.g. to echo)."""

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        if looks_like_rtcp(data):
            self.stats.rtcp_received += 1
            return
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            self.stats.invalid_received += 1
            return
        self.stats.packets_received += 1
        self.stats.bytes_received += len(packet.payload)
        if self.stats.last_source != addr:
            self.stats.last_source = addr
            self.on_event("rtp_source", f"{addr[0]}:{addr[1]} ssrc={packet.ssrc:08x}")
        if packet.payload_type == self.receive_dtmf_payload_type and len(packet.payload) == 4:
            self._received_event(packet)
        self.on_packet(packet, addr)

    def _received_event(self, packet: RtpPacket) -> None:
        try:
            event = TelephoneEvent.parse(packet.payload)
        except ValueError:
            return
        if event.end and self._rx_event_ts != packet.timestamp:
            self._rx_event_ts = packet.timestamp
            digit = event_to_digit(event.event) or f"<{event.event}>"
            self.stats.dtmf_received += digit
            self.on_event("dtmf_received", f"{digit} duration={event.duration}")
