"""pcap and pcapng containers: walk the records once, return per-packet numpy arrays.

The walk is the only sequential step: one record's length says where the next one starts.
Large files are walked on arrays (:mod:`harness.capture.lockstep`), the rest in Python with
runs of same-sized records skipped in bulk; everything after the walk works on arrays.
:mod:`harness.capture.pcap` and :mod:`harness.capture.pcapng` read the two formats.

Problems that leave part of the file readable (a cut-off last record, a corrupt length) end
the walk with a warning; problems that leave nothing readable raise :class:`CaptureError`.
"""

from __future__ import annotations

import struct

from harness.capture.errors import CaptureError
from harness.capture.pcap import PCAP_MAGICS, read_pcap
from harness.capture.pcapng import PCAPNG_SHB, read_pcapng
from harness.capture.records import Buffer, Records


def read_records(buf: Buffer, workers: int = 1) -> Records:
    """Parse a pcap or pcapng file held in ``buf``; raise CaptureError if it is neither.

    ``workers=2`` lets a forked process walk half of a large pcap file."""
    if len(buf) == 0:
        raise CaptureError("empty file: not a capture")
    if len(buf) < 4:
        raise CaptureError(f"not a capture file: only {len(buf)} bytes")
    magic = struct.unpack_from("<I", buf, 0)[0]
    if magic in PCAP_MAGICS:
        return read_pcap(buf, *PCAP_MAGICS[magic], workers)
    if magic == PCAPNG_SHB:
        return read_pcapng(buf)
    head = buf[:8]
    shown = head.decode("ascii", "replace") if all(32 <= b < 127 for b in head) else head.hex(" ")
    raise CaptureError(f"not a pcap or pcapng file: it starts with {shown!r}")

