"""The array computation of tshark's figures against the line-by-line port, and the
counters tshark does not print."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.capture import open_capture
from harness.media import stats as S
from harness.media.find import rtp_streams
from tests.support.capgen import T0, StreamSpec, merge, rtp, udp_frame, write_pcap


def _random_stream(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    seq = int(rng.integers(0, 65536)) + np.arange(n)
    kind = rng.integers(0, 8, n)
    seq = seq + np.cumsum(kind == 0) * int(rng.integers(1, 3))  # losses
    seq = np.where(kind == 1, seq - rng.integers(1, 5, n), seq)  # late and duplicates
    seq = np.where(rng.random(n) < 0.01, rng.integers(0, 65536, n), seq) & 0xFFFF
    ts = int(rng.integers(0, 2**32)) + np.arange(n) * 160
    ts = ts + np.where(rng.random(n) < 0.02, rng.integers(-100000, 100000, n), 0)
    if rng.random() < 0.2:
        ts = np.where(rng.random(n) < 0.05, rng.integers(0, 2**32, n), ts)
    ts &= 0xFFFFFFFF
    marker = rng.random(n) < 0.05
    pt = np.where(rng.random(n) < 0.05, rng.choice([13, 101, 8, 0], n), 0)
    clock = np.where(pt == 101, 0, 8000)
    if rng.random() < 0.2:
        clock[:] = rng.choice([0, 44100, 48000, 16000])
    t = np.cumsum(rng.normal(20, 2, n)) + rng.normal(0, 5, n) * (rng.random(n) < 0.05)
    t = np.round(t * 1000) / 1000  # microseconds, as pcap stores them
    return seq, ts, marker, pt, clock, t


def same(a: S.TsharkFigures, b: S.TsharkFigures) -> bool:
    """Equal as tshark prints them, and in every counter (floats may differ by an ulp)."""
    counters = (
        "packets",
        "expected",
        "lost",
        "sequence_errors",
        "wrong_timestamps",
        "seq_cycles",
        "problem",
    )
    return a.row_values() == b.row_values() and all(
        getattr(a, k) == getattr(b, k) for k in counters
    )


def test_array_figures_equal_the_reference() -> None:
    rng = np.random.default_rng(7)
    for _ in range(80):
        args = _random_stream(rng, int(rng.integers(S.SMALL_STREAM + 1, 2500)))
        assert same(S.analyse(*args), S.analyse_reference(*args))


def test_clean_stream_takes_the_array_path_and_matches() -> None:
    n = 5000
    rng = np.random.default_rng(1)
    t = np.round(np.cumsum(rng.normal(20, 0.7, n)) * 1000) / 1000
    args = (
        np.arange(n) & 0xFFFF,
        (np.arange(n) * 160) & 0xFFFFFFFF,
        np.zeros(n, bool),
        np.zeros(n, np.int64),
        np.full(n, 8000),
        t,
    )
    assert same(S.analyse(*args), S.analyse_reference(*args))


def test_jitter_filter_and_running_mean_match_sequential_loops() -> None:
    rng = np.random.default_rng(3)
    d = np.abs(rng.normal(0, 3, 10_000))
    exact = S.jitter_sequential(d)
    assert np.allclose(S.jitter_filter(d), exact, rtol=1e-13, atol=0)
    idx = np.sort(rng.choice(np.arange(1, 20_000), 10_000, replace=False))
    assert S.index_mean(d, idx) == pytest.approx(S.index_mean_sequential(d, idx), rel=1e-12)


def test_rounding_ties_are_settled_like_tshark(monkeypatch: pytest.MonkeyPatch) -> None:
    # |D| = 0.568 ms on the last packet only: J = 0.0355, half-way at three decimals.
    n = 300
    t = np.arange(n) * 20.0
    t[-1] += 0.568
    args = (
        np.arange(n),
        np.arange(n) * 160,
        np.zeros(n, bool),
        np.zeros(n, np.int64),
        np.full(n, 8000),
        t,
    )
    calls = []
    exact = S.jitter_sequential
    monkeypatch.setattr(S, "jitter_sequential", lambda d: calls.append(1) or exact(d))
    fig = S.analyse(*args)
    ref = S.analyse_reference(*args)
    assert calls, "the near-tie should have been recomputed step by step"
    assert abs(ref.max_jitter_ms * 1000 - 35.5) < 1e-9
    assert same(fig, ref) and fig.max_jitter_ms == ref.max_jitter_ms


def test_expected_and_lost_follow_tshark_types() -> None:
    # the last packet goes back in sequence and in time (no wrap counted): tshark's
    # expected is a negative int stored in a guint32, lost an int32 again
    seq = np.array([100, 101, 102, 50])
    ts = np.array([8000, 8160, 8320, 10])
    fig = S.analyse_reference(
        seq, ts, np.zeros(4, bool), np.zeros(4, np.int64), np.full(4, 8000), np.arange(4) * 20.0
    )
    assert fig.expected == (50 - 100 + 1) & 0xFFFFFFFF
    assert fig.lost == -53 and fig.wrong_timestamps == 1 and fig.problem
    assert fig.row_values()[1] == "-53 (-0.0%)"


def test_extra_counters(tmp_path: Path) -> None:
    base = StreamSpec("10.0.0.1", 4000, "10.0.0.2", 4002, ssrc=1, count=100, seed=1)
    orig = base.packets()
    pkts = []
    for i, (t, p) in enumerate(orig):
        if i == 80:
            continue  # lost
        if i == 70:  # a timestamp off by 80: two odd steps
            p = rtp(1000 + i, 5000 + i * 160 + 80, 1, 0, b"\0" * 160)
        pkts.append((t, p))
        if i == 49:
            pkts.append((t + 1000, p))  # a duplicate
    (t60, p60), (t61, p61) = pkts[60], pkts[61]
    pkts[60], pkts[61] = (t60, p61), (t61, p60)  # a late packet
    other = StreamSpec(
        "10.0.0.1", 4000, "10.0.0.2", 4002, ssrc=2, count=10, seed=2, start_ns=T0 + 3_000_000_000
    )
    frames = [udp_frame(t, base.src, base.dst, base.sport, base.dport, p) for t, p in pkts]
    cap = open_capture(write_pcap(tmp_path / "x.pcap", merge(frames, other.frames())))
    first, second = rtp_streams(cap)
    st = first.stats()
    assert (st.duplicates, st.out_of_order, st.lost_unique) == (1, 1, 1)
    assert st.timestamp_step == 160 and st.timestamp_anomalies == 2  # into and out of 70
    assert st.markers == 1 and st.expected == 100
    assert st.ssrc_changes == second.stats().ssrc_changes == 1
    d = st.to_dict()
    assert d["ssrc"] == "0x00000001" and d["setup"] == "heuristic"


def test_series_reduce_to_the_figures() -> None:
    # the per-packet series are the values the figures reduce: their min/max over the
    # regular packets are the figures, on the usual path and on the general one
    from types import SimpleNamespace

    from harness.media.figures import rel_ms
    from harness.media.series import stream_series

    rng = np.random.default_rng(11)
    for n in (400, 1500):
        seq, ts, marker, pt, clock, t = _random_stream(rng, n)
        t = t - t[0]  # ms since the first packet, the capture's first frame
        ts_ns = (np.round(t * 1e6).astype(np.int64)) + T0
        stream = SimpleNamespace(
            seq=seq, timestamp=ts, marker=marker, pt=pt, jitter_clock=clock, ts_ns=ts_ns,
            time=ts_ns / 1e9, capture_start_ns=T0,
        )
        s = stream_series(stream)
        fig = S.analyse(seq, ts, marker, pt, clock, rel_ms(ts_ns, T0))
        reg = s.regular
        assert s.time.size == n and s.delta_ms[0] == 0.0
        assert f"{s.delta_ms[reg].min():.3f}" == f"{fig.min_delta_ms:.3f}"
        assert f"{s.delta_ms[reg].max():.3f}" == f"{fig.max_delta_ms:.3f}"
        jit = s.jitter_ms[reg & (clock != 0)]
        if s.has_jitter and jit.size:
            assert f"{jit.max():.3f}" == f"{fig.max_jitter_ms:.3f}"
