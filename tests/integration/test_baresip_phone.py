"""A real softphone in X-Lite's place: Debian bookworm's baresip 1.0 (sipharness/baresip)
at .40, configured as the seed configures X-Lite (fixtures/baresip), against Asterisk 22
(.10) and the Mediation Server simulator (.20), on a network of its own (bsip-net,
192.168.121.0/24; containers bsip-*), driven over ctrl_tcp by harness.topology.baresip.

It registers as 1000, calls Lync's +14255550150 (held and resumed by Lync, hung up by
Lync), and answers Lync's call to +1000. What baresip sends (User-Agent, SDP, Contact, the
timing of its provisional responses) is written to reports/baresip/, with the pcaps.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker
import pytest
from docker.errors import ImageNotFound, NotFound

from harness.capture import CapturedSip, open_capture
from harness.flows import lync
from harness.flows.run import CallPcap, CallRun
from harness.media.find import rtp_streams
from harness.peers.client import CallRecord, SimulatorClient
from harness.roles import Roles
from harness.sip.message import Request, Response
from harness.topology.baresip import BaresipPhone, PhoneResult, account_lines
from harness.topology.capture import CaptureControl
from harness.topology.errors import TopologyError
from harness.topology.http import JsonClient
from harness.topology.ready import READY_LABEL, wait_ready
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

NET, SUBNET, NETWORK = "192.168.121", "192.168.121.0/24", "bsip-net"
GATEWAY, MEDIATION, PHONE = f"{NET}.10", f"{NET}.20", f"{NET}.40"
AOR = f"sip:1000@{GATEWAY}"
IMAGES = ("sipharness/baresip:latest", "sipharness/asterisk:latest",
          "sipharness/mediation:latest", "sipharness/capture:latest")
NAMES = ("bsip-capture", "bsip-phone", "bsip-asterisk", "bsip-mediation")
OUT = ROOT / "reports" / "baresip"
HEALTH_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(probe: str) -> dict[str, Any]:
    """Readiness probed while the container starts, as the topology does (no Docker
    healthcheck: it would keep probing during the calls)."""
    return {"labels": {READY_LABEL: probe}, "healthcheck": {"test": ["NONE"]}}


@dataclass
class Bench:
    """The four containers and their control ports; removed by name afterwards."""

    client: Any  # docker.DockerClient
    reports: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def api(self) -> Any:
        return self.client.api

    def remove(self) -> None:
        for name in NAMES:
            try:
                self.client.containers.get(name).remove(force=True)
            except NotFound:
                pass
        try:
            self.client.networks.get(NETWORK).remove()
        except NotFound:
            pass

    def start(self, name: str, image: str, *, address: str | None = None,
              share_with: str | None = None, **create: Any) -> None:
        """Creates and starts ``name``; returns once it is ready (its probe passes), or
        fails with the container's log."""
        host = dict(create.pop("host", {}))
        if share_with:
            host["network_mode"] = f"container:{share_with}"
        networking = None if address is None else self.api.create_networking_config(
            {NETWORK: self.api.create_endpoint_config(ipv4_address=address)})
        created = self.api.create_container(
            image, name=name, host_config=self.api.create_host_config(**host),
            networking_config=networking, **create)
        self.api.start(created["Id"])
        try:
            wait_ready(lambda: {name: self.client.containers.get(name)}, [name], HEALTH_S,
                       logs_hint="docker logs {name}")
        except TopologyError as exc:
            log = self.client.containers.get(name).logs(tail=30).decode(errors="replace")
            pytest.fail(f"{exc}; its log:\n{log}")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    client = docker.from_env(timeout=60)
    for image in IMAGES:
        try:
            client.images.get(image)
        except ImageNotFound:
            pytest.fail(f"image {image} is missing: `make setup` builds it (baresip: "
                        "docker build -t sipharness/baresip containers/baresip)", pytrace=False)
    reports = tmp_path_factory.mktemp("bsip-reports")
    bench = Bench(client, reports, {k: _free_port() for k in ("mediation", "capture", "phone")})
    bench.remove()  # a run that was killed leaves its containers
    client.networks.create(NETWORK, driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=SUBNET)]))
    addresses = {f"{role}_ADDR": f"{NET}.{n}" for role, n in (
        ("ASTERISK", 10), ("MEDIATION", 20), ("SKYPE", 30), ("SOFTPHONE", 40), ("XMPP", 50))}
    try:
        bench.start(
            "bsip-mediation", "sipharness/mediation:latest", address=MEDIATION,
            command=[f"--address={MEDIATION}", "--sip-port=5068", "--control-port=8068",
                     f"--gateway={GATEWAY}:5060", "--rtp-ports=40000-40199",
                     "--domain=mediationsrv.contoso.com", "--tone-hz=1013"],
            ports=[8068], host={"port_bindings": {8068: ("127.0.0.1", bench.ports["mediation"])}},
            **_ready("python3 -c \"import urllib.request as u; "
                     "u.urlopen('http://127.0.0.1:8068/health', timeout=2)\""))
        bench.start(
            "bsip-asterisk", "sipharness/asterisk:latest", address=GATEWAY,
            environment=addresses, ports=[8090],
            host={"binds": {str(ROOT / "fixtures" / "asterisk"): {"bind": "/fixtures",
                                                                  "mode": "ro"}},
                  "port_bindings": {8090: ("127.0.0.1", bench.ports["capture"])}},
            **_ready('asterisk -rx "core waitfullybooted"'))
        bench.start(
            "bsip-capture", "sipharness/capture:latest", share_with="bsip-asterisk",
            host={"cap_add": ["NET_ADMIN", "NET_RAW"],
                  "binds": {str(reports): {"bind": "/reports", "mode": "rw"}}},
            **_ready("python3 -c \"import urllib.request as u; "
                     "u.urlopen('http://127.0.0.1:8090/health', timeout=2)\""))
        # after the gateway: baresip registers as soon as it starts
        bench.start(
            "bsip-phone", "sipharness/baresip:latest", address=PHONE,
            environment={"GATEWAY_ADDR": GATEWAY, "SOFTPHONE_ADDR": PHONE}, ports=[4444],
            host={"binds": {str(ROOT / "fixtures" / "baresip"): {"bind": "/fixtures",
                                                                 "mode": "ro"}},
                  "port_bindings": {4444: ("127.0.0.1", bench.ports["phone"])}},
            **_ready("/usr/local/bin/baresip-healthcheck"))
        yield bench
    finally:
        OUT.mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            try:
                log = client.containers.get(name).logs().decode(errors="replace")
                (OUT / f"{name}.log").write_text(log)
            except NotFound:
                pass
        bench.remove()


@pytest.fixture
def phone(bench: Bench) -> Iterator[BaresipPhone]:
    with BaresipPhone("127.0.0.1", bench.ports["phone"], timeout_s=15) as connected:
        yield connected


@pytest.fixture
def mediation(bench: Bench) -> SimulatorClient:
    return SimulatorClient("Mediation Server", f"http://127.0.0.1:{bench.ports['mediation']}")


def _capture(bench: Bench, name: str) -> CallPcap:
    recorder = CaptureControl(JsonClient("capture agent",
                                         f"http://127.0.0.1:{bench.ports['capture']}"),
                              bench.reports)
    relative = f"pcaps/{name}.pcap"
    return CallPcap(recorder, relative, recorder.start(relative))


def _ok(result: PhoneResult, phone: BaresipPhone) -> None:
    assert result.ok, f"{result.describe()}\nctrl_tcp transcript:\n{phone.transcript_text()}"


def _phone_leg(path: Path) -> list[CapturedSip]:
    return [m for m in open_capture(path).sip_messages()
            if PHONE in (m.src, m.dst) and m.message is not None]


def _sdp_lines(message: Request | Response) -> list[str]:
    wanted = ("m=", "c=", "a=rtpmap", "a=fmtp", "a=ptime", "a=sendrecv", "a=sendonly",
              "a=recvonly", "a=inactive")
    body = message.body.decode(errors="replace")
    return [ln.strip() for ln in body.splitlines() if ln.strip().startswith(wanted)]


def _describe(m: CapturedSip) -> dict[str, object]:
    msg = m.message
    assert msg is not None
    first = f"{msg.method} {msg.uri}" if isinstance(msg, Request) else f"{msg.status} {msg.reason}"
    return {"t": round(m.time, 4), "from": m.src, "to": m.dst, "line": first,
            "cseq": msg.headers.get("CSeq"), "user_agent": msg.headers.get("User-Agent"),
            "contact": msg.headers.get("Contact"), "sdp": _sdp_lines(msg)}


def _rtp_on_phone_leg(path: Path) -> dict[str, int]:
    counts = {"phone->gateway": 0, "gateway->phone": 0}
    for stream in rtp_streams(open_capture(path)):
        if stream.src == PHONE:
            counts["phone->gateway"] += len(stream)
        elif stream.dst == PHONE:
            counts["gateway->phone"] += len(stream)
    return counts


def _keep(pcap: CallPcap, facts: Mapping[str, object]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(pcap.path, OUT / pcap.path.name)
    (OUT / f"{pcap.path.stem}.json").write_text(json.dumps(facts, indent=2))


def _verdict(pcap: CallPcap, call: CallRecord | None,
             direction: Literal["outbound", "inbound"]) -> dict[str, object]:
    """The suite's flow checks on this capture, for the report (not asserted here)."""
    run = CallRun(f"{direction} with baresip", pcap, None, call,
                  Roles.of_topology(NET), dict(lync.DEFAULT_BEHAVIOUR), [])
    verdict = lync.verify(run, direction)
    return {"ok": verdict.ok, "report": verdict.report()}


def test_registers_as_1000(bench: Bench, phone: BaresipPhone) -> None:
    _ok(phone.wait_registered(AOR, timeout_s=20), phone)
    asterisk = bench.client.containers.get("bsip-asterisk")
    contacts, aor = (asterisk.exec_run(["asterisk", "-rx", cli]).output.decode(errors="replace")
                     for cli in ("pjsip show contacts", "pjsip show aor 1000"))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pjsip_show_contacts.txt").write_text(contacts + aor)
    # the table cuts the URI; `pjsip show aor` shows it whole: baresip's per-agent user
    assert "1000/sip:1000-0x" in contacts, contacts
    assert re.search(rf"sip:1000-0x[0-9a-f]+@{re.escape(PHONE)}:5060", aor), aor


def test_a_fresh_registration_on_command(bench: Bench, phone: BaresipPhone) -> None:
    """register(): the user agent is replaced (it unregisters) and the new one registers,
    inside a capture, as the inbound flow wants the REGISTER in its pcap."""
    text = (ROOT / "fixtures" / "baresip" / "accounts").read_text()
    (account,) = account_lines(text, {"GATEWAY_ADDR": GATEWAY})
    pcap = _capture(bench, "baresip_register")
    try:
        _ok(phone.register(account, timeout_s=20), phone)
    finally:
        pcap.stop()
    registers = [m for m in _phone_leg(pcap.path) if isinstance(m.message, Request)
                 and m.message.method == "REGISTER"]
    _keep(pcap, {"registers": [_describe(m) for m in registers],
                 "ctrl_tcp": phone.transcript_text(40)})
    assert any("expires=0" in (m.message.headers.get("Contact") or "").lower()
               or m.message.headers.get("Expires") == "0" for m in registers
               if m.message is not None), "the replaced user agent unregisters"
    _ok(phone.wait_registered(AOR), phone)


def _call(bench: Bench, phone: BaresipPhone, mediation: SimulatorClient, name: str,
          behaviour: Mapping[str, Any], start: Callable[[], None]
          ) -> tuple[CallPcap, PhoneResult, CallRecord | None]:
    """One call between the registered phone and the Mediation Server, captured as `name`:
    `start` places (or answers) it; returns once it has ended on both sides."""
    _ok(phone.wait_registered(AOR, timeout_s=20), phone)
    mediation.behaviour(**behaviour)
    mediation.clear_calls()
    pcap = _capture(bench, name)
    try:
        start()
        _ok(phone.wait_established(), phone)
        closed = phone.wait_closed(timeout_s=20)
        _ok(closed, phone)
        call = mediation.wait_for_call("last", "ended", 10).value
    finally:
        pcap.stop()
    return pcap, closed, call


def test_outbound_call_held_and_resumed_by_lync(
        bench: Bench, phone: BaresipPhone, mediation: SimulatorClient) -> None:
    pcap, closed, call = _call(bench, phone, mediation, "baresip_outbound",
                               lync.DEFAULT_BEHAVIOUR,
                               lambda: _ok(phone.dial("+14255550150"), phone))
    leg = _phone_leg(pcap.path)
    rtp = _rtp_on_phone_leg(pcap.path)
    reinvites = [m for m in leg if isinstance(m.message, Request) and m.dst == PHONE
                 and m.message.method == "INVITE"]
    answered = [m for m in leg if isinstance(m.message, Response) and m.src == PHONE
                and m.message.status == 200 and "INVITE" in (m.message.headers.get("CSeq") or "")]
    facts = {"closed": closed.describe(), "rtp_packets": rtp, "mediation_call": call,
             "phone_leg": [_describe(m) for m in leg], "verdict": _verdict(pcap, call, "outbound"),
             "ctrl_tcp": phone.transcript_text(80)}
    _keep(pcap, facts)
    assert call is not None and call["state"] == "ended", call
    assert len(reinvites) >= 2 and len(answered) >= 2, "hold and resume re-INVITEs answered"
    assert any(isinstance(m.message, Request) and m.message.method == "BYE" and m.dst == PHONE
               for m in leg), "the call ends on the BYE that Lync's hangup becomes"
    # 0.2 s answer delay, then 2.4 s of call at 50 packets a second each way, less the hold
    assert rtp["phone->gateway"] > 50 and rtp["gateway->phone"] > 50, rtp


def test_inbound_call_answered(
        bench: Bench, phone: BaresipPhone, mediation: SimulatorClient) -> None:
    rang: list[PhoneResult] = []

    def answer() -> None:
        mediation.place_call("+1000", **{"from": "+14255550150", **lync.DEFAULT_BEHAVIOUR})
        rang.append(phone.wait_incoming())
        _ok(rang[0], phone)
        _ok(phone.accept(), phone)

    pcap, closed, call = _call(bench, phone, mediation, "baresip_inbound", {}, answer)
    incoming = rang[0]
    leg = _phone_leg(pcap.path)
    invite = next(m for m in leg if isinstance(m.message, Request)
                  and m.message.method == "INVITE" and m.dst == PHONE)
    assert isinstance(invite.message, Request)
    provisional = {m.message.status: round((m.time - invite.time) * 1000, 3) for m in leg
                   if isinstance(m.message, Response) and m.src == PHONE
                   and m.message.call_id == invite.message.call_id and m.message.status < 200}
    rtp = _rtp_on_phone_leg(pcap.path)
    facts = {"incoming": incoming.describe(), "closed": closed.describe(),
             "provisional_ms_after_invite": provisional, "rtp_packets": rtp,
             "mediation_call": call, "phone_leg": [_describe(m) for m in leg],
             "verdict": _verdict(pcap, call, "inbound"), "ctrl_tcp": phone.transcript_text(80)}
    _keep(pcap, facts)
    assert call is not None and call["state"] == "ended", call
    assert 180 in provisional, provisional
    assert rtp["phone->gateway"] > 50 and rtp["gateway->phone"] > 50, rtp


def test_the_phone_holds_resumes_and_hangs_up(
        bench: Bench, phone: BaresipPhone, mediation: SimulatorClient) -> None:
    """The other way round: Lync only answers; the phone holds (re-INVITE a=sendonly),
    resumes (a=sendrecv) and hangs up (BYE)."""
    _ok(phone.wait_registered(AOR, timeout_s=20), phone)
    mediation.behaviour(hold_after_ms=None, hangup_after_ms=None, hangup_by="remote")
    mediation.clear_calls()
    pcap = _capture(bench, "baresip_phone_hold")
    try:
        _ok(phone.dial("+14255550150"), phone)
        _ok(phone.wait_established(), phone)
        assert mediation.wait_for_call("last", "confirmed", 5).reached
        _ok(phone.hold(), phone)
        held = mediation.wait_for_call("last", "held", 5)
        _ok(phone.resume(), phone)
        resumed = mediation.wait_for_call("last", "confirmed", 5)
        _ok(phone.hangup(), phone)
        _ok(phone.wait_closed(), phone)
        call = mediation.wait_for_call("last", "ended", 10).value
    finally:
        pcap.stop()
    leg = _phone_leg(pcap.path)
    offers = [_sdp_lines(m.message) for m in leg if isinstance(m.message, Request)
              and m.src == PHONE and m.message.method == "INVITE"]
    _keep(pcap, {"phone_leg": [_describe(m) for m in leg], "mediation_call": call,
                 "ctrl_tcp": phone.transcript_text(80)})
    assert held.reached and resumed.reached, (held, resumed)
    directions = [next((a for a in o if a in ("a=sendonly", "a=sendrecv", "a=inactive")), "")
                  for o in offers]
    # the first INVITE after the 401 challenge repeats the offer; then hold and resume
    assert directions[-2:] == ["a=sendonly", "a=sendrecv"], directions
    assert any(isinstance(m.message, Request) and m.message.method == "BYE" and m.src == PHONE
               for m in leg), "the phone's hangup is a BYE"
    assert call is not None and call["state"] == "ended", call
