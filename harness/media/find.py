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

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from harness.capture.addresses import addr_to_str
from harness.capture.parallel import can_fork, split
from harness.capture.records import gather
from harness.capture.table import HEAD, PROTO_UDP
from harness.media.payload_types import payload_info
from harness.media.streams import RtpStream
from harness.media.views import WINDOW, Window

if TYPE_CHECKING:  # the SIP parser is imported where SDP is read (maybe in a child process)
    from harness.capture.capture import Capture
    from harness.capture.sdpmap import SdpEndpoint

NON_MEDIA_PORTS = np.array(
    [53, 67, 68, 69, 123, 137, 138, 161, 162, 500, 514, 520, 546, 547, 1900, 3478, 4500,
     5060, 5061, 5353, 5355],
    dtype=np.int32,
)

_K = tuple(np.uint64(k) for k in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                   0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53))


def _distinct(x: np.ndarray) -> np.ndarray:
    """np.unique(x) by a sort (np.unique also imports numpy.ma, which costs more here)."""
    s = np.sort(x)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if s.size else s


Column = Callable[[], np.ndarray]


def _hashes(cols: Sequence[Column]) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit words per row: the first finds the row's group, the second checks it.

    With two columns (IPv4: the address pair, then ports and SSRC) the second column is the
    first word as it is (its SSRC half spreads the keys over the low bits) and the check is
    first column x odd constant + second column, exact among rows with the same first word.
    More columns are mixed into two independent hashes; each column is made (and dropped)
    in turn, and the arithmetic runs in place."""
    if len(cols) == 2:
        key = cols[1]().astype(np.uint64, copy=False)
        check = cols[0]().astype(np.uint64, copy=False)
        with np.errstate(over="ignore"):
            check *= _K[0]
            check += key
        return key, check
    h1 = h2 = tmp = None
    with np.errstate(over="ignore"):
        for k, make in enumerate(cols):
            v = make().astype(np.uint64, copy=False)
            if h1 is None or h2 is None or tmp is None:
                h1 = v * _K[k % len(_K)]
                h2 = v * _K[(k + 3) % len(_K)]
                tmp = np.empty_like(h1)
                continue
            np.multiply(v, _K[k % len(_K)], out=tmp)
            h1 ^= tmp
            np.right_shift(h1, np.uint64(29), out=tmp)
            h1 ^= tmp
            np.multiply(v, _K[(k + 3) % len(_K)], out=tmp)
            del v
            h2 += tmp
            np.right_shift(h2, np.uint64(31), out=tmp)
            h2 ^= tmp
        assert h1 is not None and h2 is not None
        h1 *= _K[5]
        h1 ^= h1 >> np.uint64(32)
        h2 *= _K[4]
        h2 ^= h2 >> np.uint64(29)
    return h1, h2


def _lookup(uniq: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray | bool]:
    """Index of each hash in the sorted ``uniq`` (a small table: a perfect hash on a slice
    of the bits, else binary search), and which hashes were found (True: all)."""
    dtype = np.uint16 if uniq.size <= 0xFFFF else np.uint32
    bits = min(22, 2 * int(uniq.size).bit_length() + 2)
    mask = np.uint64((1 << bits) - 1)
    table = None
    if uniq.size < 1 << 12:
        for shift in range(0, 64 - bits, 3):
            slots = (uniq >> np.uint64(shift)) & mask
            if _distinct(slots).size == uniq.size:
                table = np.zeros(1 << bits, dtype=dtype)
                table[slots] = np.arange(uniq.size, dtype=dtype)
                slots = h >> np.uint64(shift)
                slots &= mask
                ids = table[slots]
                break
    if table is None:
        ids = np.minimum(np.searchsorted(uniq, h), uniq.size - 1).astype(dtype)
    found = uniq[ids] == h
    return ids, (True if bool(found.all()) else found)


def group(cols: Sequence[Column]) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by the values of the columns (given as functions that make them, so that
    only one is in memory at a time).

    Returns (``order``, ``bounds``): ``order[bounds[g]:bounds[g + 1]]`` are the rows of group
    ``g`` in their original order, groups numbered by first appearance. Hash-based: the
    distinct hashes come from a sample plus whatever the sample missed, rows find their
    group through a small table, and a second, independent hash checks every row against
    its group (the grouping is redone exactly, with a lexicographic sort, if two distinct
    keys ever share the first hash).
    """
    h, check = _hashes(cols)
    if h.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    uniq = _distinct(h[:: max(1, h.size // 4096)])
    ids, found = _lookup(uniq, h)
    if found is not True:  # groups the sample missed: numbered after the others
        missed = np.flatnonzero(~found)
        more = _distinct(h[missed])
        more_ids, _ = _lookup(more, h[missed])
        if uniq.size + more.size > np.iinfo(ids.dtype).max:
            ids = ids.astype(np.uint32)
        ids[missed] = more_ids + uniq.size
        uniq = np.concatenate((uniq, more))
    del h
    order = np.argsort(ids, kind="stable")
    bounds = np.zeros(uniq.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=uniq.size), out=bounds[1:])
    first = order[bounds[:-1]]
    # Rows that share the first hash but not the second: a collision (2^-64 per pair).
    if not np.array_equal(check[first][ids], check):
        return _group_exact([c() for c in cols])
    del check, ids
    by_first = np.argsort(first)
    sizes = np.diff(bounds)[by_first]
    new_bounds = np.concatenate(([0], np.cumsum(sizes)))
    pieces = [order[bounds[g] : bounds[g + 1]] for g in by_first.tolist()]
    return np.concatenate(pieces), new_bounds


def _group_exact(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort(cols[::-1])
    keys = np.stack([c[order] for c in cols])
    change = np.concatenate(([True], np.any(keys[:, 1:] != keys[:, :-1], axis=0)))
    starts = np.flatnonzero(change)
    pieces = np.split(order, starts[1:])
    pieces = [np.sort(p) for p in pieces]
    pieces.sort(key=lambda p: int(p[0]))
    sizes = [p.size for p in pieces]
    return np.concatenate(pieces), np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def _ipv4_pair(cap: Capture, sel: np.ndarray) -> np.ndarray:
    """Source and destination IPv4 addresses in one word."""
    key = np.take(cap.src_lo, sel)
    key <<= np.uint64(32)
    dst = np.take(cap.dst_lo, sel)
    dst &= np.uint64(0xFFFFFFFF)
    key |= dst
    return key


def _ports_ssrc(cap: Capture, head: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Source port, destination port and SSRC in one word."""
    key = np.take(cap.ports, sel).astype(np.uint64)
    key <<= np.uint64(32)
    key |= _ssrc_column(head, sel)
    return key


def _ssrc_column(head: np.ndarray, sel: np.ndarray) -> np.ndarray:
    return np.take(head.view(">u4")[:, 2], sel)  # bytes 8-11 of each 12-byte head


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
    if np.any(cap.ip_version == 6):
        cols: list[Column] = [
            partial(np.take, cap.src_lo, sel),
            partial(np.take, cap.dst_lo, sel),
            partial(np.take, cap.ports, sel),
            partial(_ssrc_column, head, sel),
            partial(np.take, cap.src_hi, sel),
            partial(np.take, cap.dst_hi, sel),
        ]
    else:  # IPv4 only: the key is two 64-bit words, (source, destination), (ports, SSRC)
        cols = [partial(_ipv4_pair, cap, sel), partial(_ports_ssrc, cap, head, sel)]
    if cap.workers > 1 and sel.size >= PARALLEL_MIN and can_fork():
        # the SIP (pure Python) in a second process while this one groups the packets
        packets, eps = split(partial(_stream_packets, cap, sel, cols), partial(_endpoints, cap))
    else:
        eps = _endpoints(cap)
        packets = _stream_packets(cap, sel, cols)
    del sel, cols
    if heuristic is None:
        heuristic = not eps
    bounds, g_frame, g_seq, g_ts, g_marker, g_pt, g_ts_ns, g_sdp_ok, g_heur_ok = packets

    by_key: dict[tuple[int, int, int], list[SdpEndpoint]] = {}
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
        if entry is None:
            if not heur:
                continue
            keep = g_heur_ok[lo:hi]
        else:
            keep = np.where(entry[0] >= 0, g_sdp_ok[lo:hi], g_heur_ok[lo:hi] & heur)
        sl: slice | np.ndarray = slice(lo, hi) if bool(keep.all()) else lo + np.flatnonzero(keep)
        if isinstance(sl, np.ndarray) and sl.size == 0:
            continue
        ptv = g_pt[sl]
        ent = entry[0][keep] if entry is not None else None
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


def _endpoints(cap: Capture) -> list[SdpEndpoint]:
    from harness.capture.sdpmap import endpoints

    return endpoints(cap.sip_messages())


def _stream_packets(
    cap: Capture, sel: np.ndarray, cols: list[Column]
) -> tuple[np.ndarray, ...]:
    """The packets ``sel`` grouped into streams, and what the streams need of them, per
    packet in stream order (each stream takes views of these): stream bounds, frame
    numbers, RTP header fields but the SSRC (one per stream), times, and whether they
    pass as RTP on an SDP port and heuristically."""
    order, bounds = group(cols)
    g_frame = np.take(sel, order)  # packet index, made the frame number below
    del order
    # The RTP header a word at a time: gathers of 4-byte items beat one of 12-byte rows.
    head, n = np.ascontiguousarray(cap.head), len(cap)
    w0 = np.take(np.ndarray((n,), "<u4", head, 0, (HEAD,)), g_frame)  # V P X CC M PT seq
    g_ts = np.take(np.ndarray((n,), ">u4", head, 4, (HEAD,)), g_frame).astype(np.uint32)
    g_ts_ns = np.take(cap.ts_ns, g_frame)
    g_frame += 1
    b0 = (w0 & 0xFF).astype(np.uint8)
    g_marker = (w0 & 0x8000) != 0
    g_pt = ((w0 >> 8) & 0x7F).astype(np.uint8)
    g_seq = ((w0 >> 24) | ((w0 >> 8) & 0xFF00)).astype(np.uint16)
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
    src_eps: list[SdpEndpoint] | None,
    dst_eps: list[SdpEndpoint] | None,
) -> tuple[np.ndarray, list[SdpEndpoint]] | None:
    """Per packet, the index (into the returned list) of the SDP in force, -1 for none.

    The newest SDP announced before the packet, for its destination, else its source.
    """
    if src_eps is None and dst_eps is None:
        return None
    used: list[SdpEndpoint] = []
    chosen = np.full(frames.size, -1, dtype=np.int64)
    for lst in (src_eps, dst_eps):  # destination last: it wins
        if lst is None:
            continue
        base = len(used)
        used.extend(lst)
        if frames[0] > lst[-1].frame:  # the usual case: every SDP came before the stream
            chosen[:] = base + len(lst) - 1
            continue
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
    pt: np.ndarray, ent: np.ndarray | None, eps: list[SdpEndpoint]
) -> tuple[dict[int, str], np.ndarray, dict[int, tuple[str, int]], int | None]:
    """tshark names (first packet of each type), per-packet jitter clocks, merged rtpmap,
    and the frame of the SDP that set the stream up (None: heuristic)."""
    combo = pt.astype(np.int64)  # (SDP entry + 1) * 256 + payload type, never negative
    if ent is not None:
        combo += (ent + 1) * 256
    first_combo = int(combo[0])
    if bool(np.all(combo == first_combo)):
        uniq = np.array([first_combo])
    else:
        uniq = np.flatnonzero(np.bincount(combo))
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
