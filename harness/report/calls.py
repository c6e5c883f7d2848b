"""The calls of a capture, one row per Call-ID: hosts, times, INVITE outcome, counts.

Pure functions over the capture layer's records (``CapturedSip``, ``RtpStream``): RTP is
counted for the call whose SDP set the stream up (``RtpStream.setup_frame``); streams found
heuristically, without SDP, are listed apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


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
    rtp_streams: list[dict[str, Any]] = field(default_factory=list)

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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_time"] = round(self.first_time, 6)
        out["last_time"] = round(self.last_time, 6)
        out["invite_result"] = self.invite_result
        out["hosts"] = [{"address": a, "name": n} for a, n in zip(self.hosts, self.names,
                                                                  strict=True)]
        del out["names"]
        return out


def _stream_dict(stream: Any) -> dict[str, Any]:
    return {
        "src": str(stream.src), "src_port": int(stream.src_port),
        "dst": str(stream.dst), "dst_port": int(stream.dst_port),
        "ssrc": f"0x{int(stream.ssrc):08X}", "packets": len(stream.seq),
        "setup_frame": getattr(stream, "setup_frame", None),
    }


def _cseq(msg: Any) -> tuple[int, str] | None:
    try:
        return msg.cseq
    except Exception:  # noqa: BLE001 - a broken CSeq leaves the message uncounted
        return None


def summarise_calls(
    messages: Iterable[Any],
    streams: Iterable[Any] = (),
    roles: Mapping[str, str] | None = None,
    origin: float = 0.0,
) -> tuple[list[CallSummary], list[dict[str, Any]]]:
    """(calls in order of their first message, RTP streams not tied to any call)."""
    roles = dict(roles or {})
    calls: dict[str, CallSummary] = {}
    frame_call: dict[int, str] = {}
    # call -> (sender, CSeq) of each INVITE transaction, in order -> final status (0: none).
    # Keyed by sender too: each side of a dialog numbers its own requests.
    invites: dict[str, dict[tuple[str, int], int]] = {}
    for item in messages:
        msg = item.message
        try:
            call_id = msg.call_id if msg is not None else None
        except Exception:  # noqa: BLE001
            call_id = None
        key = call_id or "(unparsable)"
        t = float(item.time) - origin
        call = calls.get(key)
        if call is None:
            method = getattr(msg, "method", None) if msg is not None and msg.is_request else None
            if method is None and msg is not None:
                try:
                    method = msg.cseq[1]
                except Exception:  # noqa: BLE001
                    method = "?"
            call = calls[key] = CallSummary(key, method or "?", [], [], t, t, int(item.frame),
                                            int(item.frame), 0)
        call.messages += 1
        call.last_time = max(call.last_time, t)
        call.last_frame = int(item.frame)
        for host in (str(item.src), str(item.dst)):
            if host not in call.hosts:
                call.hosts.append(host)
                call.names.append(roles.get(host, host))
        frame_call[int(item.frame)] = key
        if msg is None:
            call.unparsable += 1
            continue
        cseq = _cseq(msg)
        if cseq is None:
            continue
        num, method = cseq
        if msg.is_request:
            if msg.method == "INVITE":
                invites.setdefault(key, {}).setdefault((str(item.src), num), 0)
            elif msg.method == "BYE":
                call.bye = True
        elif method == "INVITE" and msg.status >= 200:
            per = invites.setdefault(key, {})
            if not per.get((str(item.dst), num)):
                per[(str(item.dst), num)] = msg.status
    for key, per in invites.items():
        call = calls[key]
        call.invite_statuses = list(per.values())
        ok = [i for i, st in enumerate(call.invite_statuses) if 200 <= st < 300]
        if ok:
            call.answered = True
            call.re_invites = len(call.invite_statuses) - ok[0] - 1
    loose: list[dict[str, Any]] = []
    for stream in streams:
        key = frame_call.get(getattr(stream, "setup_frame", None) or -1)
        if key is None:
            loose.append(_stream_dict(stream))
            continue
        calls[key].rtp_packets += len(stream.seq)
        calls[key].rtp_streams.append(_stream_dict(stream))
    return list(calls.values()), loose


def calls_table(calls: list[CallSummary], loose: list[dict[str, Any]], width: int = 100) -> str:
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
    total = sum(c.rtp_packets for c in calls) + sum(s["packets"] for s in loose)
    out.append(f"{len(calls)} call{'s' if len(calls) != 1 else ''}, "
               f"{sum(c.messages for c in calls)} SIP messages, {total} RTP packets")
    for s in loose:
        out.append(fit(f"RTP without SDP: {s['src']}:{s['src_port']} -> {s['dst']}:{s['dst_port']}"
                       f" SSRC {s['ssrc']}: {s['packets']} packets", width))
    return "\n".join(out)
