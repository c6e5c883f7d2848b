"""--gateway-config DIR: a user's configuration is booted by the profile's own image in a
throwaway container without a network (named val-..., removed afterwards), and a line
Asterisk refuses is one error naming the file and line, before any topology starts.

Each profile's own configuration is copied to a temporary folder, checked as it is
(accepted), then with one line broken.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from harness.gateway.profiles import GatewayProfile, profile
from harness.gateway.validate import (
    GatewayConfigError,
    GatewayUnavailableError,
    validate_config,
)
from tests.support.paths import ROOT

# both profiles are covered here, whatever --gateway says
pytestmark = [pytest.mark.integration, pytest.mark.standalone]

ADDRESSES = {
    "asterisk": "192.168.100.10",
    "mediation": "192.168.100.20",
    "softphone": "192.168.100.40",
    "skype": "192.168.100.30",
    "xmpp": "192.168.100.50",
}
# per profile: its SIP file, a line to break (its start), and what each break must say
BREAKS = {
    "asterisk22-pjsip": ("pjsip.conf", "dtmf_mode=rfc4733", {
        "no equal sign": ("dtmf_mode rfc4733", "No '=' (equal sign) in line {n} of"),
        "unknown option": ("dtmf_modez=rfc4733", "named 'dtmf_modez' at line {n} of pjsip.conf"),
        "bad value": ("dtmf_mode=sometimes", "Error parsing dtmf_mode=sometimes at line {n}"),
    }),
    "asterisk16-chansip": ("sip.conf", "dtmfmode = rfc2833", {
        "no equal sign": ("dtmfmode rfc2833", "No '=' (equal sign) in line {n} of"),
        # chan_sip says nothing about an unknown option; a bad value it names by line
        "bad value": ("dtmfmode = sometimes", "Unknown dtmf mode 'sometimes' on line {n}"),
    }),
}
VERSIONS = {"asterisk22-pjsip": "22", "asterisk16-chansip": "16"}
CASES = [
    (name, case) for name, (_, _, cases) in BREAKS.items() for case in cases
]


def copy_of(gateway: GatewayProfile, tmp_path: Path) -> Path:
    target = tmp_path / "gateway-config"
    shutil.copytree(ROOT / gateway.config, target)
    return target


def break_line(path: Path, start: str, replacement: str) -> int:
    """Replaces the first line starting with `start`; its 1-based number."""
    lines = path.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith(start))
    lines[number] = replacement + "\n"
    path.write_text("".join(lines))
    return number + 1


@pytest.mark.parametrize("name", list(BREAKS))
def test_own_configuration_accepted(name: str, tmp_path: Path) -> None:
    gateway = profile(name)
    report = validate_config(gateway, copy_of(gateway, tmp_path), ADDRESSES)
    assert report.ok, report.message()
    assert report.boot_seconds is not None and report.version is not None
    assert report.version.split(".")[0] == VERSIONS[name]


@pytest.mark.parametrize(("name", "case"), CASES)
def test_broken_line_named_with_file_and_line(name: str, case: str, tmp_path: Path) -> None:
    gateway = profile(name)
    folder = copy_of(gateway, tmp_path)
    file, start, cases = BREAKS[name]
    replacement, says = cases[case]
    number = break_line(folder / file, start, replacement)
    with pytest.raises(GatewayConfigError) as refused:
        validate_config(gateway, folder, ADDRESSES).raise_if_refused()
    first = str(refused.value).splitlines()[0]
    assert first.startswith(f"gateway configuration refused: {folder / file} line {number}: ")
    assert says.format(n=number) in first


@pytest.mark.parametrize("name", list(BREAKS))
def test_module_that_does_not_exist(name: str, tmp_path: Path) -> None:
    gateway = profile(name)
    folder = copy_of(gateway, tmp_path)
    modules = folder / "modules.conf"
    modules.write_text(modules.read_text() + "load => res_nosuchmodule.so\n")
    number = len(modules.read_text().splitlines())
    report = validate_config(gateway, folder, ADDRESSES)
    first = report.refusals[0]
    assert (first.file, first.line) == ("modules.conf", number), report.message()
    assert "res_nosuchmodule.so" in first.message


@pytest.mark.parametrize("name", list(BREAKS))
def test_missing_file_named_without_a_boot(name: str, tmp_path: Path) -> None:
    gateway = profile(name)
    folder = copy_of(gateway, tmp_path)
    (folder / "extensions.conf").unlink()
    report = validate_config(gateway, folder, ADDRESSES)
    assert not report.ok and report.boot_seconds is None
    assert report.message().startswith(
        f"gateway configuration refused: {folder}: missing extensions.conf: the {name} profile"
    )


def leftovers(folder: Path) -> list[str]:
    """Validation containers still holding `folder` (each test has its own folder)."""
    client = docker.from_env()
    return [
        c.name for c in client.containers.list(all=True, filters={"name": "val-"},
                                               ignore_removed=True)
        if any(m.get("Source") == str(folder) for m in c.attrs.get("Mounts", []))
    ]


def test_boot_that_takes_too_long_is_refused_and_removed(tmp_path: Path) -> None:
    gateway = profile("asterisk22-pjsip")
    folder = copy_of(gateway, tmp_path)
    report = validate_config(gateway, folder, ADDRESSES, timeout=0.1)
    assert not report.ok
    assert "Asterisk did not finish booting within 0.1 s" in report.message()
    assert leftovers(folder) == []


def test_image_not_built(tmp_path: Path) -> None:
    gateway = replace(profile("asterisk22-pjsip"), image="sipharness/no-such-gateway:latest")
    with pytest.raises(GatewayUnavailableError, match="is not built: run `make setup`"):
        validate_config(gateway, copy_of(gateway, tmp_path), ADDRESSES).raise_if_refused()
