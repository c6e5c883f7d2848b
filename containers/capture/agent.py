"""Capture agent: one tcpdump per requested pcap, controlled over HTTP.

Runs in the asterisk service's network namespace, so it sees both of the gateway's legs
(the TCP trunk to the Mediation Server and the softphone's UDP) as `sip set debug` would.

    POST /start  {"name": "pcaps/test_x.pcap", "filter": "optional BPF"}
                 -> 200 once tcpdump reports that it is listening (no packet is missed)
    POST /stop   {"name": "pcaps/test_x.pcap"} -> 200 {"packets": N, "dropped": N, "bytes": N}
    GET  /health -> 200 {"ok": true, "active": [...]}

With ``--peer URL`` it also drives a second agent (the capture-xmpp service, in the XMPP
server's namespace, where the Google Talk user's c2s stream is in clear, whereas Asterisk's
is TLS with xmpp.conf usetls=yes): that agent writes ``NAME.peer.pcap`` with
``--peer-filter`` (and the request's filter), and the stop merges it into NAME by time
(pcapmerge.py), so a test gets one pcap. The stop's reply has ``peer_error`` when that
half is missing.

Standard library only (bookworm's python3 and tcpdump).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pcapmerge import MergeError, merge_pcaps  # noqa: E402 (installed beside this file)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# How long a stop waits for tcpdump to have read what the kernel holds for it, and how
# often it looks.
CATCH_UP_S = 2.0
CATCH_UP_POLL_S = 0.001


def caught_up(pid: int, timeout: float = CATCH_UP_S) -> bool:
    """True once tcpdump sleeps: it has read every packet the kernel held for it (a packet
    that arrives wakes it in the sender's own path, so a sleeping tcpdump has none
    pending). SIGINT ends tcpdump with what it has read; what is still in the kernel's
    ring is lost. Seen at pytest -n 4: the 486 that ended a call, sent before the harness
    asked for the stop, missing from the pcap. The kernel gives no event for this; its
    state is read every millisecond, for ``timeout`` at most."""
    deadline = time.monotonic() + timeout
    stat = Path(f"/proc/{pid}/stat")
    while True:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state == "S":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(CATCH_UP_POLL_S)


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
class Peer:
    """The other agent whose capture each of ours is merged with."""

    url: str
    bpf: str | None

    def call(self, path: str, body: dict[str, object]) -> dict[str, object]:
        data = json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=START_TIMEOUT_S + 5) as reply:
                return dict(json.loads(reply.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AgentError(502, f"peer capture agent {self.url}{path}: {exc.code} {detail}") \
                from None
        except (OSError, ValueError) as exc:
            raise AgentError(502, f"peer capture agent {self.url} unreachable: {exc}") from None

    def side_name(self, name: str) -> str:
        return name + ".peer.pcap"

    def filter_for(self, bpf: str | None) -> str | None:
        parts = [f"({f})" for f in (bpf, self.bpf) if f]
        return " and ".join(parts) or None


@dataclass
class Agent:
    root: Path
    interface: str
    captures: dict[str, Capture] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    peer: Peer | None = None

    def resolve(self, name: object) -> Path:
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise AgentError(400, "'name' must be a relative path inside the reports folder")
        return self.root / name

    def start(self, name: object, bpf: object = None) -> dict[str, object]:
        path = self.resolve(name)
        if bpf is not None and not isinstance(bpf, str):
            raise AgentError(400, "'filter' must be a string (a BPF expression)")
        if str(name) in self.captures:
            raise AgentError(409, f"a capture named {name} is already running")
        if self.peer is not None:
            # the peer first, and stopped after ours: our pcap never holds this control
            # traffic, and both listen before the start returns
            body: dict[str, object] = {"name": self.peer.side_name(str(name))}
            peer_bpf = self.peer.filter_for(bpf or None)
            if peer_bpf:
                body["filter"] = peer_bpf
            self.peer.call("/start", body)
        try:
            return self._start_local(name, path, bpf)
        except AgentError:
            if self.peer is not None:
                side = self.peer.side_name(str(name))
                try:
                    self.peer.call("/stop", {"name": side})
                except AgentError:
                    pass
                (self.root / side).unlink(missing_ok=True)
            raise

    def _start_local(self, name: object, path: Path, bpf: object) -> dict[str, object]:
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
        caught_up(cap.process.pid)
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
        reply: dict[str, object] = {
            "file": str(cap.path),
            "packets": int(captured.group(1)) if captured else None,
            "dropped": int(dropped.group(1)) if dropped else None,
        }
        if self.peer is not None:
            reply.update(self._merge_peer(str(name), cap.path, reply))
        reply["bytes"] = cap.path.stat().st_size if cap.path.exists() else 0
        return reply

    def _merge_peer(self, name: str, path: Path, own: dict[str, object]) -> dict[str, object]:
        """Stops the peer's capture and merges its file into ours (then removes it); on a
        failure the peer's file stays beside ours and the reply says why."""
        assert self.peer is not None
        side = self.root / self.peer.side_name(name)
        try:
            theirs = self.peer.call("/stop", {"name": self.peer.side_name(name)})
        except AgentError as exc:
            return {"peer_error": str(exc)}
        out: dict[str, object] = {"peer_packets": theirs.get("packets")}
        for key in ("packets", "dropped"):
            mine, other = own.get(key), theirs.get(key)
            if isinstance(mine, int) and isinstance(other, int):
                out[key] = mine + other
        try:
            merge_pcaps(path, side)
        except MergeError as exc:
            out["peer_error"] = f"{exc}; the peer's packets stay in {side.name}"
            return out
        side.unlink(missing_ok=True)
        return out

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
                body: dict[str, object] = {"ok": True, "active": sorted(agent.captures)}
                if agent.peer is not None:
                    body["peer"] = agent.peer.url
                self._reply(200, body)
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
    parser.add_argument("--peer", default=None,
                        help="URL of another agent whose capture each pcap also gets")
    parser.add_argument("--peer-filter", default=None, help="BPF for the peer's captures")
    args = parser.parse_args()
    peer = Peer(args.peer.rstrip("/"), args.peer_filter or None) if args.peer else None
    agent = Agent(root=args.root, interface=args.interface, peer=peer)
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(agent))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"capture-agent: listening on :{args.port}, writing under {args.root}", flush=True)
    try:
        server.serve_forever()
    finally:
        agent.stop_all()


if __name__ == "__main__":
    main()
