"""The paired t-test, with the mean change and Cohen's d_z and their confidence intervals.

Given for comparison with the signed-rank test: the t-test of the change
``post - pre`` (done by :func:`scipy.stats.ttest_rel`), the t interval of the mean
change, and the interval of the standardised effect d_z from the noncentral t
distribution, which stays finite where SciPy's noncentral-t cdf gives NaN.

Examples
--------
>>> res = paired_t_test([1.0, 2.0, 3.0], [2.0, 4.0, 4.0])
>>> res.mean_change, res.df
(1.3333333333333333, 2.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from milkbayes.errors import DataError
from milkbayes.frequentist._inputs import (
    ALTERNATIVES,
    Alternative,
    check_choice,
    check_confidence,
    paired_change,
    power_of_two_scaled,
)

__all__ = ["PairedTTestResult", "paired_t_test"]


@dataclass(frozen=True)
class PairedTTestResult:
    """Paired t-test of post - pre, with the mean change and Cohen's d_z and their intervals.

    Attributes
    ----------
    n : int
    mean_change, sd_change : float
    t, df, p_value : float
    alternative : str
    confidence : float
    mean_ci_low, mean_ci_high : float
        Two-sided t interval of the mean change.
    cohens_dz, dz_ci_low, dz_ci_high : float
        mean / sd of the changes, and its interval from the noncentral t.
    """

    n: int
    mean_change: float
    sd_change: float
    t: float
    df: float
    p_value: float
    alternative: str
    confidence: float
    mean_ci_low: float
    mean_ci_high: float
    cohens_dz: float
    dz_ci_low: float
    dz_ci_high: float

    def to_dict(self) -> dict:
        """Plain-Python dictionary of every field."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy table."""
        return pd.DataFrame([self.to_dict()])


def paired_t_test(
    pre, post, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> PairedTTestResult:
    r"""Paired t-test of post - pre, mean change and Cohen's d_z with intervals.

    Parameters
    ----------
    pre, post : array_like of float
    alternative : {"two-sided", "greater", "less"}
        For the p-value; the intervals are always two-sided.
    confidence : float

    Returns
    -------
    PairedTTestResult

    Raises
    ------
    DataError
        Fewer than two pairs, or every change equal (the standard deviation is 0).

    Notes
    -----
    :math:`t = \bar d / (s_d/\sqrt n)` on n - 1 degrees of freedom
    (:func:`scipy.stats.ttest_rel` does the test). :math:`d_z = \bar d / s_d`;
    since :math:`t = d_z \sqrt n` follows a noncentral t with noncentrality
    :math:`\delta\sqrt n`, the interval for :math:`\delta` inverts it: the limits
    are the noncentralities :math:`\lambda` with
    :math:`F_{t, n-1, \lambda}(t_{obs}) = 1 - \alpha/2` and :math:`\alpha/2`,
    divided by :math:`\sqrt n` (found with Brent's method after widening the
    bracket geometrically; with one degree of freedom the limits can lie several
    times |t| away). SciPy's noncentral-t cdf returns NaN far in the tail of a large
    noncentrality (t of 1e4 or more, e.g. 24 nearly equal changes); there the cdf is
    integrated from its definition instead (:func:`_nct_cdf`). As a check, for
    large |t| the limits approach :math:`t\sqrt{\chi^2_{n-1, q}/(n-1)}` with q =
    alpha/2 and 1 - alpha/2, since Z is then negligible beside the noncentrality.
    A limit that still cannot be located is NaN (reported as unavailable).
    The changes are first scaled by a power of two (exactly), so huge or subnormal
    changes give the same t as ordinary ones.

    References
    ----------
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation and
    the evaluation of statistical models. In *What if there were no significance
    tests?*, 221-257.
    Lakens, D. (2013). Calculating and reporting effect sizes. *Front. Psychol.* 4, 863.

    Examples
    --------
    Changes 1, 2, 0.5, 2: mean 1.375, sd 0.75, so t = 1.375 / (0.75 / 2) = 3.667.

    >>> res = paired_t_test([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.5, 6.0])
    >>> res.mean_change, res.sd_change, round(res.t, 3), round(res.cohens_dz, 4)
    (1.375, 0.75, 3.667, 1.8333)
    """
    from scipy import stats  # here: importing scipy.stats dominates a short command

    check_choice("alternative", alternative, ALTERNATIVES)
    confidence = check_confidence(confidence)
    change = paired_change(pre, post)
    n = change.size
    if n < 2:
        raise DataError(f"the paired t-test needs at least 2 pairs; got {n}")
    # t and d_z do not depend on the scale; a power-of-two rescaling is exact and keeps
    # squares of huge or subnormal changes from overflowing or vanishing
    scaled, exponent = power_of_two_scaled(change)
    sd_scaled = float(np.std(scaled, ddof=1))
    if sd_scaled == 0:
        raise DataError(
            f"all {n} changes equal {change[0]:g}: their standard deviation is 0, "
            "so t and Cohen's d_z are undefined"
        )
    test = stats.ttest_rel(scaled, np.zeros(n), alternative=alternative)
    interval = stats.ttest_1samp(scaled, 0.0).confidence_interval(confidence)
    t_obs, df = float(test.statistic), float(n - 1)
    low, high = _noncentrality_interval(t_obs, df, confidence)
    return PairedTTestResult(
        n=n,
        mean_change=float(np.ldexp(scaled.mean(), exponent)),
        sd_change=float(np.ldexp(sd_scaled, exponent)),
        t=t_obs,
        df=df,
        p_value=float(test.pvalue),
        alternative=alternative,
        confidence=confidence,
        mean_ci_low=float(np.ldexp(interval.low, exponent)),
        mean_ci_high=float(np.ldexp(interval.high, exponent)),
        cohens_dz=float(scaled.mean() / sd_scaled),
        dz_ci_low=low / math.sqrt(n),
        dz_ci_high=high / math.sqrt(n),
    )


def _noncentrality_interval(t_obs: float, df: float, confidence: float) -> tuple[float, float]:
    """Noncentralities whose noncentral-t cdf at t_obs is 1 - alpha/2 and alpha/2.

    NaN for a limit that cannot be located (reported as unavailable, never a crash).
    """
    alpha_half = (1.0 - confidence) / 2.0
    return (
        _noncentrality_for(t_obs, df, 1.0 - alpha_half),
        _noncentrality_for(t_obs, df, alpha_half),
    )


def _nct_cdf(t_obs: float, df: float, ncp: float) -> float:
    r"""P(T <= t_obs) for T ~ noncentral t(df, ncp): SciPy's, or quadrature where it is NaN.

    Notes
    -----
    SciPy (Boost) returns NaN far in the tails of large noncentralities (e.g.
    t = 1.2e5, df = 23, ncp = t). There the cdf is computed from its definition
    T = (Z + ncp) / sqrt(V / df), V ~ chi2(df):
    :math:`P(T \le t) = \int_0^1 \Phi(t \sqrt{Q(u)/df} - ncp)\, du`, with Q the
    chi-square quantile function, by :func:`scipy.integrate.quad` with a breakpoint
    where the integrand crosses 1/2 (it is nearly a step there when t is large).
    """
    from scipy import stats  # here: importing scipy.stats dominates a short command

    value = float(stats.nct.cdf(t_obs, df, ncp))
    if math.isfinite(value):
        return value
    from scipy import integrate

    def integrand(u: float) -> float:
        return float(stats.norm.cdf(t_obs * math.sqrt(stats.chi2.ppf(u, df) / df) - ncp))

    points = None
    if t_obs != 0 and ncp / t_obs > 0:
        crossing = float(stats.chi2.cdf(df * (ncp / t_obs) ** 2, df))
        if 0.0 < crossing < 1.0:
            points = [crossing]
    value, _ = integrate.quad(integrand, 0.0, 1.0, points=points, limit=200)
    return min(max(float(value), 0.0), 1.0)


def _noncentrality_for(t_obs: float, df: float, target: float) -> float:
    from scipy import optimize

    def gap(ncp: float) -> float:
        return _nct_cdf(t_obs, df, ncp) - target

    # the cdf at t_obs falls as ncp grows; widen geometrically around t_obs (with
    # df = 1 the limits can lie a few times |t_obs| away)
    width = 2.0 + abs(t_obs)
    low, high = t_obs - width, t_obs + width
    for _ in range(60):
        if gap(low) >= 0:
            break
        low, width = low - width, 2.0 * width
    width = 2.0 + abs(t_obs)
    for _ in range(60):
        if gap(high) <= 0:
            break
        high, width = high + width, 2.0 * width
    g_low, g_high = gap(low), gap(high)
    if not (math.isfinite(g_low) and math.isfinite(g_high) and g_low >= 0 >= g_high):
        return math.nan
    if g_low == 0:
        return low
    if g_high == 0:
        return high
    return float(optimize.brentq(gap, low, high, xtol=1e-12 * max(1.0, abs(t_obs))))
