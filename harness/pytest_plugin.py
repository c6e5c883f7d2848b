"""The pytest plugin (entry point `pytest11`): markers, options and the topology fixtures.

- `topology` (session): brings the compose topology up once, or reuses it when it is
  already healthy; takes it down at the end unless --keep-topology.
- `call_pcap` (per test): one pcap per test under reports/pcaps/, written by tcpdump in
  Asterisk's network namespace from before the test's first packet to after its last.
- `flow_report` (per test): the test hands it each call run and its verdict; a failing
  test (every test, with --attach-passing) then gets its pcap, ladder, RTP plots and the
  gateway's state attached (reports/artifacts/, and Allure when --alluredir is given),
  and the session ends with a one-screen summary of the flows by step.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.analysis.verdict import Verdict
    from harness.flows.run import CallPcap, CallRun
    from harness.gtalk import GtalkUser
    from harness.topology.topology import Topology

MARKERS = {
    "callflow": "end-to-end call flows against the real compose topology (pytest -m callflow)",
    "integration": "tests against the real topology that are not call flows",
    "skype": "the seed's Skype for SIP and Skype for Asterisk flows (pytest -m skype)",
    "xmpp": "the seed's Google Talk (XMPP) flows (pytest -m xmpp)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sip-harness", "SIP interoperability harness")
    group.addoption(
        "--keep-topology",
        action="store_true",
        default=False,
        help="leave the compose topology running after the session; the next run reuses it",
    )
    group.addoption(
        "--harness-net-prefix",
        default=None,
        metavar="A.B.C",
        help="first three octets of the topology's /24 (default 192.168.100, the seed's; "
        "or HARNESS_NET_PREFIX)",
    )
    group.addoption(
        "--attach-passing",
        action="store_true",
        default=False,
        help="attach pcap, ladder and plots for passing call flows too (always for failing ones)",
    )
    group.addoption(
        "--reports-dir",
        default=None,
        metavar="DIR",
        help="where pcaps, SIPp logs and Asterisk logs go (default: reports/ in the repository)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[SUMMARY_KEY] = []


@dataclass
class FlowReport:
    """What a call-flow test did: its runs and their verdicts."""

    entries: list[tuple[CallRun, Verdict]] = field(default_factory=list)

    def add(self, run: CallRun, verdict: Verdict) -> Verdict:
        self.entries.append((run, verdict))
        return verdict


FLOW_KEY = pytest.StashKey[FlowReport]()
TOPOLOGY_KEY = pytest.StashKey["Topology"]()
SUMMARY_KEY = pytest.StashKey["list[tuple[str, Verdict]]"]()


@pytest.fixture(scope="session")
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    from harness.topology.compose import TopologyError
    from harness.topology.config import ConfigError, TopologyConfig
    from harness.topology.http import ControlError
    from harness.topology.topology import Topology

    opts = request.config.option
    reports = Path(opts.reports_dir).resolve() if opts.reports_dir else None
    try:
        config = TopologyConfig.from_env(net_prefix=opts.harness_net_prefix, reports=reports)
        topo = Topology.create(config)
    except (TopologyError, ConfigError) as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        topo.ensure_up()
    except (TopologyError, ControlError) as exc:
        if not opts.keep_topology:
            try:
                topo.down()
            except TopologyError:
                pass
        pytest.fail(f"the topology did not come up: {exc}", pytrace=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("sip-harness: " + "; ".join(topo.notes))
    request.config.stash[TOPOLOGY_KEY] = topo
    yield topo
    del request.config.stash[TOPOLOGY_KEY]
    if opts.keep_topology:
        return
    try:
        topo.down()
    except TopologyError as exc:  # pragma: no cover - reported, not raised, at the end
        if reporter is not None:
            reporter.write_line(f"sip-harness: taking the topology down failed: {exc}")


def _pcap_name(nodeid: str) -> str:
    name = nodeid.split("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "test"


@pytest.fixture
def call_pcap(topology: Topology, request: pytest.FixtureRequest) -> Iterator[CallPcap]:
    from harness.flows.run import CallPcap

    relative = f"pcaps/{_pcap_name(request.node.nodeid)}.pcap"
    path = topology.capture.start(relative)
    pcap = CallPcap(topology.capture, relative, path)
    yield pcap
    pcap.stop()


@pytest.fixture
def flow_report(request: pytest.FixtureRequest) -> FlowReport:
    report = FlowReport()
    request.node.stash[FLOW_KEY] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    flows = item.stash.get(FLOW_KEY, None)
    if report.when != "call" or flows is None or not flows.entries:
        return report
    for _run, verdict in flows.entries:
        item.config.stash[SUMMARY_KEY].append((item.nodeid, verdict))
    if report.passed and not item.config.option.attach_passing:
        return report
    from harness.flows.artifacts import collect_artifacts

    topo = item.config.stash.get(TOPOLOGY_KEY, None)
    for run, verdict in flows.entries:
        paths = collect_artifacts(run, verdict, topo, failed=report.failed)
        if paths:
            report.sections.append(("call-flow artifacts", "\n".join(str(p) for p in paths)))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    entries = config.stash.get(SUMMARY_KEY, [])
    if not entries:
        return
    from harness.report.attachments import summary_table

    families: dict[str, list[Verdict]] = {}
    for _, verdict in entries:
        families.setdefault(verdict.family or "call flows", []).append(verdict)
    for family, verdicts in families.items():
        terminalreporter.write_sep("=", f"{family}: call flows by step")
        for line in summary_table(verdicts).splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def gtalk_user(topology: Topology) -> Iterator[GtalkUser]:
    """The seed's Google Talk user (sara@gmail.test), signed in to the XMPP service."""
    from harness.gtalk import GtalkError, GtalkUser

    user = GtalkUser("sara@gmail.test", "sara-xmpp", "127.0.0.1", topology.config.xmpp_port)
    try:
        user.connect(timeout=15)
    except GtalkError as exc:
        pytest.fail(f"the Google Talk user could not sign in: {exc}", pytrace=False)
    yield user
    user.disconnect()
