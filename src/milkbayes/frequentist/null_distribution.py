"""The null distribution of the signed-rank statistic W+: exact with ties, and normal.

Under the null hypothesis each non-zero change is positive or negative with
probability 1/2, independently, given the absolute values; W+ is the sum of the
ranks that carry a positive sign. This module gives that distribution two ways:

- exactly, for any ranks, ties included (:func:`exact_null_distribution`,
  :func:`exact_p_value`);
- by the normal approximation with the tie-corrected variance (:func:`normal_moments`,
  :func:`normal_z`, :func:`normal_p_value`), which is what SPSS reports.

The exact distribution is hand-written because SciPy's is not exact with ties: in
SciPy 1.18 :func:`scipy.stats.wilcoxon` with ``method="exact"`` uses the null
distribution of *untied, non-zero* ranks whatever the data (with ties or zeros it
rounds the statistic and is no longer exact; it does not refuse them), and its
``method="auto"`` switches without saying so to an exhaustive permutation test
(n <= 13) or to the normal approximation. :func:`scipy.stats.permutation_test`
would enumerate the conditional distribution exactly, but only for small n. The
dynamic programme here is exact with ties and zeros and takes well under a second
at n = 1000.

Examples
--------
The four sign patterns of ranks 1 and 2 give W+ = 0, 1, 2, 3, each with
probability 1/4:

>>> values, pmf = exact_null_distribution([1, 2])
>>> values.tolist(), pmf.tolist()
([0.0, 1.0, 2.0, 3.0], [0.25, 0.25, 0.25, 0.25])
"""

from __future__ import annotations

import numpy as np

from milkbayes.errors import FrequentistOptionError

__all__ = [
    "EXACT_MAX_WORK",
    "exact_null_distribution",
    "exact_p_value",
    "normal_moments",
    "normal_p_value",
    "normal_z",
]


def exact_null_distribution(ranks) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact null distribution of W+ = sum of the ranks that carry a positive sign.

    Under the null hypothesis each of the given (non-zero) changes is positive or
    negative with probability 1/2, independently, given their absolute values; the
    ranks themselves (ties included) are fixed. This is the conditional permutation
    distribution that :func:`scipy.stats.permutation_test` enumerates for small n.

    Parameters
    ----------
    ranks : array_like of float
        The ranks of the non-zero changes; average ranks are multiples of 1/2.

    Returns
    -------
    values : numpy.ndarray
        Every value W+ can take, ascending (multiples of 1/2).
    pmf : numpy.ndarray
        Their probabilities (they sum to 1).

    Raises
    ------
    FrequentistOptionError
        If a rank is not a multiple of 1/2.

    Notes
    -----
    Doubling the ranks makes them integers a_i, and the generating function of
    S = 2 W+ is :math:`\prod_i (1 + x^{a_i})/2`. It is expanded by dynamic
    programming, one factor at a time in increasing order of a_i, after dividing
    every a_i by their greatest common divisor. Because the distribution is
    symmetric about :math:`\sum a_i / 2`, only its lower half is computed and the
    upper half mirrored. Counts are kept as floats scaled by exact powers of 2, so
    they stay exact (dyadic) while they fit in 53 bits.
    The cost is O(n * sum(a_i)), well under 1 s for n = 1000 with ties
    (``benchmarks/bench_wilcoxon.py``). Probabilities below about 1e-300
    underflow to 0 (n > 1000 with every change of one sign).

    References
    ----------
    Hollander, M., Wolfe, D. A. & Chicken, E. (2014). *Nonparametric Statistical
    Methods*, 3rd ed., section 3.1 (ties: the conditional null distribution).
    Streitberg, B. & Roehmel, J. (1986). Exact distributions for permutation and
    rank tests. *Statistical Software Newsletter* 12, 10-17.

    Examples
    --------
    Three changes with ranks 1, 2.5, 2.5 (a tie): W+ takes 0, 1, 2.5, 3.5, 5, 6.

    >>> values, pmf = exact_null_distribution([1, 2.5, 2.5])
    >>> values.tolist()
    [0.0, 1.0, 2.5, 3.5, 5.0, 6.0]
    >>> (pmf * 8).tolist()
    [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]
    """
    doubled = _doubled_ranks(ranks)
    if doubled.size == 0:
        return np.zeros(1), np.ones(1)
    divisor = int(np.gcd.reduce(doubled))
    units = doubled // divisor
    pmf = _half_sign_flip_pmf(units)
    support = np.flatnonzero(pmf > 0)
    return support * divisor / 2.0, pmf[support]


def _doubled_ranks(ranks) -> np.ndarray:
    ranks = np.asarray(ranks, dtype=np.float64).ravel()
    doubled = np.rint(2.0 * ranks)
    if np.any(np.abs(doubled - 2.0 * ranks) > 1e-9) or np.any(doubled <= 0):
        raise FrequentistOptionError("ranks must be positive multiples of 1/2 (average ranks)")
    return doubled.astype(np.int64)


def _half_sign_flip_pmf(units: np.ndarray) -> np.ndarray:
    """Full pmf of S = sum units_i * B_i, B_i ~ Bernoulli(1/2), on 0..sum(units)."""
    total = int(units.sum())
    half = total // 2  # only S <= total/2 is computed; the rest by symmetry
    counts = _truncated_pmf(units, half)
    full = np.zeros(total + 1)
    full[: half + 1] = counts
    full[total - half :] = np.maximum(full[total - half :], counts[::-1])
    return full


def _truncated_pmf(units: np.ndarray, limit: int) -> np.ndarray:
    """P(S = s) for s = 0..limit, exactly: values above ``limit`` never feed lower ones."""
    # two buffers in turn: new[x] = old[x] + old[x - value] is written into the other
    # buffer, which avoids the temporary copy numpy makes for an overlapping in-place
    # update (about 1.5x faster). Each buffer is zero beyond its filled extent.
    old, new = np.zeros(limit + 1), np.zeros(limit + 1)
    old[0] = 1.0
    top = 0  # largest S reachable so far (capped at limit)
    pending = 0  # factors of 2 not yet divided out
    for step, value in enumerate(np.sort(units).tolist(), start=1):
        new_top = min(limit, top + value)
        if value <= new_top:  # otherwise every shifted term lands beyond the limit
            new[:value] = old[:value]
            start = value
            if value <= top:
                np.add(old[value : top + 1], old[: top + 1 - value], out=new[value : top + 1])
                start = top + 1
            new[start : new_top + 1] = old[start - value : new_top + 1 - value]
            old, new = new, old
            top = new_top
        pending += 1
        if step % 64 == 0:  # keep counts well inside float range (exact powers of 2)
            old[: top + 1] *= 2.0**-pending
            pending = 0
    return old * 2.0**-pending


def _lower_tail(units: np.ndarray, at: int) -> float:
    """P(S <= at), computing the pmf only up to min(at, total - at)."""
    total = int(units.sum())
    if at < 0:
        return 0.0
    if at >= total:
        return 1.0
    if at <= total // 2:
        return float(_truncated_pmf(units, at).sum())
    # symmetry: P(S <= at) = 1 - P(S >= at + 1) = 1 - P(S <= total - at - 1)
    return 1.0 - float(_truncated_pmf(units, total - at - 1).sum())


EXACT_MAX_WORK = 4e9
"""Refuse an exact p whose dynamic programme would touch more cells than this.

The cost grows with the number of changes times the sum of their doubled ranks, so
the cap is in cells, not seconds; it admits a few thousand non-zero changes (timings
in ``benchmarks/bench_wilcoxon.py``).
"""


def exact_p_value(flippable_ranks: np.ndarray, w_plus_flippable: float, alternative: str) -> float:
    """Exact p-value of an observed W+ from the conditional null distribution.

    Parameters
    ----------
    flippable_ranks : numpy.ndarray
        Ranks of the changes whose sign is random under the null (the non-zero ones).
    w_plus_flippable : float
        Observed sum of those ranks that carry a positive sign.
    alternative : {"two-sided", "greater", "less"}
        ``greater``: large W+ is evidence against the null.

    Returns
    -------
    float
        ``P(W+ >= w)``, ``P(W+ <= w)`` or ``2 min(...)`` capped at 1.

    Raises
    ------
    FrequentistOptionError
        If the dynamic programme would touch more than :data:`EXACT_MAX_WORK`
        cells (thousands of non-zero changes).

    Notes
    -----
    Only the tail that is needed is computed: with S = 2 W+ / gcd on 0..total and
    the distribution symmetric about total / 2, ``P(S >= s) = P(S <= total - s)``,
    so every tail is a lower tail of at most half the support.

    Examples
    --------
    Ranks 1..4, all positive: W+ = 10 is the largest value, probability 1/16.

    >>> exact_p_value(np.arange(1.0, 5.0), 10.0, "greater")
    0.0625
    """
    doubled = _doubled_ranks(flippable_ranks)
    divisor = int(np.gcd.reduce(doubled))
    units = doubled // divisor
    total = int(units.sum())
    observed = int(round(2.0 * w_plus_flippable)) // divisor
    # by symmetry of S about total/2: P(S >= s) = P(S <= total - s)
    needed = {
        "greater": [total - observed],
        "less": [observed],
        "two-sided": [min(observed, total - observed)],
    }[alternative]
    work = units.size * min(min(needed), total // 2)
    if work > EXACT_MAX_WORK:
        raise FrequentistOptionError(
            f"the exact p for {units.size} non-zero changes needs about {work:.1e} steps "
            f"(roughly {work / 4e8:.0f} s); use method='asymptotic', which is accurate at this n"
        )
    if alternative == "greater":
        return min(_lower_tail(units, total - observed), 1.0)
    if alternative == "less":
        return min(_lower_tail(units, observed), 1.0)
    return min(2.0 * _lower_tail(units, min(observed, total - observed)), 1.0)


# ----------------------------------------------------------------------------- normal


def normal_moments(
    ranks: np.ndarray, ranked: np.ndarray, change: np.ndarray, zero_method: str
) -> tuple[float, float]:
    """Mean and standard deviation of W+ used by the normal approximation.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks of every change (0 where ``ranked`` is False).
    ranked : numpy.ndarray of bool
        Which changes took part in the ranking.
    change : numpy.ndarray
        The changes themselves (their zeros matter).
    zero_method : {"wilcox", "pratt", "zsplit"}

    Returns
    -------
    mean, sd : float

    Notes
    -----
    For ``wilcox`` and ``pratt`` these are the exact conditional moments
    sum(r)/2 and sqrt(sum(r^2)/4) over the non-zero changes, which equal the
    textbook tie-corrected n(n+1)/4 and [n(n+1)(2n+1)/24 - sum(t^3 - t)/48]
    (Cureton's adjustment for ``pratt``). For ``zsplit`` the zeros' ranks are
    counted too, as SciPy does.

    Examples
    --------
    Untied ranks 1..24: mean 24 * 25 / 4 = 150 and sd sqrt(24 * 25 * 49 / 24) = 35.

    >>> ranks = np.arange(1.0, 25.0)
    >>> normal_moments(ranks, ranks > 0, ranks, "wilcox")
    (150.0, 35.0)
    """
    counted = ranked if zero_method == "zsplit" else ranked & (change != 0)
    r = ranks[counted]
    return float(r.sum() / 2.0), float(np.sqrt((r**2).sum() / 4.0))


def normal_z(w_plus: float, mean: float, sd: float, *, correction: bool, alternative: str) -> float:
    """Standardised W+, optionally continuity-corrected by 1/2 towards the mean.

    Parameters
    ----------
    w_plus, mean, sd : float
        The statistic and its null mean and standard deviation.
    correction : bool
        Subtract 1/2 in the direction of the alternative (of the excess, two-sided).
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    float
        ``(w_plus - mean - c) / sd``; 0 when ``sd`` is 0 (nothing to rank).

    Examples
    --------
    >>> normal_z(272.0, 150.0, 35.0, correction=False, alternative="two-sided")
    3.4857142857142858
    """
    if sd == 0:
        return 0.0
    excess = w_plus - mean
    if correction:
        direction = {"greater": 1.0, "less": -1.0}.get(alternative, float(np.sign(excess)))
        excess -= direction * 0.5
    return excess / sd


def normal_p_value(z: float, alternative: str) -> float:
    """p-value of a standard normal statistic ``z``.

    Parameters
    ----------
    z : float
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    float
        ``1 - Phi(z)``, ``Phi(z)`` or ``2 (1 - Phi(|z|))`` capped at 1.

    Examples
    --------
    >>> round(normal_p_value(1.959963984540054, "two-sided"), 12)
    0.05
    """
    # scipy.stats is imported here, not at the top: the exact test (the default)
    # never needs it, and its import costs more than the rest of `milkbayes wilcoxon`
    from scipy import stats

    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    return float(min(2.0 * stats.norm.sf(abs(z)), 1.0))
