"""Media: RTP/RTCP and RFC 4733 packets (standard library), stream analysis (numpy)."""
