"""What a ladder is: the hosts (columns), one arrow per captured SIP message and per XMPP
stanza, RTP bands, hold windows and the failed checks of a verdict; :func:`build_ladder`
makes one.

An arrow holds the capture's own record (:class:`~harness.capture.sip.CapturedSip`) and
adds only what drawing needs: its place, its time from the ladder's origin, the SDP
directions and the failed checks on its frame. Everything here is a pure function of data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harness.analysis.verdict import CheckResult, Verdict
from harness.capture.connections import FailedAttempt
from harness.capture.sdpmap import sdp_directions
from harness.capture.sip import CapturedSip
from harness.media.hold import HoldWindow, hold_windows
from harness.media.streams import RtpStream
from harness.report.ladder.text import XML_BAD
from harness.report.ladder.xmpp import XmppArrow, client_names, xmpp_arrows
from harness.roles import ROLE_ORDER, Roles
from harness.sip import Request, SipParseError

if TYPE_CHECKING:
    from harness.capture.xmpp import XmppStanza

# RTP packets further apart than this split a stream's band (a hold, a one-way stretch).
RTP_GAP_S = 0.25



class LadderError(Exception):
    """No ladder can be drawn (e.g. the capture holds no SIP); ``str()`` is one line."""


@dataclass(frozen=True)
class Arrow:
    """One SIP message on the ladder."""

    index: int  # top to bottom
    sip: CapturedSip
    time: float  # seconds since the ladder's origin
    directions: tuple[str, ...]  # SDP a= direction of each media section, in order
    hold_address: bool  # SDP c=0.0.0.0 (RFC 2543 hold)
    failures: tuple[CheckResult, ...] = ()  # failed checks on this message's frame

    @property
    def frame(self) -> int:
        return self.sip.frame

    @property
    def label(self) -> str:
        """``INVITE``, ``401 Unauthorized``, ``unparsable SIP``."""
        msg = self.sip.message
        if msg is None:
            return "unparsable SIP"
        if isinstance(msg, Request):
            return msg.method
        return f"{msg.status} {msg.reason}".strip()

    @property
    def cseq_method(self) -> str | None:
        """The CSeq method (shown next to responses); None when it cannot be read."""
        if self.sip.message is None:
            return None
        try:
            return self.sip.method
        except SipParseError:  # a broken CSeq must not lose the arrow
            return None

    @property
    def call_id(self) -> str | None:
        msg = self.sip.message
        return None if msg is None else msg.call_id

    @property
    def is_request(self) -> bool:
        # A message the capture cut short (parsed, with an error) is not drawn as a request.
        return self.sip.error is None and self.sip.is_request

    @property
    def text(self) -> str:
        """The whole message as text, safe for XML."""
        return XML_BAD.sub("\N{REPLACEMENT CHARACTER}", self.sip.data.decode("utf-8", "replace"))

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


@dataclass
class Ladder:
    title: str
    hosts: list[str]  # column order (addresses)
    names: dict[str, str]  # address -> role name (or the address)
    arrows: list[Arrow]
    bands: list[Band] = field(default_factory=list)
    holds: list[HoldWindow] = field(default_factory=list)
    other_failures: list[CheckResult] = field(default_factory=list)  # not on a SIP message
    verdict_line: str | None = None
    verdict_ok: bool | None = None
    origin: float = 0.0  # epoch seconds of time 0
    source: str = ""
    call_ids: list[str] = field(default_factory=list)  # colour order
    # connections toward SIP ports that failed (refused, unanswered, ICMP), times from origin
    attempts: list[tuple[float, FailedAttempt]] = field(default_factory=list)
    xmpp: list[XmppArrow] = field(default_factory=list)  # XMPP stanzas seen in clear
    xmpp_notes: list[str] = field(default_factory=list)  # what of the XMPP was not readable

    def name(self, address: str) -> str:
        return self.names.get(address, address)

    @property
    def failed_frames(self) -> set[int]:
        return {a.frame for a in self.arrows if a.failures} | {
            x.frame for x in self.xmpp if x.failures}


def roles_dict(roles: Roles | Mapping[str, str] | None) -> dict[str, str]:
    """Address -> role name, from a :class:`Roles`, a mapping or nothing."""
    if roles is None:
        return {}
    if isinstance(roles, Roles):
        return dict(roles.by_address)
    return {str(k): str(v) for k, v in roles.items()}


def _segments(times: np.ndarray, gap_s: float) -> list[tuple[float, float]]:
    t = np.sort(np.asarray(times, dtype=np.float64))
    if t.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(t) > gap_s)
    starts = np.concatenate(([0], cuts + 1))
    ends = np.concatenate((cuts, [t.size - 1]))
    return [(float(t[s]), float(t[e])) for s, e in zip(starts, ends, strict=True)]


def _band_of(stream: RtpStream, origin: float, names: Mapping[str, str]) -> Band | None:
    times = np.asarray(stream.time, dtype=np.float64)
    if times.size == 0:
        return None
    pt_names = stream.pt_names
    payload = ", ".join(str(pt_names[p]) for p in sorted(pt_names))
    if not payload:
        payload = ", ".join(f"PT {p}" for p in stream.payload_types)
    frames = stream.frame
    first = int(frames[0]) if len(frames) else None
    last = int(frames[-1]) if len(frames) else None
    src, dst = stream.src, stream.dst
    lines = [
        f"RTP {names.get(src, src)} -> {names.get(dst, dst)}",
        f"{src}:{stream.src_port} -> {dst}:{stream.dst_port}  SSRC 0x{stream.ssrc:08X}",
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
    return Band(src, stream.src_port, dst, stream.dst_port, stream.ssrc, int(times.size),
                payload, segs, first, last, "\n".join(lines))


def _host_order(
    arrows: Sequence[Arrow], bands: Sequence[Band], names: Mapping[str, str],
    attempts: Sequence[FailedAttempt] = (), xmpp: Sequence[XmppArrow] = (),
) -> list[str]:
    """Known roles in ROLE_ORDER, then the other hosts in order of first appearance."""
    seen: dict[str, int] = {}
    ends = [(a.time, a.sip.src, a.sip.dst) for a in arrows] + [(x.time, x.src, x.dst)
                                                                for x in xmpp]
    for _t, src, dst in sorted(ends, key=lambda e: e[0]):
        for host in (src, dst):
            seen.setdefault(host, len(seen))
    for at in attempts:
        for host in (at.src, at.dst):
            seen.setdefault(host, len(seen))
    for b in bands:
        for host in (b.src, b.dst):
            seen.setdefault(host, len(seen))

    def key(host: str) -> tuple[int, int]:
        name = names.get(host)
        rank = ROLE_ORDER.index(name) if name in ROLE_ORDER else len(ROLE_ORDER)
        return rank, seen[host]

    return sorted(seen, key=key)


def _verdict_line(verdict: Verdict) -> str:
    return f"{verdict.flow}: {verdict.counts()}"


def build_ladder(
    messages: Iterable[CapturedSip],
    streams: Iterable[RtpStream] = (),
    roles: Roles | Mapping[str, str] | None = None,
    verdict: Verdict | None = None,
    *,
    origin: float | None = None,
    title: str = "",
    source: str = "",
    attempts: Sequence[FailedAttempt] = (),
    stanzas: Sequence[XmppStanza] = (),
    xmpp_notes: Sequence[str] = (),
) -> Ladder:
    """The ladder of captured SIP messages, XMPP stanzas and RTP streams.

    ``roles``: address -> role name; unknown hosts keep their address, but for the client
    host of an XMPP c2s connection, named the Google Talk user. ``origin``: epoch seconds
    of time 0 (default: the first message, stanza or packet). ``verdict``: its failed
    checks are drawn on the messages and stanzas of their frames. Raises
    :class:`LadderError` when there is neither a SIP message nor an XMPP stanza.
    """
    items = sorted(messages, key=lambda m: m.frame)
    if not items and not attempts and not stanzas:
        raise LadderError("no SIP messages or XMPP stanzas in the capture: nothing to draw "
                          "a ladder of")
    names = roles_dict(roles)
    names.update(client_names(stanzas, names))
    stream_list = list(streams)
    if origin is None:
        firsts = [items[0].time] if items else []
        firsts += [attempts[0].time] if attempts else []
        firsts += [min(st.time for st in stanzas)] if stanzas else []
        firsts += [float(np.min(s.time)) for s in stream_list if len(s.time)]
        origin = min(firsts)
    failures = [r for r in verdict.results if r.checked and not r.ok] if verdict else []
    by_frame: dict[int, list[CheckResult]] = {}
    for f in failures:
        if f.frame is not None:
            by_frame.setdefault(f.frame, []).append(f)

    arrows = []
    for i, item in enumerate(items):
        directions, hold_address = sdp_directions(item)
        arrows.append(Arrow(i, item, item.time - origin, directions, hold_address,
                            tuple(by_frame.get(item.frame, ()))))
    xmpp = xmpp_arrows(stanzas, origin, by_frame)
    placed = {a.frame for a in arrows} | {x.frame for x in xmpp if x.failures}
    others = [f for f in failures if f.frame is None or f.frame not in placed]
    bands = [b for b in (_band_of(s, origin, names) for s in stream_list) if b is not None]
    hosts = _host_order(arrows, bands, names, attempts, xmpp)
    return Ladder(
        title=title or ("SIP ladder" if items or not xmpp else "XMPP ladder"),
        hosts=hosts,
        names={h: names.get(h, h) for h in hosts},
        arrows=arrows,
        bands=bands,
        holds=hold_windows(items, origin=origin),
        other_failures=others,
        verdict_line=_verdict_line(verdict) if verdict is not None else None,
        verdict_ok=not failures if verdict is not None else None,
        origin=origin,
        source=source,
        call_ids=list(dict.fromkeys(a.call_id for a in arrows if a.call_id)),
        attempts=[(at.time - origin, at) for at in attempts],
        xmpp=xmpp,
        xmpp_notes=list(xmpp_notes),
    )
