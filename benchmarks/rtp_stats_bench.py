"""Benchmark ``harness rtp-stats`` against ``tshark -q -z rtp,streams`` on a 1M-packet capture.

Generates the capture (benchmarks/gen_capture.py) unless one is given, then runs each tool
``--runs`` times (five by default), alternating them so that both see the same machine
load, and reports the medians of wall time, packets per second and peak resident memory
(each run's own maximum RSS, from wait4). It also checks that both print the same figures.

    python benchmarks/rtp_stats_bench.py [--capture FILE] [--packets 1000000] [--runs 5]
        [--json OUT.json]

Targets (issue 3): at least 1M packets/s, at least 5x tshark, peak memory under twice
the file's size. This is a benchmark, not a test: it never fails, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(cmd: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in bytes, stdout) of one run of ``cmd``."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed with exit status {proc.returncode}")
        out.seek(0)
        return wall, usage.ru_maxrss * 1024, out.read().decode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--capture", type=Path, help="use this capture instead of generating one")
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--workers", type=int, choices=(1, 2), help="passed to harness rtp-stats")
    args = ap.parse_args(argv)

    # Everything heavy runs in child processes: a child's peak RSS counts the memory of
    # the process it was forked from, so this one stays small.
    tmp = None
    capture = args.capture
    if capture is None:
        tmp = tempfile.TemporaryDirectory(prefix="rtp-bench-")
        capture = Path(tmp.name) / "bench.pcap"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(HERE / "gen_capture.py"), str(capture), "--packets",
             str(args.packets)],
            check=True,
        )  # fmt: skip
        print(f"generated in {time.perf_counter() - t:.1f} s")
    size = capture.stat().st_size
    count = (
        "from harness.capture import open_capture; import sys;"
        " print(len(open_capture(sys.argv[1])))"
    )
    packets = int(
        subprocess.run(
            [sys.executable, "-c", count, str(capture)], capture_output=True, text=True, check=True
        ).stdout
    )

    harness = [sys.executable, "-m", "harness", "rtp-stats", "--tshark", str(capture)]
    if args.workers:
        harness.append(f"--workers={args.workers}")
    tshark = ["tshark", "-n", "-r", str(capture), "-q", "-z", "rtp,streams"]
    results: dict[str, list[tuple[float, int]]] = {"harness": [], "tshark": []}
    outputs: dict[str, str] = {}
    for _ in range(args.runs):
        for name, cmd in (("harness", harness), ("tshark", tshark)):
            wall, rss, out = run(cmd)
            results[name].append((wall, rss))
            outputs[name] = out
    os.chdir(ROOT)

    summary: dict[str, dict[str, Any]] = {}
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        peak = statistics.median(r for _, r in runs)
        med = statistics.median(walls)
        summary[name] = {
            "median_s": round(med, 3),
            "runs_s": [round(w, 3) for w in walls],
            "packets_per_s": round(packets / med),
            "peak_rss_mb": round(peak / 1e6, 1),
            "peak_rss_vs_file": round(peak / size, 2),
        }
    same = outputs["harness"] == outputs["tshark"]
    speedup = summary["tshark"]["median_s"] / summary["harness"]["median_s"]
    report = {
        "capture": str(capture),
        "packets": packets,
        "file_mb": round(size / 1e6, 1),
        "runs": args.runs,
        **summary,
        "speedup_vs_tshark": round(speedup, 2),
        "same_figures": same,
        "targets_met": {
            "1M packets/s": summary["harness"]["packets_per_s"] >= 1_000_000,
            "5x tshark": speedup >= 5,
            "memory < 2x file": summary["harness"]["peak_rss_vs_file"] < 2,
        },
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
