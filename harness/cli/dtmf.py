"""``harness dtmf``: RFC 4733 telephone events of a capture and the rules they break.

Exit status: 0 events printed (also when some break rules; add --strict to get 1 then),
1 the file is not a usable capture (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from harness.cli.capture_input import add_capture_argument, add_heuristic_options
from harness.cli.common import add_command
from harness.media.find import rtp_streams

EPILOG = """\
events: per RTP stream, the packets of the telephone-event payload type (from a=rtpmap;
without SDP, payload types 100 and 101 as tshark decodes them) grouped into events.
rules: marker bit on the first packet, constant timestamp within an event, duration
never decreasing, three end packets, no overlap with the previous event (RFC 4733 2.5.1).

examples:
  harness dtmf /usr/share/sip-tester/dtmf_2833_1.pcap
  harness dtmf --json --strict reports/call.pcapng
"""


HELP = "RFC 4733 DTMF events of a capture, with the rules each one breaks"
DESCRIPTION = (
    "List the telephone events (digit, start, duration, volume, end packets)\n"
    "of every RTP stream in a pcap/pcapng file and check them against RFC 4733."
)


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "dtmf", HELP, DESCRIPTION, EPILOG)
    add_capture_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of events")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a rule is broken")
    add_heuristic_options(parser, "also look in RTP found without signalling")
    parser.set_defaults(func=run, heuristic=None)


def run(args: argparse.Namespace) -> int:
    from harness.capture import open_capture
    from harness.cli.capture_input import analyse, warn

    def work() -> tuple[Any, list[Any]]:
        cap = open_capture(args.capture)
        return cap, [(s, s.dtmf_events()) for s in rtp_streams(cap, heuristic=args.heuristic)]

    result = analyse("harness dtmf", args.capture, work)
    if result is None:
        return 1
    cap, found = result
    warn("harness dtmf", args.capture, cap)
    start_ns = int(cap.ts_ns[0]) if len(cap) else 0
    items = []
    for stream, events in found:
        for ev in events:
            d = ev.to_dict()
            d.update(
                src=stream.src, src_port=stream.src_port, dst=stream.dst, dst_port=stream.dst_port
            )
            d["start_rel"] = round(ev.start_time - start_ns / 1e9, 6)
            items.append(d)
    if args.json:
        json.dump(items, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_table(items))
    broken = any(d["violations"] for d in items)
    return 1 if (args.strict and broken) else 0


def _table(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no telephone events\n"
    lines = []
    for d in items:
        lines.append(
            f"{d['src']}:{d['src_port']} -> {d['dst']}:{d['dst_port']} {d['ssrc']}"
            f"  digit {d['digit']:<5} at {d['start_rel']:.3f} s (frame {d['start_frame']})"
            f"  {d['duration_ms']:.1f} ms  volume -{d['volume']} dBm0"
            f"  {d['packets']} packets, {d['end_packets']} end"
            + ("  OK" if not d["violations"] else "")
        )
        lines.extend(f"    ! {v}" for v in d["violations"])
    return "\n".join(lines) + "\n"
