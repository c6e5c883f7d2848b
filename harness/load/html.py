"""A load result as one HTML page: the summary, plots (calls per second and post-dial delay
over time, a histogram of MOS) and the failed calls with their pcaps.

matplotlib through its object API on the Agg canvas (as ``harness.report.plots``): no
pyplot, no global backend; the PNGs are embedded, so the page is one file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from harness.load.figures import Distribution, failure_key, summary
from harness.load.records import LoadResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OK_COLOUR, FAIL_COLOUR, LINE_COLOUR = "#2e7d32", "#c62828", "#1f4e79"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _figure(height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_over_time(result: LoadResult) -> str:
    """Calls started per second (verified and failed stacked) and each call's post-dial
    delay, against seconds from the first call."""
    calls = sorted(result.calls, key=lambda c: c.start)
    fig = _figure(6.0)
    ax_rate, ax_pdd = fig.subplots(2, 1, sharex=True)
    if not calls:
        ax_rate.text(0.5, 0.5, "no calls", ha="center", transform=ax_rate.transAxes)
        return _png(fig)
    t0 = calls[0].start
    span = calls[-1].start - t0
    # bins of at least 2 s: calls placed every 1/R s fall evenly into them
    width = max(2.0, span / 80)
    bins = int(math.floor(span / width)) + 1
    ok = [0.0] * bins
    bad = [0.0] * bins
    for c in calls:
        (ok if c.verified else bad)[int((c.start - t0) / width)] += 1 / width
    xs = [k * width for k in range(bins)]
    ax_rate.bar(xs, ok, width=width * 0.9, align="edge", color=OK_COLOUR, label="verified")
    ax_rate.bar(xs, bad, width=width * 0.9, align="edge", bottom=ok, color=FAIL_COLOUR,
                label="failed")
    ax_rate.set_ylabel(f"calls started per second\n({width:g} s bins)")
    ax_rate.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax_rate.grid(True, alpha=0.3)
    for verified, colour, label in ((True, LINE_COLOUR, "verified"),
                                    (False, FAIL_COLOUR, "failed")):
        pts = [(c.start - t0, c.pdd_ms) for c in calls
               if c.verified == verified and c.pdd_ms is not None]
        if pts:
            ax_pdd.plot([p[0] for p in pts], [p[1] for p in pts], ls="none", marker=".",
                        color=colour, label=label)
    ax_pdd.set_ylabel("post-dial delay (ms)")
    ax_pdd.set_xlabel("seconds from the first call")
    ax_pdd.grid(True, alpha=0.3)
    ax_pdd.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def plot_mos(result: LoadResult) -> str:
    values = [c.mos for c in result.calls if c.mos is not None]
    fig = _figure(3.2)
    ax = fig.subplots()
    if values:
        ax.hist(values, bins=[1 + 0.05 * k for k in range(71)], color=LINE_COLOUR)
    else:
        ax.text(0.5, 0.5, "no call with RTP both ways", ha="center", transform=ax.transAxes)
    ax.set_xlim(1, 4.55)
    ax.set_xlabel("estimated MOS (ITU-T G.107 E-model, G.711 with PLC)")
    ax.set_ylabel("calls")
    ax.grid(True, alpha=0.3)
    return _png(fig)


def _dist_row(name: str, d: Distribution, digits: int) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.{digits}f}"
    return (f"<tr><td>{html.escape(name)}</td><td>{d.count}</td><td>{f(d.min)}</td>"
            f"<td>{f(d.p50)}</td><td>{f(d.p95)}</td><td>{f(d.p99)}</td><td>{f(d.max)}</td></tr>")


def render(result: LoadResult, title: str = "harness load") -> str:
    s = summary(result)
    e = html.escape
    gens = ", ".join(sorted({r.generator for r in result.runs}))
    rows = "".join(_dist_row(*row) for row in (
        ("post-dial delay (ms)", s.pdd_ms, 1), ("answer delay (ms)", s.answer_ms, 1),
        ("RTP loss per direction and leg (%)", s.loss_percent, 2),
        ("RTP mean jitter per direction and leg (ms)", s.jitter_ms, 2),
        ("MOS", s.mos, 2)))
    steps = "".join(f"<tr><td>{n}</td><td>{e(k)}</td></tr>"
                    for k, n in s.failed_by_step.items())
    failed = [c for c in result.calls if not c.verified]
    items = []
    for c in failed[:500]:
        f = c.failure
        what = (f"step {f.step} [{f.leg}] {f.subject}: expected {f.expected}; actual "
                f"{f.actual}" if f else failure_key(c))
        link = (f' <a href="{e(Path(c.pcap).as_uri())}">pcap</a>' if c.pcap else "")
        items.append(f"<li>call {c.index} {e(c.generator)} <code>{e(c.phone_call_id or '-')}"
                     f"</code> / <code>{e(c.lync_call_id or '-')}</code>: {e(what)}{link}</li>")
    ratio = f" ({s.verify_s / s.run_s:.2f}x the run)" if s.run_s else ""
    capture = (f"<p>tcpdump dropped {s.capture_dropped} packets: {s.loss_only_while_dropping}"
               " failed calls failed only on RTP loss, which may be the capture's (for "
               f"{s.receiver_got_all} the Mediation Server received every packet the capture"
               " misses toward it).</p>" if s.loss_only_while_dropping else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1150px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.bad{{color:{FAIL_COLOUR}}}</style></head>
<body><h1>{e(title)}</h1>
<p>{s.attempted} calls attempted, <b>{s.verified} verified</b>,
<span class="bad">{s.failed} failed</span> ({100 * s.verified_share:.1f}% verified);
{s.achieved_cps:.2f} calls/s achieved ({s.verified_cps:.2f} verified calls/s) over
{s.span_s:.1f} s; run {s.run_s:.1f} s, verification {s.verify_s:.1f} s{ratio};
generators: {e(gens)}.</p>{capture}
<table><tr><th>figure</th><th>n</th><th>min</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>
{rows}</table>
<h2>Over time</h2><img src="data:image/png;base64,{plot_over_time(result)}" alt="rate and delay">
<h2>MOS</h2><img src="data:image/png;base64,{plot_mos(result)}" alt="MOS histogram">
<h2>Failed calls by first failing step</h2>
<table><tr><th>calls</th><th>step, leg, check</th></tr>{steps or '<tr><td>0</td><td></td></tr>'}
</table><ol>{''.join(items)}</ol></body></html>
"""


def write(result: LoadResult, path: Path, title: str = "harness load") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title))
    return path
