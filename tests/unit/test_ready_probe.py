"""Readiness probes asked from the host through a published port, or run in the container
(harness/topology/ready.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.topology.ready import READY_LABEL, probe, published


@dataclass
class Container:
    """What the probe reads of a docker SDK container: its labels and inspect data; a
    command it is asked to run is recorded and 'exits' 0."""

    attrs: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    ran: list[Any] = field(default_factory=list)

    def exec_run(self, command: Any, demux: bool) -> Any:
        self.ran.append(command)
        return type("Result", (), {"exit_code": 0, "output": (b"ok\n", b"")})()


def _ports(**published_ports: str) -> dict[str, Any]:
    return {"Id": "abc", "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {
        "Ports": {k.replace("p", "") + "/tcp": [{"HostIp": "127.0.0.1", "HostPort": v}]
                  for k, v in published_ports.items()}}}


def test_a_published_port_is_asked_on_the_host() -> None:
    box = Container(_ports(p8068="31868"))
    assert published("http://127.0.0.1:8068/health", box, {}) == (
        "http://127.0.0.1:31868/health")
    assert published("http://127.0.0.1:8070/health", box, {}) is None


def test_a_container_in_anothers_namespace_uses_that_ones_ports() -> None:
    owner = Container(_ports(p8090="31890"))
    agent = Container({"Id": "def", "HostConfig": {"NetworkMode": "container:abc"},
                       "NetworkSettings": {"Ports": {}}})
    found = {"asterisk": owner, "capture": agent}
    assert published("http://127.0.0.1:8090/health", agent, found) == (
        "http://127.0.0.1:31890/health")
    host = Container({"Id": "x", "HostConfig": {"NetworkMode": "host"}})
    assert published("http://127.0.0.1:18090/health", host, {}) == (
        "http://127.0.0.1:18090/health")


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_probe_asks_the_published_port_and_runs_nothing_in_the_container(
        health: http.server.HTTPServer) -> None:
    port = str(health.server_address[1])
    box = Container(_ports(p8068=port), {READY_LABEL: "http://127.0.0.1:8068/health"})
    assert probe(box, {}) == (True, f"http://127.0.0.1:{port}/health: 200")
    _Health.status = 503
    try:
        ready, said = probe(box, {})
    finally:
        _Health.status = 200
    assert not ready and "503" in said
    assert box.ran == []


def test_an_unpublished_url_is_asked_from_inside_the_container() -> None:
    box = Container(_ports(), {READY_LABEL: "http://127.0.0.1:8091/health"})
    assert probe(box, {}) == (True, "ok")
    assert box.ran == [["python3", "-c", "import urllib.request as u; "
                        "u.urlopen('http://127.0.0.1:8091/health', timeout=2)"]]
