"""Pauses of the whole test machine told apart from one sender's, on two windows cut from
a real 1000-call load capture: the virtual machine snapshotted (every stream up paused
3.4 s at once), and the Mediation Server simulator's garbage collector holding it 39.6 ms
(only its streams, and what the gateway relays of them, have gaps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.load.figures import report_text, summary
from harness.load.machine import machine_pauses, stream_gaps
from harness.load.records import CallRecord, Failure, LoadResult, RunInfo
from harness.media.find import rtp_streams

DATA = Path(__file__).parent / "data"


def test_every_stream_up_pausing_at_once_is_the_machine():
    streams = rtp_streams(open_capture(DATA / "load_machine_pause.pcap"))
    (pause,) = machine_pauses(streams)
    assert pause.streams == 10  # every stream up from before it to after it
    assert pause.ms == pytest.approx(3402.6, abs=1.0)
    gapped = [s for s in streams if stream_gaps(s.time)]
    assert all(any(pause.covers(*g) for g in stream_gaps(s.time)) for s in gapped)


def test_one_senders_pause_is_not_the_machine():
    streams = rtp_streams(open_capture(DATA / "load_sender_pause.pcap"))
    assert sum(len(stream_gaps(s.time)) for s in streams) == 2
    assert machine_pauses(streams) == []


def test_the_report_names_the_pause_beside_the_failed_calls():
    failure = Failure("7", "Lync trunk (TCP)", "RTP Mediation Server -> Asterisk spacing",
                      "mean 20 ms +- 2, max <= 60 ms", "mean 57.79 ms, max 3420.65 ms")
    calls = [CallRecord(index=i, start=1796387152.6 + i, phone_call_id=f"{i}-1@x",
                        lync_call_id=f"L{i}", joined_by="ssrc", verified=False,
                        failure=failure, machine_pause=(1796387154.700808, 3402.58))
             for i in range(2)]
    calls.append(CallRecord(index=3, start=1796387160.0, phone_call_id="3-1@x",
                            lync_call_id="L3", joined_by="ssrc", verified=True))
    run = RunInfo(generator="g", started=0.0, run_s=10.0, verify_s=1.0, rate=2,
                  concurrency=10, calls=3, duration_s=None, hold=False)
    result = LoadResult([run], calls)
    assert summary(result).failed_in_machine_pause == 2
    text = report_text(result)
    assert ("machine: 2 failed calls had their RTP gap while every stream up paused at once"
            in text)
    assert "12:25:54.700 for 3403 ms" in text
    assert "(the machine paused 3403 ms at 12:25:54.700)" in text
    again = CallRecord.from_json(calls[0].to_json())
    assert again.machine_pause == calls[0].machine_pause
