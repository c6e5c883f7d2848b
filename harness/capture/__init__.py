"""Capture reading: pcap/pcapng into numpy arrays, and the SIP messages in them.

    from harness.capture import open_capture, CaptureError

    cap = open_capture("reports/pcaps/call.pcap")  # CaptureError if unusable
    cap.warnings                                   # what could not be read, one line each
    cap.frame, cap.time, cap.src_lo, cap.sport ... # per-packet numpy arrays
    for m in cap.sip_messages():                   # CapturedSip, UDP and reassembled TCP
        m.frame, m.transport, m.message, m.error

Modules, bottom up: ``records`` (the record table and helpers the readers share),
``lockstep`` (the array walk of large files), ``pcap`` and ``pcapng`` (the two containers),
``formats`` (which one a file is); ``table`` (the per-packet arrays), ``rows`` (decoding
a chunk of packets), ``links``, ``ip``, ``fragments``, ``transport`` (one layer each),
``packets`` (decoding every packet), ``addresses`` (addresses as two uint64 halves);
``tcp`` (per-direction reassembly), ``sip`` (SIP by content), ``sdpmap`` (media endpoints
and directions from SDP), ``parallel`` (an optional second process for large captures),
``capture`` (:class:`Capture`, :func:`open_capture`). RTP streams, their statistics, DTMF,
silence and hold live one layer up, in ``harness.media`` (``rtp_streams(cap)`` in
``harness.media.find``); capture never imports it.
"""

from typing import TYPE_CHECKING, Any

from harness.capture.capture import Capture, open_capture
from harness.capture.errors import CaptureError

if TYPE_CHECKING:
    from harness.capture.sip import CapturedSip

__all__ = ["Capture", "CaptureError", "CapturedSip", "open_capture"]


def __getattr__(name: str) -> Any:
    # CapturedSip (and with it the SIP parser) is imported on first use: reading RTP
    # figures does not need it in this process.
    if name == "CapturedSip":
        from harness.capture.sip import CapturedSip

        return CapturedSip
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
