"""The peers' scheduling: raised priority on the calling thread only (Linux nice values
are per thread) or a line saying why not, and the collector's long pauses logged."""

from __future__ import annotations

import os
import threading

from harness.rtp.priority import NICE, raise_priority


def _in_thread(fn):
    out: dict[str, object] = {}

    def body() -> None:
        out["result"] = fn()
        out["nice"] = os.getpriority(os.PRIO_PROCESS, 0)

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    return out


def test_the_calling_thread_runs_at_the_raised_priority_and_only_it():
    lines: list[str] = []
    before = os.getpriority(os.PRIO_PROCESS, 0)
    out = _in_thread(lambda: raise_priority(lines.append))
    if os.geteuid() == 0:
        assert out == {"result": True, "nice": NICE}
        assert lines == [f"priority raised: nice {NICE}, for RTP on time"]
    else:  # an unprivileged run: the reason is logged, nothing changes
        assert out["result"] is False and out["nice"] == before
        assert "priority not raised" in lines[0] and "CAP_SYS_NICE" in lines[0]
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # this thread untouched


def test_a_collection_that_holds_the_process_is_logged_with_its_generation():
    import gc

    from harness.peers.common.stalls import GcWatch

    lines: list[str] = []
    with GcWatch(lines.append, min_ms=0.0):
        for _ in range(1000):  # cyclic garbage, only the collector frees it
            a: list[object] = []
            a.append(a)
        gc.collect()
    gc.collect()  # after the block: not watched any more
    (line,) = [x for x in lines if "generation 2" in x]
    assert line.startswith("gc_pause generation 2 held the process ")
    assert "objects collected" in line
