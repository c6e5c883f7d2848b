"""Find the RTP streams of a capture: from the SDP of its SIP, else heuristically.

SDP-guided (tshark's default): a UDP packet whose destination (else source) address and
port were announced by an SDP earlier in the capture is RTP if it is version 2 and not
RTCP multiplexed on the port (marker set with payload type 72-76).

Heuristic (tshark's ``rtp_udp``): any other UDP packet that is version 2, has a payload
type outside 72-76, and whose CSRC list, header extension and padding fit. Used by default
only when the capture has no SDP at all; it also skips packets to or from a few well-known
non-media ports (DNS, DHCP, NTP, SNMP, syslog, SIP, STUN, ...) that tshark would give to
their own dissectors first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from harness.capture.addresses import addr_to_str
from harness.capture.flows import flow_groups, mix
from harness.capture.parallel import can_fork, split
from harness.capture.records import gather
from harness.capture.table import HEAD, PROTO_UDP
from harness.media.payload_types import payload_info
from harness.media.streams import RtpStream
from harness.media.views import WINDOW, Window

if TYPE_CHECKING:  # the SIP parser is imported where SDP is read (maybe in a child process)
    from harness.capture.capture import Capture


class SdpTarget(NamedTuple):
    """What finding streams needs of an SDP endpoint (``harness.capture.sdpmap.SdpEndpoint``),
    as plain values: read in a second process, it comes back without this process having
    to import the SIP parser to unpickle it (~30 ms)."""

    frame: int
    key: tuple[int, int, int]  # (addr hi, addr lo, port)
    rtpmap: dict[int, tuple[str, int]]

NON_MEDIA_PORTS = np.array(
    [53, 67, 68, 69, 123, 137, 138, 161, 162, 500, 514, 520, 546, 547, 1900, 3478, 4500,
     5060, 5061, 5353, 5355],
    dtype=np.int32,
)

def _hashes(words: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The hash that finds a packet's stream (:func:`harness.capture.flows.mix`) of each
    row of its key words, twice: the grouping checks every key word, so a test may make
    every hash collide (only the first is used)."""
    h = mix(list(words))
    return h, h


PARALLEL_MIN = 200_000  # packets: below this the SIP is parsed before the grouping


def rtp_streams(cap: Capture, heuristic: bool | None = None) -> list[RtpStream]:
    """RTP streams of the capture, in order of first packet (found once, then kept).

    ``heuristic``: None (default) finds streams from SDP, and heuristically only when
    the capture carries no SDP at all; True adds heuristic streams to the SDP ones;
    False uses SDP only.
    """
    key = ("rtp_streams", heuristic)
    found = cap.derived.get(key)
    if found is None:
        window = cap.derived.get(WINDOW)
        if isinstance(window, Window):
            found = [s for s in rtp_streams(window.capture, heuristic)
                     if window.start <= float(s.time[0]) < window.end]
        else:
            found = find_streams(cap, heuristic)
        cap.derived[key] = found
    return found  # type: ignore[return-value]


def find_streams(cap: Capture, heuristic: bool | None = None) -> list[RtpStream]:
    head = cap.head
    sel = np.flatnonzero(
        (cap.proto == PROTO_UDP)
        & ((head[:, 0] >> 6) == 2)
        & (cap.payload_len >= 12)
        & ~cap.fragment
    )
    if sel.size == 0:
        return []
    if cap.workers > 1 and sel.size >= PARALLEL_MIN and can_fork():
        # the SIP (pure Python) in a second process while this one groups the packets
        packets, eps = split(partial(_stream_packets, cap, sel), partial(_endpoints, cap))
    else:
        eps = _endpoints(cap)
        packets = _stream_packets(cap, sel)
    del sel
    if heuristic is None:
        heuristic = not eps
    bounds, g_frame, g_seq, g_ts, g_marker, g_pt, g_ts_ns, g_sdp_ok, g_heur_ok = packets

    by_key: dict[tuple[int, int, int], list[SdpTarget]] = {}
    for ep in eps:  # in frame order
        by_key.setdefault(ep.key, []).append(ep)
    start_ns = int(cap.ts_ns[0])
    non_media = set(NON_MEDIA_PORTS.tolist())
    out: list[RtpStream] = []
    flows: dict[tuple[str, int, str, int], list[RtpStream]] = {}
    for g in range(bounds.size - 1):
        lo, hi = int(bounds[g]), int(bounds[g + 1])
        i = int(g_frame[lo]) - 1
        sport, dport = int(cap.sport[i]), int(cap.dport[i])
        dkey = (int(cap.dst_hi[i]), int(cap.dst_lo[i]), dport)
        skey = (int(cap.src_hi[i]), int(cap.src_lo[i]), sport)
        heur = heuristic and sport not in non_media and dport not in non_media
        entry = _entries(g_frame[lo:hi], by_key.get(skey), by_key.get(dkey))
        ent: np.ndarray | int | None = None if entry is None else entry[0]
        if ent is None:
            if not heur:
                continue
            keep = g_heur_ok[lo:hi]
        elif isinstance(ent, int):
            keep = g_sdp_ok[lo:hi] if ent >= 0 else g_heur_ok[lo:hi] & heur
        else:
            keep = np.where(ent >= 0, g_sdp_ok[lo:hi], g_heur_ok[lo:hi] & heur)
        sl: slice | np.ndarray = slice(lo, hi) if bool(keep.all()) else lo + np.flatnonzero(keep)
        if isinstance(sl, np.ndarray) and sl.size == 0:
            continue
        ptv = g_pt[sl]
        if isinstance(ent, np.ndarray):
            ent = ent[keep]
        names, clocks, rtpmap, setup = _payload_table(ptv, ent, entry[1] if entry else [])
        stream = RtpStream(
            src=addr_to_str(cap.src_hi[i], cap.src_lo[i]),
            src_port=sport,
            dst=addr_to_str(cap.dst_hi[i], cap.dst_lo[i]),
            dst_port=dport,
            ssrc=int.from_bytes(cap.head[i, 8:12].tobytes(), "big"),
            payload_types=sorted(names),
            clock_rate=_main_clock(_main_pt(ptv), rtpmap),
            frame=g_frame[sl],
            seq=g_seq[sl],
            timestamp=g_ts[sl],
            marker=g_marker[sl],
            pt=ptv,
            ts_ns=g_ts_ns[sl],
            jitter_clock=clocks,
            pt_names=names,
            rtpmap=rtpmap,
            capture_start_ns=start_ns,
            setup_frame=setup,
            buffer=cap.u8,
            payload_source=partial(_rtp_payload, cap, g_frame[sl]),
        )
        out.append(stream)
        flows.setdefault(stream.key[:4], []).append(stream)
    for members in flows.values():
        if len(members) > 1:
            _count_ssrc_changes(members)
    out.sort(key=lambda st: int(st.frame[0]))
    return out


def _endpoints(cap: Capture) -> list[SdpTarget]:
    from harness.capture.sdpmap import endpoints

    return [SdpTarget(ep.frame, ep.key, ep.rtpmap) for ep in endpoints(cap.sip_messages())]


def _stream_packets(cap: Capture, sel: np.ndarray) -> tuple[np.ndarray, ...]:
    """The packets ``sel`` grouped into streams, and what the streams need of them, per
    packet in stream order (each stream takes views of these): stream bounds, frame
    numbers, RTP header fields but the SSRC (one per stream), times, and whether they
    pass as RTP on an SDP port and heuristically."""
    order, bounds = flow_groups(cap.table, sel, hash_of=lambda words: _hashes(words)[0])
    g_frame = np.take(sel, order)  # packet index, made the frame number below
    del order
    # The RTP header a word at a time, each word's column made contiguous first: a
    # gather from a strided view costs more than the copy and a plain gather.
    head, n = np.ascontiguousarray(cap.head), len(cap)
    w0 = np.take(np.ndarray((n,), "<u4", head, 0, (HEAD,)).copy(), g_frame)  # V P X CC M PT seq
    g_ts = np.take(np.ndarray((n,), ">u4", head, 4, (HEAD,)).astype(np.uint32), g_frame)
    g_ts_ns = np.take(cap.ts_ns, g_frame)
    g_frame += 1
    b = w0.view(np.uint8).reshape(-1, 4)
    b0 = b[:, 0].copy()
    g_marker = b[:, 1] >= 0x80
    g_pt = b[:, 1] & 0x7F
    w0 >>= 16
    g_seq = w0.astype(np.uint16).byteswap()
    del w0, b
    g_sdp_ok, g_heur_ok = _acceptance(cap, g_frame, b0, g_marker, g_pt)
    return bounds, g_frame, g_seq, g_ts, g_marker, g_pt, g_ts_ns, g_sdp_ok, g_heur_ok


def _acceptance(
    cap: Capture, frame: np.ndarray, b0: np.ndarray, marker: np.ndarray, pt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per packet: valid RTP on an SDP port; passes tshark's rtp_udp heuristic (ports
    aside). Lengths only matter with CSRCs, an extension or padding: checked on those."""
    rtcp_range = (pt >= 72) & (pt <= 76)
    sdp_ok = ~(marker & rtcp_range)
    heur_ok = ~rtcp_range
    special = np.flatnonzero((b0 & 0x3F) != 0)
    if special.size:
        q = frame[special] - 1
        bs = b0[special]
        cap_len = cap.payload_len[q]
        wire_len = cap.payload_wire_len[q]
        complete = cap_len >= wire_len
        padding = (bs & 0x20) != 0
        hlen, pad = _header_len(cap, q, bs)
        ext_cut = ((bs & 0x10) != 0) & (cap_len < 12 + 4 * (bs & 0x0F).astype(np.int64) + 4)
        sdp_ok[special] &= ~(padding & ~complete)
        heur_ok[special] &= (
            ~ext_cut
            & (wire_len >= hlen)
            & ~(padding & complete & ((wire_len - hlen < pad) | (pad == 0)))
        )
    return sdp_ok, heur_ok


def _rtp_payload(cap: Capture, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offset, length on the wire) of the RTP payloads of the packets with these frames."""
    p = frames - 1
    hlen, pad = _header_len(cap, p, cap.head[p, 0])
    return cap.payload_off[p] + hlen, np.maximum(cap.payload_wire_len[p] - hlen - pad, 0)


def _header_len(cap: Capture, p: np.ndarray, b0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RTP header length (CSRCs, extension) and padding length of packets ``p``."""
    hlen = 12 + 4 * (b0 & 0x0F).astype(np.int64)
    pad = np.zeros(p.size, dtype=np.int64)
    ext = np.flatnonzero((b0 & 0x10) != 0)
    if ext.size:
        room = cap.payload_len[p[ext]] >= hlen[ext] + 4
        ee = ext[room]
        words = gather(cap.buf, cap.payload_off[p[ee]] + hlen[ee] + 2, 2).astype(np.int64)
        hlen[ee] += 4 + 4 * ((words[:, 0] << 8) | words[:, 1])
    padded = np.flatnonzero(
        ((b0 & 0x20) != 0)
        & (cap.payload_len[p] >= cap.payload_wire_len[p])
        & (cap.payload_len[p] > 0)
    )
    if padded.size:
        last = cap.payload_off[p[padded]] + cap.payload_len[p[padded]] - 1
        pad[padded] = cap.u8[last]
    return hlen, pad


def _entries(
    frames: np.ndarray,
    src_eps: list[SdpTarget] | None,
    dst_eps: list[SdpTarget] | None,
) -> tuple[np.ndarray | int, list[SdpTarget]] | None:
    """Per packet, the index (into the returned list) of the SDP in force, -1 for none; one
    int when it is the same for every packet (the usual case: no array to make).

    The newest SDP announced before the packet, for its destination, else its source.
    """
    if src_eps is None and dst_eps is None:
        return None
    used: list[SdpTarget] = []
    chosen: np.ndarray | int = -1
    for lst in (src_eps, dst_eps):  # destination last: it wins
        if lst is None:
            continue
        base = len(used)
        used.extend(lst)
        if frames[0] > lst[-1].frame:  # the usual case: every SDP came before the stream
            chosen = base + len(lst) - 1
            continue
        if isinstance(chosen, int):
            chosen = np.full(frames.size, chosen, dtype=np.int64)
        ep_frames = np.array([ep.frame for ep in lst])
        pos = np.searchsorted(ep_frames, frames, side="left") - 1
        ok = pos >= 0
        chosen[ok] = base + pos[ok]
    return chosen, used


def _count_ssrc_changes(members: list[RtpStream]) -> None:
    """SSRC switches within one direction, counted on the packets of all its streams."""
    frames = np.concatenate([m.frame for m in members])
    ssrcs = np.concatenate([np.full(m.frame.size, m.ssrc, dtype=np.int64) for m in members])
    order = np.argsort(frames, kind="stable")
    changes = int(np.count_nonzero(np.diff(ssrcs[order]) != 0))
    for m in members:
        m.ssrc_changes = changes


def _payload_table(
    pt: np.ndarray, ent: np.ndarray | int | None, eps: list[SdpTarget]
) -> tuple[dict[int, str], np.ndarray, dict[int, tuple[str, int]], int | None]:
    """tshark names (first packet of each type), per-packet jitter clocks, merged rtpmap,
    and the frame of the SDP that set the stream up (None: heuristic). ``ent``: each
    packet's SDP entry (-1: none), one for all, or None."""
    # (SDP entry + 1) * 256 + payload type, never negative
    combo: np.ndarray | None = None
    if isinstance(ent, np.ndarray):
        combo = pt.astype(np.int64)
        combo += (ent + 1) * 256
        shift, first_combo = 0, int(combo[0])
        one = bool(np.all(combo == first_combo))
    else:  # one entry for all: a combination per payload type
        shift = 0 if ent is None else (ent + 1) * 256
        first_combo = int(pt[0]) + shift
        one = bool(np.all(pt == pt[0]))
    if one:
        uniq = np.array([first_combo])
    elif combo is not None:
        uniq = np.flatnonzero(np.bincount(combo))
    else:
        uniq = np.flatnonzero(np.bincount(pt)) + shift
    clocks_u = np.zeros(uniq.size, dtype=np.int64)
    names_u: list[str] = []
    for k, c in enumerate(uniq.tolist()):
        e, p = divmod(c, 256)
        name, clock = payload_info(p, eps[e - 1].rtpmap if e > 0 else None)
        names_u.append(name)
        clocks_u[k] = clock
    names: dict[int, str] = {}
    if uniq.size == 1:
        names[first_combo % 256] = names_u[0]
    else:
        if combo is None:
            combo = pt.astype(np.int64) + shift
        first = [int(np.argmax(combo == c)) for c in uniq.tolist()]
        for k in np.argsort(first, kind="stable").tolist():
            names.setdefault(int(uniq[k] % 256), names_u[k])
    used = sorted({int(e) - 1 for e in uniq // 256 if e > 0})
    merged: dict[int, tuple[str, int]] = {}
    for e in used:
        merged.update(eps[e].rtpmap)
    if first_combo >= 256:  # the first packet's SDP
        setup: int | None = eps[first_combo // 256 - 1].frame
    else:
        setup = eps[used[-1]].frame if used else None
    if uniq.size == 1:  # one payload type and setup: a constant, without the memory
        clocks = np.broadcast_to(clocks_u[:1], (pt.size,))
    else:
        lut = np.zeros(int(uniq[-1]) + 1, dtype=np.int64)
        lut[uniq] = clocks_u
        clocks = lut[combo]
    return names, clocks, merged, setup


def _main_pt(pt: np.ndarray) -> int:
    """The most frequent payload type (the lowest of equals)."""
    return int(np.argmax(np.bincount(pt)))


def _main_clock(pt: int, rtpmap: dict[int, tuple[str, int]]) -> int:
    if pt in rtpmap and rtpmap[pt][1]:
        return rtpmap[pt][1]
    _name, clock = payload_info(pt, rtpmap or None)
    return clock
