"""A load capture, call by call: correlate the legs, check each call, keep its record.

Sans-I/O: takes a capture already read and the roles of its hosts; the caller times it
and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.load.correlate import CorrelatedCall, correlate
from harness.load.machine import MachinePause, machine_pauses, stream_gaps
from harness.load.records import CallRecord
from harness.load.verify import check_call, record_of
from harness.media.find import rtp_streams
from harness.roles import ASTERISK, Roles


@dataclass
class Analysed:
    call: CorrelatedCall
    verdict: Verdict
    record: CallRecord


def analyse(capture: Capture, roles: Roles, *, hold: bool,
            received: Mapping[str, int] | None = None) -> list[Analysed]:
    """Every call of the capture with its verdict and record, in order of its start.
    ``received``: the Mediation Server's RTP receive count by Call-ID, when known."""
    by_address: Mapping[str, str] = roles.by_address
    gateway = next((a for a, r in by_address.items() if r == ASTERISK), None)
    if gateway is None:
        raise ValueError("the roles name no gateway (Asterisk) address")
    named = [m.with_roles(roles) for m in capture.sip_messages() if m.message is not None]
    streams = rtp_streams(capture)
    calls = correlate(named, streams, gateway)
    pauses = machine_pauses(streams)
    out: list[Analysed] = []
    for index, call in enumerate(calls, 1):
        verdict = check_call(call, capture, hold=hold, title=f"load call {index}")
        record = record_of(index, call, verdict, dict(by_address), hold=hold,
                           received=received)
        if not record.verified:
            record.machine_pause = _pause_in(call, pauses)
        out.append(Analysed(call, verdict, record))
    return out


def _pause_in(call: CorrelatedCall, pauses: list[MachinePause]) -> tuple[float, float] | None:
    """(start, ms) of a machine pause that one of the call's RTP gaps falls in."""
    for stream in call.streams:
        for start, end in stream_gaps(stream.time):
            for pause in pauses:
                if pause.covers(start, end):
                    return round(pause.start, 6), round(pause.ms, 2)
    return None
