"""``harness merge OUT SHARD...``: the reports of CI shards (one folder per runner, by
marker and gateway) as one folder: one junit.xml, one Allure result set, their pcaps.

Exit status: 0 merged (whatever the tests' outcomes), 1 a shard could not be merged (one
line on stderr naming it), 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import add_command, fail

HELP = "merge the report folders of CI shards into one (junit.xml, Allure results, pcaps)"
DESCRIPTION = (
    "Merge report folders written by separate pytest runs (CI shards by marker and gateway) "
    "into one: a junit.xml holding each shard's suite under the shard folder's name with "
    "totals recomputed, the Allure results of all (then `harness report --results "
    "OUT/allure-results`), and their pcaps, artifacts and SIPp logs."
)
EPILOG = """\
examples:
  harness merge reports/merged shards/callflow-asterisk22-pjsip shards/callflow-asterisk16-chansip
  harness report --results reports/merged/allure-results --out reports/merged/allure-report
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "merge", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("out", type=Path, metavar="OUT", help="the merged folder")
    parser.add_argument("shards", type=Path, nargs="+", metavar="SHARD",
                        help="a shard's report folder (its name labels its suite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.merge import MergeError, merge_reports

    try:
        summary = merge_reports(args.out, args.shards)
    except MergeError as exc:
        return fail("harness merge", str(exc))
    print(f"{args.out}: {summary.line()}")
    return 0
