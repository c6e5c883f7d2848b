"""One capture file, read once into numpy arrays."""

from __future__ import annotations

import mmap
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.capture.addresses import addr_to_str
from harness.capture.errors import CaptureError
from harness.capture.formats import read_records
from harness.capture.links import SUPPORTED_LINKTYPES, linktype_name
from harness.capture.packets import decode
from harness.capture.table import PacketTable

if TYPE_CHECKING:  # imported when first used: SIP parsing is not on every path
    from harness.capture.sip import CapturedSip


class Capture:
    """A pcap or pcapng file: per-packet arrays over one bytes buffer.

    Arrays (index i is Wireshark's frame ``i + 1``): ``frame``, ``ts_ns`` (epoch ns),
    ``time`` (epoch s, float64), ``ip_version`` (4, 6, 0 = not IP), ``proto`` (17 UDP and
    6 TCP when decoded, else the IP protocol), ``src_hi``/``src_lo``/``dst_hi``/``dst_lo``
    (addresses as two uint64 halves of the IPv6 form; :meth:`src`/:meth:`dst` give text),
    ``sport``/``dport`` (uint16 views of ``ports``, sport << 16 | dport),
    ``payload_off``/``payload_len`` (transport payload in ``buf``, as captured),
    ``payload_wire_len`` (as sent), ``head`` (first 12 payload bytes),
    ``tcp_seq``, ``tcp_flags``, ``fragment``.
    ``warnings`` lists what could not be read. ``workers``: processes its bulk steps may use.
    """

    def __init__(
        self,
        path: Path,
        buf: bytes | mmap.mmap,
        table: PacketTable,
        file_format: str,
        warnings: list[str],
        workers: int = 1,
    ) -> None:
        self.path = path
        self.file_format = file_format
        self.workers = workers
        self.table = table
        self.buf = bytes(buf) + table.extra if table.extra else buf
        self.u8 = np.frombuffer(self.buf, dtype=np.uint8)
        self.warnings = warnings
        self.ts_ns = table.ts_ns
        self.ip_version = table.ip_version
        self.proto = table.proto
        self.src_hi, self.src_lo = table.src_hi, table.src_lo
        self.dst_hi, self.dst_lo = table.dst_hi, table.dst_lo
        self.sport, self.dport = table.sport, table.dport
        self.ports = table.ports
        self.payload_off = table.payload_off
        self.payload_len = table.payload_len
        self.payload_wire_len = table.payload_wire_len
        self.head = table.head
        self.tcp_seq = table.tcp_seq
        self.tcp_flags = table.tcp_flags
        self.fragment = table.fragment
        self._sip: list[CapturedSip] | None = None
        # what later layers derive from the packets once (RTP streams), by their key
        self.derived: dict[object, object] = {}

    def __len__(self) -> int:
        return int(self.ts_ns.size)

    @cached_property
    def frame(self) -> np.ndarray:
        """Wireshark's frame numbers (1-based)."""
        return np.arange(1, len(self) + 1, dtype=np.int64)

    @cached_property
    def time(self) -> np.ndarray:
        """Epoch seconds (float64; ``ts_ns`` keeps the exact nanoseconds)."""
        return self.ts_ns / 1e9

    def __repr__(self) -> str:
        return f"Capture({str(self.path)!r}, {len(self)} packets, {self.file_format})"

    def src(self, i: int) -> str:
        return addr_to_str(self.src_hi[i], self.src_lo[i])

    def dst(self, i: int) -> str:
        return addr_to_str(self.dst_hi[i], self.dst_lo[i])

    def payload(self, i: int) -> bytes:
        off = int(self.payload_off[i])
        return self.buf[off : off + int(self.payload_len[i])]

    def sip_messages(self) -> list[CapturedSip]:
        """Every SIP message (UDP datagrams and reassembled TCP), in capture order."""
        if self._sip is None:
            from harness.capture.sip import extract

            self._sip = extract(self.table, self.buf)
        return self._sip


def open_capture(path: str | Path, workers: int = 1) -> Capture:
    """Read a pcap or pcapng file. Raises CaptureError when nothing in it can be used.

    ``workers=2`` lets a forked process walk and decode half of a large capture, and parse
    its SIP while the RTP streams are grouped (Linux only; the results are the same)."""
    path = Path(path)
    buf = _read(path)
    try:
        records = read_records(buf, workers)
    except CaptureError as exc:
        exc.path = str(path)
        raise
    warnings = list(records.warnings)
    lt = records.linktype
    # a pcap file's one link type is a broadcast array: no need to sort a million copies
    lts = {int(lt[0])} if lt.size and lt.strides == (0,) else set(np.unique(lt).tolist())
    if len(records) and not lts & SUPPORTED_LINKTYPES:
        names = ", ".join(linktype_name(lt) for lt in sorted(lts))
        raise CaptureError(f"unsupported link type {names}: no packet can be decoded", str(path))
    if len(records) == 0 and not warnings:
        warnings.append("the capture holds no packets")
    table = decode(records, buf, workers)
    warnings.extend(table.warnings)
    return Capture(path, buf, table, records.file_format, warnings, workers)


def _read(path: Path) -> bytes | mmap.mmap:
    """The file's bytes: memory-mapped (no copy) when possible, else read."""
    try:
        with path.open("rb") as f:
            try:
                if path.stat().st_size > 0:
                    # MAP_POPULATE maps every page at once: cheaper than a fault per page,
                    # and every page gets read anyway.
                    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
                    return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
            except (OSError, ValueError, AttributeError):
                pass
            return f.read()
    except IsADirectoryError:
        raise CaptureError("is a directory", str(path)) from None
    except FileNotFoundError:
        raise CaptureError("no such file", str(path)) from None
    except PermissionError:
        raise CaptureError("permission denied", str(path)) from None
    except OSError as exc:
        raise CaptureError(f"cannot read ({exc.strerror or exc})", str(path)) from None
