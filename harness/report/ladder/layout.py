"""Where things go on the ladder: host columns, the height of each arrow (pauses open
extra room, failure notes push the next arrow down), and the text helpers the SVG uses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.report.ladder.model import Arrow, Ladder

if TYPE_CHECKING:
    from harness.report.ladder.xmpp import XmppArrow

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
    xmpp_y: list[float]  # per XMPP stanza, in their rows among the arrows
    axis_t: np.ndarray  # the time of every row (SIP, XMPP), non-decreasing
    axis_y: list[float]  # and its position

    @property
    def last_row_y(self) -> float:
        """The lowest row: an arrow, a stanza, or a failed connection attempt."""
        return max([*self.y, *self.attempt_y, *self.xmpp_y], default=float(TOP + 30))

    def y_of(self, t: float) -> float:
        """Vertical position of a time: linear between the rows around it."""
        ys, ts = self.axis_y, self.axis_t
        if not ys:
            return float(TOP + 30)
        if len(ys) == 1:
            return ys[0] + max(-30.0, min(30.0, (t - float(ts[0])) * 60.0))
        if t < ts[0]:
            return max(TOP + 6, ys[0] - min(24.0, (float(ts[0]) - t) * 60.0))
        if t > ts[-1]:
            return ys[-1] + min(26.0, (t - float(ts[-1])) * 60.0)
        return float(np.interp(t, ts, ys))

    def largest_gap(self, y0: float, y1: float) -> float:
        """The middle of the largest stretch between rows inside [y0, y1]."""
        inside = [y for y in self.axis_y if y0 <= y <= y1]
        edges = [y0, *inside, y1]
        best, mid = -1.0, (y0 + y1) / 2
        for lo, hi in itertools.pairwise(edges):
            if hi - lo > best:
                best, mid = hi - lo, (lo + hi) / 2
        return mid


def _note_lines(arrow: Arrow | XmppArrow) -> int:
    if not arrow.failures:
        return 0
    shown = min(len(arrow.failures), MAX_NOTES)
    return shown * 3 + (1 if len(arrow.failures) > MAX_NOTES else 0)


def layout(ladder: Ladder) -> Layout:
    x = {h: LEFT + COL_W / 2 + i * COL_W for i, h in enumerate(ladder.hosts)}
    times = np.maximum.accumulate(np.array([a.time for a in ladder.arrows], dtype=np.float64))
    ys: list[float] = []
    attempt_y: list[float] = [0.0] * len(ladder.attempts)
    xmpp_y: list[float] = [0.0] * len(ladder.xmpp)
    axis_t: list[float] = []
    axis_y: list[float] = []
    gaps: list[tuple[float, float, float]] = []
    y = float(TOP + 30)
    prev_lines = 0
    # the arrows, the stanzas and the failed connection attempts, one row each, in time
    # order (SIP arrows keep their frame order)
    rows = sorted([(float(times[i]), 0, i) for i in range(len(ladder.arrows))]
                  + [(t, 1, k) for k, (t, _) in enumerate(ladder.attempts)]
                  + [(x.time, 2, k) for k, x in enumerate(ladder.xmpp)])
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
        if kind == 1:
            attempt_y[i] = y
            prev_lines = 0
        elif kind == 2:
            xmpp_y[i] = y
            prev_lines = _note_lines(ladder.xmpp[i])
        else:
            ys.append(y)
            prev_lines = _note_lines(ladder.arrows[i])
        if kind != 1:
            axis_t.append(prev_t)
            axis_y.append(y)
    bottom = y + max(40, 8 + prev_lines * FAIL_LINE)
    any_notes = any(a.failures for a in ladder.arrows) or any(x.failures for x in ladder.xmpp)
    last_x = LEFT + len(ladder.hosts) * COL_W
    notes_x = last_x + 10
    width = last_x + (NOTE_W if any_notes else 20)
    legend_y = bottom + 56  # below the footer boxes
    extra = 0
    if len(ladder.call_ids) > 1:
        extra += 16 * min(len(ladder.call_ids), 8) + 10
    if ladder.other_failures:
        extra += 18 + FAIL_LINE * 2 * min(len(ladder.other_failures), 12) + 10
    if ladder.xmpp_notes:
        extra += 18 + 14 * min(len(ladder.xmpp_notes), 6) + 10
    height = legend_y + extra + 20
    return Layout(x, ys, gaps, width, height, notes_x, times, legend_y, attempt_y, xmpp_y,
                  np.array(axis_t, dtype=np.float64), axis_y)
