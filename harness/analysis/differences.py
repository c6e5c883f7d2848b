"""A gateway's documented differences from the seed: which failed checks one explains.

A call-flow test marked with a difference for the gateway under test is an expected
failure only while its failures are exactly the documented ones: a failure the difference
does not name fails the test, and a test that passes fails too (the documentation is out of
date: strict)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.analysis.verdict import CheckResult, Verdict

__all__ = ["Difference", "unexplained"]


@dataclass(frozen=True)
class Difference:
    gateway: str
    reason: str
    # "8" explains every failure at step 8; "headers:Via rport" only the failures of that
    # step whose subject starts with the text after the colon
    explains: tuple[str, ...]

    def covers(self, result: CheckResult) -> bool:
        for entry in self.explains:
            step, sep, subject = entry.partition(":")
            if result.step == step and (not sep or result.subject.startswith(subject)):
                return True
        return False


def unexplained(difference: Difference, verdicts: Iterable[Verdict]) -> list[CheckResult]:
    """The failures of `verdicts` the difference does not explain."""
    return [r for v in verdicts for r in v.failures if not difference.covers(r)]
