"""Silence windows: where a direction sends no RTP for longer than a threshold.

Hold is checked by comparing these windows with the SDP direction in force at the time
(RFC 3264 section 8.4: a ``sendonly``/``inactive`` offer stops the other side's media; an
``a=inactive`` Lync hold, MS-SDPEXT 3.1.5.23, stops both). :func:`silence_windows` works on
any sorted arrival times; ``RtpStream.silence_windows`` and :func:`direction_silence`
apply it to one stream or to every stream of one direction (several SSRCs in turn).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np


class TimedStream(Protocol):
    """What :func:`direction_silence` reads of a stream (an ``RtpStream``)."""

    src: str
    src_port: int
    dst: str
    dst_port: int

    @property
    def time(self) -> np.ndarray: ...


def silence_windows(
    times: np.ndarray,
    min_gap_ms: float,
    start: float | None = None,
    end: float | None = None,
) -> list[tuple[float, float]]:
    """Intervals (epoch seconds) longer than ``min_gap_ms`` with no packet.

    ``times`` are arrival times in seconds, in any order. Without ``start``/``end`` the
    window is first to last packet; with them, the silence before the first packet after
    ``start`` and after the last packet before ``end`` counts too (a direction that never
    sends inside the window is one silence from ``start`` to ``end``).
    """
    t = np.sort(np.asarray(times, dtype=np.float64))
    if start is None:
        if t.size == 0:
            return []
        start = float(t[0])
    if end is None:
        if t.size == 0:
            return []
        end = float(t[-1])
    if end <= start:
        return []
    inside = t[(t >= start) & (t <= end)]
    edges = np.concatenate(([start], inside, [end]))
    gaps = np.diff(edges)
    limit = min_gap_ms / 1000.0
    idx = np.flatnonzero(gaps > limit)
    return [(float(edges[i]), float(edges[i + 1])) for i in idx]


def direction_silence(
    streams: Iterable[TimedStream],
    src: str, src_port: int, dst: str, dst_port: int,  # the direction
    min_gap_ms: float,
    start: float | None = None, end: float | None = None,
) -> list[tuple[float, float]]:
    """Silence windows of one direction (all its SSRCs together)."""
    parts = [
        s.time
        for s in streams
        if (s.src, s.src_port, s.dst, s.dst_port) == (src, src_port, dst, dst_port)
    ]
    times = np.concatenate(parts) if parts else np.zeros(0)
    return silence_windows(times, min_gap_ms, start, end)


def overlap(window: tuple[float, float], others: Iterable[tuple[float, float]]) -> float:
    """Seconds of ``window`` covered by the (disjoint) intervals ``others``."""
    lo, hi = window
    return sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in others)
