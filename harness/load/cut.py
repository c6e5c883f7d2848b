"""Each failed call's own packets cut from the run's capture into a pcap of their own.

A call's frames are those of its SIP messages (both Call-IDs) and of its RTP streams (the
5-tuples the correlation gave it). The run's capture is a classic pcap (tcpdump -w): the
file header is copied and each chosen record copied as it is, in capture order.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.load.correlate import CorrelatedCall

MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
          b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


class CutError(ValueError):
    """The capture cannot be cut (not a classic pcap, truncated)."""


def frames_of(call: CorrelatedCall) -> set[int]:
    frames = {m.frame for m in call.messages}
    for s in call.streams:
        frames.update(int(f) for f in s.frame)
    return frames


def cut(source: Path, wanted: Mapping[Path, Iterable[int]]) -> dict[Path, int]:
    """Writes, for each output path, the frames (1-based) it wants; returns the number of
    packets each got. One pass over ``source``."""
    by_frame: dict[int, list[Path]] = defaultdict(list)
    for out, frames in wanted.items():
        for f in frames:
            by_frame[f].append(out)
    counts = {out: 0 for out in wanted}
    with source.open("rb") as src:
        header = src.read(24)
        endian = MAGICS.get(header[:4])
        if endian is None or len(header) < 24:
            raise CutError(f"{source}: not a classic pcap file (pcapng cannot be cut here)")
        files = {}
        try:
            for out in wanted:
                out.parent.mkdir(parents=True, exist_ok=True)
                files[out] = out.open("wb")
                files[out].write(header)
            frame = 0
            rec = struct.Struct(endian + "IIII")
            while True:
                head = src.read(16)
                if len(head) < 16:
                    break
                frame += 1
                incl = rec.unpack(head)[2]
                data = src.read(incl)
                if len(data) < incl:
                    break  # a truncated last record: what came before is kept
                for out in by_frame.get(frame, ()):
                    files[out].write(head + data)
                    counts[out] += 1
        finally:
            for fh in files.values():
                fh.close()
    return counts
