"""Where the project's files come from: the project folder first (the pytest rootdir, or
the current folder for the CLI), then the defaults packaged with the harness. Never the
harness package's own location: a copy of the project, or a project that installed the
harness, runs its own files."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from harness.topology.errors import TopologyError

__all__ = ["Assets"]


@dataclass(frozen=True)
class Assets:
    root: Path

    def find(self, relative: str) -> Path:
        """`relative` (e.g. 'containers/compose.yaml', 'fixtures/asterisk') in the project,
        else among the packaged defaults."""
        local = self.root / relative
        if local.exists():
            return local
        packaged = self.packaged(relative)
        if packaged is not None:
            return packaged
        raise TopologyError(
            f"{relative} is neither in the project folder {self.root} nor among the "
            "harness's packaged defaults: run from the project's folder (pytest's rootdir), "
            "or reinstall the harness"
        )

    @staticmethod
    def packaged(relative: str) -> Path | None:
        # setup.py maps containers/, fixtures/ and scenarios/ into harness/_defaults/
        try:
            base = resources.files("harness._defaults")
        except ModuleNotFoundError:
            return None
        for part in relative.split("/"):  # a namespace package takes one name at a time
            base = base / part
        found = Path(str(base))
        return found if found.exists() else None
