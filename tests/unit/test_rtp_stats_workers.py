"""``harness rtp-stats``' default number of processes follows the machine's load."""

from __future__ import annotations

import pytest

from harness.cli import rtp_stats


@pytest.mark.parametrize(
    ("cpus", "load", "expected"),
    [(2, 0.1, 2), (2, 1.9, 2), (2, 2.0, 1), (2, 3.0, 1), (1, 0.0, 1), (8, 7.5, 2), (8, 9.0, 1)],
)
def test_a_second_process_unless_the_machine_is_busy(
    monkeypatch: pytest.MonkeyPatch, cpus: int, load: float, expected: int
) -> None:
    monkeypatch.setattr(rtp_stats.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(rtp_stats.os, "getloadavg", lambda: (load, load, load))
    assert rtp_stats.default_workers() == expected


def test_without_a_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(rtp_stats.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(rtp_stats.os, "getloadavg", unavailable)
    assert rtp_stats.default_workers() == 2
