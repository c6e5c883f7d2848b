"""pytest -n N: no worker places a call while another worker's topology is still coming up.

Bringing a topology up (compose, Asterisk loading its modules, the simulators starting) is
a burst of CPU; on a machine with fewer cores than workers, a call placed during another
worker's burst had its RTP delayed past the 20 ms rules (gaps of 64-98 ms at -n 4 on 2
cores). So each worker marks its topology starting, then up (or failed), in the shared
reports folder, and waits until every worker that started one has it up or failed. A
worker that runs no topology test never marks itself and is not waited for: pytest-xdist
hands out the first tests at once, so every worker that needs a topology has marked it
starting before the first one is up (seconds later).

The markers carry the run's id (pytest-xdist's ``testrunuid``), so a previous run's are
never read. pytest-xdist gives its workers no channel to each other; the folder is polled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.1
STATES = ("starting", "up", "failed")


@dataclass(frozen=True)
class StartBarrier:
    folder: Path  # shared by the workers: <reports>/workers
    run_id: str
    worker: str

    def _marker(self, worker: str, state: str) -> Path:
        return self.folder / f"{self.run_id}.{worker}.{state}"

    def mark(self, state: str) -> None:
        """Marks this worker's topology ``starting``, ``up`` or ``failed``."""
        if state not in STATES:
            raise ValueError(f"unknown topology state {state!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._marker(self.worker, state).touch()

    def pending(self) -> list[str]:
        """The workers whose topology is starting and neither up nor failed yet."""
        started = {p.name.split(".")[-2] for p in self.folder.glob(f"{self.run_id}.*.starting")}
        return sorted(w for w in started
                      if not any(self._marker(w, s).exists() for s in ("up", "failed")))

    def wait(self, timeout: float) -> list[str]:
        """Returns once no topology is coming up, or after ``timeout`` s with the workers
        still pending."""
        deadline = time.monotonic() + timeout
        while (pending := self.pending()) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return pending

    def clear(self) -> None:
        """This worker's markers, once its session ends."""
        for state in STATES:
            self._marker(self.worker, state).unlink(missing_ok=True)
