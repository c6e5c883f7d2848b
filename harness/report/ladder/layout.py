"""Where things go on the ladder: host columns, the height of each arrow (pauses open
extra room, failure notes push the next arrow down), and the text helpers the SVG uses."""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass

import numpy as np

from harness.report.ladder.model import XML_BAD, Arrow, Ladder

# A pause longer than this between two messages opens extra room in the ladder: that is
# where the RTP of a talk period, or a hold, gets drawn and labelled.
GAP_S = 0.25

COL_W = 250
LEFT = 150
TOP = 96
ROW = 34
GAP_EXTRA = 50
NOTE_W = 470
FAIL_LINE = 13
MAX_NOTES = 2


@dataclass
class Layout:
    x: dict[str, float]
    y: list[float]  # per arrow
    gaps: list[tuple[float, float, float]]  # (y top, y bottom, seconds) of the opened pauses
    width: float
    height: float
    notes_x: float
    t: np.ndarray  # arrow times, made non-decreasing
    legend_y: float
    attempt_y: list[float]  # per failed connection attempt, in their rows among the arrows

    @property
    def last_row_y(self) -> float:
        """The lowest row: an arrow, or a failed connection attempt."""
        return max([*self.y, *self.attempt_y], default=float(TOP + 30))

    def y_of(self, t: float) -> float:
        """Vertical position of a time: linear between the arrows around it."""
        if not self.y:
            return float(TOP + 30)
        if len(self.y) == 1:
            return self.y[0] + max(-30.0, min(30.0, (t - float(self.t[0])) * 60.0))
        if t < self.t[0]:
            return max(TOP + 6, self.y[0] - min(24.0, (float(self.t[0]) - t) * 60.0))
        if t > self.t[-1]:
            return self.y[-1] + min(26.0, (t - float(self.t[-1])) * 60.0)
        return float(np.interp(t, self.t, self.y))

    def largest_gap(self, y0: float, y1: float) -> float:
        """The middle of the largest stretch between arrows inside [y0, y1]."""
        inside = [y for y in self.y if y0 <= y <= y1]
        edges = [y0, *inside, y1]
        best, mid = -1.0, (y0 + y1) / 2
        for lo, hi in itertools.pairwise(edges):
            if hi - lo > best:
                best, mid = hi - lo, (lo + hi) / 2
        return mid


def _note_lines(arrow: Arrow) -> int:
    if not arrow.failures:
        return 0
    shown = min(len(arrow.failures), MAX_NOTES)
    return shown * 3 + (1 if len(arrow.failures) > MAX_NOTES else 0)


def layout(ladder: Ladder) -> Layout:
    x = {h: LEFT + COL_W / 2 + i * COL_W for i, h in enumerate(ladder.hosts)}
    times = np.maximum.accumulate(np.array([a.time for a in ladder.arrows], dtype=np.float64))
    ys: list[float] = []
    attempt_y: list[float] = [0.0] * len(ladder.attempts)
    gaps: list[tuple[float, float, float]] = []
    y = float(TOP + 30)
    prev_lines = 0
    # the arrows and the failed connection attempts, one row each, in time order
    rows = sorted([(float(times[i]), 0, i) for i in range(len(ladder.arrows))]
                  + [(t, 1, k) for k, (t, _) in enumerate(ladder.attempts)])
    prev_t: float | None = None
    for t, kind, i in rows:
        if prev_t is not None:
            step = max(ROW, 8 + prev_lines * FAIL_LINE) if prev_lines else ROW
            dt = t - prev_t
            if dt > GAP_S:
                gaps.append((y + 14, y + step + GAP_EXTRA - 20, dt))
                step += GAP_EXTRA
            y += step
        prev_t = max(t, prev_t) if prev_t is not None else t
        if kind:
            attempt_y[i] = y
            prev_lines = 0
        else:
            ys.append(y)
            prev_lines = _note_lines(ladder.arrows[i])
    bottom = y + max(40, 8 + prev_lines * FAIL_LINE)
    any_notes = any(a.failures for a in ladder.arrows)
    last_x = LEFT + len(ladder.hosts) * COL_W
    notes_x = last_x + 10
    width = last_x + (NOTE_W if any_notes else 20)
    legend_y = bottom + 56  # below the footer boxes
    extra = 0
    if len(ladder.call_ids) > 1:
        extra += 16 * min(len(ladder.call_ids), 8) + 10
    if ladder.other_failures:
        extra += 18 + FAIL_LINE * 2 * min(len(ladder.other_failures), 12) + 10
    height = legend_y + extra + 20
    return Layout(x, ys, gaps, width, height, notes_x, times, legend_y, attempt_y)


def esc(text: object) -> str:
    """Text for an XML attribute or element: escaped, without characters XML forbids."""
    return html.escape(XML_BAD.sub("\N{REPLACEMENT CHARACTER}", str(text)), quote=True)


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def fmt_s(t: float) -> str:
    return f"{t:.3f}"
