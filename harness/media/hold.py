"""Hold checks: does each RTP direction send, or stay silent, as the SDP in force says?

RFC 3264 section 6.1 / 8.4: a side may send while its own SDP says ``sendrecv`` or
``sendonly`` and its peer's says ``sendrecv`` or ``recvonly``; a ``sendonly`` offer (hold)
is answered ``recvonly``, so the held side goes quiet, while the holder may send (music)
or not; Lync holds with ``a=inactive`` on both (MS-SDPEXT 3.1.5.23), so both go quiet.
Media is required only where both say ``sendrecv``.

A direction is identified by addresses and ports: the sender's own SDP is the one that
announced its source address and port (symmetric RTP, which every party here uses), its
peer's the one that announced the destination. Each SDP takes effect when its SIP
message is captured; a grace period after every change lets media catch up. A call's
media ends with its BYE. Not covered: RFC 2543 hold by ``c=0.0.0.0`` (the address
changes, so the direction is seen as a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from harness.media.find import rtp_streams
from harness.media.silence import silence_windows

if TYPE_CHECKING:
    from harness.capture.capture import Capture
    from harness.capture.sdpmap import SdpEndpoint

SENDING = {"sendrecv", "sendonly"}
RECEIVING = {"sendrecv", "recvonly"}


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
        if msg is None or item.time < after:
            continue
        if getattr(msg, "method", None) == "BYE" and msg.call_id == call_id:
            return item.time
    return None


def media_periods(cap: Capture) -> list[MediaPeriod]:
    """The send/silent periods of every direction that SDP set up (both ways of each
    negotiated pair of endpoints, and every RTP stream whose destination SDP announced)."""
    from harness.capture.packets import addr_from_str
    from harness.capture.sdpmap import endpoints

    eps = endpoints(cap.sip_messages())
    by_key: dict[tuple[int, int, int], list[SdpEndpoint]] = {}
    for ep in eps:
        by_key.setdefault(ep.key, []).append(ep)
    # (sender key, receiver key) -> (sender address, receiver address, call-id)
    pairs: dict[tuple, tuple[str, str, str | None]] = {}
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
