"""``harness check CAPTURE``: the suite's flow checks on a capture from any deployment.

Exit status: 0 every checked call passed (or the capture holds no call), 1 a call failed,
2 the capture or the options cannot be used (one line naming the problem and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from harness.cli.common import add_command

if TYPE_CHECKING:
    from harness.analysis.deployment import CaptureCheck, CheckedCall
    from harness.analysis.verdict import Verdict

PROG = "harness check"
HELP = "check the calls of a capture from your own deployment against the seed's flows"
DESCRIPTION = (
    "Run the suite's flow checks (the twelve steps on both legs, headers, SDP, hold and "
    "RTP rules, the Skype and Google Talk flows) on a pcap/pcapng capture made anywhere, "
    "e.g. with `tcpdump -i any -w call.pcap` on the Asterisk gateway. Hosts are mapped to "
    "roles (recognised, or named with --roles), the calls found, and each call checked "
    "as the flow it follows."
)
EPILOG = """\
roles recognised: the Mediation Server by `Server:`/`User-Agent:` containing
MediationServer (else the host taking SIP over TCP on port 5068); Asterisk by a
User-Agent/Server starting with `Asterisk` (else the host talking SIP with the Mediation
Server and others, else the registrar); the softphone by its REGISTER to the gateway (else
the gateway's UDP peer placing or answering calls); Skype for SIP by the realm
sip.skype.com; XMPP by TCP port 5222. --roles overrides any of them.

flows: outbound (softphone -> Asterisk -> Lync), inbound (Lync -> Asterisk -> softphone),
lync-to-skype, skype-to-lync, skype-registration, gtalk-ivr; auto picks each call's own.

exit status: 0 every checked call passed, 1 a call failed, 2 the capture or the options
cannot be used.

examples:
  harness check call.pcap
  harness check call.pcapng --roles mediation=10.1.2.20,asterisk=10.1.2.10 --flow outbound
  harness check call.pcap --junit check.xml --ladder call.html
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "check", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--flow", default="auto", metavar="NAME",
                        help="the flow every call follows (default: auto, each call's own)")
    parser.add_argument("--roles", metavar="KEY=IP,...",
                        help="name hosts: asterisk=IP,mediation=IP,softphone=IP,skype=IP,xmpp=IP")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--junit", metavar="FILE",
                     help="also write a JUnit XML file (one test case a call)")
    parser.add_argument("--ladder", metavar="FILE",
                        help="also write the ladder (.svg or .html) with the failures marked")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        return _fail(f"internal error: {type(exc).__name__}: {exc}")


def _fail(message: str, status: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _run(args: argparse.Namespace) -> int:
    from harness.analysis.deployment import CaptureCheckError, check_capture
    from harness.analysis.recognise import RolesOptionError, parse_roles_option

    if args.ladder and Path(args.ladder).suffix.lower() not in (".svg", ".html", ".htm"):
        return _fail(f"--ladder wants a .svg or .html file, not {args.ladder!r}")
    try:
        given = parse_roles_option(args.roles) if args.roles else None
    except RolesOptionError as exc:
        return _fail(f"--roles: {exc}")
    try:
        result = check_capture(args.capture, roles=given, flow=args.flow)
    except CaptureCheckError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(as_json(result), indent=2))
    else:
        print(as_text(result))
    if args.junit:
        try:
            Path(args.junit).write_text(as_junit(result), encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write {args.junit}: {exc.strerror or exc}")
    if args.ladder:
        problem = _write_ladder(result, args.ladder)
        if problem:
            return _fail(problem)
        if not args.json:
            print(f"ladder: {args.ladder}")
    return 0 if result.ok else 1


def title_of(checked: CheckedCall) -> str:
    return checked.verdict.flow


def legs_of(checked: CheckedCall) -> list[str]:
    return [f"{a} <-> {b}" for a, b in checked.call.legs_seen]


def as_text(result: CaptureCheck) -> str:
    lines = [f"capture: {result.path}", "roles:"]
    evidence = result.recognition.evidence
    width = max((len(e.role) for e in evidence), default=0)
    lines += [f"  {e.role:<{width}}  {e.address:<15}  {e.rule}" for e in evidence]
    if not evidence:
        lines.append("  none recognised")
    n = len(result.calls)
    for i, checked in enumerate(result.calls, 1):
        call = checked.call
        number = f", number {call.number}" if call.number else ""
        lines.append("")
        lines.append(f"call {i} of {n}: {call.flow}{number}")
        lines.append(f"  legs: {', '.join(legs_of(checked)) or 'none'}")
        if call.starts_mid_dialog:
            lines.append("  the capture starts mid-call: what it missed is not checked")
        lines += ["  " + line for line in checked.verdict.report().splitlines()]
    if result.notes:
        lines.append("")
        lines += [f"note: {note}" for note in result.notes]
    lines.append("")
    lines.append(total_line(result))
    return "\n".join(lines)


def total_line(result: CaptureCheck) -> str:
    calls = result.calls
    failed = sum(1 for c in calls if not c.verdict.ok)
    checks = sum(len(c.verdict.results) for c in calls)
    failures = sum(len(c.verdict.failures) for c in calls)
    unchecked = sum(len(c.verdict.unchecked) for c in calls)
    word = "call" if len(calls) == 1 else "calls"
    return (f"total: {len(calls)} {word} checked, {len(calls) - failed} passed, {failed} failed "
            f"({checks} checks, {failures} failed, {unchecked} not checked)")


def as_json(result: CaptureCheck) -> dict[str, Any]:
    return {
        "path": str(result.path) if result.path is not None else None,
        "ok": result.ok,
        "roles": [{"role": e.role, "address": e.address, "rule": e.rule}
                  for e in result.recognition.evidence],
        "calls": [{
            "flow": c.call.flow,
            "title": title_of(c),
            "number": c.call.number,
            "legs": [list(leg) for leg in c.call.legs_seen],
            "call_ids": list(c.call.call_ids),
            "start": c.call.start,
            "end": c.call.end,
            "starts_mid_dialog": c.call.starts_mid_dialog,
            "ok": c.verdict.ok,
            "checks": [{"step": r.step, "leg": r.leg, "subject": r.subject,
                        "expected": r.expected, "actual": r.actual, "ok": r.ok,
                        "checked": r.checked, "frame": r.frame} for r in c.verdict.results],
            "notes": list(c.verdict.notes),
        } for c in result.calls],
        "notes": list(result.notes),
    }


def as_junit(result: CaptureCheck) -> str:
    """One test case a call; a failed call's failure message is its verdict report; checks
    that could not be made are listed (with their reason) in the case's system-out."""
    calls = result.calls
    suite = ET.Element("testsuite", {
        "name": f"harness check {result.path.name if result.path else ''}".strip(),
        "tests": str(len(calls)),
        "failures": str(sum(1 for c in calls if not c.verdict.ok)),
        "errors": "0",
        "skipped": "0",
        "time": f"{sum(max(c.call.end - c.call.start, 0.0) for c in calls):.3f}",
    })
    for i, checked in enumerate(calls, 1):
        verdict = checked.verdict
        case = ET.SubElement(suite, "testcase", {
            "classname": f"harness.check.{checked.call.flow}",
            "name": f"call {i}: {title_of(checked)}",
            "time": f"{max(checked.call.end - checked.call.start, 0.0):.3f}",
        })
        report = verdict.report()
        if not verdict.ok:
            failure = ET.SubElement(case, "failure", {"message": report.splitlines()[0],
                                                      "type": "CallflowFailure"})
            failure.text = report
        out = [report] if verdict.ok else []
        out += [f"skipped: {r.line()}" for r in verdict.unchecked]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(result.notes)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def merged_verdict(result: CaptureCheck) -> Verdict | None:
    """The calls' verdicts as one, for one ladder of the whole capture."""
    from harness.analysis.verdict import Verdict

    if not result.calls:
        return None
    if len(result.calls) == 1:
        return result.calls[0].verdict
    merged = Verdict(f"{len(result.calls)} calls", result.path)
    for checked in result.calls:
        merged.results += checked.verdict.results
    return merged


def _write_ladder(result: CaptureCheck, path: str) -> str | None:
    """One ladder of the whole capture, every call's failures marked; a problem or None."""
    from harness.capture import CaptureError
    from harness.report.ladder import LadderError, ladder_of_capture, write_ladder

    if result.path is None:
        return "--ladder needs the capture's file"
    try:
        ladder = ladder_of_capture(result.path, result.recognition.roles, merged_verdict(result))
    except (CaptureError, LadderError) as exc:
        return f"--ladder: {exc}"
    try:
        write_ladder(ladder, path)
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None
