"""What an audio stream carries: G.711 decoding and a test tone's frequency, level and purity.

Sans-I/O signal maths over decoded samples (numpy). The suite's senders each send one steady
sine (the softphone 1 kHz, the Mediation Server simulator 1013 Hz), so a direction's content
is summed up by its dominant frequency, its level and the share of its power that the tone
holds; a relayed stream that carries its source's audio has the same three figures.

- G.711 (ITU-T G.711): mu-law (PCMU, payload type 0) and A-law (PCMA, 8), as the reference
  decoder (the same samples as CPython's audioop) into 16-bit linear.
- Level in dBFS as AES17 defines it: a full-scale sine is 0 dBFS, so a sine of amplitude A
  is 20 log10(A / 32768) (the simulators' amplitude 8000 is -12.2 dBFS).
- Frequency: the peak of a Hann-windowed, zero-padded spectrum, refined by a parabola
  through the log magnitudes of the three bins around it: well under 1 Hz for a steady
  tone of a few hundred milliseconds, enough to tell 1000 Hz from 1013 Hz.
- Tone share: the power within ``BAND_HZ`` of the peak over the power of the whole signal
  (its mean removed): near 1 for a clean tone (G.711's own quantisation noise is about
  35 dB below it), low for noise, garbled bytes or two tones mixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.rtp.tone import ulaw_to_linear

RATE = 8000  # G.711's sampling rate (RFC 3551 4.5.14)
FULL_SCALE = 32768.0
BAND_HZ = 25.0  # the tone's band: the Hann main lobe of a 200 ms block is +-10 Hz
FLOOR_DBFS = -120.0  # what an all-zero signal is reported as (log of 0)
BLOCK_SAMPLES = 1600  # 200 ms: the unit in which a dropout or a burst of noise is found


def _alaw_table() -> np.ndarray:
    a = np.arange(256) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108,
                                           (t + 0x108) << np.maximum(seg - 1, 0)))
    return np.where(a & 0x80, t, -t).astype(np.int16)


# the simulators' own mu-law decoder (harness.rtp.tone), as a lookup table
ULAW = np.array([ulaw_to_linear(octet) for octet in range(256)], dtype=np.int16)
ALAW = _alaw_table()
CODECS = {0: ("PCMU", ULAW), 8: ("PCMA", ALAW)}  # static payload types (RFC 3551 table 4)


def decode(octets: np.ndarray | bytes, payload_type: int) -> np.ndarray:
    """16-bit linear samples (int16) of G.711 ``octets`` of ``payload_type`` 0 or 8.
    ValueError for another payload type."""
    if payload_type not in CODECS:
        raise ValueError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA): "
                         f"only those are decoded")
    data = np.frombuffer(octets, dtype=np.uint8) if isinstance(octets, bytes) else octets
    return CODECS[payload_type][1][data.astype(np.intp)]


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (AES17: a full-scale sine is 0 dBFS)."""
    if samples.size == 0:
        return FLOOR_DBFS
    x = samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(x * x)))
    if rms <= 0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, float(20 * np.log10(rms * np.sqrt(2) / FULL_SCALE)))


@dataclass(frozen=True)
class Tone:
    """The dominant tone of a stretch of audio."""

    frequency_hz: float
    level_dbfs: float  # the whole signal's level
    share: float  # 0..1: the tone's share of the signal's power (its mean removed)
    samples: int

    @property
    def seconds(self) -> float:
        return self.samples / RATE

    def describe(self) -> str:
        return (f"{self.frequency_hz:.1f} Hz at {self.level_dbfs:.1f} dBFS, "
                f"{self.share:.1%} of the power in the tone")


def measure(samples: np.ndarray, rate: int = RATE) -> Tone:
    """The dominant frequency, level and tone share of ``samples`` (any length; fewer than
    16 samples measure as silence at 0 Hz)."""
    x = samples.astype(np.float64)
    level = level_dbfs(x)
    if x.size < 16:
        return Tone(0.0, level, 0.0, int(x.size))
    x = x - x.mean()
    power = float(np.sum(x * x))
    if power <= 0:
        return Tone(0.0, level, 0.0, int(x.size))
    windowed = x * np.hanning(x.size)
    nfft = 1 << max(int(np.ceil(np.log2(x.size))) + 3, 14)  # zero-padded: fine bins
    spectrum = np.abs(np.fft.rfft(windowed, nfft))
    k = int(np.argmax(spectrum[1:])) + 1
    frequency = k * rate / nfft
    if 1 <= k < spectrum.size - 1:
        a, b, c = np.log(spectrum[k - 1: k + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom < 0:
            frequency = (k + 0.5 * (a - c) / denom) * rate / nfft
    # The tone's share from the unpadded, unwindowed spectrum (Parseval: bins sum to power).
    full = np.abs(np.fft.rfft(x)) ** 2
    full[1:-1] *= 2  # the negative frequencies
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    in_band = float(full[np.abs(freqs - frequency) <= BAND_HZ].sum())
    share = min(1.0, in_band / float(full.sum())) if full.sum() > 0 else 0.0
    return Tone(float(frequency), level, share, int(x.size))


def blocks(samples: np.ndarray, size: int = BLOCK_SAMPLES) -> list[np.ndarray]:
    """``samples`` cut into blocks of ``size``; a last part shorter than half a block is
    dropped (too short to measure), a longer one kept."""
    out = [samples[i:i + size] for i in range(0, samples.size, size)]
    if out and out[-1].size < size // 2 and len(out) > 1:
        out.pop()
    return out
