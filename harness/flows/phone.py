"""The softphone's part of a call when the softphone is baresip, a real phone: driven over
its control interface, it does what X-Lite's user would (dial, answer) and answers Lync's
hold and resume by itself. Its outcome reads like a SIPp run's: `ok` and `describe()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.topology.baresip import PhoneResult

if TYPE_CHECKING:
    from harness.topology.topology import Topology


@dataclass
class PhoneCall:
    steps: list[PhoneResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def add(self, step: PhoneResult) -> bool:
        self.steps.append(step)
        return step.ok

    def describe(self) -> str:
        failed = next((s for s in self.steps if not s.ok), None)
        return (failed or self.steps[-1]).describe() if self.steps else "baresip: nothing done"


def calls(topology: Topology, number: str, timeout_s: float) -> PhoneCall:
    """The phone dials `number`; the call runs until the far end hangs up."""
    phone = topology.phone()
    call = PhoneCall()
    if (call.add(phone.wait_registered(timeout_s=10))
            and call.add(phone.dial(number))
            and call.add(phone.wait_established(timeout_s))):
        call.add(phone.wait_closed(timeout_s))
    return call


def registered(topology: Topology) -> PhoneCall:
    call = PhoneCall()
    call.add(topology.phone().wait_registered(timeout_s=10))
    return call


def answers(topology: Topology, timeout_s: float) -> PhoneCall:
    """The phone answers the next incoming call, which runs until the far end hangs up."""
    phone = topology.phone()
    call = PhoneCall()
    if call.add(phone.answer(timeout_s)):
        call.add(phone.wait_closed(timeout_s))
    return call
