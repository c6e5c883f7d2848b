"""The simulator's own pauses that delay its RTP: each garbage collection that held the
process for ``MIN_MS`` or more, logged with its generation (a stalled sender shows as a
gap in its stream; this line says whether the collector caused it)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_MS = 5.0


@dataclass
class GcWatch:
    log: Callable[[str], None]
    min_ms: float = MIN_MS
    _started: float | None = field(default=None, repr=False)

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        ms = (time.perf_counter() - self._started) * 1000
        self._started = None
        if ms >= self.min_ms:
            self.log(f"gc_pause generation {info.get('generation')} held the process "
                     f"{ms:.1f} ms ({info.get('collected')} objects collected, "
                     f"{len(gc.get_objects())} tracked)")
