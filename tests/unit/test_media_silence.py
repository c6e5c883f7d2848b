"""Silence windows: a direction that sends nothing for longer than N ms (hold checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.capture import open_capture
from harness.media.find import rtp_streams
from harness.media.silence import direction_silence, overlap, silence_windows
from tests.support.capgen import T0, StreamSpec, merge, write_pcap


def test_gaps_longer_than_the_threshold() -> None:
    t = np.array([0.0, 0.02, 0.04, 1.04, 1.06, 1.5])
    assert silence_windows(t, 100) == [(0.04, 1.04), (1.06, 1.5)]
    assert silence_windows(t, 500) == [(0.04, 1.04)]
    assert silence_windows(t[::-1], 500) == [(0.04, 1.04)]  # any order
    assert silence_windows(np.zeros(0), 100) == []


def test_window_edges_count() -> None:
    t = np.array([1.0, 1.02, 1.04])
    assert silence_windows(t, 100, start=0.0, end=2.0) == [(0.0, 1.0), (1.04, 2.0)]
    assert silence_windows(np.zeros(0), 100, start=0.0, end=2.0) == [(0.0, 2.0)]
    assert silence_windows(t, 100, start=1.01, end=1.03) == []
    assert overlap((0.0, 2.0), [(0.0, 1.0), (1.5, 3.0)]) == pytest.approx(1.5)


def test_hold_gap_in_a_capture(tmp_path: Path) -> None:
    # 2 s held inside the first SSRC (indexes never sent), then 3 s before a new SSRC
    a = StreamSpec(
        "10.3.0.1", 5000, "10.3.0.2", 6000, ssrc=1, count=250, bursts=[(100, 200)], seed=1
    )
    b = StreamSpec(
        "10.3.0.1", 5000, "10.3.0.2", 6000, ssrc=2, count=100, start_ns=T0 + 8_000_000_000, seed=2
    )
    cap = open_capture(write_pcap(tmp_path / "hold.pcap", merge(a.frames(), b.frames())))
    s1, s2 = rtp_streams(cap)
    (gap,) = s1.silence_windows(500)
    assert gap[1] - gap[0] == pytest.approx(2.02, abs=0.01)
    whole = direction_silence(rtp_streams(cap), "10.3.0.1", 5000, "10.3.0.2", 6000, 500)
    assert whole[0] == gap
    held = whole[1]
    assert held[1] - held[0] == pytest.approx(3.02, abs=0.01)
    assert held[0] == pytest.approx(float(s1.time[-1]))
    assert held[1] == pytest.approx(float(s2.time[0]))
    assert direction_silence(
        rtp_streams(cap), "10.3.0.2", 6000, "10.3.0.1", 5000, 500, start=T0 / 1e9, end=T0 / 1e9 + 1
    ) == [(T0 / 1e9, T0 / 1e9 + 1)]
