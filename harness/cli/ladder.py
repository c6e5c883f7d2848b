"""``harness ladder CAPTURE -o FILE.svg|FILE.html``: the SIP ladder diagram of a capture.

Exit status: 0 written, 1 the capture cannot be used (unreadable, no SIP) or the file
cannot be written, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

EPILOG = """\
hosts are named by role: by default the topology's host numbers on HARNESS_NET_PREFIX
(default 192.168.100): .10 Asterisk, .20 Mediation Server, .40 Softphone; --role adds or
overrides names (repeatable); --no-topology-roles leaves unnamed hosts as addresses.

examples:
  harness ladder reports/pcaps/test_outbound.pcap -o outbound.html
  harness ladder call.pcapng -o call.svg --role 10.0.0.5=Skype --role 10.0.0.6=XMPP
"""


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Usage errors as one line on stderr (exit 2) instead of the usage block."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: {message} (see {parser.prog} --help)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


def add_role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role", action="append", default=[], metavar="ADDR=NAME",
        help="name a host (e.g. 192.168.100.10=Asterisk); repeatable",
    )
    parser.add_argument(
        "--no-topology-roles", action="store_true",
        help="do not name the topology's .10/.20/.40 hosts by default",
    )


def roles_from(args: argparse.Namespace) -> dict[str, str]:
    """The address -> name mapping of --role and the topology default; ValueError if bad."""
    from harness.report.ladder import DEFAULT_NET_PREFIX, parse_role, topology_roles

    roles: dict[str, str] = {}
    if not args.no_topology_roles:
        roles.update(topology_roles(os.environ.get("HARNESS_NET_PREFIX") or DEFAULT_NET_PREFIX))
    for text in args.role:
        addr, name = parse_role(text)
        roles[addr] = name
    return roles


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ladder",
        help="draw the SIP ladder diagram of a capture (SVG or interactive HTML)",
        description="Draw the SIP ladder (sequence) diagram of a pcap/pcapng capture: one "
        "column per host, one arrow per SIP message with its time and SDP direction, RTP "
        "streams as bands with packet counts, hold windows shaded.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one_line_errors(parser)
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="FILE.svg (standalone SVG) or FILE.html (SVG with message details)")
    add_role_options(parser)
    parser.add_argument("--call", metavar="TEXT",
                        help="only the calls whose Call-ID contains TEXT (and their RTP)")
    parser.add_argument("--title", help="title of the diagram (default: the capture's name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.capture import CaptureError
    from harness.report.ladder import LadderError, ladder_of_capture, write_ladder

    prog = "harness ladder"
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in (".svg", ".html", ".htm"):
        print(f"{prog}: -o wants a .svg or .html file, not {args.output!r}", file=sys.stderr)
        return 2
    try:
        roles = roles_from(args)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        ladder = ladder_of_capture(args.capture, roles, call=args.call, title=args.title)
    except (CaptureError, LadderError) as exc:
        print(f"{prog}: {args.capture}: {_strip(str(exc), args.capture)}", file=sys.stderr)
        return 1
    try:
        path = write_ladder(ladder, args.output)
    except OSError as exc:
        print(f"{prog}: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    hosts = ", ".join(ladder.name(h) for h in ladder.hosts)
    print(f"wrote {path}: {len(ladder.arrows)} SIP messages, {len(ladder.bands)} RTP streams, "
          f"hosts {hosts}")
    return 0


def _strip(message: str, path: str) -> str:
    """Messages that already start with the path do not repeat it."""
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
