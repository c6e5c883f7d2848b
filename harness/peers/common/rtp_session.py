"""One call's RTP endpoint: a PCMU tone every 20 ms on an absolute schedule, RFC 4733 DTMF,
and receive counters.

Sending: packet n leaves at ``start + n * ptime`` (``loop.time()``), with timestamp
``ts0 + n * 160``; the sequence number grows by one per packet sent. Pausing (hold) stops
the schedule; resuming re-joins the same grid, so the timestamp keeps tracking wall time
while the sequence stays continuous, and sets the marker bit on the first packet of the
new talkspurt (the very first packet has it too). One random SSRC per session (= per call
direction). DTMF events replace voice packets while they last.
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
MAX_LAG_S = 0.2  # behind schedule by more than this: skip ahead instead of bursting

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
    _start: float | None = None
    _tick: int = 0
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
        while not self._closed:
            await self._go.wait()
            now = loop.time()
            if self._start is None:
                self._start = now
                self._tick = 0
            else:
                self._tick = max(self._tick, math.ceil((now - self._start) / PTIME_S))
            marker = True
            while self._go.is_set() and not self._closed:
                target = self._start + self._tick * PTIME_S
                delay = target - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if not self._go.is_set() or self._closed:
                        break
                elif -delay > MAX_LAG_S:
                    self._tick = math.ceil((loop.time() - self._start) / PTIME_S)
                    continue
                self._send_tick(marker)
                marker = False
                self._tick += 1

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

    def _send_tick(self, marker: bool) -> None:
        if self._event is None and self._jobs and self.dtmf_payload_type is not None:
            job = self._jobs[0]
            if self._tick >= job.not_before_tick:
                digit = job.digits.popleft()
                plan = event_plan(
                    digit_to_event(digit),
                    duration_samples=job.duration_ms * 8,
                    step_samples=SAMPLES_PER_PACKET,
                )
                self._event = _ActiveEvent(
                    digit, self._timestamp(self._tick), self._tick, deque(plan)
                )
                self.on_event("dtmf_start", digit)
        elif self._jobs and self.dtmf_payload_type is None:
            job = self._jobs.popleft()
            self.on_event("dtmf_skipped", "peer did not negotiate telephone-event")
            job.done.set_result(None)
        if self._event is not None and self.dtmf_payload_type is not None:
            self._send_event_tick(self._event, self.dtmf_payload_type)
            return
        self._emit(
            self.payload_type,
            self.tone.frame(SAMPLES_PER_PACKET),
            self._timestamp(self._tick),
            marker,
        )

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
