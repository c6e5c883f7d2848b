"""Which gaps and timestamp jumps of a relayed RTP stream its source stream already had.

A media relay between two call legs (Asterisk bridging the softphone and the Lync trunk)
sends each packet it receives from one leg's far end on to the other leg within a
millisecond or so, keeping the timestamps. A stall of the far end's sender therefore shows
twice: as a gap in the stream into the relay and, a moment later, as the same gap in the
stream out of it; a timestamp jump the relay copies shows twice as well. These functions
pair each irregularity of the relayed stream with the source's at the same time, so that
the checks can judge the sender where it sends and the relay only for what it added.
Arrays in, matches out: no capture is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Packets:
    """One direction's packets in arrival order: times (s), frame numbers, RTP timestamps."""

    time: np.ndarray
    frame: np.ndarray
    timestamp: np.ndarray


@dataclass(frozen=True)
class Gap:
    """An interval of the relayed stream over the limit, and the source's around it."""

    index: int  # of the interval in the relayed packets (between packet index and index + 1)
    start: float  # arrival of the relayed packet before the gap
    size: float  # s
    frame: int  # the relayed packet after the gap
    source_size: float | None  # the source's largest interval overlapping it; None: no source
    source_frame: int | None  # the source packet after that interval
    the_sources: bool  # the source's gap accounts for it (within the check's slack)


@dataclass(frozen=True)
class Jump:
    """A timestamp step of the relayed stream other than the packet's, and the source's."""

    index: int
    time: float  # arrival of the relayed packet after the step
    step: int
    frame: int
    source_frame: int | None  # the source packet after the same step; None: the source has none


def _intervals_overlapping(source: np.ndarray, lo: float, hi: float) -> range:
    """Indices j of the source's intervals (source[j], source[j + 1]) that overlap (lo, hi)."""
    if len(source) < 2:
        return range(0)
    first = max(int(np.searchsorted(source, lo, side="right")) - 1, 0)
    stop = min(int(np.searchsorted(source, hi, side="left")), len(source) - 1)
    return range(first, max(stop, first))


def relayed_gaps(relayed: Packets, source: Packets, *, limit: float, slack: float) -> list[Gap]:
    """Every interval of ``relayed`` over ``limit``, each paired with the source's largest
    interval that overlaps it in time. The gap is the source's when that interval is at
    least the relayed one minus ``slack``: what the relay added on top stays within what the
    check allows any single interval beyond the nominal one."""
    out: list[Gap] = []
    deltas = np.diff(relayed.time)
    for i in np.flatnonzero(deltas > limit):
        lo, hi = float(relayed.time[i]), float(relayed.time[i + 1])
        size = hi - lo
        js = _intervals_overlapping(source.time, lo, hi)
        if len(js):
            widths = np.diff(source.time[js.start:js.stop + 1])
            j = js.start + int(np.argmax(widths))
            src_size: float | None = float(widths.max())
            src_frame: int | None = int(source.frame[j + 1])
        else:
            src_size = src_frame = None
        out.append(Gap(int(i), lo, size, int(relayed.frame[i + 1]), src_size, src_frame,
                       src_size is not None and src_size >= size - slack))
    return out


def relayed_jumps(relayed: Packets, source: Packets, *, step: int, window: float) -> list[Jump]:
    """Every timestamp step of ``relayed`` other than ``step`` (modulo 2^32), each paired
    with an equal step of the source whose interval overlaps the relayed one widened by
    ``window`` on each side (the relay's delay)."""
    out: list[Jump] = []
    steps = np.mod(np.diff(relayed.timestamp.astype(np.int64)), 1 << 32)
    source_steps = np.mod(np.diff(source.timestamp.astype(np.int64)), 1 << 32)
    for i in np.flatnonzero(steps != step):
        lo, hi = float(relayed.time[i]) - window, float(relayed.time[i + 1]) + window
        js = _intervals_overlapping(source.time, lo, hi)
        same = [j for j in js if source_steps[j] == steps[i]]
        out.append(Jump(int(i), float(relayed.time[i + 1]), int(steps[i]),
                        int(relayed.frame[i + 1]),
                        int(source.frame[same[0] + 1]) if same else None))
    return out
