"""The callflow suite's wall time serially and at pytest -n 1, 2 and 4 (issue 12), each
from a cold start (topologies up, calls, topologies down), medians of --runs, with every
run's verdicts (test outcomes from its junit.xml) compared against the first serial run.

    .venv/bin/python benchmarks/suite_parallel.py [--workers serial 1 2 4] [--runs 3]
        [--marker callflow] [--json OUT] [--keep DIR]

It is a benchmark: it reports, it never fails. Images must exist (`make setup`). Each mode
uses its own compose projects (sipharness-bench, sipharness-bench-gwK on 192.168.150+ and
ports 32000+) so a topology of yours on the defaults is left alone. As on a developer's
machine, bytecode is cached (one collection first) and each run finds the call durations of
the runs before it in the benchmark's own pytest cache (workers take the longest tests
first); the first mode of the first run has none.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.report.outcomes import outcomes

ROOT = Path(__file__).resolve().parent.parent
ISOLATION = {
    "HARNESS_PROJECT": "sipharness-bench",
    "HARNESS_NET_PREFIX": "192.168.149",
    "HARNESS_WORKER_NET": "192.168.150",
    "HARNESS_WORKER_PORTS": "32000",
    "HARNESS_MEDIATION_PORT": "31868",
    "HARNESS_CAPTURE_PORT": "31890",
    "HARNESS_SKYPE_PORT": "31870",
    "HARNESS_XMPP_PORT": "31822",
    "HARNESS_AMI_PORT": "31838",
    "HARNESS_PHONE_PORT": "31840",
}


def environment() -> dict[str, str]:
    """The runs' environment: the isolation above, and Python's bytecode cached as on a
    developer's machine (PYTHONDONTWRITEBYTECODE would make every worker compile and
    rewrite every test module again; `make test` unsets it too)."""
    env = {**os.environ, **ISOLATION}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(marker: str, cache: Path) -> None:
    """One collection before the timed runs: the bytecode every run then finds."""
    subprocess.run([sys.executable, "-m", "pytest", "-m", marker, "--collect-only", "-q",
                    "-o", f"cache_dir={cache}"], cwd=ROOT, env=environment(),
                   capture_output=True, text=True, timeout=600, check=False)


def run_suite(mode: str, marker: str, reports: Path,
              cache: Path) -> tuple[float, int, dict[str, str]]:
    workers = [] if mode == "serial" else ["-n", mode]
    # the benchmark's own pytest cache: the call durations by which the workers take the
    # longest tests first (harness/topology/schedule.py) come from its earlier runs
    cmd = [sys.executable, "-m", "pytest", "-m", marker, *workers, "-q", "-o",
           f"cache_dir={cache}", f"--reports-dir={reports}", f"--junitxml={reports}/junit.xml",
           f"--alluredir={reports}/allure-results"]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=1800, check=False)
    wall = time.monotonic() - start
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "output.txt").write_text(done.stdout + done.stderr)
    return wall, done.returncode, outcomes(reports / "junit.xml")


@dataclass
class Mode:
    walls: list[float] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    # per run that differed from the serial baseline: test -> [serial outcome, this one]
    differences: list[dict[str, list[str | None]]] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", nargs="+", default=["serial", "1", "2", "4"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--marker", default="callflow")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each run's reports (junit.xml, pcaps, the workers' Asterisk "
                             "logs, pytest's output.txt) under DIR/<mode>-<run>")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10:
        parser.error("--runs is 1 to 10")
    baseline: dict[str, str] | None = None
    table: dict[str, Mode] = {}
    with tempfile.TemporaryDirectory(prefix="suite-parallel-") as scratch:
        tmp = str(args.keep.resolve()) if args.keep else scratch
        cache = Path(tmp) / "pytest-cache"
        warm_up(args.marker, cache)
        for run in range(args.runs):
            for mode in args.workers:  # alternating modes: drift hits each alike
                reports = Path(tmp) / f"{mode}-{run}"
                wall, code, seen = run_suite(mode, args.marker, reports, cache)
                if baseline is None and mode == "serial":
                    baseline = seen
                row = table.setdefault(mode, Mode())
                row.walls.append(round(wall, 1))
                row.exits.append(code)
                if baseline is not None and seen != baseline:
                    diff = sorted(k for k in set(seen) | set(baseline)
                                  if seen.get(k) != baseline.get(k))
                    row.differences.append({k: [baseline.get(k), seen.get(k)] for k in diff})
                counts = {o: list(seen.values()).count(o) for o in sorted(set(seen.values()))}
                print(f"run {run + 1} {mode:>6}: {wall:6.1f} s, exit {code}, {counts}",
                      flush=True)
    serial = table.get("serial")
    print(f"\n{'mode':>6} {'median s':>9} {'speed-up':>9}  exits  verdicts as serial")
    result: dict[str, object] = {}
    for mode, row in table.items():
        speedup = round(serial.median() / row.median(), 2) if serial else None
        same = "yes" if not row.differences else f"no ({len(row.differences)} runs differ)"
        shown = f"{speedup:.2f}x" if speedup else "-"
        print(f"{mode:>6} {row.median():9.1f} {shown:>9}  {row.exits}  {same}")
        result[mode] = {**asdict(row), "median_s": row.median(), "speedup": speedup}
    if args.json:
        args.json.write_text(json.dumps({"marker": args.marker, "runs": args.runs,
                                         "cpus": os.cpu_count(), "modes": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
