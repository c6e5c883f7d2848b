"""``harness sip-lint FILE...``: is each file one valid SIP message, as received in a UDP
datagram?

Per file, one line: ``FILE: OK <summary>`` or ``FILE: INVALID <precise reason>``, then
the remaining findings indented (unless ``-q``). Only errors make a message invalid;
warnings (body problems, RFC 2543 leftovers) do so with ``--strict``. ``--json`` prints a list of
``{"file", "valid", "reason", "summary", "findings"}`` instead. Exit status: 0 all valid,
1 any invalid, 2 usage error (no FILE and stdin a terminal, bad option, unreadable file).
Never a traceback, on any input. Only the standard library and ``harness.sip`` are
imported, so the command starts fast and runs in a bare python3 container.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from harness.sip.errors import SipParseError
from harness.sip.lint import SEVERITIES, Finding, LintResult, lint_message, split_input
from harness.sip.message import Request, Response

#: A file larger than this is not read to the end (a UDP datagram is at most 64 KiB).
MAX_BYTES = 64 * 1024 * 1024
#: Findings that mean "not a message at all": --ignore cannot drop them.
UNIGNORABLE = frozenset({"parse", "framing", "internal"})
_MAX_TEXT = 300

EPILOG = """\
input: each FILE is one SIP message exactly as received in a UDP datagram (--mode
datagram, the default). --mode stream cuts a file into messages by Content-Length (a TCP
stream; the messages are then labelled FILE#1, FILE#2, ...); --mode auto uses stream
framing when it consumes the whole file cleanly. '-' (or no FILE, with stdin a pipe)
reads stdin. Files written by hand usually have LF line ends while Content-Length counts
CRLF: --crlf converts bare LF to CRLF first.

output: per file 'FILE: OK <summary>' or 'FILE: INVALID <reason>', the reason being the
first failing finding (an error; with --strict a warning too); the other findings follow
indented ('  warning: ... [code]') unless -q. --json prints a list of
{"file", "valid", "reason", "summary", "findings"} instead.

verdict: errors are what makes the SIP message invalid (RFC 3261 syntax and MUSTs; RFC
4475 3.1.2's invalid messages). Warnings leave it valid: a body that does not parse as its
Content-Type says (sdp-*, multipart), RFC 2543 leftovers (branch-missing, branch-cookie,
and for such a sender from-tag-missing, max-forwards-missing, contact-missing), SHOULDs.
So RFC 4475 3.1.1's valid messages pass; --strict makes every warning an error.

exit status: 0 all files valid, 1 any invalid, 2 usage error (no FILE and stdin is a
terminal, unknown option, unreadable file; the other files are still checked).

examples:
  harness sip-lint fixtures/sip/seed/*.sip
  harness sip-lint --json --mode stream lync-leg.bin
  harness sip-lint --crlf --ignore date-format - < hand-written.txt
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sip-lint",
        help="check SIP messages (one per file, as a UDP datagram) for validity",
        description="Parse each FILE as one SIP message as received in a UDP datagram and\n"
        "say whether it is valid (RFC 3261/3262/3264/4028/4566), with a one-line summary\n"
        "or the precise reason.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="message files; '-' or none reads stdin"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per file/message"
    )
    parser.add_argument(
        "--mode",
        choices=("datagram", "stream", "auto"),
        default="datagram",
        help="one message per file (datagram, default), Content-Length framing (stream), "
        "or stream when it fits the whole file (auto)",
    )
    parser.add_argument(
        "--transport",
        choices=("udp", "tcp", "tls"),
        help="transport the messages used (tcp/tls: a missing Content-Length is an error; "
        "--mode stream implies tcp)",
    )
    parser.add_argument(
        "--crlf", action="store_true", help="convert bare LF line ends to CRLF first"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a warning (body problem, RFC 2543 leftover, SHOULD) makes the message invalid too",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE",
        help="drop findings with this code (repeatable, or comma-separated; "
        "'parse' and 'framing' cannot be dropped)",
    )
    parser.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        default="warning",
        help="list findings of at least this severity (default: warning; does not change validity)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only the one line per file, without the indented findings",
    )
    parser.set_defaults(func=run)


# -- reading ----------------------------------------------------------------------------


class Unreadable(Exception):
    """A FILE that cannot be read; ``str()`` says why, in a few words."""


_WHY = {
    errno.ENOENT: "no such file",
    errno.EISDIR: "is a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "no such file (a path component is not a directory)",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links",
}


def _why(exc: OSError) -> str:
    if exc.errno in _WHY:
        return _WHY[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _read(path: str, stdin: Any) -> bytes:
    """The bytes of ``path`` ('-': stdin), at most MAX_BYTES + 1 of them."""
    try:
        if path == "-":
            if stdin is None:
                raise Unreadable("stdin is closed")
            stream = getattr(stdin, "buffer", None)
            if stream is not None:
                return bytes(stream.read(MAX_BYTES + 1))
            text = stdin.read()
            return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        with open(path, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Unreadable(_why(exc)) from None
    except (ValueError, UnicodeError) as exc:  # closed or undecodable text stdin
        raise Unreadable(f"cannot read ({exc})") from None


def to_crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# -- checking ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """The outcome for one message (one file, in datagram mode)."""

    file: str  # the label: the path, '<stdin>', or 'path#N' for several messages
    valid: bool
    reason: str | None
    summary: str | None
    findings: list[Finding] = field(default_factory=list)  # to list (min-severity)
    reason_finding: Finding | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "valid": self.valid,
            "reason": self.reason,
            "summary": self.summary,
            "findings": [
                {"severity": f.severity, "code": f.code, "message": f.message, "line": f.line}
                for f in self.findings
            ],
        }


def _clip(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    """``text`` with control characters (CR, LF, NUL, lone surrogates...) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _reason(finding: Finding) -> str:
    where = f"line {finding.line}: " if finding.line else ""
    return _clip(f"{where}{finding.message}")


def _lint_chunk(chunk: bytes, transport: str | None) -> LintResult:
    """lint_message, with any exception turned into an error finding."""
    try:
        return lint_message(chunk, transport=transport)
    except SipParseError as exc:  # a header lint.py re-parses and the parser let pass
        message = _clip(exc.reason).removeprefix(f"line {exc.line}: ")
        finding = Finding("error", "parse", message, exc.line)
    except Exception as exc:  # noqa: BLE001 - never a traceback, on any input
        finding = Finding("error", "internal", _clip(f"linter failed: {type(exc).__name__}: {exc}"))
    return LintResult(1, 0, chunk, None, [finding])


def lint_file(data: bytes, *, mode: str, transport: str | None) -> list[LintResult]:
    """Like :func:`harness.sip.lint.lint_bytes`, but a linter exception only spoils its
    own message, and an over-long file is refused without parsing."""
    if len(data) > MAX_BYTES:
        finding = Finding("error", "framing", f"larger than {MAX_BYTES // 2**20} MiB; not read")
        return [LintResult(1, 0, data[:256], None, [finding])]
    if mode == "stream" and transport is None:
        transport = "tcp"
    try:
        parts = split_input(data, mode)
    except Exception as exc:  # noqa: BLE001
        finding = Finding(
            "error", "internal", _clip(f"framing failed: {type(exc).__name__}: {exc}")
        )
        return [LintResult(1, 0, data, None, [finding])]
    results = []
    for index, (offset, chunk, framing_error) in enumerate(parts, 1):
        if framing_error is not None:
            result = LintResult(
                index, offset, chunk, None, [Finding("error", "framing", framing_error)]
            )
        else:
            result = _lint_chunk(chunk, transport)
            result.index, result.offset = index, offset
        results.append(result)
    return results


def summarize(msg: Request | Response) -> str:
    """One line: ``INVITE sip:... (Call-ID x, CSeq 102 INVITE, SDP audio 0 101)`` or
    ``200 OK to 102 INVITE (Call-ID x, SDP audio 0 101)``."""
    try:
        number, method = msg.cseq
        cseq: str | None = f"{number} {method}"
    except (SipParseError, ValueError):
        cseq = None
    parts = [f"Call-ID {msg.call_id}"]
    if isinstance(msg, Request):
        head = f"{msg.method} {msg.uri}"
        if cseq:
            parts.append(f"CSeq {cseq}")
    else:
        head = f"{msg.status} {msg.reason}".rstrip()
        if cseq:
            head += f" to {cseq}"
    body = _body_summary(msg)
    if body:
        parts.append(body)
    return _clip(_one_line(f"{head} ({', '.join(parts)})"))


def _body_summary(msg: Request | Response) -> str | None:
    if not msg.body:
        return None
    try:
        sdp = msg.sdp()
    except SipParseError:
        return f"unparseable SDP, {len(msg.body)} bytes"
    if sdp is None:
        return f"{msg.content_type or 'untyped'} body, {len(msg.body)} bytes"
    if not sdp.media:
        return "SDP without media"
    return "SDP " + " + ".join(" ".join([m.media, *m.formats]) for m in sdp.media)


def judge(
    label: str, result: LintResult, *, ignored: set[str], strict: bool, shown: tuple[str, ...]
) -> Verdict:
    findings = [f for f in result.findings if f.code not in ignored or f.code in UNIGNORABLE]
    failing = ("error", "warning") if strict else ("error",)
    first = next((f for f in findings if f.severity in failing), None)
    if first is None and result.message is None:  # cannot happen; never say OK unparsed
        first = Finding("error", "parse", "not a SIP message")
        findings.insert(0, first)
    summary = None
    if result.message is not None:
        try:
            summary = summarize(result.message)
        except Exception:  # noqa: BLE001 - a summary is not worth a traceback
            summary = _clip(_one_line(result.summary))
    return Verdict(
        file=label,
        valid=first is None,
        reason=_reason(first) if first is not None else None,
        summary=summary,
        findings=[f for f in findings if f.severity in shown or f is first],
        reason_finding=first,
    )


def check(data: bytes, label: str, args: argparse.Namespace) -> list[Verdict]:
    """The verdicts for one input (one per message)."""
    ignored = {code.strip() for item in args.ignore for code in item.split(",") if code.strip()}
    shown = SEVERITIES[: SEVERITIES.index(args.min_severity) + 1]
    if args.crlf:
        data = to_crlf(data)
    results = lint_file(data, mode=args.mode, transport=args.transport)
    several = len(results) > 1
    return [
        judge(
            f"{label}#{r.index}" if several else label,
            r,
            ignored=ignored,
            strict=args.strict,
            shown=shown,
        )
        for r in results
    ]


# -- output -----------------------------------------------------------------------------


def format_text(verdict: Verdict, quiet: bool = False) -> list[str]:
    label = _one_line(verdict.file)
    if verdict.valid:
        lines = [f"{label}: OK {verdict.summary or ''}".rstrip()]
    else:
        lines = [f"{label}: INVALID {_one_line(verdict.reason or '')}".rstrip()]
    if not quiet:
        for f in verdict.findings:
            if f is verdict.reason_finding:
                continue
            lines.append(f"  {f.severity}: {_one_line(_reason(f))} [{f.code}]")
    return lines


def run(args: argparse.Namespace, stdout: TextIO | None = None, stdin: Any = None) -> int:
    out = stdout or sys.stdout
    stdin = stdin if stdin is not None else sys.stdin
    if out is sys.stdout and hasattr(out, "reconfigure"):
        out.reconfigure(errors="backslashreplace")  # odd file names on a C-locale terminal
    files: list[str] = args.files or ["-"]
    if "-" in files and _isatty(stdin):
        _error("reading stdin from a terminal; give FILEs or pipe a message (see --help)")
        return 2

    unreadable = False
    verdicts: list[Verdict] = []
    try:
        for path in files:
            label = "<stdin>" if path == "-" else path
            try:
                data = _read(path, stdin)
            except Unreadable as exc:
                _error(f"cannot read {_one_line(label)}: {exc}")
                unreadable = True
                continue
            found = check(data, label, args)
            verdicts.extend(found)
            if not args.json:
                for verdict in found:
                    for line in format_text(verdict, args.quiet):
                        print(line, file=out)
                out.flush()
        if args.json:
            json.dump([v.as_json() for v in verdicts], out, indent=2)
            out.write("\n")
            out.flush()
    except BrokenPipeError:
        _silence(out)
        raise
    if unreadable:
        return 2
    return 1 if any(not v.valid for v in verdicts) else 0


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _error(text: str) -> None:
    print(f"harness sip-lint: {text}", file=sys.stderr)


def _silence(out: Any) -> None:
    """After EPIPE (``| head``): point stdout at /dev/null so exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (AttributeError, OSError, ValueError):
        pass
