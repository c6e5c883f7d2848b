"""Where the tests find the repository and its own captures."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "unit" / "data"
# A real capture the harness made of the seed's outbound flow (both legs), as tcpdump wrote
# it, and the same packets as Linux cooked SLL2.
LYNC_PCAP = DATA / "lync_outbound.pcap"
LYNC_PCAP_SLL2 = DATA / "lync_outbound_sll2.pcap"
SEED_SIP_DIR = ROOT / "fixtures" / "sip" / "seed"
