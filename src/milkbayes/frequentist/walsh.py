"""The Hodges-Lehmann median change and its exact confidence interval, from Walsh averages.

The Walsh averages of the changes d are the n(n+1)/2 means (d_i + d_j)/2, i <= j.
Their median is the Hodges-Lehmann estimate of the median change, the estimate
that goes with the signed-rank test; two of their order statistics bound the
interval that inverts it. :func:`hodges_lehmann` computes both, by sorting every
average for moderate n and by selection with O(n) memory above
:data:`HL_WALSH_MAX_N`.

Examples
--------
>>> estimate, low, high, method, achieved = hodges_lehmann([1.0, 2.0, 3.0])
>>> estimate, low, high
(2.0, 1.0, 3.0)
"""

from __future__ import annotations

import math

import numpy as np

from milkbayes.frequentist._inputs import check_confidence, power_of_two_scaled
from milkbayes.frequentist.null_distribution import exact_null_distribution

__all__ = ["HL_EXACT_MAX_N", "HL_WALSH_MAX_N", "hodges_lehmann"]

HL_EXACT_MAX_N = 500
"""Largest n for which the Hodges-Lehmann interval uses the exact signed-rank quantile.

Above it the normal approximation of the same quantile is used (Hollander, Wolfe &
Chicken 2014, eq. 3.29).
"""


def hodges_lehmann(change, confidence: float = 0.95) -> tuple[float, float, float, str, float]:
    r"""Hodges-Lehmann median change and its confidence interval from Walsh averages.

    Parameters
    ----------
    change : array_like of float
        Changes post - pre (all of them, zeros included).
    confidence : float
        Nominal two-sided confidence level.

    Returns
    -------
    estimate, low, high : float
        The median of the n(n+1)/2 Walsh averages (d_i + d_j)/2, i <= j, and the
        interval [W_(c), W_(M+1-c)] between two of their order statistics.
    method : str
        ``"exact"`` (n <= :data:`HL_EXACT_MAX_N`) or ``"asymptotic"``.
    achieved : float
        The confidence the interval achieves for continuous data, 1 - 2 P(T <= c-1):
        at least ``confidence`` (the discrete distribution rarely hits it exactly),
        except with too few pairs, where even [min, max] falls short; check it.

    Notes
    -----
    With M = n(n+1)/2 and T the untied signed-rank statistic, c is the largest
    integer with :math:`P(T \le c - 1) \le (1 - \text{confidence})/2`; this is
    R's ``qsignrank(alpha/2, n)``. The interval inverts the signed-rank test: it
    holds the shifts theta for which the test of d - theta does not reject. For
    n > :data:`HL_EXACT_MAX_N`, c = floor(M/2 - z sqrt(n(n+1)(2n+1)/24)) with z the
    normal quantile. Zeros are kept (R's ``wilcox.test`` drops them first): a zero
    is an observed absence of change, and dropping it would push the estimate away
    from zero. With tied data the coverage is approximate.

    For n <= :data:`HL_WALSH_MAX_N` all averages are sorted (O(n^2) memory);
    above, each needed order statistic is selected by bisection with O(n) memory
    (:func:`_kth_walsh_average`), giving the same floats. The changes are scaled
    by a power of two first (exactly), so that x_i + x_j cannot overflow.

    References
    ----------
    Hodges, J. L. & Lehmann, E. L. (1963). Estimates of location based on rank
    tests. *Ann. Math. Statist.* 34, 598-611.
    Hollander, Wolfe & Chicken (2014), section 3.3.

    Examples
    --------
    >>> estimate, low, high, method, achieved = hodges_lehmann([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    >>> estimate, low, high, method, achieved == 1 - 2 * 3 / 2 ** 7
    (4.0, 2.0, 6.0, 'exact', True)

    Here c = 3, since P(T <= 2) = 3/128 <= 0.025 < P(T <= 3) = 5/128.
    """
    confidence = check_confidence(confidence)
    scaled, exponent = power_of_two_scaled(np.sort(np.asarray(change, dtype=np.float64)))
    n = scaled.size
    m = n * (n + 1) // 2
    walsh_average = _walsh_order_statistic(scaled)

    def order_statistic(k: int) -> float:  # the k-th smallest (1-based), in data units
        return float(np.ldexp(walsh_average(k), exponent))

    middle = (m + 1) // 2
    if m % 2:
        estimate = order_statistic(middle)
    else:  # as numpy.median: the mean of the two middle values
        estimate = float(
            np.ldexp((walsh_average(middle) + walsh_average(middle + 1)) / 2.0, exponent)
        )
    alpha_half = (1.0 - confidence) / 2.0
    if n <= HL_EXACT_MAX_N:
        values, pmf = exact_null_distribution(np.arange(1, n + 1))
        cdf = np.cumsum(pmf)
        # c - 1 is the largest T with P(T <= c - 1) <= alpha/2; values are 0..M
        # with too few pairs c is 0: the widest interval [min, max] is the best there is,
        # and it achieves less than asked (R's wilcox.test warns the same way)
        c = max(int(np.searchsorted(cdf, alpha_half * (1 + 1e-12), side="right")), 1)
        method = "exact"
        achieved = 1.0 - 2.0 * float(cdf[c - 1])
    else:
        from scipy import stats  # only here: the exact branch needs no SciPy import

        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
        c = max(int(math.floor(m / 2.0 - stats.norm.isf(alpha_half) * sd)), 1)
        method = "asymptotic"
        achieved = 1.0 - 2.0 * float(stats.norm.cdf((c - 0.5 - m / 2.0) / sd))
    return estimate, order_statistic(c), order_statistic(m - c + 1), method, achieved


HL_WALSH_MAX_N = 2000
"""Largest n for which :func:`hodges_lehmann` sorts all n(n+1)/2 Walsh averages.

Above it (2 million averages, 16 MB) each needed order statistic is selected by
bisection with O(n) memory (:func:`_kth_walsh_average`); both give the same floats.
"""


def _walsh_order_statistic(x: np.ndarray):
    """A function k -> k-th smallest Walsh average (x_i + x_j)/2, i <= j, of sorted x."""
    if x.size <= HL_WALSH_MAX_N:
        rows, cols = np.triu_indices(x.size)
        walsh = np.sort((x[rows] + x[cols]) / 2.0)
        return lambda k: float(walsh[k - 1])
    return lambda k: _kth_walsh_average(x, k)


def _float_key(value: float) -> int:
    """An integer with the order of the floats (IEEE 754 bits, negatives mirrored)."""
    bits = int(np.float64(value).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _key_float(key: int) -> float:
    bits = key if key >= 0 else (-key) | (1 << 63)
    return float(np.uint64(bits).view(np.float64))


def _count_walsh_at_most(x: np.ndarray, t: float) -> int:
    """#{i <= j : fl((x_i + x_j)/2) <= t} for sorted x, in O(n log n) time and O(n) memory.

    For each i the averages grow with j, so they are <= t for j in [i, J_i); J_i is
    first guessed by ``searchsorted(x, 2t - x_i)`` and then moved, a block of equal
    x at a time, until the computed averages themselves agree (rounding of 2t - x_i
    may put the guess one value off), so the count matches sorting all averages.
    """
    n = x.size
    i = np.arange(n)
    with np.errstate(over="ignore", invalid="ignore"):
        guess = np.searchsorted(x, 2.0 * t - x, side="right")
    end = np.clip(guess, i, n)
    while True:
        inside = end < n
        grow = np.zeros(n, dtype=bool)
        grow[inside] = (x[inside] + x[end[inside]]) / 2.0 <= t
        if grow.any():
            end[grow] = np.searchsorted(x, x[end[grow]], side="right")
            continue
        above = end > i
        shrink = np.zeros(n, dtype=bool)
        shrink[above] = (x[above] + x[end[above] - 1]) / 2.0 > t
        if not shrink.any():
            return int((end - i).sum())
        end[shrink] = np.maximum(np.searchsorted(x, x[end[shrink] - 1], side="left"), i[shrink])


def _kth_walsh_average(x: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) Walsh average of sorted x without forming them all.

    Notes
    -----
    Bisection over the floats themselves (ordered by their bit patterns, at most 64
    halvings) for the smallest t with #{averages <= t} >= k; that t is an average,
    the same float the full sort gives. Each count is
    :func:`_count_walsh_at_most`, so the cost is O(64 n log n) time and O(n) memory,
    against O(n^2) for sorting. Written here because neither NumPy nor SciPy selects
    from an implicit pairwise set; the exact O(n log n) selection of Monahan (1984)
    would save the factor 64 but is much longer code.

    References
    ----------
    Monahan, J. F. (1984). Algorithm 616: fast computation of the Hodges-Lehmann
    location estimator. *ACM Trans. Math. Softw.* 10, 265-270.
    """
    low, high = _float_key(float(x[0])) - 1, _float_key(float(x[-1]))
    # invariant: fewer than k averages are <= low, at least k are <= high
    while high - low > 1:
        middle = (low + high) // 2
        if _count_walsh_at_most(x, _key_float(middle)) >= k:
            high = middle
        else:
            low = middle
    return _key_float(high)
