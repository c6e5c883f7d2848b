"""Each test's outcome in a junit.xml, as the benchmarks compare runs by it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def outcomes(junit: Path) -> dict[str, str]:
    """Test id (classname::name) -> passed, failed, error, skipped or xfailed; empty when
    the run wrote no junit.xml."""
    found: dict[str, str] = {}
    if not junit.exists():
        return found
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            found[name] = "failed"
        elif case.find("error") is not None:
            found[name] = "error"
        elif (skipped := case.find("skipped")) is not None:
            found[name] = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            found[name] = "passed"
    return found
