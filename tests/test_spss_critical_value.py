"""The Wilcoxon critical value of the SPSS procedure, against independent computations.

One function owns it (:func:`milkbayes.frequentist.spss.largest_smaller_rank_sum`);
the audit of the paper and the power simulations of the sensitivity analyses both
use it. The reference values come from enumerating SPSS's normal-approximation p of
every rank sum with :mod:`scipy.stats.norm`, and from :func:`scipy.stats.wilcoxon`
run on data built to have a given smaller rank sum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from milkbayes.errors import FrequentistOptionError, SensitivityError
from milkbayes.frequentist.spss import largest_smaller_rank_sum, spss_z_threshold
from milkbayes.sensitivity import (
    power_curve,
    published_p_posterior,
    rejection_thresholds,
    wilcoxon_critical_w_plus,
)


def changes_with_smaller_rank_sum(n: int, t: int) -> np.ndarray:
    """Untied changes 1..n whose negative ones have ranks summing to t (greedy)."""
    change = np.arange(1.0, n + 1)
    remaining = t
    for rank in range(n, 0, -1):
        if rank <= remaining:
            change[rank - 1] *= -1
            remaining -= rank
    assert remaining == 0
    return change


def spss_p(n: int, t: int) -> float:
    """SPSS's two-sided p of a smaller rank sum t with n untied differences, by hand."""
    mean = n * (n + 1) / 4
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return float(2 * stats.norm.cdf((t - mean) / sd))


def test_n24_by_enumerating_every_rank_sum():
    p = [spss_p(24, t) for t in range(0, 151)]
    largest = max(t for t in range(151) if p[t] < 0.0005)
    assert largest == 28  # E T = 150, sd T = 35: T < 150 - 35 * 3.4808 = 28.17
    assert largest_smaller_rank_sum(24, 0.0005) == 28
    assert (150 - 28) / 35 > spss_z_threshold(0.0005) > (150 - 29) / 35
    assert round(spss_z_threshold(0.0005), 2) == 3.48
    assert wilcoxon_critical_w_plus(24, 0.0005) == 300 - 28


@pytest.mark.parametrize("threshold", [0.05, 0.01, 0.001, 0.0005, 1e-5])
def test_every_n_against_scipy_wilcoxon(threshold):
    for n in range(2, 41):
        bound = largest_smaller_rank_sum(n, threshold)

        def scipy_p(t, n=n):
            return stats.wilcoxon(changes_with_smaller_rank_sum(n, t), method="asymptotic").pvalue

        if bound < 0:
            assert scipy_p(0) >= threshold, n
        else:
            assert scipy_p(bound) < threshold, n
            if bound + 1 <= n * (n + 1) // 4:
                assert scipy_p(bound + 1) >= threshold, n
        assert wilcoxon_critical_w_plus(n, threshold) == n * (n + 1) // 2 - bound


def test_a_p_equal_to_the_threshold_is_not_below_it():
    # n = 24, T = 80 gives Z = -2 exactly: its p is the float 2 Phi(-2)
    at_80 = spss_p(24, 80)
    assert (150 - 80) / 35 == 2.0
    assert largest_smaller_rank_sum(24, at_80) == 79
    # a threshold one float above p(80) lets T = 80 through; the closed form
    # floor(mean + z sd) + 1 for W+ alone gives 79 here, one off
    assert largest_smaller_rank_sum(24, float(np.nextafter(at_80, 1.0))) == 80
    assert wilcoxon_critical_w_plus(24, float(np.nextafter(at_80, 1.0))) == 300 - 80


def test_too_few_pairs_can_never_reach_the_threshold():
    # every change of one sign: Z = 18 / sqrt(51) with 8 pairs, p = 0.0117
    assert spss_p(8, 0) == pytest.approx(0.0117, abs=1e-4)
    assert largest_smaller_rank_sum(8, 0.0005) == -1
    assert wilcoxon_critical_w_plus(8, 0.0005) == 37  # one more than W+ can be
    lower, upper = rejection_thresholds(8, n_sim=50, seed=1)
    assert np.all(lower == -np.inf) and np.all(upper == np.inf)
    assert power_curve([0.0, 5.0, 50.0], 8, n_sim=50, seed=1, alternative="two-sided").tolist() == [
        0.0,
        0.0,
        0.0,
    ]
    with pytest.raises(SensitivityError, match="cannot happen with n = 8"):
        published_p_posterior(8, n_sim=50)


def test_a_threshold_below_the_smallest_possible_p_is_refused_clearly():
    # with 24 pairs the smallest SPSS p is 2 Phi(-150/35) = 1.8e-5
    assert spss_p(24, 0) == pytest.approx(1.82e-5, rel=0.01)
    assert largest_smaller_rank_sum(24, 1e-300) == -1
    with pytest.raises(SensitivityError, match=r"cannot happen with n = 24.*1\.82e-05"):
        published_p_posterior(24, 1e-300, n_sim=50)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, float("nan"), float("inf"), "0.05", True])
def test_bad_thresholds_are_refused(threshold):
    with pytest.raises(FrequentistOptionError, match="threshold"):
        largest_smaller_rank_sum(24, threshold)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_sizes_are_refused(n):
    with pytest.raises(FrequentistOptionError, match="n must"):
        largest_smaller_rank_sum(n, 0.05)
    with pytest.raises(SensitivityError, match="n must"):
        wilcoxon_critical_w_plus(n, 0.05)
