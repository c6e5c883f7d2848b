"""A documented gateway difference explains exactly the failures it names."""

from __future__ import annotations

from harness.analysis.differences import Difference, unexplained
from harness.analysis.verdict import Verdict

HOLD = Difference("asterisk16-chansip", "no hold passthrough",
                  ("8", "headers:Via rport"))


def verdict(*failures: tuple[str, str]) -> Verdict:
    v = Verdict("outbound", None)
    v.check("1", "Lync trunk (TCP)", "INVITE", True, "INVITE", "INVITE")
    for step, subject in failures:
        v.check(step, "softphone (UDP)", subject, False, "expected", "actual")
    return v


def test_the_named_failures_are_explained():
    assert unexplained(HOLD, [verdict(("8", "hold re-INVITE"), ("headers", "Via rport"))]) == []


def test_a_failure_it_does_not_name_is_left():
    left = unexplained(HOLD, [verdict(("8", "hold re-INVITE"), ("headers", "To tag"),
                                      ("5", "200 OK"))])
    assert sorted((r.step, r.subject) for r in left) == [("5", "200 OK"), ("headers", "To tag")]
