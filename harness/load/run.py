"""A load run on the topology: SIPp places the calls, the capture agent records both legs,
the Mediation Server answers (and breaks what it is told to), then every call is verified.

I/O lives here; the checks and figures are in ``analyse``, ``verify`` and ``figures``.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.capture import open_capture
from harness.load.analyse import Analysed, analyse
from harness.load.cut import CutError, cut, frames_of
from harness.load.plan import LoadPlan
from harness.load.progress import Progress, read_stat
from harness.load.records import LoadResult, RunInfo
from harness.peers.client import ControlApiError, SimulatorClient
from harness.topology.engine import ExecResult
from harness.topology.errors import TopologyError
from harness.topology.sipp import RAISED
from harness.topology.topology import Topology

SCENARIO = "load_uac.xml"
MAX_CUT = 200  # failed calls cut into pcaps of their own, at most


@dataclass
class LoadRun:
    result: LoadResult
    analysed: list[Analysed]
    pcap: Path
    folder: Path
    notes: list[str] = field(default_factory=list)


def sipp_command(topology: Topology, plan: LoadPlan, folder: str) -> list[str]:
    cfg = topology.config
    return [
        *RAISED, "sipp", f"{cfg.address('asterisk')}:5060", "-sf", f"/scenarios/{SCENARIO}",
        "-s", "+14255550150", "-i", cfg.address("softphone"), "-p", "5060", "-t", "u1",
        "-r", f"{plan.rate:g}", "-rp", "1000", "-l", str(plan.concurrency),
        "-m", str(plan.calls), "-nostdin",
        "-timeout", f"{plan.sipp_timeout_s}s", "-timeout_error",
        "-trace_err", "-error_file", f"/reports/{folder}/{plan.label}-sipp-errors.log",
        "-trace_stat", "-stf", f"/reports/{folder}/{plan.label}-sipp-stat.csv", "-fd", "1",
    ]


def _faults_at_start(mediation: SimulatorClient, plan: LoadPlan) -> dict[str, float]:
    drop = plan.fault("drop-acks")
    wanted = {"drop_acks": drop.value} if drop else {}
    try:
        mediation.faults(**wanted)
    except ControlApiError as exc:
        if plan.faults:
            raise TopologyError(
                f"the Mediation Server simulator takes no faults ({exc}): rebuild its image "
                "(`bash containers/bootstrap.sh`) and bring the topology up again") from None
    return dict(wanted)


def _stop_answering_later(mediation: SimulatorClient, plan: LoadPlan,
                          start: dict[str, float], notes: list[str]) -> threading.Timer | None:
    at, fault = plan.stop_answering_at(), plan.fault("stop-answering")
    if at is None or fault is None:
        return None

    def stop() -> None:
        try:
            mediation.faults(**start, stop_answering_s=fault.value)
            notes.append(f"the Mediation Server stopped answering {at:g} s into the run, for "
                         f"{fault.value:g} s")
        except ControlApiError as exc:
            notes.append(f"stop-answering could not be set: {exc}")

    timer = threading.Timer(at, stop)
    timer.daemon = True
    return timer


def place_calls(topology: Topology, plan: LoadPlan, folder: str, err: TextIO,
                notes: list[str]) -> tuple[ExecResult | None, float, float]:
    """Runs SIPp with a progress display; returns its result and when it ran (epoch s)."""
    cmd = sipp_command(topology, plan, folder)
    stat = topology.config.reports_dir / folder / f"{plan.label}-sipp-stat.csv"
    stat.unlink(missing_ok=True)
    results: list[ExecResult] = []
    failed: list[BaseException] = []

    def sipp() -> None:
        try:
            results.append(topology.engine.exec(topology.config.project, "softphone", cmd))
        except Exception as exc:  # reported below, with the rest of the run
            failed.append(exc)

    progress = Progress(err, plan.calls, plan.label)
    thread = threading.Thread(target=sipp, name="sipp", daemon=True)
    began = time.time()
    thread.start()
    deadline = time.monotonic() + plan.sipp_timeout_s + 30
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(1.0)
        progress.update(read_stat(stat))
    ended = time.time()
    counts = read_stat(stat)
    progress.close(f"{plan.label}: SIPp done in {ended - began:.1f} s"
                   + (f" ({counts.succeeded} ended well, {counts.failed} failed by SIPp's count)"
                      if counts else ""))
    if thread.is_alive():
        notes.append(f"SIPp still running after {plan.sipp_timeout_s + 30} s: left to its "
                     "own -timeout")
    if failed:
        notes.append(f"SIPp could not be run: {failed[0]}")
    return (results[0] if results else None), began, ended


def run_load(topology: Topology, plan: LoadPlan, err: TextIO, *, folder: str = "load",
             cut_failed: bool = True) -> LoadRun:
    cfg = topology.config
    out = cfg.reports_dir / folder
    out.mkdir(parents=True, exist_ok=True)
    mediation = SimulatorClient(topology.mediation.name, topology.mediation.base_url)
    mediation.behaviour(**plan.behaviour())
    mediation.clear_calls()
    notes: list[str] = []
    relative = f"{folder}/{plan.label}.pcap"
    soft, med = cfg.address("softphone"), cfg.address("mediation")
    pcap = topology.capture.start(relative, bpf=f"host {soft} or host {med}")
    timer: threading.Timer | None = None
    try:
        start_faults = _faults_at_start(mediation, plan)
        timer = _stop_answering_later(mediation, plan, start_faults, notes)
        if timer is not None:
            timer.start()
        sipp, began, ended = place_calls(topology, plan, folder, err, notes)
        if topology.gateway.login is None:  # an external gateway without AMI: not asked
            notes.append("the gateway's channels not awaited (no AMI login: --gateway-ami)")
        elif not topology.wait_idle(15):
            notes.append("the gateway still had channels up 15 s after SIPp ended")
    finally:
        if timer is not None:
            timer.cancel()
        try:
            faults_seen = mediation.current_faults() if plan.faults else {}
            if plan.faults:
                mediation.clear_faults()
        except ControlApiError:
            faults_seen = {}
        captured = topology.capture.stop(relative)
    if captured.dropped:
        notes.append(f"tcpdump dropped {captured.dropped} packets: a call missing one may be "
                     "the capture's")
    if faults_seen:
        notes.append("the Mediation Server's faults did: " + ", ".join(
            f"{k} {v}" for k, v in faults_seen.items() if k in (
                "calls_deaf", "acks_dropped", "invites_ignored")))
    try:  # the receiver's own counts, to tell the capture's gaps from the gateway's
        received = {r["call_id"]: int(r["rtp_received"]) for r in mediation.calls()}
    except (ControlApiError, KeyError, TypeError, ValueError):
        received = {}
    t0 = time.perf_counter()
    capture = open_capture(pcap)
    analysed = analyse(capture, cfg.roles(), hold=plan.hold, received=received)
    verify_s = time.perf_counter() - t0
    if len(analysed) < plan.calls:
        notes.append(f"{plan.calls} calls asked, {len(analysed)} seen in the capture")
    if cut_failed:
        notes += _cut_failed(pcap, analysed, out / f"{plan.label}-failed")
    info = RunInfo(
        generator=socket.gethostname(), started=round(began, 3), run_s=round(ended - began, 3),
        verify_s=round(verify_s, 3), rate=plan.rate, concurrency=plan.concurrency,
        calls=plan.calls, duration_s=plan.duration_s, hold=plan.hold,
        faults={f.name: f.value for f in plan.faults}, pcap=str(pcap),
        sipp={"exit_code": sipp.exit_code if sipp else None,
              "command": " ".join(sipp_command(topology, plan, folder))},
        notes=notes, capture_dropped=int(captured.dropped or 0))
    return LoadRun(LoadResult([info], [a.record for a in analysed]), analysed, pcap, out, notes)


def _cut_failed(pcap: Path, analysed: list[Analysed], folder: Path) -> list[str]:
    failed = [a for a in analysed if not a.record.verified]
    if not failed:
        return []
    chosen = failed[:MAX_CUT]
    wanted = {folder / f"call-{a.record.index:05d}.pcap": frames_of(a.call) for a in chosen}
    try:
        cut(pcap, wanted)
    except (CutError, OSError) as exc:
        return [f"failed calls not cut into pcaps: {exc}"]
    for a, path in zip(chosen, wanted, strict=True):
        a.record.pcap = str(path)
    if len(failed) > MAX_CUT:
        return [f"{len(failed) - MAX_CUT} failed calls beyond the first {MAX_CUT} not cut"]
    return []
