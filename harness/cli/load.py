"""``harness load``: calls through the gateway at a rate, every one verified from the
capture; ``harness load merge``: several generators' results as one.

Exit status: 0 every call verified, 1 a call failed (or the topology could not run the
load; one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from harness.cli.common import add_command, one_line_errors

EPILOG = """\
Each call: SIPp (the softphone, extension 1000) dials +14255550150; Asterisk passes it
over the TCP trunk to the Mediation Server simulator, which answers (183, 180, 200), holds
and resumes with --hold, and hangs up after --talk seconds. tcpdump in Asterisk's namespace
captures both legs; each softphone Call-ID is joined to its trunk Call-ID (by the RTP SSRC
the gateway relays, else in time order) and checked: set-up steps, ringing, answer, no 200
sent again after the ACK, hold, BYE, headers, RTP both ways on both legs. Figures: post-dial
delay p50/p95/p99, RTP loss and jitter, an E-model MOS per call (G.107, G.711), achieved
calls/s, and how long verification took beside the run. Failed calls are listed by their
first failing step and leg, each with its own pcap.

faults (the Mediation Server simulator, during the run):
  --fault drop-acks=0.05        5% of the answered calls ignore their ACK (the 200 OK is
                                sent again; BYE after 64*T1)
  --fault stop-answering=3[@T]  no answer to INVITEs for 3 s, from T s into the run
                                (default: a quarter of the way through placing the calls)

examples (the topology up: `harness topology up`):
  harness load --calls 20 --rate 2
  harness load --duration 60 --rate 3 --hold --json out.json --html out.html
  harness load --calls 100 --rate 4 --fault drop-acks=0.05
  harness load --ramp --rate 1 --ramp-by 1 --ramp-steps 5
  harness load merge gen1.json gen2.json --json all.json --html all.html
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(sub, "load", "place calls at a rate and verify every one",
                         "Load through the gateway with a verdict for each call.", EPILOG)
    how = parser.add_argument_group("how much (one of them; always bounded)")
    how.add_argument("--calls", type=int, help="number of calls (at most 5000)")
    how.add_argument("--duration", type=float, metavar="S",
                     help="seconds of calls at --rate (at most 600)")
    parser.add_argument("--rate", type=float, default=2.0, help="calls per second (default 2)")
    parser.add_argument("--concurrency", type=int,
                        help="simultaneous calls at most (default: sized from rate and talk)")
    parser.add_argument("--talk", type=float, default=2.0, metavar="S",
                        help="seconds from the answer to Lync's BYE (default 2)")
    parser.add_argument("--hold", action="store_true",
                        help="Lync holds and resumes each call (seed steps 8-9)")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND=VALUE",
                        help="drop-acks=FRACTION or stop-answering=SECONDS[@START]")
    parser.add_argument("--ramp", action="store_true",
                        help="raise the rate from --rate until fewer than 99%% verify")
    parser.add_argument("--ramp-by", type=float, default=1.0, help="rate step (default 1)")
    parser.add_argument("--ramp-steps", type=int, default=5, help="steps at most (1-10)")
    parser.add_argument("--ramp-step-s", type=float, default=15.0,
                        help="seconds of calls per step (default 15)")
    parser.add_argument("--label", default="load", help="name of the run's files")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result (per call)")
    parser.add_argument("--html", type=Path, metavar="OUT", help="write the HTML page")
    parser.add_argument("--no-pcaps", action="store_true",
                        help="do not cut each failed call's packets into its own pcap")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="load_action", metavar="merge")
    merge = one_line_errors(actions.add_parser(
        "merge", help="combine several generators' --json results",
        description="Combine load results (from `harness load --json`) of several "
                    "generators: the figures are recomputed from all the call records."))
    merge.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    merge.add_argument("--json", type=Path, metavar="OUT", dest="merge_json")
    merge.add_argument("--html", type=Path, metavar="OUT", dest="merge_html")
    merge.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from harness.load import html
    from harness.load.figures import report_text, write_result
    from harness.load.merge import merge
    from harness.load.records import ResultError

    try:
        result = merge(args.results)
    except ResultError as exc:
        print(f"harness load merge: {exc}", file=sys.stderr)
        return 1
    print(report_text(result))
    if args.merge_json:
        print(f"json: {write_result(result, args.merge_json)}")
    if args.merge_html:
        print(f"html: {html.write(result, args.merge_html, 'harness load merge')}")
    return 0 if all(c.verified for c in result.calls) else 1


def run(args: argparse.Namespace) -> int:
    from harness.load.plan import Fault, LoadPlan, PlanError

    try:
        faults = tuple(Fault.parse(f) for f in args.fault)
        calls = args.calls
        if args.ramp:
            from harness.load.ramp import MAX_STEP_S, rates

            if args.calls is not None or args.duration is not None:
                raise PlanError("--ramp sizes each step with --ramp-step-s: no --calls or "
                                "--duration")
            if not 1 <= args.ramp_step_s <= MAX_STEP_S:
                raise PlanError(f"--ramp-step-s {args.ramp_step_s:g}: 1-{MAX_STEP_S:g} s")
            rates(args.rate, args.ramp_by, args.ramp_steps)
            calls = max(10, math.ceil(args.rate * args.ramp_step_s))
        plan = LoadPlan.make(rate=args.rate, calls=calls, duration_s=args.duration,
                             concurrency=args.concurrency, talk_s=args.talk, hold=args.hold,
                             faults=faults, label=args.label)
    except PlanError as exc:
        print(f"harness load: {exc} (see harness load --help)", file=sys.stderr)
        return 2
    return _execute(args, plan)


def _execute(args: argparse.Namespace, plan: object) -> int:
    from harness.capture import CaptureError
    from harness.load import html
    from harness.load.figures import report_text, write_result
    from harness.load.plan import LoadPlan
    from harness.load.ramp import ramp
    from harness.load.records import LoadResult
    from harness.load.run import run_load
    from harness.peers.client import ControlApiError
    from harness.topology.config import ConfigError, TopologyConfig
    from harness.topology.errors import TopologyError
    from harness.topology.topology import Topology

    assert isinstance(plan, LoadPlan)
    try:
        topo = Topology.create(TopologyConfig.from_env())
        if not topo.compose.is_up():
            print("harness load: the topology is not up: `harness topology up` first "
                  "(with the same HARNESS_* settings)", file=sys.stderr)
            return 1

        def one(p: LoadPlan) -> LoadResult:
            done = run_load(topo, p, sys.stderr, cut_failed=not args.no_pcaps)
            print(f"--- {p.label}: {p.calls} calls at {p.rate:g}/s, concurrency "
                  f"{p.concurrency}; capture {done.pcap}")
            print(report_text(done.result), flush=True)
            return done.result

        if args.ramp:
            steps = ramp(plan, args.ramp_by, args.ramp_steps, args.ramp_step_s, one)
            print(steps.text())
            result = LoadResult([r for s in steps.steps for r in s.result.runs],
                                [c for s in steps.steps for c in s.result.calls])
            ok = steps.knee is not None
        else:
            result = one(plan)
            ok = all(c.verified for c in result.calls) and bool(result.calls)
    except (TopologyError, ConfigError, ControlApiError, OSError) as exc:
        print(f"harness load: {exc}", file=sys.stderr)
        return 1
    except CaptureError as exc:
        print(f"harness load: the run's capture cannot be read: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(f"json: {write_result(result, args.json)}")
    if args.html:
        print(f"html: {html.write(result, args.html)}")
    return 0 if ok else 1
