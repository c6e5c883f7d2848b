"""harness.capture.xmpp: the stanzas of real captures from the harness's topology
(tests/unit/data/xmpp/README.md says how each was made).

The reference is tshark's XMPP dissector: for every frame it shows, the same count of
iq/message/presence stanzas from the same sender. Damaged variants (a segment dropped, the
file cut short, a byte changed) are made from the real files in the test's folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.capture.xmpp import XmppStanza, extract_xmpp, local_name, xmpp_stanzas

DATA = Path(__file__).parent / "data" / "xmpp"
LOGIN = DATA / "c2s_login_plain.pcap"
STARTTLS = DATA / "c2s_starttls.pcap"
IVR = DATA / "ivr_option4_no_sip.pcap"
DECLINE = DATA / "9501_decline_sip_and_jingle.pcap"
TLS16 = DATA / "ivr_asterisk16_tls_dropped.pcap"
ASTERISK, SERVER, HOST = "192.168.122.10", "192.168.122.50", "192.168.122.1"
MENU = ["Thank you for calling Contoso", "Choose one of the following options",
        "1 - Company Directory", "2 - Call Employee", "3 - Customer Service",
        "4 - Company Info", "5 - Conference Center"]

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


# ----------------------------------------------------------------------------- helpers


def records(path: Path) -> tuple[bytes, list[bytes]]:
    """The global header and the records of a classic little-endian pcap file."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "the samples are tcpdump's little-endian pcap"
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off:off + 16 + incl])
        off += 16 + incl
    return data[:24], out


def write(path: Path, head: bytes, recs: list[bytes]) -> Path:
    path.write_bytes(head + b"".join(recs))
    return path


def tshark_stanzas(path: Path) -> Counter[tuple[int, str]]:
    """(frame, sender address) -> how many stanzas tshark's XMPP dissector shows there."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "xmpp", "-T", "fields", "-e", "frame.number",
         "-e", "ip.src", "-e", "xmpp.iq", "-e", "xmpp.message", "-e", "xmpp.presence"],
        capture_output=True, text=True, check=True).stdout
    seen: Counter[tuple[int, str]] = Counter()
    for line in out.splitlines():
        frame, src, *kinds = line.split("\t")
        n = sum(len(k.split(",")) for k in kinds if k)
        if n:
            seen[(int(frame), src)] += n
    return seen


def ours(path: Path) -> Counter[tuple[int, str]]:
    return Counter((s.frame, s.src_host) for s in xmpp_stanzas(open_capture(path)))


def bodies(stanzas: list[XmppStanza], src: str) -> list[str]:
    return [next(c.text or "" for c in s.element if local_name(c.tag) == "body")
            for s in stanzas if s.kind == "message" and s.src_host == src
            and any(local_name(c.tag) == "body" for c in s.element)]


# ----------------------------------------------------------------------------- real captures


@needs_tshark
@pytest.mark.parametrize("path", [LOGIN, IVR, DECLINE, TLS16], ids=lambda p: p.stem)
def test_the_same_stanzas_as_tsharks_dissector(path: Path) -> None:
    assert ours(path) == tshark_stanzas(path)


def test_a_whole_stream_header_sasl_and_restart() -> None:
    found = extract_xmpp(open_capture(LOGIN))
    assert found.notes == []
    bot = [s for s in found.stanzas if s.src_host == HOST]
    # the first stanza after SASL and the stream restart is the resource binding
    assert bot[0].kind == "iq" and local_name(bot[0].element[0].tag) == "bind"
    # nothing of the stream's negotiation (features, auth, success) is taken for a stanza
    assert {s.kind for s in found.stanzas} == {"iq", "message", "presence"}
    text = bodies(found.stanzas, HOST)
    assert text == ["hello <&> from the login sample"]
    # the same chat, delivered by Prosody to Asterisk (its stream is plain in this sample)
    assert bodies([s for s in found.stanzas if s.dst_host == ASTERISK], SERVER) == text


def test_raw_is_the_stanza_as_sent() -> None:
    for st in xmpp_stanzas(open_capture(LOGIN)):
        assert st.raw.startswith(b"<" + st.kind.encode())
        assert st.raw.endswith(b"/>") or st.raw.endswith(f"</{st.kind}>".encode())
        again = ET.fromstring(st.raw)  # namespaces of the stream header are not in it
        assert local_name(again.tag) == st.kind
        assert again.attrib.get("id") == st.element.get("id")


def test_addresses_ports_and_times() -> None:
    cap = open_capture(LOGIN)
    stanzas = xmpp_stanzas(cap)
    assert all(":" in s.src and ":" in s.dst for s in stanzas)
    assert all(s.src.endswith(":5222") or s.dst.endswith(":5222") for s in stanzas)
    assert [s.time for s in stanzas] == sorted(s.time for s in stanzas)
    for s in stanzas:
        assert s.time == pytest.approx(float(cap.time[s.frame - 1]))


def test_the_ivr_menu_in_order_on_both_hops() -> None:
    stanzas = xmpp_stanzas(open_capture(IVR))
    from_asterisk = bodies(stanzas, ASTERISK)
    to_user = bodies([s for s in stanzas if s.dst_host == HOST], SERVER)
    assert from_asterisk[:7] == MENU
    assert to_user[:7] == MENU
    assert bodies(stanzas, HOST) == ["4"]


def test_starttls_ends_both_directions_with_a_note() -> None:
    found = extract_xmpp(open_capture(STARTTLS))
    assert found.stanzas == []
    assert len(found.notes) == 2
    assert any("STARTTLS (starttls)" in n and "127.0.0.1:5222: " in n for n in found.notes)
    assert any("STARTTLS (proceed)" in n for n in found.notes)
    # the negotiation itself, for the seed's usetls=yes check: the client asks, then the
    # server grants, each in its own direction
    assert [(t.kind, t.dst.endswith(":5222")) for t in found.tls] == [
        ("starttls", True), ("proceed", False)]
    assert found.tls[0].time < found.tls[1].time


def test_a_stream_encrypted_before_the_capture_is_skipped_with_a_note() -> None:
    found = extract_xmpp(open_capture(TLS16))
    tls = [n for n in found.notes if "TLS records" in n]
    assert len(tls) == 2 and all(ASTERISK in n for n in tls)
    # the Google Talk user's stream is in clear: its session-initiate and Asterisk's answer
    assert [(s.src_host, s.kind) for s in found.stanzas] == [(HOST, "iq"), (SERVER, "iq")]
    assert all(s.src_host != ASTERISK for s in found.stanzas)
    assert found.tls == []  # negotiated before the capture: not seen


def test_only_the_given_ports() -> None:
    assert xmpp_stanzas(open_capture(IVR), ports=(5269,)) == []
    assert xmpp_stanzas(open_capture(DECLINE), ports=(5060, 5068)) == []


# ----------------------------------------------------------------------------- damaged


def test_a_segment_missing_costs_its_stanzas_only(tmp_path: Path) -> None:
    head, recs = records(IVR)
    whole = xmpp_stanzas(open_capture(IVR))
    menu = next(s for s in whole if s.src_host == ASTERISK and s.kind == "message")
    frame = menu.frame  # the segment with "Thank you for calling Contoso" from Asterisk
    damaged = write(tmp_path / "gap.pcap", head, recs[:frame - 1] + recs[frame:])
    found = extract_xmpp(open_capture(damaged))
    assert any("bytes missing from the capture" in n for n in found.notes)
    from_asterisk = bodies(found.stanzas, ASTERISK)
    assert from_asterisk[:6] == MENU[1:]  # the rest of the menu, after the gap
    assert len(found.stanzas) == len(whole) - 1


def test_a_file_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    data = IVR.read_bytes()
    _head, recs = records(IVR)
    stanzas = xmpp_stanzas(open_capture(IVR))
    cut_frame = stanzas[10].frame
    offset = 24 + sum(len(r) for r in recs[:cut_frame - 1]) + 16 + 80  # inside its payload
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:offset])
    cap = open_capture(cut)
    assert cap.warnings  # the reader says the last record is cut short
    found = extract_xmpp(cap)
    assert [s.raw for s in found.stanzas] == [s.raw for s in stanzas if s.frame < cut_frame]


def test_xml_that_is_not_well_formed_is_noted_and_passed(tmp_path: Path) -> None:
    head, recs = records(DECLINE)
    stanzas = xmpp_stanzas(open_capture(DECLINE))
    bad = next(s for s in stanzas if "session-info" in s.raw.decode())
    rec = bytearray(recs[bad.frame - 1])
    at = bytes(rec).index(b"<ringing")
    rec[at + 1] = ord("=")  # "<=inging": not a tag
    recs[bad.frame - 1] = bytes(rec)
    found = extract_xmpp(open_capture(write(tmp_path / "bad.pcap", head, recs)))
    assert any("not well-formed" in n for n in found.notes)
    assert len(found.stanzas) == len(stanzas) - 1
    assert bad.frame not in {s.frame for s in found.stanzas if s.src == bad.src}
    # what followed on the same direction still parses
    later = [s for s in stanzas if s.src == bad.src and s.time > bad.time]
    assert later and all(s.raw in {f.raw for f in found.stanzas} for s in later)


# ----------------------------------------------------------------------------- the merge


def test_the_capture_agents_merge_gives_back_the_time_order(tmp_path: Path) -> None:
    """containers/capture/pcapmerge.py on the two halves of a real capture: the Google
    Talk user's stream (what capture-xmpp takes) and the rest."""
    spec = importlib.util.spec_from_file_location(
        "pcapmerge", Path(__file__).parents[2] / "containers" / "capture" / "pcapmerge.py")
    assert spec is not None and spec.loader is not None
    pcapmerge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pcapmerge)
    head, recs = records(IVR)
    cap = open_capture(IVR)
    user = {i for i in range(len(cap)) if HOST in (cap.src(i), cap.dst(i))
            and 5222 in (int(cap.sport[i]), int(cap.dport[i]))}
    assert user and len(user) < len(recs)
    a = write(tmp_path / "a.pcap", head, [r for i, r in enumerate(recs) if i not in user])
    b = write(tmp_path / "b.pcap", head, [r for i, r in enumerate(recs) if i in user])
    assert pcapmerge.merge_pcaps(a, b) == len(recs)
    assert a.read_bytes() == IVR.read_bytes()
    linktype = struct.unpack_from("<I", head, 20)[0]
    assert linktype in (113, 276)  # tcpdump -i any: Linux cooked capture
    other = tmp_path / "ethernet.pcap"  # the same records, said to be Ethernet
    other.write_bytes(head[:20] + struct.pack("<I", 1) + b"".join(recs[:3]))
    with pytest.raises(pcapmerge.MergeError, match="link type"):
        pcapmerge.merge_pcaps(a, other)
