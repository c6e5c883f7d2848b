"""A load run's result: one record per call, and what the run was asked and took. JSON in
and out (the file ``harness load`` writes and ``harness load merge`` reads); every figure of
the summary is computed from the call records (``figures.py``), never stored on its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "sipharness-load/1"


class ResultError(ValueError):
    """A result file that cannot be read; the message names the file and the problem."""


@dataclass
class Direction:
    """One RTP direction of one leg, as captured at the gateway."""

    leg: str
    sender: str
    receiver: str
    packets: int
    expected: int
    lost: int
    jitter_mean_ms: float
    jitter_max_ms: float

    @property
    def loss_fraction(self) -> float:
        return max(self.lost, 0) / self.expected if self.expected > 0 else 0.0


@dataclass
class Failure:
    step: str
    leg: str
    subject: str
    expected: str
    actual: str
    frame: int | None = None


@dataclass
class CallRecord:
    """One call placed by the load generator, verified from the capture."""

    index: int  # order of its first INVITE in the run
    start: float  # epoch seconds of its first INVITE (either leg)
    phone_call_id: str | None
    lync_call_id: str | None
    joined_by: str  # how the legs were correlated: ssrc, time, or one-leg
    verified: bool
    failure: Failure | None = None  # the first failing check (earliest step)
    failures: int = 0
    checks: int = 0
    pdd_ms: float | None = None  # RFC 6076 4.1 (SRD): INVITE -> first 18x, softphone leg
    answer_ms: float | None = None  # INVITE -> 200 OK, softphone leg
    duration_s: float | None = None  # 200 OK -> BYE, softphone leg
    directions: list[Direction] = field(default_factory=list)
    r: float | None = None
    mos: float | None = None
    pcap: str | None = None  # a failed call's own packets
    generator: str = ""  # the generator that placed it (merge keeps them apart)
    # every failed check counts lost RTP packets (nothing else broke)
    loss_only: bool = False
    # the Mediation Server's own count of RTP packets it received on this call: where the
    # capture misses packets the receiver got, the capture (tcpdump) dropped them
    mediation_rtp_received: int | None = None
    # a failed call with a gap in its RTP while the whole machine paused (every stream up
    # had one: harness.load.machine): epoch seconds and length of the pause
    machine_pause: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        data = dict(data)
        failure = data.pop("failure", None)
        directions = data.pop("directions", [])
        pause = data.pop("machine_pause", None)
        return cls(**data, failure=Failure(**failure) if failure else None,
                   directions=[Direction(**d) for d in directions],
                   machine_pause=(float(pause[0]), float(pause[1])) if pause else None)


@dataclass
class RunInfo:
    """What the run was asked for, and how long it and its verification took."""

    generator: str  # host or name of the load generator
    started: float  # epoch seconds
    run_s: float  # from the first call placed to the last call ended
    verify_s: float  # reading the capture, correlating and checking every call
    rate: float
    concurrency: int
    calls: int | None
    duration_s: float | None
    hold: bool
    faults: dict[str, float] = field(default_factory=dict)
    pcap: str | None = None
    sipp: dict[str, Any] = field(default_factory=dict)  # SIPp's exit code and counters
    notes: list[str] = field(default_factory=list)
    capture_dropped: int = 0  # packets tcpdump said it dropped


@dataclass
class LoadResult:
    runs: list[RunInfo]
    calls: list[CallRecord]

    def to_json(self, summary: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result file's content; ``summary``: the figures (``figures.summary``), kept
        in the file for a person to read (merge recomputes them from the calls)."""
        return {"format": FORMAT, "summary": summary or {},
                "runs": [asdict(r) for r in self.runs],
                "calls": [c.to_json() for c in self.calls]}

    @classmethod
    def read(cls, path: Path) -> LoadResult:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ResultError(f"{path}: cannot read it ({exc.strerror})") from None
        except ValueError as exc:
            raise ResultError(f"{path}: not JSON ({exc}): give a file `harness load --json` "
                              "wrote") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ResultError(f"{path}: not a load result (no \"format\": \"{FORMAT}\"): give a "
                              "file `harness load --json` wrote")
        try:
            runs = [RunInfo(**r) for r in data["runs"]]
            calls = [CallRecord.from_json(c) for c in data["calls"]]
        except (KeyError, TypeError) as exc:
            raise ResultError(f"{path}: a run or call record is malformed ({exc})") from None
        return cls(runs, calls)
