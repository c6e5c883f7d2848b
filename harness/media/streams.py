"""RTP streams of a capture: per-packet arrays, tshark-equal statistics, silence and DTMF.

A stream is what tshark calls one: source address and port, destination address and
port, SSRC. :class:`RtpStream` holds numpy arrays in capture order; :meth:`RtpStream.stats`
gives :class:`StreamStats` with tshark's ``rtp,streams`` figures (see harness.media.stats)
and the counters tshark does not print (duplicates, reordering, timestamp steps, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.capture.parallel import can_fork, split
from harness.media.figures import TsharkFigures, rel_ms, rel_seconds
from harness.media.payload_types import is_telephone_event
from harness.media.sequence import Segments
from harness.media.stats import SMALL_STREAM, analyse, analyse_segments

if TYPE_CHECKING:  # imported where used: the stream figures do not need them
    from harness.media.dtmf import DtmfEvent


@dataclass(frozen=True)
class StreamStats:
    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload: str  # tshark's payload column: names of the payload types seen
    payload_types: list[int]
    clock_rate: int
    packets: int
    expected: int  # tshark: last seq + 65536 x wraps - first seq + 1
    lost: int  # tshark: expected - packets (negative with duplicates)
    lost_percent: float
    lost_unique: int  # RFC 3550 A.3: sequence numbers never received
    duplicates: int  # packets whose (extended) sequence number was already received
    out_of_order: int  # first copies arriving after a higher sequence number
    sequence_errors: int  # tshark's count of lost/late/duplicate events
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    wrong_timestamps: int  # packets whose timestamp lies before the stream's first
    timestamp_step: int  # the usual timestamp increment between consecutive packets
    timestamp_anomalies: int  # consecutive packets of one payload type with another step
    markers: int
    ssrc_changes: int  # SSRC switches within this stream's address/port direction
    seq_cycles: int
    problem: bool  # tshark's "Problems?" column
    first_frame: int
    last_frame: int
    first_time: float  # epoch seconds
    last_time: float
    start_rel: float  # tshark's "Start time" (seconds since the capture's first frame)
    end_rel: float
    setup: str  # "SDP frame N" or "heuristic"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ssrc"] = f"0x{self.ssrc:08X}"
        for key, value in out.items():
            if key.endswith("_ms"):
                out[key] = round(value, 3)
        out["lost_percent"] = round(self.lost_percent, 1)
        return out

    def tshark_row(self) -> str:
        """This stream as tshark 4.0 prints it in ``-q -z rtp,streams``."""
        return (
            f"{self.start_rel:13.6f} {self.end_rel:13.6f} {self.src:>15} {self.src_port:5d}"
            f" {self.dst:>15} {self.dst_port:5d} 0x{self.ssrc:08X} {self.payload:>16}"
            f" {self.packets:5d} {self.lost:5d} ({self.lost_percent:.1f}%)"
            f" {self.min_delta_ms:15.3f} {self.mean_delta_ms:15.3f} {self.max_delta_ms:15.3f}"
            f" {self.min_jitter_ms:15.3f} {self.mean_jitter_ms:15.3f} {self.max_jitter_ms:15.3f}"
            f" {'X' if self.problem else ''}"
        )


@dataclass(eq=False)
class RtpStream:
    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload_types: list[int]
    clock_rate: int  # of the stream's main payload type (0: not known)
    frame: np.ndarray  # int64, 1-based
    seq: np.ndarray  # uint16, as on the wire
    timestamp: np.ndarray  # uint32, as on the wire
    marker: np.ndarray  # bool
    pt: np.ndarray  # uint8
    ts_ns: np.ndarray  # int64 epoch ns
    jitter_clock: np.ndarray  # int64 per packet: the clock tshark uses for jitter (0: none)
    pt_names: dict[int, str]  # tshark's name of each payload type (first packet's)
    rtpmap: dict[int, tuple[str, int]]  # from the SDP that set the stream up ({} if none)
    capture_start_ns: int  # time of the capture's first frame (tshark's time origin)
    setup_frame: int | None = None  # SIP frame whose SDP set the stream up; None: heuristic
    ssrc_changes: int = 0
    buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8), repr=False)
    #: (offset in ``buffer``, length on the wire) of each packet's RTP payload, or a
    #: function that computes them on first use
    payload_source: (
        tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]] | None
    ) = field(default=None, repr=False)

    @cached_property
    def time(self) -> np.ndarray:
        """Arrival times, epoch seconds (float64)."""
        return self.ts_ns / 1e9

    @cached_property
    def _payload(self) -> tuple[np.ndarray, np.ndarray]:
        if callable(self.payload_source):
            return self.payload_source()
        if self.payload_source is None:
            zero = np.zeros(self.seq.size, dtype=np.int64)
            return zero, zero
        return self.payload_source

    @property
    def payload_off(self) -> np.ndarray:
        """Offset of each packet's RTP payload in ``buffer`` (after CSRCs and extension)."""
        return self._payload[0]

    @property
    def payload_len(self) -> np.ndarray:
        """RTP payload bytes of each packet on the wire (no header, no padding)."""
        return self._payload[1]

    def __len__(self) -> int:
        return int(self.seq.size)

    def __repr__(self) -> str:
        return (
            f"RtpStream({self.src}:{self.src_port} -> {self.dst}:{self.dst_port}"
            f" ssrc=0x{self.ssrc:08X} pt={self.payload_types} packets={len(self)})"
        )

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        return (self.src, self.src_port, self.dst, self.dst_port, self.ssrc)

    def payload(self, i: int) -> bytes:
        """RTP payload of the stream's i-th packet (as captured)."""
        off = int(self.payload_off[i])
        return self.buffer[off : off + int(self.payload_len[i])].tobytes()

    def payload_bytes(self, idx: np.ndarray, width: int) -> np.ndarray:
        """First ``width`` payload bytes of the packets ``idx`` as an (N, width) array."""
        cols = np.arange(width, dtype=np.int64)
        pos = np.minimum(self.payload_off[idx, None] + cols, self.buffer.size - 1)
        return self.buffer[pos]

    @cached_property
    def _figures(self) -> TsharkFigures:
        return analyse(
            self.seq,
            self.timestamp,
            self.marker,
            self.pt,
            self.jitter_clock,
            rel_ms(self.ts_ns, self.capture_start_ns),
        )

    def tshark_figures(self) -> TsharkFigures:
        return self._figures

    def extended_seq(self) -> np.ndarray:
        """Sequence numbers unwrapped packet to packet (RFC 3550 A.1 style)."""
        seq = self.seq.astype(np.int64)
        if seq.size == 0:
            return seq
        d = np.diff(seq) & 0xFFFF
        d = np.where(d >= 0x8000, d - 0x10000, d)
        return int(seq[0]) + np.concatenate(([0], np.cumsum(d)))

    def stats(self) -> StreamStats:
        fig = self._figures
        n = int(self.seq.size)
        seq_steps: np.ndarray = np.diff(self.seq.astype(np.int64))
        step_seq = seq_steps & 0xFFFF  # forward distance
        if n < 2 or bool(np.all((step_seq >= 1) & (step_seq < 0x8000))):
            # Always forward: no duplicates, nothing late, the gaps are the losses.
            duplicates = out_of_order = 0
            lost_unique = int(step_seq.sum()) - (n - 1) if n > 1 else 0
            consecutive = step_seq == 1
        else:
            ext = self.extended_seq()
            _, first_idx = np.unique(ext, return_index=True)
            is_first = np.zeros(n, dtype=bool)
            is_first[first_idx] = True
            late = np.zeros(n, dtype=bool)
            late[1:] = ext[1:] < np.maximum.accumulate(ext)[:-1]
            duplicates = n - first_idx.size
            out_of_order = int(np.count_nonzero(late & is_first))
            lost_unique = int(ext.max() - ext.min() + 1 - first_idx.size)
            consecutive = np.diff(ext) == 1
        step, anomalies = self._timestamp_steps(consecutive)
        times = (float(self.time[0]), float(self.time[-1]))
        counts = (lost_unique, int(duplicates), out_of_order, step, anomalies)
        return self.stats_from(fig, counts, int(np.count_nonzero(self.marker)), times)

    def stats_from(
        self,
        fig: TsharkFigures,
        counts: tuple[int, int, int, int, int],
        markers: int,
        times: tuple[float, float],
    ) -> StreamStats:
        """The :class:`StreamStats` of tshark's figures and this stream's own counters
        (lost_unique, duplicates, out_of_order, timestamp step and anomalies), markers and
        first and last times (epoch s)."""
        lost_unique, duplicates, out_of_order, step, anomalies = counts
        names = ", ".join(self.pt_names[p] for p in sorted(self.pt_names))
        # tshark's figures go across as they are; the rest is this stream's own.
        shared = {f.name: getattr(fig, f.name) for f in fields(fig)}
        return StreamStats(
            src=self.src,
            src_port=self.src_port,
            dst=self.dst,
            dst_port=self.dst_port,
            ssrc=self.ssrc,
            payload=names,
            payload_types=list(self.payload_types),
            clock_rate=self.clock_rate,
            lost_unique=lost_unique,
            duplicates=duplicates,
            out_of_order=out_of_order,
            timestamp_step=step,
            timestamp_anomalies=anomalies,
            markers=markers,
            ssrc_changes=self.ssrc_changes,
            first_frame=int(self.frame[0]),
            last_frame=int(self.frame[-1]),
            first_time=times[0],
            last_time=times[1],
            start_rel=rel_seconds(int(self.ts_ns[0]), self.capture_start_ns),
            end_rel=rel_seconds(int(self.ts_ns[-1]), self.capture_start_ns),
            setup="heuristic" if self.setup_frame is None else f"SDP frame {self.setup_frame}",
            **shared,
        )

    def timestamp_events(self) -> list[int]:
        """Payload types whose timestamp steps :meth:`_timestamp_steps` leaves out (RFC 4733
        events do not advance the timestamp)."""
        events = [p for p, (name, _r) in self.rtpmap.items() if is_telephone_event(name)]
        return events if self.rtpmap else [100, 101]

    def _timestamp_steps(self, consecutive: np.ndarray) -> tuple[int, int]:
        """The usual timestamp step and the number of consecutive packets that differ.

        ``consecutive[i]``: packet i + 1 carries the sequence number after packet i's."""
        if consecutive.size == 0:
            return 0, 0
        events = self.timestamp_events()
        ok = consecutive & (self.pt[1:] == self.pt[:-1]) & ~self.marker[1:]
        for event in set(events) & set(self.payload_types):
            ok &= self.pt[1:] != event
        if not np.any(ok):
            return 0, 0
        ts_steps: np.ndarray = np.diff(self.timestamp.astype(np.int64))
        steps = (ts_steps & 0xFFFFFFFF)[ok]
        step = _mode(steps[:512])
        anomalies = int(np.count_nonzero(steps != step))
        if anomalies * 2 > steps.size:  # the sample's usual step is not the stream's
            step = _mode(steps)
            anomalies = int(np.count_nonzero(steps != step))
        return step, anomalies

    def silence_windows(
        self, min_gap_ms: float, start: float | None = None, end: float | None = None
    ) -> list[tuple[float, float]]:
        """Intervals (epoch seconds) longer than ``min_gap_ms`` without a packet."""
        from harness.media.silence import silence_windows

        return silence_windows(self.time, min_gap_ms, start, end)

    def dtmf_events(self) -> list[DtmfEvent]:
        """RFC 4733 events of this stream, each with its ``violations``."""
        from harness.media.dtmf import dtmf_events

        return dtmf_events(self)


def _mode(values: np.ndarray) -> int:
    """The most frequent value (the lowest of equals) of a non-empty array of non-negative
    integers."""
    low = int(values.min())
    if int(values.max()) - low < 1 << 16:  # counted in a small table, without sorting
        return low + int(np.argmax(np.bincount(values - low)))
    uniq, counts = np.unique(values, return_counts=True)
    return int(uniq[np.argmax(counts)])


PARALLEL_MIN = 200_000  # packets


def stats_of(streams: list[RtpStream], workers: int = 1) -> list[StreamStats]:
    """``[s.stats() for s in streams]``, the same figures bit for bit, computed on many
    streams at once (:func:`bulk_stats`); with ``workers=2`` and many packets, a
    forked process computes about half of them (Linux only; the results are the same)."""
    total = sum(len(s) for s in streams)
    if workers < 2 or total < PARALLEL_MIN or len(streams) < 2 or not can_fork():
        return bulk_stats(streams)
    sides: tuple[list[int], list[int]] = ([], [])
    load = [0, 0]
    for i in sorted(range(len(streams)), key=lambda i: -len(streams[i])):
        side = 0 if load[0] <= load[1] else 1
        sides[side].append(i)
        load[side] += len(streams[i])
    mine, theirs = split(
        lambda: bulk_stats([streams[i] for i in sides[0]]),
        lambda: bulk_stats([streams[i] for i in sides[1]]),
    )
    out: list[StreamStats | None] = [None] * len(streams)
    for idx, results in zip(sides, (mine, theirs), strict=True):
        for i, st in zip(idx, results, strict=True):
            out[i] = st
    return out  # type: ignore[return-value]


BULK_CHUNK = 1 << 17  # packets analysed together: their temporaries stay in the CPU cache


def bulk_stats(streams: list[RtpStream]) -> list[StreamStats]:
    """``[s.stats() for s in streams]``, bit for bit, with the streams' arrays end to end
    (a batch of about :data:`BULK_CHUNK` packets at a time) and one numpy step per
    operation for all of them; a stream the array path hands to a slower one (see
    :func:`~harness.media.stats.analyse_segments`) is analysed alone, as ``stats()`` does."""
    out: list[StreamStats | None] = [None] * len(streams)
    batch: list[int] = []
    size = 0
    for i, s in enumerate(streams):
        if len(s) <= SMALL_STREAM:  # the per-packet reference: no arrays to share
            out[i] = s.stats()
            continue
        batch.append(i)
        size += len(s)
        if size >= BULK_CHUNK:
            _bulk_batch(streams, batch, out)
            batch, size = [], 0
    if batch:
        _bulk_batch(streams, batch, out)
    return out  # type: ignore[return-value]


def _bulk_batch(streams: list[RtpStream], batch: list[int], out: list[StreamStats | None]) -> None:
    group = [streams[i] for i in batch]
    sizes = np.array([len(s) for s in group], dtype=np.int64)
    sg = Segments(np.concatenate(([0], np.cumsum(sizes))))
    seq = _joined([s.seq for s in group], np.uint16)
    ts = _joined([s.timestamp for s in group], np.uint32)
    marker = _joined([s.marker for s in group], np.bool_)
    pt = _joined([s.pt for s in group], np.uint8)
    ts_ns = _joined([s.ts_ns for s in group], np.int64)
    clocks = [np.asarray(s.jitter_clock, dtype=np.int64) for s in group]
    origins = {s.capture_start_ns for s in group}
    origin = (
        origins.pop()
        if len(origins) == 1
        else sg.rep(np.array([s.capture_start_ns for s in group], dtype=np.int64))
    )
    bulk = analyse_segments(seq, ts, marker, pt, clocks, rel_ms(ts_ns, origin), sg)
    del origin, clocks
    steps, anomalies = _timestamp_steps_segments(group, bulk.step, ts, marker, pt, sg)
    markers = sg.count_true(marker).tolist()
    first_time = (ts_ns[sg.first] / 1e9).tolist()
    last_time = (ts_ns[sg.last] / 1e9).tolist()
    for g, (i, s) in enumerate(zip(batch, group, strict=True)):
        fig = bulk.figures[g]
        if fig is None:
            out[i] = s.stats()
            continue
        s.__dict__["_figures"] = fig  # what the cached property would hold
        counts = (bulk.lost_unique[g], bulk.duplicates[g], bulk.out_of_order[g], steps[g],
                  anomalies[g])  # fmt: skip
        out[i] = s.stats_from(fig, counts, markers[g], (first_time[g], last_time[g]))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The arrays end to end: a view when they lie end to end in one buffer already (the
    streams of one capture, in order, are views of its grouped arrays), else a copy."""
    first = parts[0]
    if all(p.dtype == first.dtype and p.ndim == 1 and p.strides == (p.itemsize,) for p in parts):
        addr = [p.__array_interface__["data"][0] for p in parts]
        ends = [a + p.nbytes for a, p in zip(addr, parts, strict=True)]
        base = first.base if first.base is not None else first
        if (
            isinstance(base, np.ndarray)
            and base.flags.c_contiguous
            and addr[1:] == ends[:-1]
            and all(p.base is base or p is base for p in parts)
        ):
            total = sum(p.size for p in parts)
            return np.ndarray((total,), first.dtype, base, addr[0] - _address(base)).astype(
                dtype, copy=False
            )
    return np.concatenate(parts).astype(dtype, copy=False)


def _address(a: np.ndarray) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def _timestamp_steps_segments(
    group: list[RtpStream],
    step: np.ndarray,
    ts: np.ndarray,
    marker: np.ndarray,
    pt: np.ndarray,
    sg: Segments,
) -> tuple[list[int], list[int]]:
    """``RtpStream._timestamp_steps`` of each stream: (usual step, anomalies). ``step``:
    each packet's sequence number minus the previous packet's (uint16)."""
    count = sg.count
    events = np.zeros((count, 256), dtype=bool)  # by stream and payload type (uint8)
    for g, s in enumerate(group):
        for e in s.timestamp_events():
            if 0 <= e < 256:
                events[g, e] = True
    ok = step == 1
    ok[1:] &= pt[1:] == pt[:-1]
    ok &= ~marker
    ok[sg.first] = False
    used: np.ndarray = np.any(events, axis=0)
    if used.any():  # packets of an event type: left out where it is their stream's
        maybe = np.flatnonzero(used[pt] & ok)
        ok[maybe[events[sg.id[maybe], pt[maybe]]]] = False
    steps = np.empty(sg.n, dtype=np.uint32)
    steps[0] = 0
    np.subtract(ts[1:], ts[:-1], out=steps[1:])  # (uint32: the difference wraps)
    counted = sg.count_true(ok)
    step_of = np.zeros(count, dtype=np.int64)
    bounds = sg.bounds.tolist()
    for g in np.flatnonzero(counted).tolist():  # the usual step of the first 512
        lo, hi = bounds[g], bounds[g + 1]
        end = min(hi, lo + 1024)
        while True:
            part = steps[lo:end][ok[lo:end]]
            if part.size >= 512 or end == hi:
                break
            end = min(hi, lo + 4 * (end - lo))
        step_of[g] = _mode(part[:512].astype(np.int64))
    off = steps != sg.rep(step_of.astype(np.uint32))
    off &= ok
    anomalies = sg.count_true(off)
    for g in np.flatnonzero(anomalies * 2 > counted).tolist():  # not the usual step
        lo, hi = bounds[g], bounds[g + 1]
        part = steps[lo:hi][ok[lo:hi]].astype(np.int64)
        step_of[g] = _mode(part)
        anomalies[g] = np.count_nonzero(part != step_of[g])
    return step_of.tolist(), anomalies.tolist()
