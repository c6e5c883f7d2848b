"""The Docker engine through the docker SDK: find a service's container, exec in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.topology.errors import TopologyError


@dataclass
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Engine:
    client: Any  # docker.DockerClient

    @classmethod
    def connect(cls) -> Engine:
        import docker  # imported here: sans-docker commands (sip-lint, rtp-stats) stay fast
        from docker.errors import DockerException

        try:
            client = docker.from_env(timeout=30)
            client.ping()
        except DockerException as exc:
            raise TopologyError(
                f"no Docker engine answers ({exc.__class__.__name__}): start it, or run "
                "`make setup` (containers/bootstrap.sh starts dockerd on Debian as root)"
            ) from None
        return cls(client)

    def worker_projects(self, project: str) -> list[str]:
        """The compose projects of pytest -n N's workers for this project (<project>-gwK)
        that still have containers: a session with --keep-topology leaves them."""
        import re

        pattern = re.compile(re.escape(project) + r"-gw\d+")
        names = {c.labels.get("com.docker.compose.project", "")
                 for c in self.client.containers.list(all=True, ignore_removed=True)}
        return sorted(n for n in names if pattern.fullmatch(n))

    def containers(self, project: str) -> dict[str, Any]:
        # ignore_removed: another topology's `down` may remove a container between the
        # engine's list and the SDK's inspection of it
        found = self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={project}"},
            ignore_removed=True,
        )
        return {c.labels.get("com.docker.compose.service", c.name): c for c in found}

    def service_states(self, project: str) -> dict[str, str]:
        states = {}
        for service, c in self.containers(project).items():
            state = c.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status")
            states[service] = (
                health if state.get("Status") == "running" and health else state.get("Status", "?")
            )
        return states

    def mount_sources(self, project: str) -> dict[str, set[str]]:
        """Service -> the host folders bind-mounted into it."""
        return {
            service: {m.get("Source", "") for m in c.attrs.get("Mounts", [])}
            for service, c in self.containers(project).items()
        }

    def image_of(self, project: str, service: str) -> str | None:
        """The image name the service's container was created from."""
        found = self.containers(project).get(service)
        return None if found is None else str(found.attrs.get("Config", {}).get("Image"))

    def container(self, project: str, service: str) -> Any:
        found = self.containers(project).get(service)
        if found is None:
            raise TopologyError(
                f"the {service} service of project {project} is not running: "
                "start the topology (`harness topology up`)"
            )
        return found

    def exec(
        self, project: str, service: str, cmd: list[str], timeout: float | None = None
    ) -> ExecResult:
        container = self.container(project, service)
        result = container.exec_run(cmd, demux=True)
        out, err = result.output if result.output else (b"", b"")
        return ExecResult(
            result.exit_code,
            (out or b"").decode(errors="replace"),
            (err or b"").decode(errors="replace"),
        )
