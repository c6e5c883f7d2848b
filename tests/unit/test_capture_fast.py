"""The fast paths of capture reading give what the general code gives, array for array.

Header decoding (:mod:`harness.capture.fast`) takes chunks of plain IPv4/UDP packets; each
capture here is decoded with it and with it turned off, on real captures and generated
ones whose chunks mix plain packets with every case the fast path leaves alone.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from harness.capture import open_capture
from harness.capture import packets as packets_mod
from harness.capture.table import PacketTable
from harness.media.find import rtp_streams
from tests.support.capgen import (
    ETHERNET,
    SLL,
    SLL2,
    Frame,
    StreamSpec,
    ip_tcp,
    ip_udp,
    ipv4,
    ipv6,
    link,
    merge,
    udp,
    write_pcap,
    write_pcapng,
)

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
REAL = sorted(p for p in DATA.rglob("*.pcap*") if p.is_file())


def _decoded(path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple:
    taken = []
    real = packets_mod.decode_fast

    def counted(*args: object) -> bool:
        done = fast and real(*args)  # type: ignore[arg-type]
        taken.append(done)
        return done

    with monkeypatch.context() as m:
        m.setattr(packets_mod, "CHUNK", 64)  # many chunks: some plain, some mixed
        m.setattr(packets_mod, "decode_fast", counted)
        cap = open_capture(path)
    streams = [s.stats() for s in rtp_streams(cap, heuristic=True)]
    return cap.table, cap.warnings, cap.sip_messages(), taken, streams


def _assert_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PacketTable, int]:
    """The table, warnings and SIP both ways; the table and how many chunks went fast."""
    t_fast, w_fast, sip_fast, taken, streams_fast = _decoded(path, monkeypatch, fast=True)
    t_slow, w_slow, sip_slow, _, streams_slow = _decoded(path, monkeypatch, fast=False)
    for f in fields(PacketTable):
        a, b = getattr(t_fast, f.name), getattr(t_slow, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"{path.name}: {f.name}"
        elif f.name != "warnings":
            assert a == b, f"{path.name}: {f.name}"
    assert w_fast == w_slow
    assert streams_fast == streams_slow  # and so the RTP figures
    assert [(m.frame, m.transport, m.data, m.error) for m in sip_fast] == [
        (m.frame, m.transport, m.data, m.error) for m in sip_slow
    ]
    return t_fast, sum(taken)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_captures_decode_the_same_both_ways(path: Path, monkeypatch) -> None:
    table, _fast = _assert_same(path, monkeypatch)
    assert table.ts_ns.size > 0


def _odd_frames(lt: int = ETHERNET) -> list[Frame]:
    """RTP both ways with, among it, every packet the fast path must leave alone."""
    a = StreamSpec("10.1.0.1", 4000, "10.1.0.2", 5000, ssrc=1, count=400, seed=1, dup=0.01)
    b = StreamSpec("10.1.0.2", 5000, "10.1.0.1", 4000, ssrc=2, count=400, seed=2, loss=0.02,
                   reorder=0.02)  # fmt: skip
    # the same direction as ``a`` with another SSRC from 5 s on: an SSRC change
    c = StreamSpec("10.1.0.1", 4000, "10.1.0.2", 5000, ssrc=3, count=100, seed=3,
                   start_ns=a.start_ns + 5_000_000_000 + 7_000_000)  # fmt: skip
    frames = merge(a.frames(lt), b.frames(lt), c.frames(lt))
    rtp_head = b"\x80\x00\x00\x05" + bytes(8) + b"y" * 20
    big = udp(4000, 5000, rtp_head + b"z" * 1500)
    odd = [
        link(lt, ipv4("10.1.0.1", "10.1.0.2", 17, big[:1000], ident=7, frag=0x2000)),
        link(lt, ipv4("10.1.0.1", "10.1.0.2", 17, big[1000:], ident=7, frag=125)),
        link(lt, ip_udp("10.1.0.1", "10.1.0.2", 4000, 5000, rtp_head), vlans=(100,))
        if lt == ETHERNET
        else link(lt, ipv4("10.1.0.1", "10.1.0.2", 17, udp(4000, 5000, rtp_head), frag=3)),
        link(lt, ipv6("fd00::1", "fd00::2", 17, udp(4000, 5000, rtp_head))),
        link(lt, ip_tcp("10.1.0.1", "10.1.0.2", 5060, 5060, 1, b"OPTIONS x SIP/2.0\r\n")),
        link(lt, ip_udp("10.1.0.1", "10.1.0.2", 4000, 5000, rtp_head))[:40],  # cut
        link(lt, ip_udp("10.1.0.1", "10.1.0.2", 4000, 5000, rtp_head))[:50],  # snaplen
        link(lt, ipv4("10.1.0.1", "10.1.0.2", 17, udp(1, 2, b"x", length=3))),  # bad len
        link(lt, ipv4("10.1.0.1", "10.1.0.2", 17, udp(1, 2, b"x"), total=0)),  # TSO
        link(lt, ip_udp("10.1.0.1", "10.1.0.2", 4000, 5000, b"")),  # empty payload
    ]
    for k, data in enumerate(odd):
        frames.insert(100 + 37 * k, Frame(frames[100 + 37 * k].t_ns, data))
    return frames


@pytest.mark.parametrize("kind", ["pcap", "pcap-be-ns", "pcapng", "sll", "sll2"])
def test_generated_captures_with_odd_packets(tmp_path: Path, monkeypatch, kind: str) -> None:
    frames = _odd_frames()
    if kind == "pcapng":
        path = write_pcapng(tmp_path / "c.pcapng", frames)
    elif kind == "pcap-be-ns":
        path = write_pcap(tmp_path / "c.pcap", frames, endian=">", nsec=True)
    elif kind in ("sll", "sll2"):
        lt = SLL if kind == "sll" else SLL2
        path = write_pcap(tmp_path / "c.pcap", _odd_frames(lt), linktype=lt)
    else:
        path = write_pcap(tmp_path / "c.pcap", frames)
    table, fast = _assert_same(path, monkeypatch)
    assert np.count_nonzero(table.proto == 17) >= 800
    changes = {s.ssrc: s.ssrc_changes for s in [st.stats() for st in rtp_streams(
        open_capture(path), heuristic=True)]}  # fmt: skip
    assert changes[1] >= 1 and changes[3] == changes[1]
    if kind == "sll2":  # a link type the fast path does not take
        assert fast == 0
    else:  # both paths ran: plain chunks and mixed ones
        assert 0 < fast < -(-table.ts_ns.size // 64)


def test_truncated_file(tmp_path: Path, monkeypatch) -> None:
    whole = write_pcap(tmp_path / "c.pcap", _odd_frames()).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 70])
    _table, fast = _assert_same(cut, monkeypatch)
    assert fast > 0
    assert any("cut short" in w for w in open_capture(cut).warnings)


def test_the_benchmark_capture(tmp_path: Path, monkeypatch) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen_capture
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = tmp_path / "bench.pcap"
    gen_capture.generate(path, 30_000, seed=3)
    table, fast = _assert_same(path, monkeypatch)
    assert table.ts_ns.size > 20_000 and fast == -(-table.ts_ns.size // 64)


def test_released_pages_leave_the_resident_set_and_read_back(tmp_path: Path) -> None:
    import mmap

    from harness.capture.records import release

    statm = Path("/proc/self/statm")
    if not statm.exists() or not hasattr(mmap, "MADV_DONTNEED"):
        pytest.skip("needs Linux")
    data = np.random.default_rng(1).integers(0, 256, 16 << 20, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    path.write_bytes(data)

    def resident() -> int:  # pages
        return int(statm.read_text().split()[1])

    with path.open("rb") as f:
        buf = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        u8 = np.frombuffer(buf, dtype=np.uint8)
        total = int(u8[:: mmap.PAGESIZE].sum())  # touch every page
        before = resident()
        release(buf, 0, len(buf))
        after = resident()
        assert before - after >= (12 << 20) // mmap.PAGESIZE  # most of the 16 MB went
        assert buf[: 1 << 20] == data[: 1 << 20]  # and reads back from the page cache
        assert int(u8[:: mmap.PAGESIZE].sum()) == total
        del u8
        buf.close()


@pytest.mark.parametrize("block", ["epb", "spb"])
def test_pcapng_block_headers_read_in_slices(tmp_path: Path, monkeypatch, block: str) -> None:
    import struct

    from harness.capture import pcapng
    from harness.capture.formats import read_records

    frames = _odd_frames()
    whole = bytearray(write_pcapng(tmp_path / "c.pcapng", frames, block=block).read_bytes())
    if block == "epb":  # two packets whose captured length runs past their block
        off, k, bad = 0, 0, []
        while off < len(whole):
            btype, blen = struct.unpack_from("<II", whole, off)
            if btype == 6:
                if k in (300, 310):
                    bad.append(off)
                k += 1
            off += blen
        for off in bad:
            struct.pack_into("<I", whole, off + 20, 5000)

    def records() -> tuple:
        r = read_records(bytes(whole))
        return (r.data_off.tolist(), r.caplen.tolist(), r.wirelen.tolist(),
                r.ts_ns.tolist(), r.linktype.tolist(), r.warnings)  # fmt: skip

    whole_run = records()
    monkeypatch.setattr(pcapng, "_SLICE", 7)  # many slices, the bad packets in two
    assert records() == whole_run
    clipped = [w for w in whole_run[5] if "clipped" in w]
    assert clipped == (["packet 301: captured length exceeds its block; data clipped to the block"]
                       if block == "epb" else [])  # fmt: skip
