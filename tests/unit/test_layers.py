"""The house's layer rules, read from the import graph of harness/ (every import, also the
ones inside functions and under TYPE_CHECKING: a lazy import that hides a cycle is still a
cycle)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGE = ROOT / "harness"

# What each layer may import from harness (besides itself). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "roles": set(),
    "sip": set(),
    "rtp": set(),
    "peers": {"sip", "rtp"},
    "gtalk": {"sip", "rtp"},
    "capture": {"sip", "roles"},
    "media": {"capture", "rtp", "sip", "roles"},
    "analysis": {"sip", "capture", "media", "roles"},
    "report": {"analysis", "capture", "media", "sip", "roles"},
    # gateway profiles, AMI and configuration checks: driven by topology, knows no peers
    "gateway": set(),
    "topology": {"roles", "gateway"},
    "flows": {"topology", "gateway", "analysis", "capture", "media", "report", "gtalk",
              "peers.client", "sip", "roles"},
    # load runs: drives the topology like flows, checks each call with the analysis rules
    "load": {"topology", "analysis", "capture", "media", "peers.client", "sip", "roles"},
    "pytest_plugin": {"*"},
    "cli": {"*"},
    "__main__": {"cli"},
}
# The simulators run in a bare python3 container: nothing outside the standard library.
CONTAINER_LAYERS = ("sip", "rtp", "peers")
THIRD_PARTY_ALLOWED = {"sip": set(), "rtp": set(), "peers": set()}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str) -> Iterator[str]:
    """Absolute names of what the module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            for alias in node.names:  # `from harness.x import y` may name module y
                yield f"{base}.{alias.name}"


def graph() -> dict[str, set[str]]:
    mods = modules()
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        out[name] = {i for i in imports_of(path, name) if i in mods and i != name}
    return out


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    if parts[1] == "peers" and len(parts) > 2 and parts[2] == "client":
        return "peers.client"
    return parts[1]


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = sorted({layer_of(m) for m in modules()} - set(ALLOWED) - {"", "peers.client"})
    assert unknown == [], f"harness/ has folders the layer rules do not know: {unknown}"


def test_layers_import_only_what_they_may() -> None:
    breaks = []
    for module, deps in graph().items():
        layer = layer_of(module)
        allowed = ALLOWED.get(layer, set())
        if "*" in allowed:
            continue
        for dep in deps:
            target = layer_of(dep)
            if target in ("", layer) or target in allowed:
                continue
            if layer == "peers.client" and target == "peers.client":
                continue
            breaks.append(f"{module} imports {dep} ({layer} may not use {target})")
    assert breaks == [], "\n".join(sorted(breaks))


def test_peers_client_is_a_client_only() -> None:
    """The typed client runs on the host: it may not pull in the simulators' server code."""
    deps = {d for m, ds in graph().items() if layer_of(m) == "peers.client" for d in ds}
    server = sorted(d for d in deps if d.startswith("harness.peers.") and
                    layer_of(d) != "peers.client")
    assert server == []


def test_no_import_cycles() -> None:
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", CONTAINER_LAYERS)
def test_container_layers_use_the_standard_library_only(layer: str) -> None:
    """harness.sip, harness.rtp and harness.peers are copied into the simulators' image,
    which has python3 and nothing else."""
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__", "_typeshed"}  # _typeshed: types only
    foreign = []
    for name, path in modules().items():
        if layer_of(name) != layer:
            continue
        for imported in imports_of(path, name):
            top = imported.split(".")[0]
            if top and top != "harness" and top not in stdlib:
                foreign.append(f"{name} imports {imported}")
    assert sorted(set(foreign)) == []


def test_no_module_over_500_lines() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > 500}
    assert long == {}


def test_every_package_is_a_regular_package():
    """A folder without __init__.py imports from a checkout (a namespace package) but is
    left out of the wheel: the installed harness would miss it."""
    missing = sorted(str(d.relative_to(ROOT)) for d in PACKAGE.rglob("*")
                     if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists())
    assert not missing, missing
