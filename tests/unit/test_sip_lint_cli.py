"""`harness sip-lint` from the command line and as a process: exit statuses, text and JSON
output, stream mode, usage errors, unreadable and empty files (never a traceback)."""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.support.paths import ROOT
from tests.support.sip_lint_cli import sip_lint
from tests.support.sip_samples import LINT_HEAD as HEAD
from tests.support.sip_samples import (
    LYNC_LEG,
    OPTIONS,
    SEED_DIR,
    SEED_FILES,
    seed,
)
from tests.support.sip_samples import lint_sample as m

HARNESS = Path(sys.executable).with_name("harness")  # .venv/bin/harness
INVITE_SUMMARY = (
    "INVITE sip:+14255550150@192.168.100.20 (Call-ID 6db8ad1516f9e56d7fe51bfe6a668659"
    "@192.168.100.10, CSeq 102 INVITE, SDP audio 0 3 8 101)"
)
OK_SUMMARY = (
    "200 OK to 102 INVITE (Call-ID 6db8ad1516f9e56d7fe51bfe6a668659@192.168.100.10, "
    "SDP audio 0 101)"
)
NO_COLON = m(HEAD.replace("Via: SIP/2.0/TCP", "Via SIP/2.0/TCP"))


def run_cli(*argv: str, stdin: bytes | None = None, capsys=None) -> tuple[int, str]:
    if stdin is not None:
        fake = io.TextIOWrapper(io.BytesIO(stdin))
        old = sys.stdin
        sys.stdin = fake
        try:
            code = main(["sip-lint", *argv])
        finally:
            sys.stdin = old
    else:
        code = main(["sip-lint", *argv])
    out = capsys.readouterr().out if capsys else ""
    return code, out


harness = sip_lint


def test_cli_seed_files_are_ok(capsys):
    code, out = run_cli(*map(str, SEED_FILES), capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    verdicts = [line for line in lines if not line.startswith("  ")]
    assert len(verdicts) == len(SEED_FILES) == 9
    assert all(f"{p}: OK " in v for p, v in zip(SEED_FILES, verdicts, strict=True))
    assert f"{SEED_DIR / '01-invite.sip'}: OK {INVITE_SUMMARY}" in lines
    assert f"{SEED_DIR / '05-200-ok.sip'}: OK {OK_SUMMARY}" in lines
    assert (
        f"{SEED_DIR / '09-bye.sip'}: OK BYE sip:1000@192.168.100.10;transport=TCP "
        "(Call-ID 6db8ad1516f9e56d7fe51bfe6a668659@192.168.100.10, CSeq 3 BYE)" in lines
    )
    # the one warning of the trace follows its file, indented
    warnings = [line for line in lines if line.startswith("  ")]
    assert len(warnings) == 1
    assert warnings[0].startswith("  warning: line 7: Contact 'sip:mediationsrv.contoso.com:5060")
    assert warnings[0].endswith("[contact-uri-params]")
    assert lines[lines.index(warnings[0]) - 1].startswith(f"{SEED_DIR / '03-183'}")


def test_cli_strict_quiet_ignore_and_min_severity(capsys):
    files = list(map(str, SEED_FILES))
    code, out = run_cli("--strict", "-q", *files, capsys=capsys)
    assert code == 1
    assert len(out.splitlines()) == 9 and "  warning" not in out
    assert (
        f"{SEED_DIR / '03-183-session-progress.sip'}: INVALID line 7: Contact "
        "'sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20' is not in <>" in out
    )
    code, out = run_cli("--strict", "--ignore", "folding,contact-uri-params", *files, capsys=capsys)
    assert code == 0 and "warning" not in out and out.count(": OK ") == 9
    code, out = run_cli("--min-severity", "error", *files, capsys=capsys)
    assert code == 0 and "warning" not in out
    # --min-severity only hides; --strict still fails on the hidden warning
    code, out = run_cli("--min-severity", "error", "--strict", *files, capsys=capsys)
    assert code == 1 and out.count(": INVALID ") == 1


def test_cli_info_findings_only_with_min_severity_info(tmp_path, capsys):
    path = tmp_path / "zero.sip"
    path.write_bytes(m(HEAD.replace("Max-Forwards: 70", "Max-Forwards: 0")))
    code, out = run_cli(str(path), capsys=capsys)
    assert code == 0 and out.count("\n") == 1 and out.startswith(f"{path}: OK INVITE sip:")
    code, out = run_cli("--min-severity", "info", str(path), capsys=capsys)
    assert (
        code == 0 and out.splitlines()[1] == "  info: line 3: Max-Forwards is 0 [max-forwards-zero]"
    )


def test_cli_header_without_colon_is_invalid_with_its_reason(tmp_path, capsys):
    bad = tmp_path / "bad.sip"
    bad.write_bytes(NO_COLON)
    code, out = run_cli(str(bad), capsys=capsys)
    assert code == 1
    assert out == f"{bad}: INVALID line 2: header 'Via' has no colon\n"
    # one invalid file among valid ones still fails the run
    code, out = run_cli(str(SEED_FILES[0]), str(bad), capsys=capsys)
    assert code == 1 and out.count(": OK ") == 1 and out.count(": INVALID ") == 1


def test_cli_invalid_file_lists_its_other_findings(tmp_path, capsys):
    path = tmp_path / "two.sip"
    path.write_bytes(m(HEAD.replace("Max-Forwards: 70\n", "").replace(";tag=as6f893afb", "")))
    code, out = run_cli(str(path), capsys=capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{path}: INVALID request has no Max-Forwards (RFC 3261 8.1.1.6 MUST)",
        "  error: line 3: From has no tag (RFC 3261 8.1.1.3 MUST) [from-tag-missing]",
    ]


def test_cli_json_shape(tmp_path, capsys):
    bad = tmp_path / "bad.sip"
    bad.write_bytes(NO_COLON)
    ok = SEED_DIR / "05-200-ok.sip"
    code, out = run_cli(
        "--json", str(ok), str(bad), str(SEED_DIR / "03-183-session-progress.sip"), capsys=capsys
    )
    assert code == 1
    doc = json.loads(out)
    assert isinstance(doc, list) and len(doc) == 3
    for entry in doc:
        assert set(entry) == {"file", "valid", "reason", "summary", "findings"}
    assert doc[0] == {
        "file": str(ok),
        "valid": True,
        "reason": None,
        "summary": OK_SUMMARY,
        "findings": [],
    }
    assert doc[1] == {
        "file": str(bad),
        "valid": False,
        "reason": "line 2: header 'Via' has no colon",
        "summary": None,
        "findings": [
            {
                "severity": "error",
                "code": "parse",
                "message": "header 'Via' has no colon",
                "line": 2,
            }
        ],
    }
    assert doc[2]["valid"] is True
    assert [f["code"] for f in doc[2]["findings"]] == ["contact-uri-params"]


def test_cli_stream_from_stdin_as_json(capsys):
    stream = b"".join(seed(n) for n in LYNC_LEG) + m(HEAD.replace("Max-Forwards: 70\n", ""))
    code, out = run_cli("--json", "--mode", "stream", stdin=stream, capsys=capsys)
    assert code == 1
    doc = json.loads(out)
    assert [e["file"] for e in doc] == [f"<stdin>#{i}" for i in range(1, 11)]
    assert [e["valid"] for e in doc] == [True] * 9 + [False]
    assert doc[-1]["reason"] == "request has no Max-Forwards (RFC 3261 8.1.1.6 MUST)"
    assert doc[-1]["summary"].startswith("INVITE sip:+14255550150@192.168.100.20 (Call-ID c@")
    assert doc[0]["summary"] == INVITE_SUMMARY


def test_cli_stream_text_labels_each_message(capsys):
    stream = seed("01") + b"\r\n\r\n" + seed("05")
    code, out = run_cli("--mode", "stream", "-", stdin=stream, capsys=capsys)
    assert code == 0
    assert out.splitlines() == [f"<stdin>#1: OK {INVITE_SUMMARY}", f"<stdin>#2: OK {OK_SUMMARY}"]
    # the default datagram mode sees one message with 2 junk bytes... and more after it
    code, out = run_cli("-", stdin=stream, capsys=capsys)
    assert out.startswith(f"<stdin>: OK {INVITE_SUMMARY}\n  warning: ")
    assert "[trailing-bytes]" in out


def test_cli_crlf_option_fixes_hand_written_files(tmp_path, capsys):
    text = seed("05").replace(b"\r\n", b"\n")
    path = tmp_path / "lync-200.txt"
    path.write_bytes(text)
    code, out = run_cli(str(path), capsys=capsys)
    assert code == 1
    assert out.startswith(f"{path}: INVALID line 8: Content-Length 259 but body has 245 bytes")
    code, out = run_cli("--crlf", str(path), capsys=capsys)
    assert code == 0 and out == f"{path}: OK {OK_SUMMARY}\n"


def test_cli_empty_file_and_garbage(tmp_path, capsys):
    empty = tmp_path / "empty.sip"
    empty.write_bytes(b"")
    code, out = run_cli(str(empty), capsys=capsys)
    assert (code, out) == (1, f"{empty}: INVALID empty message\n")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(random.Random(4).getrandbits(8) for _ in range(4096)))
    nonutf8 = tmp_path / "latin1.sip"
    nonutf8.write_bytes(NO_COLON.replace(b"Max-Forwards", b"Max-F\xf6rwards\x00"))
    nul = tmp_path / "nul.bin"
    nul.write_bytes(b"\x00" * 1000)
    for path in (noise, nonutf8, nul):
        for mode in ("datagram", "stream", "auto"):
            code, out = run_cli("--mode", mode, str(path), capsys=capsys)
            assert code == 1, (path, mode)
            first = out.splitlines()[0]
            assert first.startswith(f"{path}: INVALID ") and first.isprintable()
            assert "\x00" not in out


def test_cli_unreadable_files_exit_2_after_the_others(tmp_path, capsys):
    code = main(["sip-lint", str(tmp_path), str(SEED_FILES[0]), str(tmp_path / "missing.sip")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == f"{SEED_FILES[0]}: OK {INVITE_SUMMARY}\n"
    assert captured.err.splitlines() == [
        f"harness sip-lint: cannot read {tmp_path}: is a directory",
        f"harness sip-lint: cannot read {tmp_path / 'missing.sip'}: no such file",
    ]
    # an invalid file does not hide the usage error: still 2
    bad = tmp_path / "bad.sip"
    bad.write_bytes(NO_COLON)
    assert main(["sip-lint", "--json", str(bad), str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert [e["file"] for e in json.loads(captured.out)] == [str(bad)]


def test_cli_permission_denied(tmp_path, capsys, monkeypatch):
    path = tmp_path / "secret.sip"
    path.write_bytes(seed("01"))
    real_open = open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    assert main(["sip-lint", str(path)]) == 2
    assert capsys.readouterr().err == f"harness sip-lint: cannot read {path}: permission denied\n"


def test_cli_usage_errors_exit_2(capsys):
    for argv in (["--mode", "pcap"], ["--bogus"], ["--format", "json", "x.sip"]):
        with pytest.raises(SystemExit) as info:
            main(["sip-lint", *argv])
        assert info.value.code == 2, argv
    capsys.readouterr()


def test_cli_refuses_to_wait_on_a_terminal(capsys):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    old = sys.stdin
    sys.stdin = Tty()
    try:
        assert main(["sip-lint"]) == 2
    finally:
        sys.stdin = old
    assert "terminal" in capsys.readouterr().err


# -- as a process: .venv/bin/harness --------------------------------------------------


def test_process_seed_files_ok():
    proc = harness(*(str(p.relative_to(ROOT)) for p in SEED_FILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": OK ") == 9 and "INVALID" not in proc.stdout
    assert proc.stdout.startswith(f"fixtures/sip/seed/01-invite.sip: OK {INVITE_SUMMARY}\n")


def test_process_stdin_and_invalid(tmp_path):
    proc = harness("-", stdin=OPTIONS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "<stdin>: OK OPTIONS sip:1000@192.168.100.10 "
        "(Call-ID opt-1@192.168.100.40, CSeq 1 OPTIONS)\n"
    )
    bad = tmp_path / "bad.sip"
    bad.write_bytes(NO_COLON)
    proc = harness(str(bad))
    assert (proc.returncode, proc.stdout) == (
        1,
        f"{bad}: INVALID line 2: header 'Via' has no colon\n",
    )


def test_process_json():
    proc = harness("--json", "fixtures/sip/seed/05-200-ok.sip")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == [
        {
            "file": "fixtures/sip/seed/05-200-ok.sip",
            "valid": True,
            "reason": None,
            "summary": OK_SUMMARY,
            "findings": [],
        }
    ]


def test_process_never_a_traceback(tmp_path):
    empty = tmp_path / "empty.sip"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(random.Random(9).getrandbits(8) for _ in range(65536)))
    big = tmp_path / "big.sip"  # 10 MB: a header block that never ends
    big.write_bytes(b"INVITE sip:a@b SIP/2.0\r\nX-Pad: " + b"x" * 10_000_000)
    big_body = tmp_path / "big-body.sip"  # 10 MB: a valid head, a body too short
    big_body.write_bytes(
        seed("09").replace(b"CONTENT-LENGTH: 0", b"CONTENT-LENGTH: 20000000") + b"y" * 10_000_000
    )
    assert b"CONTENT-LENGTH: 20000000" in big_body.read_bytes()
    files = [empty, noise, big, big_body]
    for mode in ("datagram", "stream", "auto"):
        proc = harness("--mode", mode, *map(str, files))
        assert proc.returncode == 1, (mode, proc.stderr)
        lines = proc.stdout.splitlines()
        assert [line.split(": ", 1)[0] for line in lines if not line.startswith(" ")] == list(
            map(str, files)
        )
        assert lines[0] == f"{empty}: INVALID empty message"
        assert proc.stdout.count(": INVALID ") == 4
        assert all(len(line) < 1000 for line in lines)
    proc = harness("--json", *map(str, files))
    assert proc.returncode == 1
    assert [e["valid"] for e in json.loads(proc.stdout)] == [False] * 4


def test_process_usage_errors():
    proc = harness("--format", "json", "fixtures/sip/seed/01-invite.sip")
    assert proc.returncode == 2 and "--format" in proc.stderr
    proc = harness("fixtures/sip", "fixtures/sip/seed/01-invite.sip", "nope.sip")
    assert proc.returncode == 2
    assert proc.stdout.startswith("fixtures/sip/seed/01-invite.sip: OK ")
    assert "cannot read fixtures/sip: is a directory" in proc.stderr
    assert "cannot read nope.sip: no such file" in proc.stderr
