"""The Lync trunk's health on the wire: the gateway's qualify (seed [to_lync] qualify=yes,
"Asterisk performs a check every 60 seconds"; the troubleshooting section's `sip show
peers` with `to_lync ... OK (1 ms)`).

From the capture: the gateway's OPTIONS to the Mediation Server over the trunk's transport
(TCP, port 5068), the Mediation Server's 200 OK to it (RFC 3261 11.2), and the round trip
within what qualify=yes calls reachable (chan_sip: over 2000 ms is LAGGED, not OK). From
the gateway: its own view of the trunk, reachable, beside the capture's round trip.
Messages in, checks out: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.analysis.legs import LYNC_LEG
from harness.analysis.verdict import Verdict
from harness.capture.sip import CapturedSip
from harness.roles import ASTERISK, MEDIATION
from harness.sip.message import Request, Response

STEP = "qualify"
TRUNK_PORT = 5068
# qualify=yes's limit: chan_sip's default maxms; a longer round trip is LAGGED, not OK
MAX_RTT_MS = 2000.0


@dataclass(frozen=True)
class GatewayView:
    """What the gateway says of its trunk (harness.gateway.adapter.PeerState, in short)."""

    summary: str
    reachable: bool | None
    rtt_ms: float | None


def check_qualify(v: Verdict, messages: Sequence[CapturedSip],
                  gateway: GatewayView | None) -> None:
    options = [m for m in messages if m.sender == ASTERISK and m.receiver == MEDIATION
               and isinstance(m.message, Request) and m.message.method == "OPTIONS"]
    if not v.check(STEP, LYNC_LEG, "OPTIONS to the Mediation Server", bool(options),
                   "the gateway's OPTIONS to the Mediation Server (seed: qualify=yes)",
                   f"{len(options)} OPTIONS" if options else "none in the capture"):
        return
    last = options[-1]
    v.check(STEP, LYNC_LEG, "OPTIONS transport", (last.transport, last.dport) ==
            ("TCP", TRUNK_PORT), f"TCP to port {TRUNK_PORT} (seed: transport = tcp, port "
            "5068)", f"{last.transport} to port {last.dport}", last.frame)
    answer = _answer(messages, last)
    final = answer.message if answer is not None else None
    assert final is None or isinstance(final, Response)
    if not v.check(STEP, LYNC_LEG, "OPTIONS answered", final is not None and final.status == 200,
                   "200 OK from the Mediation Server to the OPTIONS",
                   "no answer in the capture" if final is None else
                   f"{final.status} {final.reason}", last.frame) or answer is None:
        return
    rtt_ms = (answer.time - last.time) * 1000
    v.check(STEP, LYNC_LEG, "round trip on the wire", rtt_ms <= MAX_RTT_MS,
            f"at most {MAX_RTT_MS:.0f} ms (qualify=yes: beyond, the peer is LAGGED)",
            f"{rtt_ms:.2f} ms (frames {last.frame} to {answer.frame})", answer.frame)
    if gateway is None:
        v.not_checked(STEP, LYNC_LEG, "the gateway's view",
                      "the gateway was not asked (no AMI login)")
        return
    v.check(STEP, LYNC_LEG, "the gateway's view", bool(gateway.reachable)
            and gateway.rtt_ms is not None, "reachable, with a round trip time (seed: "
            "`to_lync ... OK (1 ms)`)", gateway.summary)
    if gateway.rtt_ms is not None:
        v.note(f"to_lync round trip: {gateway.rtt_ms:g} ms as the gateway counts it, "
               f"{rtt_ms:.2f} ms between its OPTIONS and the 200 OK in the capture")


def _answer(messages: Sequence[CapturedSip], options: CapturedSip) -> CapturedSip | None:
    """The final response to `options`: same Call-ID and CSeq, from the Mediation Server."""
    request = options.message
    assert isinstance(request, Request)
    for m in messages:
        msg = m.message
        if (m.time >= options.time and m.sender == MEDIATION and isinstance(msg, Response)
                and msg.status >= 200 and msg.call_id == request.call_id
                and msg.headers.get("CSeq") == request.headers.get("CSeq")):
            return m
    return None
