"""What the simulators' command lines share: the settings both have (:class:`SimulatorConfig`
and :func:`add_common_arguments`), argument types, and running a simulator until SIGINT or
SIGTERM. Standard library only."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from harness.peers.common.stalls import GcWatch
from harness.rtp.priority import raise_priority

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


class Peer(Protocol):
    @property
    def log(self) -> Callable[[str], None]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (argparse type)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def port_range(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` within 1024-65535, or ``0-0`` (argparse type)."""
    first, sep, last = text.partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST, got {text!r}")
    lo, hi = int(first), int(last)
    if (lo, hi) != (0, 0) and not (1024 <= lo < hi < 65536):
        raise argparse.ArgumentTypeError(f"port range {text!r}: need 1024 <= FIRST < LAST < 65536")
    return lo, hi


@dataclass(frozen=True)
class SimulatorConfig:
    """The settings of every simulator; each one's ``Config`` subclass sets its own
    defaults (addresses, ports, domain) and adds its own settings."""

    address: str = "127.0.0.1"
    bind: str = "0.0.0.0"
    sip_port: int = 5060
    control_port: int = 8068
    control_bind: str = "0.0.0.0"
    gateway: tuple[str, int] = ("192.168.100.10", 5060)
    rtp_ports: tuple[int, int] = (40000, 40199)
    domain: str = "localhost"
    media_address: str | None = None
    tone_hz: float = 1000.0
    verbose: bool = False


_COMMON_HELP = {
    "address": "address advertised in Via, Contact, SDP",
    "bind": "address to bind SIP and RTP sockets to",
    "sip_port": "SIP listening port",
    "control_port": "control API HTTP port",
    "control_bind": "control API bind address",
    "gateway": "HOST:PORT of the gateway (Asterisk)",
    "rtp_ports": "RTP port range FIRST-LAST (even RTP ports, RTCP = RTP+1); 0-0: any",
    "domain": "SIP domain",
    "media_address": "address in SDP c= and o= (default: --address)",
    "tone_hz": "frequency of the sent tone",
    "verbose": "also log every SIP message in full",
}


def simulator_parser(
    prog: str, description: str, defaults: SimulatorConfig, **helps: str
) -> argparse.ArgumentParser:
    """A parser with one option per :class:`SimulatorConfig` field (``sip_port`` ->
    ``--sip-port``), its default from ``defaults``; ``helps`` replaces a field's help
    text. The simulator adds its own options."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    types: dict[str, Callable[[str], Any]] = {
        "sip_port": int,
        "control_port": int,
        "gateway": hostport,
        "rtp_ports": port_range,
        "tone_hz": float,
    }
    for f in dataclasses.fields(SimulatorConfig):
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name, _COMMON_HELP[f.name])
        if f.name == "verbose":
            parser.add_argument(flag, action="store_true", help=text)
        elif f.name in types:
            default = getattr(defaults, f.name)
            parser.add_argument(flag, type=types[f.name], default=default, help=text)
        else:
            parser.add_argument(flag, default=getattr(defaults, f.name), help=text)
    return parser


def from_args(config_type: type[C], args: argparse.Namespace) -> C:
    """A ``config_type`` (dataclass) with every field taken from the parsed argument of the
    same name (``--sip-port`` -> ``sip_port``)."""
    fields = dataclasses.fields(config_type)
    return config_type(**{f.name: getattr(args, f.name) for f in fields})


async def serve_until_signalled(peer: Peer) -> None:
    """Start ``peer`` at raised priority (harness.rtp.priority), wait for SIGINT
    or SIGTERM, close it; log the collector's long pauses meanwhile
    (harness.peers.common.stalls)."""
    raise_priority(peer.log)
    with GcWatch(peer.log):
        await _serve(peer)


async def _serve(peer: Peer) -> None:
    await peer.start()
    # What start-up made (modules, classes, the simulator) is never garbage: frozen, the
    # collector's full passes skip it and scan only what calls made. (In a 1000-call load
    # run a full pass held the Mediation Server simulator 39.6 ms, 31k objects tracked,
    # and four calls failed their 60 ms spacing rule; Simulator._forget keeps the passes
    # short.)
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()
    peer.log("shutting down")
    await peer.close()


def simulator_main(
    name: str,
    parser: argparse.ArgumentParser,
    config_type: type[C],
    make: Callable[[C], Peer],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` into a ``config_type``, then run ``make(config)`` until signalled."""
    config = from_args(config_type, parser.parse_args(argv))
    return run(name, serve_until_signalled(make(config)))


def run(name: str, serving: Coroutine[Any, Any, None]) -> int:
    """Run ``serving``; exit status 1 with ``<name>: cannot start: ...`` on stderr when a
    socket cannot be opened."""
    try:
        asyncio.run(serving)
    except OSError as exc:
        print(f"{name}: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
