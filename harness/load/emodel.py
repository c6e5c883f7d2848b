"""An estimated MOS per call: the ITU-T G.107 E-model from loss, jitter and delay, the way
voip_patrol reports one for each call (an R factor, then MOS-CQE).

    R = Ro - Is - Id - Ie,eff + A                          G.107 (06/2015) 7.1, eq. 7-1

Ro - Is (the basic signal-to-noise ratio less the simultaneous impairments) and the echo
parts of Id (Idte, Idle) are those of G.107's default values (Table 3: SLR 8, RLR 2, STMR
15, LSTR 18, Ds 3, Dr 3, TELR 65, WEPL 110, Nc -70, Nfor -64, Ps = Pr 35 dB(A), A 0): with
no delay and no loss the model gives R = 93.2 (7.7: "the default values ... R = 93.2").
What a capture measures enters through the two terms that depend on it:

- Idd, the delay impairment (7.4, eq. 7-27/7-28): 0 up to Ta = 100 ms, then
  25 {(1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2} with X = log2(Ta / 100 ms);
- Ie,eff, the effective equipment impairment with packet loss (7.5, eq. 7-29):
  Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), with G.113 Appendix I's values for G.711:
  Ie = 0 and, with packet loss concealment, Bpl = 25.1 (random loss: BurstR = 1).

Ta, the absolute one-way delay, is what the listener waits for: the packetisation time
(20 ms), a jitter buffer sized to twice the measured jitter (as softphones do) and the
network delay given (the gateway's relay, measured or 0). MOS from R: G.107 Annex B,
eq. B-4 (1 below R = 0, 4.5 above R = 100).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# G.107 Table 3 defaults: R with Idd = 0 and Ie,eff = 0 (7.7)
R_DEFAULT = 93.2
# G.113 Appendix I (Table I.1/I.3): G.711 with packet loss concealment
G711_IE = 0.0
G711_BPL = 25.1
PTIME_MS = 20.0


@dataclass(frozen=True)
class Quality:
    r: float
    mos: float
    ta_ms: float  # the one-way delay the model used
    ppl: float  # packet loss, percent


def idd(ta_ms: float) -> float:
    """G.107 7.4, eq. 7-27 and 7-28: the impairment of the absolute delay Ta."""
    if ta_ms <= 100.0:
        return 0.0
    x = math.log10(ta_ms / 100.0) / math.log10(2.0)
    return float(25.0 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2))


def ie_eff(ppl: float, ie: float = G711_IE, bpl: float = G711_BPL, burst_r: float = 1.0) -> float:
    """G.107 7.5, eq. 7-29: the equipment impairment with Ppl percent of packets lost."""
    if ppl <= 0:
        return ie
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def mos_of_r(r: float) -> float:
    """G.107 Annex B, eq. B-4: MOS-CQE from the rating R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def one_way_delay_ms(jitter_ms: float, network_ms: float = 0.0) -> float:
    """Ta: packetisation, a jitter buffer of twice the jitter, and the network's delay."""
    return PTIME_MS + 2.0 * max(jitter_ms, 0.0) + max(network_ms, 0.0)


def quality(loss_fraction: float, jitter_ms: float, network_ms: float = 0.0) -> Quality:
    """R and MOS of one direction of a G.711 call with that loss (0..1) and jitter."""
    ppl = 100.0 * min(max(loss_fraction, 0.0), 1.0)
    ta = one_way_delay_ms(jitter_ms, network_ms)
    r = R_DEFAULT - idd(ta) - ie_eff(ppl)
    return Quality(round(r, 2), round(mos_of_r(r), 3), round(ta, 2), round(ppl, 3))


def combined_loss(*fractions: float) -> float:
    """The loss across hops in series (a stream relayed by the gateway): 1 - prod(1 - p)."""
    kept = 1.0
    for p in fractions:
        kept *= 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - kept
