"""The failed tests of JUnit files, each with the lines of its message that say what broke:
a digest for the end of a long log (CI shows its tail), pointing at the run's reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.report.merge import suites_of

# The lines of a call flow's failure that name it: the first failing step and its checks,
# the pcap, pytest's exception line (harness.analysis.verdict's report).
_TELLING = re.compile(r"^(first failure|FAIL |pcap:|[\w.]+(Error|Failure|Exception):)")
# pytest's traceback lines start with "E" and the indentation it adds
_PREFIX = re.compile(r"^\s*(E\s+)?")
MAX_LINES = 8


@dataclass(frozen=True)
class Failure:
    test: str
    kind: str  # "failure" or "error"
    lines: tuple[str, ...]


def failures_of(junit: Path) -> list[Failure]:
    """Each failed or erroring test case of ``junit``, in file order."""
    out: list[Failure] = []
    for suite in suites_of(junit):
        for case in suite.iter("testcase"):
            for kind in ("failure", "error"):
                element = case.find(kind)
                if element is None:
                    continue
                text = "\n".join(filter(None, (element.get("message"), element.text)))
                bare = (_PREFIX.sub("", line).strip() for line in text.splitlines())
                telling = [line for line in bare if _TELLING.match(line)]
                lines = list(dict.fromkeys(telling))[:MAX_LINES] or text.splitlines()[:2]
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                out.append(Failure(name, kind, tuple(lines)))
    return out


def digest(junits: list[Path]) -> list[str]:
    """The lines to print: per file, its failed tests and their telling lines."""
    lines: list[str] = []
    for junit in junits:
        found = failures_of(junit)
        lines.append(f"{junit}: {len(found) or 'no'} failed test{'s' if len(found) != 1 else ''}")
        for f in found:
            lines.append(f"  {f.kind.upper()} {f.test}")
            lines += [f"    {line}" for line in f.lines]
    return lines
