"""The E-model of `harness load` against ITU-T's published values: G.107's default R of
93.2, Annex B's MOS for the user-satisfaction boundaries (G.107 Table B.1), the delay
impairment's knee at 100 ms, and G.113 Appendix I's G.711 loss figures."""

from __future__ import annotations

import pytest

from harness.load import emodel


def test_default_values_give_r_93_2_and_mos_4_41() -> None:
    """G.107 7.7: with the default values (no delay past 100 ms, no loss), R = 93.2."""
    q = emodel.quality(0.0, 0.0)
    assert q.r == 93.2
    assert q.mos == pytest.approx(4.41, abs=0.005)
    assert q.ta_ms == 20.0  # packetisation only


@pytest.mark.parametrize(("r", "mos"), [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10),
                                        (50, 2.58)])
def test_mos_of_r_at_the_satisfaction_boundaries(r: float, mos: float) -> None:
    """G.107 Annex B, eq. B-4, as its Table B.1 lists it (to two decimals)."""
    assert emodel.mos_of_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_is_clamped_outside_0_and_100() -> None:
    assert emodel.mos_of_r(-5) == 1.0
    assert emodel.mos_of_r(120) == 4.5


def test_delay_costs_nothing_up_to_100_ms_then_grows() -> None:
    assert emodel.idd(100.0) == 0.0
    assert 0 < emodel.idd(150.0) < emodel.idd(200.0) < emodel.idd(400.0)
    # G.107 eq. 7-28 at Ta = 200 ms (X = 1): 25 * (2^(1/6) - 3 * (1 + 3^-6)^(1/6) + 2)
    assert emodel.idd(200.0) == pytest.approx(25 * (2 ** (1 / 6) - 3 * (1 + 3 ** -6) ** (1 / 6)
                                                    + 2), rel=1e-12)


def test_jitter_enters_through_the_buffer_delay() -> None:
    """A jitter of 100 ms means a 200 ms buffer: Ta = 220 ms, well past the knee."""
    assert emodel.quality(0.0, 100.0).ta_ms == 220.0
    assert emodel.quality(0.0, 100.0).r == pytest.approx(93.2 - emodel.idd(220.0), abs=0.01)
    assert emodel.quality(0.0, 100.0).r < emodel.quality(0.0, 10.0).r == 93.2


def test_g711_loss_with_plc_as_g113_appendix_i() -> None:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) with G.711's Ie 0, Bpl 25.1."""
    assert emodel.ie_eff(0.0) == 0.0
    assert emodel.ie_eff(1.0) == pytest.approx(95 / 26.1, rel=1e-12)
    q = emodel.quality(0.01, 0.0)
    assert q.ppl == 1.0
    assert q.r == pytest.approx(93.2 - 95 / 26.1, abs=0.01)
    # 5% random loss: R falls under 80 (G.107 Table B.1: "some users dissatisfied")
    assert emodel.quality(0.05, 0.0).r < 80


def test_loss_over_two_hops_compounds() -> None:
    assert emodel.combined_loss(0.1, 0.1) == pytest.approx(0.19)
    assert emodel.combined_loss(0.0, 0.0) == 0.0
