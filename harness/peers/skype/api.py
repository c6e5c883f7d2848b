"""The Skype for SIP simulator's control API: the Mediation simulator's API
(:class:`~harness.peers.common.api.MediationApi`, imported) with Skype's behaviour and the
registrations.

GET    /health                        {"ok": true}
GET    /behaviour                     the current behaviour
PUT    /behaviour                     body: partial behaviour, merged into the defaults
                                      (the defaults include --channels)
DELETE /behaviour                     back to the defaults
GET    /registrations[?all=1][?wait=N&timeout=10]
                                      the successful registrations (a 200 that bound or
                                      refreshed a contact), oldest first: t, contact,
                                      expires_requested, expires_granted, expires_at,
                                      refresh, refreshed_before_expiry...; all=1: every
                                      REGISTER answered (401, 403, 404, 423, removals
                                      too); wait=N: long-poll until N successful ones
                                      (408 + the list on timeout)
GET    /registrations/bindings        the contacts bound now, with expires_in
DELETE /registrations                 forget bindings and registrations
POST   /calls                         a call from Skype to the gateway: {"to"?, "from"?,
                                      "anonymous"?, "use_registration"?, "via"? ("sip",
                                      or "sfa": from the Skype for Asterisk side, port
                                      5070), behaviour overrides...} -> {"id", "call_id"};
                                      409 when every channel is busy
GET    /calls                         every call record
GET    /calls/<id>|last[?wait=ended|<state>&timeout=10]
                                      one record; with wait, long-poll (408 + record
                                      on timeout)
DELETE /calls                         forget every record
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.peers.common.api import MediationApi, Simulator, allow, timeout_query
from harness.peers.common.control import HttpError, HttpRequest, HttpResponse
from harness.peers.skype.rules import SkypeBehaviour


class SkypeSimulator(Simulator[SkypeBehaviour], Protocol):
    def registrations_json(self, everything: bool = False) -> list[dict[str, Any]]: ...

    def bindings_json(self) -> list[dict[str, Any]]: ...

    def clear_registrations(self) -> int: ...

    async def wait_registrations(self, count: int, timeout: float) -> bool: ...


class SkypeApi(MediationApi[SkypeBehaviour]):
    def __init__(self, sim: SkypeSimulator) -> None:
        super().__init__(sim)  # same calls and behaviour API, with Skype's behaviour
        self._skype = sim

    async def route(self, parts: list[str], request: HttpRequest) -> HttpResponse:
        if parts == ["registrations"]:
            return await self._registrations(request)
        if parts == ["registrations", "bindings"]:
            allow(request.method, "GET")
            return HttpResponse(200, self._skype.bindings_json())
        return await super().route(parts, request)

    async def _registrations(self, request: HttpRequest) -> HttpResponse:
        allow(request.method, "GET", "DELETE")
        sim = self._skype
        if request.method == "DELETE":
            return HttpResponse(200, {"deleted": sim.clear_registrations()})
        everything = request.query.get("all", "0") not in ("", "0", "false", "no")
        wait = request.query.get("wait")
        if wait is None:
            return HttpResponse(200, sim.registrations_json(everything))
        if not wait.isdigit():
            raise HttpError(400, "wait: must be the number of successful registrations to wait for")
        timeout = timeout_query(request)
        ok = await sim.wait_registrations(int(wait), timeout)
        return HttpResponse(200 if ok else 408, sim.registrations_json(everything))
