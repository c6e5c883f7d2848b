"""A user's gateway configuration (--gateway-config DIR), checked before the topology starts.

First without Docker: the folder, the files the profile needs, text files. Then the
profile's own image boots on the folder in a throwaway container with no network
(network_mode="none"): its entrypoint renders DIR/*.conf into /etc/asterisk and starts
Asterisk, and what Asterisk prints while booting (asterisk_log) says which file and line it
refused. A broken line is then one error before any call, not a failing call later.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.gateway.asterisk_log import (
    HARNESS,
    Finding,
    Severity,
    analyse,
    console_hides,
    running_modules,
)
from harness.gateway.profiles import GatewayProfile

__all__ = [
    "ADDRESS_VARIABLES",
    "GatewayConfigError",
    "GatewayUnavailableError",
    "ValidationReport",
    "static_findings",
    "validate_config",
]

# The entrypoint's substitutions (containers/asterisk/entrypoint.sh, `set -u`: all needed),
# and the topology role whose address each one is.
ADDRESS_VARIABLES = {
    "ASTERISK_ADDR": "asterisk",
    "MEDIATION_ADDR": "mediation",
    "SOFTPHONE_ADDR": "softphone",
    "SKYPE_ADDR": "skype",
    "XMPP_ADDR": "xmpp",
}
_READY = b"Asterisk Ready."
_NAME_PREFIX = "val-"
_SHOWN = 8  # findings the error message lists after the first


class GatewayConfigError(ValueError):
    """The user's gateway configuration is refused; the message names file and line."""


class GatewayUnavailableError(GatewayConfigError):
    """The configuration could not be checked: no Docker engine, or the image is not built."""


@dataclass(frozen=True)
class ValidationReport:
    profile: str
    config_dir: Path
    findings: tuple[Finding, ...] = ()
    # the boot's other warnings and errors (missing optional files, no network): listed only
    notes: tuple[str, ...] = ()
    boot_seconds: float | None = None  # docker run to "Asterisk Ready."; None: no boot
    version: str | None = None  # Asterisk's, from its banner
    defaults: str = ""  # where the profile's own configuration is, for the message

    @property
    def ok(self) -> bool:
        return not any(f.refuses for f in self.findings)

    @property
    def refusals(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.refuses)

    def describe(self, finding: Finding) -> str:
        path = str(self.config_dir / finding.file) if finding.file else str(self.config_dir)
        if finding.line is not None:
            path += f" line {finding.line}"
        asterisk = f" (Asterisk {self.version})" if self.version and finding.by != HARNESS else ""
        return f"{path}: {finding.message.rstrip('.')}{asterisk}"

    def raise_if_refused(self) -> ValidationReport:
        """This report, or GatewayConfigError with the one error text if refused."""
        if not self.ok:
            raise GatewayConfigError(self.message())
        return self

    def message(self) -> str:
        """The one error text: the first refusal, the others below it, and what to do."""
        refusals = self.refusals
        if not refusals:
            return f"gateway configuration {self.config_dir} accepted ({self.profile})"
        first, rest = refusals[0], _other_places(refusals)
        lines = [f"gateway configuration refused: {self.describe(first)}."]
        lines += [f"  also: {self.describe(f)}" for f in rest[:_SHOWN]]
        if len(rest) > _SHOWN:
            lines.append(f"  and {len(rest) - _SHOWN} more")
        fix = "Fix the line" if first.line is not None else "Fix the configuration"
        lines.append(
            f"{fix}, or run without --gateway-config to use the profile's own configuration"
            f" ({self.defaults or self.profile})."
        )
        return "\n".join(lines)

    def warnings(self) -> tuple[str, ...]:
        """Findings that do not refuse the configuration, one line each."""
        return tuple(self.describe(f) for f in self.findings if not f.refuses)


def _other_places(findings: tuple[Finding, ...]) -> list[Finding]:
    """The findings after the first, one per file and line (a module that failed says so
    twice on its modules.conf line)."""
    seen = {(findings[0].file, findings[0].line)}
    rest = []
    for f in findings[1:]:
        place = (f.file, f.line)
        if f.line is None or place not in seen:
            rest.append(f)
            seen.add(place)
    return rest


def validate_config(
    profile: GatewayProfile,
    config_dir: Path,
    addresses: Mapping[str, str],
    *,
    timeout: float = 30,
    defaults: Path | None = None,
) -> ValidationReport:
    """Checks `config_dir` as `profile`'s configuration: statically, then by booting the
    profile's image on it. `addresses`: the topology's, by variable (ASTERISK_ADDR...) or by
    role (asterisk..., see ADDRESS_VARIABLES); `defaults`: the profile's own configuration
    folder, named in the messages (default: profile.config, relative to the project)."""
    config_dir = Path(config_dir).expanduser().absolute()
    where = str(defaults) if defaults is not None else f"{profile.config} in the project"
    env = _environment(addresses)
    texts, findings = static_findings(profile, config_dir, where)
    if any(f.refuses for f in findings):
        return ValidationReport(profile.name, config_dir, tuple(findings), defaults=where)
    boot = _boot(profile, config_dir, env, timeout)
    analysis = analyse(boot.output, texts, running_modules(boot.modules) if boot.modules else None)
    findings = [*analysis.findings, *findings]
    if boot.exit_code is not None:
        # the lines before the exit say why, unless Asterisk named no file or module
        told = any(f.refuses for f in analysis.findings)
        findings.append(_harness(f"Asterisk stopped while booting (exit code {boot.exit_code})"
                                 + ("" if told else "; its last lines:\n" + _tail(boot.output))))
    elif boot.seconds is None:
        findings.append(_harness(f"Asterisk did not finish booting within {timeout:g} s; its "
                                 "last lines:\n" + _tail(boot.output)))
    return ValidationReport(
        profile.name,
        config_dir,
        tuple(findings),
        analysis.notes,
        boot.seconds,
        analysis.version,
        where,
    )


def _environment(addresses: Mapping[str, str]) -> dict[str, str]:
    env = {
        key if key.endswith("_ADDR") else f"{key.upper()}_ADDR": value
        for key, value in addresses.items()
    }
    missing = [var for var in ADDRESS_VARIABLES if not env.get(var)]
    if missing:
        raise ValueError(
            f"validate_config needs the topology's addresses {', '.join(missing)} "
            "(one per role of ADDRESS_VARIABLES)"
        )
    return {var: env[var] for var in ADDRESS_VARIABLES}


def static_findings(
    profile: GatewayProfile, config_dir: Path, defaults: str
) -> tuple[dict[str, str], list[Finding]]:
    """The folder's *.conf texts (what the entrypoint renders) and what is wrong before any
    boot: no folder, missing or unreadable required files, files that are not text."""
    if not config_dir.is_dir():
        what = "does not exist" if not config_dir.exists() else "is not a folder"
        return {}, [_harness(f"{what}: --gateway-config takes a folder of Asterisk "
                             f"configuration files like {defaults}")]
    findings: list[Finding] = []
    missing = [name for name in profile.required_files if not (config_dir / name).is_file()]
    if missing:
        findings.append(_harness(
            f"missing {', '.join(missing)}: the {profile.name} profile needs "
            f"{', '.join(profile.required_files)}; copy the missing ones from {defaults}"
        ))
    texts = {}
    for path in sorted(config_dir.glob("*.conf")):
        text, problem = _read_text(path, config_dir)
        if problem:
            findings.append(_harness(problem, path.name))
        elif text is not None:
            texts[path.name] = text
    if "logger.conf" in texts and (hidden := console_hides(texts["logger.conf"])):
        number, levels = hidden
        # a warning without a line, so not a refusal: Asterisk accepts the line
        findings.append(Finding(
            Severity.WARNING,
            f"line {number}: console => {levels} leaves out warning or error, so this check "
            "cannot see what Asterisk refuses (console => notice,warning,error shows it)",
            "logger.conf", None, HARNESS,
        ))
    return texts, findings


def _harness(message: str, file: str | None = None) -> Finding:
    return Finding(Severity.ERROR, message, file, None, HARNESS)


def _read_text(path: Path, root: Path) -> tuple[str | None, str | None]:
    """(text, None), or (None, why it cannot be used)."""
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        return None, (f"a link to {path.resolve()}, outside the folder: the container sees "
                      "only the folder; copy the file in")
    if not path.is_file():
        return None, "not a regular file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror}): check its permissions"
    if b"\0" in data:
        number = data[: data.index(b"\0")].count(b"\n") + 1
        return None, f"not a text file (a NUL byte on line {number})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        # Asterisk reads bytes; latin-1 keeps every byte and every line number
        return data.decode("latin-1"), None


@dataclass
class _Boot:
    output: str = ""
    modules: str = ""  # `module show`
    seconds: float | None = None  # None: not booted in time (or stopped)
    exit_code: int | None = None  # Asterisk stopped while booting


def _boot(
    profile: GatewayProfile, config_dir: Path, env: dict[str, str], timeout: float
) -> _Boot:
    client = _client()
    _image(client, profile)
    from docker.errors import DockerException

    name = f"{_NAME_PREFIX}{profile.name}-{secrets.token_hex(4)}"
    started = time.monotonic()
    try:
        container = client.containers.run(
            profile.image,
            command=["-vvv"],
            name=name,
            detach=True,
            network_mode="none",
            # The configuration binds to the topology's addresses (manager.conf bindaddr);
            # without a network they are not local: allow the bind, nothing can connect.
            sysctls={"net.ipv4.ip_nonlocal_bind": "1"},
            environment=env,
            volumes={str(config_dir): {"bind": "/fixtures", "mode": "ro"}},
            labels={"sipharness.role": "gateway-config-validation"},
        )
    except DockerException as exc:
        raise GatewayUnavailableError(
            f"cannot check the gateway configuration: Docker refused to start {profile.image} "
            f"({_reason(exc)})"
        ) from None
    try:
        return _watch(container, started, timeout)
    except DockerException as exc:
        raise GatewayUnavailableError(
            f"cannot check the gateway configuration: the check container failed ({_reason(exc)})"
        ) from None
    finally:
        try:
            container.remove(force=True)
        except DockerException:
            pass  # already gone; nothing else holds its name


def _watch(container: Any, started: float, timeout: float) -> _Boot:
    boot = _Boot()
    ready = threading.Event()
    threading.Thread(target=_follow, args=(container, ready), daemon=True).start()
    booted = ready.wait(timeout)
    container.reload()
    running = container.status == "running"
    if booted and running:
        boot.seconds = time.monotonic() - started
        # blocks until every module is loaded; then ask which ones run (not asked if
        # Asterisk went away meanwhile: its output says why)
        if _exec(container, "core waitfullybooted") is not None:
            boot.modules = _exec(container, "module show") or ""
    else:
        boot.exit_code = None if running else container.wait(timeout=10).get("StatusCode", -1)
    boot.output = container.logs().decode("utf-8", errors="replace")
    return boot


def _follow(container: Any, ready: threading.Event) -> None:
    """Sets `ready` on "Asterisk Ready." or when the output ends (Asterisk exited)."""
    tail = b""
    try:
        for chunk in container.logs(stream=True, follow=True):
            tail = tail[-64:] + chunk
            if _READY in tail:
                break
    except Exception:  # the container went away: its exit is the answer
        pass
    finally:
        ready.set()


def _exec(container: Any, command: str) -> str | None:
    """The CLI command's output; None if the CLI could not connect."""
    result = container.exec_run(["asterisk", "-rx", command])
    if result.exit_code != 0:
        return None
    return (result.output or b"").decode("utf-8", errors="replace")


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join(f"    {line}" for line in output.splitlines()[-lines:])


def _client() -> Any:
    import docker  # imported here: the static checks and their tests need no Docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        raise GatewayUnavailableError(
            f"cannot check the gateway configuration: no Docker engine answers ({_reason(exc)})"
            ": start it, or run `make setup` (containers/bootstrap.sh starts dockerd as root)"
        ) from None
    return client


def _image(client: Any, profile: GatewayProfile) -> None:
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(profile.image)
    except ImageNotFound:
        raise GatewayUnavailableError(
            f"cannot check the gateway configuration: the {profile.name} image "
            f"{profile.image} is not built: run `make setup`, which builds the images"
        ) from None
    except DockerException as exc:
        raise GatewayUnavailableError(
            f"cannot check the gateway configuration: {_reason(exc)}"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__

