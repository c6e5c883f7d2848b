"""The Mediation Server simulator's configuration and command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from harness.peers.common.cli import SimulatorConfig, simulator_parser


@dataclass(frozen=True)
class Config(SimulatorConfig):
    address: str = "192.168.100.20"
    sip_port: int = 5068
    control_port: int = 8068
    rtp_ports: tuple[int, int] = (40000, 40199)
    domain: str = "mediationsrv.contoso.com"
    from_user: str = "+14255550150"
    auth_user: str | None = None
    auth_password: str | None = None


def build_parser() -> argparse.ArgumentParser:
    d = Config()
    p = simulator_parser(
        "python3 -m harness.peers.lync",
        "Simulated Lync Server 2010 Mediation Server: Lync's SIP wire format over "
        "TCP, PCMU RTP with RFC 4733 DTMF, and a JSON control API (GET /health, "
        "GET|PUT|DELETE /behaviour, GET|POST|DELETE /calls, GET /calls/<id>|last?wait=ended).",
        d,
        address="address advertised in Via, Contact maddr and SDP",
        sip_port="SIP TCP listening port",
        gateway="HOST:PORT of the gateway (Asterisk) for outbound calls, over TCP",
        domain="host name in the Contact URI",
        media_address="address in the SDP c= and o= lines (default: --address)",
    )
    p.add_argument(
        "--from-user", default=d.from_user, help="default calling number of outbound calls"
    )
    p.add_argument(
        "--auth-user",
        default=None,
        help="digest user name for outbound calls challenged with 401/407",
    )
    p.add_argument("--auth-password", default=None, help="digest password")
    return p
