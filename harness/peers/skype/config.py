"""The Skype simulator's configuration and command line."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from harness.peers.common.cli import SimulatorConfig, from_args, simulator_parser


@dataclass(frozen=True)
class Config(SimulatorConfig):
    address: str = "192.168.100.30"
    sfa_port: int = 5070
    control_port: int = 8070
    rtp_ports: tuple[int, int] = (41000, 41199)
    domain: str = "sip.skype.com"
    profile: str = "99051000107808"
    password: str = "skype-sip-password"
    channels: int = 2
    t1: float = 0.5


def _profile(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z._+-]{1,64}", text):
        raise argparse.ArgumentTypeError(f"not a SIP profile user name: {text!r}")
    return text


def _channels(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of channels, got {text!r}")
    return int(text)


def _t1(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.01 <= value <= 10:
        raise argparse.ArgumentTypeError("T1 must be between 0.01 and 10 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    d = Config()
    p = simulator_parser(
        "python3 -m harness.peers.skype",
        "Simulated Skype for SIP service (sip.skype.com) over UDP: REGISTER "
        "with digest auth, calls to the echo test number +17606604690 (407 challenge, "
        "caller ID, E.164 and codec checks, channel limit), a Skype for Asterisk listener "
        "(echo123), calls from Skype to the gateway, and a JSON control API (GET /health, "
        "GET|PUT|DELETE /behaviour, GET|DELETE /registrations, GET|POST|DELETE /calls, "
        "GET /calls/<id>|last?wait=ended).",
        d,
        sip_port="Skype for SIP UDP port",
        gateway="HOST:PORT of the gateway (Asterisk) for calls from Skype, over UDP",
        domain="SIP domain and digest realm",
        tone_hz="tone sent on calls from Skype",
    )
    p.add_argument(
        "--sfa-port",
        type=int,
        default=d.sfa_port,
        help="Skype for Asterisk (Skype network) UDP port",
    )
    p.add_argument("--profile", type=_profile, default=d.profile, help="SIP profile user name")
    p.add_argument("--password", default=d.password, help="SIP profile password")
    p.add_argument("--channels", type=_channels, default=d.channels, help="concurrent SIP channels")
    p.add_argument("--t1", type=_t1, default=d.t1, help="RFC 3261 T1 in seconds (retransmissions)")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    return from_args(Config, args)
