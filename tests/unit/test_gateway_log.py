"""Asterisk's console output read into findings (harness/gateway/asterisk_log.py).

The lines are Asterisk's own, captured from boots of sipharness/asterisk (22.10.1) and
sipharness/asterisk16 (16.28.0) on fixture copies with one line broken; the date is cut
from most of them (the parser does not read it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.gateway.asterisk_log import (
    Finding,
    Severity,
    analyse,
    asterisk_version,
    console_hides,
    module_lines,
    parse_line,
    running_modules,
)
from harness.gateway.profiles import profile
from harness.gateway.validate import (
    GatewayConfigError,
    GatewayUnavailableError,
    ValidationReport,
    static_findings,
    validate_config,
)

READY = "Asterisk Ready."
A22 = "Asterisk 22.10.1+dfsg+~cs6.17.60671434-1, Copyright (C) 1999 - 2025, Sangoma"
A16 = "Asterisk 16.28.0~dfsg-0+deb11u4, Copyright (C) 1999 - 2021, Sangoma"

MODULES = """[modules]
autoload=no
load => res_sorcery_config.so
load => res_pjproject.so
load => res_rtp_asterisk.so
load => chan_sip.so
load => pbx_config.so
load => res_xmpp.so
load => chan_motif
load => res_nosuchmodule.so
"""
SIP = """[general]
register => garbage
[to_lync]
type = bogus
port = notaport
#include missing.conf
"""
MANAGER = """[general]
enabled=yes
port=notaport
frobnicate=yes
"""
MOTIF = """[gtalk_account]
context=from-gtalk
[general]
"""


def files(**extra: str) -> dict[str, str]:
    base = {
        "modules.conf": MODULES,
        "sip.conf": SIP,
        "manager.conf": MANAGER,
        "motif.conf": MOTIF,
        "pjsip.conf": "",
        "extensions.conf": "",
        "xmpp.conf": "",
        "asterisk.conf": "",
    }
    base.update(extra)
    return base


def one(*lines: str, **extra: str) -> Finding:
    found = analyse("\n".join([A22, *lines, READY]), files(**extra)).findings
    assert len(found) == 1, found
    return found[0]


def test_prefix_parsed_with_and_without_date() -> None:
    line = parse_line(
        "[2026-12-03 17:28:09.596] WARNING[1]: config.c:2330 process_text_line: "
        "No '=' (equal sign) in line 44 of /etc/asterisk/pjsip.conf"
    )
    assert (line.level, line.source, line.function) == ("WARNING", "config.c", "process_text_line")
    assert line.text.startswith("No '='")
    bare = parse_line("No '=' (equal sign) in line 3 of /etc/asterisk/asterisk.conf")
    assert bare.level is None and bare.text.startswith("No '='")
    sub = parse_line("WARNING[1]: sip/config_parser.c:105 sip_parse_register_line: Format")
    assert (sub.source, sub.text) == ("sip/config_parser.c", "Format")


def test_version_from_the_banner() -> None:
    assert asterisk_version(A22) == "22.10.1"
    assert asterisk_version(A16) == "16.28.0"
    assert asterisk_version("no banner") is None


# (captured line, file, line, severity): Asterisk names the file and the line itself
NAMED = [
    # 22 and 16, config.c: a line without '='
    ("WARNING[1]: config.c:2330 process_text_line: No '=' (equal sign) in line 44 of "
     "/etc/asterisk/pjsip.conf", "pjsip.conf", 44, Severity.WARNING),
    ("WARNING[1]: config.c:2120 process_text_line: No '=' (equal sign) in line 37 of "
     "/etc/asterisk/sip.conf", "sip.conf", 37, Severity.WARNING),
    # printed bare, before the logger starts (asterisk.conf)
    ("No '=' (equal sign) in line 3 of /etc/asterisk/asterisk.conf", "asterisk.conf", 3,
     Severity.WARNING),
    ("WARNING[1]: config.c:2049 process_text_line: parse error: no closing ']', line 23 of "
     "/etc/asterisk/pjsip.conf", "pjsip.conf", 23, Severity.WARNING),
    ("WARNING[1]: config.c:1916 process_text_line: Inheritance requested, but category "
     "'nosuch' does not exist, line 30 of /etc/asterisk/sip.conf", "sip.conf", 30,
     Severity.WARNING),
    # pbx_config names the file without its folder
    ("WARNING[1]: pbx_config.c:1834 pbx_load_config: Invalid priority/label 'Dial' at line 27 "
     "of extensions.conf", "extensions.conf", 27, Severity.WARNING),
    ("WARNING[1]: pbx_config.c:1901 pbx_load_config: Unable to register extension at line 28 "
     "of extensions.conf", "extensions.conf", 28, Severity.WARNING),
    # chan_sip (16) gives the line only
    ("WARNING[1]: chan_sip.c:31202 handle_common_options: Unknown dtmf mode 'sometimes' on "
     "line 44, using rfc2833", "sip.conf", 44, Severity.WARNING),
    ("WARNING[1]: chan_sip.c:31957 build_peer: Invalid peer port configuration at line 36 : "
     "notaport", "sip.conf", 36, Severity.WARNING),
    ("WARNING[1]: sip/config_parser.c:105 sip_parse_register_line: Format for registration is "
     "[peer?][transport://]user[@domain][:secret[:authuser]]@host[:port][/extension][~expiry] "
     "at line 28", "sip.conf", 28, Severity.WARNING),
]


@pytest.mark.parametrize(("captured", "file", "line", "severity"), NAMED)
def test_file_and_line_named_by_asterisk(
    captured: str, file: str, line: int, severity: Severity
) -> None:
    found = one(captured)
    assert (found.file, found.line, found.severity) == (file, line, severity)
    assert found.refuses and found.message in captured


def test_repeated_lines_are_one_finding() -> None:
    # res_sorcery reads pjsip.conf once per object type: the same warning a dozen times
    line = ("WARNING[1]: config.c:2330 process_text_line: No '=' (equal sign) in line 44 of "
            "/etc/asterisk/pjsip.conf")
    assert one(line, line, line).line == 44


@pytest.mark.parametrize(
    ("first", "second", "file", "line", "message"),
    [
        # 22, pjsip.conf: the config framework leaves the file blank; the next line names it
        ("ERROR[1]: config_options.c:780 aco_process_var: Could not find option suitable for "
         "category 'to_lync' named 'allowz' at line 44 of ",
         "ERROR[1]: res_sorcery_config.c:422 sorcery_config_internal_load: Could not create an "
         "object of type 'endpoint' with id 'to_lync' from configuration file 'pjsip.conf'",
         "pjsip.conf", 44, "named 'allowz' at line 44 of pjsip.conf"),
        ("ERROR[1]: config_options.c:798 aco_process_var: Error parsing dtmf_mode=sometimes at "
         "line 45 of ",
         "ERROR[1]: res_sorcery_config.c:422 sorcery_config_internal_load: Could not create an "
         "object of type 'endpoint' with id 'to_lync' from configuration file 'pjsip.conf'",
         "pjsip.conf", 45, "Error parsing dtmf_mode=sometimes at line 45 of pjsip.conf"),
        # 22 and 16, xmpp.conf and motif.conf
        ("ERROR[1]: config_options.c:780 aco_process_var: Could not find option suitable for "
         "category 'gtalk_account' named 'colour' at line 21 of ",
         "ERROR[1]: config_options.c:572 process_category: In xmpp.conf: Processing options for "
         "gtalk_account failed", "xmpp.conf", 21, "named 'colour' at line 21 of xmpp.conf"),
        ("ERROR[1]: config_options.c:780 aco_process_var: Could not find option suitable for "
         "category 'gtalk_account' named 'colour' at line 30 of ",
         "ERROR[1]: config_options.c:572 process_category: In motif.conf: Processing options for "
         "gtalk_account failed", "motif.conf", 30, "at line 30 of motif.conf"),
    ],
)
def test_blank_file_named_by_the_next_line(
    first: str, second: str, file: str, line: int, message: str
) -> None:
    found = one(first, second)
    assert (found.file, found.line, found.severity) == (file, line, Severity.ERROR)
    assert found.message.endswith(message)


@pytest.mark.parametrize(
    ("captured", "file", "line"),
    [
        # no line in the message: found in the user's text
        ("ERROR[1]: config.c:2234 process_text_line: The file 'missing.conf' was listed as a "
         "#include but it does not exist.", "sip.conf", 6),
        ("NOTICE[1]: manager.c:9905 __init_manager: Invalid keyword <frobnicate> = <yes> in "
         "manager.conf [general]", "manager.conf", 4),
        ("WARNING[1]: manager.c:9854 __init_manager: Invalid port number 'notaport'",
         "manager.conf", 3),
        ("WARNING[1]: chan_sip.c:33646 reload_config: Unknown type 'bogus' for 'to_lync' in "
         "sip.conf", "sip.conf", 4),
        ("ERROR[1]: config_options.c:528 process_category: Could not find config type for "
         "category 'general' in 'motif.conf'", "motif.conf", 3),
        # a module that does not exist or cannot load: its load line in modules.conf
        ("ERROR[1]: loader.c:2687 load_modules: Error loading module 'res_nosuchmodule.so': "
         "/usr/lib/x86_64-linux-gnu/asterisk/modules/res_nosuchmodule.so: cannot open shared "
         "object file: No such file or directory", "modules.conf", 10),
        # the first asterisk16-chansip modules.conf (res_pjproject not loaded)
        ("ERROR[1]: loader.c:2513 load_modules: Error loading module 'res_rtp_asterisk.so': "
         "/usr/lib/asterisk/modules/res_rtp_asterisk.so: undefined symbol: "
         "ast_pjproject_caching_pool_destroy", "modules.conf", 5),
        ("ERROR[1]: loader.c:2513 load_modules: chan_sip declined to load.", "modules.conf", 6),
        ("ERROR[1]: loader.c:2687 load_modules: *** Failed to load required module res_xmpp.so",
         "modules.conf", 8),
        ("ERROR[1]: loader.c:2513 load_modules: Failed to resolve dependencies for "
         "res_pjproject", "modules.conf", 4),
    ],
)
def test_line_found_in_the_users_text(captured: str, file: str, line: int) -> None:
    found = one(captured)
    assert (found.file, found.line) == (file, line)
    assert found.refuses


@pytest.mark.parametrize(
    ("captured", "file"),
    [
        ("ERROR[1]: res_sorcery_config.c:334 sorcery_config_internal_load: Contents of config "
         "file 'pjsip.conf' are invalid and cannot be parsed", "pjsip.conf"),
        ("ERROR[1]: chan_sip.c:32584 reload_config: Contents of sip.conf are invalid and cannot "
         "be parsed", "sip.conf"),
        ("ERROR[1]: chan_motif.c:2757 load_module: Unable to read config file motif.conf. Module "
         "loaded but not running.", "motif.conf"),
    ],
)
def test_errors_naming_a_file_refuse(captured: str, file: str) -> None:
    found = one(captured)
    assert (found.file, found.line, found.severity) == (file, None, Severity.ERROR)
    assert found.refuses


def test_a_notice_without_a_line_is_listed_not_refused() -> None:
    found = one("NOTICE[1]: chan_sip.c:31969 build_peer: The 'username' field for sip peers has "
                "been deprecated in favor of the term 'defaultuser'")
    assert (found.file, found.line, found.refuses) == ("sip.conf", None, False)


def test_what_is_not_about_the_users_files_is_a_note() -> None:
    output = "\n".join([
        A22,
        # files the user did not give: Asterisk uses its defaults
        "ERROR[1]: config_options.c:710 aco_process_config: Unable to load config file "
        "'cdr.conf'",
        "WARNING[1]: ccss.c:4520 load_config: Could not find valid ccss.conf file. Using "
        "cc_max_requests and devstate defaults",
        # no network in the validation container
        "ERROR[62]: res_xmpp.c:3730 xmpp_client_reconnect: No XMPP connection available when "
        "trying to connect client 'gtalk_account'",
        "WARNING[1]: chan_sip.c:32470 display_nat_warning: !!! PLEASE NOTE: Setting 'nat' for a "
        "peer/user that differs from the  global setting can make",
        "NOTICE[1]: loader.c:2568 load_modules: 54 modules will be loaded.",
        READY,
        # after the boot: runtime, not configuration
        "WARNING[1]: config.c:2330 process_text_line: No '=' (equal sign) in line 1 of "
        "/etc/asterisk/pjsip.conf",
    ])
    analysis = analyse(output, files())
    assert analysis.findings == ()
    assert len(analysis.notes) == 4
    assert analysis.notes[0] == "ERROR: Unable to load config file 'cdr.conf'"
    assert analysis.version == "22.10.1"


def test_modules_that_do_not_run() -> None:
    module_show = """Module                         Description                              Use Count  Status      Support Level
chan_sip.so                    Session Initiation Protocol (SIP)        0          Running          extended
res_rtp_asterisk.so            Asterisk RTP Stack                       0          Not Running          core
pbx_config.so                  Text Extension Configuration             0          Running              core
res_sorcery_config.so          Sorcery Configuration File Object Wizard 14         Running              core
res_pjproject.so               PJPROJECT Log and Utility Support        3          Running              core
res_xmpp.so                    Asterisk XMPP Interface                  1          Running              core
chan_motif.so                  Motif Jingle Channel Driver              0          Running              core
35 modules loaded"""  # noqa: E501 - `module show` as Asterisk 16 prints it
    running = running_modules(module_show)
    assert "res_rtp_asterisk" not in running and "chan_motif" in running
    found = analyse(A16 + "\n" + READY, files(), running).findings
    assert [(f.file, f.line, f.by) for f in found] == [
        ("modules.conf", 5, "harness"),
        ("modules.conf", 10, "harness"),
    ]
    assert "res_rtp_asterisk" in found[0].message


def test_module_lines() -> None:
    text = "[modules]\nautoload=no\nload => a.so ; why\n;load => b.so\nrequire = c\nnoload => d\n"
    assert module_lines(text) == [(3, "a"), (5, "c")]


def test_causes_come_before_their_effects() -> None:
    found = analyse("\n".join([
        A16,
        "WARNING[1]: config.c:1852 process_text_line: parse error: no closing ']', line 30 of "
        "/etc/asterisk/sip.conf",
        "ERROR[1]: chan_sip.c:32584 reload_config: Contents of sip.conf are invalid and cannot "
        "be parsed",
        "ERROR[1]: loader.c:2513 load_modules: chan_sip declined to load.",
        READY,
    ]), files()).findings
    assert [(f.file, f.line) for f in found] == [
        ("sip.conf", 30), ("modules.conf", 6), ("sip.conf", None)
    ]


def test_console_that_hides_warnings() -> None:
    assert console_hides("[logfiles]\nconsole => notice,warning,error,verbose\n") is None
    assert console_hides("[logfiles]\nconsole => *\n") is None
    assert console_hides("[general]\n[logfiles]\nconsole => notice,verbose\n") == (
        3, "notice,verbose"
    )


# The report and the static checks (no Docker: they stop before any container)

PJSIP = profile("asterisk22-pjsip")


def test_missing_files_are_named_all_at_once(tmp_path: Path) -> None:
    (tmp_path / "pjsip.conf").write_text("[global]\ntype=global\n")
    addresses = {role: f"192.0.2.{n}" for n, role in enumerate(
        ("asterisk", "mediation", "softphone", "skype", "xmpp"), 10)}
    with pytest.raises(GatewayConfigError) as refused:
        validate_config(PJSIP, tmp_path, addresses,
                        defaults=Path("/project/fixtures/asterisk")).raise_if_refused()
    text = str(refused.value)
    missing = [f for f in PJSIP.required_files if f != "pjsip.conf"]
    assert f"missing {', '.join(missing)}" in text
    assert "asterisk22-pjsip profile" in text and "/project/fixtures/asterisk" in text
    assert text.startswith(f"gateway configuration refused: {tmp_path}: ")


def test_not_a_folder(tmp_path: Path) -> None:
    _, found = static_findings(PJSIP, tmp_path / "nope", "fixtures/asterisk")
    assert found[0].refuses and "does not exist" in found[0].message


def test_binary_and_latin1_files(tmp_path: Path) -> None:
    for name in PJSIP.required_files:
        (tmp_path / name).write_text("[general]\n")
    (tmp_path / "rtp.conf").write_bytes(b"[general]\nrtpstart=10000\x00\x01\n")
    (tmp_path / "extensions.conf").write_bytes(b"; caf\xe9\n[default]\n")
    texts, found = static_findings(PJSIP, tmp_path, "fixtures/asterisk")
    assert [(f.file, f.refuses) for f in found] == [("rtp.conf", True)]
    assert "NUL byte on line 2" in found[0].message
    assert texts["extensions.conf"].startswith("; café")


def test_the_one_error_text(tmp_path: Path) -> None:
    report = ValidationReport(
        "asterisk16-chansip",
        tmp_path,
        (
            Finding(Severity.WARNING, "No '=' (equal sign) in line 12 of /etc/asterisk/sip.conf",
                    "sip.conf", 12),
            Finding(Severity.ERROR, "chan_sip declined to load.", "modules.conf", 20),
            Finding(Severity.ERROR, "*** Failed to load required module chan_sip.so",
                    "modules.conf", 20),
            Finding(Severity.NOTICE, "The 'username' field ... deprecated", "sip.conf"),
        ),
        version="16.28.0",
        defaults="fixtures/asterisk16-chansip",
    )
    assert not report.ok
    assert report.message() == (
        f"gateway configuration refused: {tmp_path}/sip.conf line 12: No '=' (equal sign) in "
        "line 12 of /etc/asterisk/sip.conf (Asterisk 16.28.0).\n"
        f"  also: {tmp_path}/modules.conf line 20: chan_sip declined to load (Asterisk 16.28.0)\n"
        "Fix the line, or run without --gateway-config to use the profile's own configuration "
        "(fixtures/asterisk16-chansip)."
    )
    assert report.warnings() == (
        f"{tmp_path}/sip.conf: The 'username' field ... deprecated (Asterisk 16.28.0)",
    )


def test_no_docker_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PJSIP.required_files:
        (tmp_path / name).write_text("[general]\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    addresses = dict.fromkeys(("asterisk", "mediation", "softphone", "skype", "xmpp"), "192.0.2.1")
    with pytest.raises(GatewayUnavailableError, match="no Docker engine answers.*make setup"):
        validate_config(PJSIP, tmp_path, addresses).raise_if_refused()
