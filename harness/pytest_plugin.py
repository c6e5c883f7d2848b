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

import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from harness.topology.config import SOFTPHONES

if TYPE_CHECKING:
    from harness.analysis.differences import Difference
    from harness.analysis.verdict import Verdict
    from harness.flows.run import CallPcap, CallRun
    from harness.gtalk import GtalkUser
    from harness.topology.barrier import StartBarrier
    from harness.topology.config import TopologyConfig
    from harness.topology.topology import Topology
    from harness.topology.workers import WorkerLayout

MARKERS = {
    "callflow": "end-to-end call flows against the real compose topology (pytest -m callflow)",
    "integration": "tests against the real topology that are not call flows",
    "skype": "the seed's Skype for SIP and Skype for Asterisk flows (pytest -m skype)",
    "xmpp": "the seed's Google Talk (XMPP) flows (pytest -m xmpp)",
    "gateway_difference(gateway, reason, explains)": "a documented way GATEWAY differs from "
    "the seed: when that gateway is under test, an expected failure while the flow's "
    "failures are exactly those EXPLAINS names (steps, or step:subject); strict",
    "own_gateway_config": "breaks the harness's own gateway configuration on purpose: not "
    "run against --gateway-config or an external gateway",
    "load": "a short `harness load` run, every call verified from the capture (pytest -m load)",
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
        "--gateway",
        default=None,
        metavar="NAME",
        help="the gateway under test: asterisk22-pjsip (default), asterisk16-chansip, or "
        "external (or HARNESS_GATEWAY, or the harness_gateway ini option)",
    )
    group.addoption(
        "--gateway-config",
        default=None,
        metavar="DIR",
        help="run the gateway profile with your own configuration tree (checked before the "
        "topology starts; or HARNESS_GATEWAY_CONFIG). Write --gateway-config=DIR: pytest "
        "reads a bare DIR as a test path before it knows this option",
    )
    group.addoption(
        "--gateway-address",
        default=None,
        metavar="HOST",
        help="with --gateway external: the address of the gateway the harness does not start",
    )
    group.addoption(
        "--gateway-ami",
        default=None,
        metavar="USER:SECRET",
        help="the gateway's AMI login (manager.conf); for an external gateway, without it the "
        "checks that need its own state are reported as not checked",
    )
    group.addoption(
        "--softphone",
        default=None,
        choices=SOFTPHONES,
        help="the softphone in X-Lite's place: sipp (scripted, default) or baresip (a real "
        "SIP phone); or HARNESS_SOFTPHONE",
    )
    parser.addini("harness_gateway", "default for --gateway", default="")
    parser.addini("harness_gateway_config", "default for --gateway-config (relative to the "
                  "rootdir)", default="")
    parser.addini("harness_reports", "default for --reports-dir (relative to the rootdir)",
                  default="")
    group.addoption(
        "--harness-worker-net",
        default=None,
        metavar="A.B.C",
        help="with pytest -n N: the first worker's /24, the next workers take the next ones "
        "(default 192.168.130; or HARNESS_WORKER_NET)",
    )
    group.addoption(
        "--harness-worker-ports",
        default=None,
        type=int,
        metavar="PORT",
        help="with pytest -n N: worker K publishes its control ports at PORT+100*K+68 (the "
        "Mediation Server), +90, +70, +22, +38, +40 (default 30000; or HARNESS_WORKER_PORTS)",
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
        help="where pcaps, SIPp logs and Asterisk logs go (default: reports/ under the rootdir)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[SUMMARY_KEY] = []
    config.pluginmanager.register(SummaryCollector(config.stash[SUMMARY_KEY]),
                                  "sip-harness-summary")
    from harness.topology.schedule import DurationLog

    config.pluginmanager.register(DurationLog(), "sip-harness-durations")
    from harness.topology.config import ConfigError

    try:  # a wrong option is a usage error now, not a failing call later
        topo_config = topology_config(config)
        layout = worker_layout(config)
        worker = getattr(config, "workerinput", {}).get("workerid")
        if worker is not None:  # a pytest-xdist worker: a topology of its own
            from harness.topology.workers import for_worker

            topo_config = for_worker(topo_config, worker, layout)
        elif topo_config.external and getattr(config.option, "numprocesses", None):
            raise ConfigError(
                "--gateway external runs every test against the one gateway you started; "
                "pytest -n N needs a topology, so a gateway, per worker: run it without -n")
        config.stash[CONFIG_KEY] = topo_config
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def worker_layout(config: pytest.Config) -> WorkerLayout:
    """Where pytest -n N puts its workers' topologies: options, then HARNESS_WORKER_NET
    and HARNESS_WORKER_PORTS, then the defaults."""
    from harness.topology.config import ConfigError
    from harness.topology.workers import DEFAULT_NET_BASE, DEFAULT_PORT_BASE, WorkerLayout

    net = config.option.harness_worker_net or os.environ.get("HARNESS_WORKER_NET")
    ports: int | str | None = config.option.harness_worker_ports
    if ports is None:
        ports = os.environ.get("HARNESS_WORKER_PORTS")
    try:
        port_base = int(ports) if ports is not None else DEFAULT_PORT_BASE
    except ValueError:
        raise ConfigError(f"HARNESS_WORKER_PORTS={ports!r} is not a port number") from None
    return WorkerLayout(net or DEFAULT_NET_BASE, port_base)


def topology_config(config: pytest.Config) -> TopologyConfig:
    """The topology's settings: command-line options, then HARNESS_* variables, then ini
    options; folders relative to the rootdir (ini) or the current folder (options)."""
    from harness.topology.config import AmiLogin, TopologyConfig

    opts, root = config.option, Path(config.rootpath)
    if opts.gateway_config and config.inipath is None and (
        opts.gateway_config in config.invocation_params.args
    ):
        # pytest finds its rootdir and ini file before plugins add their options, so it
        # took the folder after a bare `--gateway-config` for a test path
        from harness.topology.config import ConfigError

        raise ConfigError(
            f"pytest took {opts.gateway_config} for a test path and found no ini file: write "
            f"--gateway-config={opts.gateway_config} (with '='), or set harness_gateway_config "
            "in the project's ini file"
        )

    def folder(option: str | None, ini: str) -> Path | None:
        if option:
            return Path(option).resolve()
        value = str(config.getini(ini) or "")
        return (root / value).resolve() if value else None

    reports = folder(opts.reports_dir, "harness_reports")
    gateway_config = folder(opts.gateway_config, "harness_gateway_config")
    env_or_ini = {}
    if config.getini("harness_gateway") and not os.environ.get("HARNESS_GATEWAY"):
        env_or_ini["gateway"] = str(config.getini("harness_gateway"))
    if gateway_config is not None and not gateway_config.is_dir():
        from harness.topology.config import ConfigError

        raise ConfigError(f"--gateway-config {gateway_config}: no such folder")
    return TopologyConfig.from_env(
        root=root,
        net_prefix=opts.harness_net_prefix,
        reports=reports,
        gateway=opts.gateway or env_or_ini.get("gateway"),
        gateway_config=gateway_config,
        gateway_address=opts.gateway_address,
        softphone=opts.softphone,
        ami=AmiLogin.parse(opts.gateway_ami) if opts.gateway_ami else None,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Per gateway: its documented differences from the seed become strict expected
    failures; tests that break the harness's own configuration stay out of runs against
    a user's configuration or an external gateway."""
    cfg = config.stash.get(CONFIG_KEY, None)
    if cfg is None:
        return
    for item in items:
        for mark in item.iter_markers("gateway_difference"):
            if mark.args and mark.args[0] == cfg.gateway:
                from harness.analysis.differences import Difference

                item.stash[DIFFERENCE_KEY] = Difference(
                    cfg.gateway, str(mark.kwargs["reason"]), tuple(mark.kwargs["explains"]))
        if item.get_closest_marker("own_gateway_config") and (
            cfg.external or cfg.gateway_config is not None
        ):
            item.add_marker(pytest.mark.skip(
                reason="breaks the harness's own gateway configuration on purpose; this run "
                "tests a user's configuration or an external gateway"))


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
CONFIG_KEY = pytest.StashKey["TopologyConfig"]()
DIFFERENCE_KEY = pytest.StashKey["Difference"]()


@pytest.fixture(scope="session")
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    from harness.topology.compose import TopologyError
    from harness.topology.config import ConfigError
    from harness.topology.http import ControlError
    from harness.topology.topology import Topology

    opts = request.config.option
    config = request.config.stash[CONFIG_KEY]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if config.gateway_config is not None:
        for line in check_gateway_config(config):
            if reporter is not None:
                reporter.write_line(f"sip-harness: {line}")
    try:
        topo = Topology.create(config)
    except (TopologyError, ConfigError) as exc:
        pytest.fail(str(exc), pytrace=False)

    barrier = start_barrier(request.config)
    if barrier is not None:
        barrier.mark("starting")

    def give_up(why: str) -> NoReturn:
        """The session's one verdict; the topology goes (unless kept) without a second."""
        if barrier is not None:
            barrier.mark("failed")
        if not opts.keep_topology:
            try:
                topo.down()
            except TopologyError:
                pass
        pytest.fail(why, pytrace=False)

    try:
        trunk_problem = topo.ensure_up_with_trunk()
    except (TopologyError, ControlError) as exc:
        give_up(f"the topology did not come up: {exc}")
    if reporter is not None:
        reporter.write_line("sip-harness: " + "; ".join(topo.notes))
    # One verdict for a dead trunk, before any call: every test that needs the topology
    # reports it, instead of each call failing at its own step 1.
    if trunk_problem is not None:
        give_up(trunk_problem)
    if barrier is not None:
        barrier.mark("up")
        late = barrier.wait(BARRIER_TIMEOUT_S)
        if late and reporter is not None:
            reporter.write_line(f"sip-harness: calls start while the topologies of {late} "
                                f"are still coming up (waited {BARRIER_TIMEOUT_S:g} s)")
    request.config.stash[TOPOLOGY_KEY] = topo
    yield topo
    del request.config.stash[TOPOLOGY_KEY]
    if barrier is not None:
        barrier.clear()
    if opts.keep_topology:
        return
    try:
        topo.down()
    except TopologyError as exc:  # pragma: no cover - reported, not raised, at the end
        if reporter is not None:
            reporter.write_line(f"sip-harness: taking the topology down failed: {exc}")


# pytest -n N: how long a worker whose topology is up waits for the others' (the longest
# measured start, 4 topologies on 2 cores, was about 20 s)
BARRIER_TIMEOUT_S = 60.0


def start_barrier(config: pytest.Config) -> StartBarrier | None:
    """A pytest-xdist worker's barrier against calls during other workers' start-up
    (harness/topology/barrier.py); None outside pytest -n N."""
    from harness.topology.barrier import StartBarrier
    from harness.topology.workers import WORKERS_FOLDER

    info = getattr(config, "workerinput", None)
    if not info or "testrunuid" not in info:
        return None
    reports = config.stash[CONFIG_KEY].reports_dir
    return StartBarrier(reports / WORKERS_FOLDER, str(info["testrunuid"]),
                        str(info["workerid"]))


def check_gateway_config(config: TopologyConfig) -> list[str]:
    """A user's configuration tree, run by the profile's Asterisk in a throwaway container
    before the topology starts: a line it refuses ends the session with that file and line.
    Returns what Asterisk warned about without refusing."""
    from harness.gateway.validate import GatewayConfigError, validate_config
    from harness.topology.errors import TopologyError

    prof = config.profile
    assert prof is not None and config.gateway_config is not None
    roles = ("asterisk", "mediation", "softphone", "skype", "xmpp")
    try:
        defaults = config.assets.find(prof.config)
    except TopologyError:
        defaults = None
    try:
        report = validate_config(
            prof, config.gateway_config,
            {f"{role.upper()}_ADDR": config.address(role) for role in roles},
            defaults=defaults).raise_if_refused()
    except GatewayConfigError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    return [f"gateway configuration warning: {w}" for w in report.warnings()]


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
    if report.when == "call" and DIFFERENCE_KEY in item.stash:
        _documented_difference(report, item.stash[DIFFERENCE_KEY], flows)
    if report.when != "call" or flows is None or not flows.entries:
        return report
    for _run, verdict in flows.entries:
        if getattr(report, "wasxfail", None) and not verdict.ok:
            verdict.expected_failure = str(report.wasxfail)
    # plain data on the report: a pytest-xdist worker sends it to the controller, whose
    # summary then covers every worker (pytest_runtest_logreport)
    report.harness_verdicts = [v.as_dict() for _, v in flows.entries]  # type: ignore[attr-defined]
    if report.passed and not item.config.option.attach_passing:
        return report
    from harness.flows.artifacts import collect_artifacts

    topo = item.config.stash.get(TOPOLOGY_KEY, None)
    for run, verdict in flows.entries:
        paths = collect_artifacts(run, verdict, topo, failed=report.failed)
        if paths:
            report.sections.append(("call-flow artifacts", "\n".join(str(p) for p in paths)))
    return report


@dataclass
class SummaryCollector:
    """The verdicts of every test's report, in this process or (pytest -n N) sent by the
    workers to the controller: the end-of-session table covers them all."""

    entries: list[tuple[str, Verdict]]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        verdicts = getattr(report, "harness_verdicts", None)
        if not verdicts:
            return
        from harness.analysis.verdict import Verdict

        self.entries.extend((report.nodeid, Verdict.from_dict(v)) for v in verdicts)


def _documented_difference(
    report: pytest.TestReport, difference: Difference, flows: FlowReport | None
) -> None:
    """An expected failure while the failures are the documented ones; else a failure that
    says what the documentation does not explain."""
    from harness.analysis.differences import unexplained

    label = f"{difference.gateway} differs from the seed: {difference.reason}"
    verdicts = [v for _, v in flows.entries] if flows else []
    if report.passed:
        report.outcome = "failed"
        report.longrepr = f"[XPASS(strict)] the documented difference was not seen: {label}"
    elif report.failed and verdicts:
        left = unexplained(difference, verdicts)
        if not left:
            report.outcome = "skipped"
            report.wasxfail = label
        else:
            report.sections.append((
                "failures the documented difference does not explain",
                "\n".join(r.line() for r in left)))


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
