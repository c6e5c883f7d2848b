"""What every flow shares: the test's capture, one run of a call, the simulators' control
clients, the last call a simulator saw, and the verdict of a run from its pcap."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.analysis.verdict import Verdict
from harness.capture import Capture, CaptureError, open_capture
from harness.peers.client import (
    Behaviour,
    CallRecord,
    ControlApiError,
    JsonValue,
    SimulatorClient,
    SkypeClient,
)
from harness.roles import Roles
from harness.topology.capture import CaptureResult
from harness.topology.sipp import SippResult

if TYPE_CHECKING:
    from harness.topology.topology import Topology


class Recorder(Protocol):
    """What writes the test's pcap (the topology's capture agent)."""

    def stop(self, relative: str) -> CaptureResult: ...


@dataclass
class CallPcap:
    """The test's capture: `stop()` before analysing; the fixture stops it otherwise."""

    recorder: Recorder
    relative: str  # the pcap's path under the reports folder, as the capture agent names it
    path: Path
    started: float = field(default_factory=time.time)  # wall clock, to cut logs to the call
    stopped: float | None = None
    result: CaptureResult | None = None

    @property
    def label(self) -> str:
        """The name the run's other files (SIPp logs, artifacts) take after the pcap."""
        return self.path.stem

    def stop(self) -> CaptureResult:
        if self.result is None:
            self.result = self.recorder.stop(self.relative)
            self.stopped = time.time()
        return self.result


@dataclass
class CallRun:
    """One scripted call: its flow's name, pcap, SIPp run (if any), the call record of the
    simulator that placed or answered it, the hosts' roles, the behaviour asked for, and
    what went wrong while driving it."""

    flow: str
    pcap: CallPcap
    sipp: SippResult | None
    mediation_call: CallRecord | None
    roles: Roles
    behaviour: Behaviour
    problems: list[str] = field(default_factory=list)
    # where the gateway routes the softphone's extension, when the pcap holds no REGISTER
    registered_contact: str | None = None


@dataclass(frozen=True)
class Simulators:
    """The simulators' control APIs on a topology, and the roles of its hosts."""

    mediation: SimulatorClient
    skype: SkypeClient
    roles: Roles

    @classmethod
    def of(cls, topology: Topology) -> Simulators:
        return cls(SimulatorClient(topology.mediation.name, topology.mediation.base_url),
                   SkypeClient(topology.skype.name, topology.skype.base_url),
                   topology.config.roles())


def prepare(peer: SimulatorClient, **behaviour: JsonValue) -> Behaviour:
    """The simulator's defaults with ``behaviour``, and no call records from earlier tests."""
    wanted = peer.behaviour(**behaviour)
    peer.clear_calls()
    return wanted


def last_call(
    peer: SimulatorClient, problems: list[str], timeout_s: float = 10
) -> CallRecord | None:
    """The simulator's latest call once it has ended; what went wrong goes to `problems`."""
    try:
        wait = peer.wait_for_call("last", "ended", timeout_s)
    except ControlApiError as exc:
        if exc.status == 404:
            problems.append(f"no call reached the {peer.name}")
            return None
        raise
    if not wait.reached:
        problems.append(f"the {peer.name}'s call did not end within {timeout_s:g} s")
    return wait.value


def verdict_of(run: CallRun, check: Callable[[Capture], Verdict]) -> Verdict:
    """Opens the run's pcap and applies `check(capture)`; an unreadable pcap, the
    capture's warnings and drops, and the run's own problems go into the verdict."""
    path = run.pcap.path
    try:
        capture = open_capture(path)
    except CaptureError as exc:
        verdict = Verdict(run.flow, path)
        verdict.check("capture", "-", "pcap", False, "a readable capture of the call", str(exc))
        return verdict
    verdict = check(capture)
    for warning in capture.warnings:
        verdict.note(f"capture: {warning}")
    dropped = run.pcap.result.dropped if run.pcap.result is not None else None
    if dropped:
        verdict.note(f"tcpdump dropped {dropped} packets: a missing packet may be the capture's")
    for problem in run.problems:
        verdict.check(
            "call", "-", "call completed", False, "the scripted call runs to its end", problem
        )
    return verdict
