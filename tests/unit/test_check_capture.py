"""``harness check`` and its engine ``check_capture`` on the project's real captures, moved
to another subnet and other ports (nothing can lean on the topology's addresses), with a
fault injected, started late, cut to one leg, and on a REGISTER storm with no call."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.analysis.deployment import CaptureCheck, CaptureCheckError, check_capture
from harness.analysis.lync_flow import LYNC_LEG, PHONE_LEG
from harness.capture import CapturedSip, open_capture
from harness.cli import main
from harness.roles import ASTERISK, MEDIATION, SKYPE, SOFTPHONE, XMPP
from tests.support import capgen
from tests.support.paths import DATA
from tests.support.rewrite import Plan, drop, keep_from, keep_hosts, plan_for, rewrite

DEPLOYMENT = DATA / "deployment"
OUTBOUND = "test_outbound_softphone_calls_lync_twelve_steps.pcap"
INBOUND = "test_inbound_lync_calls_extension_1000.pcap"
OLD = {ASTERISK: "192.168.100.10", MEDIATION: "192.168.100.20", SKYPE: "192.168.100.30",
       SOFTPHONE: "192.168.100.40", XMPP: "192.168.100.50"}
# capture -> (flow key, the suite's name of the flow, the roles it must recognise)
EXPECTED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    OUTBOUND: ("outbound", "outbound: softphone -> Asterisk -> Lync",
               (SOFTPHONE, ASTERISK, MEDIATION)),
    INBOUND: ("inbound", "inbound: Lync -> Asterisk -> softphone",
              (SOFTPHONE, ASTERISK, MEDIATION)),
    "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo.pcap": (
        "lync-to-skype", "Lync dials 1001 (Skype)", (ASTERISK, MEDIATION, SKYPE)),
    "test_lync_dials_1002_reaches_echo123_through_skype_for_asterisk.pcap": (
        "lync-to-skype", "Lync dials 1002 (Skype)", (ASTERISK, MEDIATION, SKYPE)),
    "test_skype_user_calls_lync_as_anonymous_caller.pcap": (
        "skype-to-lync", "Skype calls Lync", (ASTERISK, MEDIATION, SKYPE)),
    "test_registration_is_challenged_answered_and_refreshed.pcap": (
        "skype-registration", "Skype for SIP registration", (ASTERISK, SKYPE)),
    "test_ivr_option_routes_as_the_seed_says_5.pcap": (
        "gtalk-ivr", "Google Talk IVR, option 5", (ASTERISK, MEDIATION, XMPP)),
}
FIRST_STEPS = ("1", "2", "3", "4", "5", "6")


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Plan]]:
    """A real capture moved to 172.16.200.0/24 and other SIP/RTP ports (made once)."""
    root = tmp_path_factory.mktemp("moved")
    made: dict[str, tuple[Path, Plan]] = {}

    def get(name: str) -> tuple[Path, Plan]:
        if name not in made:
            out = root / name
            made[name] = (out, rewrite(DEPLOYMENT / name, out))
        return made[name]

    return get


def _sip(path: Path) -> list[CapturedSip]:
    return open_capture(path).sip_messages()


def _frame(path: Path, plan: Plan, pick: Callable[[CapturedSip], bool], skip: int = 0) -> int:
    """The frame of the (skip+1)-th SIP message ``pick`` accepts."""
    return [m.frame for m in _sip(path) if m.message is not None and pick(m)][skip]


def _from(plan: Plan, role: str, method: str | None = None, status: int | None = None,
          cseq_method: str | None = None, to: str | None = None) -> Callable[[CapturedSip], bool]:
    def pick(m: CapturedSip) -> bool:
        if m.src != plan.address(OLD[role]):
            return False
        if to is not None and m.dst != plan.address(OLD[to]):
            return False
        if method is not None and not (m.is_request and m.method == method):
            return False
        if status is not None and getattr(m.message, "status", None) != status:
            return False
        return cseq_method is None or m.msg.cseq[1] == cseq_method
    return pick


def _only_call(result: CaptureCheck) -> tuple[str, str]:
    assert len(result.calls) == 1, [c.call.flow for c in result.calls]
    return result.calls[0].call.flow, result.calls[0].verdict.flow


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- passes


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.removesuffix(".pcap"))
def test_moved_capture_passes_with_roles_recognised(
        name: str, moved: Callable[[str], tuple[Path, Plan]]) -> None:
    path, plan = moved(name)
    key, title, roles = EXPECTED[name]
    result = check_capture(path)
    assert _only_call(result) == (key, title)
    for role in roles:
        assert result.recognition.address_of(role) == plan.address(OLD[role]), role
    verdict = result.calls[0].verdict
    assert result.ok, verdict.report()
    # Only the IVR's chat cannot be checked: it is XMPP, not SIP.
    unchecked = [r.line() for r in verdict.unchecked if r.leg != "XMPP chat"]
    assert not unchecked


def test_the_command_names_flow_roles_and_verdict(
        moved: Callable[[str], tuple[Path, Plan]], capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(OUTBOUND)
    code, out, err = _run(capsys, str(path))
    assert code == 0, out + err
    assert "outbound: softphone -> Asterisk -> Lync" in out
    for role in (SOFTPHONE, ASTERISK, MEDIATION):
        assert plan.address(OLD[role]) in out
    assert "MediationServer" in out  # the rule that recognised Lync
    assert "all " in out and " checks passed" in out


# ----------------------------------------------------------------------------- faults


def _first_failure(result: CaptureCheck) -> tuple[str, str]:
    failing = [c for c in result.calls if not c.verdict.ok]
    assert failing, "the fault went unnoticed"
    first = failing[0].verdict.failures[0]
    return first.step, first.leg


@pytest.mark.parametrize(("name", "fault", "step", "leg"), [
    (OUTBOUND, "the softphone's ACK to the 200 OK", "6", PHONE_LEG),
    (OUTBOUND, "Asterisk's ACK to Lync's 200 OK", "6", LYNC_LEG),
    (OUTBOUND, "the 200 OK to Lync's BYE", "11", LYNC_LEG),
    (OUTBOUND, "the softphone's 200 OK to the BYE", "11", PHONE_LEG),
    (INBOUND, "Lync's BYE", "10", LYNC_LEG),
])
def test_one_fault_fails_at_its_step(name: str, fault: str, step: str, leg: str,
                                     moved: Callable[[str], tuple[Path, Plan]],
                                     tmp_path: Path) -> None:
    path, plan = moved(name)
    picks: dict[str, tuple[Callable[[CapturedSip], bool], int]] = {
        # the first ACK the softphone sends acknowledges the 401; the second, the 200 OK
        "the softphone's ACK to the 200 OK": (_from(plan, SOFTPHONE, "ACK"), 1),
        "Asterisk's ACK to Lync's 200 OK": (_from(plan, ASTERISK, "ACK", to=MEDIATION), 0),
        "the 200 OK to Lync's BYE": (_from(plan, ASTERISK, status=200, cseq_method="BYE",
                                           to=MEDIATION), 0),
        "the softphone's 200 OK to the BYE": (_from(plan, SOFTPHONE, status=200,
                                                    cseq_method="BYE"), 0),
        "Lync's BYE": (_from(plan, MEDIATION, "BYE"), 0),
    }
    pick, skip = picks[fault]
    out = tmp_path / "fault.pcap"
    drop(path, out, [_frame(path, plan, pick, skip)])
    result = check_capture(out)
    assert not result.ok
    assert _first_failure(result) == (step, leg)


def test_a_fault_exits_1(moved: Callable[[str], tuple[Path, Plan]], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(OUTBOUND)
    out = tmp_path / "fault.pcap"
    drop(path, out, [_frame(path, plan, _from(plan, SOFTPHONE, "ACK"), 1)])
    code, text, _err = _run(capsys, str(out))
    assert code == 1
    assert "first failure at step 6 on the softphone (UDP) leg" in text


# ----------------------------------------------------------------------------- partial captures


def test_capture_started_after_the_200_ok_checks_the_rest(
        moved: Callable[[str], tuple[Path, Plan]], tmp_path: Path) -> None:
    path, plan = moved(OUTBOUND)
    sip = _sip(path)
    # The last message of the call's set-up: the softphone's ACK to the relayed 200 OK.
    ack = next(m for m in sip if m.frame == _frame(path, plan, _from(plan, SOFTPHONE, "ACK"), 1))
    later = next(m for m in sip if m.time > ack.time)
    out = tmp_path / "late.pcap"
    keep_from(path, out, int(later.time * 1e9) - 1000)
    result = check_capture(out)
    flow, _title = _only_call(result)
    assert flow == "outbound"
    verdict = result.calls[0].verdict
    assert result.ok, verdict.report()
    assert result.calls[0].call.starts_mid_dialog
    checked_early = [r.line() for r in verdict.results if r.checked and r.step in FIRST_STEPS]
    assert checked_early == []
    assert {"1", "6"} <= {r.step for r in verdict.unchecked}
    assert {"8", "9", "10", "11"} <= {r.step for r in verdict.results if r.checked}


def test_capture_of_the_lync_leg_only(moved: Callable[[str], tuple[Path, Plan]],
                                      tmp_path: Path) -> None:
    path, plan = moved(OUTBOUND)
    out = tmp_path / "lync_leg.pcap"
    keep_hosts(path, out, plan.address(OLD[ASTERISK]), plan.address(OLD[MEDIATION]))
    roles = {plan.address(OLD[SOFTPHONE]): SOFTPHONE}  # not in the capture: named by the user
    result = check_capture(out, roles=roles, flow="outbound")
    flow, _title = _only_call(result)
    assert flow == "outbound"
    verdict = result.calls[0].verdict
    assert result.ok, verdict.report()
    assert {"1", "5", "6", "8", "9", "10", "11"} <= {
        r.step for r in verdict.results if r.checked and r.leg == LYNC_LEG}
    phone = [r for r in verdict.results if r.leg == PHONE_LEG]
    assert phone and not any(r.checked for r in phone)
    assert any("not captured" in r.line() for r in phone)


def test_capture_of_the_lync_leg_only_without_options(
        moved: Callable[[str], tuple[Path, Plan]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(INBOUND)
    out = tmp_path / "lync_leg.pcap"
    keep_hosts(path, out, plan.address(OLD[ASTERISK]), plan.address(OLD[MEDIATION]))
    code, text, err = _run(capsys, str(out))
    # No softphone in the capture and none named: its leg is not captured, not an error.
    assert code == 0, text + err
    assert "inbound" in text and "softphone (UDP): not captured" in text


def test_several_calls_in_one_capture_each_checked_on_its_own_media(tmp_path: Path) -> None:
    """The suite's captures of six flows in one file (calls one after another between the
    same hosts, as on a gateway that runs all day): six calls, each passes on its own
    streams; the Google Talk call's chat alone is not checked."""
    merged = tmp_path / "day.pcap"
    names = [OUTBOUND, INBOUND,
             "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo.pcap",
             "test_lync_dials_1002_reaches_echo123_through_skype_for_asterisk.pcap",
             "test_skype_user_calls_lync_as_anonymous_caller.pcap",
             "test_ivr_option_routes_as_the_seed_says_5.pcap"]
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged),
                    *(str(DEPLOYMENT / n) for n in names)], check=True)
    result = check_capture(merged)
    flows = sorted(c.call.flow for c in result.calls)
    assert flows == sorted(EXPECTED[n][0] for n in names)
    for checked in result.calls:
        assert checked.verdict.ok, checked.verdict.report()
    unchecked = [r.subject for c in result.calls for r in c.verdict.unchecked]
    assert unchecked == ["menu lines, in order"]


# ----------------------------------------------------------------------------- no call


def _register_storm(path: Path, times: int = 50, every_ms: int = 15) -> Path:
    """Asterisk 22 re-registering every 15 ms with a registrar that grants 8 s (the storm
    seen in the wild): REGISTER, 401, REGISTER with credentials, 200, again and again."""
    gw, reg = "10.20.30.10", "10.20.30.60"
    frames: list[capgen.Frame] = []

    def message(first: str, cseq: int, extra: list[str], branch: str) -> bytes:
        lines = [first,
                 f"Via: SIP/2.0/UDP {gw}:5060;rport;branch=z9hG4bKPj{branch}",
                 "From: <sip:gateway@sip.example.net>;tag=gw1",
                 "To: <sip:gateway@sip.example.net>" + (";tag=r1" if first[0] == "S" else ""),
                 "Call-ID: storm-1", f"CSeq: {cseq} REGISTER", *extra, "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    for i in range(times):
        t = capgen.T0 + i * every_ms * 1_000_000
        c = 2 * i + 1
        ua = ["User-Agent: Asterisk PBX 22.10.1",
              f"Contact: <sip:gateway@{gw}:5060>", "Expires: 3600", "Max-Forwards: 70"]
        steps = [
            (gw, reg, message(f"REGISTER sip:{reg}:5060 SIP/2.0", c, ua, f"a{i}")),
            (reg, gw, message("SIP/2.0 401 Unauthorized", c,
                              ['WWW-Authenticate: Digest realm="sip.example.net",nonce="n"'],
                              f"a{i}")),
            (gw, reg, message(f"REGISTER sip:{reg}:5060 SIP/2.0", c + 1, ua + [
                'Authorization: Digest username="gateway",realm="sip.example.net",nonce="n",'
                f'uri="sip:{reg}:5060",response="00"'], f"b{i}")),
            (reg, gw, message("SIP/2.0 200 OK", c + 1,
                              [f"Contact: <sip:gateway@{gw}:5060>;expires=8"], f"b{i}")),
        ]
        for k, (src, dst, data) in enumerate(steps):
            frames.append(capgen.udp_frame(t + k * 1_000_000, src, dst, 5060, 5060, data))
    return capgen.write_pcap(path, frames)


def test_register_storm_is_no_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _register_storm(tmp_path / "storm.pcap")
    assert len(_sip(path)) == 200
    result = check_capture(path)
    assert result.calls == () and result.ok
    assert any("REGISTER" in n and "no call" in n for n in result.notes), result.notes
    code, out, err = _run(capsys, str(path))
    assert code == 0, out + err
    assert "no call" in out and "REGISTER" in out


# ----------------------------------------------------------------------------- exit 2


def test_no_mediation_server_recognised_exits_2_naming_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Lync's product token gone and its trunk off 5068: nothing says which host is Lync.
    original = DEPLOYMENT / OUTBOUND
    plan = plan_for(original, text=((b"MediationServer", b"SomeSipEndpoint"),))
    path = tmp_path / "anonymous_lync.pcap"
    rewrite(original, path, plan)
    with pytest.raises(CaptureCheckError, match="--roles mediation="):
        check_capture(path)
    code, out, err = _run(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "Mediation Server" in err and "--roles mediation=ADDRESS" in err
    code, out, err = _run(capsys, str(path), "--roles",
                          f"mediation={plan.address(OLD[MEDIATION])}")
    assert code == 0, out + err


def test_not_a_capture_exits_2_in_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "call.pcap"
    path.write_text("INVITE sip:bob@example.com SIP/2.0\r\n\r\n")
    code, out, err = _run(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "call.pcap" in err
    code, out, err = _run(capsys, str(tmp_path / "missing.pcap"))
    assert code == 2 and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- outputs


def test_json_lists_calls_with_flow_roles_and_checks(
        moved: Callable[[str], tuple[Path, Plan]], capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(INBOUND)
    code, out, _err = _run(capsys, str(path), "--json")
    assert code == 0
    data = json.loads(out)
    roles = {r["role"]: r["address"] for r in data["roles"]}
    assert roles[MEDIATION] == plan.address(OLD[MEDIATION])
    assert roles[SOFTPHONE] == plan.address(OLD[SOFTPHONE])
    [call] = data["calls"]
    assert call["flow"] == "inbound" and call["ok"] is True
    assert call["checks"] and {"step", "leg", "ok"} <= set(call["checks"][0])


def test_junit_has_a_test_case_per_call(moved: Callable[[str], tuple[Path, Plan]],
                                        tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(OUTBOUND)
    fault = tmp_path / "fault.pcap"
    drop(path, fault, [_frame(path, plan, _from(plan, SOFTPHONE, "ACK"), 1)])
    junit = tmp_path / "check.xml"
    code, _out, _err = _run(capsys, str(fault), "--junit", str(junit))
    assert code == 1
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 1
    assert cases[0].find("failure") is not None


def test_ladder_is_written(moved: Callable[[str], tuple[Path, Plan]], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path, plan = moved(OUTBOUND)
    ladder = tmp_path / "call.html"
    code, out, err = _run(capsys, str(path), "--ladder", str(ladder))
    assert code == 0, out + err
    html = ladder.read_text()
    assert MEDIATION in html and plan.address(OLD[MEDIATION]) in html


def test_a_registration_read_with_a_call_does_not_move_the_calls_media(tmp_path: Path) -> None:
    """Skype's registration, then Lync calling 1000 while it runs, then Lync dialling 1001:
    the REGISTERs are read with the 1001 call (same hosts), yet each call's media is the
    streams that start with its own dialog, so neither call takes the other's RTP."""
    inbound = tmp_path / "inbound_early.pcap"
    registration = DEPLOYMENT / "test_registration_is_challenged_answered_and_refreshed.pcap"
    # Move the inbound call to start 0.3 s after the registration's first REGISTER.
    first = open_capture(registration)
    start = open_capture(DEPLOYMENT / INBOUND)
    shift = float(first.time[0]) + 0.3 - float(start.time[0])
    subprocess.run(["editcap", "-t", f"{shift:.6f}", str(DEPLOYMENT / INBOUND), str(inbound)],
                   check=True)
    merged = tmp_path / "merged.pcap"
    dials_1001 = DEPLOYMENT / "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), str(inbound), str(registration),
                    str(dials_1001)], check=True)
    result = check_capture(merged)
    assert sorted(c.call.flow for c in result.calls) == ["inbound", "lync-to-skype"]
    for checked in result.calls:
        assert checked.verdict.ok, checked.verdict.report()
