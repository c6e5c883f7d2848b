"""Lync's dial plan as the seed gives it: 1 and more than two digits go to Asterisk."""

from __future__ import annotations

import pytest

from harness.peers.common.behaviour import BehaviourError
from harness.peers.lync.dialling import DialPlan, NoRoute
from tests.support.peers import mediation_server


@pytest.mark.parametrize(("dialled", "invited"), [
    ("1000", "+1000"), ("1001", "+1001"), ("1002", "+1002"), ("14255550150", "+14255550150"),
    ("+14255550150", "+14255550150"),
])
def test_numbers_the_seed_routes_to_asterisk(dialled, invited):
    assert DialPlan().to_trunk(dialled) == invited


@pytest.mark.parametrize(("dialled", "why"), [
    ("10", "no normalization rule"),  # 1 and only one more digit
    ("50150", "no normalization rule"),  # X-Lite's short form of Bob's number, not a Lync one
    ("+4420799900", "does not match"),  # E.164, but not the route's
])
def test_numbers_lync_keeps_are_refused_with_the_reason(dialled, why):
    with pytest.raises(NoRoute, match=why):
        DialPlan().to_trunk(dialled)


def test_the_simulator_refuses_a_dialled_number_without_a_route() -> None:
    server = mediation_server([])  # not started: the refusal comes before any packet
    with pytest.raises(BehaviourError, match="no normalization rule matches '50150'"):
        server.place_call({"to": "50150", "as_dialled": True})
