"""RTP, RTCP and RFC 4733 on the wire (standard library only: the simulators use it)."""
