"""One topology per pytest-xdist worker (`pytest -n N`): worker gwK gets its own compose
project, /24, published ports and reports folder, derived from the session's settings, so
no two workers share a container, an address, a port or a pcap.

- project: ``<project>-gwK``
- subnet: the worker base's third octet plus K (default base 192.168.130: worker 0 on
  192.168.130.0/24, clear of the seed's 192.168.100 that a serial run uses)
- ports: ``<port base> + 100*K`` plus each service's last two digits of its serial default
  (default base 30000: worker 0's Mediation Server control port is 30068)
- reports: one folder for every worker (pcaps, artifacts and SIPp logs are named by test);
  each topology's own files (the gateway's run configuration and log) in
  ``<reports>/workers/gwK``
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from harness.topology.config import ConfigError, TopologyConfig

DEFAULT_NET_BASE = "192.168.130"
DEFAULT_PORT_BASE = 30000
# each worker's ports are its base + 100*K + these (the serial defaults' last two digits)
PORT_OFFSETS = {
    "mediation_port": 68,
    "capture_port": 90,
    "skype_port": 70,
    "xmpp_port": 22,
    "ami_port": 38,
    "phone_port": 40,
}
WORKERS_FOLDER = "workers"


@dataclass(frozen=True)
class WorkerLayout:
    """Where the workers' topologies go: the first worker's /24 and port base."""

    net_base: str = DEFAULT_NET_BASE
    port_base: int = DEFAULT_PORT_BASE

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_network(f"{self.net_base}.0/24")
        except ValueError:
            raise ConfigError(
                f"worker subnet base {self.net_base!r} is not the first three octets of an "
                "IPv4 /24 (example: 192.168.130)"
            ) from None
        if not 1024 <= self.port_base <= 65535 - 100:
            raise ConfigError(
                f"worker port base {self.port_base} must leave room for 100 ports per worker "
                "between 1024 and 65535"
            )

    def net_prefix(self, index: int) -> str:
        a, b, c = (int(x) for x in self.net_base.split("."))
        if c + index > 255:
            raise ConfigError(
                f"worker gw{index} has no /24 after {self.net_base}: choose a lower "
                "--harness-worker-net or fewer workers"
            )
        return f"{a}.{b}.{c + index}"

    def ports(self, index: int) -> dict[str, int]:
        base = self.port_base + 100 * index
        if base + 99 > 65535:
            raise ConfigError(
                f"worker gw{index} has no ports after {self.port_base}: choose a lower "
                "--harness-worker-ports or fewer workers"
            )
        return {name: base + offset for name, offset in PORT_OFFSETS.items()}


def worker_index(worker_id: str) -> int:
    """pytest-xdist names its workers gw0, gw1, ..."""
    match = re.fullmatch(r"gw(\d+)", worker_id)
    if match is None:
        raise ConfigError(f"unexpected pytest-xdist worker id {worker_id!r} (expected gwN)")
    return int(match.group(1))


def worker_state(reports: Path, worker_id: str) -> Path:
    return reports / WORKERS_FOLDER / worker_id


def for_worker(config: TopologyConfig, worker_id: str, layout: WorkerLayout) -> TopologyConfig:
    """The session's settings for one worker: its own project, subnet, ports and gateway
    files."""
    if config.external:
        raise ConfigError(
            "--gateway external runs every test against the one gateway you started; "
            "pytest -n N needs a topology, so a gateway, per worker: run it without -n"
        )
    index = worker_index(worker_id)
    return dataclasses.replace(
        config,
        project=f"{config.project}-{worker_id}",
        net_prefix=layout.net_prefix(index),
        state=worker_state(config.reports_dir, worker_id),
        **layout.ports(index),  # type: ignore[arg-type]
    )
