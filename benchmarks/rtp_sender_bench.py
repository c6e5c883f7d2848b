"""Benchmark the simulators' RTP sender (``RtpSession``) on an idle and on a loaded machine.

Each run has two phases of ``--seconds`` each: idle, then with ``--burners`` CPU-bound
processes spinning (by default two per CPU, as the suite at -n 4 loads a 2-core machine).
In each phase four sender processes send a 20 ms PCMU stream over 127.0.0.1 at the same
time, so that all see the same load: ``RtpSession`` as it is now ("catch-up": after a
stall it catches up a packet every 10 ms, and drops the packets whose slots passed only
after a gap over 60 ms or 200 ms behind), the same at the priority the simulators raise
themselves to ("raised": nice -10, harness.rtp.priority; needs root), the same
with no catch-up ("skip": a packet goes in its own slot or not at all), and its send loop
as it was before issue 14 ("before": the backlog of a stall sent at once, up to 200 ms of
it). This process receives the
streams with the kernel's receive timestamps (SO_TIMESTAMPNS), so its own scheduling does
not colour the figures, and reports per sender the spacing percentiles (p50, p99, p99.9,
max), the gaps over 60 ms (the RTP checks' limit), the intervals under 5 ms (packets
bunched), the timestamp steps other than +160 (packets dropped: the RTP checks fail those,
and those where the interval is within 60 ms fail for that alone), and the % of 1 s
windows (about one talk segment of the suite's calls) that the RTP checks would fail; the
medians over the runs.

    python benchmarks/rtp_sender_bench.py [--seconds 20] [--runs 3] [--burners N]
        [--json OUT.json]

Bounded: at most 600 s a phase; the burners stop on their own a few seconds after their
phase should have ended, and are killed by their PIDs when it does. It is a benchmark, not
a test: it never fails, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from harness.peers.common.rtp_session import PTIME_S, RtpSession  # noqa: E402
from harness.rtp.priority import raise_priority  # noqa: E402

LOCAL = "127.0.0.1"
SENDERS = ("catch-up", "raised", "skip", "before")
MAX_DELTA_MS = 60.0  # harness.analysis.rtp_rules.MAX_DELTA_S
BUNCHED_MS = 5.0
# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS); the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
BURN = ("import sys, time\nend = time.monotonic() + float(sys.argv[1])\n"
        "while time.monotonic() < end: pass\n")


class BeforeSession(RtpSession):
    """RtpSession's send loop before issue 14, for comparison only: the payload made after
    the wake-up; behind schedule by less than 200 ms, every missed packet sent at once."""

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._schedule
        while not self.closed:
            await self._go.wait()
            now = loop.time()
            if s.start is None:
                s.start, s.tick = now, 0
            else:
                s.tick = max(s.tick, math.ceil((now - s.start) / PTIME_S))
            marker = True
            while self._go.is_set() and not self.closed:
                delay = s.start + s.tick * PTIME_S - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if not self._go.is_set() or self.closed:
                        break
                elif -delay > 0.2:
                    s.tick = math.ceil((loop.time() - s.start) / PTIME_S)
                    continue
                self._frame = None
                self._send_tick(s.tick, marker)
                marker = False
                s.tick += 1


async def send(kind: str, port: int, seconds: float) -> None:
    if kind == "raised" and not raise_priority():
        raise SystemExit("the raised sender needs the right to lower its nice value (root)")
    cls = BeforeSession if kind == "before" else RtpSession
    session = await cls.open(LOCAL, (0, 0), set())
    if kind == "skip":
        session._schedule.catch_up = 0.0
    session.set_remote(LOCAL, port)
    session.set_sending(True)
    await asyncio.sleep(seconds)
    session.close()


@dataclass
class Received:
    t_ns: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)

    def add(self, data: bytes, t_ns: int) -> None:
        if len(data) < 12:
            return
        _b0, _b1, seq, ts = struct.unpack_from("!BBHI", data)
        self.t_ns.append(t_ns)
        self.seq.append(seq)
        self.ts.append(ts)


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCAL, 0))
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass  # no kernel timestamps here: the arrival is read when the packet is received
    return sock


def drain(sock: socket.socket, into: Received) -> None:
    while True:
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        t_ns = time.time_ns()
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("@qq", value[:16])
                t_ns = sec * 1_000_000_000 + nsec
        into.add(data, t_ns)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def failing_windows(deltas_ms: list[float], ts_steps: list[int], size: int = 50) -> float:
    """Of the stream cut into windows of `size` intervals (1 s, about a talk segment of the
    suite's calls), the % that the RTP checks would fail: an interval over 60 ms, the mean
    off 20 ms by more than 2, or a timestamp step other than +160."""
    windows = [(deltas_ms[i:i + size], ts_steps[i:i + size])
               for i in range(0, len(deltas_ms) - size + 1, size)]
    bad = sum(max(d) > MAX_DELTA_MS or abs(sum(d) / len(d) - 20) > 2 or any(s != 160 for s in t)
              for d, t in windows)
    return round(100 * bad / len(windows), 1) if windows else float("nan")


def figures(r: Received) -> dict[str, float]:
    arrival = [(b - a) / 1e6 for a, b in zip(r.t_ns, r.t_ns[1:], strict=False)]
    deltas = sorted(arrival)
    ts_steps = [(b - a) % (1 << 32) for a, b in zip(r.ts, r.ts[1:], strict=False)]
    seq_steps = [(b - a) % (1 << 16) for a, b in zip(r.seq, r.seq[1:], strict=False)]
    return {
        "packets": len(r.t_ns),
        "p50_ms": round(percentile(deltas, 50), 3),
        "p99_ms": round(percentile(deltas, 99), 3),
        "p99.9_ms": round(percentile(deltas, 99.9), 3),
        "max_ms": round(deltas[-1], 3) if deltas else float("nan"),
        "gaps_over_60ms": sum(d > MAX_DELTA_MS for d in deltas),
        "bunched_under_5ms": sum(d < BUNCHED_MS for d in deltas),
        "timestamp_jumps": sum(s != 160 for s in ts_steps),
        # a jump where the interval itself is within the limit: a check failure of its own
        "jumps_within_60ms": sum(s != 160 and d <= MAX_DELTA_MS
                                 for s, d in zip(ts_steps, arrival, strict=False)),
        "sequence_errors": sum(s != 1 for s in seq_steps),
        "failing_1s_windows_pct": failing_windows(arrival, ts_steps),
    }


def phase(seconds: float, burners: int) -> dict[str, dict[str, float]]:
    """Both senders for `seconds`, with `burners` CPU-bound processes spinning meanwhile."""
    burning = [subprocess.Popen([sys.executable, "-c", BURN, str(seconds + 5)])
               for _ in range(burners)]
    try:
        if burning:
            time.sleep(0.5)  # let the load settle before the streams start
        socks = {kind: receiver() for kind in SENDERS}
        got = {kind: Received() for kind in SENDERS}
        senders = [subprocess.Popen([sys.executable, __file__, "--sender", kind, "--port",
                                     str(socks[kind].getsockname()[1]), "--seconds",
                                     str(seconds)])
                   for kind in SENDERS]
        sel = selectors.DefaultSelector()
        for kind, sock in socks.items():
            sel.register(sock, selectors.EVENT_READ, kind)
        deadline = time.monotonic() + seconds + 10
        while any(p.poll() is None for p in senders) and time.monotonic() < deadline:
            for key, _ in sel.select(0.05):
                drain(key.fileobj, got[key.data])  # type: ignore[arg-type]
        for p in senders:
            if p.poll() is None:
                p.kill()
            p.wait()
        for kind, sock in socks.items():
            drain(sock, got[kind])
            sock.close()
        return {kind: figures(got[kind]) for kind in SENDERS}
    finally:
        for b in burning:
            b.kill()
            b.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase (default 20)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2 * (os.cpu_count() or 1),
                    help="CPU-bound processes in the loaded phase (default: two per CPU)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--sender", choices=SENDERS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 1 <= args.runs <= 20 or not 0 <= args.burners <= 64:
        ap.error("--seconds 1-600, --runs 1-20 and --burners 0-64, please")
    if args.sender:
        asyncio.run(send(args.sender, args.port, args.seconds))
        return 0

    load = os.getloadavg()[0]
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {kind: [] for kind in SENDERS} for name in ("idle", "loaded")}
    for n in range(args.runs):
        for name, burners in (("idle", 0), ("loaded", args.burners)):
            for kind, result in phase(args.seconds, burners).items():
                runs[name][kind].append(result)
            print(f"run {n + 1}/{args.runs} {name}: " + ", ".join(
                f"{kind} max {runs[name][kind][-1]['max_ms']} ms" for kind in SENDERS),
                file=sys.stderr)
    medians: dict[str, dict[str, dict[str, float]]] = {
        name: {kind: {key: statistics.median(r[key] for r in results)
                      for key in results[0]}
               for kind, results in by_kind.items()}
        for name, by_kind in runs.items()}
    report: dict[str, Any] = {
        "seconds_per_phase": args.seconds, "runs": args.runs, "burners": args.burners,
        "cpus": os.cpu_count(), "load_average_at_start": round(load, 2),
        "medians": medians, "runs_detail": runs,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "runs_detail"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
