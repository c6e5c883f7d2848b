"""One pcap per test, written by tcpdump in Asterisk's network namespace (capture agent),
with the packets of the capture-xmpp agent in the XMPP server's namespace merged in by
time when the gateway is the harness's own (containers/gateway.yaml): the Google Talk
user's c2s stream in clear. With an external gateway the one agent on the bridge sees it."""

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
    # why the XMPP server's side is not in the pcap (its agent failed, or the merge did;
    # then its packets stay in NAME.peer.pcap beside it); None when merged or not asked for
    peer_error: str | None = None


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
            reply.get("peer_error"),
        )
