"""--ramp: the same load at rising rates, in bounded steps, until fewer than 99% of the
calls verify; the last rate that held is the knee."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from harness.load.figures import VERIFIED_TO_HOLD, Summary, summary
from harness.load.plan import MAX_CALLS, LoadPlan, PlanError
from harness.load.records import LoadResult

MAX_STEPS = 10
MAX_STEP_S = 120.0  # seconds of calls per step


@dataclass(frozen=True)
class RampStep:
    rate: float
    result: LoadResult
    figures: Summary

    @property
    def held(self) -> bool:
        return self.figures.attempted > 0 and self.figures.verified_share >= VERIFIED_TO_HOLD


@dataclass(frozen=True)
class Ramp:
    steps: list[RampStep]

    @property
    def knee(self) -> RampStep | None:
        """The last step that held before the first that did not (None: none held)."""
        last = None
        for step in self.steps:
            if not step.held:
                break
            last = step
        return last

    def text(self) -> str:
        lines = ["ramp:"]
        for s in self.steps:
            f = s.figures
            lines.append(f"  {s.rate:6.2f} calls/s asked: {f.achieved_cps:6.2f} achieved, "
                         f"{f.verified}/{f.attempted} verified ({100 * f.verified_share:.1f}%), "
                         f"{f.verified_cps:.2f} verified calls/s; run {f.run_s:.1f} s, "
                         f"verification {f.verify_s:.1f} s" + ("" if s.held else "  <- broke"))
        knee = self.knee
        lines.append(f"knee: {knee.rate:g} calls/s asked held "
                     f"({knee.figures.verified_cps:.2f} verified calls/s)" if knee else
                     "knee: not even the first rate held")
        return "\n".join(lines)


def rates(start: float, step: float, steps: int) -> list[float]:
    if not 1 <= steps <= MAX_STEPS:
        raise PlanError(f"--ramp-steps {steps}: 1-{MAX_STEPS}")
    if step <= 0:
        raise PlanError(f"--ramp-by {step:g}: a rate increment above 0")
    return [round(start + k * step, 3) for k in range(steps)]


def ramp(base: LoadPlan, step_rate: float, steps: int, step_s: float,
         run: Callable[[LoadPlan], LoadResult]) -> Ramp:
    """Runs ``base`` at each rate for ``step_s`` seconds' worth of calls (the concurrency
    sized for each rate); stops at the first rate where fewer than 99% verify."""
    done: list[RampStep] = []
    for rate in rates(base.rate, step_rate, steps):
        calls = min(MAX_CALLS, max(10, math.ceil(rate * step_s)))
        plan = LoadPlan.make(rate=rate, calls=calls, duration_s=None, concurrency=None,
                             talk_s=base.talk_s, hold=base.hold, faults=base.faults,
                             label=f"{base.label}-r{rate:g}")
        result = run(plan)
        step = RampStep(rate, result, summary(result))
        done.append(step)
        if not step.held:
            break
    return Ramp(done)
