"""G.711 mu-law (ITU-T G.711, the Sun/CCITT reference algorithm) and a sine tone generator.

Standard library only. ``ulaw_encode`` takes 16-bit signed linear samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_BIAS = 0x84
_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
SILENCE_ULAW = 0xFF


def linear_to_ulaw(sample: int) -> int:
    """Encode one 16-bit signed sample to a mu-law octet (same octets as CPython's audioop)."""
    pcm = max(-32768, min(32767, int(sample))) >> 2  # 14-bit, floor like the reference
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + (_BIAS >> 2)
    seg = 0
    while seg < 8 and pcm > _SEG_UEND[seg]:
        seg += 1
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def ulaw_to_linear(octet: int) -> int:
    """Decode one mu-law octet to a 16-bit signed sample."""
    octet = ~octet & 0xFF
    t = ((octet & 0x0F) << 3) + _BIAS
    t <<= (octet & 0x70) >> 4
    return (_BIAS - t) if octet & 0x80 else (t - _BIAS)


_DECODE = tuple(ulaw_to_linear(i) for i in range(256))


def ulaw_encode(samples: list[int]) -> bytes:
    return bytes(linear_to_ulaw(s) for s in samples)


def ulaw_decode(data: bytes) -> list[int]:
    return [_DECODE[b] for b in data]


@dataclass
class ToneGenerator:
    """A continuous-phase sine; ``frame()`` returns the next ``samples`` mu-law octets.

    The default level (amplitude 8000 of 32767, about -12 dBFS) is a comfortable test tone.
    """

    frequency: float = 1000.0
    amplitude: float = 8000.0
    rate: int = 8000
    _phase: float = field(default=0.0, repr=False)

    def samples(self, count: int) -> list[int]:
        step = 2 * math.pi * self.frequency / self.rate
        out = [round(self.amplitude * math.sin(self._phase + i * step)) for i in range(count)]
        self._phase = math.fmod(self._phase + count * step, 2 * math.pi)
        return out

    def frame(self, count: int = 160) -> bytes:
        return ulaw_encode(self.samples(count))
