"""The ``harness`` command: one subcommand a module, each with ``register(subparsers)``.

A subcommand module sets ``func`` on its parser; ``func(args) -> int`` returns the exit
code. Usage errors exit 2 (argparse's convention); no subcommand ever lets a traceback out.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# Imported lazily, only the one asked for, so that `harness sip-lint` does not pay for
# numpy or docker: name -> (module, one-line help for the overview).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sip-lint": ("harness.cli.sip_lint", "check SIP messages (one per file) for validity"),
    "rtp-stats": ("harness.cli.rtp_stats", "RTP stream figures of a capture, as Wireshark's"),
    "dtmf": ("harness.cli.dtmf", "RFC 4733 DTMF events of a capture and their rule breaks"),
    "topology": ("harness.cli.topology", "bring the compose topology up or down, show its state"),
    "ladder": ("harness.cli.ladder", "draw the SIP ladder diagram of a capture (SVG or HTML)"),
    "check": (
        "harness.cli.check",
        "check the calls of a capture from your own deployment against the seed's flows",
    ),
    "calls": (
        "harness.cli.calls",
        "list the calls of a capture: Call-ID, hosts, INVITE result, RTP",
    ),
    "load": ("harness.cli.load", "place calls through the gateway at a rate, verify every one"),
    "report": (
        "harness.cli.report",
        "build the Allure HTML report offline (after `npm ci`); --serve",
    ),
    "merge": (
        "harness.cli.merge",
        "merge CI shards' report folders: one junit.xml, one Allure result set, their pcaps",
    ),
    "failures": (
        "harness.cli.failures",
        "list the failed tests of JUnit files with their first failing step and pcap",
    ),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (subparsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="SIP interoperability harness: lint SIP messages, analyse captures, "
        "drive the Asterisk/Lync/softphone topology.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in SUBCOMMANDS.items():
        if name != only:
            # Listed in the overview without importing its module.
            sub.add_parser(name, help=summary)
            continue
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(wanted if wanted in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
