"""The compose lifecycle: up (reused when already up), readiness, logs, down.

Prefers compose v2 (`docker compose`), falls back to docker-compose v1; the compose file
stays within what both accept. Containers are found by compose's labels, never by name.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

from harness.topology.config import TopologyConfig
from harness.topology.engine import Engine
from harness.topology.errors import TopologyError
from harness.topology.ready import Readiness

__all__ = ["PEERS", "Compose", "TopologyError", "find_compose", "services"]

PEERS = ("mediation", "skype", "xmpp", "softphone")
# the peers the gateway itself registers to, qualifies or logs on to as it starts
SERVERS = ("mediation", "skype", "xmpp")


def services(config: TopologyConfig) -> tuple[str, ...]:
    """The services compose runs: the peers and the capture, and the gateway when the
    harness starts it."""
    # capture-xmpp: the XMPP server's side, merged into each pcap (containers/gateway.yaml)
    return (*PEERS, "capture") if config.external else (*PEERS, "asterisk", "capture",
                                                         "capture-xmpp")


def find_compose() -> list[str]:
    if shutil.which("docker") is None:
        raise TopologyError(
            "the docker command is not installed: run `make setup` (containers/bootstrap.sh)"
        )
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise TopologyError(
        "neither `docker compose` nor `docker-compose` is installed: run `make setup`"
    )


@dataclass
class Compose:
    config: TopologyConfig
    command: list[str] = field(default_factory=find_compose)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        files = [arg for path in self.config.compose_files for arg in ("-f", str(path))]
        cmd = [*self.command, "-p", self.config.project, *files, *args]
        try:
            return subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                env=self.config.compose_env(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TopologyError(
                f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s"
            ) from None

    def check(self, *args: str, timeout: float = 300) -> str:
        result = self.run(*args, timeout=timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-15:]
            raise TopologyError(
                f"`compose {' '.join(args)}` failed (exit {result.returncode}):\n  "
                + "\n  ".join(detail)
            )
        return result.stdout

    def states(self) -> dict[str, str]:
        """Service -> 'running' | 'exited' | 'created' ... (Docker's container status)."""
        return Engine.connect().service_states(self.config.project)

    @property
    def services(self) -> tuple[str, ...]:
        return services(self.config)

    def is_up(self) -> bool:
        """Every service running, the same set of them (the same gateway mode), the same
        gateway image, and started for this checkout (same fixtures and reports folders):
        a topology left up by another checkout would write pcaps elsewhere."""
        engine = Engine.connect()
        states = engine.service_states(self.config.project)
        if set(states) != set(self.services) or not all(
            states.get(s) == "running" for s in self.services
        ):
            return False
        mounts = engine.mount_sources(self.config.project)
        if str(self.config.reports_dir) not in mounts.get("capture", set()):
            return False
        phone_image = "sipharness/baresip:" if self.config.softphone == "baresip" else (
            "sipharness/softphone:")
        if not (engine.image_of(self.config.project, "softphone") or "").startswith(phone_image):
            return False
        prof = self.config.profile
        if prof is None:
            return True
        return (
            str(self.config.asterisk_fixtures) in mounts.get("asterisk", set())
            and engine.image_of(self.config.project, "asterisk") == prof.image
        )

    def up(self, timeout: float = 120) -> float:
        """Brings every service up and ready; returns the seconds it took. The servers
        first: the gateway registers to Skype, qualifies the trunk and logs on to XMPP as
        it starts, so they must answer by then (as the seed's servers do). The softphone
        comes with the gateway: it registers to it, and a gateway recreated after the
        phone registered (a new reports folder, say) would have lost that registration."""
        self.config.reports_dir.mkdir(parents=True, exist_ok=True)
        self.config.asterisk_log.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        ready = Readiness(Engine.connect(), self.config.project)
        # a topology of another gateway mode leaves services compose no longer lists
        self.check("up", "-d", "--no-build", "--remove-orphans", *SERVERS, timeout=timeout)
        ready.wait(SERVERS, timeout)
        self.check("up", "-d", "--no-build", "--remove-orphans", timeout=timeout)
        # the servers answered above: each probe costs a process in the container
        ready.wait([s for s in self.services if s not in SERVERS],
                   start + timeout - time.monotonic())
        if self._phone_registered_elsewhere(ready.engine):
            ready.wait(["softphone"], start + timeout - time.monotonic())
        return time.monotonic() - start

    def _phone_registered_elsewhere(self, engine: Engine) -> bool:
        """baresip registers once, as it starts (as X-Lite logs on): a gateway (re)started
        after it has lost that registration, so the phone is restarted to log on again.
        True when it was."""
        if self.config.softphone != "baresip" or self.config.external:
            return False
        found = engine.containers(self.config.project)
        gateway, phone = found.get("asterisk"), found.get("softphone")
        if gateway is None or phone is None:
            return False
        # RFC 3339 times in UTC from the same engine: they compare as text
        if phone.attrs["State"]["StartedAt"] >= gateway.attrs["State"]["StartedAt"]:
            return False
        phone.restart(timeout=3)
        return True

    def down(self, timeout: float = 120) -> None:
        self.check("down", "--volumes", "--remove-orphans", "--timeout", "3", timeout=timeout)

    def logs(self, service: str, tail: int = 200) -> str:
        result = self.run("logs", "--no-color", "--tail", str(tail), service, timeout=60)
        return result.stdout + result.stderr
