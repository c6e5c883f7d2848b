"""Check results and the verdict of one call flow.

Every check names the flow, the seed's step, the leg, the subject (a header, an SDP line,
an RTP figure), what was expected and what was seen, and the frame in the pcap, so that a
failure explains itself without a re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CheckResult:
    step: str
    leg: str
    subject: str
    expected: str
    actual: str
    ok: bool
    frame: int | None = None

    def line(self) -> str:
        where = f" (frame {self.frame})" if self.frame is not None else ""
        mark = "ok  " if self.ok else "FAIL"
        return (f"{mark} step {self.step} [{self.leg}] {self.subject}: expected {self.expected}"
                f"; actual {self.actual}{where}")


def step_order(step: str) -> tuple[int, str]:
    """'1' < '3-4' < '12' < 'headers' < 'SDP' < 'call': the seed's steps in call order."""
    head = step.split("-", 1)[0]
    return (int(head), step) if head.isdigit() else (100, step)


class CallflowFailure(AssertionError):
    """A call flow broke a rule; the message is the verdict's report."""


@dataclass
class Verdict:
    flow: str
    pcap: Path | None
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    family: str = ""  # flows of one family share their steps (summary tables group them)

    def check(self, step: str, leg: str, subject: str, ok: bool, expected: object,
              actual: object, frame: int | None = None) -> bool:
        self.results.append(CheckResult(step, leg, subject, str(expected), str(actual), bool(ok),
                                        frame))
        return bool(ok)

    def equal(self, step: str, leg: str, subject: str, expected: object, actual: object,
              frame: int | None = None) -> bool:
        return self.check(step, leg, subject, expected == actual, expected, actual, frame)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def failures(self) -> list[CheckResult]:
        """Failed checks, earliest step of the call flow first."""
        return sorted((r for r in self.results if not r.ok), key=lambda r: step_order(r.step))

    @property
    def ok(self) -> bool:
        return not self.failures

    def steps(self) -> dict[str, bool]:
        """Step -> passed, in the order the checks were made."""
        out: dict[str, bool] = {}
        for r in self.results:
            out[r.step] = out.get(r.step, True) and r.ok
        return out

    def report(self, limit: int = 25) -> str:
        failures = self.failures
        head = (f"call flow '{self.flow}': {len(failures)} of {len(self.results)} checks failed"
                if failures else f"call flow '{self.flow}': all {len(self.results)} checks passed")
        lines = [head]
        if failures:
            first = failures[0]
            lines.append(f"first failure at step {first.step} on the {first.leg} leg:")
        lines += ["  " + r.line() for r in failures[:limit]]
        if len(failures) > limit:
            lines.append(f"  ... and {len(failures) - limit} more")
        lines += ["  note: " + n for n in self.notes]
        if self.pcap is not None:
            lines.append(f"  pcap: {self.pcap}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.failures:
            raise CallflowFailure(self.report())
