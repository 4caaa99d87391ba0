"""PRR, ROR and IC against published worked numbers and definitions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporter.analysis.disproportionality import (
    Pair,
    gamma_quantile,
    measures,
    pair_rows,
    signal_criteria,
    table_rows,
)


def test_ic_credibility_interval_matches_the_published_reference_implementation():
    # Noren et al., Stat Methods Med Res 2013;22:57-69: IC025 = log2 of the 2.5% quantile of
    # Gamma(O + 0.5, E + 0.5). The vigicaen documentation (ic_tail, Uppsala/Caen pharmacovigilance) gives the
    # worked value ic_tail(n_obs = 12, n_exp = 5) = 0.2542334.
    assert math.log2(gamma_quantile(0.025, 12 + 0.5, 5 + 0.5)) == pytest.approx(0.2542334, abs=1e-7)


def test_ic_is_the_shrunk_observed_to_expected_ratio():
    # Bate et al. 1998 IC = log2(P(x,y) / (P(x)P(y))) = log2(a / E) with E = (a+b)(a+c)/N; Noren et al. 2006
    # add 0.5 to observed and expected. Table with a = 12 and E = 5 exactly: (a+b)(a+c)/N = 20 * 25 / 100.
    m = measures(12, 8, 13, 67)
    assert m.expected == 5.0
    assert m.ic == pytest.approx(math.log2(12.5 / 5.5))
    assert m.ic_ci[0] == pytest.approx(0.2542334, abs=1e-7)
    assert m.ic_ci[0] < m.ic < m.ic_ci[1]


def test_prr_ror_and_chi_square_on_a_published_table():
    # Singhal et al., Int J Pharm Pharm Sci 2015;7(6):405-11, table 16 (as used in the pharmsignal tests):
    # a = 28, b = 942, c = 17, d = 31435. PRR = (28/970)/(17/31452) (Evans et al. 2001), ROR = ad/bc.
    m = measures(28, 942, 17, 31435)
    assert m.prr == pytest.approx((28 / 970) / (17 / 31452))
    assert m.prr == pytest.approx(53.405, abs=1e-3)
    se = math.sqrt(1 / 28 - 1 / 970 + 1 / 17 - 1 / 31452)
    assert m.prr_ci == pytest.approx((m.prr * math.exp(-1.959964 * se), m.prr * math.exp(1.959964 * se)))
    assert m.ror == pytest.approx(28 * 31435 / (942 * 17))
    assert m.ror_ci[0] == pytest.approx(29.98, abs=0.01) and m.ror_ci[1] == pytest.approx(100.76, abs=0.01)
    assert m.signals() == ["PRR", "ROR", "IC"]


def test_yates_chi_square_matches_a_textbook_worked_example():
    # Smith & Morrow, Field Trials of Health Interventions (3rd ed., ch. 21, eq. 21.3): a = 90 of 300 in one
    # group, 225 events among 600: chi-square (Mantel-Haenszel, continuity-corrected, N - 1) = 13.74. Pearson's
    # Yates-corrected chi-square used with the PRR is the same times N / (N - 1).
    m = measures(90, 210, 135, 165)
    assert m.chi2 * 599 / 600 == pytest.approx(13.74, abs=0.005)


def test_zero_cells_leave_ratios_undefined_not_infinite():
    m = measures(0, 10, 5, 100)
    assert m.prr is None and m.ror is None and m.signals() == []
    assert m.ic < 0
    assert measures(3, 0, 0, 0).ror is None
    with pytest.raises(ValueError):
        measures(-1, 1, 1, 1)


def test_minimum_case_count_gates_every_signal():
    m = measures(2, 3, 10, 100000)
    assert m.prr > 2 and m.chi2 > 4
    assert m.signals(min_cases=3) == [] and "PRR" in m.signals(min_cases=2)


@given(st.floats(min_value=0.5, max_value=500), st.floats(min_value=0.01, max_value=500),
       st.floats(min_value=0.001, max_value=0.999))
def test_gamma_quantile_inverts_the_distribution(shape, rate, p):
    from reporter.analysis.disproportionality import _lower_gamma_regularized

    x = gamma_quantile(p, shape, rate)
    assert _lower_gamma_regularized(shape, x * rate) == pytest.approx(p, abs=1e-9)


def test_an_ic025_just_below_zero_reads_zero_not_minus_zero():
    m = measures(5, 3, 1, 25)  # IC025 = -0.0029: '-0.0' in the screen, its CSV and XLSX, '-0.00' in the rule
    assert -0.005 < m.ic_ci[0] < 0
    ic025 = table_rows([Pair("adalimumab", "Off label use", m)])[0][13]
    assert ic025 == 0 and str(ic025) == "0.0"
    assert signal_criteria(m)[2][2].endswith("IC025 0.00") and not signal_criteria(m)[2][1]


def test_an_interval_below_zero_reads_apart_from_its_sign():
    m = measures(4, 5, 3, 22)  # IC 95% credibility interval -0.80 to 2.02: with a hyphen, '-0.80-2.02'
    ic = next(r for r in pair_rows("etanercept", "Drug ineffective", m) if r[0] == "IC")
    assert ic[2] == f"{m.ic_ci[0]:.2f} to {m.ic_ci[1]:.2f}" and ic[2].startswith("-0.")
    assert table_rows([Pair("etanercept", "Drug ineffective", m)])[0][7] == f"{m.prr_ci[0]:.2f} to {m.prr_ci[1]:.2f}"
