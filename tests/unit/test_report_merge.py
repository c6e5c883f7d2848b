"""`harness merge`: CI shards' report folders as one (junit totals recomputed, each shard's
suite under its folder's name, Allure results and pcaps copied), bad shards in one line."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report.merge import MergeError, merge_reports

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{e}"
failures="{f}" skipped="{s}" tests="{t}" time="{time}"><testcase
classname="tests.callflow.test_lync"
name="test_outbound" time="1.0"/></testsuite></testsuites>"""


def _shard(root: Path, name: str, tests: int, failures: int, skipped: int) -> Path:
    folder = root / name
    (folder / "allure-results").mkdir(parents=True)
    (folder / "pcaps").mkdir()
    (folder / "junit.xml").write_text(
        JUNIT.format(e=0, f=failures, s=skipped, t=tests, time=f"{tests * 1.5}"))
    (folder / "allure-results" / f"{name}-result.json").write_text("{}")
    (folder / "pcaps" / f"{name}.pcap").write_bytes(b"")
    return folder


def test_shards_become_one_report(tmp_path: Path) -> None:
    a = _shard(tmp_path, "callflow-asterisk22-pjsip", 23, 1, 2)
    b = _shard(tmp_path, "callflow-asterisk16-chansip", 23, 0, 7)
    out = tmp_path / "merged"
    summary = merge_reports(out, [a, b])
    root = ET.parse(out / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("46", "1", "9")
    assert float(root.get("time", 0)) == pytest.approx(69.0)
    assert [s.get("name") for s in root.iter("testsuite")] == [a.name, b.name]
    assert sorted(p.name for p in (out / "allure-results").iterdir()) == sorted(
        [f"{a.name}-result.json", f"{b.name}-result.json"])
    assert summary.copied["pcaps"] == 2
    assert summary.line().startswith("2 shards: 46 tests, 1 failures")


@pytest.mark.parametrize(("make", "words"), [
    (lambda root: [root / "nope"], "no such report folder"),
    (lambda root: [_shard(root, "x", 1, 0, 0), _shard(root / "y", "x", 1, 0, 0)],
     "two shards are named 'x'"),
    (lambda root: [root], "no shard holds a junit.xml"),
])
def test_a_shard_that_cannot_be_merged_is_named(tmp_path: Path, make, words: str) -> None:
    with pytest.raises(MergeError, match=words):
        merge_reports(tmp_path / "out", make(tmp_path))


def test_a_broken_junit_is_one_line_from_the_cli(tmp_path: Path) -> None:
    shard = tmp_path / "security"
    shard.mkdir()
    (shard / "junit.xml").write_text("<testsuites><testsuite")
    done = subprocess.run([sys.executable, "-m", "harness", "merge", str(tmp_path / "out"),
                           str(shard)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not a readable JUnit XML file" in done.stderr
