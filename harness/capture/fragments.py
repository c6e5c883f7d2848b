"""IP fragment reassembly (rare, so on a slow path): the datagram is reported at the
fragment that completes it, its bytes appended past the end of the file buffer."""

from __future__ import annotations

import struct

import numpy as np

from harness.capture.table import HEAD, PROTO_TCP, PROTO_UDP, Fragment, PacketTable


def reassemble(t: PacketTable, frags: list[Fragment], u8: np.ndarray, file_len: int) -> None:
    """IP fragment reassembly; the datagram is reported at the fragment that completes it."""
    pending: dict[tuple[object, ...], list[tuple[int, bytes, bool]]] = {}
    extra = bytearray()
    for i, offset, key, proto, more, start, stop in frags:
        parts = pending.setdefault(key, [])
        parts.append((offset, u8[start:stop].tobytes(), more))
        if all(p[2] for p in parts):
            continue  # the last fragment has not arrived
        parts.sort(key=lambda p: p[0])
        covered = 0
        for off, chunk, _more in parts:
            if off > covered:
                break
            covered = max(covered, off + len(chunk))
        total = max(off + len(chunk) for off, chunk, more in parts if not more)
        if covered < total:
            continue
        assembled = bytearray(total)
        for off, chunk, _more in parts:
            assembled[off : off + len(chunk)] = chunk
        del assembled[total:]
        del pending[key]
        t.fragment[i] = False
        base = file_len + len(extra)
        extra += assembled
        t.proto[i] = proto
        if proto == PROTO_UDP and total >= 8:
            sp, dp, ulen = struct.unpack_from("!HHH", assembled, 0)
            t.sport[i], t.dport[i] = sp, dp
            length = max(0, min(ulen or total, total) - 8)
            _set_payload(t, i, base + 8, length, assembled[8 : 8 + length])
        elif proto == PROTO_TCP and total >= 20:
            sp, dp, seq = struct.unpack_from("!HHI", assembled, 0)
            doff = (assembled[12] >> 4) * 4
            t.sport[i], t.dport[i] = sp, dp
            t.tcp_seq[i] = seq
            t.tcp_flags[i] = assembled[13]
            _set_payload(t, i, base + doff, max(0, total - doff), assembled[doff:])
        else:
            t.proto[i] = 0
    t.extra = bytes(extra)


def _set_payload(t: PacketTable, i: int, off: int, length: int, data: bytes | bytearray) -> None:
    t.payload_off[i] = off
    t.payload_len[i] = t.payload_wire_len[i] = length
    head = data[:HEAD]
    t.head[i] = np.frombuffer(head.ljust(HEAD, b"\0"), dtype=np.uint8)
