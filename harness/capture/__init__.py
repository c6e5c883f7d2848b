"""Capture reading: pcap/pcapng into numpy arrays, SIP messages, RTP streams.

    from harness.capture import open_capture, CaptureError

    cap = open_capture("reports/pcaps/call.pcap")  # CaptureError if unusable
    cap.warnings                                   # what could not be read, one line each
    cap.frame, cap.time, cap.src_lo, cap.sport ... # per-packet numpy arrays
    for m in cap.sip_messages():                   # CapturedSip, UDP and reassembled TCP
        m.frame, m.transport, m.message, m.error
    for s in rtp_streams(cap):                    # harness.media.find; RtpStream objects
        s.stats()                                  # StreamStats: tshark's rtp,streams figures
        s.silence_windows(500)                     # [(start, end)] epoch seconds
        s.dtmf_events()                            # RFC 4733 events with .violations

Modules: ``formats`` (pcap/pcapng records), ``packets`` (link/IP/UDP/TCP headers on
arrays), ``tcp`` (per-direction reassembly), ``sip`` (SIP by content), ``sdpmap`` (media
endpoints from SDP), ``rtpfind`` (SDP-guided and heuristic RTP), ``parallel`` (an optional
second process for large captures). Statistics, DTMF, silence and hold checks live in
``harness.media`` (``stats``, ``streams``, ``dtmf``, ``silence``, ``hold``).
"""

from harness.capture.capture import Capture, open_capture
from harness.capture.errors import CaptureError
from harness.capture.sip import CapturedSip

__all__ = ["Capture", "CaptureError", "CapturedSip", "open_capture"]
