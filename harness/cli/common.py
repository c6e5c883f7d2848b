"""What the subcommands share: their parser set-up, the ``--role`` options, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from harness.roles import DEFAULT_NET_PREFIX, Roles, role_names


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Usage errors as one line on stderr (exit 2) instead of the usage block."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: {message} (see {parser.prog} --help)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


def add_command(
    sub: Any, name: str, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand's parser (``sub``: the subparsers action), with its epilog kept as
    written and usage errors in one line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return one_line_errors(parser)


def add_role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role", action="append", default=[], metavar="ADDR=NAME",
        help="name a host (e.g. 192.168.100.10=Asterisk); repeatable",
    )
    parser.add_argument(
        "--no-topology-roles", action="store_true",
        help="do not name the topology's .10/.20/.40 hosts by default",
    )


def roles_from(args: argparse.Namespace) -> Roles:
    """The hosts named by --role and the topology's default (its host numbers on
    HARNESS_NET_PREFIX); ValueError for a malformed --role."""
    from harness.report.ladder import parse_role

    names: dict[str, str] = {}
    if not args.no_topology_roles:
        names.update(role_names(os.environ.get("HARNESS_NET_PREFIX") or DEFAULT_NET_PREFIX))
    for text in args.role:
        addr, name = parse_role(text)
        names[addr] = name
    return Roles(names)


def fail(prog: str, message: str, status: int = 1) -> int:
    """One line on stderr; the exit status (1: the input cannot be used, 2: usage)."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status
