"""The figures of a load run, computed from its call records only: what ``harness load``
prints and what ``harness load merge`` recomputes over several generators' records (never
an average of their summaries)."""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.load.records import CallRecord, LoadResult
from harness.roles import MEDIATION

VERIFIED_TO_HOLD = 0.99  # --ramp: a rate holds while at least this share of calls verifies


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's
    default, Hyndman & Fan type 7); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Distribution:
    count: int
    min: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        vals = [float(v) for v in values]
        p = [percentile(vals, q) for q in (50, 95, 99)]
        return cls(len(vals), min(vals, default=None), p[0], p[1], p[2],
                   max(vals, default=None), sum(vals) / len(vals) if vals else None)

    def text(self, unit: str, digits: int = 1) -> str:
        if not self.count:
            return "none"

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.{digits}f}"
        return (f"min {f(self.min)} {unit}, p50 {f(self.p50)}, p95 {f(self.p95)}, "
                f"p99 {f(self.p99)}, max {f(self.max)} (n={self.count})")


@dataclass(frozen=True)
class Summary:
    attempted: int
    verified: int
    failed: int
    failed_by_step: dict[str, int]  # "step N on LEG: subject" -> calls
    pdd_ms: Distribution
    answer_ms: Distribution
    loss_percent: Distribution  # per direction and leg
    jitter_ms: Distribution  # mean jitter per direction and leg
    mos: Distribution
    span_s: float  # first call's start to last call's start
    achieved_cps: float  # calls started per second over the span
    verified_cps: float  # verified calls per second over the span
    run_s: float  # the runs' durations (added across generators, each run's own)
    verify_s: float
    capture_dropped: int  # packets tcpdump dropped, over the runs
    # failed calls whose only failures count lost RTP packets, in runs whose capture
    # dropped packets: their loss may be the capture's
    loss_only_while_dropping: int
    # of those, calls where the Mediation Server received every packet the capture says the
    # gateway sent it: that direction's loss is the capture's
    receiver_got_all: int
    # failed calls with an RTP gap while the whole machine paused (harness.load.machine)
    failed_in_machine_pause: int = 0

    @property
    def verified_share(self) -> float:
        return self.verified / self.attempted if self.attempted else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verified_share"] = round(self.verified_share, 4)
        return out


def write_result(result: LoadResult, path: Path) -> Path:
    """The result as JSON (call records, runs, and the summary of them) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(summary(result).to_json()), indent=1) + "\n")
    return path


# a check's subject may name the stream's SSRC, which differs per call: not part of the key
_SSRC = re.compile(r"\s*\(0x[0-9A-Fa-f]{8}\)")


def failure_key(call: CallRecord) -> str:
    """The first failure as the summary groups calls: step, leg and check."""
    f = call.failure
    if f is None:
        return "unknown"
    return f"step {f.step} on the {f.leg} leg: {_SSRC.sub('', f.subject)}"


def summary(result: LoadResult) -> Summary:
    calls = result.calls
    verified = [c for c in calls if c.verified]
    by_step = Counter(failure_key(c) for c in calls if not c.verified)
    starts = sorted(c.start for c in calls)
    span = starts[-1] - starts[0] if len(starts) > 1 else 0.0
    # N calls placed at a rate R span (N - 1) / R seconds: the rate is (N - 1) / span
    per_s = (len(starts) - 1) / span if span > 0 else 0.0
    share = len(verified) / len(calls) if calls else 0.0
    dropped = sum(r.capture_dropped for r in result.runs)
    suspects = [c for c in calls if not c.verified and c.loss_only] if dropped else []
    return Summary(
        attempted=len(calls),
        verified=len(verified),
        failed=len(calls) - len(verified),
        failed_by_step=dict(by_step.most_common()),
        pdd_ms=Distribution.of([c.pdd_ms for c in calls if c.pdd_ms is not None]),
        answer_ms=Distribution.of([c.answer_ms for c in calls if c.answer_ms is not None]),
        loss_percent=Distribution.of([100 * d.loss_fraction for c in calls
                                      for d in c.directions]),
        jitter_ms=Distribution.of([d.jitter_mean_ms for c in calls for d in c.directions]),
        mos=Distribution.of([c.mos for c in calls if c.mos is not None]),
        span_s=round(span, 3),
        achieved_cps=round(per_s, 3),
        verified_cps=round(per_s * share, 3),
        run_s=round(sum(r.run_s for r in result.runs), 3),
        verify_s=round(sum(r.verify_s for r in result.runs), 3),
        capture_dropped=dropped,
        loss_only_while_dropping=len(suspects),
        receiver_got_all=sum(1 for c in suspects if receiver_got_all(c)),
        failed_in_machine_pause=sum(1 for c in calls if not c.verified and c.machine_pause),
    )


def receiver_got_all(call: CallRecord) -> bool:
    """The Mediation Server received at least as many RTP packets as the capture expected
    from the gateway toward it (so what the capture lacks there, the capture dropped)."""
    toward = [d for d in call.directions if d.receiver == MEDIATION]
    got = call.mediation_rtp_received
    return bool(toward) and got is not None and any(d.lost > 0 for d in toward) and (
        got >= sum(d.expected for d in toward))


def report_text(result: LoadResult) -> str:
    s = summary(result)
    lines = [
        f"calls: {s.attempted} attempted, {s.verified} verified, {s.failed} failed "
        f"({100 * s.verified_share:.1f}% verified)",
        f"rate: {s.achieved_cps:.2f} calls/s achieved over {s.span_s:.1f} s, "
        f"{s.verified_cps:.2f} verified calls/s",
        f"post-dial delay (INVITE -> first 18x): {s.pdd_ms.text('ms')}",
        f"answer delay (INVITE -> 200 OK): {s.answer_ms.text('ms')}",
        f"RTP loss per direction and leg: {s.loss_percent.text('%', 2)}",
        f"RTP mean jitter per direction and leg: {s.jitter_ms.text('ms', 2)}",
        f"MOS (G.107 E-model, G.711): {s.mos.text('', 2)}",
        f"run {s.run_s:.1f} s, verification {s.verify_s:.1f} s "
        f"({s.verify_s / s.run_s:.2f}x the run)" if s.run_s else
        f"verification {s.verify_s:.1f} s",
    ]
    if s.loss_only_while_dropping:
        lines.append(f"capture: tcpdump dropped {s.capture_dropped} packets; "
                     f"{s.loss_only_while_dropping} failed calls failed only on RTP loss, "
                     "which may be the capture's (for "
                     f"{s.receiver_got_all} of them the Mediation Server received every "
                     "packet the capture misses toward it)")
    if s.failed_in_machine_pause:
        pauses = sorted({c.machine_pause for c in result.calls if c.machine_pause})
        lines.append(f"machine: {s.failed_in_machine_pause} failed calls had their RTP gap "
                     "while every stream up paused at once, so the test machine paused, not "
                     "one sender or the gateway: " + ", ".join(
                         f"{_clock(t)} for {ms:.0f} ms" for t, ms in pauses))
    for run in result.runs:
        if run.faults:
            faults = ", ".join(f"{k}={v:g}" for k, v in run.faults.items())
            lines.append(f"faults ({run.generator}): {faults}")
        lines += [f"note ({run.generator}): {n}" for n in run.notes]
    if s.failed_by_step:
        lines.append("failed calls by first failing step:")
        lines += [f"  {n:5d}  {key}" for key, n in s.failed_by_step.items()]
        for c in [c for c in result.calls if not c.verified][:20]:
            f = c.failure
            what = (f"step {f.step} [{f.leg}] {f.subject}: expected {f.expected}; actual "
                    f"{f.actual}" if f else "no failure recorded")
            paused = (f" (the machine paused {c.machine_pause[1]:.0f} ms at "
                      f"{_clock(c.machine_pause[0])})" if c.machine_pause else "")
            lines.append(f"  call {c.index} ({c.phone_call_id or '-'} / {c.lync_call_id or '-'})"
                         f": {what}{paused}" + (f"\n      pcap: {c.pcap}" if c.pcap else ""))
        hidden = s.failed - 20
        if hidden > 0:
            lines.append(f"  ... and {hidden} more failed calls (see the JSON)")
    return "\n".join(lines)


def _clock(t: float) -> str:
    """Epoch seconds as the UTC time of day, to the millisecond."""
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"
