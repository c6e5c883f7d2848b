"""``harness calls CAPTURE [--json]``: the calls of a capture, one row per Call-ID.

Exit status: 0 listed, 1 the capture cannot be used (unreadable, no SIP), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from harness.cli.common import add_command, add_role_options, fail, roles_from

HELP = "list the calls of a capture: Call-ID, hosts, times, INVITE result, counts"
DESCRIPTION = (
    "List the SIP calls (Call-IDs) of a pcap/pcapng capture with their hosts, "
    "first and last message, INVITE outcome, message count and RTP packets."
)
EPILOG = """\
columns: Call-ID; the hosts the call's messages went between (named by role); first and
last message (seconds from the capture's first packet); INVITE: the final status of each
initial INVITE up to the first 2xx (e.g. 401>200), then the number of re-INVITEs; the SIP
message count; the RTP packets of the streams the call's SDP set up.

examples:
  harness calls reports/pcaps/test_outbound.pcap
  harness calls call.pcapng --json | jq '.calls[] | {call_id, invite_result, rtp_packets}'
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "calls", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_role_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.capture import CaptureError, open_capture
    from harness.media.find import rtp_streams
    from harness.report.calls import calls_table, summarise_calls

    prog = "harness calls"
    try:
        roles = roles_from(args)
    except ValueError as exc:
        return fail(prog, str(exc), 2)
    try:
        capture = open_capture(args.capture)
        messages = capture.sip_messages()
        streams = rtp_streams(capture) if messages else []
    except CaptureError as exc:
        return fail(prog, f"{args.capture}: {exc}")
    if not messages:
        return fail(prog, f"{args.capture}: no SIP messages in the capture "
                          f"({len(capture)} packets)")
    origin = float(capture.time[0])
    calls, loose = summarise_calls(messages, streams, roles, origin)
    if args.json:
        doc = {
            "capture": str(args.capture),
            "origin": origin,
            "calls": [c.to_dict() for c in calls],
            "rtp_without_sdp": [s.to_dict() for s in loose],
            "warnings": list(capture.warnings),
        }
        print(json.dumps(doc, indent=2))
    else:
        print(calls_table(calls, loose))
        for warning in capture.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0
