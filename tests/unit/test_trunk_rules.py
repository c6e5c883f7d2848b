"""The Lync trunk's qualify on real captures (both gateways), and with faults injected: the
Mediation Server's 200 OK dropped, a trunk qualified over UDP, the gateway calling the
trunk unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.trunk_rules import GatewayView, check_qualify
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.roles import Roles
from tests.support.rewrite import drop

DATA = Path(__file__).parent / "data" / "trunk"
ROLES = Roles.of_topology()
UP = GatewayView("to_lync (pjsip): Reachable, 1.2 ms", True, 1.2)


def verdict_of(pcap: Path, view: GatewayView | None = UP) -> Verdict:
    v = Verdict("Lync trunk qualify", pcap)
    check_qualify(v, [m.with_roles(ROLES) for m in open_capture(pcap).sip_messages()], view)
    return v


def failed(v: Verdict) -> dict[str, str]:
    return {r.subject: r.actual for r in v.failures}


@pytest.mark.parametrize("name", ["pjsip-qualify.pcap", "chansip-qualify.pcap"])
def test_real_qualify_passes(name: str) -> None:
    v = verdict_of(DATA / name)
    assert v.ok, v.report()
    assert {"OPTIONS to the Mediation Server", "OPTIONS transport", "OPTIONS answered",
            "round trip on the wire", "the gateway's view"} <= {r.subject for r in v.results}
    assert any("between its OPTIONS and the 200 OK" in n for n in v.notes)


def test_unanswered_options_fails_there(tmp_path: Path) -> None:
    src = DATA / "pjsip-qualify.pcap"
    ok = next(m for m in open_capture(src).sip_messages()
              if m.src.endswith(".20") and m.data.startswith(b"SIP/2.0 200"))
    out = tmp_path / "unanswered.pcap"
    drop(src, out, [ok.frame])
    assert failed(verdict_of(out)) == {"OPTIONS answered": "no answer in the capture"}


def test_no_options_at_all_fails_first(tmp_path: Path) -> None:
    src = DATA / "pjsip-qualify.pcap"
    frames = [m.frame for m in open_capture(src).sip_messages()]
    out = tmp_path / "silent.pcap"
    drop(src, out, frames)
    v = verdict_of(out)
    assert failed(v) == {"OPTIONS to the Mediation Server": "none in the capture"}, v.report()


def test_the_gateway_calling_the_trunk_unreachable_fails_its_view() -> None:
    down = GatewayView("to_lync (chan_sip): UNREACHABLE", False, None)
    v = verdict_of(DATA / "chansip-qualify.pcap", down)
    assert failed(v) == {"the gateway's view": "to_lync (chan_sip): UNREACHABLE"}, v.report()


def test_without_the_gateways_view_it_is_not_checked() -> None:
    v = verdict_of(DATA / "pjsip-qualify.pcap", None)
    assert v.ok and [r.subject for r in v.unchecked] == ["the gateway's view"]
