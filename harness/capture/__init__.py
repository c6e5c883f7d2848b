"""Capture reading: pcap/pcapng into numpy arrays, SIP messages, RTP streams.

>>> cap = open_capture("reports/call.pcapng")      # doctest: +SKIP
>>> [m.summary for m in cap.sip_messages()]         # doctest: +SKIP
>>> [s.stats().to_dict() for s in cap.rtp_streams()]  # doctest: +SKIP
"""

from harness.capture.capture import Capture, open_capture
from harness.capture.errors import CaptureError
from harness.capture.sip import CapturedSip

__all__ = ["Capture", "CaptureError", "CapturedSip", "open_capture"]
