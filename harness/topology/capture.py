"""One pcap per test, written by tcpdump in Asterisk's network namespace (capture agent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.topology.http import JsonClient


@dataclass
class CaptureResult:
    path: Path
    packets: int | None
    dropped: int | None
    size: int


@dataclass
class CaptureControl:
    client: JsonClient
    reports: Path

    @classmethod
    def at(cls, port: int, reports: Path) -> CaptureControl:
        return cls(JsonClient("capture agent", f"http://127.0.0.1:{port}"), reports)

    def start(self, relative: str, bpf: str | None = None) -> Path:
        """Returns once tcpdump is listening: nothing sent afterwards is missed."""
        body: dict[str, Any] = {"name": relative}
        if bpf:
            body["filter"] = bpf
        self.client.request("POST", "/start", body)
        return self.reports / relative

    def stop(self, relative: str) -> CaptureResult:
        reply = self.client.request("POST", "/stop", {"name": relative})
        return CaptureResult(
            self.reports / relative,
            reply.get("packets"),
            reply.get("dropped"),
            int(reply.get("bytes") or 0),
        )
