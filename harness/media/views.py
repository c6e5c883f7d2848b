"""Views of a capture for one call: the same packets, frame numbers and SIP, with only
that call's RTP streams for :func:`harness.media.find.rtp_streams` (which keeps a capture's
streams in ``Capture.derived`` under ``("rtp_streams", heuristic)``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.capture.capture import Capture
    from harness.media.streams import RtpStream

WINDOW = "rtp_window"


@dataclass(frozen=True)
class Window:
    """The streams of ``capture`` that start in [start, end) epoch seconds."""

    capture: Capture
    start: float
    end: float


def windowed(cap: Capture, start: float, end: float) -> Capture:
    """The capture whose streams are only those that start in [start, end) epoch seconds:
    one call's media in a capture of many calls between the same hosts. The streams are
    found once, in ``cap``."""
    view = copy.copy(cap)
    view.derived = {WINDOW: Window(cap, start, end)}
    return view


def with_streams(cap: Capture, streams: list[RtpStream]) -> Capture:
    """The capture whose streams are ``streams``, picked by the caller (a load run's call,
    told from the others by the gateway's port, which the softphone's shared one cannot)."""
    view = copy.copy(cap)
    view.derived = {("rtp_streams", heuristic): streams for heuristic in (None, True, False)}
    return view
