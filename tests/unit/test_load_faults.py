"""The Mediation Server simulator's faults for load runs: the share of calls that ignore
their ACK (spread evenly, so a run's count is known), the stop-answering window, and the
``/faults`` control resource beside the unchanged ``/behaviour`` (in-process on loopback)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from harness.peers.common.control import HttpError
from harness.peers.lync.faults import Faults
from tests.support.peers import LOCAL, mediation_server, run_async


def test_drop_acks_picks_that_share_of_calls_evenly() -> None:
    f = Faults()
    f.set({"drop_acks": 0.05}, now=0.0)
    picks = [f.deaf_call() for _ in range(100)]
    assert sum(picks) == 5 == f.calls_deaf
    assert [i for i, p in enumerate(picks) if p] == [19, 39, 59, 79, 99]
    f.set({"drop_acks": 1}, now=0.0)
    assert all(f.deaf_call() for _ in range(3))
    f.clear()
    assert not any(f.deaf_call() for _ in range(50)) and f.calls_deaf == 0


def test_stop_answering_is_a_window_from_now() -> None:
    f = Faults()
    f.set({"stop_answering_s": 3}, now=100.0)
    assert f.ignores_invite(100.5) and f.ignores_invite(102.9)
    assert not f.ignores_invite(103.0)
    assert f.invites_ignored == 2
    assert f.to_json(101.0)["stop_answering_s"] == 2.0


@pytest.mark.parametrize(("body", "field"), [({"drop_acks": 1.5}, "drop_acks"),
                                             ({"drop_acks": True}, "drop_acks"),
                                             ({"stop_answering_s": -1}, "stop_answering_s"),
                                             ({"nap": 1}, "nap")])
def test_bad_faults_are_refused_by_name(body: dict[str, Any], field: str) -> None:
    f = Faults()
    f.set({"drop_acks": 0.5}, now=0.0)
    with pytest.raises(HttpError) as err:
        f.set(body, now=0.0)
    assert err.value.status == 400 and err.value.message.startswith(field)
    assert f.drop_acks == 0.5  # nothing changed


async def _http(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    payload = b"" if body is None else json.dumps(body).encode()
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n"
                 "\r\n".encode() + payload)
    data = await reader.read()
    writer.close()
    head, _, content = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(content)


@run_async
async def test_faults_resource_beside_the_behaviour() -> None:
    server = mediation_server([], 5060)
    await server.start()
    try:
        port = server.control_port
        assert await _http(port, "GET", "/faults") == (200, {
            "drop_acks": 0.0, "stop_answering_s": 0.0, "acks_dropped": 0, "calls_deaf": 0,
            "invites_ignored": 0})
        status, body = await _http(port, "PUT", "/faults",
                                   {"drop_acks": 0.25, "stop_answering_s": 5})
        assert status == 200 and body["drop_acks"] == 0.25
        assert 4.5 < body["stop_answering_s"] <= 5
        status, body = await _http(port, "PUT", "/faults", {"drop_acks": 3})
        assert status == 400 and "drop_acks" in body["error"]
        assert (await _http(port, "GET", "/behaviour"))[0] == 200  # the old API unchanged
        status, body = await _http(port, "DELETE", "/faults")
        assert status == 200 and body["drop_acks"] == 0.0 and body["stop_answering_s"] == 0.0
        assert (await _http(port, "POST", "/faults"))[0] == 405
    finally:
        await server.close()
