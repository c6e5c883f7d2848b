"""The many-streams-at-once paths give what the one-stream paths give, value for value.

``stats_of`` computes all streams' figures on arrays laid end to end
(:func:`harness.media.streams.bulk_stats`, :func:`harness.media.stats.analyse_segments`);
each stream's :class:`StreamStats` must equal ``stream.stats()`` exactly (and so tshark's
figures, which the one-stream path is tested against). Streams are grouped by
:func:`harness.capture.flows.flow_groups`, which must group exactly as a sort does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.capture import flows as flows_mod
from harness.capture import open_capture
from harness.capture.flows import flow_groups
from harness.capture.table import PROTO_UDP
from harness.media import streams as streams_mod
from harness.media.find import rtp_streams
from harness.media.jitter import jitter_filter, jitter_filter_streams, jitter_sequential
from harness.media.streams import RtpStream, bulk_stats, stats_of
from tests.support.capgen import (
    T0,
    Frame,
    StreamSpec,
    merge,
    pathology_specs,
    rtp,
    udp_frame,
    write_pcap,
)

DATA = Path(__file__).parent / "data"
REAL = sorted(p for p in DATA.rglob("*.pcap*") if p.is_file())


def _fresh(path: Path, heuristic: bool | None = True) -> list[RtpStream]:
    return rtp_streams(open_capture(path), heuristic=heuristic)


def _assert_bulk_equal(path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> int:
    """bulk == per stream on a capture; returns how many streams the array path took."""
    expected = [s.stats() for s in _fresh(path)]
    alone: list[RtpStream] = []
    real = RtpStream.stats

    def counted(self: RtpStream) -> object:
        alone.append(self)
        return real(self)

    with monkeypatch.context() as m:
        m.setattr(streams_mod, "BULK_CHUNK", chunk)
        m.setattr(RtpStream, "stats", counted)
        got = bulk_stats(_fresh(path))
    assert got == expected, path.name
    return len(expected) - len(alone)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_captures(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _assert_bulk_equal(path, monkeypatch, chunk=1 << 17)
    _assert_bulk_equal(path, monkeypatch, chunk=300)  # many batches


def _pathology_frames() -> list[Frame]:
    s = {"src": "10.0.0.1", "dst": "10.0.0.2", "count": 700, "jitter_us": 600}
    specs = [
        *pathology_specs(700),
        StreamSpec(sport=40060, dport=40062, ssrc=7, seed=7, seq0=0, loss=0.02, **s),
        StreamSpec(sport=40070, dport=40072, ssrc=8, seed=8, ts_jumps={200: -(2**31) - 5}, **s),
        StreamSpec(sport=40080, dport=40082, ssrc=9, seed=9, seq0=65535, reorder=0.2, **s),
        StreamSpec(sport=40090, dport=40092, ssrc=10, seed=10, marker_at=(0, 50, 51, 300), **s),
        StreamSpec(sport=40100, dport=40102, ssrc=11, seed=11, pt=11, clock=44100, **s),
        StreamSpec(sport=40110, dport=40112, ssrc=12, seed=12, pt=13, **s),  # comfort noise
        StreamSpec(sport=40120, dport=40122, ssrc=13, seed=13, **{**s, "count": 150}),  # short
        StreamSpec(sport=40130, dport=40132, ssrc=14, seed=14, dup=0.1, reorder=0.1,
                   loss=0.05, seq0=65000, **s),  # fmt: skip
    ]
    frames = merge(*[sp.frames() for sp in specs])
    # comfort noise inside an audio stream, and RFC 4733 events (no jitter clock) inside one
    cn = StreamSpec("10.0.0.1", 40180, "10.0.0.2", 40182, ssrc=20, seed=20, count=400)
    extra = []
    for i, (t, pkt) in enumerate(cn.packets()):
        if 100 <= i < 110:
            pkt = rtp(1000 + i, 5000 + i * 160, 20, 13, b"\x40")
        extra.append(Frame(t, udp_frame(t, cn.src, cn.dst, cn.sport, cn.dport, pkt).data))
    ev = StreamSpec("10.0.0.1", 40190, "10.0.0.2", 40192, ssrc=21, seed=21, count=400)
    for i, (t, pkt) in enumerate(ev.packets()):
        if 200 <= i < 212:
            pkt = rtp(1000 + i, 5000 + 200 * 160, 21, 101, b"\x05\x0a\x00\xa0", marker=i == 200)
        extra.append(Frame(t, udp_frame(t, ev.src, ev.dst, ev.sport, ev.dport, pkt).data))
    return merge(frames, extra)


@pytest.mark.parametrize("chunk", [1 << 17, 1000])
def test_every_pathology(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    path = write_pcap(tmp_path / "p.pcap", _pathology_frames())
    taken = _assert_bulk_equal(path, monkeypatch, chunk)
    assert taken >= 10  # most streams went the array way


def _random_streams(rng: np.random.Generator, count: int) -> list[RtpStream]:
    """Streams of random sequence, timestamp, marker, payload type and clock mixes (as
    tests/unit/test_media_stats.py draws them)."""
    out = []
    for k in range(count):
        n = int(rng.integers(150, 3000))
        seq = int(rng.integers(0, 65536)) + np.arange(n)
        kind = rng.integers(0, 8, n)
        seq = seq + np.cumsum(kind == 0) * int(rng.integers(1, 3))  # losses
        seq = np.where(kind == 1, seq - rng.integers(1, 5, n), seq)  # late and duplicates
        seq = np.where(rng.random(n) < 0.002, rng.integers(0, 65536, n), seq) & 0xFFFF
        ts = int(rng.integers(0, 2**32)) + np.arange(n) * int(rng.choice([160, 320, 960]))
        ts = ts + np.where(rng.random(n) < 0.02, rng.integers(-1000, 1000, n), 0)
        if rng.random() < 0.15:  # out of time sequence: the one-stream path
            ts = np.where(rng.random(n) < 0.01, rng.integers(0, 2**32, n), ts)
        ts &= 0xFFFFFFFF
        marker = rng.random(n) < 0.03
        pt = np.where(rng.random(n) < 0.04, rng.choice([13, 101, 8, 0], n), 0).astype(np.uint8)
        clock = np.where(pt == 101, 0, 8000)
        if rng.random() < 0.3:
            clock = np.broadcast_to(np.int64(rng.choice([0, 8000, 16000, 48000])), (n,))
        t_us = np.cumsum(rng.normal(20_000, 2_000, n)).astype(np.int64)
        t_us += (rng.normal(0, 5_000, n) * (rng.random(n) < 0.05)).astype(np.int64)
        ts_ns = T0 + 1_000_000 * k + t_us * 1000  # microseconds, as pcap stores them
        out.append(
            RtpStream(
                src="10.0.0.1", src_port=4000 + k, dst="10.0.0.2", dst_port=5000, ssrc=k,
                payload_types=sorted(set(pt.tolist())), clock_rate=8000,
                frame=np.arange(n, dtype=np.int64) + 1, seq=seq.astype(np.uint16),
                timestamp=ts.astype(np.uint32), marker=marker, pt=pt, ts_ns=ts_ns,
                jitter_clock=np.asarray(clock, dtype=np.int64),
                pt_names={int(p): str(p) for p in set(pt.tolist())},
                rtpmap={101: ("telephone-event", 8000)} if k % 2 else {},
                capture_start_ns=T0,
            )  # fmt: skip
        )
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_streams(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    streams = _random_streams(rng, 40)
    expected = [s.stats() for s in streams]
    for s in streams:
        s.__dict__.pop("_figures", None)
    monkeypatch.setattr(streams_mod, "BULK_CHUNK", int(rng.integers(2000, 40000)))
    assert bulk_stats(streams) == expected


def test_short_streams_keep_to_their_own_timestamp_steps() -> None:
    # each stream's usual step comes from its own packets, never the next stream's: even
    # streams step 160 and 960 in turn (a tie: the lower wins), odd ones 960 only
    streams = _random_streams(np.random.default_rng(5), 12)
    for k, s in enumerate(streams):
        n = 201
        steps = np.tile([160, 960], 100) if k % 2 == 0 else np.full(200, 960)
        for name in ("frame", "ts_ns", "jitter_clock"):
            setattr(s, name, getattr(s, name)[:n])
        s.timestamp = np.concatenate(([7], 7 + np.cumsum(steps))).astype(np.uint32)
        s.seq = (np.arange(n) + 100).astype(np.uint16)
        s.marker = np.zeros(n, dtype=bool)
        s.pt = np.zeros(n, dtype=np.uint8)
    expected = [s.stats() for s in streams]
    for s in streams:
        s.__dict__.pop("_figures", None)
    got = bulk_stats(streams)
    assert got == expected
    assert [st.timestamp_step for st in got] == [160 if k % 2 == 0 else 960 for k in range(12)]


def test_two_processes_give_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pcap(tmp_path / "p.pcap", _pathology_frames())
    monkeypatch.setattr(streams_mod, "PARALLEL_MIN", 100)
    assert stats_of(_fresh(path), workers=2) == [s.stats() for s in _fresh(path)]


def test_jitter_filter_of_many_streams_is_each_streams() -> None:
    rng = np.random.default_rng(3)
    diffs = [rng.random(int(n)) * 5 for n in rng.integers(0, 700, 30)]
    values, starts = jitter_filter_streams(diffs)
    for d, at in zip(diffs, starts.tolist(), strict=True):
        alone = jitter_filter(d)
        assert np.array_equal(values[at : at + d.size], alone)  # bit for bit
        assert np.allclose(alone, jitter_sequential(d), rtol=1e-12, atol=1e-12)


def _exact_groups(cols: list[np.ndarray]) -> list[list[int]]:
    keys: dict[tuple[int, ...], list[int]] = {}
    for i, key in enumerate(zip(*[c.tolist() for c in cols], strict=True)):
        keys.setdefault(key, []).append(i)
    return list(keys.values())  # by first row, rows in order


def _groups_of(order: np.ndarray, bounds: np.ndarray) -> list[list[int]]:
    return [order[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_flow_groups_are_exact_on_real_captures(path: Path) -> None:
    cap = open_capture(path)
    sel = np.flatnonzero(cap.proto == PROTO_UDP)
    ssrc = cap.head[:, 8:12].copy().view(">u4")[:, 0]
    cols = [cap.src_hi, cap.src_lo, cap.dst_hi, cap.dst_lo, cap.sport, cap.dport, ssrc]
    expected = _exact_groups([c[sel] for c in cols])
    assert _groups_of(*flow_groups(cap.table, sel)) == expected


@pytest.mark.parametrize("flows", [3, 200, 6000])
def test_flow_groups_with_many_flows_and_collisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flows: int
) -> None:
    rng = np.random.default_rng(flows)
    frames = []
    for i in range(20_000):
        f = int(rng.integers(0, flows))  # some flows only appear late: the sample misses them
        f = f if i > 10_000 else f % max(1, flows // 2)
        payload = rtp(i & 0xFFFF, i * 160, f % 7, 0, b"\0" * 4)
        src = f"10.{f % 3}.{(f >> 8) & 255}.{f & 255}"
        frames.append(udp_frame(T0 + i * 1000, src, "10.9.0.1", 4000 + f % 5, 5000, payload))
    cap = open_capture(write_pcap(tmp_path / "f.pcap", frames))
    sel = np.flatnonzero(cap.proto == PROTO_UDP)
    ssrc = cap.head[:, 8:12].copy().view(">u4")[:, 0]
    cols = [cap.src_lo, cap.dst_lo, cap.sport, cap.dport, ssrc]
    expected = _exact_groups([c[sel] for c in cols])
    monkeypatch.setattr(flows_mod, "CHUNK", 1000)
    assert _groups_of(*flow_groups(cap.table, sel)) == expected

    def collide(words: list[np.ndarray]) -> np.ndarray:  # every flow the same hash
        return np.zeros(words[0].size, dtype=np.uint64)

    assert _groups_of(*flow_groups(cap.table, sel, hash_of=collide)) == expected
