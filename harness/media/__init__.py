"""Media analysis of a capture's RTP (numpy), above ``harness.capture``.

    from harness.media.find import rtp_streams

    for s in rtp_streams(cap):       # RtpStream objects (SDP-guided, else heuristic)
        s.stats()                    # StreamStats: tshark's rtp,streams figures and more
        s.silence_windows(500)       # [(start, end)] epoch seconds
        s.dtmf_events()              # RFC 4733 events with .violations

Modules: ``find`` (the streams of a capture), ``streams`` (:class:`RtpStream`,
:class:`StreamStats`), ``payload_types``; tshark's figures: ``figures`` (the record),
``reference`` (tshark's per-packet analysis, line by line), ``sequence``, ``jitter`` and
``series`` (the per-packet steps on arrays), ``stats`` (the figures on arrays); ``dtmf``,
``silence``, ``hold`` (hold windows from the SIP, media periods from the SDP in force).
RTP, RTCP and RFC 4733 on the wire (standard library, used by the simulators) live in
``harness.rtp``.
"""
