"""The peers' scheduling priority. A peer sends RTP every 20 ms; on a 2-core machine that
also runs the gateway, the capture, the test workers and their analysis, a peer waiting
for a CPU falls behind its schedule, and the gap in its stream fails the RTP checks as if
the gateway had caused it. Raised priority (a lower nice value) lets the kernel run the
peer as soon as its timer fires. The gateway under test keeps the default priority."""

from __future__ import annotations

import os
from collections.abc import Callable

# CFS weight 9548 against 1024 at nice 0: about nine times the share of a busy CPU
NICE = -10


def raise_priority(log: Callable[[str], None] | None = None, nice: int = NICE,
                   thread: int = 0) -> bool:
    """Sets the calling thread's nice value (``thread``: a native thread id; threads
    started afterwards inherit it), or logs why it could not. True when raised."""
    try:
        os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError as exc:
        if log is not None:
            log(f"priority not raised (nice {os.getpriority(os.PRIO_PROCESS, thread)}): "
                f"{exc.strerror}; a container needs CAP_SYS_NICE")
        return False
    if log is not None:
        log(f"priority raised: nice {nice}, for RTP on time")
    return True
