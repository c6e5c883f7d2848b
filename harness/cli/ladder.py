"""``harness ladder CAPTURE -o FILE.svg|FILE.html``: the SIP and XMPP ladder diagram of a
capture.

Exit status: 0 written, 1 the capture cannot be used (unreadable, neither SIP nor XMPP in
clear) or the file cannot be written, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from harness.cli.common import add_command, add_role_options, fail, roles_from

HELP = "draw the SIP and XMPP ladder diagram of a capture (SVG or interactive HTML)"
DESCRIPTION = (
    "Draw the ladder (sequence) diagram of a pcap/pcapng capture: one "
    "column per host, one arrow per SIP message with its time and SDP direction, one "
    "dashed arrow per XMPP stanza seen in clear on TCP 5222 (messages, presence, Jingle "
    "IQs), RTP streams as bands with packet counts, hold windows shaded."
)
EPILOG = """\
hosts are named by role: by default the topology's host numbers on HARNESS_NET_PREFIX
(default 192.168.100): .10 Asterisk, .20 Mediation Server, .40 Softphone, .50 XMPP; the
unnamed client of an XMPP connection is the Google Talk user; --role adds or overrides
names (repeatable); --no-topology-roles leaves unnamed hosts as addresses. XMPP in TLS is
not drawn: a note under the diagram says which streams were skipped.

examples:
  harness ladder reports/pcaps/test_outbound.pcap -o outbound.html
  harness ladder call.pcapng -o call.svg --role 10.0.0.5=Skype --role 10.0.0.6=XMPP
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "ladder", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="FILE.svg (standalone SVG) or FILE.html (SVG with message details)")
    add_role_options(parser)
    parser.add_argument("--call", metavar="TEXT",
                        help="only the calls whose Call-ID contains TEXT (and their RTP; no "
                             "XMPP)")
    parser.add_argument("--title", help="title of the diagram (default: the capture's name)")
    parser.add_argument("--no-xmpp", action="store_true",
                        help="leave out the XMPP stanzas (SIP and RTP only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.capture import CaptureError
    from harness.report.ladder import LadderError, ladder_of_capture, write_ladder

    prog = "harness ladder"
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in (".svg", ".html", ".htm"):
        return fail(prog, f"-o wants a .svg or .html file, not {args.output!r}", 2)
    try:
        roles = roles_from(args)
    except ValueError as exc:
        return fail(prog, str(exc), 2)
    try:
        ladder = ladder_of_capture(args.capture, roles, call=args.call, title=args.title,
                                   xmpp=not args.no_xmpp)
    except (CaptureError, LadderError) as exc:
        return fail(prog, f"{args.capture}: {exc}")
    try:
        path = write_ladder(ladder, args.output)
    except OSError as exc:
        return fail(prog, f"cannot write {args.output}: {exc.strerror or exc}")
    hosts = ", ".join(ladder.name(h) for h in ladder.hosts)
    xmpp = ""
    if ladder.xmpp or ladder.xmpp_notes:
        xmpp = f", {len(ladder.xmpp)} XMPP stanzas"
        if ladder.xmpp_notes:
            xmpp += f" ({len(ladder.xmpp_notes)} notes on XMPP not drawn)"
    print(f"wrote {path}: {len(ladder.arrows)} SIP messages{xmpp}, {len(ladder.bands)} RTP "
          f"streams, hosts {hosts}")
    return 0
