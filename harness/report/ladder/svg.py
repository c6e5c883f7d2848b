"""The ladder as SVG: host boxes and lifelines, shaded hold windows, RTP bands, one arrow
per message (red with notes for failed checks), the legend; no external assets."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

from harness.analysis.verdict import CheckResult
from harness.capture.connections import FailedAttempt
from harness.report.ladder.layout import (
    FAIL_LINE,
    LEFT,
    MAX_NOTES,
    TOP,
    Layout,
    layout,
)
from harness.report.ladder.model import Arrow, Band, Ladder
from harness.report.ladder.text import esc, fmt_s, short
from harness.report.ladder.xmpp import XmppArrow, xmpp_arrow_svg, xmpp_colour

CALL_COLOURS = ("#1f4e79", "#5e35b1", "#00796b", "#6d4c41", "#455a64", "#ad1457", "#33691e")
FAIL = "#c62828"
BAD = "#ef6c00"
DIR_COLOURS = {
    "sendrecv": "#2e7d32",
    "sendonly": "#b26a00",
    "recvonly": "#b26a00",
    "inactive": "#6a1b9a",
}


def static_text(name: str) -> str:
    """A file of the package's ``static`` folder (CSS, JavaScript)."""
    folder = resources.files("harness.report.ladder") / "static"
    return (folder / name).read_text(encoding="utf-8")


def headline(r: CheckResult) -> str:
    return f"step {r.step} [{r.leg}] {r.subject}"


def _defs(colours: Iterable[str]) -> list[str]:
    out = ["<defs>"]
    for colour in dict.fromkeys(colours):
        mid = "arrow-" + colour.lstrip("#")
        out.append(
            f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" '
            f'markerHeight="11" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
        )
    out.append(
        '<pattern id="hold-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" fill="#fff3e0" '
        'fill-opacity="0.7"/><line x1="0" y1="0" x2="0" y2="8" stroke="#ffb74d" '
        'stroke-width="3" stroke-opacity="0.45"/></pattern>'
    )
    out.append("</defs>")
    return out


def _colour(ladder: Ladder, arrow: Arrow) -> str:
    if arrow.failures:
        return FAIL
    if arrow.sip.error is not None:
        return BAD
    if arrow.call_id in ladder.call_ids:
        return CALL_COLOURS[ladder.call_ids.index(arrow.call_id) % len(CALL_COLOURS)]
    return CALL_COLOURS[0]


def _arrow_title(ladder: Ladder, a: Arrow) -> str:
    m = a.sip
    head = (f"frame {a.frame}  t={fmt_s(a.time)} s  {m.transport}  "
            f"{ladder.name(m.src)} {m.src}:{m.sport} -> {ladder.name(m.dst)} {m.dst}:{m.dport}")
    lines = [head]
    for f in a.failures:
        lines.append(f.line())
    if m.error:
        lines.append(f"does not parse: {m.error}")
    lines.append("")
    body = a.text.replace("\r\n", "\n").split("\n")
    lines += body[:40]
    if len(body) > 40:
        lines.append(f"... {len(body) - 40} more lines")
    return "\n".join(lines)


def render_svg(ladder: Ladder, *, standalone: bool = True) -> str:
    """The ladder as SVG text (standalone: with the XML declaration; no external assets)."""
    lay = layout(ladder)
    colours = [_colour(ladder, a) for a in ladder.arrows]
    xmpp_colours = [xmpp_colour(x, FAIL) for x in ladder.xmpp]
    out: list[str] = []
    if standalone:
        out.append('<?xml version="1.0" encoding="UTF-8"?>')
    w, h = int(lay.width), int(lay.height)
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" class="ladder" width="{w}" '
        f'height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif">'
    )
    out.append(f"<title>{esc(ladder.title)}</title>")
    out.append(f"<style>\n{static_text('svg.css')}</style>")
    out += _defs([*colours, *xmpp_colours])
    out.append(f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>')
    out += _heading(ladder)
    out += _hosts(ladder, lay)
    out += _holds(ladder, lay)  # under everything else
    out += _bands(ladder, lay)
    # Pauses on the time axis.
    for ya, yb, dt in lay.gaps:
        out.append(f'<text class="pause" x="{LEFT - 16}" y="{(ya + yb) / 2 + 3:.1f}" '
                   f'text-anchor="end">\N{MIDLINE HORIZONTAL ELLIPSIS} {dt:.3f} s</text>')
    for arrow, y, colour in zip(ladder.arrows, lay.y, colours, strict=True):
        out += _arrow_svg(ladder, lay, arrow, y, colour)
    for (t, attempt), y in zip(ladder.attempts, lay.attempt_y, strict=True):
        out += _attempt_svg(lay, t, attempt, y)
    for x, y, colour in zip(ladder.xmpp, lay.xmpp_y, xmpp_colours, strict=True):
        if x.src not in lay.x or x.dst not in lay.x:
            continue
        body = xmpp_arrow_svg(ladder.names, lay.x, x, y, LEFT, colour)
        if x.failures:
            body[-1:-1] = _notes(lay, x, max(lay.x[x.src], lay.x[x.dst]), y)
        out += body
    out += _legend(ladder, lay)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _heading(ladder: Ladder) -> list[str]:
    out = [f'<text class="title" x="14" y="24">{esc(ladder.title)}</text>']
    calls = len(ladder.call_ids)
    stanzas = f"{len(ladder.xmpp)} XMPP stanzas, " if ladder.xmpp or ladder.xmpp_notes else ""
    sub = (f"{len(ladder.arrows)} SIP messages, {stanzas}"
           f"{calls} Call-ID{'s' if calls != 1 else ''}, "
           f"{len(ladder.bands)} RTP stream{'s' if len(ladder.bands) != 1 else ''}; "
           f"times in seconds from the capture's first packet")
    out.append(f'<text class="subtitle" x="14" y="42">{esc(sub)}</text>')
    if ladder.verdict_line:
        cls = "verdict-ok" if ladder.verdict_ok else "verdict-fail"
        out.append(f'<text class="{cls}" x="14" y="60">{esc(ladder.verdict_line)}</text>')
    return out


def _hosts(ladder: Ladder, lay: Layout) -> list[str]:
    """Host boxes at the top and the bottom, lifelines, the axis headings."""
    out = []
    top_y, bottom_y = TOP, lay.last_row_y + 30
    for host in ladder.hosts:
        x = lay.x[host]
        out.append(f'<line class="lifeline" x1="{x:.1f}" y1="{top_y}" x2="{x:.1f}" '
                   f'y2="{bottom_y + 10:.1f}"/>')
    for y_box in (top_y - 30, bottom_y + 10):
        for host in ladder.hosts:
            x = lay.x[host]
            name = ladder.name(host)
            out.append(f'<g class="host" data-host="{esc(host)}">')
            out.append(f'<rect x="{x - 95:.1f}" y="{y_box:.1f}" width="190" height="34" rx="4"/>')
            out.append(f'<text class="name" x="{x:.1f}" y="{y_box + 14:.1f}">{esc(name)}</text>')
            if name != host:
                out.append(f'<text class="addr" x="{x:.1f}" y="{y_box + 28:.1f}">'
                           f"{esc(host)}</text>")
            out.append("</g>")
    out.append(f'<text class="axis-head" x="{LEFT - 16}" y="{top_y - 8}" '
               f'text-anchor="end">time (s)</text>')
    out.append(f'<text class="axis-head" x="12" y="{top_y - 8}">frame</text>')
    return out


def _holds(ladder: Ladder, lay: Layout) -> list[str]:
    out = []
    for hw in ladder.holds:
        if hw.a not in lay.x or hw.b not in lay.x:
            continue
        xa, xb = sorted((lay.x[hw.a], lay.x[hw.b]))
        ya, yb = lay.y_of(hw.start), lay.y_of(hw.end)
        label = f"on hold (a={hw.direction})" + ("" if hw.end_frame else ", not resumed")
        ly = lay.largest_gap(ya, yb)
        out.append(f'<g class="hold" data-start-frame="{hw.start_frame}" '
                   f'data-end-frame="{hw.end_frame or ""}">')
        out.append(f"<title>{esc(label)}: {ladder.name(hw.a)} - {ladder.name(hw.b)}, "
                   f"{fmt_s(hw.start)}-{fmt_s(hw.end)} s (frames {hw.start_frame}-"
                   f"{hw.end_frame or 'end'})</title>")
        out.append(f'<rect x="{xa + 6:.1f}" y="{ya:.1f}" width="{xb - xa - 12:.1f}" '
                   f'height="{max(yb - ya, 4):.1f}"/>')
        out.append(f'<text x="{(xa + xb) / 2:.1f}" y="{ly + 4:.1f}" '
                   f'text-anchor="middle">{esc(label)}</text>')
        out.append("</g>")
    return out


def _bands(ladder: Ladder, lay: Layout) -> list[str]:
    """Per stream, one rectangle per stretch; one label block per pair of hosts."""
    out = []
    pairs: dict[tuple[str, str], list[Band]] = {}
    for band in ladder.bands:
        if band.src not in lay.x or band.dst not in lay.x:
            continue
        left, right = sorted((band.src, band.dst), key=lambda hst: lay.x[hst])
        pairs.setdefault((left, right), []).append(band)
    for (left, right), bands in pairs.items():
        xl, xr = lay.x[left], lay.x[right]
        spans: list[tuple[float, float]] = []
        for k, band in enumerate(bands):
            fill = "#43a047" if band.src == left else "#00897b"
            inset = 10 + 4 * (k % 2)
            out.append(f'<g class="rtp-stream" data-ssrc="0x{band.ssrc:08X}" '
                       f'data-packets="{band.packets}" data-src="{esc(band.src)}" '
                       f'data-dst="{esc(band.dst)}">')
            out.append(f"<title>{esc(band.details)}</title>")
            for s, e in band.segments:
                ya, yb = lay.y_of(s), lay.y_of(e)
                spans.append((ya, yb))
                out.append(f'<rect class="rtp" x="{xl + inset:.1f}" y="{ya:.1f}" '
                           f'width="{xr - xl - 2 * inset:.1f}" height="{max(yb - ya, 3):.1f}" '
                           f'fill="{fill}"/>')
            out.append("</g>")
        if not spans:
            continue
        ya, yb = max(spans, key=lambda sp: sp[1] - sp[0])
        mid = lay.largest_gap(ya, yb)
        lines = []
        for band in bands[:4]:
            way = "\N{RIGHTWARDS ARROW}" if band.src == left else "\N{LEFTWARDS ARROW}"
            lines.append(f"RTP {way} {band.packets} pkts {band.payload} 0x{band.ssrc:08X}")
        if len(bands) > 4:
            lines.append(f"+{len(bands) - 4} more streams")
        y0 = mid - (len(lines) - 1) * 6.5 + 3
        for j, text in enumerate(lines):
            out.append(f'<text class="rtp-label" x="{(xl + xr) / 2:.1f}" y="{y0 + 13 * j:.1f}" '
                       f'text-anchor="middle">{esc(short(text, 44))}</text>')
    return out


def _legend(ladder: Ladder, lay: Layout) -> list[str]:
    """The Call-IDs' colours and the failures that are not on a SIP message."""
    out = []
    ly = lay.legend_y
    if len(ladder.call_ids) > 1:
        for k, cid in enumerate(ladder.call_ids[:8]):
            colour = CALL_COLOURS[k % len(CALL_COLOURS)]
            count = sum(1 for a in ladder.arrows if a.call_id == cid)
            out.append(f'<rect x="14" y="{ly - 9 + 16 * k:.1f}" width="18" height="4" '
                       f'fill="{colour}"/>')
            out.append(f'<text class="legend" x="38" y="{ly + 16 * k:.1f}">Call-ID '
                       f'{esc(short(cid, 70))}: {count} messages</text>')
        ly += 16 * min(len(ladder.call_ids), 8) + 10
    if ladder.xmpp_notes:
        fit = max(60, int((lay.width - 40) / 6.3))  # characters of 11 px text in the width
        out.append(f'<text class="note" x="14" y="{ly:.1f}"><tspan class="head">XMPP not '
                   f"drawn (dashed arrows are the stanzas seen in clear):</tspan></text>")
        for k, note in enumerate(ladder.xmpp_notes[:6]):
            out.append(f'<text class="note xmpp-note" x="28" y="{ly + 14 * (k + 1):.1f}">'
                       f'<tspan class="body">{esc(short(note, fit))}</tspan></text>')
        ly += 18 + 14 * min(len(ladder.xmpp_notes), 6) + 10
    if not ladder.other_failures:
        return out
    out.append(f'<text class="note" x="14" y="{ly:.1f}"><tspan class="head">Failed checks '
               f"not on a SIP message{' or XMPP stanza' if ladder.xmpp else ''} of this "
               f"ladder:</tspan></text>")
    yy = ly + 16
    for f in ladder.other_failures[:12]:
        where = f" (frame {f.frame})" if f.frame is not None else ""
        body = short(f"expected {f.expected}; actual {f.actual}", 140)
        out.append(f'<g class="note other-failure" data-step="{esc(f.step)}">'
                   f"<title>{esc(f.line())}</title>"
                   f'<text class="head" x="14" y="{yy:.1f}">{esc(short(headline(f) + where, 120))}'
                   f'</text><text class="body" x="28" y="{yy + FAIL_LINE:.1f}">'
                   f"{esc(body)}</text></g>")
        yy += FAIL_LINE * 2
    if len(ladder.other_failures) > 12:
        out.append(f'<text class="note" x="14" y="{yy:.1f}"><tspan class="body">... and '
                   f"{len(ladder.other_failures) - 12} more</tspan></text>")
    return out


def _arrow_svg(ladder: Ladder, lay: Layout, a: Arrow, y: float, colour: str) -> list[str]:
    out: list[str] = []
    x1, x2 = lay.x[a.sip.src], lay.x[a.sip.dst]
    classes = ["msg", "request" if a.is_request else "response"]
    if a.failures:
        classes.append("failed")
    if a.sip.error is not None:
        classes.append("unparsable")
    marker = f"url(#arrow-{colour.lstrip('#')})"
    width = 2.5 if a.failures else 1.5
    out.append(
        f'<g class="{" ".join(classes)}" id="msg-{a.index}" data-index="{a.index}" '
        f'data-frame="{a.frame}" data-time="{fmt_s(a.time)}" data-label="{esc(a.label)}" '
        f'data-src="{esc(a.sip.src)}" data-dst="{esc(a.sip.dst)}">'
    )
    out.append(f"<title>{esc(_arrow_title(ladder, a))}</title>")
    out.append(f'<text class="frame" x="12" y="{y + 4:.1f}">{a.frame}</text>')
    out.append(f'<text class="axis" x="{LEFT - 16}" y="{y + 4:.1f}" '
               f'text-anchor="end">{fmt_s(a.time)}</text>')
    if x1 == x2:  # a host talking to itself: a small loop
        path = f"M{x1:.1f},{y - 6:.1f} h40 v12 h-38"
        out.append(f'<path class="hit" d="{path}"/>')
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}" '
                   f'marker-end="{marker}"/>')
        mid = x1 + 48
        anchor = ' style="text-anchor:start"'
    else:
        out.append(f'<line class="hit" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}"/>')
        end = x2 - 2 if x2 > x1 else x2 + 2
        out.append(f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}" '
                   f'stroke="{colour}" stroke-width="{width}" marker-end="{marker}"/>')
        mid = (x1 + x2) / 2
        anchor = ""
    cseq = ""
    if not a.is_request and a.cseq_method and a.sip.error is None:
        cseq = f'<tspan class="cseq" dx="4">({esc(a.cseq_method)})</tspan>'
    out.append(f'<text class="label" x="{mid:.1f}" y="{y - 6:.1f}" fill="{colour}"{anchor}>'
               f'<tspan class="method">{esc(a.label)}</tspan>{cseq}</text>')
    sdp = a.sdp_label
    if sdp:
        dcol = DIR_COLOURS.get(a.directions[0], "#555") if a.directions else "#555"
        out.append(f'<text class="sdp" x="{mid:.1f}" y="{y + 13:.1f}" fill="{dcol}"{anchor}>'
                   f"{esc(sdp)}</text>")
    if a.failures:
        out += _notes(lay, a, max(x1, x2), y)
    out.append("</g>")
    return out


def _attempt_svg(lay: Layout, t: float, at: FailedAttempt, y: float) -> list[str]:
    """A connection toward a SIP port that failed: dashed, in the failure colour, with a
    bar where it was refused (or ended unanswered) instead of an arrowhead."""
    x1, x2 = lay.x[at.src], lay.x[at.dst]
    end = x2 - 6 if x2 > x1 else x2 + 6
    mid = (x1 + x2) / 2
    return [
        f'<g class="attempt failed" data-frame="{at.frame}" data-time="{fmt_s(t)}" '
        f'data-label="{esc(at.label)}" data-src="{esc(at.src)}" data-dst="{esc(at.dst)}">',
        f"<title>frame {at.frame}, {fmt_s(t)} s: {esc(at.src)} \N{RIGHTWARDS ARROW} "
        f"{esc(at.dst)}:{at.dport} {esc(at.label)}</title>",
        f'<text class="frame" x="12" y="{y + 4:.1f}">{at.frame}</text>',
        f'<text class="axis" x="{LEFT - 16}" y="{y + 4:.1f}" text-anchor="end">'
        f"{fmt_s(t)}</text>",
        f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}" stroke="{FAIL}" '
        f'stroke-width="1.5" stroke-dasharray="6 4"/>',
        f'<line x1="{end:.1f}" y1="{y - 7:.1f}" x2="{end:.1f}" y2="{y + 7:.1f}" '
        f'stroke="{FAIL}" stroke-width="2.5"/>',
        f'<text class="label" x="{mid:.1f}" y="{y - 6:.1f}" fill="{FAIL}" '
        f'text-anchor="middle">'
        f'<tspan class="method">{esc(at.label)}</tspan></text>',
        "</g>",
    ]


def _notes(lay: Layout, a: Arrow | XmppArrow, x: float, y: float) -> list[str]:
    """The failed checks of a message, right of the columns, linked to its arrow."""
    nx = lay.notes_x
    out = [f'<line class="note-link" x1="{x + 4:.1f}" y1="{y:.1f}" '
           f'x2="{nx - 4:.1f}" y2="{y:.1f}" stroke="{FAIL}" stroke-width="0.8" '
           f'stroke-dasharray="2 2"/>']
    yy = y + 4
    for f in a.failures[:MAX_NOTES]:
        out.append(f'<g class="note" data-step="{esc(f.step)}">')
        out.append(f'<text class="head" x="{nx:.1f}" y="{yy:.1f}">\N{BALLOT X} '
                   f"{esc(short(headline(f), 68))}</text>")
        out.append(f'<text class="body expected" x="{nx + 14:.1f}" y="{yy + FAIL_LINE:.1f}">'
                   f"expected: {esc(short(f.expected, 66))}</text>")
        out.append(f'<text class="body actual" x="{nx + 14:.1f}" '
                   f'y="{yy + 2 * FAIL_LINE:.1f}">actual: {esc(short(f.actual, 68))}</text>')
        out.append("</g>")
        yy += 3 * FAIL_LINE
    if len(a.failures) > MAX_NOTES:
        out.append(f'<g class="note"><text class="body" x="{nx + 14:.1f}" y="{yy:.1f}">... and '
                   f"{len(a.failures) - MAX_NOTES} more failed checks on this message"
                   "</text></g>")
    return out
