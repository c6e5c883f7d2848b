"""The figures of `harness load` from call records: percentiles as numpy computes them,
the achieved rate, failures by step; `harness load merge` recomputes them from all the
records (never the average of the generators' figures); plans refuse unbounded runs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from harness.load.figures import percentile, report_text, summary, write_result
from harness.load.merge import merge
from harness.load.plan import Fault, LoadPlan, PlanError
from harness.load.records import CallRecord, Failure, LoadResult, ResultError, RunInfo


def _call(i: int, start: float, pdd: float, ok: bool = True) -> CallRecord:
    return CallRecord(index=i, start=start, phone_call_id=f"{i}-1@x", lync_call_id=f"L{i}",
                      joined_by="ssrc", verified=ok, pdd_ms=pdd, mos=4.41 if ok else None,
                      failure=None if ok else Failure("6", "Lync trunk (TCP)", "200 OK not "
                                                      "sent again after the ACK", "none",
                                                      "3 more"))


def _run(name: str, rate: float) -> RunInfo:
    return RunInfo(generator=name, started=0.0, run_s=10.0, verify_s=1.0, rate=rate,
                   concurrency=10, calls=10, duration_s=None, hold=False)


@pytest.mark.parametrize("q", [0, 1, 37.5, 50, 95, 99, 100])
def test_percentile_is_numpys_linear_interpolation(q: float) -> None:
    rng = random.Random(7)
    values = [rng.uniform(0, 500) for _ in range(101)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_and_a_bad_q() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_summary_counts_rates_and_steps() -> None:
    calls = [_call(i, 100 + 0.5 * i, 30 + i, ok=i % 5 != 4) for i in range(20)]
    s = summary(LoadResult([_run("a", 2)], calls))
    assert (s.attempted, s.verified, s.failed) == (20, 16, 4)
    assert s.achieved_cps == pytest.approx(2.0)  # 20 calls over 9.5 s, one every 0.5 s
    assert s.verified_cps == pytest.approx(1.6)
    assert s.failed_by_step == {"step 6 on the Lync trunk (TCP) leg: 200 OK not sent again "
                                "after the ACK": 4}
    assert s.pdd_ms.p50 == pytest.approx(np.percentile([30 + i for i in range(20)], 50))
    text = report_text(LoadResult([_run("a", 2)], calls))
    assert "20 attempted, 16 verified, 4 failed" in text


def test_merge_recomputes_from_the_records(tmp_path: Path) -> None:
    slow = [_call(i, 100 + i, 400.0 + i) for i in range(10)]  # one generator's slow calls
    fast = [_call(i, 100.5 + i, 20.0 + i) for i in range(10)]
    a = write_result(LoadResult([_run("gen-a", 1)], slow), tmp_path / "a.json")
    b = write_result(LoadResult([_run("gen-b", 1)], fast), tmp_path / "b.json")
    merged = merge([a, b])
    s = summary(merged)
    every = [c.pdd_ms for c in slow + fast]
    assert s.pdd_ms.p95 == pytest.approx(np.percentile(every, 95))
    averaged = (summary(LoadResult.read(a)).pdd_ms.p95 + summary(LoadResult.read(b)).pdd_ms.p95)
    assert s.pdd_ms.p95 != pytest.approx(averaged / 2)
    assert s.attempted == 20
    assert s.achieved_cps == pytest.approx(19 / 9.5)  # both generators over one span
    assert {c.generator for c in merged.calls} == {"gen-a:a", "gen-b:b"}
    assert s.run_s == 20.0 and s.verify_s == 2.0


def test_merge_refuses_what_is_not_a_result(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"calls": []}))
    with pytest.raises(ResultError, match="not a load result"):
        merge([bad])
    with pytest.raises(ResultError, match="cannot read"):
        merge([tmp_path / "missing.json"])


def test_plans_are_bounded() -> None:
    with pytest.raises(PlanError, match="unbounded run is refused"):
        LoadPlan.make(rate=2, calls=None, duration_s=None, concurrency=None, talk_s=2,
                      hold=False)
    with pytest.raises(PlanError, match="0-600 seconds"):
        LoadPlan.make(rate=2, calls=None, duration_s=3600, concurrency=None, talk_s=2,
                      hold=False)
    with pytest.raises(PlanError, match="over the 600 s"):
        LoadPlan.make(rate=1, calls=1000, duration_s=None, concurrency=None, talk_s=2,
                      hold=False)
    plan = LoadPlan.make(rate=2, calls=None, duration_s=10, concurrency=None, talk_s=2,
                         hold=True)
    assert plan.calls == 20 and 1 <= plan.concurrency <= 90
    assert plan.sipp_timeout_s < 120


def test_faults_parse() -> None:
    assert Fault.parse("drop-acks=0.05") == Fault("drop-acks", 0.05)
    assert Fault.parse("stop-answering=3@10") == Fault("stop-answering", 3.0, 10.0)
    for bad in ("drop-acks=2", "drop-acks", "nap=1", "stop-answering=x"):
        with pytest.raises(PlanError):
            Fault.parse(bad)


def test_loss_the_capture_dropped_is_told_apart() -> None:
    """A call that failed only on RTP loss, in a run whose tcpdump dropped packets, where
    the Mediation Server received every packet the capture misses toward it."""
    from harness.load.records import Direction

    lossy = _call(1, 100.0, 30.0, ok=False)
    lossy.loss_only = True
    lossy.directions = [Direction("Lync trunk (TCP)", "Asterisk", "Mediation Server", 99, 100,
                                  1, 1.0, 2.0)]
    lossy.mediation_rtp_received = 100
    short = _call(2, 101.0, 30.0, ok=False)  # the receiver missed one too: not the capture's
    short.loss_only = True
    short.directions = list(lossy.directions)
    short.mediation_rtp_received = 99
    run = _run("a", 1)
    s = summary(LoadResult([run], [lossy, short]))
    assert (s.loss_only_while_dropping, s.receiver_got_all) == (0, 0)  # tcpdump dropped none
    run.capture_dropped = 2
    s = summary(LoadResult([run], [lossy, short]))
    assert (s.loss_only_while_dropping, s.receiver_got_all) == (2, 1)
    assert "may be the capture's" in report_text(LoadResult([run], [lossy, short]))


def test_cli_refuses_bad_input_in_one_line(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    from harness.cli import main

    assert main(["load"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unbounded run is refused" in err
    assert main(["load", "--calls", "5", "--fault", "drop-acks=7"]) == 2
    assert "fraction of ACKs" in capsys.readouterr().err
    assert main(["load", "merge", str(tmp_path / "none.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read it" in err
