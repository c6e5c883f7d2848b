"""Where the topology lives: subnet, published ports, folders. One dataclass, no globals."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.roles import HOST_NUMBERS, ROLE_NAMES, role_names

__all__ = ["HOST_NUMBERS", "ROLE_NAMES", "ConfigError", "TopologyConfig", "role_names"]

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and what to do."""


@dataclass(frozen=True)
class TopologyConfig:
    project: str = "sipharness"
    net_prefix: str = "192.168.100"
    mediation_port: int = 18068
    capture_port: int = 18090
    skype_port: int = 18070
    xmpp_port: int = 15222
    repo_root: Path = REPO_ROOT
    reports: Path = field(default_factory=lambda: REPO_ROOT / "reports")
    fixtures: Path = field(default_factory=lambda: REPO_ROOT / "fixtures")
    scenarios: Path = field(default_factory=lambda: REPO_ROOT / "scenarios")

    def __post_init__(self) -> None:
        try:
            net = ipaddress.ip_network(f"{self.net_prefix}.0/24")
        except ValueError:
            raise ConfigError(
                f"subnet prefix {self.net_prefix!r} is not the first three octets of an IPv4 "
                "/24 (example: 192.168.100)"
            ) from None
        if net.version != 4:
            raise ConfigError("the topology subnet must be IPv4")
        for name in ("mediation_port", "capture_port", "skype_port", "xmpp_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name} {port} is not a TCP port (1-65535)")

    @property
    def subnet(self) -> str:
        return f"{self.net_prefix}.0/24"

    def address(self, role: str) -> str:
        return f"{self.net_prefix}.{HOST_NUMBERS[role]}"

    @property
    def asterisk_fixtures(self) -> Path:
        """The run copy of fixtures/asterisk that Asterisk mounts: tests may break it."""
        return self.reports / "run" / "asterisk"

    @property
    def compose_file(self) -> Path:
        return self.repo_root / "containers" / "compose.yaml"

    def compose_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HARNESS_NET_PREFIX=self.net_prefix,
            HARNESS_SUBNET=self.subnet,
            HARNESS_MEDIATION_PORT=str(self.mediation_port),
            HARNESS_CAPTURE_PORT=str(self.capture_port),
            HARNESS_SKYPE_PORT=str(self.skype_port),
            HARNESS_XMPP_PORT=str(self.xmpp_port),
            HARNESS_PROSODY_FIXTURES=str(self.fixtures / "prosody"),
            HARNESS_REPORTS=str(self.reports),
            HARNESS_ASTERISK_FIXTURES=str(self.asterisk_fixtures),
            HARNESS_SCENARIOS=str(self.scenarios),
        )
        return env

    @classmethod
    def from_env(cls, **overrides: object) -> TopologyConfig:
        """Defaults, then HARNESS_* environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        env = os.environ
        if "HARNESS_PROJECT" in env:
            values["project"] = env["HARNESS_PROJECT"]
        if "HARNESS_NET_PREFIX" in env:
            values["net_prefix"] = env["HARNESS_NET_PREFIX"]
        for key, attr in (
            ("HARNESS_MEDIATION_PORT", "mediation_port"),
            ("HARNESS_CAPTURE_PORT", "capture_port"),
            ("HARNESS_SKYPE_PORT", "skype_port"),
            ("HARNESS_XMPP_PORT", "xmpp_port"),
        ):
            if key in env:
                try:
                    values[attr] = int(env[key])
                except ValueError:
                    raise ConfigError(f"{key}={env[key]!r} is not a port number") from None
        if "HARNESS_REPORTS" in env:
            values["reports"] = Path(env["HARNESS_REPORTS"]).resolve()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
