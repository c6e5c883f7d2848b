"""Real faults the Mediation Server simulator can be told to make during a load run.

The simulator is the UAS of the gateway's calls toward Lync, so its faults are a UAS's:

- ``drop_acks`` (0..1): that fraction of answered calls ignore the ACK of their 200 OK, as
  if it never arrived. RFC 3261 13.3.1.4: the UAS core then retransmits the 200 OK (T1
  doubling to T2; over TCP too, the rule is end to end) until 64*T1, and ends the call with
  a BYE. The calls are spread evenly (error diffusion: with 0.05, the 20th, 40th, ...
  answered call), so a run of N calls has floor(N * fraction) of them, not a random count.
- ``stop_answering_s``: for that many seconds from now, new INVITEs get no response at all
  (not even 100 Trying): a server that has hung. The gateway's INVITE times out (Timer B)
  or its caller gives up (CANCEL, answered 481: the simulator holds no such transaction).

Control API (the Mediation Server's, beside ``/behaviour``):

GET    /faults     {"drop_acks", "stop_answering_s" (left), "acks_dropped", "calls_deaf",
                    "invites_ignored"}
PUT    /faults     body: {"drop_acks"?: 0..1, "stop_answering_s"?: 0..600}: the faults in
                   force from now (a field left out: that fault off); counters kept
DELETE /faults     no fault; counters reset
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from harness.peers.common.api import B, MediationApi, Simulator, allow, json_object
from harness.peers.common.control import HttpError, HttpRequest, HttpResponse

MAX_STOP_S = 600.0


@dataclass
class Faults:
    """The faults in force and what they did; times from ``time.monotonic()``."""

    drop_acks: float = 0.0
    stop_until: float = 0.0
    acks_dropped: int = 0
    calls_deaf: int = 0
    invites_ignored: int = 0
    _carry: float = 0.0  # error diffusion of drop_acks over the answered calls

    def set(self, body: dict[str, Any], now: float) -> None:
        """Applies ``body``; HttpError 400 naming a bad field (nothing changes then)."""
        unknown = sorted(set(body) - {"drop_acks", "stop_answering_s"})
        if unknown:
            raise HttpError(400, f"{unknown[0]}: unknown fault (known: drop_acks, "
                                 "stop_answering_s)")
        drop = body.get("drop_acks", 0.0)
        stop = body.get("stop_answering_s", 0.0)
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 <= drop <= 1:
            raise HttpError(400, f"drop_acks: must be a fraction from 0 to 1, got {drop!r}")
        if (isinstance(stop, bool) or not isinstance(stop, (int, float))
                or not math.isfinite(stop) or not 0 <= stop <= MAX_STOP_S):
            raise HttpError(400, f"stop_answering_s: must be seconds from 0 to {MAX_STOP_S:g}, "
                                 f"got {stop!r}")
        self.drop_acks = float(drop)
        self.stop_until = now + float(stop) if stop else 0.0

    def clear(self) -> None:
        self.drop_acks, self.stop_until = 0.0, 0.0
        self.acks_dropped = self.calls_deaf = self.invites_ignored = 0
        self._carry = 0.0

    def ignores_invite(self, now: float) -> bool:
        """True (and counted) while the simulator is told not to answer."""
        if now < self.stop_until:
            self.invites_ignored += 1
            return True
        return False

    def deaf_call(self) -> bool:
        """For a call whose 200 OK is being ACKed the first time: True when this call is one
        of the fraction that ignores its ACKs."""
        if self.drop_acks <= 0:
            return False
        self._carry += self.drop_acks
        if self._carry >= 1.0 - 1e-9:
            self._carry -= 1.0
            self.calls_deaf += 1
            return True
        return False

    def to_json(self, now: float) -> dict[str, Any]:
        return {"drop_acks": self.drop_acks,
                "stop_answering_s": round(max(0.0, self.stop_until - now), 3),
                "acks_dropped": self.acks_dropped, "calls_deaf": self.calls_deaf,
                "invites_ignored": self.invites_ignored}


class LyncApi(MediationApi[B]):
    """The shared control API plus ``/faults``."""

    def __init__(self, sim: Simulator[B], faults: Faults) -> None:
        super().__init__(sim)
        self._faults = faults

    async def route(self, parts: list[str], request: HttpRequest) -> HttpResponse:
        if parts != ["faults"]:
            return await super().route(parts, request)
        allow(request.method, "GET", "PUT", "DELETE")
        now = time.monotonic()
        if request.method == "PUT":
            self._faults.set(json_object(request), now)
        elif request.method == "DELETE":
            self._faults.clear()
        return HttpResponse(200, self._faults.to_json(now))
