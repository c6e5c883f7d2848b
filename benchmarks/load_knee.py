"""The load knee on this machine (issue 12): `harness load --ramp` from --start calls/s up by
--by, --step-s seconds of calls per step, until fewer than 99% of a step's calls verify;
the knee is the last rate that held, in verified calls per second. Each step's run time
and verification time are printed side by side; with --repeat, the knee's median.

    .venv/bin/python benchmarks/load_knee.py [--start 2] [--by 2] [--steps 5] [--step-s 15]
        [--repeat 1] [--json OUT]

The topology is the one the HARNESS_* settings name (brought up if it is not, and taken
down again then). Bounded: at most 8 steps of at most 60 s of calls, at most 3 repeats
(the defaults: under 2 minutes of calls). A benchmark: it reports, it never fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from harness.load.plan import LoadPlan, PlanError
from harness.load.ramp import Ramp, ramp
from harness.load.records import LoadResult
from harness.load.run import run_load
from harness.topology.config import TopologyConfig
from harness.topology.topology import Topology

MAX_STEPS, MAX_STEP_S, MAX_REPEAT = 8, 60.0, 3


def one_ramp(topo: Topology, args: argparse.Namespace, n: int) -> Ramp:
    base = LoadPlan.make(rate=args.start, calls=max(10, int(args.start * args.step_s)),
                         duration_s=None, concurrency=None, talk_s=args.talk, hold=False,
                         label=f"knee{n}")

    def run(plan: LoadPlan) -> LoadResult:
        done = run_load(topo, plan, sys.stderr, folder="load-knee")
        return done.result

    return ramp(base, args.by, args.steps, args.step_s, run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=float, default=2.0, help="first rate, calls/s")
    parser.add_argument("--by", type=float, default=2.0, help="rate step, calls/s")
    parser.add_argument("--steps", type=int, default=5, help=f"at most {MAX_STEPS}")
    parser.add_argument("--step-s", type=float, default=15.0,
                        help=f"seconds of calls per step (at most {MAX_STEP_S:g})")
    parser.add_argument("--talk", type=float, default=2.0, help="seconds of talk per call")
    parser.add_argument("--repeat", type=int, default=1, help=f"ramps (at most {MAX_REPEAT})")
    parser.add_argument("--json", type=Path, help="write the steps' figures")
    args = parser.parse_args()
    if not (1 <= args.steps <= MAX_STEPS and 1 <= args.step_s <= MAX_STEP_S
            and 1 <= args.repeat <= MAX_REPEAT):
        parser.error(f"bounded: --steps 1-{MAX_STEPS}, --step-s 1-{MAX_STEP_S:g}, "
                     f"--repeat 1-{MAX_REPEAT}")
    topo = Topology.create(TopologyConfig.from_env())
    started = not topo.compose.is_up()
    if started:
        topo.ensure_up()
    ramps: list[Ramp] = []
    try:
        for n in range(1, args.repeat + 1):
            ramps.append(one_ramp(topo, args, n))
            print(ramps[-1].text(), flush=True)
    except PlanError as exc:
        parser.error(str(exc))
    finally:
        if started:
            topo.down()
    knees = [r.knee.figures.verified_cps if r.knee else 0.0 for r in ramps]
    rows = [{"ramp": n, "rate": s.rate, "attempted": s.figures.attempted,
             "verified": s.figures.verified, "achieved_cps": s.figures.achieved_cps,
             "verified_cps": s.figures.verified_cps, "run_s": s.figures.run_s,
             "verify_s": s.figures.verify_s, "held": s.held,
             "capture_dropped": s.figures.capture_dropped,
             "loss_only_while_dropping": s.figures.loss_only_while_dropping}
            for n, r in enumerate(ramps, 1) for s in r.steps]
    print(f"\nknee (median of {len(knees)}): {statistics.median(knees):.2f} verified calls/s")
    for row in rows:
        print(f"  ramp {row['ramp']} {row['rate']:5.1f}/s: run {row['run_s']:5.1f} s, "
              f"verification {row['verify_s']:4.1f} s "
              f"({row['verify_s'] / row['run_s']:.2f}x), {row['verified']}/{row['attempted']}"
              f" verified; tcpdump dropped {row['capture_dropped']} packets, "
              f"{row['loss_only_while_dropping']} calls failed on RTP loss only")
    if args.json:
        args.json.write_text(json.dumps({"knees": knees, "steps": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
