"""The running topology as one object: what a test or the CLI drives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.topology.baresip import BaresipPhone
from harness.topology.capture import CaptureControl
from harness.topology.compose import Compose
from harness.topology.config import TopologyConfig
from harness.topology.engine import Engine
from harness.topology.errors import TopologyError
from harness.topology.gateway import GatewayControl
from harness.topology.http import ControlError, JsonClient
from harness.topology.sipp import Softphone

# starts of a topology whose own gateway exits during or right after start-up
START_ATTEMPTS = 3


@dataclass
class Topology:
    config: TopologyConfig
    compose: Compose
    engine: Engine
    capture: CaptureControl
    mediation: JsonClient
    skype: JsonClient
    softphone: Softphone
    gateway: GatewayControl
    _phone: BaresipPhone | None = None
    started_here: bool = False
    up_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, config: TopologyConfig) -> Topology:
        engine = Engine.connect()
        return cls(
            config=config,
            compose=Compose(config),
            engine=engine,
            capture=CaptureControl.at(config.capture_port, config.reports_dir),
            mediation=JsonClient(
                "Mediation Server simulator", f"http://127.0.0.1:{config.mediation_port}"
            ),
            skype=JsonClient("Skype for SIP simulator", f"http://127.0.0.1:{config.skype_port}"),
            softphone=Softphone(engine, config),
            gateway=GatewayControl(config, engine),
        )

    def sync_fixtures(self) -> None:
        """Copies the gateway's configuration tree (the profile's, or --gateway-config)
        into the run copy, file by file (the folder itself is bind-mounted, so it must stay
        the same folder)."""
        if self.config.external:
            return
        target = self.config.asterisk_fixtures
        target.mkdir(parents=True, exist_ok=True)
        source = self.config.gateway_source
        wanted = {p.name for p in source.glob("*.conf")}
        for stale in target.glob("*.conf"):
            if stale.name not in wanted:
                stale.unlink()
        for conf in source.glob("*.conf"):
            (target / conf.name).write_bytes(conf.read_bytes())

    def ensure_up(self) -> None:
        """Brings the topology up. A topology already up for this checkout is reused:
        compose then recreates only the services whose image or settings changed (an
        image rebuilt by `make setup`, say), and the fixtures are reloaded."""
        self.sync_fixtures()
        cfg = self.config
        what = (f"gateway {cfg.gateway} at {cfg.address('asterisk')}, softphone {cfg.softphone}"
                + (f" with the configuration in {cfg.gateway_config}" if cfg.gateway_config
                   else ""))
        if what not in self.notes:  # said once, also when started again
            self.notes.append(what)
        was_up = self.compose.is_up()
        self.up_seconds = self.compose.up()
        if was_up and not self.config.external:
            self.reload_asterisk_fixtures()
            self.notes.append(f"topology already up: reused ({self.up_seconds:.1f} s)")
            return
        self.started_here = True
        self.notes.append(f"topology up in {self.up_seconds:.1f} s")

    def ensure_up_with_trunk(self) -> str | None:
        """``ensure_up``, then the gateway's trunk check (None: the trunk answers; else
        why not). A gateway of the harness's own that exits during or right after
        start-up is said in the notes and the topology started again, up to
        ``START_ATTEMPTS`` starts in all: Asterisk 22 segfaulted (exit 139) while loading
        its modules, in serial runs as well as when four topologies started at once, and
        once twice in a row (a test's deliberately killed start, then its restart)."""
        attempt = 1
        while True:
            last = attempt == START_ATTEMPTS
            try:
                self.ensure_up()
            except (TopologyError, ControlError):
                gone = self.gateway.exited()
                if gone is None or last:
                    raise
                self._start_again(f"the gateway exited during start-up ({gone})")
            else:
                problem = self.gateway.trunk_problem()
                gone = self.gateway.exited() if problem is not None else None
                if gone is None or last:
                    return problem
                self._start_again(f"the gateway exited right after start-up ({gone})")
            attempt += 1

    def _start_again(self, why: str) -> None:
        # The whole topology, not the gateway alone: the capture agents live in the
        # gateway's network namespace, which its container's restart replaces (seen: the
        # capture agent unreachable after only the gateway was started again).
        self.notes.append(f"{why}; started again")
        self.down()

    def phone(self) -> BaresipPhone:
        """The baresip softphone's control connection (--softphone baresip), opened on
        first use and kept: baresip serves one control connection at a time."""
        if self.config.softphone != "baresip":
            raise TopologyError("the softphone is SIPp here: --softphone baresip drives a phone")
        if self._phone is None:
            self._phone = BaresipPhone(port=self.config.phone_port, timeout_s=10).connect()
        return self._phone

    def down(self) -> None:
        if self._phone is not None:
            self._phone.close()
            self._phone = None
        self.gateway.close()
        self.compose.down()

    def asterisk(self, command: str) -> str:
        """A gateway CLI command (over AMI), e.g. 'core show channels'."""
        return self.gateway.cli(command)

    def wait_idle(self, timeout: float) -> bool:
        """True once the gateway has no channel up."""
        return self.gateway.wait_idle(timeout)

    def reload_asterisk_fixtures(self, modules: tuple[str, ...] | None = None) -> None:
        """Re-renders the run copy of the configuration and reloads `modules` (the
        profile's by default): a test swapped a file."""
        self.gateway.reload(modules)

    @contextmanager
    def gateway_config_edited(self, file: str, edit: Callable[[str], str],
                              modules: tuple[str, ...],
                              shows: tuple[str, str] | None = None) -> Iterator[None]:
        """For the length of the block, the run copy's ``file`` as ``edit`` makes it,
        rendered and ``modules`` reloaded; then the file as it was, reloaded again (also
        when the block or the first reload failed). ``shows``: a CLI view and a pattern
        it shows once the edit is in force, awaited after each reload."""
        conf = self.config.asterisk_fixtures / file
        original = conf.read_text()
        edited = edit(original)
        if edited == original:
            raise TopologyError(f"{file} no longer has the lines this edit changes")
        conf.write_text(edited)
        try:
            self.reload_asterisk_fixtures(modules)
            if shows is not None:
                self.gateway.wait_view(*shows, shown=True)
            yield
        finally:
            conf.write_text(original)
            self.reload_asterisk_fixtures(modules)
            if shows is not None:
                self.gateway.wait_view(*shows, shown=False)

    def mediation_behaviour(self, **behaviour: Any) -> Any:
        return self._behaviour(self.mediation, behaviour)

    def skype_behaviour(self, **behaviour: Any) -> Any:
        return self._behaviour(self.skype, behaviour)

    @staticmethod
    def _behaviour(peer: JsonClient, behaviour: dict[str, Any]) -> Any:
        """Resets the simulator's behaviour to its defaults, then applies `behaviour`."""
        peer.request("DELETE", "/behaviour")
        return peer.request("PUT", "/behaviour", behaviour) if behaviour else None
