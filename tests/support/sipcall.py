"""Captures of whole calls between the topology's hosts, for the checks' tests.

A :class:`CallCapture` collects SIP messages (UDP datagrams, or TCP segments of one
connection per pair of hosts) and RTP packets on a clock that the test advances, then
writes a pcap with ``tests.support.capgen``. Hosts are named by role and sit at the
topology's default addresses, so ``Roles.of_topology()`` names them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.roles import HOST_NUMBERS, Roles
from tests.support.capgen import T0, Frame, rtp, rtp_event, tcp_frame, udp_frame, write_pcap

MS = 1_000_000  # ns
SIP_PORT = 5060
ROLES = Roles.of_topology()


def address(role: str) -> str:
    """'asterisk' -> 192.168.100.10."""
    return f"192.168.100.{HOST_NUMBERS[role]}"


def sdp(role: str, port: int, formats: dict[int, str], version: int = 1) -> str:
    """An audio offer or answer from `role` at `port` (payload type -> rtpmap)."""
    host = address(role)
    lines = ["v=0", f"o=- 4242 {version} IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             "m=audio {} RTP/AVP {}".format(port, " ".join(str(pt) for pt in formats))]
    lines += [f"a=rtpmap:{pt} {name}" for pt, name in formats.items()]
    if any(name.startswith("telephone-event") for name in formats.values()):
        lines.append(f"a=fmtp:{next(pt for pt, n in formats.items() if 'event' in n)} 0-16")
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def message(start: str, headers: list[tuple[str, str]], body: str = "") -> bytes:
    """A SIP message with Content-Type (for a body) and Content-Length added."""
    lines = [start] + [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@dataclass
class Dialog:
    """The headers one call repeats: caller and callee (name-addrs), Call-ID, branch."""

    caller: str  # role of the side that sent the INVITE
    callee: str
    from_: str  # From header value, with its tag
    to: str  # To header value, without the callee's tag
    call_id: str
    transport: str = "UDP"
    to_tag: str = "callee1"

    def via(self, sender: str, cseq: int) -> str:
        return (f"SIP/2.0/{self.transport} {address(sender)}:{SIP_PORT};rport;"
                f"branch=z9hG4bK{self.call_id}{cseq}")

    def request(self, method: str, uri: str, cseq: int, body: str = "", tagged: bool = True,
                extra: list[tuple[str, str]] | None = None, sender: str | None = None,
                contact: str | None = None) -> bytes:
        """A request from `sender` (default: the caller) within the dialog."""
        sender = sender or self.caller
        from_, to = self.from_, self.to + (f";tag={self.to_tag}" if tagged else "")
        if sender != self.caller:
            from_, to = to, from_
        contact = contact or (f"<sip:{sender}@{address(sender)}:{SIP_PORT};"
                              f"transport={self.transport.lower()}>")
        headers = [("Via", self.via(sender, cseq)), ("Max-Forwards", "70"), ("From", from_),
                   ("To", to), ("Call-ID", self.call_id), ("CSeq", f"{cseq} {method}"),
                   ("Contact", contact), *(extra or [])]
        return message(f"{method} {uri} SIP/2.0", headers, body)

    def response(self, status: int, reason: str, cseq: int, method: str, body: str = "",
                 extra: list[tuple[str, str]] | None = None, sender: str | None = None,
                 tagged: bool = True, contact: str | None = None) -> bytes:
        """A response from `sender` (default: the callee) to the caller's request."""
        sender = sender or self.callee
        requester = self.caller if sender == self.callee else self.callee
        from_, to = self.from_, self.to + (f";tag={self.to_tag}" if tagged else "")
        if requester != self.caller:
            from_, to = to, from_
        contact = contact or (f"<sip:{sender}@{address(sender)}:{SIP_PORT};"
                              f"transport={self.transport.lower()}>")
        headers = [("Via", self.via(requester, cseq)), ("From", from_), ("To", to),
                   ("Call-ID", self.call_id), ("CSeq", f"{cseq} {method}"), ("Contact", contact),
                   *(extra or [])]
        return message(f"SIP/2.0 {status} {reason}", headers, body)


@dataclass
class CallCapture:
    """Frames on a clock: `at(ms)` moves it; `sip` and `rtp_flow` add packets."""

    frames: list[Frame] = field(default_factory=list)
    now_ns: int = T0
    _tcp_seq: dict[tuple[str, str], int] = field(default_factory=dict)

    def at(self, ms: float) -> CallCapture:
        self.now_ns = T0 + int(ms * MS)
        return self

    def sip(self, sender: str, receiver: str, data: bytes, transport: str = "UDP") -> None:
        src, dst = address(sender), address(receiver)
        self.now_ns += MS  # one message per millisecond keeps the capture in order
        if transport == "UDP":
            self.frames.append(udp_frame(self.now_ns, src, dst, SIP_PORT, SIP_PORT, data))
            return
        # One TCP connection per pair of hosts: the lower role's port is 5060.
        sport, dport = (SIP_PORT, 40000) if sender < receiver else (40000, SIP_PORT)
        seq = self._tcp_seq.get((src, dst), 1000)
        self.frames.append(tcp_frame(self.now_ns, src, dst, sport, dport, seq, data))
        self._tcp_seq[(src, dst)] = seq + len(data)

    def rtp_flow(self, sender: str, sport: int, receiver: str, dport: int, start_ms: float,
                 count: int, payloads: list[bytes] | None = None, ssrc: int = 0x1234,
                 delay_ms: float = 0.0) -> None:
        """`count` PCMU packets every 20 ms from `start_ms` (+ `delay_ms`); payload i is
        `payloads[i]` (default: 160 bytes that differ per packet)."""
        src, dst = address(sender), address(receiver)
        for i in range(count):
            body = payloads[i] if payloads else bytes([i % 256]) * 160
            t = T0 + int((start_ms + delay_ms + 20 * i) * MS)
            self.frames.append(udp_frame(t, src, dst, sport, dport,
                                         rtp(100 + i, 8000 + 160 * i, ssrc, 0, body)))

    def digits(self, sender: str, sport: int, receiver: str, dport: int, start_ms: float,
               digits: str, ssrc: int = 0x5678) -> None:
        """RFC 4733 events (payload type 101), as Asterisk sends them: marker on the first
        packet, constant timestamp, growing duration, three end packets; 250 ms apart."""
        names = "0123456789*#"
        src, dst = address(sender), address(receiver)
        seq = 500
        for n, digit in enumerate(digits):
            ts = 16000 + 2000 * n
            t0 = start_ms + 250 * n
            durations = [(160 * k, False) for k in range(1, 6)] + [(960, True)] * 3
            for k, (duration, end) in enumerate(durations):
                t = T0 + int((t0 + 20 * k) * MS)
                payload = rtp_event(names.index(digit), duration, end=end)
                self.frames.append(udp_frame(t, src, dst, sport, dport,
                                             rtp(seq, ts, ssrc, 101, payload, marker=k == 0)))
                seq += 1

    def write(self, path: Path) -> Path:
        return write_pcap(path, sorted(self.frames, key=lambda f: f.t_ns))
