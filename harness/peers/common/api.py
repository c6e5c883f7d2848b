"""The Mediation Server simulator's control API (JSON over HTTP/1.1).

GET    /health                        {"ok": true}
GET    /behaviour                     the current behaviour
PUT    /behaviour                     body: partial behaviour, merged into the defaults
DELETE /behaviour                     back to the defaults
POST   /calls                         {"to", "from"?, "auth_user"?, "auth_password"?,
                                       "as_dialled"? (the Mediation Server: `to` is what
                                       the Lync user dials, normalised and routed as the
                                       seed's dial plan does), behaviour overrides...}
                                       -> {"id": "..."}
GET    /options[?count=N&timeout=10]   the OPTIONS received outside a dialog (a gateway's
                                       qualify), once N have come; DELETE forgets them
GET    /calls                         every call record
GET    /calls/<id>|last[?wait=ended|<state>&timeout=10]
                                      one record; with wait, long-poll (408 + record
                                      on timeout)
DELETE /calls                         forget every record
"""

from __future__ import annotations

import math
from typing import Any, Generic, Protocol, Self, TypeVar

from harness.peers.common.behaviour import BehaviourError
from harness.peers.common.control import HttpError, HttpRequest, HttpResponse
from harness.peers.common.records import FINAL_STATES, STATES, CallRecord, CallStore

MAX_WAIT_S = 600.0


class BehaviourLike(Protocol):
    """An immutable behaviour: :class:`~harness.peers.common.behaviour.Behaviour` and the like."""

    def to_json(self) -> dict[str, Any]: ...

    def merged(self, partial: Any) -> Self: ...


B = TypeVar("B", bound=BehaviourLike)


class Simulator(Protocol[B]):
    """What the API drives. ``base_behaviour`` is what ``PUT /behaviour`` merges into and
    ``DELETE /behaviour`` goes back to."""

    behaviour: B
    base_behaviour: B
    options_seen: list[dict[str, Any]]

    @property
    def store(self) -> CallStore: ...

    def sync_records(self) -> None: ...

    def place_call(self, body: dict[str, Any]) -> CallRecord: ...


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body, which must be a JSON object (HttpError 400 otherwise)."""
    body = request.json()
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


def field_error(exc: BehaviourError) -> HttpError:
    """The 400 for a bad field: ``{"error", "field"}``."""
    return HttpError(400, str(exc), {"error": str(exc), "field": exc.field})


def timeout_query(request: HttpRequest) -> float:
    """The ``timeout`` query parameter of a long-poll: seconds, 10 when absent."""
    try:
        timeout = float(request.query.get("timeout", "10"))
    except ValueError:
        raise HttpError(400, "timeout: must be a number of seconds") from None
    if not math.isfinite(timeout) or not 0 <= timeout <= MAX_WAIT_S:
        raise HttpError(400, f"timeout: must be between 0 and {MAX_WAIT_S:g} seconds")
    return timeout


def allow(method: str, *allowed: str) -> None:
    """HttpError 405 unless ``method`` is one of ``allowed``."""
    if method not in allowed:
        raise HttpError(405, f"method {method} not allowed here (allowed: {', '.join(allowed)})")


class MediationApi(Generic[B]):
    """Routes a request to the resources above; a subclass adds its own in :meth:`route`."""

    def __init__(self, sim: Simulator[B]) -> None:
        self._sim = sim

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        parts = [p for p in request.path.split("/") if p]
        return await self.route(parts, request)

    async def route(self, parts: list[str], request: HttpRequest) -> HttpResponse:
        """The response to ``request``, whose path is ``parts`` (its non-empty segments)."""
        method = request.method
        if parts == ["health"]:
            allow(method, "GET")
            return HttpResponse(200, {"ok": True})
        if parts == ["behaviour"]:
            return self._behaviour(method, request)
        if parts == ["calls"]:
            return self._calls(method, request)
        if len(parts) == 2 and parts[0] == "calls":
            allow(method, "GET")
            return await self._one_call(parts[1], request)
        if parts == ["options"]:
            return await self._options(method, request)
        raise HttpError(404, f"no such resource: {method} {request.path}")

    async def _options(self, method: str, request: HttpRequest) -> HttpResponse:
        """The OPTIONS received outside a dialog; GET ?count=N waits (long poll) until N
        have come, 408 with what came after the timeout; DELETE forgets them."""
        allow(method, "GET", "DELETE")
        sim = self._sim
        if method == "DELETE":
            count = len(sim.options_seen)
            sim.options_seen.clear()
            return HttpResponse(200, {"deleted": count})
        try:
            wanted = int(request.query.get("count", "0"))
        except ValueError:
            raise HttpError(400, "count: must be a whole number") from None
        ok = await sim.store.wait_for(lambda: len(sim.options_seen) >= wanted,
                                      timeout_query(request))
        return HttpResponse(200 if ok else 408, list(sim.options_seen))

    def _behaviour(self, method: str, request: HttpRequest) -> HttpResponse:
        allow(method, "GET", "PUT", "DELETE")
        sim = self._sim
        if method == "PUT":
            try:
                sim.behaviour = sim.base_behaviour.merged(json_object(request))
            except BehaviourError as exc:
                raise field_error(exc) from None
        elif method == "DELETE":
            sim.behaviour = sim.base_behaviour
        return HttpResponse(200, sim.behaviour.to_json())

    def _calls(self, method: str, request: HttpRequest) -> HttpResponse:
        allow(method, "GET", "POST", "DELETE")
        store = self._sim.store
        if method == "POST":
            try:
                record = self._sim.place_call(json_object(request))
            except BehaviourError as exc:
                raise field_error(exc) from None
            return HttpResponse(200, {"id": record.id, "call_id": record.call_id})
        if method == "DELETE":
            count = len(store.all())
            store.clear()
            return HttpResponse(200, {"deleted": count})
        self._sim.sync_records()
        return HttpResponse(200, [r.to_json() for r in store.all()])

    async def _one_call(self, which: str, request: HttpRequest) -> HttpResponse:
        store = self._sim.store
        wait = request.query.get("wait")
        if wait is not None and wait != "ended" and wait not in STATES:
            raise HttpError(400, f"wait: must be 'ended' or a state ({', '.join(STATES)})")
        timeout = timeout_query(request)

        pinned: CallRecord | None = store.last() if which == "last" else store.get(which)
        if pinned is None and (which != "last" or wait is None):
            raise HttpError(404, f"no call {which!r}")
        if wait is None:
            assert pinned is not None
            self._sim.sync_records()
            return HttpResponse(200, pinned.to_json())

        def reached() -> bool:
            nonlocal pinned
            if pinned is None:
                pinned = store.last()  # "last" with no call yet: wait for the first one
                if pinned is None:
                    return False
            if pinned.state in FINAL_STATES:
                return True
            return wait != "ended" and pinned.state == wait

        ok = await store.wait_for(reached, timeout)
        self._sim.sync_records()
        if pinned is None:
            raise HttpError(408, "no call arrived before the timeout")
        return HttpResponse(200 if ok else 408, pinned.to_json())
