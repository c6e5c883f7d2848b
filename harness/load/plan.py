"""What a load run is asked to do, checked before anything is sent: always bounded.

A run places a count of calls (``--calls``, or ``--duration`` seconds at ``--rate``), never
an open-ended stream; its duration, rate, concurrency and call count have ceilings, and
the SIPp run has a global timeout derived from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_CALLS = 5000
MAX_DURATION_S = 600.0
MAX_RATE = 50.0
# The Mediation Server simulator's RTP ports (compose: 40000-40199), two per call
MAX_CONCURRENCY = 90
MAX_TALK_S = 30.0
# A call whose ACK the Mediation Server ignores lasts up to 64*T1 = 32 s before its BYE
FAULT_TAIL_S = 40.0
FAULTS = ("drop-acks", "stop-answering")


class PlanError(ValueError):
    """A load that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class Fault:
    name: str  # drop-acks or stop-answering
    value: float  # a fraction, or seconds
    at_s: float | None = None  # stop-answering: seconds into the run (default a quarter in)

    @classmethod
    def parse(cls, text: str) -> Fault:
        name, sep, rest = text.partition("=")
        if not sep or name not in FAULTS:
            raise PlanError(f"--fault {text!r}: use drop-acks=FRACTION or "
                            "stop-answering=SECONDS[@START_S]")
        value_text, at_sep, at_text = rest.partition("@")
        try:
            value = float(value_text)
            at = float(at_text) if at_sep else None
        except ValueError:
            raise PlanError(f"--fault {text!r}: {value_text!r} is not a number") from None
        if name == "drop-acks" and not 0 < value <= 1:
            raise PlanError(f"--fault {text!r}: the fraction of ACKs dropped is in (0, 1]")
        if name == "stop-answering" and not 0 < value <= 120:
            raise PlanError(f"--fault {text!r}: stop answering for 0-120 seconds")
        if name == "drop-acks" and at_sep:
            raise PlanError(f"--fault {text!r}: drop-acks holds for the whole run (no @)")
        if at is not None and not 0 <= at <= MAX_DURATION_S:
            raise PlanError(f"--fault {text!r}: @START_S is 0-{MAX_DURATION_S:g} seconds")
        return cls(name, value, at)


@dataclass(frozen=True)
class LoadPlan:
    rate: float
    calls: int
    concurrency: int
    talk_s: float
    hold: bool
    faults: tuple[Fault, ...] = field(default_factory=tuple)
    label: str = "load"
    duration_s: float | None = None

    @classmethod
    def make(cls, *, rate: float, calls: int | None, duration_s: float | None,
             concurrency: int | None, talk_s: float, hold: bool,
             faults: tuple[Fault, ...] = (), label: str = "load") -> LoadPlan:
        if calls is None and duration_s is None:
            raise PlanError("say how much load: --calls N or --duration SECONDS (an unbounded "
                            "run is refused)")
        if calls is not None and duration_s is not None:
            raise PlanError("give --calls or --duration, not both")
        if not 0 < rate <= MAX_RATE:
            raise PlanError(f"--rate {rate:g}: calls per second from above 0 to {MAX_RATE:g}")
        if duration_s is not None:
            if not 0 < duration_s <= MAX_DURATION_S:
                raise PlanError(f"--duration {duration_s:g}: 0-{MAX_DURATION_S:g} seconds")
            calls = max(1, math.ceil(rate * duration_s))
        assert calls is not None
        if not 1 <= calls <= MAX_CALLS:
            raise PlanError(f"--calls {calls}: from 1 to {MAX_CALLS}")
        if calls / rate > MAX_DURATION_S:
            raise PlanError(f"{calls} calls at {rate:g}/s take {calls / rate:.0f} s, over the "
                            f"{MAX_DURATION_S:g} s a run may last: raise --rate or lower --calls")
        if not 0.5 <= talk_s <= MAX_TALK_S:
            raise PlanError(f"--talk {talk_s:g}: 0.5-{MAX_TALK_S:g} seconds")
        names = [f.name for f in faults]
        if len(set(names)) != len(names):
            raise PlanError("each --fault kind once")
        holding = talk_s + (1.6 if hold else 0.0) + 1.0
        wanted = concurrency if concurrency is not None else min(
            MAX_CONCURRENCY, math.ceil(rate * holding * 1.5) + 2)
        if not 1 <= wanted <= MAX_CONCURRENCY:
            raise PlanError(f"--concurrency {wanted}: 1-{MAX_CONCURRENCY} (the Mediation "
                            "Server simulator's RTP ports)")
        return cls(rate, calls, wanted, talk_s, hold, tuple(faults), label, duration_s)

    @property
    def placing_s(self) -> float:
        return self.calls / self.rate

    @property
    def call_s(self) -> float:
        """How long one call lasts when all goes well (set-up, talk, hold)."""
        return 0.5 + self.talk_s + (1.6 if self.hold else 0.0)

    @property
    def sipp_timeout_s(self) -> int:
        """SIPp's global timeout: placing, the last call, and a faulty call's tail."""
        return math.ceil(self.placing_s + self.call_s + FAULT_TAIL_S + 10)

    def behaviour(self) -> dict[str, float | str | None]:
        """The Mediation Server's timeline for every call: the seed's progress (183, 180),
        the answer, a hold and resume when asked, then Lync's BYE (seed step 10)."""
        talk_ms = self.talk_s * 1000
        base: dict[str, float | str | None] = {
            "progress_delay_ms": 20, "ring_delay_ms": 40, "answer_delay_ms": 200,
            "hangup_by": "mediation"}
        if self.hold:
            return {**base, "hold_after_ms": talk_ms / 2, "hold_duration_ms": 800,
                    "hangup_after_ms": talk_ms / 2}
        return {**base, "hold_after_ms": None, "hangup_after_ms": talk_ms}

    def fault(self, name: str) -> Fault | None:
        return next((f for f in self.faults if f.name == name), None)

    def stop_answering_at(self) -> float | None:
        f = self.fault("stop-answering")
        if f is None:
            return None
        return f.at_s if f.at_s is not None else self.placing_s / 4
