"""The capture agent's stop waits for tcpdump to sleep (it has then read every packet the
kernel held for it) before SIGINT: told apart on real processes, one sleeping in a system
call and one spinning."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "containers" / "capture" / "agent.py"


def _agent():
    sys.path.insert(0, str(AGENT.parent))  # the agent imports pcapmerge from beside it
    try:
        spec = importlib.util.spec_from_file_location("capture_agent", AGENT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["capture_agent"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(AGENT.parent))


def test_a_sleeping_process_has_caught_up_a_spinning_one_has_not():
    agent = _agent()
    sleeping = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    spinning = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # both started and in their loop
        assert agent.caught_up(sleeping.pid, timeout=2.0) is True
        started = time.monotonic()
        assert agent.caught_up(spinning.pid, timeout=0.2) is False
        assert time.monotonic() - started >= 0.2
    finally:
        for p in (sleeping, spinning):
            p.kill()
            p.wait()
    assert agent.caught_up(sleeping.pid, timeout=0.1) is False  # gone: no state to read
