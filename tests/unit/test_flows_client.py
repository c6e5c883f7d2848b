"""harness.peers.client: the typed control-API client, against the real Mediation Server
simulator's API on loopback and, for Skype's registrations, a small stdlib HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.flows.run import last_call, prepare
from harness.peers.client import ControlApiError, SimulatorClient, SkypeClient
from tests.support.peers import LOCAL, mediation_server


@pytest.fixture
def mediation() -> Iterator[SimulatorClient]:
    """The Mediation Server simulator on a loop of its own; its gateway is port 9 (discard),
    so a call it places fails at once."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = mediation_server([], 9)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    try:
        yield SimulatorClient("Mediation Server simulator",
                              f"http://{LOCAL}:{server.control_port}", timeout=5)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_behaviour_is_the_defaults_with_the_changes(mediation):
    assert mediation.health()
    defaults = mediation.reset_behaviour()
    wanted = mediation.behaviour(answer_delay_ms=5, hangup_by="remote")
    assert wanted == {**defaults, "answer_delay_ms": 5, "hangup_by": "remote"}
    assert mediation.current_behaviour() == wanted
    # merged into the defaults, not into what is current
    merged = mediation.merge_behaviour(ring_delay_ms=7)
    assert merged["answer_delay_ms"] == defaults["answer_delay_ms"]
    assert mediation.behaviour() == defaults


def test_a_bad_field_raises_with_the_apis_answer(mediation):
    with pytest.raises(ControlApiError) as info:
        mediation.behaviour(answer_delay_ms="soon")
    assert info.value.status == 400
    assert isinstance(info.value.body, dict) and info.value.body["field"] == "answer_delay_ms"
    assert "HTTP 400" in str(info.value)


def test_no_call_yet(mediation):
    assert mediation.calls() == [] and mediation.clear_calls() == 0
    with pytest.raises(ControlApiError) as info:
        mediation.call("last")
    assert info.value.status == 404
    waited = mediation.wait_for_call("last", "ended", timeout_s=0.2)
    assert (waited.reached, waited.value) == (False, None)
    problems: list[str] = []
    assert last_call(mediation, problems, timeout_s=0.2) is None
    assert problems == ["the Mediation Server simulator's call did not end within 0.2 s"]


def test_a_placed_call_is_waited_for_and_listed(mediation):
    prepare(mediation, answer_delay_ms=5)
    placed = mediation.place_call("+1000", **{"from": "+14255550150"})
    waited = mediation.wait_for_call(placed.id, "ended", timeout_s=5)
    assert waited.reached and waited.value is not None
    record = waited.value
    assert record["id"] == placed.id and record["call_id"] == placed.call_id
    assert record["state"] in ("ended", "rejected", "failed")  # the gateway is port 9
    assert [r["id"] for r in mediation.calls()] == [placed.id]
    problems: list[str] = []
    assert last_call(mediation, problems, timeout_s=1) == mediation.call(placed.id)
    assert problems == []
    assert mediation.clear_calls() == 1 and mediation.calls() == []


def test_nothing_listening_is_a_clear_error():
    client = SimulatorClient("Skype for SIP simulator", f"http://{LOCAL}:9", timeout=2)
    with pytest.raises(ControlApiError) as info:
        client.calls()
    assert info.value.status is None
    assert "Skype for SIP simulator does not answer" in str(info.value)


REGISTRATION = {"t": 1.0, "status": 200, "reason": "OK", "contact": "<sip:p@h>",
                "expires_requested": 60, "expires_granted": 12, "refresh": False,
                "refreshed_before_expiry": None, "aor": "sip:p@sip.skype.com"}


class _Registrations(BaseHTTPRequestHandler):
    """GET /registrations answers one registration; with wait=2 it times out (408 and
    the list); DELETE forgets them."""

    paths: list[str] = []

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.paths.append(self.path)
        if self.path.startswith("/registrations/bindings"):
            self._send(200, [])
        else:
            self._send(408 if "wait=2" in self.path else 200, [REGISTRATION])

    def do_DELETE(self) -> None:  # noqa: N802
        self.paths.append(self.path)
        self._send(200, {"deleted": 3})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def skype() -> Iterator[SkypeClient]:
    _Registrations.paths = []
    server = ThreadingHTTPServer((LOCAL, 0), _Registrations)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SkypeClient("Skype for SIP simulator", f"http://{LOCAL}:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


def test_registrations_and_their_long_poll(skype):
    now = skype.registrations(everything=True)
    assert now.reached and now.value == [REGISTRATION]
    polled = skype.registrations(wait=2, timeout_s=3)
    assert not polled.reached and polled.value[0]["expires_granted"] == 12
    assert skype.bindings() == [] and skype.clear_registrations() == 3
    assert _Registrations.paths == ["/registrations?all=1", "/registrations?wait=2&timeout=3",
                                    "/registrations/bindings", "/registrations"]
