"""`harness load` on the real topology: a short load where every call must verify, and a
load during which the Mediation Server breaks calls for real (ignores some ACKs, stops
answering for 2 s): those calls fail at the step that names it, each with its own pcap."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.load import html
from harness.load.figures import summary, write_result
from harness.load.plan import Fault, LoadPlan
from harness.load.run import run_load
from harness.topology.topology import Topology

pytestmark = pytest.mark.load

LYNC = "Lync trunk (TCP)"


def test_twenty_calls_at_two_per_second_all_verify(topology: Topology) -> None:
    plan = LoadPlan.make(rate=2, calls=20, duration_s=None, concurrency=None, talk_s=2,
                         hold=False, label="test-load-20")
    err = io.StringIO()
    done = run_load(topology, plan, err, folder="load-tests")
    s = summary(done.result)
    failed = [f"call {c.index}: {c.failure}" for c in done.result.calls if not c.verified]
    assert s.attempted == 20, done.notes
    assert failed == [], "\n".join(failed + done.notes)
    assert all(c.joined_by == "ssrc" for c in done.result.calls)
    assert s.pdd_ms.count == 20 and s.mos.count == 20
    assert 1.5 <= s.achieved_cps <= 2.5
    # the progress went to the stream given (plain lines: not a terminal)
    assert "test-load-20: SIPp done" in err.getvalue()
    out = write_result(done.result, done.folder / "test-load-20.json")
    assert json.loads(out.read_text())["summary"]["verified"] == 20
    page = html.write(done.result, done.folder / "test-load-20.html").read_text()
    assert page.count("data:image/png;base64,") == 2


def test_calls_held_and_resumed_by_lync_all_verify(topology: Topology) -> None:
    """--hold: Lync holds (a=inactive) and resumes each call, passed on to the softphone
    as re-INVITEs (seed steps 8-9); no RTP while held, on both legs."""
    plan = LoadPlan.make(rate=2, calls=8, duration_s=None, concurrency=None, talk_s=3,
                         hold=True, label="test-load-hold")
    done = run_load(topology, plan, io.StringIO(), folder="load-tests")
    failed = [f"call {c.index}: {c.failure}" for c in done.result.calls if not c.verified]
    assert len(done.result.calls) == 8, done.notes
    assert failed == [], "\n".join(failed + done.notes)
    for a in done.analysed:
        steps = a.verdict.steps()
        assert steps.get("8") is True and steps.get("9") is True
        held = [r for r in a.verdict.results if r.subject.endswith("while held")]
        assert len(held) == 4 and all(r.ok for r in held)  # both directions, both legs


def test_real_faults_fail_calls_at_the_step_that_names_them(topology: Topology) -> None:
    plan = LoadPlan.make(rate=2, calls=20, duration_s=None, concurrency=None, talk_s=2,
                         hold=False, label="test-load-faults",
                         faults=(Fault("drop-acks", 0.1), Fault("stop-answering", 2.0, 3.0)))
    done = run_load(topology, plan, io.StringIO(), folder="load-tests")
    calls = done.result.calls
    assert len(calls) == 20, done.notes
    deaf = [c for c in calls if c.failure and (c.failure.step, c.failure.leg, c.failure.subject)
            == ("6", LYNC, "200 OK not sent again after the ACK")]
    unanswered = [c for c in calls if c.failure and (c.failure.step, c.failure.leg,
                                                     c.failure.subject) == ("2", LYNC,
                                                                            "100 Trying")]
    # what the simulator says it did is what the capture shows
    did = next(n for n in done.notes if n.startswith("the Mediation Server's faults did"))
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", did)}
    assert counts["calls_deaf"] >= 1 and len(deaf) == counts["calls_deaf"]
    assert counts["invites_ignored"] >= 2 and len(unanswered) == counts["invites_ignored"]
    for c in deaf + unanswered:
        assert c.pcap is not None and Path(c.pcap).is_file()
        cut = open_capture(c.pcap)
        ids = {m.message.call_id for m in cut.sip_messages() if m.message is not None}
        assert ids == {c.phone_call_id, c.lync_call_id}
