"""The power of the SPSS Wilcoxon test, by exact common-random-numbers simulation.

The published result "n = 24, Wilcoxon p < .0005" is an event whose probability,
as a function of the standardised effect delta, is the test's power. This module
simulates it (:func:`rejection_thresholds`, :func:`power_curve`) and gives Pitman's
large-sample closed form as a check (:func:`pitman_power`). The critical value of
the test comes from :func:`milkbayes.frequentist.spss.largest_smaller_rank_sum`,
the one place that computes it.

Examples
--------
>>> lower, upper = rejection_thresholds(24, n_sim=100, seed=1)
>>> bool(np.all(lower < upper))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np
from scipy import stats

from milkbayes.frequentist.spss import largest_smaller_rank_sum, spss_z_threshold
from milkbayes.published import N_PARTICIPANTS, SPSS_P_THRESHOLD
from milkbayes.sensitivity.common import require, whole_number

__all__ = [
    "ALTERNATIVES",
    "POWER_DISTRIBUTIONS",
    "wilcoxon_critical_w_plus",
    "pitman_power",
    "power_curve",
    "rejection_thresholds",
]

ALTERNATIVES = ("greater", "two-sided")
"""Which published event the power function describes: "greater" means the SPSS
Z exceeds the critical value with post > pre (the paper's reading); "two-sided"
means |Z| does."""


def _scaled_t(df: float) -> Callable[[np.random.Generator, tuple[int, int]], np.ndarray]:
    """Student-t noise with ``df`` degrees of freedom, rescaled to unit variance."""
    scale = math.sqrt((df - 2.0) / df)
    return lambda rng, size: rng.standard_t(df, size) * scale


POWER_DISTRIBUTIONS: Mapping[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = (
    MappingProxyType(
        {
            "normal": lambda rng, size: rng.standard_normal(size),
            "t3": _scaled_t(3.0),
            "t5": _scaled_t(5.0),
        }
    )
)
"""Shapes of the change distribution, each with mean 0 and variance 1, so that a
shift by ``delta`` gives a standardised effect mean/sd of exactly ``delta``
("t3" is Student-t with 3 degrees of freedom divided by sqrt(3))."""

MAX_WALSH_CELLS = 1 << 22
"""Walsh averages held in memory at once by :func:`rejection_thresholds` (32 MB of floats).

One sample of n changes has n(n+1)/2 of them; samples are processed in blocks that
fit, and an n whose single sample does not fit (n > 2895) is refused.
"""


def wilcoxon_critical_w_plus(n: int, p_threshold: float = SPSS_P_THRESHOLD) -> int:
    """Smallest positive-rank sum W+ for which SPSS reports p < ``p_threshold``.

    Parameters
    ----------
    n : int
        Number of non-zero, untied differences (>= 2).
    p_threshold : float
        The bound on the two-sided p-value, in (0, 1) (default: SPSS's ".000",
        p < .0005).

    Returns
    -------
    int
        ``n(n+1)/2 - T`` with T from
        :func:`milkbayes.frequentist.spss.largest_smaller_rank_sum`; ``n(n+1)/2 + 1``
        (a W+ no sample reaches) when no rank sum gets p below the threshold.

    Raises
    ------
    SensitivityError
        If ``n`` is not a whole number >= 2 or ``p_threshold`` not a number in (0, 1).

    Examples
    --------
    With 24 untied differences: W+ >= 272, i.e. the smaller rank sum <= 28 of 300.

    >>> wilcoxon_critical_w_plus(24)
    272
    >>> wilcoxon_critical_w_plus(8)  # 36 + 1: with 8 pairs p < .0005 cannot happen
    37
    """
    require(
        whole_number(n) and n >= 2,
        f"n must be a whole number >= 2, got {n!r}",
    )
    require(
        isinstance(p_threshold, (int, float, np.floating))
        and not isinstance(p_threshold, bool)
        and 0.0 < float(p_threshold) < 1.0,
        f"p_threshold must be a number strictly between 0 and 1, got {p_threshold!r}",
    )
    n = int(n)
    return n * (n + 1) // 2 - largest_smaller_rank_sum(n, float(p_threshold))


def rejection_thresholds(
    n: int = N_PARTICIPANTS,
    *,
    distribution: str = "normal",
    n_sim: int = 20_000,
    seed: int = 20241,
    p_threshold: float = SPSS_P_THRESHOLD,
    chunk: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per simulated noise sample, the shifts ``delta`` at which SPSS rejects.

    For noise ``e`` (n values, mean 0, variance 1) and changes ``d = delta + e``,
    the Wilcoxon test says "p < threshold, post > pre" exactly when
    ``delta > upper`` and "p < threshold, post < pre" exactly when
    ``delta <= lower``. Returning these two numbers per sample gives the power at
    every ``delta`` from the same random numbers at once.

    Parameters
    ----------
    n : int
        Sample size.
    distribution : str
        A key of :data:`POWER_DISTRIBUTIONS`.
    n_sim : int
        Number of simulated samples.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    p_threshold : float
        The published bound on the two-sided p-value.
    chunk : int
        Samples processed per block (at most ``chunk * n(n+1)/2`` floats, and at most
        :data:`MAX_WALSH_CELLS`, in memory).

    Returns
    -------
    lower, upper : numpy.ndarray
        Arrays of shape ``(n_sim,)``. Where no sample of n changes can reach
        p < ``p_threshold`` (too few pairs), ``lower`` is -inf and ``upper`` +inf:
        the test rejects for no ``delta``.

    Raises
    ------
    SensitivityError
        For an unknown distribution, a bad ``n``, ``n_sim``, ``chunk`` or
        ``p_threshold``, or an ``n`` whose Walsh averages do not fit in memory.

    Notes
    -----
    W+ counts the Walsh averages ``(d_i + d_j) / 2, i <= j`` that are positive
    (Tukey's identity), and ``(d_i + d_j)/2 = delta + (e_i + e_j)/2``. With ``N =
    n(n+1)/2`` Walsh averages ``w`` of the noise sorted increasingly and ``c`` the
    critical W+ (:func:`wilcoxon_critical_w_plus`),

    .. math:: W^+ \ge c \iff \delta > -w_{(N-c+1)}, \qquad
              W^+ \le N - c \iff \delta \le -w_{(c)} .

    This is the common-random-numbers scheme in exact form: each sample's test
    decision is known for every ``delta`` at once, so the simulated power curve is
    monotone and as smooth as ``n_sim`` allows. It holds for continuous changes
    (no ties, no zeros, almost surely), for which the SPSS Z is a monotone function
    of W+. The tests check it against running the Wilcoxon test on each sample.

    Examples
    --------
    >>> lower, upper = rejection_thresholds(24, n_sim=2000, seed=1)
    >>> bool(np.all(lower < upper))
    True
    """
    require(
        distribution in POWER_DISTRIBUTIONS,
        f"unknown distribution {distribution!r}; known: {', '.join(POWER_DISTRIBUTIONS)}",
    )
    require(int(n_sim) == n_sim and n_sim >= 1, f"n_sim must be a positive integer, got {n_sim!r}")
    require(int(chunk) == chunk and chunk >= 1, f"chunk must be a positive integer, got {chunk!r}")
    critical = wilcoxon_critical_w_plus(n, p_threshold)
    n_walsh = n * (n + 1) // 2
    require(
        n_walsh <= MAX_WALSH_CELLS,
        f"n = {n} is too large to simulate: one sample has {n_walsh} Walsh averages "
        f"(at most {MAX_WALSH_CELLS} fit in memory, n <= 2895)",
    )
    n_sim = int(n_sim)
    if critical > n_walsh:  # not even every change of one sign reaches the threshold
        return np.full(n_sim, -np.inf), np.full(n_sim, np.inf)
    chunk = max(1, min(int(chunk), MAX_WALSH_CELLS // n_walsh))
    draw = POWER_DISTRIBUTIONS[distribution]
    rng = np.random.default_rng(seed)
    first, second = np.triu_indices(n)
    lower, upper = np.empty(n_sim), np.empty(n_sim)
    for start in range(0, n_sim, chunk):
        stop = min(start + chunk, n_sim)
        noise = draw(rng, (stop - start, n))
        walsh = (noise[:, first] + noise[:, second]) / 2.0
        # 0-based order statistics w_(N-c+1) and w_(c)
        upper_idx, lower_idx = n_walsh - critical, critical - 1
        part = np.partition(walsh, (upper_idx, lower_idx), axis=1)
        upper[start:stop] = -part[:, upper_idx]
        lower[start:stop] = -part[:, lower_idx]
    return lower, upper


def power_curve(
    delta: np.ndarray | Sequence[float] | float,
    n: int = N_PARTICIPANTS,
    *,
    distribution: str = "normal",
    alternative: str = "greater",
    n_sim: int = 20_000,
    seed: int = 20241,
    p_threshold: float = SPSS_P_THRESHOLD,
) -> np.ndarray:
    """Power of the SPSS Wilcoxon test, P(p < threshold | delta, n), by simulation.

    Parameters
    ----------
    delta : array_like
        Standardised effects (mean change / sd of the changes).
    n : int
        Sample size.
    distribution : str
        Shape of the changes, a key of :data:`POWER_DISTRIBUTIONS`.
    alternative : {"greater", "two-sided"}
        "greater": p < threshold with post > pre (the event the paper reports);
        "two-sided": p < threshold in either direction.
    n_sim, seed, p_threshold
        See :func:`rejection_thresholds`.

    Returns
    -------
    numpy.ndarray
        The power at each ``delta`` (same shape).

    Notes
    -----
    The same noise serves every ``delta`` (:func:`rejection_thresholds`), so the
    curve is non-decreasing in ``delta`` for "greater" and its Monte Carlo error is
    at most ``sqrt(0.25 / n_sim)``.

    Examples
    --------
    >>> power_curve([0.0, 3.0], 24, n_sim=4000, seed=2).round(3).tolist()
    [0.0, 1.0]
    """
    require(
        alternative in ALTERNATIVES,
        f"unknown alternative {alternative!r}; known: {', '.join(ALTERNATIVES)}",
    )
    lower, upper = rejection_thresholds(
        n, distribution=distribution, n_sim=n_sim, seed=seed, p_threshold=p_threshold
    )
    return _power_from_thresholds(np.asarray(delta, dtype=float), lower, upper, alternative)


def _power_from_thresholds(
    delta: np.ndarray, lower: np.ndarray, upper: np.ndarray, alternative: str
) -> np.ndarray:
    """Share of samples that reject at each ``delta`` (sorted-threshold counting)."""
    upper_sorted, lower_sorted = np.sort(upper), np.sort(lower)
    above = np.searchsorted(upper_sorted, delta, side="left") / upper.size  # delta > upper
    if alternative == "greater":
        return above
    below = 1.0 - np.searchsorted(lower_sorted, delta, side="left") / lower.size  # delta <= lower
    return above + below


def pitman_power(
    delta: np.ndarray | Sequence[float] | float,
    n: int = N_PARTICIPANTS,
    *,
    alternative: str = "greater",
    p_threshold: float = SPSS_P_THRESHOLD,
) -> np.ndarray:
    r"""Large-sample power of the Wilcoxon test for normal changes (closed form).

    Parameters
    ----------
    delta : array_like
        Standardised effects.
    n : int
        Sample size.
    alternative : {"greater", "two-sided"}
        As in :func:`power_curve`.
    p_threshold : float
        Bound on the two-sided p-value.

    Returns
    -------
    numpy.ndarray
        ``1 - Phi(z_crit - delta sqrt(3 n / pi))`` (plus the mirror term for
        "two-sided").

    Notes
    -----
    For a location shift of a density f, the signed-rank statistic's
    standardised mean moves by ``sqrt(12 n) delta \int f^2``; for the standard
    normal ``\int f^2 = 1 / (2 \sqrt{\pi})``, giving ``delta sqrt(3n/pi)``: the
    paired t-test's ``delta sqrt(n)`` times the square root of the Pitman efficiency
    3/pi. It is an approximation for large n and small delta, used as a check of
    the simulation.

    References
    ----------
    Lehmann, E. L. (1975). *Nonparametrics: Statistical Methods Based on Ranks*,
    ch. 4 (asymptotic power and efficiency of the signed-rank test).

    Examples
    --------
    >>> round(float(pitman_power(0.0, 24, alternative="two-sided")), 10)  # the test's size
    0.0005
    """
    require(
        alternative in ALTERNATIVES,
        f"unknown alternative {alternative!r}; known: {', '.join(ALTERNATIVES)}",
    )
    z_crit = spss_z_threshold(p_threshold)
    shift = np.asarray(delta, dtype=float) * math.sqrt(3.0 * n / math.pi)
    power = stats.norm.sf(z_crit - shift)
    if alternative == "two-sided":
        power = power + stats.norm.cdf(-z_crit - shift)
    return power
