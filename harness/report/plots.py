"""RTP plots (PNG): inter-arrival delta and RFC 3550 jitter over time, per stream.

The series are the media engine's (harness.media.series): the delta and the jitter of every
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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.media.hold import HoldWindow
from harness.media.series import StreamSeries, stream_series
from harness.media.streams import RtpStream

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NOMINAL_MS = 20.0
MAX_DELTA_MS = 60.0  # harness.analysis.rtp_rules.MAX_DELTA_S
MAX_STREAMS = 16


def _hold_spans(
    holds: Iterable[HoldWindow | tuple[float, float]], a: str, b: str
) -> list[tuple[float, float, str]]:
    """Hold windows that concern the hosts a and b: a HoldWindow between them, or a plain
    (start, end) pair (seconds since the origin, always shown)."""
    out = []
    for h in holds:
        if isinstance(h, HoldWindow):
            if {h.a, h.b} == {a, b}:
                out.append((h.start, h.end, f"hold (a={h.direction})"))
        else:
            out.append((float(h[0]), float(h[1]), "hold"))
    return out


def _label(stream: RtpStream, names: Mapping[str, str]) -> str:
    src, dst = stream.src, stream.dst
    who = f"{names.get(src, src)} \N{RIGHTWARDS ARROW} {names.get(dst, dst)}"
    where = f"{src}:{stream.src_port} \N{RIGHTWARDS ARROW} {dst}:{stream.dst_port}"
    return f"{who}   {where}   SSRC 0x{stream.ssrc:08X}   {len(stream.seq)} packets"


def plot_rtp(
    streams: Sequence[RtpStream],
    path: str | Path,
    *,
    holds: Iterable[HoldWindow | tuple[float, float]] = (),
    origin: float | None = None,
    names: Mapping[str, str] | None = None,
    nominal_ms: float = NOMINAL_MS,
    max_delta_ms: float = MAX_DELTA_MS,
    max_jitter_ms: float | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """One PNG: a row per stream, inter-arrival delta on the left, jitter on the right.

    ``holds``: hold windows (:class:`~harness.media.hold.HoldWindow`, shaded on the streams
    between their two hosts; or (start, end) pairs in seconds since the origin, shaded
    everywhere).
    ``origin``: epoch seconds of time 0 (default: the capture's first packet). Streams
    beyond MAX_STREAMS are left out and said so. Raises ValueError without streams.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    drawn = [s for s in streams if len(s.seq)]
    if not drawn:
        raise ValueError("no RTP streams to plot")
    names = dict(names or {})
    hold_list = list(holds)
    shown = drawn[:MAX_STREAMS]
    rows = len(shown)
    fig = Figure(figsize=(13, 1.3 + 2.6 * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    head = title or "RTP inter-arrival delta and jitter (RFC 3550 A.8, as tshark computes them)"
    if len(drawn) > rows:
        head += f"; {len(drawn) - rows} more streams not shown"
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
        handles.append(Line2D([], [], color="#c62828", ls=":",
                              label=f"max jitter {max_jitter_ms:g} ms"))
    legend = fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=8,
                        frameon=False, title=head, title_fontsize=12)
    legend.get_title().set_fontweight("bold")
    top = max(max_delta_ms * 1.5, nominal_ms * 2.5)
    subfigs = fig.subfigures(rows, 1, squeeze=False)[:, 0]
    axes_d = []
    for stream, sub in zip(shown, subfigs, strict=True):
        series = stream_series(stream, origin)
        spans = _hold_spans(hold_list, stream.src, stream.dst)
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


def _shade(ax: Axes, spans: Sequence[tuple[float, float, str]]) -> None:
    for k, (start, end, label) in enumerate(spans):
        ax.axvspan(start, end, color="#ffb74d", alpha=0.35, lw=0)
        if k == 0:
            ax.text((start + end) / 2, 0.97, label, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8, color="#8a5300")


def _in_hold(t0: float, t1: float, spans: Sequence[tuple[float, float, str]]) -> bool:
    return any(t0 < end and t1 > start for start, end, _ in spans)


def _delta_axes(ax: Axes, s: StreamSeries, spans: Sequence[tuple[float, float, str]],
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


def _jitter_axes(ax: Axes, s: StreamSeries, spans: Sequence[tuple[float, float, str]],
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
