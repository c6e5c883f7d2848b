"""pytest -n N hands the longest tests out first (harness/topology/schedule.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.topology.schedule import CACHE_KEY, dealt, dist_mode, first_chunk, longest_first


@dataclass(frozen=True)
class Node:
    nodeid: str


def test_unknown_first_then_longest_first_and_held_tests_keep_their_order() -> None:
    tests = [Node(n) for n in ("a", "b", "c", "d", "e", "f")]
    seconds = {"a": 1.0, "b": 9.0, "c": 1.0, "e": 3.0, "f": 20.0}
    ordered = longest_first(tests, seconds, held=frozenset({"f", "a"}))
    # d is unknown; a and c tie (collection order); f and a hold module fixtures
    assert [t.nodeid for t in ordered] == ["d", "b", "e", "c", "a", "f"]


def test_the_longest_are_dealt_into_the_first_chunks_forward_then_back() -> None:
    """pytest-xdist 3.8 first sends each worker `first_chunk` consecutive tests: at -n 4
    with the callflow suite's 33 tests, two each. Longest first as they were, worker 0
    would have been sent the two longest."""
    assert first_chunk(33, 4) == 2
    assert first_chunk(200, 4) == 12
    assert first_chunk(3, 4) == 2
    ranked = [Node(str(n)) for n in range(10)]  # "0" is the longest
    laid = [t.nodeid for t in dealt(ranked, workers=4, chunk=2)]
    # worker 0 gets the 1st and the 8th longest, worker 3 the 4th and the 5th
    assert laid == ["0", "7", "1", "6", "2", "5", "3", "4", "8", "9"]
    assert [t.nodeid for t in dealt(ranked, workers=1, chunk=2)] == [str(n) for n in range(10)]


TESTS = '''
import pytest

@pytest.fixture(scope="module")
def shared():
    return 1

@pytest.mark.parametrize("n", range(4))
def test_call(n):
    pass

def test_with_module_fixture(shared):
    pass
'''


def _pytest(folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist", *args],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_run_keeps_call_durations_and_the_next_workers_order_by_them(tmp_path: Path) -> None:
    (tmp_path / "test_calls.py").write_text(TESTS)
    cache = tmp_path / ".pytest_cache" / "v" / CACHE_KEY
    _pytest(tmp_path, "-q")
    call = [f"test_calls.py::test_call[{n}]" for n in range(4)]
    assert set(json.loads(cache.read_text())) == {*call, "test_calls.py::test_with_module_fixture"}

    # as if call 1 had lasted 9 s, call 2 4 s and call 0 1 s; call 3 is new
    cache.write_text(json.dumps({call[0]: 1.0, call[1]: 9.0, call[2]: 4.0,
                                 "test_calls.py::test_with_module_fixture": 30.0}))
    out = _pytest(tmp_path, "-n", "1", "-v")
    ran = re.findall(r"PASSED (test_calls.py::\S+)", out)
    assert ran == [call[3], call[1], call[2], call[0], "test_calls.py::test_with_module_fixture"]
    # the controller kept this run's durations for the next one
    assert set(json.loads(cache.read_text())) == {*call, "test_calls.py::test_with_module_fixture"}
    assert json.loads(cache.read_text())[call[1]] < 9.0


def test_a_serial_run_keeps_collection_order(tmp_path: Path) -> None:
    (tmp_path / "test_calls.py").write_text(TESTS)
    cache = tmp_path / ".pytest_cache" / "v" / CACHE_KEY
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"test_calls.py::test_call[3]": 9.0}))
    ran = re.findall(r"(test_calls.py::\S+) PASSED", _pytest(tmp_path, "-v"))
    assert ran[:4] == [f"test_calls.py::test_call[{n}]" for n in range(4)]


def test_the_two_longest_go_to_different_workers(tmp_path: Path) -> None:
    """At -n 2 the first hand-out is two consecutive tests each: longest first alone would
    send both long ones to one worker."""
    (tmp_path / "test_calls.py").write_text(TESTS)
    cache = tmp_path / ".pytest_cache" / "v" / CACHE_KEY
    cache.parent.mkdir(parents=True)
    call = [f"test_calls.py::test_call[{n}]" for n in range(4)]
    cache.write_text(json.dumps({call[0]: 9.0, call[1]: 8.0, call[2]: 1.0, call[3]: 1.0}))
    (tmp_path / "test_calls.py").write_text(TESTS.split("@pytest.fixture")[0] + '''
@pytest.mark.parametrize("n", range(4))
def test_call(n):
    pass
''')
    out = _pytest(tmp_path, "-n", "2", "-v")
    worker = dict((test, gw) for gw, test in
                  re.findall(r"\[(gw\d)\] \[\s*\d+%\] PASSED (test_calls.py::\S+)", out))
    assert set(worker) == set(call), out
    assert worker[call[0]] != worker[call[1]], out


def test_the_scheduling_is_read_from_the_controllers_command_line() -> None:
    assert dist_mode(["pytest", "-n", "4", "-m", "callflow"]) == "load"
    assert dist_mode(["pytest", "-n", "2", "--dist", "loadfile"]) == "loadfile"
    assert dist_mode(["pytest", "--dist=worksteal", "-n", "2"]) == "worksteal"
