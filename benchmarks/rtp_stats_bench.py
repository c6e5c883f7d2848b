"""Benchmark ``harness rtp-stats`` against ``tshark -q -z rtp,streams`` on a 1M-packet capture.

Generates the capture (benchmarks/gen_capture.py) unless one is given, then runs each tool
``--runs`` times (five by default), alternating them so that all see the same machine
load, and reports the medians of wall time, packets per second and peak resident memory
(each run's own maximum RSS, from wait4), the ratio to tshark, and whether both printed
the same figures (every run's output is compared). ``--workers 1 2`` times the CLI with
each setting as well as with its default. The harness's bytecode is compiled first, as
``pip install`` does, so that no run pays for compiling it; the load average is reported
before and after.

    python benchmarks/rtp_stats_bench.py [--capture FILE] [--packets 1000000] [--runs 5]
        [--workers 1 2] [--json OUT.json]

Targets (issue 12): at least 3M packets/s end to end, peak memory under 1.5x the file's
size, figures equal to tshark's. This is a benchmark, not a test: it never fails, it
reports.
"""

from __future__ import annotations

import argparse
import compileall
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
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        choices=(1, 2),
        default=[],
        help="also time harness rtp-stats --workers=N for each N",
    )
    args = ap.parse_args(argv)
    compileall.compile_dir(ROOT / "harness", quiet=1)  # as an installed package has it
    load_before = os.getloadavg()

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
    tshark = ["tshark", "-n", "-r", str(capture), "-q", "-z", "rtp,streams"]
    commands = {"harness": harness}
    for w in args.workers:
        commands[f"harness --workers={w}"] = [*harness, f"--workers={w}"]
    commands["tshark"] = tshark
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    outputs: dict[str, set[str]] = {name: set() for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            wall, rss, out = run(cmd)
            results[name].append((wall, rss))
            outputs[name].add(out)
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
    tshark_out = outputs["tshark"]
    for name in commands:
        if name != "tshark":
            summary[name]["same_figures_as_tshark"] = (
                len(tshark_out) == 1 and outputs[name] == tshark_out
            )
            summary[name]["ratio_to_tshark"] = round(
                summary["tshark"]["median_s"] / summary[name]["median_s"], 2
            )
    same = summary["harness"]["same_figures_as_tshark"]
    speedup = summary["harness"]["ratio_to_tshark"]
    report = {
        "capture": str(capture),
        "packets": packets,
        "file_mb": round(size / 1e6, 1),
        "runs": args.runs,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        **summary,
        "speedup_vs_tshark": speedup,
        "same_figures": same,
        "targets_met": {
            "3M packets/s": summary["harness"]["packets_per_s"] >= 3_000_000,
            "memory < 1.5x file": summary["harness"]["peak_rss_vs_file"] < 1.5,
            "figures equal to tshark's": same,
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
