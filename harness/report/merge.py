"""Reports of several runs (CI shards by marker and gateway, one runner each) merged into
one folder: one junit.xml with every shard's test suite and totals recomputed from them,
one Allure result set, and their pcaps, artifacts and SIPp logs.

Each shard's suite is named after its folder (e.g. ``callflow-asterisk16-chansip``): the same
test run on two gateways stays two results, not one overwritten by the other."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

COPIED = ("allure-results", "pcaps", "artifacts", "sipp")
TOTALS = ("tests", "failures", "errors", "skipped")


class MergeError(ValueError):
    """A shard that cannot be merged; the message names the file and the problem."""


@dataclass
class MergeSummary:
    shards: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)
    time_s: float = 0.0

    def line(self) -> str:
        t = self.totals
        files = ", ".join(f"{n} {what}" for what, n in self.copied.items() if n)
        return (f"{len(self.shards)} shards: {t.get('tests', 0)} tests, {t.get('failures', 0)} "
                f"failures, {t.get('errors', 0)} errors, {t.get('skipped', 0)} skipped"
                + (f"; copied {files}" if files else ""))


def suites_of(junit: Path) -> list[ET.Element]:
    """The <testsuite> elements of a junit.xml (pytest writes <testsuites><testsuite>)."""
    try:
        root = ET.parse(junit).getroot()
    except (ET.ParseError, OSError) as exc:
        raise MergeError(f"{junit}: not a readable JUnit XML file ({exc})") from None
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.iter("testsuite"))
    raise MergeError(f"{junit}: root element <{root.tag}> is neither <testsuites> nor "
                     "<testsuite>")


def merge_junit(shards: dict[str, Path]) -> tuple[ET.Element, dict[str, int], float]:
    """label -> junit.xml: one <testsuites> with each suite renamed to its shard's label."""
    merged = ET.Element("testsuites")
    totals = dict.fromkeys(TOTALS, 0)
    elapsed = 0.0
    for label, junit in shards.items():
        for suite in suites_of(junit):
            suite.set("name", label)
            for key in TOTALS:
                totals[key] += int(suite.get(key, "0") or 0)
            elapsed += float(suite.get("time", "0") or 0)
            merged.append(suite)
    for key, value in totals.items():
        merged.set(key, str(value))
    merged.set("time", f"{elapsed:.3f}")
    return merged, totals, elapsed


def merge_reports(out: Path, shards: list[Path]) -> MergeSummary:
    """Merges the shards' report folders into ``out`` (created; files of the same name from
    an earlier merge are replaced)."""
    if not shards:
        raise MergeError("name at least one shard's report folder")
    labels: dict[str, Path] = {}
    for shard in shards:
        if not shard.is_dir():
            raise MergeError(f"{shard}: no such report folder")
        if shard.resolve() == out.resolve():
            raise MergeError(f"{shard}: the output folder cannot also be a shard")
        if shard.name in labels:
            raise MergeError(f"two shards are named {shard.name!r}: shards are told apart by "
                             "their folder names")
        labels[shard.name] = shard
    junits = {label: folder / "junit.xml" for label, folder in labels.items()
              if (folder / "junit.xml").is_file()}
    if not junits:
        raise MergeError("no shard holds a junit.xml (run pytest with --junitxml)")
    summary = MergeSummary(shards=list(labels))
    root, summary.totals, summary.time_s = merge_junit(junits)
    out.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)
    for what in COPIED:
        count = 0
        for folder in labels.values():
            source = folder / what
            if not source.is_dir():
                continue
            for path in source.rglob("*"):
                if path.is_file():
                    target = out / what / path.relative_to(source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
                    count += 1
        summary.copied[what] = count
    return summary
