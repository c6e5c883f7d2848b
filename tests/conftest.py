"""What every test suite shares. Helpers that build captures, SIP samples or run the
simulators live in ``tests/support`` (importable as ``tests.support``: ``pythonpath`` in
pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture import Capture, open_capture
from tests.support.paths import LYNC_PCAP


@pytest.fixture
def lync_pcap() -> Path:
    """The harness's own capture of the seed's outbound flow (both legs)."""
    return LYNC_PCAP


@pytest.fixture
def lync_capture() -> Capture:
    return open_capture(LYNC_PCAP)
