"""The security flows, driven for real: an unknown host attacks the gateway.

The attacker is a one-off container at .66 of the topology's subnet (no peer of the
gateway's configuration has that address), from the simulators' image (python3 and the
harness's sans-I/O SIP), running :mod:`harness.flows.attacker` with the harness package
mounted read-only. Each flow sends its plan of probes, stops the test's pcap and returns
the run; the checks (:mod:`harness.analysis.security_rules`) read only the pcap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import harness
import harness.analysis.security_rules as rules
from harness.analysis.verdict import Verdict
from harness.flows.attacker import Probe
from harness.flows.run import CallPcap, CallRun, verdict_of
from harness.roles import Roles
from harness.topology.errors import TopologyError

if TYPE_CHECKING:
    from harness.topology.config import TopologyConfig
    from harness.topology.topology import Topology

ATTACKER_HOST = 66
# python3 and the standard library, as the attacker needs; the package is mounted over it
ATTACKER_IMAGE = "sipharness/mediation:latest"

# Seed dialplan numbers an attacker would dial: the Lync user (exten 14255550150 and Lync's
# +E.164 form, both routed to to_lync), Skype's test call (1001 dials Skype for SIP) and
# echo123 through Skype for Asterisk (1002).
TOLL_NUMBERS = ("+14255550150", "14255550150", "1001", "1002")
LYNC_NUMBER = "+14255550150"
SOFTPHONE_USER = "1000"  # seed [1000]: type = friend, secret = 1000
ABSENT_USERS = ("1999", "2000")  # in no configuration and no dialplan
WRONG_SECRET = "not-the-secret"
# A short dictionary, as svcrack's defaults and common lists start: the extension itself,
# digit runs, and the words administrators leave in place.
DICTIONARY = ("1234", "12345", "123456", "0000", "1111", "password", "secret", "admin",
              "asterisk", "voip", "pass", "qwerty", "letmein", SOFTPHONE_USER, "100000")


def attacker_address(config: TopologyConfig) -> str:
    return f"{config.net_prefix}.{ATTACKER_HOST}"


def toll_fraud_probes() -> list[Probe]:
    """INVITEs from nobody the gateway knows, and from a stranger who claims to be the
    softphone, without credentials (seed [general]: allowguest=no)."""
    probes = [Probe(f"toll/INVITE/{n}", "INVITE", n, "attacker") for n in TOLL_NUMBERS]
    probes.append(Probe(f"toll/INVITE/{LYNC_NUMBER}/as-{SOFTPHONE_USER}", "INVITE",
                        LYNC_NUMBER, SOFTPHONE_USER))
    return probes


def wrong_password_probes() -> list[Probe]:
    """The softphone's REGISTER and its INVITE to Lync, each challenge answered with a
    wrong secret (seed [1000]: secret = <password>)."""
    return [Probe(f"wrongpw/REGISTER/{SOFTPHONE_USER}", "REGISTER", SOFTPHONE_USER,
                  SOFTPHONE_USER, WRONG_SECRET),
            Probe(f"wrongpw/INVITE/{LYNC_NUMBER}", "INVITE", LYNC_NUMBER, SOFTPHONE_USER,
                  WRONG_SECRET)]


def probing_probes() -> list[Probe]:
    """REGISTER, INVITE and OPTIONS for the user that exists and for users that do not, as
    svwar enumerates (RFC 3261 26.1.1; chan_sip's alwaysauthreject): a challenge is
    answered with a wrong secret, so the second answer is compared too."""
    return [Probe(f"probe/{method}/{user}", method, user, user, WRONG_SECRET)
            for method in rules.PROBE_METHODS for user in (SOFTPHONE_USER, *ABSENT_USERS)]


def dictionary_probes() -> list[Probe]:
    """A REGISTER query for 1000 per common secret, until one is accepted."""
    return [Probe(f"dict/REGISTER/{SOFTPHONE_USER}/{n}", "REGISTER", SOFTPHONE_USER,
                  SOFTPHONE_USER, secret) for n, secret in enumerate(DICTIONARY)]


@dataclass
class AttackerHost:
    """The attacker's container: started once, used by every security test."""

    container: Any  # docker Container
    address: str
    gateway: str

    @classmethod
    def start(cls, topology: Topology) -> AttackerHost:
        config = topology.config
        name = f"sec-attacker-{config.project}"
        client = topology.engine.client
        from docker.errors import DockerException, NotFound

        try:
            try:
                client.containers.get(name).remove(force=True)  # one left by a killed run
            except NotFound:
                pass
            api, network = client.api, f"{config.project}_interop"
            mount = {str(Path(harness.__file__).parent): {
                "bind": "/opt/harness/harness", "mode": "ro"}}
            created = api.create_container(
                ATTACKER_IMAGE, entrypoint=["sleep", "infinity"], name=name,
                environment={"PYTHONPATH": "/opt/harness", "PYTHONUNBUFFERED": "1"},
                labels={"org.sipharness.role": "attacker"},
                host_config=api.create_host_config(binds=mount, network_mode=network),
                networking_config=api.create_networking_config({network: (
                    api.create_endpoint_config(ipv4_address=attacker_address(config)))}))
            api.start(created["Id"])
            container = client.containers.get(created["Id"])
        except DockerException as exc:
            raise TopologyError(
                f"the attacker container {name} did not start ({exc}): is the image "
                f"{ATTACKER_IMAGE} built (`make setup`) and the topology up?") from None
        return cls(container, attacker_address(config), config.address("asterisk"))

    def stop(self) -> None:
        self.container.remove(force=True)

    def attack(self, probes: list[Probe], stop_at_success: bool = False) -> list[dict[str, Any]]:
        """Sends the probes in order; what the attacker saw, one record per probe."""
        plan = {"gateway": self.gateway, "local": self.address, "stop_at_success":
                stop_at_success, "probes": [vars(p) for p in probes]}
        result = self.container.exec_run(
            ["python3", "-m", "harness.flows.attacker", json.dumps(plan)], demux=True)
        out, err = result.output if result.output else (b"", b"")
        if result.exit_code != 0:
            raise TopologyError(f"the attacker failed (exit {result.exit_code}): "
                                f"{(err or b'').decode(errors='replace')[-800:]}")
        return [json.loads(line) for line in (out or b"").decode().splitlines() if line]


@dataclass
class SecurityRun:
    """A run of probes: the call run (its pcap, the roles with the attacker named) and
    what the attacker saw."""

    run: CallRun
    probes: list[Probe]
    seen: list[dict[str, Any]] = field(default_factory=list)


def attack(topology: Topology, pcap: CallPcap, attacker: AttackerHost, flow: str,
           probes: list[Probe], *, stop_at_success: bool = False) -> SecurityRun:
    roles = topology.config.roles()
    roles = Roles({**roles.by_address, attacker.address: rules.ATTACKER})
    problems: list[str] = []
    try:
        seen = attacker.attack(probes, stop_at_success)
    except TopologyError as exc:
        seen, problems = [], [str(exc)]
    pcap.stop()
    run = CallRun(flow, pcap, None, None, roles, {}, problems)
    if stop_at_success:  # the probes after the one that succeeded were never sent
        sent = {record["label"] for record in seen}
        probes = [p for p in probes if p.label in sent]
    return SecurityRun(run, probes, seen)


def verify(sec: SecurityRun, topology: Topology,
           check: rules.Check) -> Verdict:
    """The pcap's verdict for `check` (one of security_rules' checks), with the gateway's
    disclosed version noted."""
    config = topology.config
    where = rules.Hosts(
        gateway=config.address("asterisk"),
        attacker=attacker_address(config),
        trunks={config.address("mediation"): "Mediation Server",
                config.address("skype"): "Skype"},
    )

    def judged(capture: Any) -> Verdict:
        verdict = Verdict(sec.run.flow, sec.run.pcap.path, family="security")
        messages = [m.with_roles(sec.run.roles) for m in capture.sip_messages()]
        check(verdict, messages, where, sec.probes)
        for line in rules.disclosed_versions(messages, where.gateway):
            verdict.note(f"the gateway discloses its version: {line}")
        return verdict

    return verdict_of(sec.run, judged)
