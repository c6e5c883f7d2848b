"""RTP plots (PNG): inter-arrival delta and RFC 3550 jitter over time, per stream.

The series are the media engine's (harness.media.stats): the delta and the jitter of every
packet exactly as tshark's RTP analysis computes them, so the largest value drawn is the
"Max Delta" and "Max Jitter" that ``harness rtp-stats`` and ``tshark -z rtp,streams`` print.
Hold windows are shaded; tolerance lines show the nominal packet interval (20 ms) and the
largest delta allowed (60 ms by default, as the RTP checks use). Deltas above the plotted
range are drawn as triangles on the top edge with their value: red when they are not
explained by a hold, grey when the gap lies in a hold window.

matplotlib is used through its object API with the Agg canvas: no pyplot, no global
backend switch, no display needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.media import stats as _stats
from harness.media.payload_types import PT_CN, PT_CN_OLD

NOMINAL_MS = 20.0
MAX_DELTA_MS = 60.0  # harness.analysis.rtp_rules.MAX_DELTA_S
MAX_STREAMS = 16


@dataclass(frozen=True)
class StreamSeries:
    """Per-packet figures of one stream (index i: the stream's i-th packet)."""

    time: np.ndarray  # seconds since the origin
    delta_ms: np.ndarray  # arrival minus the previous in-sequence packet's arrival (0 for the first)
    jitter_ms: np.ndarray  # RFC 3550 A.8 running jitter after this packet (0: not computed)
    regular: np.ndarray  # bool: packets tshark counts in its min/mean/max figures
    has_jitter: bool  # False when the clock rate is unknown (tshark computes no jitter)


def stream_series(stream: Any, origin: float | None = None) -> StreamSeries:
    """Delta and jitter of every packet of an ``RtpStream``, as tshark 4.0 computes them.

    This is :func:`harness.media.stats.analyse` keeping the per-packet values it reduces
    to min/mean/max.
    """
    n = len(stream.seq)
    if n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return StreamSeries(empty, empty, empty, np.zeros(0, dtype=bool), False)
    ts = np.asarray(stream.timestamp, dtype=np.int64)
    pt = np.asarray(stream.pt, dtype=np.int64)
    marker = np.asarray(stream.marker, dtype=bool)
    clock = np.asarray(stream.jitter_clock, dtype=np.int64)
    t = _stats.rel_ms(stream.ts_ns, stream.capture_start_ns)
    idx = np.arange(n)

    its = _stats.in_time_sequence(ts)
    last_its = np.maximum.accumulate(np.where(its, idx, 0))
    t_prev = np.empty(n, dtype=np.float64)
    t_prev[0] = t[0]
    t_prev[1:] = t[last_its[:-1]]
    delta = np.where(its, t - t_prev, 0.0)
    delta[0] = 0.0

    jm = its & (clock != 0)
    jm[0] = False
    first_ts = int(ts[0])
    per_ms = clock // 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        nominal = np.where(jm, ((ts - first_ts) & 0xFFFFFFFF).astype(np.float64) / per_ms, 0.0)
    last_j = np.maximum.accumulate(np.where(jm, idx, -1))
    before = np.empty(n, dtype=np.int64)
    before[0] = -1
    before[1:] = last_j[:-1]
    lastnom = np.where(before >= 0, nominal[np.maximum(before, 0)], 0.0)
    jidx = np.flatnonzero(jm)
    jit = np.zeros(n, dtype=np.float64)
    if jidx.size:
        diff = np.abs(t[jidx] - (t_prev[jidx] + (nominal[jidx] - lastnom[jidx])))
        jit[jidx] = _stats.jitter_filter(diff)
        # Between jitter updates the running value stays where it was.
        held = np.maximum.accumulate(np.where(jm, idx, 0))
        jit = np.where(held > 0, jit[held], 0.0)

    cn = (pt == PT_CN) | (pt == PT_CN_OLD)
    follow_cn = np.zeros(n, dtype=bool)
    follow_cn[1:] = cn[:-1]
    regular = its & ~marker & ~cn & ~follow_cn
    regular[0] = False

    times = np.asarray(stream.time, dtype=np.float64)
    if origin is None:
        origin = stream.capture_start_ns / 1e9
    return StreamSeries(times - origin, delta, jit, regular, bool(jidx.size))


def _hold_spans(holds: Iterable[Any], a: str, b: str) -> list[tuple[float, float, str]]:
    """Hold windows that concern the hosts a and b: HoldWindow objects (matched by their
    hosts) or plain (start, end) pairs (seconds since the origin, always shown)."""
    out = []
    for h in holds:
        if isinstance(h, tuple | list):
            out.append((float(h[0]), float(h[1]), "hold"))
        elif {getattr(h, "a", None), getattr(h, "b", None)} == {a, b}:
            out.append((float(h.start), float(h.end), f"hold (a={h.direction})"))
    return out


def _label(stream: Any, names: Mapping[str, str]) -> str:
    src, dst = str(stream.src), str(stream.dst)
    who = f"{names.get(src, src)} \N{RIGHTWARDS ARROW} {names.get(dst, dst)}"
    where = f"{src}:{stream.src_port} \N{RIGHTWARDS ARROW} {dst}:{stream.dst_port}"
    return f"{who}   {where}   SSRC 0x{int(stream.ssrc):08X}   {len(stream.seq)} packets"


def plot_rtp(
    streams: Sequence[Any],
    path: str | Path,
    *,
    holds: Iterable[Any] = (),
    origin: float | None = None,
    names: Mapping[str, str] | None = None,
    nominal_ms: float = NOMINAL_MS,
    max_delta_ms: float = MAX_DELTA_MS,
    max_jitter_ms: float | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """One PNG: a row per stream, inter-arrival delta on the left, jitter on the right.

    ``holds``: hold windows (``HoldWindow`` of the ladder, shaded on the streams between
    their two hosts; or (start, end) pairs in seconds since the origin, shaded everywhere).
    ``origin``: epoch seconds of time 0 (default: the capture's first packet). Streams
    beyond MAX_STREAMS are left out and said so. Raises ValueError without streams.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    streams = [s for s in streams if len(s.seq)]
    if not streams:
        raise ValueError("no RTP streams to plot")
    names = dict(names or {})
    holds = list(holds)
    shown = streams[:MAX_STREAMS]
    rows = len(shown)
    fig = Figure(figsize=(13, 1.3 + 2.6 * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    head = title or "RTP inter-arrival delta and jitter (RFC 3550 A.8, as tshark computes them)"
    if len(streams) > rows:
        head += f"; {len(streams) - rows} more streams not shown"
    handles = [
        Line2D([], [], color="#1f4e79", marker=".", lw=0.8, label="inter-arrival delta"),
        Line2D([], [], color="#757575", marker="o", mfc="none", ls="none",
               label="marker / comfort noise / out of sequence (not in tshark's figures)"),
        Line2D([], [], color="#2e7d32", ls="--", label=f"nominal {nominal_ms:g} ms"),
        Line2D([], [], color="#c62828", ls="--", label=f"max delta {max_delta_ms:g} ms"),
        Line2D([], [], color="#6a1b9a", label="jitter (RFC 3550 A.8)"),
        Patch(color="#ffb74d", alpha=0.35, label="hold window (from the SDP)"),
    ]
    if max_jitter_ms is not None:
        handles.append(Line2D([], [], color="#c62828", ls=":", label=f"max jitter {max_jitter_ms:g} ms"))
    legend = fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=8,
                        frameon=False, title=head, title_fontsize=12)
    legend.get_title().set_fontweight("bold")
    top = max(max_delta_ms * 1.5, nominal_ms * 2.5)
    subfigs = fig.subfigures(rows, 1, squeeze=False)[:, 0]
    axes_d = []
    for stream, sub in zip(shown, subfigs, strict=True):
        series = stream_series(stream, origin)
        spans = _hold_spans(holds, str(stream.src), str(stream.dst))
        ax_d, ax_j = sub.subplots(1, 2, width_ratios=(3, 2))
        axes_d.append((ax_d, ax_j))
        _delta_axes(ax_d, series, spans, nominal_ms, max_delta_ms, top)
        _jitter_axes(ax_j, series, spans, max_jitter_ms)
        line = _label(stream, names)
        with contextlib.suppress(Exception):  # the figures line is a bonus
            st = stream.stats()
            line += (f"\ndelta max {st.max_delta_ms:.1f} ms, mean {st.mean_delta_ms:.2f} ms;"
                     f"  jitter max {st.max_jitter_ms:.2f} ms, mean {st.mean_jitter_ms:.2f} ms;"
                     f"  lost {st.lost}")
        sub.suptitle(line, fontsize=9, x=0.01, ha="left")
    # One time axis for all rows.
    lo = min(float(ax.get_xlim()[0]) for pair in axes_d for ax in pair)
    hi = max(float(ax.get_xlim()[1]) for pair in axes_d for ax in pair)
    for pair in axes_d:
        for ax in pair:
            ax.set_xlim(lo, hi)
    for ax in axes_d[-1]:
        ax.set_xlabel("time (s from the capture's first packet)")
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def _broken(t: np.ndarray, y: np.ndarray, gap_s: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaN where packets are further apart than gap_s: no line drawn across a pause."""
    if t.size < 2:
        return t, y
    cut = np.flatnonzero(np.diff(t) > gap_s) + 1
    return (np.insert(t.astype(np.float64), cut, np.nan),
            np.insert(y.astype(np.float64), cut, np.nan))


def _shade(ax: Any, spans: Sequence[tuple[float, float, str]]) -> None:
    for k, (start, end, label) in enumerate(spans):
        ax.axvspan(start, end, color="#ffb74d", alpha=0.35, lw=0)
        if k == 0:
            ax.text((start + end) / 2, 0.97, label, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8, color="#8a5300")


def _in_hold(t0: float, t1: float, spans: Sequence[tuple[float, float, str]]) -> bool:
    return any(t0 < end and t1 > start for start, end, _ in spans)


def _delta_axes(ax: Any, s: StreamSeries, spans: Sequence[tuple[float, float, str]],
                nominal_ms: float, max_delta_ms: float, top: float) -> None:
    _shade(ax, spans)
    idx = np.arange(1, s.time.size)
    reg = s.regular[idx]
    t, d = s.time[idx], s.delta_ms[idx]
    ax.plot(*_broken(t[reg], np.minimum(d[reg], top)), lw=0.8, color="#1f4e79", marker=".",
            ms=3)
    if np.any(~reg):
        ax.plot(t[~reg], np.minimum(d[~reg], top), ls="none", marker="o", ms=5, mfc="none",
                color="#757575")
    ax.axhline(nominal_ms, color="#2e7d32", ls="--", lw=1)
    ax.axhline(max_delta_ms, color="#c62828", ls="--", lw=1)
    over = np.flatnonzero(d > max_delta_ms)
    prev_t = s.time[idx - 1]
    for k in over:
        held = _in_hold(float(prev_t[k]), float(t[k]), spans)
        colour = "#757575" if held else "#c62828"
        y = min(float(d[k]), top)
        ax.plot([t[k]], [y], marker="^" if d[k] > top else "o", ms=7, color=colour, zorder=5)
    # Label the largest few excursions with their value.
    for k in over[np.argsort(-d[over])][:4] if over.size else ():
        held = _in_hold(float(prev_t[k]), float(t[k]), spans)
        ax.annotate(f"{d[k]:.0f} ms" + (" (hold)" if held else ""), (t[k], min(d[k], top)),
                    textcoords="offset points", xytext=(4, -12), fontsize=8,
                    color="#757575" if held else "#c62828")
    ax.set_ylim(0, top)
    ax.set_ylabel("delta (ms)")
    ax.grid(True, alpha=0.3)


def _jitter_axes(ax: Any, s: StreamSeries, spans: Sequence[tuple[float, float, str]],
                 max_jitter_ms: float | None) -> None:
    _shade(ax, spans)
    if not s.has_jitter:
        ax.text(0.5, 0.5, "clock rate unknown: no jitter (as tshark)", ha="center",
                va="center", transform=ax.transAxes, fontsize=9, color="#555")
    else:
        ax.plot(*_broken(s.time[1:], s.jitter_ms[1:]), lw=1, color="#6a1b9a")
    if max_jitter_ms is not None:
        ax.axhline(max_jitter_ms, color="#c62828", ls=":", lw=1)
    peak = float(s.jitter_ms.max()) if s.jitter_ms.size else 0.0
    ax.set_ylim(0, max(1.0, peak * 1.2, (max_jitter_ms or 0) * 1.2))
    ax.set_ylabel("jitter (ms)")
    ax.grid(True, alpha=0.3)
