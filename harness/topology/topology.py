"""The running topology as one object: what a test or the CLI drives."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from harness.topology.capture import CaptureControl
from harness.topology.compose import Compose
from harness.topology.config import TopologyConfig
from harness.topology.engine import Engine
from harness.topology.errors import TopologyError
from harness.topology.http import JsonClient
from harness.topology.sipp import Softphone


@dataclass
class Topology:
    config: TopologyConfig
    compose: Compose
    engine: Engine
    capture: CaptureControl
    mediation: JsonClient
    skype: JsonClient
    softphone: Softphone
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
            capture=CaptureControl.at(config.capture_port, config.reports),
            mediation=JsonClient(
                "Mediation Server simulator", f"http://127.0.0.1:{config.mediation_port}"
            ),
            skype=JsonClient("Skype for SIP simulator", f"http://127.0.0.1:{config.skype_port}"),
            softphone=Softphone(engine, config),
        )

    def sync_fixtures(self) -> None:
        """Copies fixtures/asterisk into the run copy, file by file (the folder itself is
        bind-mounted, so it must stay the same folder)."""
        target = self.config.asterisk_fixtures
        target.mkdir(parents=True, exist_ok=True)
        source = self.config.fixtures / "asterisk"
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
        was_up = self.compose.is_up()
        self.up_seconds = self.compose.up()
        if was_up:
            self.reload_asterisk_fixtures()
            self.notes.append(f"topology already up: reused ({self.up_seconds:.1f} s)")
            return
        self.started_here = True
        self.notes.append(f"topology up in {self.up_seconds:.1f} s")

    def down(self) -> None:
        self.compose.down()

    def asterisk(self, command: str) -> str:
        """An Asterisk CLI command (`asterisk -rx`), e.g. 'pjsip show endpoints'."""
        result = self.engine.exec(self.config.project, "asterisk", ["asterisk", "-rx", command])
        if result.exit_code != 0:
            raise TopologyError(
                f"asterisk -rx {command!r} failed: {result.stderr or result.stdout}"
            )
        return result.stdout

    def wait_idle(self, timeout: float) -> bool:
        """True once Asterisk has no channel up (polled: the CLI has no event for it)."""
        deadline = time.monotonic() + timeout
        while True:
            if re.search(
                r"^0 active channels", self.asterisk("core show channels count"), re.MULTILINE
            ):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def reload_asterisk_fixtures(
        self, modules: tuple[str, ...] = ("res_pjsip.so", "pbx_config.so")
    ) -> None:
        """Re-renders /fixtures into /etc/asterisk and reloads the given modules (a test
        swapped a fixture). `module reload` returns once the module has reloaded, so a
        call placed afterwards meets the new configuration; reloading only what changed
        keeps the dialplan from being swapped under a call."""
        render = self.engine.exec(
            self.config.project, "asterisk", ["/usr/local/bin/entrypoint.sh", "render"]
        )
        if render.exit_code != 0:
            raise TopologyError(f"rendering the Asterisk fixtures failed: {render.stderr}")
        for module in modules:
            out = self.asterisk(f"module reload {module}")
            if "reloaded successfully" not in out and "Reloading" not in out:
                raise TopologyError(f"reloading {module} failed: {out.strip()}")

    def mediation_behaviour(self, **behaviour: Any) -> Any:
        return self._behaviour(self.mediation, behaviour)

    def skype_behaviour(self, **behaviour: Any) -> Any:
        return self._behaviour(self.skype, behaviour)

    @staticmethod
    def _behaviour(peer: JsonClient, behaviour: dict[str, Any]) -> Any:
        """Resets the simulator's behaviour to its defaults, then applies `behaviour`."""
        peer.request("DELETE", "/behaviour")
        return peer.request("PUT", "/behaviour", behaviour) if behaviour else None
