"""harness.report.plots: per-packet delta and jitter equal the media engine's (tshark's)
figures, and the plot is a valid PNG."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from harness.capture import open_capture
from harness.media.find import rtp_streams
from harness.report.ladder import ladder_of_capture
from harness.report.plots import plot_rtp, stream_series
from harness.roles import role_names

PCAP = Path(__file__).parent / "data" / "lync_outbound.pcap"


@pytest.fixture(scope="module")
def capture():
    return open_capture(PCAP)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR" and data[-8:-4] == b"IEND", "PNG without IHDR/IEND"
    return struct.unpack(">II", data[16:24])


def test_series_give_tsharks_min_mean_max(capture):
    streams = rtp_streams(capture)
    assert len(streams) == 4
    for stream in streams:
        s = stream_series(stream)
        st = stream.stats()
        assert s.time.size == len(stream.seq) == st.packets
        reg = s.regular
        assert s.delta_ms[reg].max() == pytest.approx(st.max_delta_ms, abs=1e-9)
        assert s.delta_ms[reg].min() == pytest.approx(st.min_delta_ms, abs=1e-9)
        assert s.jitter_ms[reg].max() == pytest.approx(st.max_jitter_ms, abs=1e-9)
        assert s.jitter_ms[reg].min() == pytest.approx(st.min_jitter_ms, abs=1e-9)
        assert s.has_jitter


def test_series_see_the_hold_gap(capture):
    # The softphone's stream has no marker bit on the first packet after the hold: its
    # 840 ms gap is tshark's "Max Delta" (840.705 ms).
    stream = next(s for s in rtp_streams(capture) if s.src == "192.168.100.40")
    s = stream_series(stream)
    assert round(float(s.delta_ms[s.regular].max()), 3) == 840.705
    assert s.time[0] == pytest.approx(0.400502, abs=1e-6)  # seconds from the first packet


def test_plot_writes_a_png(tmp_path, capture):
    ladder = ladder_of_capture(capture, role_names())
    path = plot_rtp(rtp_streams(capture), tmp_path / "rtp.png", holds=ladder.holds,
                    origin=ladder.origin, names=ladder.names, max_delta_ms=60, max_jitter_ms=3)
    width, height = png_size(path)
    assert (width, height) == (1300, 1170)  # 13 in wide; a 2.6 in row per stream
    assert path.stat().st_size > 20_000


def test_plot_takes_plain_hold_windows_and_one_stream(tmp_path, capture):
    path = plot_rtp(rtp_streams(capture)[:1], tmp_path / "one.png", holds=[(1.18, 1.98)])
    assert png_size(path)[0] == 1300


def test_plot_without_streams_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no RTP streams"):
        plot_rtp([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_series_of_an_unknown_clock_have_no_jitter(capture):
    stream = rtp_streams(capture)[0]
    clockless = dataclasses.replace(stream, jitter_clock=np.zeros_like(stream.jitter_clock))
    s = stream_series(clockless)
    assert not s.has_jitter and not s.jitter_ms.any()
