"""SIP messages found in a capture, over UDP and reassembled TCP, on any port.

SIP is recognised by content: a payload that starts with a request line
(``METHOD uri SIP/2.0``) or a status line (``SIP/2.0 NNN``). Over UDP one datagram is one
message; over TCP each direction of a connection that carries SIP is reassembled in
sequence order (retransmissions once) and cut into messages with the sip layer's
StreamFramer. Messages are parsed with ``parse_message``; a message that does not parse is
kept with ``message=None`` and the parser's reason in ``error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from harness.capture.addresses import addr_to_str
from harness.capture.records import Buffer
from harness.capture.table import PROTO_TCP, PROTO_UDP, PacketTable
from harness.capture.tcp import Chunk, Segment, reassemble
from harness.roles import Roles
from harness.sip import Request, Response, SipParseError, StreamFramer, parse_message

_TOKEN = rb"[A-Za-z0-9!%*_+`'~.\-]+"
START_LINE = re.compile(rb"(?:" + _TOKEN + rb" [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 [0-9]{3}[ \r\n])")
_START_ANYWHERE = re.compile(
    rb"(?:^|\n)(" + _TOKEN + rb" [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 [0-9]{3}[ \r\n])"
)
_PEEK = 512


@dataclass(frozen=True)
class CapturedSip:
    """One SIP message of a capture: the one record that analysis and reports read.

    ``sender`` and ``receiver`` are role names once :meth:`with_roles` has named the hosts
    (until then, the addresses)."""

    frame: int  # the frame that carried it (over TCP: the segment that completed it)
    time: float  # epoch seconds of that frame
    src: str
    sport: int
    dst: str
    dport: int
    transport: Literal["UDP", "TCP"]
    data: bytes
    message: Request | Response | None
    error: str | None  # why ``data`` did not parse (None when it did)
    sender: str = ""
    receiver: str = ""

    def __post_init__(self) -> None:
        if not self.sender:
            object.__setattr__(self, "sender", self.src)
        if not self.receiver:
            object.__setattr__(self, "receiver", self.dst)

    def with_roles(self, roles: Roles) -> CapturedSip:
        """The same message with its hosts named by role."""
        return replace(self, sender=roles.name(self.src), receiver=roles.name(self.dst))

    @property
    def summary(self) -> str:
        if self.message is None:
            return f"unparsable SIP ({self.error})"
        return self.message.start_line

    @property
    def msg(self) -> Request | Response:
        """The parsed message; ValueError for one that did not parse (check ``message``)."""
        if self.message is None:
            raise ValueError(f"frame {self.frame}: SIP message that does not parse: {self.error}")
        return self.message

    @property
    def is_request(self) -> bool:
        return isinstance(self.message, Request)

    @property
    def method(self) -> str:
        """The CSeq method (a response's too)."""
        return self.msg.cseq[1]

    @property
    def cseq(self) -> int:
        return self.msg.cseq[0]

    def label(self) -> str:
        msg = self.msg
        if isinstance(msg, Request):
            return msg.method
        return f"{msg.status} {msg.reason} ({self.method})"

    def describe(self) -> str:
        return f"{self.label()} {self.sender}->{self.receiver} at frame {self.frame}"


def looks_like_sip(data: bytes) -> bool:
    return START_LINE.match(data) is not None


def _candidates(cap: PacketTable, proto: int) -> np.ndarray:
    """Packets whose payload starts with an upper-case letter (every SIP start line does)."""
    sel = np.flatnonzero((cap.proto == proto) & (cap.payload_len >= 8) & ~cap.fragment)
    if sel.size == 0:
        return sel
    first = cap.head[:, 0][sel]
    return sel[(first >= 0x41) & (first <= 0x5A)]


def extract(cap: PacketTable, buf: Buffer) -> list[CapturedSip]:
    """Every SIP message of the packets ``cap`` (their payloads in ``buf``), in frame order."""
    out: list[CapturedSip] = []
    for i in _candidates(cap, PROTO_UDP).tolist():
        off, length = int(cap.payload_off[i]), int(cap.payload_len[i])
        if not START_LINE.match(buf, off, off + min(length, _PEEK)):
            continue
        data = bytes(buf[off : off + length])
        msg, err = _parse(data)
        if err is None and length < int(cap.payload_wire_len[i]):
            err = f"datagram cut short by the capture ({length} of {cap.payload_wire_len[i]} bytes)"
        out.append(_captured(cap, i, "UDP", data, msg, err))
    out.extend(_tcp_messages(cap, buf))
    out.sort(key=lambda m: m.frame)
    return out


def _parse(data: bytes) -> tuple[Request | Response | None, str | None]:
    try:
        return parse_message(data), None
    except SipParseError as exc:
        return None, exc.reason
    except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the capture
        return None, f"parser failure: {type(exc).__name__}: {exc}"


def _captured(
    cap: PacketTable,
    i: int,
    transport: Literal["UDP", "TCP"],
    data: bytes,
    msg: Request | Response | None,
    err: str | None,
) -> CapturedSip:
    return CapturedSip(
        frame=i + 1,
        time=int(cap.ts_ns[i]) / 1e9,
        src=addr_to_str(cap.src_hi[i], cap.src_lo[i]),
        sport=int(cap.sport[i]),
        dst=addr_to_str(cap.dst_hi[i], cap.dst_lo[i]),
        dport=int(cap.dport[i]),
        transport=transport,
        data=data,
        message=msg,
        error=err,
    )


def _tcp_messages(cap: PacketTable, buf: Buffer) -> list[CapturedSip]:
    starts = [
        i
        for i in _candidates(cap, PROTO_TCP).tolist()
        if START_LINE.match(buf, int(cap.payload_off[i]), int(cap.payload_off[i]) + _PEEK)
    ]
    if not starts:
        return []
    # Connections (both directions) that carry SIP.
    conns = set()
    for i in starts:
        a = (int(cap.src_hi[i]), int(cap.src_lo[i]), int(cap.sport[i]))
        b = (int(cap.dst_hi[i]), int(cap.dst_lo[i]), int(cap.dport[i]))
        conns.add((min(a, b), max(a, b)))
    tcp = np.flatnonzero((cap.proto == PROTO_TCP) & ~cap.fragment)
    directions: dict[tuple[tuple[int, int, int], tuple[int, int, int]], list[int]] = {}
    for i in tcp.tolist():
        a = (int(cap.src_hi[i]), int(cap.src_lo[i]), int(cap.sport[i]))
        b = (int(cap.dst_hi[i]), int(cap.dst_lo[i]), int(cap.dport[i]))
        if (min(a, b), max(a, b)) in conns:
            directions.setdefault((a, b), []).append(i)
    out: list[CapturedSip] = []
    for idx in directions.values():
        segments = [
            Segment(
                frame=i,  # packet index; mapped to the frame below
                seq=int(cap.tcp_seq[i]),
                flags=int(cap.tcp_flags[i]),
                data=bytes(buf[cap.payload_off[i] : cap.payload_off[i] + cap.payload_len[i]]),
            )
            for i in idx
        ]
        out.extend(_frame_direction(cap, reassemble(segments)))
    return out


def _frame_direction(cap: PacketTable, chunks: list[Chunk]) -> list[CapturedSip]:
    """Cut one direction's bytes into messages; resynchronise after gaps and framing errors."""
    out: list[CapturedSip] = []
    framer = StreamFramer()
    hunting = True  # skipping bytes until a start line (the capture may begin mid-message)
    pending = b""
    for chunk in chunks:
        i = chunk.frame
        data = chunk.data
        if chunk.after_gap:
            framer, hunting, pending = StreamFramer(), True, b""
        while data:
            if hunting:
                pending += data
                m = _START_ANYWHERE.search(pending)
                if m is None:
                    pending = pending[-_PEEK:]
                    data = b""
                    break
                data, pending, hunting = pending[m.start(1) :], b"", False
            before, consumed = framer.buffered, framer.consumed
            error: SipParseError | None = None
            try:
                messages = framer.feed(data)
                if framer.broken:  # messages before the break came back; the error waits
                    try:
                        framer.feed(b"")
                    except SipParseError as exc:
                        error = exc
            except SipParseError as exc:
                messages, error = [], exc
            for raw in messages:
                msg, err = _parse(raw)
                out.append(_captured(cap, i, "TCP", raw, msg, err))
            if error is None:
                data = b""
                continue
            combined = before + data
            done = framer.consumed - consumed
            if not messages and done:
                # A framer that raises may drop the messages it framed in the same call:
                # frame those bytes again.
                for raw in StreamFramer().feed(combined[:done]):
                    msg, err = _parse(raw)
                    out.append(_captured(cap, i, "TCP", raw, msg, err))
            rest = combined[done:]
            m = _START_ANYWHERE.search(rest, 1)
            bad = rest[: m.start(1)] if m else rest
            out.append(_captured(cap, i, "TCP", bad, None, error.reason))
            framer = StreamFramer()
            data = rest[m.start(1) :] if m else b""
            hunting = m is None
    return out
