"""The echo test service's media: every RTP packet received is sent straight back.

``EchoSession`` is the Mediation simulator's :class:`~harness.peers.common.rtp_session.RtpSession`
(same port allocation, counters, RFC 4733 detection) with one more thing done on receive,
in its ``on_packet`` hook: once ``echo_enabled`` (the call is answered), each valid RTP
packet's payload goes back with the session's own SSRC, its own sequence number (+1 per
packet echoed), a timestamp that advances exactly as the received ones do (from a random
base), and the received payload type and marker bit. It goes to the packet's source
address and port (symmetric RTP, as an SBC behind NAT does) and, with ``echo_to``
``both`` when that differs, also to the address and port of the peer's SDP (``sdp``: only
there). RTCP is counted, not echoed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.peers.common.rtp_session import RtpSession
from harness.rtp.packet import RtpPacket

Address = tuple[str, int]


@dataclass
class EchoSession(RtpSession):
    echo_enabled: bool = False
    echo_to: str = "both"
    sdp_target: Address | None = None
    echoed: int = 0
    echoed_bytes: int = 0
    echo_errors: int = 0
    _echo_seq: int = field(default_factory=lambda: random.getrandbits(16))
    _echo_ts0: int = field(default_factory=lambda: random.getrandbits(32))
    _rx_ts0: int | None = None
    _targets_seen: set[Address] = field(default_factory=set)

    def set_sdp_target(self, host: str, port: int) -> None:
        """The peer's SDP c=/m= (port 0 or 0.0.0.0: none, RFC 3264 hold)."""
        self.sdp_target = None if port == 0 or host in ("0.0.0.0", "") else (host, port)

    def on_packet(self, packet: RtpPacket, addr: tuple[str, int]) -> None:
        if not self.echo_enabled or self.closed:
            return
        if self._rx_ts0 is None:
            self._rx_ts0 = packet.timestamp
        timestamp = (self._echo_ts0 + packet.timestamp - self._rx_ts0) & 0xFFFFFFFF
        echo = RtpPacket(
            packet.payload_type,
            self._echo_seq,
            timestamp,
            self.ssrc,
            packet.payload,
            packet.marker,
        )
        self._echo_seq = (self._echo_seq + 1) & 0xFFFF
        targets: list[Address] = []
        source = (str(addr[0]), int(addr[1]))
        if self.echo_to in ("source", "both"):
            targets.append(source)
        sdp = self.sdp_target
        if self.echo_to in ("sdp", "both") and sdp is not None and sdp not in targets:
            targets.append(sdp)
        data_out = echo.pack()
        for target in targets:
            try:
                self.rtp.sendto(data_out, target)
            except OSError as exc:
                self.echo_errors += 1
                self.on_event("rtp_error", f"echo to {target[0]}:{target[1]} failed: {exc}")
                continue
            if target not in self._targets_seen:
                self._targets_seen.add(target)
                self.on_event("echo_target", f"{target[0]}:{target[1]}")
        self.echoed += 1
        self.echoed_bytes += len(packet.payload)
        self.stats.packets_sent += len(targets)
        self.stats.bytes_sent += len(packet.payload) * len(targets)
