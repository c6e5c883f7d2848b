"""Several load generators' results as one: their call records put together and every
figure recomputed from them (percentiles over all calls, the achieved rate over the span
from the first call of any generator to the last), never their summaries averaged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.load.records import LoadResult, ResultError


def merge(paths: Sequence[Path]) -> LoadResult:
    if not paths:
        raise ResultError("name the result files to merge (harness load --json wrote them)")
    runs, calls = [], []
    for path in paths:
        result = LoadResult.read(path)
        runs += result.runs
        for call in result.calls:
            # which generator placed it: the run's host, and the file when hosts repeat
            if not call.generator:
                host = result.runs[0].generator if len(result.runs) == 1 else ""
                call.generator = f"{host}:{path.stem}" if host else path.stem
            calls.append(call)
    calls.sort(key=lambda c: c.start)
    return LoadResult(runs, calls)
