"""Per-direction TCP byte streams in sequence order, as Wireshark's reassembly delivers them.

Retransmitted bytes are delivered once; segments that arrive ahead of a gap wait for it;
a gap that the capture never fills (a segment the capture lost) is skipped at the end, and
the bytes after it are flagged so that a consumer can resynchronise.
"""

from __future__ import annotations

from dataclasses import dataclass

SYN = 0x02
FIN = 0x01
RST = 0x04


@dataclass(frozen=True)
class Segment:
    frame: int
    seq: int
    flags: int
    data: bytes


@dataclass(frozen=True)
class Chunk:
    """New in-order bytes of one direction, delivered by the segment with frame ``frame``."""

    frame: int
    data: bytes
    after_gap: bool = False  # bytes before these are missing from the capture


def _rel(seq: int, base: int) -> int:
    """Signed 32-bit distance from ``base`` to ``seq``."""
    d = (seq - base) & 0xFFFFFFFF
    return d - 0x100000000 if d & 0x80000000 else d


def reassemble(segments: list[Segment]) -> list[Chunk]:
    """In-order bytes of one direction; ``segments`` in capture order."""
    out: list[Chunk] = []
    nxt: int | None = None
    pending: list[Segment] = []  # segments beyond a gap, waiting for it to fill
    restart = False
    for seg in segments:
        if seg.flags & SYN:
            new_isn = (seg.seq + 1) & 0xFFFFFFFF
            if nxt is None or (out and new_isn != nxt):
                restart = bool(out)  # a new connection on the same addresses and ports
                nxt = new_isn
                pending.clear()
            continue
        if not seg.data:
            continue
        if nxt is None:
            nxt = seg.seq
        rel = _rel(seg.seq, nxt)
        if rel + len(seg.data) <= 0:
            continue  # retransmission of delivered bytes
        if rel > 0:
            pending.append(seg)
            continue
        nxt = _deliver(out, seg, rel, nxt, restart)
        restart = False
        nxt = _drain(pending, nxt, out, seg.frame)
    if pending and nxt is not None:
        # A gap the capture never fills: skip it and deliver what lies beyond.
        while pending:
            base = nxt
            seg = min(pending, key=lambda s: _rel(s.seq, base))
            pending.remove(seg)
            rel = _rel(seg.seq, nxt)
            if rel + len(seg.data) <= 0:
                continue
            gap = rel > 0
            if gap:
                nxt, rel = seg.seq, 0
            nxt = _deliver(out, seg, rel, nxt, gap)
            nxt = _drain(pending, nxt, out, seg.frame)
    return out


def _deliver(
    out: list[Chunk], seg: Segment, rel: int, nxt: int, gap: bool, frame: int | None = None
) -> int:
    piece = seg.data[-rel:] if rel else seg.data
    out.append(Chunk(seg.frame if frame is None else frame, piece, after_gap=gap))
    return (nxt + len(piece)) & 0xFFFFFFFF


def _drain(pending: list[Segment], nxt: int, out: list[Chunk], frame: int) -> int:
    """Deliver waiting segments that the new bytes made contiguous, in sequence order,
    as delivered by ``frame`` (the segment that filled the gap)."""
    while pending:
        base = nxt
        seg = min(pending, key=lambda s: _rel(s.seq, base))
        rel = _rel(seg.seq, nxt)
        if rel > 0:
            break
        pending.remove(seg)
        if rel + len(seg.data) > 0:
            nxt = _deliver(out, seg, rel, nxt, False, max(frame, seg.frame))
    return nxt
