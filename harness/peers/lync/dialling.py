"""Lync Server's dialling, as the seed configures it for Bob's users: what a user dials is
normalised to E.164 by the dial plan's rule, and the route sends what the rule produced to
the Asterisk trunk ("Testing Calls from Lync Server to Skype for SIP": "he already has a
normalization rule to send all numbers starting with 1 and more than two digits to the
Asterisk server"). Sans-I/O: strings in, the number to INVITE or a refusal out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class NoRoute(ValueError):
    """Lync would not send the dialled number to the Asterisk trunk; ``str()`` says why."""


@dataclass(frozen=True)
class DialPlan:
    # normalization rule: 1 and more than two digits -> +1..., an E.164 number kept as is
    rules: tuple[tuple[str, str], ...] = ((r"^(1\d{2,})$", r"+\1"), (r"^(\+\d+)$", r"\1"))
    # the route to the Asterisk trunk: the numbers the rule gives for "1 and more than two
    # digits"
    route: str = r"^\+1\d{2,}$"

    def normalise(self, dialled: str) -> str | None:
        """The E.164 number of the first rule that matches, else None."""
        for pattern, replacement in self.rules:
            if re.fullmatch(pattern, dialled):
                return re.sub(pattern, replacement, dialled)
        return None

    def to_trunk(self, dialled: str) -> str:
        """The number Lync INVITEs the Asterisk trunk with, or NoRoute."""
        number = self.normalise(dialled.strip())
        if number is None:
            raise NoRoute(f"no normalization rule matches {dialled!r} (the seed's rule: 1 "
                          "and more than two digits)")
        if not re.fullmatch(self.route, number):
            raise NoRoute(f"{dialled!r} normalises to {number}, which the route to the "
                          "Asterisk trunk does not match")
        return number
