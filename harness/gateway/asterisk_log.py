"""Asterisk's console output read into findings about a configuration tree (sans-I/O).

Asterisk names a refused line in several ways, all taken from real boots of Asterisk 22
and 16 (tests/unit/test_gateway_log.py keeps the lines):
- config.c, for any file: "No '=' (equal sign) in line 44 of /etc/asterisk/pjsip.conf",
  "parse error: no closing ']', line 23 of ...", "Inheritance requested, ..., line 23 of";
- pbx_config: "Invalid priority/label 'Dial' at line 27 of extensions.conf";
- the config framework (pjsip.conf, xmpp.conf): "Could not find option suitable for category
  'to_lync' named 'allowz' at line 44 of " with the file left blank, named by the line after
  it ("... from configuration file 'pjsip.conf'", "In xmpp.conf: ...");
- no line at all: a missing #include ("The file 'x.conf' was listed as a #include ..."),
  manager.c's "Invalid keyword <k> = <v> in manager.conf [general]", a module that declined
  to load. The line is then found in the user's own text.
A module that fails to load is named ("Error loading module 'x.so': ...", "x declined to
load."), at its load line in modules.conf; what `module show` lists afterwards is the
backstop: every load line of modules.conf must be running.
Silent in both versions (nothing to find here): an unknown type= or a section without one in
pjsip.conf, an endpoint's unknown transport, an unknown application in extensions.conf, a
bad rtp.conf port, and (Asterisk 16) chan_sip's unknown options and transport values.

The rendered tree (/etc/asterisk) has the user's file names and line numbers: the image's
entrypoint substitutes addresses within lines only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "Analysis",
    "Finding",
    "LogLine",
    "Severity",
    "analyse",
    "asterisk_version",
    "console_hides",
    "module_lines",
    "parse_line",
    "running_modules",
]

ASTERISK = "asterisk"  # the finding quotes Asterisk's own output
HARNESS = "harness"  # the harness found it (a check Asterisk does not print)


class Severity(enum.Enum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    NOTICE = "NOTICE"


@dataclass(frozen=True)
class Finding:
    """One problem with the user's configuration. `file` is the name in the user's folder
    (also the name under /etc/asterisk), `line` its 1-based line number."""

    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    by: str = ASTERISK

    @property
    def refuses(self) -> bool:
        # A warning pinned to a line means Asterisk skipped that line: the gateway would run
        # without it, so the configuration is refused like on an error.
        return self.severity is Severity.ERROR or self.line is not None

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file} line {self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Analysis:
    findings: tuple[Finding, ...]
    # other warnings and errors of the boot, for the record: never a refusal (a missing
    # optional file Asterisk replaces by its defaults, an XMPP server it cannot reach)
    notes: tuple[str, ...] = ()
    version: str | None = None


@dataclass(frozen=True)
class LogLine:
    text: str
    # ERROR, WARNING, NOTICE...; None for lines printed before the logger starts (config.c
    # reading asterisk.conf prints its warnings bare) and for verbose output
    level: str | None = None
    source: str | None = None  # "config.c"
    function: str | None = None


# "[2026-12-03 17:27:02.389] WARNING[1]: ccss.c:4520 load_config: text", with an optional
# call id after the thread id; the date format is logger.conf's, so it is not parsed.
_PREFIX = re.compile(
    r"(?:^|\]\s*)(?P<level>ERROR|WARNING|NOTICE|DEBUG|SECURITY|DTMF|VERBOSE)\[\d+\]"
    r"(?:\[[^\]]*\])?:\s+(?P<source>[\w./-]+):\d+\s+(?P<function>\S+):\s?(?P<text>.*)$"
)


def parse_line(raw: str) -> LogLine:
    raw = raw.rstrip("\r\n")
    m = _PREFIX.search(raw)
    if m is None:
        return LogLine(raw.strip())
    return LogLine(m["text"].rstrip(), m["level"], m["source"], m["function"])


_VERSION = re.compile(r"^Asterisk (\d+(?:\.\d+)*)\S*, Copyright", re.M)


def asterisk_version(output: str) -> str | None:
    m = _VERSION.search(output)
    return m[1] if m else None


_READY = "Asterisk Ready."
# "No '=' (equal sign) in line 44 of /etc/asterisk/pjsip.conf", "... at line 27 of
# extensions.conf"
_LINE_OF = re.compile(r"\bline (\d+) of (\S+?\.conf)\b")
# the config framework's "... at line 44 of " with the file left out
_LINE_OF_BLANK = re.compile(r"\bat line (\d+) of\s*$")
# the line after it, naming the file
_FROM_FILE = re.compile(r"(?:from configuration file '([^']+)'|^In ([\w.+-]+\.conf):)")
# chan_sip's "Unknown dtmf mode 'x' on line 44, using rfc2833", "... at line 36 : x"
_LINE_ONLY = re.compile(r"\b(?:at|on) line (\d+)\b")
_INCLUDE_MISSING = re.compile(r"The file '([^']+)' was listed as a #include but it does not")
_KEYWORD_IN = re.compile(r"Invalid keyword <([^>]*)> = <[^>]*> in ([\w.+-]+\.conf) \[([^\]]*)\]")
_MODULE_FAILED = re.compile(
    r"(?:^(\S+?) declined to load\.|Failed to load (?:required )?module (\S+)"
    r"|Error loading module '([^']+)'|Failed to resolve dependencies for (\S+))"
)
_CONF_NAME = re.compile(r"([\w.+-]+\.conf)\b")
# Configuration loaders whose messages name a line or a bad value but not the file. Only
# these functions: chan_sip's runtime complaints (an unreachable peer) are not about a line.
_LOADER_FILES: Mapping[tuple[str, str], str] = {
    ("manager.c", "__init_manager"): "manager.conf",
    ("chan_sip.c", "build_peer"): "sip.conf",
    ("chan_sip.c", "handle_common_options"): "sip.conf",
    ("chan_sip.c", "reload_config"): "sip.conf",
    ("config_parser.c", "sip_parse_register_line"): "sip.conf",
}
_QUOTED = re.compile(r"'([^']+)'")


def _conf_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _group(m: re.Match[str]) -> str:
    """The one group of an alternation that matched."""
    return next(g for g in m.groups() if g)


def _code(text: str) -> str:
    """A configuration line without its comment (';' starts one, '\\;' does not)."""
    return re.split(r"(?<!\\);", text, maxsplit=1)[0].strip()


def _locate_include(files: Mapping[str, str], target: str) -> list[tuple[str, int]]:
    wanted = _conf_name(target)
    hits = []
    for name, text in files.items():
        for n, line in enumerate(text.splitlines(), 1):
            m = re.match(r"\s*#\s*(?:try)?include\s+[\"<]?([^\">]+?)[\">]?\s*$", _code(line))
            if m and _conf_name(m[1]) == wanted:
                hits.append((name, n))
    return hits


def _locate_key(text: str, section: str | None, key: str, value: str | None = None) -> int | None:
    """The line of `key` (or of any key with `value`) in [section], or anywhere without one."""
    current: str | None = None
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        code = _code(line)
        head = re.match(r"\[([^\]]*)\]", code)
        if head:
            current = head[1]
            continue
        if section is not None and current != section:
            continue
        k, sep, v = code.partition("=")
        if not sep:
            continue
        v = v.lstrip(">").strip()
        if (value is None and k.strip() == key) or (value is not None and v == value):
            found.append(n)
    return found[0] if len(found) == 1 else None


def module_lines(text: str) -> list[tuple[int, str]]:
    """modules.conf's load/require lines: (line, module name without .so)."""
    lines = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"(?:preload-require|preload|require|load)\s*=>?\s*(\S+)$", _code(line))
        if m:
            lines.append((n, m[1].removesuffix(".so")))
    return lines


def running_modules(module_show: str) -> frozenset[str]:
    """Module names (without .so) that `module show` lists as running."""
    names = set()
    for line in module_show.splitlines():
        parts = line.split()
        if len(parts) > 3 and re.search(r"(?<!Not )\bRunning\s+\S+\s*$", line):
            names.add(parts[0].removesuffix(".so"))
    return frozenset(names)


def console_hides(logger_conf: str) -> tuple[int, str] | None:
    """(line, levels) when logger.conf's console channel leaves out warning or error: the
    validation reads the console, so it would not see what Asterisk refuses."""
    section = None
    for n, line in enumerate(logger_conf.splitlines(), 1):
        code = _code(line)
        head = re.match(r"\[([^\]]*)\]", code)
        if head:
            section = head[1].strip()
            continue
        key, sep, value = code.partition("=")
        if section == "logfiles" and sep and key.strip() == "console":
            levels = {v.strip().lower() for v in value.lstrip(">").split(",")}
            if "*" in levels or {"warning", "error"} <= levels:
                return None
            return n, value.lstrip(">").strip()
    return None


@dataclass
class _Reader:
    files: Mapping[str, str]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: tuple[Severity, str, int] | None = None  # a message whose file Asterisk left out
    booted: bool = False

    def add(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def read(self, line: LogLine) -> None:
        if line.text == _READY:
            self.booted = True
            return
        if self.booted or not line.text:
            return
        severity = _severity(line)
        blank = _LINE_OF_BLANK.search(line.text)
        named = _FROM_FILE.search(line.text)
        if self.pending is not None and named and line.level == "ERROR":
            # the object or category that failed: it names the file the message before left out
            sev, text, number = self.pending
            file = _conf_name(_group(named))
            self.add(Finding(sev, f"{text} {file}", file, number))
            self.pending = None
            return
        self.finish()
        if severity is None:
            return
        if blank:
            self.pending = (severity, line.text.rstrip(), int(blank[1]))
            return
        if not self._pin(line, severity) and severity is not Severity.NOTICE:
            self.note(f"{severity.value}: {line.text}")

    def finish(self) -> None:
        if self.pending is not None:
            sev, text, number = self.pending
            self.add(Finding(sev, text, None, number))
            self.pending = None

    def _pin(self, line: LogLine, severity: Severity) -> bool:
        """Adds the findings `line` makes, if it is about the user's files; False if not."""
        found = _pinned(line, severity, self.files)
        for finding in found:
            self.add(finding)
        return bool(found)


def _pinned(line: LogLine, severity: Severity, files: Mapping[str, str]) -> list[Finding]:
    text = line.text
    if (m := _LINE_OF.search(text)) and (file := _conf_name(m[2])) in files:
        return [Finding(severity, text, file, int(m[1]))]
    if m := _INCLUDE_MISSING.search(text):
        hits = _locate_include(files, m[1])
        return [Finding(Severity.ERROR, text, f, n) for f, n in hits] or [
            Finding(Severity.ERROR, text)
        ]
    if (m := _KEYWORD_IN.search(text)) and m[2] in files:
        return [Finding(severity, text, m[2], _locate_key(files[m[2]], m[3], m[1]))]
    if m := _MODULE_FAILED.search(text):
        return [_module_finding(severity, text, _group(m), files.get("modules.conf"))]
    loader = _LOADER_FILES.get((_conf_name(line.source or ""), line.function or ""))
    if loader in files and (m := _LINE_ONLY.search(text)):
        return [Finding(severity, text, loader, int(m[1]))]
    named = [n for n in _CONF_NAME.findall(text) if n in files] or (
        [loader] if loader in files else []
    )
    if named:
        # Asterisk names the file but no line: the quoted value or section it complains
        # about, when it is on one line only ("Unknown type 'bogus' for 'to_lync' in sip.conf")
        file = str(named[0])
        return [Finding(severity, text, file, _locate_quoted(files[file], text))]
    return []


def _locate_quoted(conf: str, message: str) -> int | None:
    quoted = [q for q in _QUOTED.findall(message) if not q.endswith(".conf")]
    for value in quoted:
        if (number := _locate_key(conf, None, "", value)) is not None:
            return number
    for name in quoted:
        heads = [
            n for n, line in enumerate(conf.splitlines(), 1)
            if re.match(rf"\[{re.escape(name)}\]", _code(line))
        ]
        if len(heads) == 1:
            return heads[0]
    return None


def _module_finding(severity: Severity, text: str, module: str, conf: str | None) -> Finding:
    """A module that failed, at its load line in modules.conf."""
    name = _conf_name(module).removesuffix(".so")
    numbers = [n for n, loaded in module_lines(conf or "") if loaded == name]
    return Finding(
        severity, text, "modules.conf" if conf is not None else None,
        numbers[0] if numbers else None,
    )


def _severity(line: LogLine) -> Severity | None:
    if line.level in ("ERROR", "WARNING", "NOTICE"):
        return Severity(line.level)
    # Before the logger runs, config.c prints its complaints bare (they are warnings).
    if line.level is None and _LINE_OF.search(line.text):
        return Severity.WARNING
    return None


def analyse(
    output: str,
    files: Mapping[str, str],
    running: Collection[str] | None = None,
) -> Analysis:
    """Findings about the configuration `files` (name -> text, as in the user's folder) from
    Asterisk's console `output` up to "Asterisk Ready."; `running`: the modules `module show`
    lists as running (see running_modules), None when it could not be asked."""
    reader = _Reader(files)
    for raw in output.splitlines():
        reader.read(parse_line(raw))
    reader.finish()
    if running is not None and "modules.conf" in files:
        reader.findings.extend(_not_running(files["modules.conf"], running, reader.findings))
    return Analysis(tuple(_ordered(reader.findings)), tuple(reader.notes), asterisk_version(output))


def _not_running(
    conf: str, running: Collection[str], known: Iterable[Finding]
) -> list[Finding]:
    reported = {(f.file, f.line) for f in known}
    return [
        Finding(
            Severity.ERROR,
            f"module {name} is not running after the boot (Asterisk has no module of that "
            "name, or it did not load; `module show` does not list it)",
            "modules.conf",
            number,
            HARNESS,
        )
        for number, name in module_lines(conf)
        if name not in running and ("modules.conf", number) not in reported
    ]


def _ordered(findings: list[Finding]) -> list[Finding]:
    # refusals first, those with a line before those without; otherwise Asterisk's order,
    # which puts a cause (a bad option) before its effect (the module declining)
    return sorted(findings, key=lambda f: (not f.refuses, f.line is None))
