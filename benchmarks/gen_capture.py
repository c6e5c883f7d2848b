"""Generate a large, realistic call capture for the rtp-stats benchmark (numpy, seconds).

Calls set up by SIP over UDP (INVITE with SDP, 200 OK with SDP, ACK), each with RTP both
ways at 20 ms: PCMU, PCMA, G.722, G.729 (20-byte payloads) and Opus (variable sizes), RFC
4733 digits on some calls, RTCP every 5 s per stream, 0.3 % loss, a few late and duplicate
packets, arrival jitter of up to 2 ms. Ethernet, pcap, microseconds.

    python benchmarks/gen_capture.py OUT.pcap [--packets 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

CODECS = (  # (pt, rtpmap, clock, payload bytes or -1 for variable)
    (0, "PCMU/8000", 8000, 160),
    (8, "PCMA/8000", 8000, 160),
    (9, "G722/8000", 8000, 160),
    (18, "G729/8000", 8000, 20),
    (111, "opus/48000/2", 48000, -1),
)
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"


def _sdp(ip: str, port: int, pt: int, rtpmap: str) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {rtpmap}\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    )


def _sip(first: str, call_id: str, cseq: str, body: str) -> bytes:
    head = [
        first,
        "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK" + call_id,
        "Max-Forwards: 70",
        "From: <sip:1000@10.0.0.10>;tag=a",
        "To: <sip:2000@10.0.1.10>" + (";tag=b" if first.startswith("SIP/2.0") else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq}",
        "Contact: <sip:1000@10.0.0.10>",
    ]
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def _ip_udp(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst)
    return ETH + ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def generate(path: Path, packets: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    duration_s = 120
    per_stream = duration_s * 50
    calls = max(1, packets // (2 * per_stream))
    t0 = 1_700_000_000 * 1_000_000
    parts = []  # per stream: arrays
    extra: list[tuple[int, bytes]] = []  # SIP and RTCP packets (time us, frame bytes)
    for c in range(calls):
        pt, rtpmap, clock, size = CODECS[c % len(CODECS)]
        a_ip, b_ip = 0x0A000000 + 10 + c % 200, 0x0A000100 + 10 + c % 200
        a_port, b_port = 20000 + 2 * c, 30000 + 2 * c
        start = t0 + c * 1_000_000 // 4
        call_id = f"bench{c}"
        a_txt = f"10.0.0.{10 + c % 200}"
        b_txt = f"10.0.1.{10 + c % 200}"
        invite = _sip(
            f"INVITE sip:2000@{b_txt} SIP/2.0", call_id, "1 INVITE", _sdp(a_txt, a_port, pt, rtpmap)
        )
        ok = _sip("SIP/2.0 200 OK", call_id, "1 INVITE", _sdp(b_txt, b_port, pt, rtpmap))
        ack = _sip(f"ACK sip:2000@{b_txt} SIP/2.0", call_id, "1 ACK", "")
        extra.append((start - 60_000, _ip_udp(a_ip, b_ip, 5060, 5060, invite)))
        extra.append((start - 40_000, _ip_udp(b_ip, a_ip, 5060, 5060, ok)))
        extra.append((start - 20_000, _ip_udp(a_ip, b_ip, 5060, 5060, ack)))
        for direction in range(2):
            src, dst = (a_ip, b_ip) if direction == 0 else (b_ip, a_ip)
            sport, dport = (a_port, b_port) if direction == 0 else (b_port, a_port)
            n = per_stream
            idx = np.arange(n)
            t = start + idx * 20_000 + rng.integers(-2000, 2000, n)
            keep = rng.random(n) >= 0.003
            step = clock // 50
            seq = (int(rng.integers(0, 65536)) + idx) & 0xFFFF
            ts = (int(rng.integers(0, 2**32)) + idx * step) & 0xFFFFFFFF
            pts = np.full(n, pt)
            lens = np.full(n, size) if size > 0 else rng.integers(60, 140, n)
            marker = idx == 0
            if c % 4 == 0:  # a digit every 10 s: 8 event packets replacing audio
                for k in range(500, n - 20, 500):
                    ev = slice(k, k + 8)
                    pts[ev] = 101
                    lens[ev] = 4
                    ts[ev] = ts[k]
                    marker[k] = True
            ssrc = int(rng.integers(0, 2**32))
            late = np.flatnonzero(rng.random(n) < 0.0005)
            t[late] += 45_000  # arrives after the next two
            dup = np.flatnonzero(rng.random(n) < 0.0005)
            sel = np.concatenate([idx[keep], dup])
            parts.append(
                {
                    "t": t[sel],
                    "seq": seq[sel],
                    "ts": ts[sel],
                    "pt": pts[sel],
                    "len": lens[sel],
                    "marker": marker[sel],
                    "ssrc": ssrc,
                    "src": src,
                    "dst": dst,
                    "sport": sport,
                    "dport": dport,
                }
            )
            for k in range(0, n, 250):  # RTCP SR, 52 bytes, to port + 1
                sr = struct.pack(
                    "!BBHIIIIIIIIIIIII", 0x81, 200, 12, ssrc, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
                )[:52]
                extra.append((int(t[k]) + 7_000, _ip_udp(src, dst, sport + 1, dport + 1, sr)))
    return _write(path, parts, extra)


def _write(
    path: Path, parts: list[dict[str, np.ndarray]], extra: list[tuple[int, bytes]]
) -> dict[str, Any]:
    cat = {
        k: np.concatenate([p[k] for p in parts]) for k in ("t", "seq", "ts", "pt", "len", "marker")
    }
    counts = [p["t"].size for p in parts]
    for k in ("ssrc", "src", "dst", "sport", "dport"):
        cat[k] = np.repeat([p[k] for p in parts], counts)
    n_rtp = cat["t"].size
    t_all = np.concatenate([cat["t"], np.array([e[0] for e in extra], dtype=np.int64)])
    rec_len = np.concatenate(
        [16 + 14 + 20 + 8 + 12 + cat["len"], np.array([16 + len(e[1]) for e in extra])]
    )
    order = np.argsort(t_all, kind="stable")
    len_sorted = rec_len[order]
    offs = 24 + np.concatenate(([0], np.cumsum(len_sorted)[:-1]))
    total = int(24 + len_sorted.sum())
    buf = np.full(total, 0xD5, dtype=np.uint8)
    buf[:24] = np.frombuffer(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), np.uint8)
    pos = np.empty(t_all.size, dtype=np.int64)
    pos[order] = offs

    def put(off: np.ndarray, values: np.ndarray, fmt: str) -> None:
        raw = np.ascontiguousarray(values.astype(fmt)).view(np.uint8).reshape(off.size, -1)
        for k in range(raw.shape[1]):
            buf[off + k] = raw[:, k]

    p = pos[:n_rtp]
    caplen = 14 + 20 + 8 + 12 + cat["len"]
    put(p, cat["t"] // 1_000_000, "<u4")
    put(p + 4, cat["t"] % 1_000_000, "<u4")
    put(p + 8, caplen, "<u4")
    put(p + 12, caplen, "<u4")
    e = p + 16
    for j, byte in enumerate(ETH):
        buf[e + j] = byte
    ip = e + 14
    buf[ip] = 0x45
    buf[ip + 1] = 0
    put(ip + 2, caplen - 14, ">u2")
    put(ip + 4, np.zeros(n_rtp), ">u4")
    buf[ip + 8] = 64
    buf[ip + 9] = 17
    put(ip + 10, np.zeros(n_rtp), ">u2")
    put(ip + 12, cat["src"], ">u4")
    put(ip + 16, cat["dst"], ">u4")
    u = ip + 20
    put(u, cat["sport"], ">u2")
    put(u + 2, cat["dport"], ">u2")
    put(u + 4, caplen - 34, ">u2")
    put(u + 6, np.zeros(n_rtp), ">u2")
    r = u + 8
    buf[r] = 0x80
    buf[r + 1] = (cat["pt"] | (cat["marker"].astype(np.int64) << 7)).astype(np.uint8)
    put(r + 2, cat["seq"], ">u2")
    put(r + 4, cat["ts"], ">u4")
    put(r + 8, cat["ssrc"], ">u4")
    ev = np.flatnonzero(cat["pt"] == 101)
    if ev.size:  # RFC 4733 payload: digit 5, volume 10, growing duration, end on the last
        buf[r[ev] + 12] = 5
        buf[r[ev] + 13] = 10
        put(r[ev] + 14, np.full(ev.size, 960), ">u2")
    for (t, frame), off in zip(extra, pos[n_rtp:], strict=True):
        hdr = struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame))
        buf[off : off + 16] = np.frombuffer(hdr, np.uint8)
        buf[off + 16 : off + 16 + len(frame)] = np.frombuffer(frame, np.uint8)
    path.write_bytes(buf.tobytes())
    return {"packets": int(t_all.size), "rtp_packets": n_rtp, "streams": len(parts), "bytes": total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    info = generate(args.out, args.packets, args.seed)
    print(
        f"{args.out}: {info['packets']} packets ({info['rtp_packets']} RTP in"
        f" {info['streams']} streams), {info['bytes'] / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
