"""RFC 4733 telephone events (DTMF) of one RTP stream, and the rules they break.

An event is the run of packets with one RTP timestamp and one event code. Checked rules
(RFC 4733 section 2.5.1):

* the first packet of an event has the marker bit (2.5.1.1);
* the RTP timestamp stays the event's start for all its packets (2.5.1.2);
* the duration never goes down within an event (2.5.1.3);
* the end of an event is sent three times (2.5.1.4: "SHOULD ... retransmitted");
* an event does not start before the previous one has ended (2.5.1.5).

A new event is recognised by its marker bit, a new event code, or a new timestamp after
the previous event ended (or with its duration starting again). A timestamp that changes
inside an event without any of those is reported as a timestamp move instead.
Only the first 4-byte block of a payload is read (RFC 4733 2.5.1.5 allows more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from harness.media.payload_types import event_clock, is_telephone_event
from harness.media.series import PacketArrays

_NAMES = "0123456789*#ABCD"
MIN_END_PACKETS = 3


def digit_name(event: int) -> str:
    if 0 <= event < len(_NAMES):
        return _NAMES[event]
    if event == 16:
        return "flash"
    return f"event {event}"


@dataclass
class DtmfEvent:
    digit: str
    event: int
    ssrc: int
    pt: int
    rtp_timestamp: int  # the event's start, in RTP timestamp units
    start_frame: int
    start_time: float  # epoch seconds of the first packet
    duration: int  # largest duration field, in timestamp units
    duration_ms: float
    volume: int  # power level, -dBm0 (0..63)
    packets: int
    end_packets: int
    end_frame: int | None  # first packet with the E bit
    last_frame: int
    clock_rate: int
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "event": self.event,
            "ssrc": f"0x{self.ssrc:08X}",
            "payload_type": self.pt,
            "rtp_timestamp": self.rtp_timestamp,
            "start_frame": self.start_frame,
            "start_time": self.start_time,
            "duration": self.duration,
            "duration_ms": round(self.duration_ms, 3),
            "volume": self.volume,
            "packets": self.packets,
            "end_packets": self.end_packets,
            "end_frame": self.end_frame,
            "last_frame": self.last_frame,
            "violations": list(self.violations),
        }


class EventStream(PacketArrays, Protocol):
    """What the DTMF reading needs of a stream (an ``RtpStream``)."""

    ssrc: int
    rtpmap: dict[int, tuple[str, int]]
    frame: np.ndarray

    @property
    def payload_len(self) -> np.ndarray: ...
    def payload_bytes(self, idx: np.ndarray, width: int) -> np.ndarray: ...


def event_payload_types(stream: EventStream) -> list[int]:
    """Payload types of the stream that carry telephone events.

    With SDP: those whose ``a=rtpmap`` says ``telephone-event``. Without: the ones tshark
    decodes as RFC 4733 by default (100 and 101) whose payloads are 4-byte multiples.
    """
    if stream.rtpmap:
        return sorted(pt for pt, (name, _r) in stream.rtpmap.items() if is_telephone_event(name))
    out = []
    for pt in (100, 101):
        sel = stream.pt == pt
        if np.any(sel) and np.all(stream.payload_len[sel] % 4 == 0):
            out.append(pt)
    return out


@dataclass
class _Building:
    ev: DtmfEvent
    last_duration: int
    ended: bool = False


def dtmf_events(stream: EventStream, pts: list[int] | None = None) -> list[DtmfEvent]:
    pts = event_payload_types(stream) if pts is None else pts
    if not pts:
        return []
    sel = np.flatnonzero(np.isin(stream.pt, pts) & (stream.payload_len >= 4))
    if sel.size == 0:
        return []
    blocks = stream.payload_bytes(sel, 4)
    events: list[DtmfEvent] = []
    cur: _Building | None = None
    for k, i in enumerate(sel.tolist()):
        code = int(blocks[k, 0])
        end = bool(blocks[k, 1] & 0x80)
        volume = int(blocks[k, 1] & 0x3F)
        duration = (int(blocks[k, 2]) << 8) | int(blocks[k, 3])
        ts = int(stream.timestamp[i])
        marker = bool(stream.marker[i])
        frame = int(stream.frame[i])
        pt = int(stream.pt[i])
        new = cur is None or code != cur.ev.event or pt != cur.ev.pt
        if not new and cur is not None and ts != cur.ev.rtp_timestamp:
            if cur.ended or marker or duration < cur.last_duration:
                new = True
            else:
                cur.ev.violations.append(
                    f"timestamp moved inside the event at frame {frame}"
                    f" ({cur.ev.rtp_timestamp} -> {ts})"
                )
        elif not new and cur is not None and marker and cur.ended:
            new = True
        if new:
            if cur is not None:
                events.append(_finish(cur))
            clock = event_clock(pt, stream.rtpmap or None)
            cur = _Building(
                DtmfEvent(
                    digit=digit_name(code),
                    event=code,
                    ssrc=stream.ssrc,
                    pt=pt,
                    rtp_timestamp=ts,
                    start_frame=frame,
                    start_time=float(stream.time[i]),
                    duration=duration,
                    duration_ms=0.0,
                    volume=volume,
                    packets=0,
                    end_packets=0,
                    end_frame=None,
                    last_frame=frame,
                    clock_rate=clock,
                ),
                last_duration=duration,
            )
            if not marker:
                cur.ev.violations.append(f"no marker bit on the first packet (frame {frame})")
        assert cur is not None
        ev = cur.ev
        if duration < cur.last_duration:
            ev.violations.append(
                f"duration went down at frame {frame} ({cur.last_duration} -> {duration})"
            )
        if cur.ended and not end:
            ev.violations.append(f"packet without the E bit after the end, frame {frame}")
        cur.last_duration = duration
        ev.duration = max(ev.duration, duration)
        ev.packets += 1
        ev.last_frame = frame
        if end:
            ev.end_packets += 1
            if ev.end_frame is None:
                ev.end_frame = frame
            cur.ended = True
    if cur is not None:
        events.append(_finish(cur))
    _check_overlaps(events)
    return events


def _finish(cur: _Building) -> DtmfEvent:
    ev = cur.ev
    ev.duration_ms = ev.duration * 1000.0 / ev.clock_rate if ev.clock_rate else 0.0
    if ev.end_packets == 0:
        ev.violations.append("no end packet (E bit never set)")
    elif ev.end_packets < MIN_END_PACKETS:
        ev.violations.append(
            f"{ev.end_packets} end packet{'s' if ev.end_packets > 1 else ''}"
            f" (RFC 4733 sends the end {MIN_END_PACKETS} times)"
        )
    return ev


def _check_overlaps(events: list[DtmfEvent]) -> None:
    for prev, ev in pairwise(events):
        if prev.ssrc != ev.ssrc:
            continue
        gap = (ev.rtp_timestamp - prev.rtp_timestamp) & 0xFFFFFFFF
        if gap >= 0x80000000:
            gap -= 0x100000000
        if gap < prev.duration:
            ev.violations.append(
                f"overlaps the previous event '{prev.digit}' (starts {gap} timestamp units"
                f" after it, which lasts {prev.duration})"
            )
