"""Set-up the simulator tests share: run an async test with a time limit, a quiet line
log, and the simulators' loopback configurations."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, cast

from harness.peers.common.log import LineLog
from harness.peers.lync.mediation import Config as MediationConfig
from harness.peers.lync.mediation import MediationServer

LOCAL = "127.0.0.1"


def run_async(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in its own loop with a hard time limit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 10))

    return wrapper


class NullStream:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def quiet_log(name: str, lines: list[str]) -> LineLog:
    """A LineLog that keeps its lines in ``lines`` and prints nothing."""
    return LineLog(name, stream=cast(TextIO, NullStream()), lines=lines)


def mediation_server(lines: list[str], gateway_port: int = 5060) -> MediationServer:
    """The Mediation Server simulator on loopback, any free ports."""
    return MediationServer(
        MediationConfig(
            address=LOCAL,
            bind=LOCAL,
            sip_port=0,
            control_port=0,
            control_bind=LOCAL,
            gateway=(LOCAL, gateway_port),
            rtp_ports=(0, 0),
        ),
        quiet_log("mediation", lines),
    )
