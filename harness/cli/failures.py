"""``harness failures JUNIT...``: the failed tests of one or more runs with the lines that
say what broke (first failing step, check, pcap), for the end of a CI log.

Exit status: 0 printed (whatever the tests' outcomes), 1 a file could not be read (one line
on stderr naming it), 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import add_command, fail

HELP = "list the failed tests of JUnit files with their first failing step and pcap"
DESCRIPTION = (
    "Print, for each JUnit file, its failed and erroring tests with the lines of their "
    "messages that name what broke: the first failing step and check, the pcap, the error. "
    "`make test` prints this for its three runs at the end."
)
EPILOG = """\
examples:
  harness failures reports/junit.xml reports/asterisk16-chansip/junit.xml
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "failures", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("junits", type=Path, nargs="+", metavar="JUNIT",
                        help="a junit.xml written by pytest --junitxml")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.failures import digest
    from harness.report.merge import MergeError

    missing = [str(j) for j in args.junits if not j.is_file()]
    if missing:
        return fail("harness failures", f"no such file: {', '.join(missing)} (did the run "
                    "write it? pytest --junitxml)")
    try:
        lines = digest(args.junits)
    except MergeError as exc:
        return fail("harness failures", str(exc))
    print("\n".join(lines))
    return 0
