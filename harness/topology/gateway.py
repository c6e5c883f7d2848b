"""Asking the gateway under test: its CLI, reloads, idleness and state. Over the Asterisk
Manager Interface (AMI) wherever a login is known, so the same code serves the harness's
own gateway and one it does not start; `docker exec` only for what AMI cannot do (render
the configuration into the harness's own container)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from harness.gateway.profiles import GatewayProfile
from harness.topology.config import AmiLogin, TopologyConfig
from harness.topology.engine import Engine
from harness.topology.errors import TopologyError

# manager.conf of the harness's own gateway profiles ([harness] user)
OWN_AMI = AmiLogin("harness", "harness-ami")


# The seed's trunk to the Mediation Server, and how long its first qualify may take (seen:
# 1.5 s for chan_sip's while the machine was busy starting).
TRUNK = "to_lync"
TRUNK_WAIT_S = 20.0
# how long a reloaded setting may take to show in the gateway's views, read this often
VIEW_WAIT_S = 10.0
VIEW_POLL_S = 0.05
LOG_TAIL = 3  # lines of an exited gateway's output quoted


class GatewayNotAsked(TopologyError):
    """The harness has no way to ask this gateway (an external gateway without an AMI
    login): what needs its state is reported as not checked."""


@dataclass
class GatewayControl:
    config: TopologyConfig
    engine: Engine
    _adapter: Any = field(default=None, repr=False)

    @property
    def profile(self) -> GatewayProfile | None:
        return self.config.profile

    @property
    def login(self) -> AmiLogin | None:
        return self.config.ami or (None if self.config.external else OWN_AMI)

    @property
    def ami_endpoint(self) -> tuple[str, int]:
        if self.config.external:
            return self.config.address("asterisk"), 5038
        return "127.0.0.1", self.config.ami_port

    def adapter(self) -> Any:
        """The AMI adapter, logged in on first use (harness.gateway.adapter)."""
        if self._adapter is None:
            login = self.login
            if login is None:
                raise GatewayNotAsked(
                    "no AMI login for the external gateway: give --gateway-ami USER:SECRET "
                    "(a manager.conf user) to have its state checked"
                )
            from harness.gateway.adapter import GatewayAdapter
            from harness.gateway.ami_client import AmiClient, AmiError

            host, port = self.ami_endpoint
            try:
                client = AmiClient.connect(host, port, login.username, login.secret,
                                           timeout=10)
            except AmiError as exc:
                raise TopologyError(str(exc)) from None
            prof = self.profile  # an external gateway's driver is found out over AMI
            self._adapter = GatewayAdapter(client, prof.driver if prof else None)
        return self._adapter

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None

    def cli(self, command: str) -> str:
        """A CLI command's output (`asterisk -rx` over AMI), e.g. 'core show channels'."""
        from harness.gateway.ami_client import AmiError

        try:
            return str(self.adapter().cli(command))
        except AmiError as exc:
            self.close()  # a broken connection is opened again on the next question
            raise TopologyError(f"the gateway did not answer {command!r}: {exc}") from None

    def wait_idle(self, timeout: float) -> bool:
        """True once no channel is up (Hangup events awaited over AMI)."""
        from harness.gateway.ami_client import AmiError

        try:
            return bool(self.adapter().wait_idle(timeout))
        except AmiError as exc:
            self.close()
            raise TopologyError(f"waiting for the gateway to go idle failed: {exc}") from None

    def reload(self, modules: tuple[str, ...] | None = None) -> None:
        """Renders the run copy of the configuration into the gateway's /etc/asterisk and
        reloads `modules` (the profile's by default). Returns once `module reload` has
        for each; chan_sip applies sip.conf later, in its own thread, so a caller that
        needs the change in force awaits it with ``wait_view``
        (``Topology.gateway_config_edited`` does)."""
        from harness.gateway.ami_client import AmiError

        prof = self._own_profile("reloading its configuration")
        render = self.engine.exec(
            self.config.project, "asterisk", ["/usr/local/bin/entrypoint.sh", "render"]
        )
        if render.exit_code != 0:
            raise TopologyError(f"rendering the gateway's configuration failed: {render.stderr}")
        try:
            self.adapter().reload(modules or prof.reload_modules)
        except AmiError as exc:
            self.close()
            raise TopologyError(f"reloading the gateway's configuration failed: {exc}") from None

    def wait_view(self, command: str, pattern: str, shown: bool,
                  timeout: float = VIEW_WAIT_S) -> None:
        """Reads `command` every ``VIEW_POLL_S`` until `pattern` is found in it (``shown``)
        or no longer is: for a change the gateway applies after `module reload` has
        returned (chan_sip), which it announces by no event."""
        deadline = time.monotonic() + timeout
        while (re.search(pattern, self.cli(command)) is not None) != shown:
            if time.monotonic() > deadline:
                raise TopologyError(
                    f"the gateway did not apply its reloaded configuration within {timeout:g} "
                    f"s: `{command}` {'never showed' if shown else 'still shows'} "
                    f"/{pattern}/ (see the Asterisk log)")
            time.sleep(VIEW_POLL_S)

    def register_again(self) -> None:
        """Restarts the gateway's Skype for SIP registration (a fresh, challenged REGISTER)."""
        prof = self._own_profile("restarting its registration")
        self.cli(prof.register_again)

    def state(self) -> dict[str, str]:
        """What the gateway was doing (for a failed call's report): command -> output."""
        prof = self.profile
        commands = prof.state_commands if prof else ("core show channels verbose",)
        out: dict[str, str] = {}
        for command in commands:
            try:
                out[command] = self.cli(command)
            except TopologyError as exc:
                out[command] = f"(could not run: {exc})"
        return out

    def trunk_problem(self, timeout: float = TRUNK_WAIT_S) -> str | None:
        """The seed's qualify=yes, asked before any call is placed: None when the Lync
        trunk answers the gateway's OPTIONS (or the gateway cannot be asked, or has no
        trunk of the seed's name); else one sentence naming what the gateway says."""
        from harness.gateway.adapter import NoSuchPeer
        from harness.gateway.ami_client import AmiError

        try:
            state = self.adapter().wait_reachable(TRUNK, timeout=timeout)
        except (GatewayNotAsked, NoSuchPeer):  # a user's gateway may name its trunk otherwise
            return None
        except (AmiError, TopologyError) as exc:
            self.close()
            gone = self.exited()
            return (f"the gateway could not be asked for its Lync trunk ({TRUNK}): {exc}"
                    + (f"; {gone}" if gone else ""))
        if state.reachable:
            return None
        return (f"the Lync trunk is unreachable, so no call was placed: the gateway says "
                f"{state.summary()} after {timeout:g} s (seed: qualify=yes, and `sip show "
                f"peers` lists to_lync OK). Check the Mediation Server's address, port "
                f"5068 and transport=tcp in the gateway's configuration")

    def exited(self) -> str | None:
        """How the harness's own gateway ended, when its container is no longer running
        (a crash right after start-up: Asterisk 22 exited so at pytest -n 4, its log ending
        at "Loading chan_motif.so"); None while it runs, or for an external gateway."""
        if self.config.external:
            return None
        found = self.engine.containers(self.config.project).get("asterisk")
        if found is None:
            return "the gateway's container is gone"
        state = found.attrs.get("State", {})
        if state.get("Status") == "running":
            return None
        last = found.logs(tail=LOG_TAIL).decode(errors="replace").strip().splitlines()
        return (f"the gateway's container {state.get('Status', '?')} with code "
                f"{state.get('ExitCode', '?')}" + (f"; its last output: {' | '.join(last)}"
                                                    if last else ""))

    def _own_profile(self, what: str) -> GatewayProfile:
        prof = self.profile
        if prof is None:
            raise GatewayNotAsked(
                f"{what} needs a gateway the harness starts; the external gateway at "
                f"{self.config.address('asterisk')} keeps its own configuration"
            )
        return prof
