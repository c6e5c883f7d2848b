"""The harness installed as a user installs it: a throwaway project in a temporary folder,
the harness pip-installed (not editable) into the project's own virtual environment, the
project's own gateway configuration, one real call flow. Nothing may come from this
checkout at run time: folders come from the project's rootdir and the packaged defaults."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support.isolation import isolated
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

# its own compose project, subnet and ports: the suite's topology may be up meanwhile
ISOLATED = isolated("sipharness-installed", "192.168.119", 200)

# The flow is the gateway's Skype for SIP registration: SIP only, so the packaging test does
# not hang on RTP timing, which the callflow suite checks on its own (a busy machine during
# the pip install once stalled SIPp's RTP here by 90 ms).
PROJECT_TEST = '''
import harness
import pytest

from harness.flows import skype


@pytest.mark.callflow
def test_registration_through_the_projects_own_gateway(topology, call_pcap, flow_report):
    # the installed harness, not a checkout
    assert "site-packages" in harness.__file__, harness.__file__
    # the gateway runs this project's configuration (its extension 4242)
    assert "4242" in topology.asterisk("dialplan show 4242@default")
    run, regs = skype.registration(topology, call_pcap, grant_s=12)
    flow_report.add(run, skype.verify(run, "registration", granted_s=12)).raise_if_failed()
    assert len(regs) >= 2
'''

PYTEST_INI = """[pytest]
harness_gateway_config = gateway-config
markers = callflow: the project's call flows
"""


def _source_copy(dest: Path) -> Path:
    """The checkout's files as a source distribution would hold them (pip builds in the
    source folder: the checkout itself stays untouched)."""
    skip = shutil.ignore_patterns(".git", ".venv", "node_modules", "reports", "build",
                                  "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache")
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_a_project_with_the_installed_harness_runs_its_own_configuration(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HARNESS_", "PYTEST_")) and k != "PYTHONPATH"}
    env.update(ISOLATED)

    venv.create(project / ".venv", with_pip=True)
    python = project / ".venv" / "bin" / "python"
    install = _run([str(python), "-m", "pip", "install", "-q",
                    str(_source_copy(tmp_path / "src"))], env, project, 600)
    assert install.returncode == 0, install.stderr[-2000:]

    # the project's configuration: the packaged default plus an extension of its own
    config = project / "gateway-config"
    shutil.copytree(ROOT / "fixtures" / "asterisk", config)
    with (config / "extensions.conf").open("a") as ext:
        ext.write("\n; this project's own extension\n[default]\n"
                  "exten => 4242,1,Answer()\n same => n,Hangup()\n")
    (project / "pytest.ini").write_text(PYTEST_INI)
    (project / "test_call.py").write_text(PROJECT_TEST)

    pytest_bin = project / ".venv" / "bin" / "pytest"
    try:
        run = _run([str(pytest_bin), "-p", "no:cacheprovider", "-m", "callflow",
                    "--junitxml", "reports/junit.xml"], env, project, 600)
    finally:
        down = _run([str(project / ".venv" / "bin" / "harness"), "topology", "down"],
                    env, project, 120)
    output = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    assert "1 passed" in run.stdout, output
    assert down.returncode == 0, down.stderr
    # the project's reports, in the project
    assert list((project / "reports" / "pcaps").glob("*.pcap")), output
    assert (project / "reports" / "junit.xml").is_file()
    assert "4242" in (project / "reports" / "run" / "asterisk" / "extensions.conf").read_text()
    # the same installed harness refuses a wrong option in one line, before any topology
    bad = _run([str(pytest_bin), "-p", "no:cacheprovider", "--gateway", "asterisk99"],
               env, project, 120)
    assert bad.returncode == 4 and "unknown gateway 'asterisk99'" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
