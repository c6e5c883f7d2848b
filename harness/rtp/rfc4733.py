"""RFC 4733 telephone-event payloads (DTMF named events) and the packet plan for one event.

Payload (section 2.3)::

     0                   1                   2                   3
    |     event     |E|R| volume    |          duration             |

Standard library only. ``TelephoneEvent.parse`` raises :class:`EventParseError` (``ValueError``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness.rtp.packet import RtpParseError

EVENT_LEN = 4
DIGITS = "0123456789*#ABCD"
FLASH = 16

_FMT = struct.Struct("!BBH")


class EventParseError(RtpParseError):
    """The bytes are not a telephone-event block; ``reason`` says why."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    duration: int
    end: bool = False
    volume: int = 10
    reserved: bool = False

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse one event block; a payload that is not exactly 4 bytes is rejected."""
        if len(payload) != EVENT_LEN:
            raise EventParseError(f"telephone-event payload has {len(payload)} bytes, expected 4")
        event, flags, duration = _FMT.unpack(payload)
        return cls(
            event=event,
            duration=duration,
            end=bool(flags & 0x80),
            volume=flags & 0x3F,
            reserved=bool(flags & 0x40),
        )

    def pack(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise ValueError(f"event {self.event} out of range 0..255")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"volume {self.volume} out of range 0..63")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError(f"duration {self.duration} out of range 0..65535")
        flags = self.volume | (0x80 if self.end else 0) | (0x40 if self.reserved else 0)
        return _FMT.pack(self.event, flags, self.duration)

    @property
    def digit(self) -> str | None:
        return event_to_digit(self.event)


def digit_to_event(digit: str) -> int:
    """'0'-'9' -> 0-9, '*' -> 10, '#' -> 11, 'A'-'D' -> 12-15 (case-insensitive)."""
    index = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return index


def event_to_digit(event: int) -> str | None:
    return DIGITS[event] if 0 <= event < len(DIGITS) else None


def event_plan(
    event: int,
    duration_samples: int = 800,
    step_samples: int = 160,
    end_repeats: int = 3,
    volume: int = 10,
) -> list[list[TelephoneEvent]]:
    """The payloads to send for one event, one list per packet interval.

    Intervals 0..k-1 carry one packet whose duration grows by ``step_samples``; the last
    interval carries ``end_repeats`` packets with the E bit and the final duration
    (RFC 4733 2.5.1.3-2.5.1.4). For 100 ms at 20 ms ptime: 160, 320, 480, 640, then 3 x 800 E.
    The caller sends all packets of the event with the event's start timestamp, the marker
    bit on the very first one, and consecutive sequence numbers.
    """
    if duration_samples <= 0 or step_samples <= 0:
        raise ValueError("durations must be positive")
    plan: list[list[TelephoneEvent]] = []
    duration = step_samples
    while duration < duration_samples:
        plan.append([TelephoneEvent(event, duration, False, volume)])
        duration += step_samples
    final = TelephoneEvent(event, duration_samples, True, volume)
    plan.append([final] * end_repeats)
    return plan
