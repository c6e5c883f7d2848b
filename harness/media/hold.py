"""Hold: the windows in which a call is held, and whether each RTP direction sends, or
stays silent, as the SDP in force says.

Hold windows (:func:`hold_windows`, what the ladder and the plots shade) come from the SIP
messages alone: a window opens at an SDP whose media direction is ``sendonly``,
``recvonly`` or ``inactive``, or whose c= address is the RFC 2543 hold address
``0.0.0.0``, between the two hosts of that message in that call; it closes at the next SDP
between them that is not held, or at their BYE; one still open ends at the last message.

Media periods (:func:`media_periods`, :func:`check_hold`) follow RFC 3264 section 6.1 /
8.4: a side may send while its own SDP says ``sendrecv`` or ``sendonly`` and its peer's
says ``sendrecv`` or ``recvonly``; a ``sendonly`` offer (hold) is answered ``recvonly``, so
the held side goes quiet, while the holder may send (music) or not; Lync holds with
``a=inactive`` on both (MS-SDPEXT 3.1.5.23), so both go quiet. Media is required only
where both say ``sendrecv``.

A direction is identified by addresses and ports: the sender's own SDP is the one that
announced its source address and port (symmetric RTP, which every party here uses), its
peer's the one that announced the destination. Each SDP takes effect when its SIP
message is captured; a grace period after every change lets media catch up. A call's
media ends with its BYE. Not covered by media periods: RFC 2543 hold by ``c=0.0.0.0``
(the address changes, so the direction is seen as a new one).

Both read an SDP's directions the same way (:func:`harness.capture.sdpmap.direction_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from harness.capture.addresses import addr_from_str
from harness.capture.capture import Capture
from harness.capture.sdpmap import SdpEndpoint, endpoints, sdp_directions
from harness.capture.sip import CapturedSip
from harness.media.find import rtp_streams
from harness.media.silence import silence_windows
from harness.sip import Request

Key = tuple[int, int, int]  # an endpoint: address (two halves) and port
SENDING = frozenset({"sendrecv", "sendonly"})
RECEIVING = frozenset({"sendrecv", "recvonly"})
# In this order: the first of them in an SDP names the hold.
HELD_DIRECTIONS = ("inactive", "sendonly", "recvonly")


def held_direction(directions: Iterable[str], hold_address: bool = False) -> str | None:
    """The direction that puts an SDP on hold (its first held media section; ``inactive``
    for an RFC 2543 hold address alone), or None when the SDP does not hold."""
    for d in directions:
        if d in HELD_DIRECTIONS:
            return d
    return "inactive" if hold_address else None


@dataclass(frozen=True)
class HoldWindow:
    """A call on hold between two hosts, from the holding SDP to the resuming one."""

    a: str  # the two hosts, sorted
    b: str
    start: float  # seconds since the origin given to :func:`hold_windows`
    end: float
    direction: str  # the held a= direction (``inactive`` for a c=0.0.0.0 hold)
    call_id: str | None
    start_frame: int
    end_frame: int | None  # None: never resumed within the capture


def _call_id(item: CapturedSip) -> str | None:
    if item.message is None:
        return None
    try:
        return item.message.call_id
    except Exception:  # noqa: BLE001 - a broken Call-ID must not lose the message
        return None


def _is_bye(item: CapturedSip) -> bool:
    return isinstance(item.message, Request) and item.message.method == "BYE"


def hold_windows(messages: Iterable[CapturedSip], *, origin: float = 0.0) -> list[HoldWindow]:
    """The hold windows of captured SIP messages (in frame order), sorted by start.

    A window belongs to one call and one pair of hosts. Times are ``message.time - origin``.
    """
    items = sorted(messages, key=lambda m: m.frame)
    last = max((m.time - origin for m in items), default=0.0)
    open_: dict[tuple[str | None, frozenset[str]], tuple[CapturedSip, str]] = {}
    out: list[HoldWindow] = []

    def window(start: CapturedSip, direction: str, end: CapturedSip | None) -> HoldWindow:
        a, b = sorted((start.src, start.dst))
        stop = last if end is None else end.time - origin
        return HoldWindow(
            a, b, start.time - origin, stop, direction, _call_id(start), start.frame,
            None if end is None else end.frame,
        )

    for item in items:
        key = (_call_id(item), frozenset((item.src, item.dst)))
        directions, hold_address = sdp_directions(item)
        if directions:
            held = held_direction(directions, hold_address)
            if held is not None and key not in open_:
                open_[key] = (item, held)
            elif held is None and key in open_:
                start, direction = open_.pop(key)
                out.append(window(start, direction, item))
        elif _is_bye(item) and key in open_:
            start, direction = open_.pop(key)
            out.append(window(start, direction, item))
    for start, direction in open_.values():
        out.append(window(start, direction, None))
    out.sort(key=lambda h: h.start)
    return out


@dataclass(frozen=True)
class MediaPeriod:
    """An interval in which one direction's right to send is fixed by the SDP."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    start: float  # epoch seconds
    end: float
    own_direction: str | None  # the sender's SDP (None: never announced)
    peer_direction: str  # the receiver's SDP
    sdp_frame: int  # the SIP frame of the latest SDP that shaped this period
    may_send: bool  # own SDP sendrecv/sendonly (or none yet), peer's sendrecv/recvonly
    must_send: bool  # both sendrecv: media is expected (a sendonly holder may stay quiet)


@dataclass(frozen=True)
class HoldFinding:
    period: MediaPeriod
    problem: str  # what was seen, e.g. "sent 150 packets" or "silent 1.32 s from ..."

    def __str__(self) -> str:
        p = self.period
        want = "send" if p.must_send else "be silent"
        own = p.own_direction or "-"
        return (
            f"{p.src}:{p.src_port} -> {p.dst}:{p.dst_port}: should {want} from"
            f" {p.start:.3f} to {p.end:.3f} (own SDP {own}, peer SDP {p.peer_direction},"
            f" frame {p.sdp_frame}) but {self.problem}"
        )


def _end_of_call(cap: Capture, call_id: str | None, after: float) -> float | None:
    for item in cap.sip_messages():
        msg = item.message
        # a BYE or its response (the capture may have missed the request)
        if msg is not None and item.time >= after and msg.method == "BYE":
            if _call_id(item) == call_id:
                return item.time
    return None


def media_periods(cap: Capture) -> list[MediaPeriod]:
    """The send/silent periods of every direction that SDP set up (both ways of each
    negotiated pair of endpoints, and every RTP stream whose destination SDP announced)."""
    eps = endpoints(cap.sip_messages())
    by_key: dict[Key, list[SdpEndpoint]] = {}
    for ep in eps:
        by_key.setdefault(ep.key, []).append(ep)
    # (sender key, receiver key) -> (sender address, receiver address, call-id)
    pairs: dict[tuple[Key, Key], tuple[str, str, str | None]] = {}
    for a in eps:  # both ways of each offer/answer pair of a call
        for b in eps:
            if a.call_id == b.call_id and a.key != b.key and a.is_offer != b.is_offer:
                pairs.setdefault((a.key, b.key), (a.address, b.address, a.call_id))
    for st in rtp_streams(cap, heuristic=False):
        dkey = (*addr_from_str(st.dst), st.dst_port)
        skey = (*addr_from_str(st.src), st.src_port)
        if dkey in by_key:
            pairs.setdefault((skey, dkey), (st.src, st.dst, by_key[dkey][0].call_id))
    end_of_capture = int(cap.ts_ns[-1]) / 1e9 if len(cap) else 0.0
    out: list[MediaPeriod] = []
    for (skey, dkey), (src, dst, call_id) in pairs.items():
        own_list = by_key.get(skey, [])
        peer_list = by_key.get(dkey, [])
        changes = sorted({ep.time for ep in own_list + peer_list})
        bye = _end_of_call(cap, call_id, changes[0]) if changes else None
        stop = bye if bye is not None else end_of_capture
        mine: list[MediaPeriod] = []
        for i, t0 in enumerate(changes):
            if t0 >= stop:
                break
            t1 = min(changes[i + 1], stop) if i + 1 < len(changes) else stop
            own = _latest(own_list, t0)
            peer = _latest(peer_list, t0)
            if peer is None:
                continue  # the receiver has not said where it wants media yet
            own_dir = own.direction if own is not None else None
            may_send = peer.direction in RECEIVING and (own_dir is None or own_dir in SENDING)
            must_send = peer.direction == "sendrecv" and own_dir in (None, "sendrecv")
            frame = max(e.frame for e in (own, peer) if e is not None)
            period = MediaPeriod(
                src=src,
                src_port=skey[2],
                dst=dst,
                dst_port=dkey[2],
                start=t0,
                end=t1,
                own_direction=own_dir,
                peer_direction=peer.direction,
                sdp_frame=frame,
                may_send=may_send,
                must_send=must_send,
            )
            if (
                mine
                and (mine[-1].may_send, mine[-1].must_send) == (may_send, must_send)
                and (mine[-1].end == t0)
            ):
                # no change for this direction: one period, described by the SDP that
                # began it
                mine[-1] = replace(mine[-1], end=t1)
            else:
                mine.append(period)
        out.extend(mine)
    out.sort(key=lambda p: (p.start, p.src, p.src_port))
    return out


def _latest(lst: list[SdpEndpoint], t: float) -> SdpEndpoint | None:
    found = None
    for ep in lst:
        if ep.time <= t:
            found = ep
    return found


def check_hold(
    cap: Capture, min_gap_ms: float = 500.0, grace_ms: float = 500.0
) -> list[HoldFinding]:
    """Findings where a direction sent while it should be silent, or was silent longer
    than ``min_gap_ms`` while it should send (after ``grace_ms`` from each SDP change)."""
    streams = rtp_streams(cap, heuristic=False)
    times: dict[tuple[str, int, str, int], np.ndarray] = {}
    for st in streams:
        key = (st.src, st.src_port, st.dst, st.dst_port)
        times[key] = np.concatenate([times.get(key, np.zeros(0)), st.time])
    grace = grace_ms / 1000.0
    findings = []
    for p in media_periods(cap):
        t = times.get((p.src, p.src_port, p.dst, p.dst_port), np.zeros(0))
        start = p.start + grace
        if start >= p.end:
            continue
        if p.must_send:
            for a, b in silence_windows(t, min_gap_ms, start, p.end):
                findings.append(HoldFinding(p, f"was silent for {b - a:.3f} s from {a:.3f}"))
        elif not p.may_send:
            inside = t[(t >= start) & (t < p.end)]
            if inside.size:
                findings.append(
                    HoldFinding(
                        p, f"sent {inside.size} packets from {inside[0]:.3f} to {inside[-1]:.3f}"
                    )
                )
    return findings
