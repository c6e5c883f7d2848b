"""Pauses of the whole test machine in a load capture (sans-I/O).

A sender that stalls leaves a gap in its own streams. When instead every RTP stream up in
the capture has a gap over the same instant (the softphone's, the Mediation Server's and
both of the gateway's, on every call up), no one sender paused: the machine did (seen on
this machine kind: 3.4 s while its virtual machine was snapshotted, "crng reseeded due to
virtual machine fork" in the kernel log). The calls that fail there still fail; their
records name the pause, so that a reader does not look for the fault in the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis.rtp_rules import MAX_DELTA_S
from harness.media.streams import RtpStream

# Two calls' four directions at least: one call's streams all pause together when it is
# held, which is no machine pause.
MIN_STREAMS = 8


@dataclass(frozen=True)
class MachinePause:
    start: float  # epoch seconds: the last packet before it, the latest of the streams'
    end: float  # the first packet after it, the earliest of the streams'
    streams: int  # streams up across it, every one with a gap there

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000

    def covers(self, start: float, end: float) -> bool:
        """True when a gap from ``start`` to ``end`` overlaps the pause."""
        return start < self.end and end > self.start


def stream_gaps(time: np.ndarray, limit_s: float = MAX_DELTA_S) -> list[tuple[float, float]]:
    """(last packet before, first packet after) of each interval over ``limit_s``."""
    if len(time) < 2:
        return []
    idx = np.nonzero(np.diff(time) > limit_s)[0]
    return [(float(time[i]), float(time[i + 1])) for i in idx]


def machine_pauses(streams: Sequence[RtpStream], limit_s: float = MAX_DELTA_S,
                   min_streams: int = MIN_STREAMS) -> list[MachinePause]:
    """Each instant over which every stream up (``min_streams`` at least) has a gap."""
    if not streams:
        return []
    times = [np.asarray(s.time) for s in streams]
    first = np.array([float(t[0]) if len(t) else np.inf for t in times])
    last = np.array([float(t[-1]) if len(t) else -np.inf for t in times])
    gaps = [stream_gaps(t, limit_s) for t in times]
    found: list[MachinePause] = []
    for gap_start, gap_end in sorted(g for per in gaps for g in per):
        if found and found[-1].covers(gap_start, gap_end):
            continue
        # the pause as this gap sees it; every stream up across it must gap there too
        up = np.nonzero((first <= gap_start) & (last >= gap_end))[0]
        if len(up) < min_streams:
            continue
        lo, hi = gap_start, gap_end
        for j in up:
            overlapping = [g for g in gaps[j] if g[0] < hi and g[1] > lo]
            if not overlapping:
                break
            lo = max(lo, min(g[0] for g in overlapping))
            hi = min(hi, max(g[1] for g in overlapping))
        else:
            if hi > lo:
                found.append(MachinePause(lo, hi, len(up)))
    return found
