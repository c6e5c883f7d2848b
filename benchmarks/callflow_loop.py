"""The callflow suite run N times in a row, per softphone, with pass rates per test.

Flakiness control (a script, not part of `make test`): the topology comes up on the first
run and is kept for the others (--keep-topology), then taken down. Each run writes its
JUnit file; every failure's pcap stays under reports/loop/<softphone>/run-<n>/.

    .venv/bin/python benchmarks/callflow_loop.py [--runs 10] [--softphone sipp baresip]
        [--gateway asterisk22-pjsip] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from harness.report.outcomes import outcomes

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ROOT / ".venv" / "bin" / "pytest"


def loop(softphone: str, gateway: str, runs: int) -> dict[str, object]:
    out = ROOT / "reports" / "loop" / softphone
    rates: dict[str, list[str]] = defaultdict(list)
    seconds: list[float] = []
    for n in range(1, runs + 1):
        run_dir = out / f"run-{n}"
        keep = ["--keep-topology"] if n < runs else []
        started = time.monotonic()
        # bounded: a hung run is cut after 15 minutes
        subprocess.run(
            [str(PYTEST), "-m", "callflow", "-p", "no:cacheprovider", "-q",
             "--softphone", softphone, "--gateway", gateway, "--reports-dir", str(run_dir),
             "--junitxml", str(run_dir / "junit.xml"), "-o", "addopts=", *keep],
            cwd=ROOT, timeout=900, check=False, stdout=subprocess.DEVNULL)
        seconds.append(time.monotonic() - started)
        results = outcomes(run_dir / "junit.xml")
        for test, result in results.items():
            rates[test].append(result)
        failed = [t for t, r in results.items() if r in ("failed", "error")]
        print(f"{softphone} run {n}/{runs}: {seconds[-1]:.0f} s, failed: {failed or 'none'}",
              flush=True)
    table = {test: {"runs": len(r), "passed": r.count("passed") + r.count("xfailed"),
                    "failed": r.count("failed") + r.count("error")}
             for test, r in sorted(rates.items())}
    return {"softphone": softphone, "gateway": gateway, "runs": runs,
            "median_run_s": sorted(seconds)[len(seconds) // 2], "tests": table}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, choices=range(1, 51),
                        metavar="N (1-50)")
    parser.add_argument("--softphone", nargs="+", default=["sipp", "baresip"],
                        choices=["sipp", "baresip"])
    parser.add_argument("--gateway", default="asterisk22-pjsip")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = [loop(phone, args.gateway, args.runs) for phone in args.softphone]
    for result in results:
        print(f"\n{result['softphone']} on {result['gateway']}: {result['runs']} runs, "
              f"median {result['median_run_s']:.0f} s per run")
        for test, row in result["tests"].items():  # type: ignore[attr-defined]
            rate = 100 * row["passed"] / row["runs"]
            print(f"  {rate:5.1f}%  {row['passed']}/{row['runs']}  {test}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
