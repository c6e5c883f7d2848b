"""Ladder (sequence) diagrams of a capture's SIP: a standalone SVG and an HTML view.

One column per host, named by role (Softphone, Asterisk, Mediation Server, Skype, XMPP, or
the address when the role is not known); one arrow per SIP message, in capture order,
labelled with the method or the status, the capture-relative time and frame, and the SDP
direction when the message carries SDP. RTP streams are bands between the two hosts (one
band per stretch of packets, with the packet count of every stream); hold windows (from an
SDP ``a=inactive``/``sendonly``/``recvonly`` until the next ``a=sendrecv`` of that call
between the same hosts) are shaded. With a :class:`~harness.analysis.verdict.Verdict`, the
messages of failed checks are drawn in red, with what was expected and what was seen.

Everything here is a pure function from data to text: :func:`build_ladder` takes the
capture layer's records (or any objects with the same attributes) and returns a
:class:`Ladder`; :func:`render_svg` and :func:`render_html` turn it into text.
:func:`ladder_of_capture` and :func:`write_ladder` are the file-level conveniences.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.media.find import rtp_streams
from harness.topology.config import role_names

# Column order of the known roles (the seed's topology); unknown hosts follow, in order of
# first appearance.
ROLE_ORDER = ("Softphone", "Asterisk", "Mediation Server", "Skype", "XMPP")
DEFAULT_NET_PREFIX = "192.168.100"
HELD_DIRECTIONS = ("inactive", "sendonly", "recvonly")

# A pause longer than this between two messages opens extra room in the ladder: that is
# where the RTP of a talk period, or a hold, gets drawn and labelled.
GAP_S = 0.25
# RTP packets further apart than this split a stream's band (a hold, a one-way stretch).
RTP_GAP_S = 0.25

_COL_W = 250
_LEFT = 150
_TOP = 96
_ROW = 34
_GAP_EXTRA = 50
_NOTE_W = 470
_FAIL_LINE = 13
_MAX_NOTES = 2
_CALL_COLOURS = ("#1f4e79", "#5e35b1", "#00796b", "#6d4c41", "#455a64", "#ad1457", "#33691e")
_FAIL = "#c62828"
_BAD = "#ef6c00"
_DIR_COLOURS = {
    "sendrecv": "#2e7d32",
    "sendonly": "#b26a00",
    "recvonly": "#b26a00",
    "inactive": "#6a1b9a",
}
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class LadderError(Exception):
    """No ladder can be drawn (e.g. the capture holds no SIP); ``str()`` is one line."""


def topology_roles(net_prefix: str = DEFAULT_NET_PREFIX) -> dict[str, str]:
    """The topology's host numbers (.10, .20, .40) on a /24, as address -> role name."""
    return role_names(net_prefix)


def parse_role(text: str) -> tuple[str, str]:
    """``ADDR=NAME`` (as given to ``--role``) -> (address, name); ValueError when malformed."""
    addr, sep, name = text.partition("=")
    addr, name = addr.strip(), name.strip()
    if not sep or not addr or not name:
        raise ValueError(f"--role wants ADDR=NAME (e.g. 192.168.100.10=Asterisk), not {text!r}")
    return addr, name


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Failure:
    """A failed check drawn on the ladder."""

    step: str
    leg: str
    subject: str
    expected: str
    actual: str
    frame: int | None

    def headline(self) -> str:
        return f"step {self.step} [{self.leg}] {self.subject}"

    def line(self) -> str:
        where = f" (frame {self.frame})" if self.frame is not None else ""
        return f"FAIL {self.headline()}: expected {self.expected}; actual {self.actual}{where}"


@dataclass(frozen=True)
class Arrow:
    """One SIP message."""

    index: int
    frame: int
    time: float  # seconds since the ladder's origin
    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    label: str  # "INVITE", "401 Unauthorized", "unparsable SIP"
    cseq_method: str | None  # the CSeq method (shown next to responses)
    directions: tuple[str, ...]  # SDP a= direction of each media section, in order
    hold_address: bool  # SDP c=0.0.0.0 (RFC 2543 hold)
    call_id: str | None
    text: str  # the whole message as text
    error: str | None  # why it did not parse
    failures: tuple[Failure, ...] = ()

    @property
    def is_request(self) -> bool:
        return self.error is None and not self.label[:1].isdigit()

    @property
    def sdp_label(self) -> str | None:
        if not self.directions:
            return None
        uniq = list(dict.fromkeys(self.directions))
        text = "SDP " + ", ".join(f"a={d}" for d in uniq)
        return text + (" c=0.0.0.0" if self.hold_address else "")


@dataclass(frozen=True)
class Band:
    """One RTP stream: the stretches of time it carried packets."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    packets: int
    payload: str
    segments: tuple[tuple[float, float], ...]  # seconds since the origin
    first_frame: int | None
    last_frame: int | None
    details: str  # a one-paragraph description (tooltip)


@dataclass(frozen=True)
class HoldWindow:
    """A call on hold between two hosts, from the holding SDP to the resuming one."""

    a: str
    b: str
    start: float  # seconds since the origin
    end: float
    direction: str
    call_id: str | None
    start_frame: int
    end_frame: int | None  # None: never resumed within the capture


@dataclass
class Ladder:
    title: str
    hosts: list[str]  # column order (addresses)
    names: dict[str, str]  # address -> role name (or the address)
    arrows: list[Arrow]
    bands: list[Band] = field(default_factory=list)
    holds: list[HoldWindow] = field(default_factory=list)
    other_failures: list[Failure] = field(default_factory=list)  # not on a SIP message
    verdict_line: str | None = None
    verdict_ok: bool | None = None
    origin: float = 0.0  # epoch seconds of time 0
    source: str = ""
    call_ids: list[str] = field(default_factory=list)  # colour order

    def name(self, address: str) -> str:
        return self.names.get(address, address)

    @property
    def failed_frames(self) -> set[int]:
        return {a.frame for a in self.arrows if a.failures}


# ----------------------------------------------------------------------------- building


def _roles_dict(roles: Any) -> dict[str, str]:
    if roles is None:
        return {}
    by_address = getattr(roles, "by_address", None)
    if isinstance(by_address, Mapping):
        return dict(by_address)
    if isinstance(roles, Mapping):
        return {str(k): str(v) for k, v in roles.items()}
    raise TypeError(f"roles: a mapping address -> name or a Roles, not {type(roles).__name__}")


def _text_of(data: bytes) -> str:
    return _XML_BAD.sub("\N{REPLACEMENT CHARACTER}", data.decode("utf-8", "replace"))


def _label_of(item: Any) -> tuple[str, str | None, str | None]:
    """(label, CSeq method, Call-ID) of a captured message."""
    msg = getattr(item, "message", None)
    if msg is None:
        return "unparsable SIP", None, None
    try:
        method = msg.cseq[1]
    except Exception:  # noqa: BLE001 - a broken CSeq must not lose the arrow
        method = None
    try:
        call_id = msg.call_id
    except Exception:  # noqa: BLE001
        call_id = None
    status = getattr(msg, "status", None)
    if status is not None:
        reason = getattr(msg, "reason", "") or ""
        return f"{status} {reason}".strip(), method, call_id
    return str(getattr(msg, "method", "?")), method, call_id


def _sdp_of(item: Any) -> tuple[tuple[str, ...], bool]:
    """The a= direction of each media section and whether c= is the hold address."""
    from harness.capture.sdpmap import session_of
    from harness.sip import SdpParseError

    try:
        sdp = session_of(item)
    except Exception:  # noqa: BLE001 - a parser bug must not lose the ladder
        sdp = None
    if sdp is None:
        return (), False
    dirs: list[str] = []
    hold_addr = False
    for md in sdp.media:
        try:
            dirs.append(md.direction)
        except (SdpParseError, ValueError):
            dirs.append("sendrecv")
        conn = md.connection or sdp.connection
        if conn is not None and getattr(conn, "is_hold_address", False):
            hold_addr = True
    if not sdp.media:
        try:
            dirs.append(sdp.direction)
        except (SdpParseError, ValueError):
            pass
    return tuple(dirs), hold_addr


def _failures_of(verdict: Any) -> list[Failure]:
    if verdict is None:
        return []
    out = []
    for r in getattr(verdict, "results", []):
        if getattr(r, "ok", True):
            continue
        out.append(Failure(str(r.step), str(r.leg), str(r.subject), str(r.expected),
                           str(r.actual), r.frame))
    return out


def _segments(times: np.ndarray, gap_s: float) -> list[tuple[float, float]]:
    t = np.sort(np.asarray(times, dtype=np.float64))
    if t.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(t) > gap_s)
    starts = np.concatenate(([0], cuts + 1))
    ends = np.concatenate((cuts, [t.size - 1]))
    return [(float(t[s]), float(t[e])) for s, e in zip(starts, ends, strict=True)]


def _band_of(stream: Any, origin: float, names: Mapping[str, str]) -> Band | None:
    times = np.asarray(getattr(stream, "time", ()), dtype=np.float64)
    if times.size == 0:
        return None
    pt_names = getattr(stream, "pt_names", None) or {}
    payload = ", ".join(str(pt_names[p]) for p in sorted(pt_names))
    if not payload:
        pts = getattr(stream, "payload_types", None) or []
        payload = ", ".join(f"PT {p}" for p in pts)
    frames = getattr(stream, "frame", None)
    first = int(frames[0]) if frames is not None and len(frames) else None
    last = int(frames[-1]) if frames is not None and len(frames) else None
    src, dst = str(stream.src), str(stream.dst)
    lines = [
        f"RTP {names.get(src, src)} -> {names.get(dst, dst)}",
        f"{src}:{stream.src_port} -> {dst}:{stream.dst_port}  SSRC 0x{int(stream.ssrc):08X}",
        f"{times.size} packets {payload}".rstrip()
        + (f", frames {first}-{last}" if first is not None else ""),
    ]
    with contextlib.suppress(Exception):  # the figures are a bonus in a tooltip
        st = stream.stats()
        lines.append(
            f"lost {st.lost}, delta min/mean/max {st.min_delta_ms:.3f}/{st.mean_delta_ms:.3f}/"
            f"{st.max_delta_ms:.3f} ms, jitter mean/max {st.mean_jitter_ms:.3f}/"
            f"{st.max_jitter_ms:.3f} ms"
        )
    segs = tuple((s - origin, e - origin) for s, e in _segments(times, RTP_GAP_S))
    return Band(src, int(stream.src_port), dst, int(stream.dst_port), int(stream.ssrc),
                int(times.size), payload, segs, first, last, "\n".join(lines))


def _holds(arrows: Sequence[Arrow]) -> list[HoldWindow]:
    open_: dict[tuple[str | None, frozenset[str]], tuple[Arrow, str]] = {}
    out: list[HoldWindow] = []
    for arrow in arrows:
        key = (arrow.call_id, frozenset((arrow.src, arrow.dst)))
        if arrow.directions:
            held = [d for d in arrow.directions if d in HELD_DIRECTIONS]
            if arrow.hold_address and not held:
                held = ["inactive"]
            if held and key not in open_:
                open_[key] = (arrow, held[0])
            elif not held and key in open_:
                start, direction = open_.pop(key)
                out.append(_hold(start, arrow, direction))
        elif arrow.label == "BYE" and key in open_:
            start, direction = open_.pop(key)
            out.append(_hold(start, arrow, direction))
    last = max((a.time for a in arrows), default=0.0)
    for start, direction in open_.values():
        a, b = sorted((start.src, start.dst))
        out.append(HoldWindow(a, b, start.time, last, direction, start.call_id, start.frame, None))
    out.sort(key=lambda h: h.start)
    return out


def _hold(start: Arrow, end: Arrow, direction: str) -> HoldWindow:
    a, b = sorted((start.src, start.dst))
    return HoldWindow(a, b, start.time, end.time, direction, start.call_id, start.frame, end.frame)


def _host_order(arrows: Sequence[Arrow], bands: Sequence[Band], names: Mapping[str, str]) -> list[str]:
    seen: dict[str, int] = {}
    for a in arrows:
        for host in (a.src, a.dst):
            seen.setdefault(host, len(seen))
    for b in bands:
        for host in (b.src, b.dst):
            seen.setdefault(host, len(seen))

    def key(host: str) -> tuple[int, int]:
        name = names.get(host)
        rank = ROLE_ORDER.index(name) if name in ROLE_ORDER else len(ROLE_ORDER)
        return rank, seen[host]

    return sorted(seen, key=key)


def build_ladder(
    messages: Iterable[Any],
    streams: Iterable[Any] = (),
    roles: Any = None,
    verdict: Any = None,
    *,
    origin: float | None = None,
    title: str = "",
    source: str = "",
) -> Ladder:
    """The ladder of captured SIP messages (``CapturedSip``), RTP streams (``RtpStream``).

    ``roles``: address -> role name (a dict or a ``Roles``); unknown hosts keep their
    address. ``origin``: epoch seconds of time 0 (default: the first message or packet).
    ``verdict``: its failed checks are drawn on the messages of their frames.
    Raises :class:`LadderError` when there is no SIP message.
    """
    items = sorted(messages, key=lambda m: (m.frame, 0))
    if not items:
        raise LadderError("no SIP messages in the capture: nothing to draw a ladder of")
    names = _roles_dict(roles)
    streams = list(streams)
    if origin is None:
        firsts = [float(items[0].time)]
        firsts += [float(np.min(s.time)) for s in streams if len(getattr(s, "time", ()))]
        origin = min(firsts)
    failures = _failures_of(verdict)
    by_frame: dict[int, list[Failure]] = {}
    for f in failures:
        if f.frame is not None:
            by_frame.setdefault(int(f.frame), []).append(f)

    arrows: list[Arrow] = []
    for i, item in enumerate(items):
        label, method, call_id = _label_of(item)
        directions, hold_addr = _sdp_of(item) if item.message is not None else ((), False)
        frame = int(item.frame)
        arrows.append(Arrow(
            index=i, frame=frame, time=float(item.time) - origin, src=str(item.src),
            sport=int(item.sport), dst=str(item.dst), dport=int(item.dport),
            transport=str(item.transport), label=label, cseq_method=method,
            directions=directions, hold_address=hold_addr, call_id=call_id,
            text=_text_of(bytes(item.data)), error=getattr(item, "error", None),
            failures=tuple(by_frame.get(frame, ())),
        ))
    placed = {a.frame for a in arrows}
    others = [f for f in failures if f.frame is None or int(f.frame) not in placed]
    bands = [b for b in (_band_of(s, origin, names) for s in streams) if b is not None]
    hosts = _host_order(arrows, bands, names)
    call_ids = list(dict.fromkeys(a.call_id for a in arrows if a.call_id))
    verdict_line = None
    verdict_ok = None
    if verdict is not None:
        total = len(getattr(verdict, "results", []))
        flow = getattr(verdict, "flow", "call flow")
        verdict_ok = not failures
        verdict_line = (f"{flow}: {len(failures)} of {total} checks failed" if failures
                        else f"{flow}: all {total} checks passed")
    return Ladder(
        title=title or "SIP ladder",
        hosts=hosts,
        names={h: names.get(h, h) for h in hosts},
        arrows=arrows,
        bands=bands,
        holds=_holds(arrows),
        other_failures=others,
        verdict_line=verdict_line,
        verdict_ok=verdict_ok,
        origin=origin,
        source=source,
        call_ids=call_ids,
    )


def ladder_of_capture(
    capture: Any,
    roles: Any = None,
    verdict: Any = None,
    *,
    call: str | None = None,
    title: str | None = None,
) -> Ladder:
    """The ladder of a ``Capture`` (or a path to one). ``call``: only the Call-IDs that
    contain this text, and the RTP their SDP set up. Raises CaptureError, LadderError."""
    from harness.capture import open_capture

    if not hasattr(capture, "sip_messages"):
        capture = open_capture(capture)
    messages = capture.sip_messages()
    if not messages:
        raise LadderError(f"no SIP messages in the capture ({len(capture)} packets): "
                          "nothing to draw a ladder of")
    streams = rtp_streams(capture)
    if call:
        messages = [m for m in messages if call in (_label_of(m)[2] or "")]
        if not messages:
            raise LadderError(f"no SIP message with a Call-ID containing {call!r}")
        frames = {m.frame for m in messages}
        streams = [s for s in streams if getattr(s, "setup_frame", None) in frames]
    origin = float(capture.time[0]) if len(capture) else None
    path = Path(str(capture.path))
    return build_ladder(messages, streams, roles, verdict, origin=origin,
                        title=title or path.name, source=str(path))


# ----------------------------------------------------------------------------- layout


@dataclass
class _Layout:
    x: dict[str, float]
    y: list[float]  # per arrow
    gaps: list[tuple[float, float, float]]  # (y top, y bottom, seconds) of the opened pauses
    width: float
    height: float
    notes_x: float
    t: np.ndarray  # arrow times, made non-decreasing
    legend_y: float

    def y_of(self, t: float) -> float:
        """Vertical position of a time: linear between the arrows around it."""
        if len(self.y) == 1:
            return self.y[0] + max(-30.0, min(30.0, (t - float(self.t[0])) * 60.0))
        if t < self.t[0]:
            return max(_TOP + 6, self.y[0] - min(24.0, (float(self.t[0]) - t) * 60.0))
        if t > self.t[-1]:
            return self.y[-1] + min(26.0, (t - float(self.t[-1])) * 60.0)
        return float(np.interp(t, self.t, self.y))


def _note_lines(arrow: Arrow) -> int:
    if not arrow.failures:
        return 0
    shown = min(len(arrow.failures), _MAX_NOTES)
    return shown * 3 + (1 if len(arrow.failures) > _MAX_NOTES else 0)


def _layout(ladder: Ladder) -> _Layout:
    x = {h: _LEFT + _COL_W / 2 + i * _COL_W for i, h in enumerate(ladder.hosts)}
    times = np.maximum.accumulate(np.array([a.time for a in ladder.arrows], dtype=np.float64))
    ys: list[float] = []
    gaps: list[tuple[float, float, float]] = []
    y = float(_TOP + 30)
    prev_lines = 0
    for i, arrow in enumerate(ladder.arrows):
        if i:
            step = max(_ROW, 8 + prev_lines * _FAIL_LINE) if prev_lines else _ROW
            dt = float(times[i] - times[i - 1])
            if dt > GAP_S:
                gaps.append((y + 14, y + step + _GAP_EXTRA - 20, dt))
                step += _GAP_EXTRA
            y += step
        ys.append(y)
        prev_lines = _note_lines(arrow)
    bottom = y + max(40, 8 + prev_lines * _FAIL_LINE)
    any_notes = any(a.failures for a in ladder.arrows)
    last_x = _LEFT + len(ladder.hosts) * _COL_W
    notes_x = last_x + 10
    width = last_x + (_NOTE_W if any_notes else 20)
    legend_y = bottom + 56  # below the footer boxes
    extra = 0
    if len(ladder.call_ids) > 1:
        extra += 16 * min(len(ladder.call_ids), 8) + 10
    if ladder.other_failures:
        extra += 18 + _FAIL_LINE * 2 * min(len(ladder.other_failures), 12) + 10
    height = legend_y + extra + 20
    return _Layout(x, ys, gaps, width, height, notes_x, times, legend_y)


# ----------------------------------------------------------------------------- SVG


def _esc(text: object) -> str:
    return html.escape(_XML_BAD.sub("\N{REPLACEMENT CHARACTER}", str(text)), quote=True)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _fmt_s(t: float) -> str:
    return f"{t:.3f}"


_STYLE = """
.title{font:bold 16px 'DejaVu Sans',Arial,sans-serif;fill:#222}
.subtitle{font:12px 'DejaVu Sans',Arial,sans-serif;fill:#555}
.verdict-ok{font:bold 12px 'DejaVu Sans',Arial,sans-serif;fill:#2e7d32}
.verdict-fail{font:bold 12px 'DejaVu Sans',Arial,sans-serif;fill:#c62828}
.host rect{fill:#eef3f8;stroke:#1f4e79;stroke-width:1.2}
.host .name{font:bold 13px 'DejaVu Sans',Arial,sans-serif;fill:#1f2d3d;text-anchor:middle}
.host .addr{font:11px 'DejaVu Sans Mono',monospace;fill:#555;text-anchor:middle}
.lifeline{stroke:#9aa7b4;stroke-width:1;stroke-dasharray:4 4}
.axis{font:11px 'DejaVu Sans Mono',monospace;fill:#444}
.axis-head{font:bold 11px 'DejaVu Sans',Arial,sans-serif;fill:#444}
.frame{font:10px 'DejaVu Sans Mono',monospace;fill:#888}
.pause{font:italic 10px 'DejaVu Sans',Arial,sans-serif;fill:#888}
.msg line{stroke-width:1.5}
.msg .label{font:12px 'DejaVu Sans',Arial,sans-serif;text-anchor:middle}
.msg .method{font-weight:bold}
.msg .cseq{font-size:10px;fill:#666}
.msg .sdp{font:italic 10px 'DejaVu Sans',Arial,sans-serif;text-anchor:middle}
.msg.failed .label{fill:#c62828}
.msg.unparsable line{stroke-dasharray:5 3}
.msg .hit{stroke:transparent;stroke-width:16;fill:none}
.rtp{fill-opacity:0.16}
.rtp-label{font:10px 'DejaVu Sans',Arial,sans-serif;fill:#1b5e20}
.hold rect{fill:url(#hold-hatch);stroke:#b26a00;stroke-width:0.8;stroke-dasharray:3 3}
.hold text{font:bold 10px 'DejaVu Sans',Arial,sans-serif;fill:#8a5300}
.note .head{font:bold 11px 'DejaVu Sans',Arial,sans-serif;fill:#c62828}
.note .body{font:11px 'DejaVu Sans',Arial,sans-serif;fill:#333}
.note line{stroke:#c62828;stroke-width:0.8;stroke-dasharray:2 2}
.legend{font:11px 'DejaVu Sans',Arial,sans-serif;fill:#333}
"""


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
        return _FAIL
    if arrow.error is not None:
        return _BAD
    if arrow.call_id in ladder.call_ids:
        return _CALL_COLOURS[ladder.call_ids.index(arrow.call_id) % len(_CALL_COLOURS)]
    return _CALL_COLOURS[0]


def _arrow_title(ladder: Ladder, a: Arrow) -> str:
    head = (f"frame {a.frame}  t={_fmt_s(a.time)} s  {a.transport}  "
            f"{ladder.name(a.src)} {a.src}:{a.sport} -> {ladder.name(a.dst)} {a.dst}:{a.dport}")
    lines = [head]
    for f in a.failures:
        lines.append(f.line())
    if a.error:
        lines.append(f"does not parse: {a.error}")
    lines.append("")
    body = a.text.replace("\r\n", "\n").split("\n")
    lines += body[:40]
    if len(body) > 40:
        lines.append(f"... {len(body) - 40} more lines")
    return "\n".join(lines)


def _largest_gap(lay: _Layout, y0: float, y1: float) -> float:
    """The middle of the largest stretch between arrows inside [y0, y1]."""
    inside = [y for y in lay.y if y0 <= y <= y1]
    edges = [y0, *inside, y1]
    best, mid = -1.0, (y0 + y1) / 2
    for lo, hi in itertools.pairwise(edges):
        if hi - lo > best:
            best, mid = hi - lo, (lo + hi) / 2
    return mid


def render_svg(ladder: Ladder, *, standalone: bool = True) -> str:
    """The ladder as SVG text (standalone: with the XML declaration; no external assets)."""
    lay = _layout(ladder)
    colours = [_colour(ladder, a) for a in ladder.arrows]
    out: list[str] = []
    if standalone:
        out.append('<?xml version="1.0" encoding="UTF-8"?>')
    w, h = int(lay.width), int(lay.height)
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" class="ladder" width="{w}" '
        f'height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif">'
    )
    out.append(f"<title>{_esc(ladder.title)}</title>")
    out.append(f"<style>{_STYLE}</style>")
    out += _defs(colours)
    out.append(f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>')

    # Heading.
    out.append(f'<text class="title" x="14" y="24">{_esc(ladder.title)}</text>')
    calls = len(ladder.call_ids)
    sub = (f"{len(ladder.arrows)} SIP messages, {calls} Call-ID{'s' if calls != 1 else ''}, "
           f"{len(ladder.bands)} RTP stream{'s' if len(ladder.bands) != 1 else ''}; "
           f"times in seconds from the capture's first packet")
    out.append(f'<text class="subtitle" x="14" y="42">{_esc(sub)}</text>')
    if ladder.verdict_line:
        cls = "verdict-ok" if ladder.verdict_ok else "verdict-fail"
        out.append(f'<text class="{cls}" x="14" y="60">{_esc(ladder.verdict_line)}</text>')

    top_y, bottom_y = _TOP, lay.y[-1] + 30

    # Hosts and lifelines.
    for host in ladder.hosts:
        x = lay.x[host]
        out.append(f'<line class="lifeline" x1="{x:.1f}" y1="{top_y}" x2="{x:.1f}" '
                   f'y2="{bottom_y + 10:.1f}"/>')
    for y_box in (top_y - 30, bottom_y + 10):
        for host in ladder.hosts:
            x = lay.x[host]
            name = ladder.name(host)
            out.append(f'<g class="host" data-host="{_esc(host)}">')
            out.append(f'<rect x="{x - 95:.1f}" y="{y_box:.1f}" width="190" height="34" rx="4"/>')
            out.append(f'<text class="name" x="{x:.1f}" y="{y_box + 14:.1f}">{_esc(name)}</text>')
            addr = host if name != host else ""
            if addr:
                out.append(f'<text class="addr" x="{x:.1f}" y="{y_box + 28:.1f}">{_esc(addr)}</text>')
            out.append("</g>")

    # Axis heading.
    out.append(f'<text class="axis-head" x="{_LEFT - 16}" y="{top_y - 8}" '
               f'text-anchor="end">time (s)</text>')
    out.append(f'<text class="axis-head" x="12" y="{top_y - 8}">frame</text>')

    # Hold windows, under everything else.
    for hw in ladder.holds:
        if hw.a not in lay.x or hw.b not in lay.x:
            continue
        xa, xb = sorted((lay.x[hw.a], lay.x[hw.b]))
        ya, yb = lay.y_of(hw.start), lay.y_of(hw.end)
        label = f"on hold (a={hw.direction})" + ("" if hw.end_frame else ", not resumed")
        ly = _largest_gap(lay, ya, yb)
        out.append(f'<g class="hold" data-start-frame="{hw.start_frame}" '
                   f'data-end-frame="{hw.end_frame or ""}">')
        out.append(f"<title>{_esc(label)}: {ladder.name(hw.a)} - {ladder.name(hw.b)}, "
                   f"{_fmt_s(hw.start)}-{_fmt_s(hw.end)} s (frames {hw.start_frame}-"
                   f"{hw.end_frame or 'end'})</title>")
        out.append(f'<rect x="{xa + 6:.1f}" y="{ya:.1f}" width="{xb - xa - 12:.1f}" '
                   f'height="{max(yb - ya, 4):.1f}"/>')
        out.append(f'<text x="{(xa + xb) / 2:.1f}" y="{ly + 4:.1f}" '
                   f'text-anchor="middle">{_esc(label)}</text>')
        out.append("</g>")

    # RTP bands: per stream, one rectangle per stretch; one label block per pair of hosts.
    pairs: dict[tuple[str, str], list[Band]] = {}
    for band in ladder.bands:
        if band.src not in lay.x or band.dst not in lay.x:
            continue
        pair = tuple(sorted((band.src, band.dst), key=lambda hst: lay.x[hst]))
        pairs.setdefault(pair, []).append(band)  # type: ignore[arg-type]
    for (left, right), bands in pairs.items():
        xl, xr = lay.x[left], lay.x[right]
        spans: list[tuple[float, float]] = []
        for k, band in enumerate(bands):
            fill = "#43a047" if band.src == left else "#00897b"
            inset = 10 + 4 * (k % 2)
            out.append(f'<g class="rtp-stream" data-ssrc="0x{band.ssrc:08X}" '
                       f'data-packets="{band.packets}" data-src="{_esc(band.src)}" '
                       f'data-dst="{_esc(band.dst)}">')
            out.append(f"<title>{_esc(band.details)}</title>")
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
        mid = _largest_gap(lay, ya, yb)
        lines = []
        for band in bands[:4]:
            way = "\N{RIGHTWARDS ARROW}" if band.src == left else "\N{LEFTWARDS ARROW}"
            lines.append(f"RTP {way} {band.packets} pkts {band.payload} 0x{band.ssrc:08X}")
        if len(bands) > 4:
            lines.append(f"+{len(bands) - 4} more streams")
        y0 = mid - (len(lines) - 1) * 6.5 + 3
        for j, text in enumerate(lines):
            out.append(f'<text class="rtp-label" x="{(xl + xr) / 2:.1f}" y="{y0 + 13 * j:.1f}" '
                       f'text-anchor="middle">{_esc(_short(text, 44))}</text>')

    # Pauses on the time axis.
    for ya, yb, dt in lay.gaps:
        out.append(f'<text class="pause" x="{_LEFT - 16}" y="{(ya + yb) / 2 + 3:.1f}" '
                   f'text-anchor="end">\N{MIDLINE HORIZONTAL ELLIPSIS} {dt:.3f} s</text>')

    # Messages.
    for arrow, y, colour in zip(ladder.arrows, lay.y, colours, strict=True):
        out += _arrow_svg(ladder, lay, arrow, y, colour)

    # Legend (Call-IDs) and the failures that are not on a SIP message.
    ly = lay.legend_y
    if len(ladder.call_ids) > 1:
        for k, cid in enumerate(ladder.call_ids[:8]):
            colour = _CALL_COLOURS[k % len(_CALL_COLOURS)]
            count = sum(1 for a in ladder.arrows if a.call_id == cid)
            out.append(f'<rect x="14" y="{ly - 9 + 16 * k:.1f}" width="18" height="4" '
                       f'fill="{colour}"/>')
            out.append(f'<text class="legend" x="38" y="{ly + 16 * k:.1f}">Call-ID '
                       f'{_esc(_short(cid, 70))}: {count} messages</text>')
        ly += 16 * min(len(ladder.call_ids), 8) + 10
    if ladder.other_failures:
        out.append(f'<text class="note" x="14" y="{ly:.1f}"><tspan class="head">Failed checks '
                   f'not on a SIP message of this ladder:</tspan></text>')
        yy = ly + 16
        for f in ladder.other_failures[:12]:
            where = f" (frame {f.frame})" if f.frame is not None else ""
            out.append(f'<g class="note other-failure" data-step="{_esc(f.step)}">'
                       f"<title>{_esc(f.line())}</title>"
                       f'<text class="head" x="14" y="{yy:.1f}">{_esc(_short(f.headline() + where, 120))}'
                       f'</text><text class="body" x="28" y="{yy + _FAIL_LINE:.1f}">'
                       f"{_esc(_short(f'expected {f.expected}; actual {f.actual}', 140))}</text></g>")
            yy += _FAIL_LINE * 2
        if len(ladder.other_failures) > 12:
            out.append(f'<text class="note" x="14" y="{yy:.1f}"><tspan class="body">... and '
                       f"{len(ladder.other_failures) - 12} more</tspan></text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _arrow_svg(ladder: Ladder, lay: _Layout, a: Arrow, y: float, colour: str) -> list[str]:
    out: list[str] = []
    x1, x2 = lay.x[a.src], lay.x[a.dst]
    classes = ["msg", "request" if a.is_request else "response"]
    if a.failures:
        classes.append("failed")
    if a.error is not None:
        classes.append("unparsable")
    marker = f"url(#arrow-{colour.lstrip('#')})"
    width = 2.5 if a.failures else 1.5
    out.append(
        f'<g class="{" ".join(classes)}" id="msg-{a.index}" data-index="{a.index}" '
        f'data-frame="{a.frame}" data-time="{_fmt_s(a.time)}" data-label="{_esc(a.label)}" '
        f'data-src="{_esc(a.src)}" data-dst="{_esc(a.dst)}">'
    )
    out.append(f"<title>{_esc(_arrow_title(ladder, a))}</title>")
    out.append(f'<text class="frame" x="12" y="{y + 4:.1f}">{a.frame}</text>')
    out.append(f'<text class="axis" x="{_LEFT - 16}" y="{y + 4:.1f}" '
               f'text-anchor="end">{_fmt_s(a.time)}</text>')
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
    if not a.is_request and a.cseq_method and a.error is None:
        cseq = f'<tspan class="cseq" dx="4">({_esc(a.cseq_method)})</tspan>'
    out.append(f'<text class="label" x="{mid:.1f}" y="{y - 6:.1f}" fill="{colour}"{anchor}>'
               f'<tspan class="method">{_esc(a.label)}</tspan>{cseq}</text>')
    sdp = a.sdp_label
    if sdp:
        dcol = _DIR_COLOURS.get(a.directions[0], "#555") if a.directions else "#555"
        out.append(f'<text class="sdp" x="{mid:.1f}" y="{y + 13:.1f}" fill="{dcol}"{anchor}>'
                   f"{_esc(sdp)}</text>")
    if a.failures:
        nx = lay.notes_x
        out.append(f'<line class="note-link" x1="{max(x1, x2) + 4:.1f}" y1="{y:.1f}" '
                   f'x2="{nx - 4:.1f}" y2="{y:.1f}" stroke="{_FAIL}" stroke-width="0.8" '
                   f'stroke-dasharray="2 2"/>')
        yy = y + 4
        for f in a.failures[:_MAX_NOTES]:
            out.append(f'<g class="note" data-step="{_esc(f.step)}">')
            out.append(f'<text class="head" x="{nx:.1f}" y="{yy:.1f}">\N{BALLOT X} '
                       f"{_esc(_short(f.headline(), 68))}</text>")
            out.append(f'<text class="body expected" x="{nx + 14:.1f}" y="{yy + _FAIL_LINE:.1f}">'
                       f"expected: {_esc(_short(f.expected, 66))}</text>")
            out.append(f'<text class="body actual" x="{nx + 14:.1f}" '
                       f'y="{yy + 2 * _FAIL_LINE:.1f}">actual: {_esc(_short(f.actual, 68))}</text>')
            out.append("</g>")
            yy += 3 * _FAIL_LINE
        if len(a.failures) > _MAX_NOTES:
            out.append(f'<g class="note"><text class="body" x="{nx + 14:.1f}" y="{yy:.1f}">... and '
                       f"{len(a.failures) - _MAX_NOTES} more failed checks on this message"
                       "</text></g>")
    out.append("</g>")
    return out


# ----------------------------------------------------------------------------- HTML

_HTML_STYLE = """
body{margin:0;font:14px 'DejaVu Sans',Arial,sans-serif;color:#222;background:#fafafa}
header{padding:10px 16px;background:#1f4e79;color:#fff}
header h1{font-size:17px;margin:0}
header p{margin:4px 0 0;font-size:12px;opacity:.85}
.wrap{display:flex;align-items:flex-start}
.diagram{flex:1 1 auto;overflow:auto;padding:8px;background:#fff;border-right:1px solid #ddd}
aside{flex:0 0 40%;max-width:40%;position:sticky;top:0;height:100vh;overflow:auto;
  padding:10px 14px;box-sizing:border-box}
aside h2{font-size:14px;margin:4px 0 8px}
aside pre{font:12px 'DejaVu Sans Mono',monospace;white-space:pre-wrap;word-break:break-all;
  background:#fff;border:1px solid #ddd;padding:8px;margin:0}
aside .meta{font:12px 'DejaVu Sans Mono',monospace;color:#444;margin-bottom:8px}
aside .fail{color:#c62828;font-size:12px;margin:0 0 8px;padding-left:18px}
aside .hint{color:#777;font-size:12px}
svg .msg{cursor:pointer}
svg .msg:hover .label{text-decoration:underline}
svg .msg.selected line:not(.hit){stroke-width:3.5}
svg .msg.selected .label{font-weight:bold}
"""

_HTML_SCRIPT = r"""
(function () {
  var data = JSON.parse(document.getElementById('ladder-data').textContent);
  var panel = document.getElementById('details');
  var pinned = null;
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c];
    });
  }
  function show(i) {
    var m = data.messages[i];
    if (!m) { return; }
    var html = '<h2>' + esc(m.label) + '</h2>' +
      '<div class="meta">frame ' + m.frame + ' &middot; t = ' + m.time + ' s &middot; ' +
      esc(m.transport) + '<br>' + esc(m.from) + ' &rarr; ' + esc(m.to) +
      (m.call_id ? '<br>Call-ID ' + esc(m.call_id) : '') +
      (m.sdp ? '<br>' + esc(m.sdp) : '') + '</div>';
    if (m.error) { html += '<ul class="fail"><li>does not parse: ' + esc(m.error) + '</li></ul>'; }
    if (m.failures.length) {
      html += '<ul class="fail">' + m.failures.map(function (f) {
        return '<li><b>step ' + esc(f.step) + ' [' + esc(f.leg) + '] ' + esc(f.subject) +
          '</b><br>expected: ' + esc(f.expected) + '<br>actual: ' + esc(f.actual) + '</li>';
      }).join('') + '</ul>';
    }
    html += '<pre>' + esc(m.text) + '</pre>';
    html += '<p class="hint">' + (pinned === null ? 'click to keep this message; ' : '') +
      'arrow keys: previous / next message; Esc: release</p>';
    panel.innerHTML = html;
  }
  function select(i) {
    var old = document.querySelector('svg .msg.selected');
    if (old) { old.classList.remove('selected'); }
    pinned = i;
    if (i === null) { return; }
    var g = document.getElementById('msg-' + i);
    if (g) {
      g.classList.add('selected');
      g.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
    show(i);
  }
  document.querySelectorAll('svg .msg').forEach(function (g) {
    var i = Number(g.getAttribute('data-index'));
    g.addEventListener('mouseenter', function () { if (pinned === null) { show(i); } });
    g.addEventListener('click', function () { select(pinned === i ? null : i); if (pinned === null) { show(i); } });
  });
  document.addEventListener('keydown', function (e) {
    var n = data.messages.length;
    if (e.key === 'Escape') { select(null); }
    else if (e.key === 'ArrowDown' || e.key === 'j') { select(pinned === null ? 0 : Math.min(n - 1, pinned + 1)); e.preventDefault(); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { select(pinned === null ? 0 : Math.max(0, pinned - 1)); e.preventDefault(); }
  });
  var m = /^#(msg|frame)-(\d+)$/.exec(location.hash);
  if (m) {
    var n = Number(m[2]);
    var hit = m[1] === 'msg' ? data.messages[n] :
      data.messages.filter(function (x) { return x.frame === n; })[0];
    if (hit) { select(hit.index); }
  } else if (data.first_failure !== null) {
    select(data.first_failure);
  }
})();
"""


def ladder_data(ladder: Ladder) -> dict[str, Any]:
    """What the HTML view shows on hover and click, as JSON-ready data."""
    messages = []
    for a in ladder.arrows:
        messages.append({
            "index": a.index,
            "frame": a.frame,
            "time": _fmt_s(a.time),
            "label": a.label if a.is_request or not a.cseq_method else f"{a.label} ({a.cseq_method})",
            "transport": a.transport,
            "from": f"{ladder.name(a.src)} {a.src}:{a.sport}",
            "to": f"{ladder.name(a.dst)} {a.dst}:{a.dport}",
            "call_id": a.call_id,
            "sdp": a.sdp_label,
            "error": a.error,
            "text": a.text,
            "failures": [
                {"step": f.step, "leg": f.leg, "subject": f.subject, "expected": f.expected,
                 "actual": f.actual}
                for f in a.failures
            ],
        })
    first = next((a.index for a in ladder.arrows if a.failures), None)
    return {"title": ladder.title, "source": ladder.source, "messages": messages,
            "first_failure": first}


def render_html(ladder: Ladder) -> str:
    """A self-contained HTML page: the SVG inline, message details on hover and click."""
    svg = render_svg(ladder, standalone=False)
    payload = json.dumps(ladder_data(ladder), ensure_ascii=False)
    # Inside <script>, "</" would end the element and "<!--" could start a comment.
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    sub = ladder.source or ""
    verdict = f"<p>{_esc(ladder.verdict_line)}</p>" if ladder.verdict_line else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_esc(ladder.title)}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{_esc(ladder.title)}</h1><p>{_esc(sub)}</p>{verdict}</header>\n"
        f"<div class=\"wrap\">\n<div class=\"diagram\">\n{svg}</div>\n"
        "<aside id=\"details\"><p class=\"hint\">Point at an arrow for its message; click to "
        "keep it. Arrow keys step through the messages.</p></aside>\n</div>\n"
        f"<script type=\"application/json\" id=\"ladder-data\">{payload}</script>\n"
        f"<script>{_HTML_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_ladder(ladder: Ladder, path: str | Path) -> Path:
    """Write the ladder as SVG (``.svg``) or HTML (``.html``/``.htm``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        text = render_svg(ladder)
    elif suffix in (".html", ".htm"):
        text = render_html(ladder)
    else:
        raise ValueError(f"{path}: the ladder is written as .svg or .html, not {suffix or 'no suffix'}")
    path.write_text(text, encoding="utf-8")
    return path
