"""What the simulators' command lines share: argument types, and running a simulator until
SIGINT or SIGTERM. Standard library only."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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


def from_args(config_type: type[C], args: argparse.Namespace) -> C:
    """A ``config_type`` (dataclass) with every field taken from the parsed argument of the
    same name (``--sip-port`` -> ``sip_port``)."""
    fields = dataclasses.fields(config_type)
    return config_type(**{f.name: getattr(args, f.name) for f in fields})


async def serve_until_signalled(peer: Peer) -> None:
    """Start ``peer``, wait for SIGINT or SIGTERM, close it."""
    await peer.start()
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


def run(name: str, serving: Coroutine[Any, Any, None]) -> int:
    """Run ``serving``; exit status 1 with ``<name>: cannot start: ...`` on stderr when a
    socket cannot be opened."""
    try:
        asyncio.run(serving)
    except OSError as exc:
        print(f"{name}: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
