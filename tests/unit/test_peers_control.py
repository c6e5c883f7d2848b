"""The Mediation Server simulator's control API and the pieces behind it (behaviour,
records, the tiny HTTP server), on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from harness.peers.common.api import MediationApi
from harness.peers.common.behaviour import Behaviour, BehaviourError
from harness.peers.common.control import ControlServer, HttpError, HttpRequest, HttpResponse
from harness.peers.common.records import CallRecord, CallStore, set_state
from harness.peers.common.rtp_session import RtpSession
from harness.peers.skype.records import SkypeCallRecord, SkypeCallStore
from harness.rtp.packet import RtpPacket
from harness.rtp.rfc4733 import TelephoneEvent
from tests.support.peers import LOCAL, mediation_server, run_async


async def raw_http(port: int, data: bytes, eof: bool = False) -> tuple[int, dict[str, str], Any]:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    writer.write(data)
    if eof:
        writer.write_eof()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


async def http(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    payload = (
        b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    data = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
    status, headers, content = await raw_http(port, data.encode() + payload)
    assert headers["Content-Type"] == "application/json"
    return status, content


class Sim:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.server = mediation_server(self.lines, 9)

    async def __aenter__(self) -> int:
        await self.server.start()
        return self.server.control_port

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


DEFAULTS = {
    "progress_delay_ms": 20,
    "ring_delay_ms": 40,
    "answer_delay_ms": 200,
    "reject_code": None,
    "hold_after_ms": None,
    "hold_duration_ms": 1000,
    "hangup_after_ms": 1000,
    "hangup_by": "mediation",
    "dtmf": None,
    "dtmf_after_ms": 200,
}


@run_async
async def test_health_and_behaviour_lifecycle() -> None:
    async with Sim() as port:
        assert await http(port, "GET", "/health") == (200, {"ok": True})
        assert await http(port, "GET", "/behaviour") == (200, DEFAULTS)
        status, body = await http(port, "PUT", "/behaviour", {"reject_code": 486, "dtmf": "12a"})
        assert status == 200
        assert body == {**DEFAULTS, "reject_code": 486, "dtmf": "12A"}
        # PUT merges into the defaults, not into the previous PUT.
        status, body = await http(port, "PUT", "/behaviour", {"hold_after_ms": 500})
        assert body == {**DEFAULTS, "hold_after_ms": 500}
        assert await http(port, "GET", "/behaviour") == (200, body)
        assert await http(port, "DELETE", "/behaviour") == (200, DEFAULTS)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answer_delay_ms": -1}, "answer_delay_ms"),
        ({"answer_delay_ms": None}, "answer_delay_ms"),
        ({"ring_delay_ms": "fast"}, "ring_delay_ms"),
        ({"hold_after_ms": True}, "hold_after_ms"),
        ({"reject_code": 200}, "reject_code"),
        ({"reject_code": "486"}, "reject_code"),
        ({"hangup_by": "nobody"}, "hangup_by"),
        ({"dtmf": "12x"}, "dtmf"),
        ({"dtmf": 5}, "dtmf"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_behaviour_validation_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BehaviourError) as info:
        Behaviour().merged(body)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@run_async
async def test_api_errors_are_json() -> None:
    async with Sim() as port:
        status, body = await http(port, "PUT", "/behaviour", {"reject_code": 99})
        assert status == 400 and body["field"] == "reject_code" and "reject_code" in body["error"]
        status, body = await http(port, "PUT", "/behaviour", b"{not json")
        assert status == 400 and "JSON" in body["error"]
        status, body = await http(port, "PUT", "/behaviour", [1, 2])
        assert status == 400 and "object" in body["error"]
        status, body = await http(port, "GET", "/nowhere")
        assert status == 404 and "nowhere" in body["error"]
        status, body = await http(port, "POST", "/health")
        assert status == 405
        status, body = await http(port, "GET", "/calls/42")
        assert status == 404
        status, body = await http(port, "GET", "/calls/last")
        assert status == 404
        status, body = await http(port, "POST", "/calls", {"from": "+1"})
        assert status == 400 and body["field"] == "to"
        status, body = await http(port, "POST", "/calls", {"to": "+1000", "hangup_by": "x"})
        assert status == 400 and body["field"] == "hangup_by"
        status, body = await http(port, "POST", "/calls", {"to": "sip:bad uri"})
        assert status == 400 and body["field"] == "to"
        status, body = await http(port, "GET", "/calls/last?wait=soon")
        assert status == 400 and "wait" in body["error"]
        status, body = await http(port, "GET", "/calls/last?wait=ended&timeout=x")
        assert status == 400 and "timeout" in body["error"]
        status, _, body = await raw_http(port, b"garbage\r\n\r\n")
        assert status == 400 and "request line" in body["error"]
        status, _, body = await raw_http(
            port, b"PUT /behaviour HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", eof=True
        )
        assert status == 400 and "shorter" in body["error"]
        # Still alive.
        assert await http(port, "GET", "/health") == (200, {"ok": True})


@run_async
async def test_calls_records_wait_and_forget() -> None:
    async with Sim() as port:
        # No call yet: waiting on "last" times out with 408.
        status, body = await http(port, "GET", "/calls/last?wait=ended&timeout=0.1")
        assert status == 408 and "no call" in body["error"]
        # An outbound call to a closed port fails; wait=ended returns it.
        status, placed = await http(port, "POST", "/calls", {"to": "+1000"})
        assert status == 200
        status, record = await http(port, "GET", f"/calls/{placed['id']}?wait=ended&timeout=3")
        assert status == 200
        assert record["id"] == placed["id"] and record["call_id"] == placed["call_id"]
        assert record["direction"] == "outbound" and record["state"] == "failed"
        assert record["error"]
        assert {"t", "event", "detail"} <= set(record["events"][0])
        for key in ("remote_sdp_direction", "rtp_sent", "rtp_received", "dtmf_sent"):
            assert key in record
        status, listing = await http(port, "GET", "/calls")
        assert status == 200 and [r["id"] for r in listing] == [placed["id"]]
        assert (await http(port, "GET", "/calls/last"))[1]["id"] == placed["id"]
        assert await http(port, "DELETE", "/calls") == (200, {"deleted": 1})
        assert await http(port, "GET", "/calls") == (200, [])


@run_async
async def test_wait_times_out_with_record_and_408() -> None:
    store = CallStore()
    record = store.new("abc", "inbound")

    async def later() -> None:
        await asyncio.sleep(0.05)
        set_state(store, record, "confirmed")

    task = asyncio.get_running_loop().create_task(later())
    assert await store.wait_for(lambda: record.state == "confirmed", 1.0)
    assert not await store.wait_for(lambda: record.finished, 0.05)
    await task

    sim = Sim()
    async with sim as port:
        live = sim.server.store.new("live", "inbound")  # a call that never ends
        status, body = await http(port, "GET", f"/calls/{live.id}?wait=ended&timeout=0.1")
        assert status == 408 and body["state"] == "trying"
        status, body = await http(port, "GET", f"/calls/{live.id}?wait=trying&timeout=1")
        assert status == 200


@run_async
async def test_control_server_handler_errors_never_leak_tracebacks() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        if request.path == "/boom":
            raise RuntimeError("kaput")
        if request.path == "/teapot":
            raise HttpError(409, "conflict here")
        return HttpResponse(200, {"path": request.path, "query": request.query})

    lines: list[str] = []
    server = ControlServer(handler, lines.append)
    port = await server.start(LOCAL, 0)
    try:
        status, body = await http(port, "GET", "/boom")
        assert status == 500 and "kaput" in body["error"] and "Traceback" not in body["error"]
        assert await http(port, "GET", "/teapot") == (409, {"error": "conflict here"})
        assert await http(port, "GET", "/a%20b?x=1&y=") == (
            200,
            {"path": "/a b", "query": {"x": "1", "y": ""}},
        )
    finally:
        await server.close()
    assert any("kaput" in line for line in lines)


# -- extension points the Skype simulator builds on ------------------------------------------


def test_store_builds_its_record_type() -> None:
    plain = CallStore().new("a", "inbound")
    assert type(plain) is CallRecord and plain.id == "1"
    store = SkypeCallStore()
    first, second = store.new("a", "inbound"), store.new("b", "outbound")
    assert isinstance(first, SkypeCallRecord) and (first.id, second.id) == ("1", "2")
    assert store.get("1") is first and store.last() is second and store.all() == [first, second]
    assert second.to_json()["direction"] == "outbound" and second.to_json()["service"] == "sip"


class _FakeSimulator:
    def __init__(self, base: Behaviour) -> None:
        self.store = CallStore()
        self.base_behaviour = base
        self.behaviour = base

    def sync_records(self) -> None:
        pass

    def place_call(self, body: dict[str, Any]) -> CallRecord:
        raise BehaviourError("to", "no calls here")


@run_async
async def test_api_behaviour_defaults_come_from_the_simulator() -> None:
    base = Behaviour(answer_delay_ms=5)
    api = MediationApi(_FakeSimulator(base))

    def request(method: str, path: str, body: bytes = b"") -> HttpRequest:
        return HttpRequest(method, path, {}, {}, body)

    response = await api(request("PUT", "/behaviour", b'{"dtmf": "12"}'))
    assert response.status == 200
    assert response.body == {**base.to_json(), "dtmf": "12"}
    response = await api(request("DELETE", "/behaviour"))
    assert response.body == base.to_json()
    with pytest.raises(HttpError) as info:
        await api(request("POST", "/calls"))
    assert info.value.status == 400 and info.value.body == {
        "error": "to: no calls here",
        "field": "to",
    }


@run_async
async def test_rtp_session_hands_each_valid_packet_to_on_packet() -> None:
    seen: list[tuple[int, int, str]] = []

    class Tap(RtpSession):
        def on_packet(self, packet: RtpPacket, addr: tuple[str, int]) -> None:
            seen.append((packet.sequence, self.stats.packets_received, self.stats.dtmf_received))

    loop = asyncio.get_running_loop()
    session = await Tap.open(LOCAL, (0, 0), set())
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, (LOCAL, 0))
    try:
        target = (LOCAL, session.local_port)
        sender.sendto(RtpPacket(0, 7, 160, 1, b"\xff" * 160).pack(), target)
        sender.sendto(b"\x81\xc8" + bytes(26), target)  # RTCP sender report: counted only
        sender.sendto(b"junk", target)  # not RTP: counted as invalid only
        end_of_5 = TelephoneEvent(5, 800, end=True).pack()
        sender.sendto(RtpPacket(101, 8, 320, 1, end_of_5).pack(), target)  # noted, then seen
        for _ in range(100):
            if len(seen) == 2 and session.stats.invalid_received == 1:
                break
            await asyncio.sleep(0.005)
    finally:
        sender.close()
        session.close()
    assert seen == [(7, 1, ""), (8, 2, "5")]
    assert session.stats.rtcp_received == 1 and session.closed
