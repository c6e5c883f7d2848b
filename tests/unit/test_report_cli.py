"""``harness ladder``, ``harness calls``, ``harness report``: output, exit codes, and one
clear line (never a traceback) on bad input."""

from __future__ import annotations

import json
import shutil
import struct
import uuid
from pathlib import Path

import pytest

from harness import cli
from harness.cli import report as report_cli

DATA = Path(__file__).parent / "data"
PCAP = DATA / "lync_outbound.pcap"
ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "ladder": ("harness.cli.ladder", "draw the SIP ladder diagram of a capture"),
    "calls": ("harness.cli.calls", "list the calls of a capture"),
    "report": ("harness.cli.report", "build the Allure HTML report"),
}


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The subcommands, whether or not the registry lists them yet."""
    for name, entry in COMMANDS.items():
        monkeypatch.setitem(cli.SUBCOMMANDS, name, entry)


def harness(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def rtp_only(tmp_path: Path) -> Path:
    """The real capture without its SIP: every UDP packet that is not on port 5060."""
    import scapy.layers.l2  # noqa: F401 - registers Linux cooked v2, the capture's link type
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap, wrpcap

    keep = [p for p in rdpcap(str(PCAP))
            if UDP in p and 5060 not in (p[UDP].sport, p[UDP].dport)]
    path = tmp_path / "rtp_only.pcap"
    wrpcap(str(path), keep, linktype=struct.unpack_from("<I", PCAP.read_bytes(), 20)[0])
    return path


# ----------------------------------------------------------------------------- ladder


@pytest.mark.parametrize("suffix", [".svg", ".html"])
def test_ladder_writes_svg_or_html(tmp_path, capsys, suffix):
    out = tmp_path / f"call{suffix}"
    code, stdout, err = harness(capsys, "ladder", str(PCAP), "-o", str(out),
                                "--role", "192.168.100.20=Lync Mediation")
    assert code == 0, err
    assert stdout.strip() == (f"wrote {out}: 31 SIP messages, 4 RTP streams, hosts Softphone, "
                              "Asterisk, Lync Mediation")
    assert "Lync Mediation" in out.read_text()


def test_ladder_without_topology_roles_names_hosts_by_address(tmp_path, capsys):
    code, stdout, _ = harness(capsys, "ladder", str(PCAP), "-o", str(tmp_path / "l.svg"),
                              "--no-topology-roles", "--call", "301f0364")
    assert code == 0
    assert stdout.strip().endswith("hosts 192.168.100.10, 192.168.100.20")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["ladder", "missing.pcap", "-o", "x.svg"], 1,
         "harness ladder: missing.pcap: no such file"),
        (["ladder", str(ROOT / "README.md"), "-o", "x.svg"], 1,
         "not a pcap or pcapng file: it starts with '# SIP in'"),
        (["ladder", str(PCAP), "-o", "x.png"], 2, "-o wants a .svg or .html file, not 'x.png'"),
        (["ladder", str(PCAP), "-o", "x.svg", "--role", "10.0.0.1"], 2, "--role wants ADDR=NAME"),
        (["ladder", str(PCAP)], 2, "the following arguments are required: -o/--output"),
        (["ladder", str(PCAP), "-o", "/no/such/dir/x.svg"], 1, "cannot write /no/such/dir/x.svg"),
        (["ladder", str(PCAP), "-o", "x.svg", "--call", "nope"], 1,
         "no SIP message with a Call-ID containing 'nope'"),
    ],
)
def test_ladder_bad_input_is_one_line(capsys, argv, code, message):
    got, stdout, err = harness(capsys, *argv)
    assert got == code
    assert message in one_line(err)
    assert stdout == ""


def test_ladder_of_a_capture_without_sip(tmp_path, capsys):
    path = rtp_only(tmp_path)
    code, _, err = harness(capsys, "ladder", str(path), "-o", str(tmp_path / "x.svg"))
    assert code == 1
    assert one_line(err) == (f"harness ladder: {path}: no SIP messages in the capture "
                             "(318 packets): nothing to draw a ladder of")
    assert not (tmp_path / "x.svg").exists()


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = harness(capsys, "ladder", str(PCAP), "-o", "x.svg", "--bogus")
    assert code == 2
    assert "unrecognized arguments: --bogus" in err


# ----------------------------------------------------------------------------- calls


def test_calls_table(capsys):
    code, out, _ = harness(capsys, "calls", str(PCAP))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Call-ID", "hosts", "first", "s", "last", "s", "INVITE", "msgs",
                                "RTP", "pkts"]
    assert "Softphone - Asterisk" in lines[1] and "401>200 +2 re-INVITE" in lines[1]
    assert lines[1].split()[-2:] == ["17", "159"]
    assert "Asterisk - Mediation Server" in lines[2] and "200 +2 re-INVITE" in lines[2]
    assert lines[2].split()[-2:] == ["14", "159"]
    assert lines[3] == "2 calls, 31 SIP messages, 318 RTP packets"
    assert max(len(line) for line in lines) <= 100


def test_calls_json(capsys):
    code, out, _ = harness(capsys, "calls", str(PCAP), "--json")
    assert code == 0
    doc = json.loads(out)
    calls = {c["call_id"]: c for c in doc["calls"]}
    phone = calls["1-151@192.168.100.40"]
    assert [h["name"] for h in phone["hosts"]] == ["Softphone", "Asterisk"]
    assert phone["invite_statuses"] == [401, 200, 200, 200]
    assert phone["answered"] and phone["re_invites"] == 2 and phone["bye"]
    assert (phone["first_frame"], phone["last_frame"], phone["messages"]) == (8, 400, 17)
    assert round(phone["first_time"], 3) == 0.165 and round(phone["last_time"], 3) == 2.788
    lync = calls["301f0364-c093-4451-97f6-19735454cbd9"]
    assert lync["invite_result"] == "200 +2 re-INVITE"
    assert sorted(s["packets"] for s in lync["rtp_streams"]) == [79, 80]
    assert lync["rtp_packets"] == 159 and doc["rtp_without_sdp"] == []


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["calls", "missing.pcap"], 1, "harness calls: missing.pcap: no such file"),
        (["calls", str(ROOT / "README.md")], 1, "not a pcap or pcapng file"),
        (["calls"], 2, "the following arguments are required: CAPTURE"),
        (["calls", str(PCAP), "--role", "=x"], 2, "--role wants ADDR=NAME"),
    ],
)
def test_calls_bad_input_is_one_line(capsys, argv, code, message):
    got, _, err = harness(capsys, *argv)
    assert got == code
    assert message in one_line(err)


def test_calls_of_a_capture_without_sip(tmp_path, capsys):
    path = rtp_only(tmp_path)
    code, _, err = harness(capsys, "calls", str(path))
    assert code == 1
    assert one_line(err) == f"harness calls: {path}: no SIP messages in the capture (318 packets)"


# ----------------------------------------------------------------------------- report


def allure_results(folder: Path) -> Path:
    """A minimal allure-pytest result (the format pytest --alluredir writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = str(uuid.uuid4())
    (folder / f"{uid}-result.json").write_text(json.dumps({
        "uuid": uid, "historyId": "h1", "testCaseId": "t1", "name": "test_call",
        "fullName": "tests.test_call#test_call", "status": "passed", "stage": "finished",
        "start": 1_700_000_000_000, "stop": 1_700_000_001_000,
        "labels": [{"name": "framework", "value": "pytest"}],
    }))
    return folder


def test_report_without_results(tmp_path, capsys):
    code, _, err = harness(capsys, "report", "--results", str(tmp_path / "none"))
    assert code == 1
    assert one_line(err).startswith(f"harness report: no results folder {tmp_path / 'none'}: "
                                    "run pytest with --alluredir")
    code, _, err = harness(capsys, "report", "--results", str(tmp_path))
    assert code == 1 and "no Allure results in" in one_line(err)


def test_report_without_the_npm_package_says_npm_ci(tmp_path, capsys, monkeypatch):
    results = allure_results(tmp_path / "results")
    bare = tmp_path / "checkout"
    bare.mkdir()
    (bare / "package.json").write_text('{"devDependencies": {"allure": "3.18.0"}}')
    monkeypatch.chdir(bare)
    if shutil.which("npx") is None:
        pytest.skip("npx not installed: the 'npx not found' case is tested below")
    code, _, err = harness(capsys, "report", "--results", str(results))
    assert code == 1
    assert one_line(err) == (f"harness report: the allure npm package is not installed: run "
                             f"`npm ci` in {bare.resolve()}")


def test_report_without_npx_says_install_node_and_npm_ci(tmp_path, capsys, monkeypatch):
    results = allure_results(tmp_path / "results")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = harness(capsys, "report", "--results", str(results))
    assert code == 1
    line = one_line(err)
    assert line.startswith("harness report: npx not found: install Node.js 20+")
    assert line.endswith("then run `npm ci` in " + str(report_cli.find_root()))


def test_report_bad_port_and_unknown_option(capsys):
    code, _, err = harness(capsys, "report", "--port", "0")
    assert code == 2 and "--port must be 1-65535" in one_line(err)
    code, _, err = harness(capsys, "report", "--port", "eighty")
    assert code == 2 and "invalid int value: 'eighty'" in one_line(err)


def test_find_root_is_the_checkout_with_the_pinned_package(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "harness" / "report")
    assert report_cli.find_root() == ROOT
    monkeypatch.chdir(tmp_path)  # outside any project: nothing, not the package's folder
    assert report_cli.find_root() is None
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert pinned["allure"].split(".")[0] == "3" and pinned["allure"][0].isdigit()
    assert (ROOT / "package-lock.json").is_file()


@pytest.mark.skipif(
    shutil.which("npx") is None or not (ROOT / "node_modules" / ".bin" / "allure").exists(),
    reason="the allure npm package is not installed (npm ci)",
)
def test_report_builds_the_html_report_offline(tmp_path, capsys):
    results = allure_results(tmp_path / "results")
    out = tmp_path / "report"
    code, stdout, err = harness(capsys, "report", "--results", str(results), "--out", str(out))
    assert code == 0, err
    assert stdout.strip() == f"report: {out / 'index.html'} (1 test results from {results})"
    assert (out / "index.html").is_file()
    assert "test_call" in "".join(p.read_text() for p in (out / "data").rglob("*.json"))
