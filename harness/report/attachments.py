"""One call's artifacts on disk and in Allure; a one-screen summary of many verdicts.

:func:`attach_call_artifacts` is given a :class:`ReportedCall` (the flow, its pcap, the
hosts' roles) and writes the ladder (SVG and HTML), the RTP plot (PNG) and the
verdict's text for one call into a folder, and when allure-pytest records a test (pytest
ran with ``--alluredir`` and a test is running) attaches them, the pcap and the log texts
it is given to that test. Without an active Allure run it only writes the files.

:func:`summary_table` is the flows-by-steps table printed at the end of a session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.verdict import Verdict, step_order
from harness.capture import Capture, CaptureError, open_capture
from harness.media.find import rtp_streams
from harness.roles import Roles


@dataclass(frozen=True)
class ReportedCall:
    """What the report needs of one call: the flow's name, the pcap (None: none was
    written) and the hosts' roles (None: hosts keep their addresses)."""

    flow: str
    pcap: Path | None
    roles: Roles | None = None


def allure_active() -> bool:
    """True when allure-pytest is writing results and a test (or fixture) is running."""
    try:
        import allure_commons
    except ImportError:
        return False
    try:
        plugins = allure_commons.plugin_manager.get_plugins()
    except Exception:  # noqa: BLE001 - an allure internals change must not break a test
        return False
    for plugin in plugins:
        logger = getattr(plugin, "allure_logger", None)
        last = getattr(logger, "_last_executable", None)
        if callable(last):
            try:
                if last() is not None:
                    return True
            except Exception:  # noqa: BLE001
                return False
    return False


def _attach_file(path: Path, name: str, kind: str) -> bool:
    import allure

    types = {
        "svg": allure.attachment_type.SVG,
        "html": allure.attachment_type.HTML,
        "png": allure.attachment_type.PNG,
        "pcap": allure.attachment_type.PCAP,
        "text": allure.attachment_type.TEXT,
    }
    try:
        # allure-python-commons has no annotations
        allure.attach.file(str(path), name=name, attachment_type=types[kind])  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - a report attachment never fails the test
        return False
    return True


def _attach_text(text: str, name: str) -> bool:
    import allure

    try:
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
    except Exception:  # noqa: BLE001
        return False
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "call"


def attach_call_artifacts(
    call: ReportedCall,
    verdict: Verdict | None,
    out_dir: str | Path,
    logs: Mapping[str, str] | None = None,
    *,
    max_delta_ms: float = 60.0,
) -> list[Path]:
    """Write one call's ladder (SVG, HTML), RTP plot (PNG) and verdict (text) into out_dir;
    attach them, the pcap and ``logs`` (name -> text) to the running Allure test, if any.

    ``verdict``: the call's verdict (failed checks drawn in red) or None. A log named like
    an attachment already made (``verdict``) is not attached twice. Returns the files
    written. A capture
    that cannot be read, or holds no SIP or no RTP, gets the artifacts that can be made and
    a line saying why the others are missing in the verdict text; nothing here raises for
    a bad capture.
    """
    from harness.report.ladder import LadderError, ladder_of_capture, render_html, render_svg

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pcap = call.pcap
    stem = _slug(pcap.stem if pcap is not None else call.flow or "call")
    flow = (verdict.flow if verdict is not None else "") or call.flow or stem
    written: list[tuple[Path, str, str]] = []  # (path, allure name, kind)
    missing: list[str] = []

    capture: Capture | None = None
    if pcap is None:
        missing.append("no pcap for this call")
    else:
        try:
            capture = open_capture(pcap)
        except CaptureError as exc:
            missing.append(f"capture unreadable: {exc}")

    ladder = None
    if capture is not None:
        try:
            ladder = ladder_of_capture(
                capture, call.roles, verdict, title=f"{flow} - {Path(capture.path).name}"
            )
        except LadderError as exc:
            missing.append(f"no ladder: {exc}")
    if ladder is not None:
        svg = out / f"{stem}-ladder.svg"
        svg.write_text(render_svg(ladder), encoding="utf-8")
        page = out / f"{stem}-ladder.html"
        page.write_text(render_html(ladder), encoding="utf-8")
        written += [(page, "SIP ladder (interactive)", "html"), (svg, "SIP ladder", "svg")]

    if capture is not None:
        streams = rtp_streams(capture)
        if streams:
            from harness.report.plots import plot_rtp

            png = out / f"{stem}-rtp.png"
            plot_rtp(
                streams,
                png,
                holds=ladder.holds if ladder is not None else (),
                origin=ladder.origin if ladder is not None else None,
                names=ladder.names if ladder is not None else None,
                max_delta_ms=max_delta_ms,
            )
            written.append((png, "RTP delta and jitter", "png"))
        else:
            missing.append("no RTP streams in the capture: no RTP plot")

    text = verdict.report(limit=10_000) if verdict is not None else f"{flow}: no verdict"
    if missing:
        text += "\n" + "\n".join(f"  report: {m}" for m in missing)
    report = out / f"{stem}-verdict.txt"
    report.write_text(text + "\n", encoding="utf-8")
    written.insert(0, (report, "verdict", "text"))

    if allure_active():
        for path, name, kind in written:
            _attach_file(path, name, kind)
        if pcap is not None and pcap.is_file():
            _attach_file(pcap, pcap.name, "pcap")
        attached = {name for _, name, _ in written}
        for name, body in (logs or {}).items():
            if name not in attached:  # e.g. a "verdict" log: the full one is attached already
                _attach_text(body, name)
    return [path for path, _, _ in written]


# ----------------------------------------------------------------------------- summary

WIDTH = 100


def summary_table(
    verdicts: Iterable[Verdict], width: int = WIDTH, *, ascii_only: bool = False
) -> str:
    """Flows by steps: one row per verdict, one column per step of the seed (in call
    order), a mark per cell (passed, failed, not checked), then checks passed / total and
    the result. At most ``width`` columns; long flow names are shortened."""
    verdicts = list(verdicts)
    ok_mark, fail_mark, none_mark = (
        ("ok", "XX", "-") if ascii_only else ("\u2713", "\u2717", "\u00b7")
    )
    if not verdicts:
        return "no call flows were checked"
    steps: list[str] = []
    for v in verdicts:
        for step in v.steps():
            if step not in steps:
                steps.append(step)
    steps.sort(key=step_order)
    cell = max(len(ok_mark), 1)
    widths = [max(len(s), cell) for s in steps]
    checks_w, result_w = 10, 8  # "   192/192", "  result"
    name_w = max(12, min(max(len(str(v.flow)) for v in verdicts), 40))

    def total(n_steps: int, nw: int) -> int:
        more = 5 if n_steps < len(steps) else 0
        return nw + sum(w + 1 for w in widths[:n_steps]) + more + checks_w + result_w

    # Fit: shorten the names first (down to 16), then fold the last steps into one column.
    shown = len(steps)
    while total(shown, name_w) > width and name_w > 16:
        name_w -= 1
    while total(shown, name_w) > width and shown > 1:
        shown -= 1
    folded = steps[shown:]

    def fit(text: str, n: int) -> str:
        return text if len(text) <= n else text[: max(n - 3, 0)] + "..."

    cols = list(zip(steps[:shown], widths, strict=False))
    head = "flow".ljust(name_w) + "".join(" " + s.rjust(w) for s, w in cols)
    if folded:
        head += " more"
    head += "checks".rjust(checks_w) + "  result"
    lines = [head, "-" * min(width, len(head))]
    for v in verdicts:
        state = v.steps()
        row = fit(str(v.flow), name_w).ljust(name_w)
        for s, w in cols:
            mark = none_mark if s not in state else (ok_mark if state[s] else fail_mark)
            row += " " + mark.rjust(w)
        if folded:
            seen = [state[s] for s in folded if s in state]
            mark = none_mark if not seen else (ok_mark if all(seen) else fail_mark)
            row += " " + mark.rjust(4)
        # Checks the capture could not support count neither as passed nor as made.
        checked = [r for r in v.results if r.checked]
        passed = sum(1 for r in checked if r.ok)
        row += f"{passed}/{len(checked)}".rjust(checks_w)
        row += "  " + ("ok" if v.ok else "xfail" if v.expected_failure else "FAIL")
        lines.append(row)
    if folded:
        lines.append(fit(f"more: {', '.join(folded)}", width))
    expected = [v for v in verdicts if not v.ok and v.expected_failure]
    failed = [v for v in verdicts if not v.ok and not v.expected_failure]
    passed = len(verdicts) - len(failed) - len(expected)
    lines.append(f"{passed} of {len(verdicts)} call flows passed"
                 + (f", {len(expected)} failed as expected" if expected else ""))
    lines += [f"expected failure ({v.flow}): {v.expected_failure}" for v in expected]
    unchecked = sum(len(v.unchecked) for v in verdicts)
    if unchecked:
        lines.append(f"{unchecked} checks not checked (not in the capture)")
    if failed:
        first = failed[0].failures[0]
        lines.append(
            fit(f"first failure ({failed[0].flow}): {first.line().removeprefix('FAIL ')}", width)
        )
    return "\n".join(fit(line, width) for line in lines)
