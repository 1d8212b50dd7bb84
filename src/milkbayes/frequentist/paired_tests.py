"""Frequentist reproduction of a paired pre/post study: the Wilcoxon signed-rank test done right.

Everything here works on plain NumPy arrays (the change is always ``post - pre``);
the CLI and the report format the numbers. The module gives

- :func:`wilcoxon_signed_rank`: the exact null distribution (also with ties and
  zeros), the normal approximation (tie-corrected, with or without continuity
  correction) and the SPSS procedure; zero methods ``wilcox``, ``pratt`` and
  ``zsplit``; with the matched-pairs rank-biserial correlation, r = Z/sqrt(N) and
  the Hodges-Lehmann median change with its confidence interval;
- :func:`paired_t_test` (mean change and Cohen's d_z, each with an interval) and
  :func:`sign_test`, for comparison;
- :func:`wilcoxon_many`, a vectorised SPSS/asymptotic test of many simulated
  datasets at once;
- :func:`spss_tables` and :func:`format_spss_text`, the SPSS "Ranks" and "Test
  Statistics" tables, with p printed as SPSS prints it beside an honest form.

Why not just call :func:`scipy.stats.wilcoxon`? In SciPy 1.18 its ``method="exact"``
uses the null distribution of *untied, non-zero* ranks whatever the data (with
ties or zeros it rounds the statistic and is no longer exact; it does not refuse
them), and its ``method="auto"`` switches without saying so to an exhaustive
permutation test (n <= 13) or to the normal approximation, depending on n and ties. The exact conditional distribution
with ties and zeros is computed here by dynamic programming on doubled ranks; the
asymptotic path follows SciPy's formulas exactly and is tested against it.

Examples
--------
Hollander & Wolfe's Hamilton depression data (the example in R's ``?wilcox.test``,
which reports V = 40, p-value = 0.03906 two-sided, exact):

>>> pre = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
>>> post = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
>>> result = wilcoxon_signed_rank(pre, post, method="exact")
>>> result.w_minus, result.w_plus, round(result.p_value, 5)
(40.0, 5.0, 0.03906)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from milkbayes.errors import DataError, FrequentistOptionError

__all__ = [
    "ALTERNATIVES",
    "METHODS",
    "ZERO_METHODS",
    "HL_EXACT_MAX_N",
    "HL_WALSH_MAX_N",
    "EXACT_MAX_WORK",
    "FrequentistOptionError",
    "WilcoxonResult",
    "PairedTTestResult",
    "SignTestResult",
    "paired_change",
    "signed_ranks",
    "exact_null_distribution",
    "hodges_lehmann",
    "wilcoxon_signed_rank",
    "wilcoxon_many",
    "paired_t_test",
    "sign_test",
    "format_p_spss",
    "format_p_honest",
    "format_p_exact",
    "spss_tables",
    "format_spss_text",
]

Method = Literal["exact", "asymptotic", "spss"]
ZeroMethod = Literal["wilcox", "pratt", "zsplit"]
Alternative = Literal["two-sided", "greater", "less"]

METHODS: tuple[str, ...] = ("exact", "asymptotic", "spss")
"""How the p-value is computed: exact null distribution, normal approximation, SPSS."""

ZERO_METHODS: tuple[str, ...] = ("wilcox", "pratt", "zsplit")
"""How zero changes are treated (as in :func:`scipy.stats.wilcoxon`)."""

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
"""Alternatives; ``"greater"`` means post > pre (the change post - pre is positive)."""

HL_EXACT_MAX_N = 500
"""Largest n for which the Hodges-Lehmann interval uses the exact signed-rank quantile.

Above it the normal approximation of the same quantile is used (Hollander, Wolfe &
Chicken 2014, eq. 3.29).
"""

_SNAP_RELATIVE = 1e-12
"""Each change is rounded to the decimal place of this fraction of its own pair's magnitude.

``0.3 - 0.1`` and ``0.5 - 0.3`` differ in binary floating point; without snapping
they would get different ranks although they tie in the data as written (SciPy's
docstring warns about exactly this). 1e-12 is thousands of ulps and far below any
measurement precision.
"""


# ----------------------------------------------------------------------------- inputs


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise FrequentistOptionError(
            f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}"
        )
    return value


def _check_confidence(confidence: float) -> float:
    if not (isinstance(confidence, (int, float)) and 0.0 < float(confidence) < 1.0):
        raise FrequentistOptionError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    return float(confidence)


def _as_vector(values, column: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"values are not numbers ({error})", column=column) from None
    if array.ndim != 1:
        raise DataError(
            f"expected one value per participant, got an array of shape {array.shape}",
            column=column,
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DataError(
            f"value {array[bad[0]]!r} at position {bad[0] + 1} is not a finite number "
            f"({bad.size} such value(s)); nothing is dropped silently",
            column=column,
        )
    return array


def paired_change(pre, post) -> np.ndarray:
    """Return the change ``post - pre``, validated and snapped so that decimal ties tie.

    Parameters
    ----------
    pre, post : array_like of float
        One value per participant, in the same order.

    Returns
    -------
    numpy.ndarray
        ``post - pre``, each rounded to the decimal place of 1e-12 times the larger
        of its own ``|pre|`` and ``|post|``.

    Raises
    ------
    DataError
        If the lengths differ, a value is missing or infinite, there are no pairs,
        or a change ``post - pre`` overflows the float range (e.g. 1e308 - (-1e308));
        the message gives the participant row (1-based among the pairs).

    Notes
    -----
    Snapping makes ``0.5 - 0.3`` and ``0.3 - 0.1`` the same number, so that they
    share a rank as they do when the test is done by hand; it moves no change by
    more than 1e-12 of its pair's scale, i.e. it removes only floating-point noise
    of the subtraction. The scale is each pair's own, not the data's largest: a
    change of 1 between volumes 1 and 2 stays 1 beside volumes near 1e308 (with a
    common scale it would have been rounded to 0, silently). Pairs whose scale is
    below 1e-278 (a snapping quantum below 1e-290, e.g. subnormal numbers) are not
    snapped.

    Examples
    --------
    >>> paired_change([0.1, 0.3], [0.3, 0.5]).tolist()
    [0.2, 0.2]
    >>> (0.3 - 0.1) == (0.5 - 0.3)
    False
    >>> float(paired_change([1e300, 1.0], [3e300, 2.0])[1])  # not rounded to 0 beside 2e300
    1.0

    Examples
    --------
    """
    pre_values, post_values = _as_vector(pre, "pre"), _as_vector(post, "post")
    if pre_values.shape != post_values.shape:
        raise DataError(
            f"pre has {pre_values.size} values but post has {post_values.size}; "
            "the test needs one pre and one post value per participant"
        )
    if pre_values.size == 0:
        raise DataError("no pairs: the test needs at least one participant")
    with np.errstate(over="ignore", invalid="ignore"):
        change = post_values - pre_values
    _refuse_overflow(change, pre_values, post_values)
    return _snap(change, scale=np.maximum(np.abs(pre_values), np.abs(post_values)))


def _refuse_overflow(change: np.ndarray, pre: np.ndarray, post: np.ndarray) -> None:
    # Refused rather than rescaled: a change beyond the float range has no value to
    # report (mean change, Hodges-Lehmann estimate), only an order, and silently
    # halving the data would change every number the user reads.
    overflow = np.flatnonzero(~np.isfinite(change))
    if overflow.size:
        first = int(overflow[0])
        raise DataError(
            f"the change post - pre of participant row {first + 1} ({float(post[first])!r} - "
            f"{float(pre[first])!r}) is beyond the float range (about 1.8e308); {overflow.size} "
            "change(s) overflow. Express the data in larger units"
        )


_SNAP_SMALLEST = 1e-290
"""Below this snapping quantum, changes are left as computed (no decimal rounding).

Decimal rounding to ``d`` places multiplies by 10**d, which overflows for d > 308;
at this scale (subnormal or nearly) binary differences are exact or as good as the
data, so ties are exact floating-point equality, as in SciPy.
"""


def _snap(change: np.ndarray, *, scale: np.ndarray) -> np.ndarray:
    quantum = scale * _SNAP_RELATIVE
    snapped = change.copy()
    rounded = quantum >= _SNAP_SMALLEST
    if not rounded.any():
        return snapped
    decimals = -np.floor(np.log10(quantum[rounded])).astype(np.int64)
    # decimal rounding (not a binary grid) so that 0.19999999999999998 becomes 0.2;
    # pairs of one order of magnitude share a decimal place, so a few rounds suffice
    positions = np.flatnonzero(rounded)
    for places in np.unique(decimals):
        at = positions[decimals == places]
        snapped[at] = np.round(change[at], int(places))
    return snapped


# ----------------------------------------------------------------------------- ranks


def signed_ranks(change, zero_method: ZeroMethod = "wilcox") -> tuple[np.ndarray, np.ndarray]:
    """Rank the absolute changes as the chosen zero method prescribes.

    Parameters
    ----------
    change : array_like of float
        Changes post - pre.
    zero_method : {"wilcox", "pratt", "zsplit"}
        ``wilcox`` drops zeros before ranking; ``pratt`` and ``zsplit`` rank them
        with the rest (``pratt`` then ignores their ranks, ``zsplit`` gives half of
        each to W+ and half to W-).

    Returns
    -------
    ranks : numpy.ndarray
        Average ranks (ties share the mean of their positions); 0 for zeros dropped
        by ``wilcox``.
    ranked : numpy.ndarray of bool
        Which changes took part in the ranking.

    Examples
    --------
    >>> ranks, ranked = signed_ranks([0.0, 2.0, -2.0, 5.0])
    >>> ranks.tolist(), ranked.tolist()
    ([0.0, 1.5, 1.5, 3.0], [False, True, True, True])
    >>> signed_ranks([0.0, 2.0, -2.0, 5.0], "pratt")[0].tolist()
    [1.0, 2.5, 2.5, 4.0]
    """
    _check_choice("zero_method", zero_method, ZERO_METHODS)
    change = np.asarray(change, dtype=np.float64)
    ranked = change != 0 if zero_method == "wilcox" else np.ones(change.shape, dtype=bool)
    ranks = np.zeros(change.shape, dtype=np.float64)
    if ranked.any():
        ranks[ranked] = stats.rankdata(np.abs(change[ranked]), method="average")
    return ranks, ranked


# ----------------------------------------------------------------------------- exact


def exact_null_distribution(ranks) -> tuple[np.ndarray, np.ndarray]:
    """Exact null distribution of W+ = sum of the ranks that carry a positive sign.

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
    S = 2 W+ is :math:`\\prod_i (1 + x^{a_i})/2`. It is expanded by dynamic
    programming, one factor at a time in increasing order of a_i, after dividing
    every a_i by their greatest common divisor. Because the distribution is
    symmetric about :math:`\\sum a_i / 2`, only its lower half is computed and the
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
"""Refuse an exact p whose dynamic programme would touch more cells than this (~10 s)."""


def _exact_p_value(flippable_ranks: np.ndarray, w_plus_flippable: float, alternative: str) -> float:
    """Exact p from the tails of S = 2 W+ / gcd; only the needed tail is computed."""
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


def _normal_moments(
    ranks: np.ndarray, ranked: np.ndarray, change: np.ndarray, zero_method: str
) -> tuple[float, float]:
    """Mean and standard deviation of W+ used by the normal approximation.

    For ``wilcox`` and ``pratt`` these are the exact conditional moments
    sum(r)/2 and sqrt(sum(r^2)/4) over the non-zero changes, which equal the
    textbook tie-corrected n(n+1)/4 and [n(n+1)(2n+1)/24 - sum(t^3 - t)/48]
    (Cureton's adjustment for ``pratt``). For ``zsplit`` the zeros' ranks are
    counted too, as SciPy does.
    """
    counted = ranked if zero_method == "zsplit" else ranked & (change != 0)
    r = ranks[counted]
    return float(r.sum() / 2.0), float(np.sqrt((r**2).sum() / 4.0))


def _normal_z(
    w_plus: float, mean: float, sd: float, *, correction: bool, alternative: str
) -> float:
    if sd == 0:
        return 0.0
    excess = w_plus - mean
    if correction:
        direction = {"greater": 1.0, "less": -1.0}.get(alternative, float(np.sign(excess)))
        excess -= direction * 0.5
    return excess / sd


def _normal_p_value(z: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    return float(min(2.0 * stats.norm.sf(abs(z)), 1.0))


# ----------------------------------------------------------------------------- Hodges-Lehmann


def hodges_lehmann(change, confidence: float = 0.95) -> tuple[float, float, float, str, float]:
    """Hodges-Lehmann median change and its confidence interval from Walsh averages.

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
    integer with :math:`P(T \\le c - 1) \\le (1 - \\text{confidence})/2`; this is
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
    confidence = _check_confidence(confidence)
    scaled, exponent = _power_of_two_scaled(np.sort(np.asarray(change, dtype=np.float64)))
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


def _power_of_two_scaled(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values * 2**-e`` with every magnitude below 1, and ``e``: exact, so order and ties stay.

    Walsh sums x_i + x_j of the scaled values cannot overflow, and subnormal data
    are lifted into the normal range where halving is exact.
    """
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest == 0.0:
        return values, 0
    exponent = int(np.frexp(largest)[1])
    return np.ldexp(values, -exponent), exponent


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


# ----------------------------------------------------------------------------- Wilcoxon


@dataclass(frozen=True)
class WilcoxonResult:
    """The Wilcoxon signed-rank test of a paired change (post - pre), with effect sizes.

    Attributes
    ----------
    n : int
        Number of pairs (zeros included).
    n_positive, n_negative, n_zero : int
        Changes with post > pre, post < pre and post = pre.
    n_ranked : int
        Changes that entered the ranking (n minus zeros for ``wilcox``).
    mean_rank_positive, mean_rank_negative : float
        Mean rank of the positive and the negative changes (0.0 when there are none,
        as SPSS prints).
    w_plus, w_minus : float
        Sums of the ranks of the positive and of the negative changes (``zsplit``
        adds half of each zero's rank to both).
    z : float
        Standardised W+ from the normal approximation (positive when post > pre),
        continuity-corrected if ``correction``; computed for every method.
    p_value : float
        From the exact distribution (``exact``) or the normal approximation.
    method, zero_method, alternative : str
    correction : bool
    confidence : float
        Level of the Hodges-Lehmann interval.
    hodges_lehmann, hl_ci_low, hl_ci_high : float
        Median of the Walsh averages and its interval.
    hl_ci_method : str
        ``"exact"`` or ``"asymptotic"``.
    hl_ci_achieved : float
        Confidence the interval achieves for continuous data.
    rank_biserial : float
        Matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), from the
        rank sums of the non-zero changes only (for ``zsplit`` before the zeros'
        halves are added; with ``pratt`` the ranks are those of the full ranking).
    r : float
        z / sqrt(n).
    """

    n: int
    n_positive: int
    n_negative: int
    n_zero: int
    n_ranked: int
    mean_rank_positive: float
    mean_rank_negative: float
    w_plus: float
    w_minus: float
    z: float
    p_value: float
    method: str
    zero_method: str
    alternative: str
    correction: bool
    confidence: float
    hodges_lehmann: float
    hl_ci_low: float
    hl_ci_high: float
    hl_ci_method: str
    hl_ci_achieved: float
    rank_biserial: float
    r: float

    @property
    def z_spss(self) -> float:
        """Z as SPSS prints it: from the smaller rank sum, so never positive."""
        return -abs(self.z)

    @property
    def spss_based_on(self) -> str:
        """``"negative"`` or ``"positive"``: the rank sum SPSS bases its Z on (the smaller)."""
        return "negative" if self.w_minus <= self.w_plus else "positive"

    def to_dict(self) -> dict:
        """Plain-Python dictionary of every field (JSON-ready), plus ``z_spss``."""
        out = asdict(self)
        out["z_spss"] = self.z_spss
        return out

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy table with the fields as columns."""
        return pd.DataFrame([self.to_dict()])


def wilcoxon_signed_rank(
    pre,
    post,
    *,
    method: Method = "exact",
    zero_method: ZeroMethod = "wilcox",
    alternative: Alternative = "two-sided",
    correction: bool = False,
    confidence: float = 0.95,
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of the change post - pre, with effect sizes.

    Parameters
    ----------
    pre, post : array_like of float
        One measurement per participant before and after; any real numbers.
    method : {"exact", "asymptotic", "spss"}
        ``exact``: the exact conditional null distribution of W+ given the ranks
        (ties and zeros included). ``asymptotic``: the normal approximation with
        tie-corrected variance. ``spss``: what SPSS's "2 Related Samples" test
        does, i.e. ``asymptotic`` with ``zero_method="wilcox"`` and no continuity
        correction (other choices are refused).
    zero_method : {"wilcox", "pratt", "zsplit"}
        Treatment of zero changes (see :func:`signed_ranks`).
    alternative : {"two-sided", "greater", "less"}
        ``greater``: post tends to exceed pre.
    correction : bool
        Continuity correction of 0.5 towards the mean in z (and so in the
        asymptotic p and in r); it does not affect an exact p.
    confidence : float
        Level of the Hodges-Lehmann interval (always two-sided).

    Returns
    -------
    WilcoxonResult

    Raises
    ------
    DataError
        Unequal lengths, missing or infinite values, or no non-zero change.
    FrequentistOptionError
        An option outside the allowed values, or ``method="exact"`` at a size where
        the exact distribution would take more than about 10 s (thousands of
        non-zero changes; the message says so and suggests ``asymptotic``).

    Notes
    -----
    With ranks :math:`r_i` of :math:`|d_i|`, :math:`W^+ = \\sum_{d_i > 0} r_i`.
    The normal approximation uses
    :math:`z = (W^+ - E W^+ - c) / \\sqrt{\\operatorname{Var} W^+}`, with
    :math:`E W^+ = \\sum r_i / 2`, :math:`\\operatorname{Var} W^+ = \\sum r_i^2 / 4`
    over the non-zero changes (equal to n(n+1)/4 and the tie-corrected
    n(n+1)(2n+1)/24 - sum(t^3 - t)/48) and c = +-1/2 under ``correction``.
    The two-sided exact p is 2 min(P(W+ <= w), P(W+ >= w)), capped at 1, as in R
    and in SciPy's permutation test. The rank-biserial correlation is
    (W+ - W-)/(W+ + W-) (Kerby 2014) and r = z/sqrt(n) (Rosenthal 1991), with n all
    pairs.

    References
    ----------
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics
    Bulletin* 1, 80-83.
    Pratt, J. W. (1959). Remarks on zeros and ties in the Wilcoxon signed rank
    procedures. *JASA* 54, 655-667.
    Kerby, D. S. (2014). The simple difference formula. *Comprehensive Psychology* 3.
    IBM SPSS Statistics Algorithms, "NPAR TESTS: Wilcoxon Matched-Pairs Signed-Rank Test".

    Examples
    --------
    Darwin's Zea mays differences (Fisher 1935), the example of
    :func:`scipy.stats.wilcoxon`, which gives p = 0.041259765625:

    >>> d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    >>> res = wilcoxon_signed_rank([0] * 15, d, method="exact")
    >>> res.w_minus, res.p_value
    (24.0, 0.041259765625)
    >>> round(res.rank_biserial, 3)
    0.6
    """
    _check_choice("method", method, METHODS)
    _check_choice("zero_method", zero_method, ZERO_METHODS)
    _check_choice("alternative", alternative, ALTERNATIVES)
    confidence = _check_confidence(confidence)
    if method == "spss" and (zero_method != "wilcox" or correction):
        raise FrequentistOptionError(
            "method='spss' drops zeros and applies no continuity correction; use "
            "method='asymptotic' for zero_method="
            f"{zero_method!r}, correction={correction}"
        )
    change = paired_change(pre, post)
    positive, negative, zero = change > 0, change < 0, change == 0
    if not (positive | negative).any():
        raise DataError(
            f"all {change.size} changes are zero (post = pre for everyone): "
            "the signed-rank test has nothing to rank"
        )

    ranks, ranked = signed_ranks(change, zero_method)
    w_plus = float(ranks[positive].sum())
    w_minus = float(ranks[negative].sum())
    zero_half = float(ranks[zero & ranked].sum() / 2.0) if zero_method == "zsplit" else 0.0

    mean, sd = _normal_moments(ranks, ranked, change, zero_method)
    z = _normal_z(w_plus + zero_half, mean, sd, correction=correction, alternative=alternative)
    if method == "exact":
        p_value = _exact_p_value(ranks[positive | negative], w_plus, alternative)
    else:
        p_value = _normal_p_value(z, alternative)

    estimate, low, high, hl_method, achieved = hodges_lehmann(change, confidence)
    n_positive, n_negative = int(positive.sum()), int(negative.sum())
    return WilcoxonResult(
        n=int(change.size),
        n_positive=n_positive,
        n_negative=n_negative,
        n_zero=int(zero.sum()),
        n_ranked=int(ranked.sum()),
        mean_rank_positive=w_plus / n_positive if n_positive else 0.0,
        mean_rank_negative=w_minus / n_negative if n_negative else 0.0,
        w_plus=w_plus + zero_half,
        w_minus=w_minus + zero_half,
        z=float(z),
        p_value=float(p_value),
        method=method,
        zero_method=zero_method,
        alternative=alternative,
        correction=bool(correction),
        confidence=confidence,
        hodges_lehmann=estimate,
        hl_ci_low=low,
        hl_ci_high=high,
        hl_ci_method=hl_method,
        hl_ci_achieved=achieved,
        rank_biserial=(w_plus - w_minus) / (w_plus + w_minus),
        r=float(z / math.sqrt(change.size)),
    )


# ----------------------------------------------------------------------------- vectorised


def wilcoxon_many(
    changes, *, alternative: Alternative = "two-sided", correction: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The SPSS/asymptotic Wilcoxon test of many datasets at once.

    Parameters
    ----------
    changes : array_like, shape (n_sims, n)
        One simulated dataset of changes (post - pre) per row.
    alternative : {"two-sided", "greater", "less"}
    correction : bool
        Continuity correction (SPSS applies none).

    Returns
    -------
    z, p : numpy.ndarray, shape (n_sims,)
        Signed z of W+ (positive when post > pre) and its p-value. A row whose
        changes are all zero has nothing to rank: z = 0 and p = 1 there.

    Notes
    -----
    Zeros dropped, average ranks, tie-corrected variance: the procedure of
    :func:`wilcoxon_signed_rank` with ``method="asymptotic"``, ``zero_method="wilcox"``.
    Written with NumPy rather than ``scipy.stats.wilcoxon(..., axis=1)`` because
    SciPy's two-sided z loses its sign (it reports -|z|), which simulations of
    Type S errors need, and because, run in cache-sized chunks of rows, it is 1.5-4x
    faster (``benchmarks/bench_wilcoxon.py``).
    Ties are exact floating-point equality, as in SciPy.

    Examples
    --------
    The same as SciPy's asymptotic test, with the sign of z kept:

    >>> z, p = wilcoxon_many([[1.0, 2.0, 3.0, -0.5], [0.0, 0.0, 0.0, 0.0]])
    >>> from scipy.stats import wilcoxon
    >>> ref = wilcoxon([1.0, 2.0, 3.0, -0.5], method="asymptotic", correction=False)
    >>> bool(np.isclose(z[0], -ref.zstatistic)), bool(np.isclose(p[0], ref.pvalue))
    (True, True)
    >>> float(z[1]), float(p[1])
    (0.0, 1.0)
    """
    _check_choice("alternative", alternative, ALTERNATIVES)
    changes = np.asarray(changes, dtype=np.float64)
    if changes.ndim != 2:
        raise DataError(f"changes must be a 2-D array (n_sims, n); got shape {changes.shape}")
    if not np.isfinite(changes).all():
        raise DataError("changes contain missing or infinite values")
    # chunks of rows keep the dozen temporaries in cache (about 2x faster at 100,000 x 24)
    rows = max(1, _MANY_CHUNK_CELLS // max(changes.shape[1], 1))
    parts = [_w_plus_moments(changes[i : i + rows]) for i in range(0, changes.shape[0], rows)]
    if parts:
        w_plus, mean, sd = (np.concatenate(arrays) for arrays in zip(*parts))
    else:
        w_plus = mean = sd = np.zeros(0)
    excess = w_plus - mean
    if correction:
        direction = {"greater": 1.0, "less": -1.0}.get(alternative)
        excess = excess - 0.5 * (np.sign(excess) if direction is None else direction)
    empty = sd == 0
    z = np.where(empty, 0.0, excess / np.where(empty, 1.0, sd))
    if alternative == "greater":
        p = stats.norm.sf(z)
    elif alternative == "less":
        p = stats.norm.cdf(z)
    else:
        p = np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)
    p = np.where(empty, 1.0, p)
    return z, p


_MANY_CHUNK_CELLS = 131_072
"""Cells per chunk in :func:`wilcoxon_many` (about 1 MB per float temporary)."""


def _w_plus_moments(changes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W+ (zeros dropped, average ranks) and its null mean and tie-corrected sd, per row."""
    n_sims, n = changes.shape
    absolute = np.abs(changes)
    order = np.argsort(absolute, axis=1)
    sorted_abs = np.take_along_axis(absolute, order, axis=1)
    positive = np.take_along_axis(changes > 0, order, axis=1)

    starts = np.ones((n_sims, n), dtype=bool)
    starts[:, 1:] = sorted_abs[:, 1:] != sorted_abs[:, :-1]
    ends = np.ones((n_sims, n), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    position = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n - 1)[:, ::-1], axis=1)[:, ::-1]

    n_zero = (sorted_abs == 0).sum(axis=1)
    nonzero = sorted_abs != 0
    # zeros sort first, so ranks among the non-zero changes are shifted by n_zero
    ranks = (first + last) / 2.0 + 1.0 - n_zero[:, None]
    tie_size = (last - first + 1).astype(np.float64)
    w_plus = np.where(positive, ranks, 0.0).sum(axis=1)
    tie_term = np.where(nonzero, tie_size**2 - 1.0, 0.0).sum(axis=1)  # sum(t^3 - t)
    n_eff = (n - n_zero).astype(np.float64)
    mean = n_eff * (n_eff + 1.0) / 4.0
    variance = n_eff * (n_eff + 1.0) * (2.0 * n_eff + 1.0) / 24.0 - tie_term / 48.0
    return w_plus, mean, np.sqrt(np.maximum(variance, 0.0))


# ----------------------------------------------------------------------------- t and sign


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
    """Paired t-test of post - pre, mean change and Cohen's d_z with intervals.

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
    :math:`t = \\bar d / (s_d/\\sqrt n)` on n - 1 degrees of freedom
    (:func:`scipy.stats.ttest_rel` does the test). :math:`d_z = \\bar d / s_d`;
    since :math:`t = d_z \\sqrt n` follows a noncentral t with noncentrality
    :math:`\\delta\\sqrt n`, the interval for :math:`\\delta` inverts it: the limits
    are the noncentralities :math:`\\lambda` with
    :math:`F_{t, n-1, \\lambda}(t_{obs}) = 1 - \\alpha/2` and :math:`\\alpha/2`,
    divided by :math:`\\sqrt n` (found with Brent's method after widening the
    bracket geometrically; with one degree of freedom the limits can lie several
    times |t| away). SciPy's noncentral-t cdf returns NaN far in the tail of a large
    noncentrality (t of 1e4 or more, e.g. 24 nearly equal changes); there the cdf is
    integrated from its definition instead (:func:`_nct_cdf`). As a check, for
    large |t| the limits approach :math:`t\\sqrt{\\chi^2_{n-1, q}/(n-1)}` with q =
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
    _check_choice("alternative", alternative, ALTERNATIVES)
    confidence = _check_confidence(confidence)
    change = paired_change(pre, post)
    n = change.size
    if n < 2:
        raise DataError(f"the paired t-test needs at least 2 pairs; got {n}")
    # t and d_z do not depend on the scale; a power-of-two rescaling is exact and keeps
    # squares of huge or subnormal changes from overflowing or vanishing
    scaled, exponent = _power_of_two_scaled(change)
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
    """P(T <= t_obs) for T ~ noncentral t(df, ncp): SciPy's, or quadrature where it is NaN.

    Notes
    -----
    SciPy (Boost) returns NaN far in the tails of large noncentralities (e.g.
    t = 1.2e5, df = 23, ncp = t). There the cdf is computed from its definition
    T = (Z + ncp) / sqrt(V / df), V ~ chi2(df):
    :math:`P(T \\le t) = \\int_0^1 \\Phi(t \\sqrt{Q(u)/df} - ncp)\\, du`, with Q the
    chi-square quantile function, by :func:`scipy.integrate.quad` with a breakpoint
    where the integrand crosses 1/2 (it is nearly a step there when t is large).
    """
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


@dataclass(frozen=True)
class SignTestResult:
    """Exact sign test of post - pre: the number of increases against Binomial(n, 1/2).

    Attributes
    ----------
    n_positive, n_negative, n_zero : int
        Zeros are dropped, as in the classical sign test.
    p_value : float
    alternative : str
    proportion_positive : float
        n_positive / (n_positive + n_negative).
    """

    n_positive: int
    n_negative: int
    n_zero: int
    p_value: float
    alternative: str
    proportion_positive: float

    def to_dict(self) -> dict:
        """Plain-Python dictionary of every field."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy table."""
        return pd.DataFrame([self.to_dict()])


def sign_test(pre, post, *, alternative: Alternative = "two-sided") -> SignTestResult:
    """Exact sign test (binomial test of the share of increases, zeros dropped).

    Parameters
    ----------
    pre, post : array_like of float
    alternative : {"two-sided", "greater", "less"}
        ``greater``: more increases than decreases.

    Returns
    -------
    SignTestResult

    Notes
    -----
    Under H0, K = number of increases ~ Binomial(n_positive + n_negative, 1/2);
    :func:`scipy.stats.binomtest` computes the exact p-value (two-sided: the sum of
    the probabilities no larger than that of the observed K).

    References
    ----------
    Conover, W. J. (1999). *Practical Nonparametric Statistics*, 3rd ed., section 3.4.

    Examples
    --------
    7 increases and 2 decreases: p = 2 (1 + 9 + 36) / 2^9.

    >>> res = sign_test([0] * 9, [1, 2, 3, 4, 5, 6, 7, -1, -2])
    >>> res.p_value == 2 * (1 + 9 + 36) / 2 ** 9
    True
    """
    _check_choice("alternative", alternative, ALTERNATIVES)
    change = paired_change(pre, post)
    n_positive, n_negative = int((change > 0).sum()), int((change < 0).sum())
    trials = n_positive + n_negative
    if trials == 0:
        raise DataError(f"all {change.size} changes are zero: the sign test has nothing to count")
    test = stats.binomtest(n_positive, trials, 0.5, alternative=alternative)
    return SignTestResult(
        n_positive=n_positive,
        n_negative=n_negative,
        n_zero=int(change.size - trials),
        p_value=float(test.pvalue),
        alternative=alternative,
        proportion_positive=n_positive / trials,
    )


# ----------------------------------------------------------------------------- SPSS output


def format_p_spss(p: float) -> str:
    """The p-value as SPSS prints it in "Asymp. Sig.": three decimals, no leading zero.

    Examples
    --------
    >>> format_p_spss(1.2e-05), format_p_spss(0.0312), format_p_spss(1.0)
    ('.000', '.031', '1.000')
    """
    text = f"{p:.3f}"
    return text[1:] if text.startswith("0") else text


def format_p_honest(p: float) -> str:
    """The p-value as APA style reports it: ``p < .001`` below a thousandth.

    Examples
    --------
    >>> format_p_honest(1.2e-05), format_p_honest(0.0312)
    ('p < .001', 'p = .031')
    """
    if p < 0.001:
        return "p < .001"
    return "p = " + format_p_spss(p)


def format_p_exact(p: float) -> str:
    """The p-value to three significant digits (two, in scientific notation, below .001).

    Examples
    --------
    >>> format_p_exact(1.234e-05), format_p_exact(0.03125)
    ('1.2e-05', '0.0312')
    """
    return f"{p:.1e}" if p < 0.001 else f"{p:.3g}"


def spss_tables(
    result: WilcoxonResult, *, pre_label: str = "pre", post_label: str = "post"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SPSS "Ranks" and "Test Statistics" tables, as numbers.

    Parameters
    ----------
    result : WilcoxonResult
        Best computed with ``method="spss"`` (zeros dropped, as SPSS does).
    pre_label, post_label : str
        Variable names for the row label ``post - pre``.

    Returns
    -------
    ranks : pandas.DataFrame
        Rows ``Negative Ranks``, ``Positive Ranks``, ``Ties``, ``Total``; columns
        ``N``, ``Mean Rank``, ``Sum of Ranks`` (missing where SPSS leaves a blank)
        and ``footnote`` (``a``, ``b``, ``c``).
    test_statistics : pandas.DataFrame
        Rows ``Z`` and ``Asymp. Sig. (2-tailed)``; the Z row carries SPSS's
        sign (based on the smaller rank sum) and the "Based on ..." footnote.

    Examples
    --------
    >>> res = wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 3, 6], method="spss")
    >>> ranks, test = spss_tables(res)
    >>> ranks["N"].tolist()
    [0, 3, 1, 4]
    >>> test.loc["Z", "footnote"]
    'Based on negative ranks.'
    """
    if result.zero_method != "wilcox" or result.correction:
        raise FrequentistOptionError(
            "SPSS tables need zero_method='wilcox' and no continuity correction, as SPSS "
            "computes them; use method='spss'"
        )
    ranks = pd.DataFrame(
        {
            "N": [result.n_negative, result.n_positive, result.n_zero, result.n],
            "Mean Rank": [result.mean_rank_negative, result.mean_rank_positive, np.nan, np.nan],
            "Sum of Ranks": [result.w_minus, result.w_plus, np.nan, np.nan],
            "footnote": ["a", "b", "c", ""],
        },
        index=pd.Index(
            ["Negative Ranks", "Positive Ranks", "Ties", "Total"],
            name=f"{post_label} - {pre_label}",
        ),
    )
    p_two_sided = _normal_p_value(result.z_spss, "two-sided")
    test = pd.DataFrame(
        {
            "value": [result.z_spss, p_two_sided],
            "footnote": [f"Based on {result.spss_based_on} ranks.", ""],
        },
        index=pd.Index(["Z", "Asymp. Sig. (2-tailed)"], name=f"{post_label} - {pre_label}"),
    )
    return ranks, test


def format_spss_text(
    result: WilcoxonResult, *, pre_label: str = "pre", post_label: str = "post"
) -> str:
    """Render the two SPSS tables as text, with p in SPSS, honest and unrounded form.

    Examples
    --------
    >>> res = wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 3, 6], method="spss")

    Changes 1, 2, 0, 2: ranks 1, 2.5, 2.5 of the non-zero ones, W+ = 6, W- = 0,
    E W+ = 3, Var W+ = (1 + 2.5^2 + 2.5^2)/4 = 3.375, so Z = -3/sqrt(3.375) = -1.633.

    >>> print(format_spss_text(res))  # doctest: +NORMALIZE_WHITESPACE
    Ranks
                                  N  Mean Rank  Sum of Ranks
    post - pre  Negative Ranks    0a       .00           .00
                Positive Ranks    3b      2.00          6.00
                Ties              1c
                Total             4
    a. post < pre
    b. post > pre
    c. post = pre
    <BLANKLINE>
    Test Statistics(a)
                               post - pre
    Z                             -1.633b
    Asymp. Sig. (2-tailed)           .102
    a. Wilcoxon Signed Ranks Test
    b. Based on negative ranks.
    <BLANKLINE>
    p as SPSS prints it: .102 | honest: p = .102 | unrounded: 0.102
    """
    ranks, test = spss_tables(result, pre_label=pre_label, post_label=post_label)
    label = f"{post_label} - {pre_label}"
    width = max(len(label), 10) + 2
    lines = ["Ranks", f"{'':<{width + 16}}{'N':>4} {'Mean Rank':>10}{'Sum of Ranks':>14}"]
    for i, (row, values) in enumerate(ranks.iterrows()):
        head = f"{label if i == 0 else '':<{width}}{row:<16}"
        count = f"{int(values['N']):>4}{values['footnote']:<1}"
        if np.isnan(values["Mean Rank"]):
            lines.append(f"{head}{count}".rstrip())
        else:
            lines.append(
                f"{head}{count}{_spss_number(values['Mean Rank']):>10}"
                f"{_spss_number(values['Sum of Ranks']):>14}"
            )
    lines += [
        f"a. {post_label} < {pre_label}",
        f"b. {post_label} > {pre_label}",
        f"c. {post_label} = {pre_label}",
        "",
        "Test Statistics(a)",
        f"{'':<26}{label:>11}",
    ]
    z_value, p_value = test["value"].tolist()
    lines.append(f"{'Z':<26}{z_value:>11.3f}b")
    lines.append(f"{'Asymp. Sig. (2-tailed)':<26}{format_p_spss(p_value):>11}")
    lines += ["a. Wilcoxon Signed Ranks Test", f"b. {test.loc['Z', 'footnote']}"]
    lines += [
        "",
        f"p as SPSS prints it: {format_p_spss(p_value)} | honest: "
        f"{format_p_honest(p_value)} | unrounded: {format_p_exact(p_value)}",
    ]
    return "\n".join(lines)


def _spss_number(value: float) -> str:
    text = f"{value:.2f}"
    return text[1:] if text.startswith("0.") else text
