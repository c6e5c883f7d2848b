"""RTCP rules on each leg of a call (RFC 3550 section 6; RFC 3605 for the port).

Each party that sends RTP owes sender reports (SR), each that receives owes receiver
reports (RR), to the RTCP address its peer's SDP gives: a=rtcp (RFC 3605), by default the
RTP port + 1 (RFC 3550 section 11). Reports go out at intervals of at least 5 s (RFC 3550
6.2; Asterisk's rtcpinterval default is 5000 ms), randomised up to 1.5 times that (6.3.1),
so a leg whose media lasted less than ``DUE_S`` owes none: what was seen is noted and
nothing is failed. Only the parties in ``judged`` (the gateway under test) are judged: the
suite's simulators and SIPp send no RTCP at all (measured), and what the far ends send is
noted. Where reports are due:

- an SR or RR from each judged party, to the port its peer advertised;
- an SR's packet count matches the RTP packets its SSRC had sent by then (``COUNT_SLACK``
  for packets in flight and the report's own delay);
- an RR's jitter about a stream is no more than the jitter measured on that stream (as
  Wireshark computes it, RFC 3550 A.8) plus ``JITTER_TOL_MS``, and its cumulative loss no
  more than the measured loss plus ``COUNT_SLACK``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np

from harness.analysis.legs import Leg
from harness.analysis.rtp_rules import MediaTimeline
from harness.analysis.sdp_rules import SdpEvent, sdp_events
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.media.find import rtp_streams
from harness.media.rtcp import RR, SR, CapturedRtcp, rtcp_packets
from harness.media.streams import RtpStream

RTCP_INTERVAL_S = 5.0
DUE_S = 1.5 * RTCP_INTERVAL_S
COUNT_SLACK = 5
JITTER_TOL_MS = 5.0


def rtcp_target(s: SdpEvent) -> tuple[str | None, int | None, str]:
    """Where the SDP's sender wants RTCP: (address, port, which rule said so)."""
    addr, port = s.rtp_target
    audio = s.sdp.audio
    value = audio.get_attribute("rtcp") if audio is not None else None
    if value:
        parts = value.split()
        try:
            rtcp_port = int(parts[0])
        except ValueError:
            return addr, None, f"a=rtcp:{value} (no port)"
        # a=rtcp:PORT IN IP4 ADDRESS names another address (RFC 3605 2.1)
        return (parts[3] if len(parts) >= 4 else addr), rtcp_port, f"a=rtcp:{value}"
    if audio is not None and audio.has_attribute("rtcp-mux"):
        return addr, port, "a=rtcp-mux"
    return addr, (port + 1 if port is not None else None), "the RTP port + 1"


def check_call_rtcp(v: Verdict, capture: Capture, legs: Sequence[Leg],
                    timeline: MediaTimeline, *, judged: Collection[str],
                    due_s: float = DUE_S) -> None:
    """The RTCP rules on each answered leg, for the reports of the roles in ``judged``
    (the gateway under test: what the other parties send is noted, not judged); ``due_s``:
    the media time from which reports are owed."""
    seen = rtcp_packets(capture)
    streams = rtp_streams(capture)
    for leg in legs:
        t = timeline.of(leg.name)
        if not leg.events or t.answered is None:
            continue
        firsts: dict[str, SdpEvent] = {}
        for s in sdp_events(leg):
            firsts.setdefault(s.event.sender, s)
        if len(firsts) < 2:
            continue
        end = t.ended if t.ended is not None else float(capture.time[-1])
        talk = end - t.answered
        quiet: list[str] = []
        for sender, receiver in (leg.roles, leg.roles[::-1]):
            if sender not in firsts or receiver not in firsts:
                continue
            src = firsts[sender].event.src
            addr, port, how = rtcp_target(firsts[receiver])
            mine = [c for c in seen if c.src == src and c.dst == addr]
            types = Counter("+".join(c.types) for c in mine)
            summary = (", ".join(f"{n} x {k}" for k, n in types.items()) if mine
                       else "no RTCP")
            who = f"{sender} -> {receiver}"
            if talk < due_s or sender not in judged:
                quiet.append(f"{who}: {summary}")
                continue
            reports = [c for c in mine if any(p.packet_type in (SR, RR) for p in c.packets)]
            v.check("7", leg.name, f"RTCP {who} reports", bool(reports),
                    f"an SR or RR to {addr}:{port} ({how}) within {talk:.1f} s of media",
                    summary, reports[0].frame if reports else None)
            if mine:
                wrong = [c for c in mine if c.dport != port]
                v.check("7", leg.name, f"RTCP {who} port", not wrong,
                        f"{port} ({how})", f"port {wrong[0].dport}" if wrong else str(port),
                        wrong[0].frame if wrong else None)
            if reports and addr is not None:
                _consistent(v, leg.name, who, reports, streams, src, addr)
        if quiet:
            why = (f"none due in {talk:.1f} s of media (RFC 3550 6.2: reports at least "
                   f"{RTCP_INTERVAL_S:g} s apart, randomised up to {due_s:g} s)"
                   if talk < due_s else "not judged: only the gateway's reports are")
            v.note(f"RTCP on the {leg.name} leg: {'; '.join(quiet)}; {why}")


def _consistent(v: Verdict, leg: str, who: str, reports: list[CapturedRtcp],
                streams: list[RtpStream], src: str, peer: str) -> None:
    """SR counts against the RTP sent; RR jitter and loss against the stream received."""
    sent = {s.ssrc: s for s in streams if (s.src, s.dst) == (src, peer)}
    received = {s.ssrc: s for s in streams if (s.src, s.dst) == (peer, src)}
    counts: list[str] = []
    blocks: list[str] = []
    bad_count = bad_block = False
    for c in reports:
        for p in c.packets:
            if p.packet_type == SR and p.packet_count is not None:
                s = sent.get(p.ssrc)
                by_then = int(np.count_nonzero(s.time <= c.time)) if s is not None else 0
                counts.append(f"{p.packet_count} vs {by_then} (frame {c.frame})")
                bad_count |= abs(p.packet_count - by_then) > COUNT_SLACK
            for b in p.reports:
                r = received.get(b.ssrc)
                if r is None:
                    blocks.append(f"0x{b.ssrc:08X}: no such stream (frame {c.frame})")
                    bad_block = True
                    continue
                st = r.stats()
                jitter = b.jitter_ms(r.clock_rate or 8000)
                blocks.append(f"0x{b.ssrc:08X}: jitter {jitter:.2f} ms (measured max "
                              f"{st.max_jitter_ms:.2f}), lost {b.cumulative_lost} "
                              f"(measured {st.lost})")
                bad_block |= (jitter > st.max_jitter_ms + JITTER_TOL_MS
                              or b.cumulative_lost > max(st.lost, 0) + COUNT_SLACK)
    if counts:
        v.check("7", leg, f"RTCP {who} SR packet count", not bad_count,
                f"the RTP packets its SSRC had sent by then, +-{COUNT_SLACK}",
                "; ".join(counts[:6]))
    if blocks:
        v.check("7", leg, f"RTCP {who} report blocks", not bad_block,
                f"jitter at most the measured + {JITTER_TOL_MS:g} ms, loss at most the "
                f"measured + {COUNT_SLACK}, about a stream it receives", "; ".join(blocks[:6]))
