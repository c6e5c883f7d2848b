"""Where the topology lives: subnet, published ports, the gateway, folders. One dataclass,
no globals. Folders come from the project folder (pytest's rootdir, or the current folder)
and options, with the packaged defaults behind them (assets.py)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.gateway.profiles import EXTERNAL, GatewayProfile, ProfileError, profile
from harness.roles import HOST_NUMBERS, ROLE_NAMES, Roles, role_names
from harness.topology.assets import Assets

__all__ = ["HOST_NUMBERS", "ROLE_NAMES", "ConfigError", "TopologyConfig", "role_names"]

DEFAULT_GATEWAY = "asterisk22-pjsip"
# The softphone in X-Lite's place: SIPp (scripted, the default) or baresip (a real phone)
SOFTPHONES = ("sipp", "baresip")


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and what to do."""


@dataclass(frozen=True)
class AmiLogin:
    username: str
    secret: str

    @classmethod
    def parse(cls, text: str) -> AmiLogin:
        user, sep, secret = text.partition(":")
        if not sep or not user or not secret:
            raise ConfigError(
                f"AMI credentials {text!r} are not USER:SECRET (a [user] of the gateway's "
                "manager.conf and its secret)"
            )
        return cls(user, secret)


# the variables that move the topology's published ports, and the fields they set
PORT_VARIABLES = (
    ("HARNESS_MEDIATION_PORT", "mediation_port"),
    ("HARNESS_CAPTURE_PORT", "capture_port"),
    ("HARNESS_SKYPE_PORT", "skype_port"),
    ("HARNESS_XMPP_PORT", "xmpp_port"),
    ("HARNESS_AMI_PORT", "ami_port"),
    ("HARNESS_PHONE_PORT", "phone_port"),
)


@dataclass(frozen=True)
class TopologyConfig:
    project: str = "sipharness"
    net_prefix: str = "192.168.100"
    mediation_port: int = 18068
    capture_port: int = 18090
    skype_port: int = 18070
    xmpp_port: int = 15222
    ami_port: int = 15038
    phone_port: int = 18040
    # the project folder: files are looked up here first, then among the packaged defaults
    root: Path = field(default_factory=Path.cwd)
    reports: Path | None = None
    # the topology's own files (the gateway's run copy of its configuration, its log):
    # the reports folder, or a folder per topology when several share one reports folder
    state: Path | None = None
    gateway: str = DEFAULT_GATEWAY
    # a user's own configuration tree in place of the profile's (--gateway-config)
    gateway_config: Path | None = None
    # --gateway external: where the gateway the harness does not start listens
    gateway_address: str | None = None
    # the gateway's manager (AMI) login; the harness's own gateways have theirs in
    # manager.conf, an external gateway is asked only when this is given
    ami: AmiLogin | None = None
    softphone: str = "sipp"

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
        if self.softphone not in SOFTPHONES:
            raise ConfigError(
                f"unknown softphone {self.softphone!r}: choose one of {', '.join(SOFTPHONES)}"
            )
        for name in ("mediation_port", "capture_port", "skype_port", "xmpp_port", "ami_port",
                     "phone_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name} {port} is not a TCP port (1-65535)")
        if self.reports is None:
            object.__setattr__(self, "reports", self.root / "reports")
        if self.state is None:
            object.__setattr__(self, "state", self.reports)
        if self.external:
            if not self.gateway_address:
                raise ConfigError(
                    "--gateway external needs --gateway-address HOST (the address the "
                    "simulators and the softphone send SIP to)"
                )
            try:
                ipaddress.ip_address(self.gateway_address)
            except ValueError:
                raise ConfigError(
                    f"--gateway-address {self.gateway_address!r} is not an IPv4 address"
                ) from None
            if self.gateway_config is not None:
                raise ConfigError(
                    "--gateway-config configures a gateway the harness starts; an external "
                    "gateway keeps its own configuration"
                )
        else:
            if self.gateway_address:
                raise ConfigError(
                    "--gateway-address is for --gateway external; the harness's own gateway "
                    f"is at {self.net_prefix}.{HOST_NUMBERS['asterisk']}"
                )
            try:
                profile(self.gateway)
            except ProfileError as exc:
                raise ConfigError(str(exc)) from None

    @property
    def external(self) -> bool:
        return self.gateway == EXTERNAL

    @property
    def profile(self) -> GatewayProfile | None:
        return None if self.external else profile(self.gateway)

    @property
    def assets(self) -> Assets:
        return Assets(self.root)

    @property
    def reports_dir(self) -> Path:
        assert self.reports is not None  # set in __post_init__
        return self.reports

    @property
    def state_dir(self) -> Path:
        assert self.state is not None  # set in __post_init__
        return self.state

    @property
    def asterisk_log(self) -> Path:
        return self.state_dir / "asterisk-log"

    @property
    def subnet(self) -> str:
        return f"{self.net_prefix}.0/24"

    def address(self, role: str) -> str:
        if role == "asterisk" and self.external:
            assert self.gateway_address is not None
            return self.gateway_address
        return f"{self.net_prefix}.{HOST_NUMBERS[role]}"

    def roles(self) -> Roles:
        """Address -> role name for this topology's captures (an external gateway's
        address included)."""
        return Roles({self.address(key): ROLE_NAMES[key] for key in HOST_NUMBERS})

    @property
    def gateway_source(self) -> Path:
        """The configuration tree the gateway runs: the user's, or the profile's default."""
        if self.gateway_config is not None:
            return self.gateway_config
        prof = self.profile
        if prof is None:
            raise ConfigError("an external gateway has no configuration tree here")
        return self.assets.find(prof.config)

    @property
    def asterisk_fixtures(self) -> Path:
        """The run copy of the gateway's configuration that it mounts: tests may break it."""
        return self.state_dir / "run" / "asterisk"

    @property
    def compose_files(self) -> list[Path]:
        """The peers, then either the gateway with the capture in its namespace, or the
        capture on the bridge in front of an external gateway."""
        overlay = "external.yaml" if self.external else "gateway.yaml"
        files = [self.assets.find("containers/compose.yaml"),
                 self.assets.find(f"containers/{overlay}")]
        if self.softphone == "baresip":
            files.append(self.assets.find("containers/softphone-baresip.yaml"))
        return files

    @property
    def bridge(self) -> str:
        # Linux interface names hold at most 15 characters
        return ("br-" + self.project.replace("_", "-"))[:15]

    def compose_env(self) -> dict[str, str]:
        env = dict(os.environ)
        prof = self.profile
        env.update(
            HARNESS_NET_PREFIX=self.net_prefix,
            HARNESS_SUBNET=self.subnet,
            HARNESS_GATEWAY_ADDR=self.address("asterisk"),
            HARNESS_GATEWAY_IMAGE=prof.image if prof else "",
            HARNESS_BRIDGE=self.bridge,
            HARNESS_MEDIATION_PORT=str(self.mediation_port),
            HARNESS_CAPTURE_PORT=str(self.capture_port),
            HARNESS_SKYPE_PORT=str(self.skype_port),
            HARNESS_XMPP_PORT=str(self.xmpp_port),
            HARNESS_AMI_PORT=str(self.ami_port),
            HARNESS_PHONE_PORT=str(self.phone_port),
            HARNESS_BARESIP_FIXTURES=str(self.assets.find("fixtures/baresip")),
            HARNESS_PROSODY_FIXTURES=str(self.assets.find("fixtures/prosody")),
            HARNESS_REPORTS=str(self.reports_dir),
            HARNESS_ASTERISK_FIXTURES=str(self.asterisk_fixtures),
            HARNESS_ASTERISK_LOG=str(self.asterisk_log),
            HARNESS_SCENARIOS=str(self.assets.find("scenarios")),
        )
        return env

    @classmethod
    def from_env(cls, **overrides: object) -> TopologyConfig:
        """Defaults, then HARNESS_* environment variables, then explicit overrides (None
        means not given)."""
        values: dict[str, object] = {}
        env = os.environ
        for key, attr in (("HARNESS_PROJECT", "project"), ("HARNESS_NET_PREFIX", "net_prefix"),
                          ("HARNESS_GATEWAY", "gateway"),
                          ("HARNESS_GATEWAY_ADDRESS", "gateway_address"),
                          ("HARNESS_SOFTPHONE", "softphone")):
            if env.get(key):
                values[attr] = env[key]
        for key, attr in PORT_VARIABLES:
            if key in env:
                try:
                    values[attr] = int(env[key])
                except ValueError:
                    raise ConfigError(f"{key}={env[key]!r} is not a port number") from None
        if env.get("HARNESS_REPORTS"):
            values["reports"] = Path(env["HARNESS_REPORTS"]).resolve()
        if env.get("HARNESS_GATEWAY_CONFIG"):
            values["gateway_config"] = Path(env["HARNESS_GATEWAY_CONFIG"]).resolve()
        if env.get("HARNESS_GATEWAY_AMI"):
            values["ami"] = AmiLogin.parse(env["HARNESS_GATEWAY_AMI"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
