"""Capture agent: one tcpdump per requested pcap, controlled over HTTP.

Runs in the asterisk service's network namespace, so it sees both of the gateway's legs
(the TCP trunk to the Mediation Server and the softphone's UDP) as `sip set debug` would.

    POST /start  {"name": "pcaps/test_x.pcap", "filter": "optional BPF"}
                 -> 200 once tcpdump reports that it is listening (no packet is missed)
    POST /stop   {"name": "pcaps/test_x.pcap"} -> 200 {"packets": N, "dropped": N, "bytes": N}
    GET  /health -> 200 {"ok": true, "active": [...]}

Standard library only (bookworm's python3 and tcpdump).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class AgentError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Capture:
    path: Path
    process: subprocess.Popen[bytes]
    stderr_lines: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None


@dataclass
class Agent:
    root: Path
    interface: str
    captures: dict[str, Capture] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, name: object) -> Path:
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise AgentError(400, "'name' must be a relative path inside the reports folder")
        return self.root / name

    def start(self, name: object, bpf: object = None) -> dict[str, object]:
        path = self.resolve(name)
        if bpf is not None and not isinstance(bpf, str):
            raise AgentError(400, "'filter' must be a string (a BPF expression)")
        with self.lock:
            if str(name) in self.captures:
                raise AgentError(409, f"a capture named {name} is already running")
            path.parent.mkdir(parents=True, exist_ok=True)
            # -U: write each packet as it arrives, so a stop loses nothing;
            # -Z root: the bind-mounted reports folder belongs to root.
            # -B: a 8 MiB kernel buffer, so a busy 2-core machine drops nothing.
            cmd = ["tcpdump", "-i", self.interface, "-n", "-U", "-s", "0", "-Z", "root",
                   "-B", "8192", "--immediate-mode", "-w", str(path)]
            if bpf:
                cmd.append(bpf)
            process = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
            cap = Capture(path=path, process=process)
            cap.reader = threading.Thread(target=self._read_stderr, args=(cap,), daemon=True)
            cap.reader.start()
            self.captures[str(name)] = cap
        if not cap.listening.wait(START_TIMEOUT_S) or process.poll() is not None:
            with self.lock:
                self.captures.pop(str(name), None)
            process.kill()
            raise AgentError(500, "tcpdump did not start: " + " | ".join(cap.stderr_lines[-3:]))
        return {"file": str(path)}

    @staticmethod
    def _read_stderr(cap: Capture) -> None:
        assert cap.process.stderr is not None
        for raw in cap.process.stderr:
            line = raw.decode(errors="replace").strip()
            cap.stderr_lines.append(line)
            if "listening on" in line:
                cap.listening.set()
        cap.listening.set()  # process ended: unblock a waiting start

    def stop(self, name: object) -> dict[str, object]:
        with self.lock:
            cap = self.captures.pop(str(name), None)
        if cap is None:
            raise AgentError(404, f"no capture named {name} is running")
        cap.process.send_signal(signal.SIGINT)
        try:
            cap.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            cap.process.kill()
            cap.process.wait()
        if cap.reader is not None:
            cap.reader.join(STOP_TIMEOUT_S)
        text = "\n".join(cap.stderr_lines)
        captured = re.search(r"(\d+) packets? captured", text)
        dropped = re.search(r"(\d+) packets? dropped by kernel", text)
        return {
            "file": str(cap.path),
            "packets": int(captured.group(1)) if captured else None,
            "dropped": int(dropped.group(1)) if dropped else None,
            "bytes": cap.path.stat().st_size if cap.path.exists() else 0,
        }

    def stop_all(self) -> None:
        for name in list(self.captures):
            try:
                self.stop(name)
            except AgentError:
                pass


def make_handler(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self._reply(200, {"ok": True, "active": sorted(agent.captures)})
            else:
                self._reply(404, {"error": f"no such path {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError as exc:
                    raise AgentError(400, f"body is not JSON: {exc}") from None
                if not isinstance(body, dict):
                    raise AgentError(400, "body must be a JSON object")
                if self.path == "/start":
                    self._reply(200, agent.start(body.get("name"), body.get("filter")))
                elif self.path == "/stop":
                    self._reply(200, agent.stop(body.get("name")))
                else:
                    raise AgentError(404, f"no such path {self.path}")
            except AgentError as exc:
                self._reply(exc.status, {"error": str(exc)})

        def log_message(self, fmt: str, *args: object) -> None:
            print("capture-agent:", fmt % args, flush=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    # on the host's network (an external gateway) only the host itself may reach it
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--root", type=Path, default=Path("/reports"))
    parser.add_argument("--interface", default=os.environ.get("CAPTURE_INTERFACE", "any"))
    args = parser.parse_args()
    agent = Agent(root=args.root, interface=args.interface)
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(agent))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"capture-agent: listening on :{args.port}, writing under {args.root}", flush=True)
    try:
        server.serve_forever()
    finally:
        agent.stop_all()


if __name__ == "__main__":
    main()
