"""pytest -n N: the longest tests first.

pytest-xdist's load scheduling hands tests to the workers in collection order, so a call
of 10 s collected late keeps one worker busy after the others are done (measured at -n 4:
the workers finished 5.2 s apart). So every run keeps its tests' call durations in
pytest's cache, and the next run's workers collect the tests longest first: the classic
longest-processing-time order, which leaves the short tests to even out the end. Its first
hand-out sends each worker a chunk of consecutive tests (pytest-xdist 3.8: at -n 4 and 33
tests, two each), so the longest are dealt into those chunks as cards are, the first round
forward and the next back: one worker had been sent the two longest (11.4 s and 10.1 s)
and finished 3.4 s after the others.

Tests the cache does not know come first (they may be long); a test with a module-,
class- or package-scoped fixture keeps its place (moving it would set that fixture up
again). Every worker reads the same cache before any test runs and only the controller
writes it, at the end, so the workers' collections stay identical, as pytest-xdist
requires. Without a cache (`-p no:cacheprovider`, a first run) nothing moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import pytest

CACHE_KEY = "sip-harness/durations"
# scopes whose fixtures a reordered test would set up again
HELD = frozenset({"module", "class", "package"})


class HasNodeId(Protocol):
    @property
    def nodeid(self) -> str: ...


T = TypeVar("T", bound=HasNodeId)


def longest_first(tests: Sequence[T], seconds: Mapping[str, float],
                  held: frozenset[str] = frozenset()) -> list[T]:
    """The tests that may move ordered unknown first, then by their last call's duration,
    longest first (ties keep collection order); the held ones (node ids in ``held``)
    follow in their own order."""
    movable = [t for t in tests if t.nodeid not in held]
    kept = [t for t in tests if t.nodeid in held]
    ordered = sorted(movable, key=lambda t: -seconds.get(t.nodeid, float("inf")))
    return ordered + kept


def dealt(ordered: Sequence[T], workers: int, chunk: int) -> list[T]:
    """``ordered`` (longest first) laid out for a first hand-out of ``chunk`` consecutive
    tests to each of ``workers``: the first workers*chunk tests dealt to the chunks in
    snake order (longest to the first worker, the next to the second..., then back from
    the last), the rest after them as they were."""
    head, rest = list(ordered[:workers * chunk]), list(ordered[workers * chunk:])
    hands: list[list[T]] = [[] for _ in range(workers)]
    for i, test in enumerate(head):
        turn, seat = divmod(i, workers)
        hands[seat if turn % 2 == 0 else workers - 1 - seat].append(test)
    return [test for hand in hands for test in hand] + rest


def first_chunk(tests: int, workers: int) -> int:
    """How many consecutive tests pytest-xdist's load scheduling first sends each worker
    (xdist/scheduler/load.py, 3.8: a quarter of each one's share, at least 2)."""
    return max(tests // max(workers, 1) // 4, 2)


def dist_mode(argv: Sequence[str]) -> str:
    """The scheduling the controller's command line asks (a worker's own --dist option
    always reads "no"); pytest-xdist's default with -n is load."""
    for i, arg in enumerate(argv):
        if arg.startswith("--dist="):
            return arg.split("=", 1)[1]
        if arg == "--dist" and i + 1 < len(argv):
            return str(argv[i + 1])
    return "load"


def held_ids(items: Sequence[pytest.Item]) -> frozenset[str]:
    """The items with a fixture of a scope wider than the test and narrower than the
    session."""
    held = set()
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d.scope in HELD for chain in defs for d in chain):
            held.add(item.nodeid)
    return frozenset(held)


@dataclass
class DurationLog:
    """The plugin that orders a worker's collection and, in the controller or a serial run,
    keeps each test's call duration for the next run."""

    seconds: dict[str, float] = field(default_factory=dict)

    @pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        cache = getattr(config, "cache", None)
        if cache is None or not hasattr(config, "workerinput"):
            return
        known = cache.get(CACHE_KEY, {})
        if not isinstance(known, dict) or not known:
            return
        held = held_ids(items)
        ordered = longest_first(items, known, held)
        workers = int(config.workerinput.get("workercount", 1))
        if dist_mode(config.workerinput.get("mainargv", ())) == "load" and not held:
            ordered = dealt(ordered, workers, first_chunk(len(items), workers))
        items[:] = ordered

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.seconds[report.nodeid] = round(report.duration, 2)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(session.config, "cache", None)
        if cache is None or hasattr(session.config, "workerinput") or not self.seconds:
            return
        known = cache.get(CACHE_KEY, {})
        merged = {**(known if isinstance(known, dict) else {}), **self.seconds}
        cache.set(CACHE_KEY, merged)
