"""The calls of a capture, one row per Call-ID: hosts, times, INVITE outcome, counts.

Pure functions over the capture layer's records (``CapturedSip``, ``RtpStream``): RTP is
counted for the call whose SDP set the stream up (``RtpStream.setup_frame``); streams found
heuristically, without SDP, are listed apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from harness.capture.sip import CapturedSip
from harness.media.streams import RtpStream
from harness.roles import Roles
from harness.sip import Request, SipParseError


@dataclass(frozen=True)
class StreamRow:
    """One RTP stream of a call (or of none)."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: str  # 0x-hex, as tshark shows it
    packets: int
    setup_frame: int | None  # the SIP frame whose SDP set the stream up

    @classmethod
    def of(cls, stream: RtpStream) -> StreamRow:
        return cls(stream.src, stream.src_port, stream.dst, stream.dst_port,
                   f"0x{stream.ssrc:08X}", len(stream.seq), stream.setup_frame)

    def to_dict(self) -> dict[str, str | int | None]:
        return asdict(self)


@dataclass
class CallSummary:
    call_id: str
    method: str  # the first request's method (INVITE, OPTIONS, REGISTER, ...)
    hosts: list[str]  # addresses, in order of first appearance
    names: list[str]  # role names (or addresses) of the hosts
    first_time: float  # seconds since the origin
    last_time: float
    first_frame: int
    last_frame: int
    messages: int
    invite_statuses: list[int] = field(default_factory=list)  # final status of each INVITE
    answered: bool = False  # an INVITE got a 2xx
    re_invites: int = 0  # INVITEs after the first 2xx
    bye: bool = False
    unparsable: int = 0
    rtp_packets: int = 0
    rtp_streams: list[StreamRow] = field(default_factory=list)

    @property
    def invite_result(self) -> str:
        """'401>200' style: the initial INVITE transactions' final statuses, up to the
        first 2xx; '+N re-INVITE' after; '-' without an INVITE; 'no final response'."""
        if self.method != "INVITE" and not self.invite_statuses:
            return "-"
        initial = self.invite_statuses[: len(self.invite_statuses) - self.re_invites]
        text = ">".join(str(s) if s else "none" for s in initial) or "no final response"
        if self.re_invites:
            text += f" +{self.re_invites} re-INVITE"
        return text

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["first_time"] = round(self.first_time, 6)
        out["last_time"] = round(self.last_time, 6)
        out["invite_result"] = self.invite_result
        out["hosts"] = [{"address": a, "name": n} for a, n in zip(self.hosts, self.names,
                                                                  strict=True)]
        del out["names"]
        return out


def _first_method(item: CapturedSip) -> str:
    """A request's method, a response's CSeq method; '?' when neither can be read."""
    msg = item.message
    if isinstance(msg, Request):
        return msg.method
    if msg is None:
        return "?"
    try:
        return item.method
    except SipParseError:
        return "?"


def _cseq(item: CapturedSip) -> tuple[int, str] | None:
    try:
        return item.msg.cseq
    except SipParseError:  # a broken CSeq leaves the message uncounted
        return None


def summarise_calls(
    messages: Iterable[CapturedSip],
    streams: Iterable[RtpStream] = (),
    roles: Roles | Mapping[str, str] | None = None,
    origin: float = 0.0,
) -> tuple[list[CallSummary], list[StreamRow]]:
    """(calls in order of their first message, RTP streams not tied to any call)."""
    names = roles if isinstance(roles, Roles) else Roles(dict(roles or {}))
    calls: dict[str, CallSummary] = {}
    frame_call: dict[int, str] = {}
    # call -> (sender, CSeq) of each INVITE transaction, in order -> final status (0: none).
    # Keyed by sender too: each side of a dialog numbers its own requests.
    invites: dict[str, dict[tuple[str, int], int]] = {}
    for item in messages:
        msg = item.message
        key = (msg.call_id if msg is not None else None) or "(unparsable)"
        t = item.time - origin
        call = calls.get(key)
        if call is None:
            call = calls[key] = CallSummary(key, _first_method(item), [], [], t, t, item.frame,
                                            item.frame, 0)
        call.messages += 1
        call.last_time = max(call.last_time, t)
        call.last_frame = item.frame
        for host in (item.src, item.dst):
            if host not in call.hosts:
                call.hosts.append(host)
                call.names.append(names.name(host))
        frame_call[item.frame] = key
        if msg is None:
            call.unparsable += 1
            continue
        cseq = _cseq(item)
        if cseq is None:
            continue
        num, method = cseq
        if isinstance(msg, Request):
            if msg.method == "INVITE":
                invites.setdefault(key, {}).setdefault((item.src, num), 0)
            elif msg.method == "BYE":
                call.bye = True
        elif method == "INVITE" and msg.status >= 200:
            per = invites.setdefault(key, {})
            if not per.get((item.dst, num)):
                per[(item.dst, num)] = msg.status
    for key, per in invites.items():
        call = calls[key]
        call.invite_statuses = list(per.values())
        ok = [i for i, st in enumerate(call.invite_statuses) if 200 <= st < 300]
        if ok:
            call.answered = True
            call.re_invites = len(call.invite_statuses) - ok[0] - 1
    loose: list[StreamRow] = []
    for stream in streams:
        row = StreamRow.of(stream)
        owner = frame_call.get(stream.setup_frame or -1)
        if owner is None:
            loose.append(row)
            continue
        calls[owner].rtp_packets += row.packets
        calls[owner].rtp_streams.append(row)
    return list(calls.values()), loose


def calls_table(calls: list[CallSummary], loose: list[StreamRow], width: int = 100) -> str:
    """The calls as a text table that fits ``width`` columns."""
    head = ("Call-ID", "hosts", "first s", "last s", "INVITE", "msgs", "RTP pkts")
    rows = []
    for c in calls:
        rows.append((c.call_id, " - ".join(c.names), f"{c.first_time:.3f}", f"{c.last_time:.3f}",
                     c.invite_result, str(c.messages), str(c.rtp_packets)))
    invite_w = min(max([len(head[4])] + [len(r[4]) for r in rows]), 24)
    rest = width - (7 + 7 + 4 + 8) - invite_w - 2 * 6  # first, last, msgs, RTP; separators
    hosts_w = max(10, min(max([len(r[1]) for r in rows] + [5]), 34, rest - 12))
    id_w = max(12, min(max([len(r[0]) for r in rows] + [7]), rest - hosts_w))

    def fit(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 3] + "..."

    def line(r: tuple[str, ...]) -> str:
        return "  ".join((
            fit(r[0], id_w).ljust(id_w), fit(r[1], hosts_w).ljust(hosts_w), r[2].rjust(7),
            r[3].rjust(7), fit(r[4], invite_w).ljust(invite_w), r[5].rjust(4), r[6].rjust(8),
        )).rstrip()

    out = [line(head)] + [line(r) for r in rows]
    total = sum(c.rtp_packets for c in calls) + sum(s.packets for s in loose)
    out.append(f"{len(calls)} call{'s' if len(calls) != 1 else ''}, "
               f"{sum(c.messages for c in calls)} SIP messages, {total} RTP packets")
    for s in loose:
        out.append(fit(f"RTP without SDP: {s.src}:{s.src_port} -> {s.dst}:{s.dst_port}"
                       f" SSRC {s.ssrc}: {s.packets} packets", width))
    return "\n".join(out)
