"""A typed client of the simulators' control API (JSON over HTTP/1.1), for the host side.

The Mediation Server simulator and the Skype for SIP simulator serve the same resources
(``/health``, ``/behaviour``, ``/calls``); Skype adds ``/registrations``. The routes and
shapes are those of ``harness.peers.common.api`` and ``harness.peers.skype.api``; this
module imports neither (they are server code) and uses the standard library only.

A long-poll that times out answers 408 with what it has: :meth:`SimulatorClient.wait_for_call`
and :meth:`SkypeClient.registrations` return that as a result that says it timed out, so a
caller can report what it saw. Every other error status raises :class:`ControlApiError`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Generic, Literal, NotRequired, TypeAlias, TypedDict, TypeVar, cast

JsonValue: TypeAlias = "str | int | float | bool | None | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = dict[str, JsonValue]
Behaviour: TypeAlias = dict[str, JsonValue]  # a simulator's behaviour, or a part of it

CallState = Literal["trying", "early", "confirmed", "held", "ended", "rejected", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"ended", "rejected", "failed"})
T = TypeVar("T")


class ControlApiError(RuntimeError):
    """The control API answered an error status (``status``, with the JSON ``body``), or
    did not answer (``status`` None)."""

    def __init__(self, message: str, status: int | None = None, body: JsonValue = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


class CallEvent(TypedDict):
    t: float
    event: str
    detail: str


class CallRecord(TypedDict):
    """One call as ``GET /calls/<id>`` shows it; the Skype simulator's records add the
    fields marked not required."""

    id: str
    call_id: str
    direction: str
    state: CallState
    remote_sdp_direction: str | None
    rtp_sent: int
    rtp_received: int
    rtp_bytes_sent: int
    rtp_bytes_received: int
    dtmf_sent: str
    dtmf_received: str
    status_code: int | None
    error: str | None
    events: list[CallEvent]
    service: NotRequired[str]
    from_uri: NotRequired[str | None]
    to_uri: NotRequired[str | None]
    request_uri: NotRequired[str | None]
    destination: NotRequired[str | None]
    caller_id: NotRequired[str | None]
    caller_id_header: NotRequired[str | None]
    anonymous: NotRequired[bool | None]
    challenges: NotRequired[int]
    codec: NotRequired[str | None]
    payload_type: NotRequired[int | None]
    telephone_event_pt: NotRequired[int | None]
    rtp_echoed: NotRequired[int]
    rtp_bytes_echoed: NotRequired[int]
    reason: NotRequired[str | None]


class Registration(TypedDict, total=False):
    """One REGISTER the Skype simulator answered (``GET /registrations``): what the host
    side reads of it (the simulator's record carries more, e.g. ``aor``, ``source``)."""

    t: float  # when it was answered
    status: int
    reason: str
    contact: str | None
    expires_requested: int | None
    expires_granted: int | None
    refresh: bool  # the contact was already bound
    refreshed_before_expiry: bool | None


class Binding(TypedDict):
    """A contact bound now (``GET /registrations/bindings``)."""

    aor: str
    contact: str
    expires_in: float
    expires_at: float
    registered_at: float
    source: str
    call_id: str
    cseq: int


@dataclass(frozen=True)
class PlacedCall:
    id: str
    call_id: str


@dataclass(frozen=True)
class Waited(Generic[T]):
    """The end of a long-poll: ``reached`` (what was waited for came), else timed out, with
    ``value`` as it was then."""

    reached: bool
    value: T


@dataclass(frozen=True)
class SimulatorClient:
    """The control API of the Mediation Server simulator (and what Skype's shares)."""

    name: str
    base_url: str
    timeout: float = 15.0  # seconds for an answer
    long_poll_margin_s: float = 5.0  # a long-poll's answer may take this much longer

    # ------------------------------------------------------------------ transport

    def _call(
        self,
        method: str,
        path: str,
        body: JsonValue = None,
        *,
        timeout: float | None = None,
        accept: tuple[int, ...] = (),
    ) -> tuple[int, JsonValue]:
        """The status and the JSON body of one request; an error status that is not in
        ``accept`` raises."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)
        status, raw = _exchange(request, timeout or self.timeout, self.name, self.base_url)
        payload = _decode(raw)
        if status >= 400 and status not in accept:
            message = payload.get("error", payload) if isinstance(payload, dict) else payload
            raise ControlApiError(
                f"{self.name} {method} {path}: HTTP {status}: {message}", status, payload
            )
        return status, payload

    # ------------------------------------------------------------------ resources

    def health(self) -> bool:
        _, body = self._call("GET", "/health")
        return isinstance(body, dict) and body.get("ok") is True

    def current_behaviour(self) -> Behaviour:
        return _object(self._call("GET", "/behaviour")[1])

    def reset_behaviour(self) -> Behaviour:
        """Back to the simulator's defaults."""
        return _object(self._call("DELETE", "/behaviour")[1])

    def merge_behaviour(self, **changes: JsonValue) -> Behaviour:
        """``changes`` merged into the defaults (not into the current behaviour)."""
        return _object(self._call("PUT", "/behaviour", changes)[1])

    def behaviour(self, **changes: JsonValue) -> Behaviour:
        """The defaults, then ``changes``: what a test asks of the simulator."""
        current = self.reset_behaviour()
        return self.merge_behaviour(**changes) if changes else current

    def place_call(self, to: str, **fields: JsonValue) -> PlacedCall:
        """A call from the simulator to ``to``; ``fields``: ``from``, credentials and
        behaviour overrides for this call."""
        placed = _object(self._call("POST", "/calls", {"to": to, **fields})[1])
        return PlacedCall(str(placed["id"]), str(placed.get("call_id") or ""))

    def options(self, count: int = 1, timeout_s: float = 10.0) -> Waited[list[dict[str, Any]]]:
        """Long-polls until the simulator has received `count` OPTIONS outside a dialog
        (a gateway's qualify); the value: those it has (time, call_id, cseq)."""
        query = urllib.parse.urlencode({"count": count, "timeout": f"{timeout_s:g}"})
        status, body = self._call("GET", f"/options?{query}",
                                  timeout=timeout_s + self.long_poll_margin_s, accept=(408,))
        seen = [dict(x) for x in body if isinstance(x, dict)] if isinstance(body, list) else []
        return Waited(status == 200, seen)

    def clear_options(self) -> int:
        return _count(self._call("DELETE", "/options")[1])

    def calls(self) -> list[CallRecord]:
        return [_record(r) for r in _list(self._call("GET", "/calls")[1])]

    def faults(self, **faults: JsonValue) -> JsonObject:
        """The Mediation Server's faults (``drop_acks``: a fraction of calls that ignore
        their ACK; ``stop_answering_s``: no answer to new INVITEs for that long), replacing
        those in force; the answer counts what they did. A simulator image older than the
        faults answers 404 (ControlApiError)."""
        return _object(self._call("PUT", "/faults", faults)[1])

    def current_faults(self) -> JsonObject:
        """The faults in force and their counters (``acks_dropped``, ``calls_deaf``,
        ``invites_ignored``)."""
        return _object(self._call("GET", "/faults")[1])

    def clear_faults(self) -> JsonObject:
        return _object(self._call("DELETE", "/faults")[1])

    def call(self, which: str = "last") -> CallRecord:
        return _record(self._call("GET", f"/calls/{_quote(which)}")[1])

    def clear_calls(self) -> int:
        return _count(self._call("DELETE", "/calls")[1])

    def wait_for_call(
        self, which: str = "last", until: str = "ended", timeout_s: float = 10.0
    ) -> Waited[CallRecord | None]:
        """Long-polls call ``which`` (``last``: the latest, or the first to come) until it
        reaches state ``until`` (``ended``: any final state). The value: the record (None
        when no call came at all)."""
        query = urllib.parse.urlencode({"wait": until, "timeout": f"{timeout_s:g}"})
        wait_s = timeout_s + self.long_poll_margin_s
        status, body = self._call(
            "GET", f"/calls/{_quote(which)}?{query}", timeout=wait_s, accept=(408,)
        )
        is_record = isinstance(body, dict) and "id" in body
        return Waited(status == 200, _record(body) if is_record else None)


@dataclass(frozen=True)
class SkypeClient(SimulatorClient):
    """The Skype for SIP simulator's control API: the calls, and the registrations."""

    def registrations(
        self, *, everything: bool = False, wait: int | None = None, timeout_s: float = 10.0
    ) -> Waited[list[Registration]]:
        """The successful registrations (``everything``: every REGISTER answered); with
        ``wait``, long-polls until there are that many successful ones."""
        query = {"all": "1"} if everything else {}
        if wait is not None:
            query |= {"wait": str(wait), "timeout": f"{timeout_s:g}"}
        path = "/registrations" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        wait_s = timeout_s + self.long_poll_margin_s if wait is not None else None
        status, body = self._call("GET", path, accept=(408,), timeout=wait_s)
        return Waited(status == 200, [cast(Registration, _object(r)) for r in _list(body)])

    def bindings(self) -> list[Binding]:
        return [
            cast(Binding, _object(b))
            for b in _list(self._call("GET", "/registrations/bindings")[1])
        ]

    def clear_registrations(self) -> int:
        return _count(self._call("DELETE", "/registrations")[1])


def _exchange(
    request: urllib.request.Request, timeout: float, name: str, base_url: str
) -> tuple[int, bytes]:
    """The status and raw body of the answer, an error status too; ControlApiError when
    nothing answers."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ControlApiError(
            f"{name} does not answer at {base_url} ({exc}): is the topology "
            "up? (`harness topology status`)"
        ) from None


def _decode(raw: bytes) -> JsonValue:
    if not raw:
        return None
    try:
        return cast(JsonValue, json.loads(raw))
    except ValueError:
        return raw.decode(errors="replace")


def _object(value: JsonValue) -> JsonObject:
    if not isinstance(value, dict):
        raise ControlApiError(f"expected a JSON object from the control API, got {value!r}")
    return value


def _list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ControlApiError(f"expected a JSON list from the control API, got {value!r}")
    return value


def _record(value: JsonValue) -> CallRecord:
    record = _object(value)
    if "id" not in record or "state" not in record:
        raise ControlApiError(f"not a call record: {value!r}")
    return cast(CallRecord, record)


def _count(value: JsonValue) -> int:
    deleted = _object(value).get("deleted")
    return deleted if isinstance(deleted, int) else 0


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
