"""The AMI client and gateway adapter against real Asterisks: each Asterisk profile's image
and configuration (Asterisk 22 on PJSIP; Asterisk 16 on chan_sip), started here on its own
network, ami-net 192.168.117.0/24, with the manager port published on 127.0.0.1. A
stand-in for Lync's Mediation Server at .20 answers the trunk's OPTIONS (TCP 5068), so the
trunk's qualify state is real. The same tests run unchanged on both.

The suite's `topology` fixture will expose AMI for the harness's own gateway; until then
this module starts its own containers (names prefixed ami-it-) and removes them.
"""

from __future__ import annotations

import re
import secrets
import socket
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.gateway.adapter import Driver, GatewayAdapter, GatewayError
from harness.gateway.ami_client import (
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    AmiLoginError,
)
from harness.gateway.profiles import GatewayProfile, profile
from harness.sip.auth import build_authorization
from harness.topology.ready import READY_LABEL, wait_ready

# both profiles are covered here, whatever --gateway says
pytestmark = [pytest.mark.integration, pytest.mark.standalone]

NETWORK = "ami-net"
NET = "192.168.117"
# the image with perl for the OPTIONS responder
RESPONDER_IMAGE = "sipharness/asterisk:latest"
GATEWAYS: dict[str, tuple[str, Driver]] = {
    "asterisk22-pjsip": ("22", "pjsip"),
    "asterisk16-chansip": ("16", "chan_sip"),
}
USER, SECRET = "harness", "harness-ami"
ADDRESSES = {
    "ASTERISK_ADDR": f"{NET}.10", "MEDIATION_ADDR": f"{NET}.20", "SKYPE_ADDR": f"{NET}.30",
    "SOFTPHONE_ADDR": f"{NET}.40", "XMPP_ADDR": f"{NET}.50",
}
# Lync's Mediation Server as far as qualify goes: 200 OK to each request on TCP 5068
# (the image has perl, not python)
OPTIONS_RESPONDER = r"""
use IO::Socket::INET; $| = 1; $SIG{CHLD} = 'IGNORE';
my $l = IO::Socket::INET->new(LocalPort => 5068, Listen => 5, ReuseAddr => 1) or die "$!";
print "listening\n";
while (my $c = $l->accept) {
  next if fork;
  my $buf = '';
  while (sysread($c, my $chunk, 65536)) {
    $buf .= $chunk;
    while ($buf =~ s/^(.*?)\r\n\r\n//s) {
      my @h = grep { /^(Via|From|To|Call-ID|CSeq):/i } split /\r\n/, $1;
      s/^(To:.*)$/$1;tag=ami-lync/i for @h;
      print $c "SIP/2.0 200 OK\r\n" . join("\r\n", @h) . "\r\nContent-Length: 0\r\n\r\n";
    }
  }
  exit 0;
}
"""


@dataclass
class Gateway:
    profile: GatewayProfile
    version: str
    driver: Driver
    ami_port: int
    sip_port: int
    figures: dict[str, str] = field(default_factory=dict)

    def adapter(self) -> GatewayAdapter:
        return GatewayAdapter.connect("127.0.0.1", self.ami_port, USER, SECRET, timeout=10)


def _remove(client: Any, name: str) -> None:
    import docker

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


def _await_log_line(container: Any, text: str, what: str) -> None:
    """Reads the container's output as it comes until `text`; the stream ends (and the
    assertion fails) if the container exits first."""
    seen = b""
    for chunk in container.logs(stream=True, follow=True):
        seen += chunk
        if text.encode() in seen:
            return
    raise AssertionError(f"{what} exited before {text!r}: {seen[-2000:].decode(errors='replace')}")


@pytest.fixture(scope="module", params=list(GATEWAYS))
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    prof = profile(request.param)
    version, driver = GATEWAYS[prof.name]
    fixtures = Path(str(request.config.rootpath)) / prof.config
    try:
        client.images.get(prof.image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{prof.image} is not built (containers/bootstrap.sh)")
    for name in ("ami-it-asterisk", "ami-it-lync"):
        _remove(client, name)
    try:
        network = client.networks.get(NETWORK)
        created_network = False
    except docker.errors.NotFound:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=f"{NET}.0/24")])
        network = client.networks.create(NETWORK, driver="bridge", ipam=ipam)
        created_network = True
    api = client.api
    try:
        lync = api.create_container(
            RESPONDER_IMAGE, name="ami-it-lync", entrypoint=["perl", "-e", OPTIONS_RESPONDER],
            networking_config=api.create_networking_config(
                {NETWORK: api.create_endpoint_config(ipv4_address=ADDRESSES["MEDIATION_ADDR"])}),
        )
        api.start(lync["Id"])
        _await_log_line(client.containers.get(lync["Id"]), "listening", "the OPTIONS responder")
        pbx = api.create_container(
            prof.image, name="ami-it-asterisk", environment=ADDRESSES,
            ports=[5038, (5060, "udp")],
            labels={READY_LABEL: 'asterisk -rx "core waitfullybooted"'},
            host_config=api.create_host_config(
                binds={str(fixtures): {"bind": "/fixtures", "mode": "ro"}},
                port_bindings={5038: ("127.0.0.1",), "5060/udp": ("127.0.0.1",)},
            ),
            networking_config=api.create_networking_config(
                {NETWORK: api.create_endpoint_config(ipv4_address=ADDRESSES["ASTERISK_ADDR"])}),
        )
        started = time.monotonic()
        api.start(pbx["Id"])
        wait_ready(lambda: {"Asterisk": client.containers.get(pbx["Id"])}, ["Asterisk"], 60,
                   logs_hint="docker logs ami-it-asterisk")
        booted = time.monotonic() - started
        ports = api.inspect_container(pbx["Id"])["NetworkSettings"]["Ports"]
        gw = Gateway(prof, version, driver, int(ports["5038/tcp"][0]["HostPort"]),
                     int(ports["5060/udp"][0]["HostPort"]))
        gw.figures["container start to fully booted"] = f"{booted:.2f} s"
        yield gw
        print(f"\nAMI figures, {prof.name} (AMI published on a 127.0.0.1 port):")
        for key, value in gw.figures.items():
            print(f"  {key}: {value}")
    finally:
        for name in ("ami-it-asterisk", "ami-it-lync"):
            _remove(client, name)
        if created_network:
            network.remove()


def test_login_health_and_driver(gateway: Gateway) -> None:
    started = time.perf_counter()
    adapter = gateway.adapter()
    gateway.figures["connect + banner + login"] = f"{(time.perf_counter() - started) * 1000:.1f} ms"
    with adapter:
        health = adapter.health()
        pattern = rf"Asterisk {gateway.version}\.\S+ \(AMI \d+\.\d+\.\d+\), fully booted;"
        assert re.match(pattern, health), health
        assert adapter.driver == gateway.driver
        gateway.figures["health"] = health
        assert adapter.client.fully_booted


def test_command_round_trip(gateway: Gateway) -> None:
    with gateway.adapter() as adapter:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            out = adapter.cli("core show channels count")
            times.append(time.perf_counter() - started)
        assert re.search(r"^\d+ active channels?$", out, re.M), out
        gateway.figures["command('core show channels count') median of 20"] = (
            f"{statistics.median(times) * 1000:.2f} ms (max {max(times) * 1000:.2f} ms)")
        with pytest.raises(AmiActionError, match="refused the CLI command 'bogus cmd'"):
            adapter.cli("bogus cmd")
        # the session survives a refused command
        assert f"Asterisk {gateway.version}." in adapter.cli("core show version")


def test_wrong_secret_and_no_ami(gateway: Gateway) -> None:
    with pytest.raises(AmiLoginError, match="AMI login refused for harness: check the credentials"):
        AmiClient.connect("127.0.0.1", gateway.ami_port, USER, "wrong", timeout=5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(AmiConnectionError, match=f"no AMI at 127.0.0.1:{closed}: is the gateway"):
        AmiClient.connect("127.0.0.1", closed, USER, SECRET, timeout=2)


def test_reload(gateway: Gateway) -> None:
    with gateway.adapter() as adapter:
        started = time.perf_counter()
        adapter.reload(gateway.profile.reload_modules)
        gateway.figures[f"reload {' + '.join(gateway.profile.reload_modules)}"] = (
            f"{(time.perf_counter() - started) * 1000:.0f} ms")
        with pytest.raises(GatewayError, match="did not reload chan_nothing.so: No such module"):
            adapter.reload(("chan_nothing.so",))


def test_trunk_qualified_over_options(gateway: Gateway) -> None:
    """The seed's troubleshooting check: to_lync answers the gateway's OPTIONS."""
    with gateway.adapter() as adapter:
        state = adapter.wait_reachable("to_lync", timeout=10)
        assert state.reachable is True, state.raw
        # within qualify=yes's limit: past 2000 ms chan_sip calls the peer LAGGED, not the
        # seed's OK (a first qualify while the machine is busy starting took 1.5 s)
        assert state.rtt_ms is not None and 0 < state.rtt_ms <= 2000, state.summary()
        assert state.contact is None  # configured, not registered
        gateway.figures["to_lync"] = state.summary()
        with pytest.raises(GatewayError, match="no (PJSIP endpoint|chan_sip peer) 'nobody'"):
            adapter.peer_state("nobody")


def _register(sock: socket.socket, sip_port: int, expires: int) -> str:
    """REGISTERs softphone 1000 from `sock` (digest, the seed's secret 1000) over UDP to
    the published port; the Contact it registered."""
    port = sock.getsockname()[1]
    contact = f"sip:1000@127.0.0.1:{port}"
    call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
    uri = f"sip:{NET}.10"
    authorization = ""
    for cseq in (1, 2):
        request = (
            f"REGISTER {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:1000@{NET}.10>;tag={tag}\r\n"
            f"To: <sip:1000@{NET}.10>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <{contact}>\r\nExpires: {expires}\r\n{authorization}"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), ("127.0.0.1", sip_port))
        answer = sock.recv(65536).decode()
        status = answer.split(" ", 2)[1]
        if status == "200":
            return contact
        challenge = re.search(r"^WWW-Authenticate: *(.+?)\r$", answer, re.M | re.I)
        assert status == "401" and challenge, answer
        value = build_authorization(challenge.group(1), "REGISTER", uri, "1000", "1000")
        authorization = f"Authorization: {value}\r\n"
    raise AssertionError(f"REGISTER refused: {answer}")


def test_softphone_registration(gateway: Gateway) -> None:
    with gateway.adapter() as adapter, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        assert adapter.peer_state("1000").contact is None
        contact = _register(sock, gateway.sip_port, 60)
        state = adapter.peer_state("1000")
        assert state.contact == contact, state.raw
        assert state.reachable is None  # the seed's [1000] has no qualify
        gateway.figures["1000 registered"] = state.summary()
        _register(sock, gateway.sip_port, 0)
        assert adapter.peer_state("1000").contact is None


def test_wait_idle_after_a_local_channel(gateway: Gateway) -> None:
    """Originate a Local channel into the dialplan (from-gtalk answers), Wait 1 s on the
    other side; wait_idle returns on the Hangup events. A second session watches the same
    Hangups to time wait_idle's return against Asterisk's own hangup times."""
    with gateway.adapter() as adapter, AmiClient.connect(
        "127.0.0.1", gateway.ami_port, USER, SECRET, timeout=10
    ) as watcher:
        assert adapter.wait_idle(5)
        originate = adapter.client.action(
            "Originate", Channel="Local/s@from-gtalk", Application="Wait", Data="1",
            Async="true",
        )
        assert originate.ok, originate.text()
        answered = adapter.client.wait_for(
            lambda e: e.name == "OriginateResponse" and e.action_id == originate.action_id, 10)
        assert answered is not None and answered["Response"] == "Success", answered
        uids = {e["Uniqueid"] for e in adapter.channels()}
        assert len(uids) == 2, uids  # the Local channel's two halves
        started = time.perf_counter()
        assert adapter.wait_idle(15) is True
        returned = time.time()
        waited = time.perf_counter() - started
        assert adapter.active_channels() == 0
        hangups = []
        while len(hangups) < 2:
            event = watcher.wait_for(lambda e: e.name == "Hangup" and e["Uniqueid"] in uids, 5)
            assert event is not None
            hangups.append(event.get("Timestamp"))  # manager.conf: timestampevents=yes
        figure = f"returned after {waited:.2f} s"
        if None not in hangups:
            times = [float(t or 0) for t in hangups]
            lag = returned - max(times)
            assert -0.05 < lag < 0.5, lag
            figure += (f", {lag * 1000:.1f} ms after the last Hangup (halves hung up "
                       f"{abs(times[1] - times[0]):.2f} s apart)")
        gateway.figures["wait_idle after Originate Local/s@from-gtalk Wait 1"] = figure
