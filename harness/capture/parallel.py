"""Two processes for one job: the parent does one part, a forked child the other.

Used for the bulk steps of large captures (the record walk, header decoding, SIP parsing
while the RTP packets are grouped, per-stream statistics) when asked for (``workers=2``).
The child shares the parent's memory copy-on-write, writes bulk results into shared arrays
(:func:`shared_zeros`) and sends small results back pickled. Where ``fork`` is unavailable
or fails, both parts run in this process, one after the other, with the same results.
"""

from __future__ import annotations

import mmap
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

import numpy as np


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def shared_zeros(shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """A zero-filled array in anonymous shared memory (a forked child's writes are seen)."""
    dt = np.dtype(dtype)
    count = int(np.prod(shape))
    size = max(1, count * dt.itemsize)
    buf = mmap.mmap(-1, size)
    return np.frombuffer(buf, dtype=dt, count=count).reshape(shape)


def _reap(pid: int) -> None:
    """Wait for the child in a thread: it has sent its result (and closed the pipe), but
    its exit, which unmaps a large address space, takes a few ms more that this process
    need not wait for."""
    import threading

    threading.Thread(target=_wait, args=(pid,), daemon=True).start()


def _wait(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def split(parent: Callable[[], Any], child: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``child`` in a forked process and ``parent`` here, at the same time; return both
    results (the child's must pickle). An exception in the child is raised here."""
    if not can_fork():
        return parent(), child()
    try:
        rfd, wfd = os.pipe()
        pid = os.fork()
    except OSError:
        return parent(), child()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        code = 0
        try:
            try:
                payload = pickle.dumps((True, child()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                payload = pickle.dumps((False, exc))
            with os.fdopen(wfd, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    try:
        mine = parent()
    finally:
        with os.fdopen(rfd, "rb") as inp:
            data = inp.read()
        _reap(pid)
    if not data:
        return mine, child()  # the child died: do its part here
    ok, theirs = pickle.loads(data)
    if not ok:
        raise theirs
    return mine, theirs
