"""Sensitivity analyses: how much does the conclusion depend on what we assumed?

The reanalysis of the oxytocin-massage study rests on four kinds of assumption:
the prior, the likelihood, the (unpublished, reconstructed) raw data and the
single-group design. Each function here varies one of them and returns a
:class:`SensitivityResult`: a tidy table, a figure and a few headline numbers,
ready for the report, the CLI and the notebooks.

=============================  ==========================================================
function                       what it varies
=============================  ==========================================================
:func:`prior_grid`             prior location x scale of the effect; with the JZS
                               Bayes-factor robustness curve (:func:`bf_robustness`)
:func:`likelihood_variants`    normal, Student-t and log-normal likelihoods
:func:`influence`              each mother left out in turn (``mother_weight`` = 0)
:func:`reconstruction_ensemble`  K reconstructed datasets that all fit the paper
:func:`published_p_posterior`  nothing but "n = 24, Wilcoxon p < .0005"
:func:`bias_analysis`          the natural rise in milk output without massage
=============================  ==========================================================

The analyses that fit models go through :func:`milkbayes.engine.fit.fit`, whose per-process
cache compiles each model once; every setting is a refit with new data or prior
values (``compiled.with_data``), which is what makes a grid of 50 priors cheap.

Examples
--------
>>> from milkbayes.sensitivity.analyses import wilcoxon_critical_w_plus
>>> wilcoxon_critical_w_plus(24)   # W+ >= 272, i.e. the smaller rank sum <= 28
272
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import optimize, stats

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.errors import PriorError, SensitivityError
from milkbayes.models.priors import default_mcid
from milkbayes.published import N_PARTICIPANTS, SPSS_P_THRESHOLD

__all__ = [
    "SensitivityResult",
    "TrendPrior",
    "TREND_PRIORS",
    "POWER_DISTRIBUTIONS",
    "wilcoxon_critical_w_plus",
    "rejection_thresholds",
    "power_curve",
    "pitman_power",
    "published_p_posterior",
    "tipping_points",
    "bias_analysis",
    "SamplerOptions",
    "FAST_SAMPLER",
    "bf_robustness",
    "prior_grid",
    "likelihood_variants",
    "influence",
    "reconstruction_ensemble",
    "highlights",
]

ALTERNATIVES = ("greater", "two-sided")
"""Which published event the power function describes: "greater" means the SPSS
Z exceeds the critical value with post > pre (the paper's reading); "two-sided"
means |Z| does."""


@dataclass(frozen=True)
class SensitivityResult:
    """One sensitivity analysis: a table, a figure and its headline numbers.

    Attributes
    ----------
    name : str
        Stable snake_case key (``"prior_grid"``, ``"bias"``, ...).
    title : str
        One-line human title, for the report and the notebooks.
    table : pandas.DataFrame
        The tidy main table (one row per setting), numbers as numbers.
    figure : matplotlib.figure.Figure
        The figure that goes with the table.
    summary : Mapping[str, object]
        Headline numbers (JSON-friendly scalars) such as a tipping point.
    reconstructed : bool
        True when any input came from reconstructed data; then :attr:`warning`
        carries :data:`milkbayes.RECONSTRUCTED_WARNING`.
    extra_tables : Mapping[str, pandas.DataFrame]
        Further tables (e.g. the Bayes-factor robustness curve of the prior grid).
    notes : tuple of str
        Sentences that say how to read the result and what was assumed.
    """

    name: str
    title: str
    table: pd.DataFrame
    figure: Figure
    summary: Mapping[str, object]
    reconstructed: bool
    extra_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def warning(self) -> str | None:
        """:data:`milkbayes.RECONSTRUCTED_WARNING` for reconstructed inputs, else None."""
        return RECONSTRUCTED_WARNING if self.reconstructed else None


def _require(condition: bool, message: str) -> None:
    """Raise :class:`SensitivityError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SensitivityError(message)


# ---------------------------------------------------------------------------
# Inference from the published result alone: "n = 24, Wilcoxon p < .0005"
# ---------------------------------------------------------------------------


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


def wilcoxon_critical_w_plus(n: int, p_threshold: float = SPSS_P_THRESHOLD) -> int:
    """Smallest positive-rank sum W+ for which SPSS reports p < ``p_threshold``.

    With ``n`` untied, non-zero differences SPSS computes
    ``Z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24)`` and the two-sided
    ``p = 2 (1 - Phi(|Z|))``, without continuity correction. So p < threshold
    exactly when ``Z > z_crit = Phi^{-1}(1 - threshold / 2)``.

    Parameters
    ----------
    n : int
        Number of non-zero, untied differences (>= 2).
    p_threshold : float
        The bound on the two-sided p-value (default: SPSS's ".000", p < .0005).

    Returns
    -------
    int
        The critical W+ (by symmetry the smaller rank sum must be at most
        ``n(n+1)/2 - W+``).

    Notes
    -----
    Written out here, not taken from :mod:`milkbayes.frequentist.paired_tests`, because the
    power simulation needs only this one number per n; the tests check it against
    the published bound (smaller rank sum <= 28 of 300 for n = 24; see docs/design.md).

    Examples
    --------
    >>> wilcoxon_critical_w_plus(24), 24 * 25 // 2 - wilcoxon_critical_w_plus(24)
    (272, 28)
    """
    _require(int(n) == n and n >= 2, f"n must be an integer >= 2, got {n!r}")
    _require(0.0 < p_threshold < 1.0, f"p_threshold must lie in (0, 1), got {p_threshold!r}")
    mean = n * (n + 1) / 4.0
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    z_crit = float(stats.norm.isf(p_threshold / 2.0))
    critical = math.floor(mean + z_crit * sd) + 1
    return int(critical)


def rejection_thresholds(
    n: int = N_PARTICIPANTS,
    *,
    distribution: str = "normal",
    n_sim: int = 20_000,
    seed: int = 20241,
    p_threshold: float = SPSS_P_THRESHOLD,
    chunk: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Per simulated noise sample, the shifts ``delta`` at which SPSS rejects.

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
        Samples processed per block (bounds the memory to ``chunk * n^2 / 2`` floats).

    Returns
    -------
    lower, upper : numpy.ndarray
        Arrays of shape ``(n_sim,)``.

    Notes
    -----
    W+ counts the Walsh averages ``(d_i + d_j) / 2, i <= j`` that are positive
    (Tukey's identity), and ``(d_i + d_j)/2 = delta + (e_i + e_j)/2``. With ``N =
    n(n+1)/2`` Walsh averages ``w`` of the noise sorted increasingly and ``c`` the
    critical W+ (:func:`wilcoxon_critical_w_plus`),

    .. math:: W^+ \\ge c \\iff \\delta > -w_{(N-c+1)}, \\qquad
              W^+ \\le N - c \\iff \\delta \\le -w_{(c)} .

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
    _require(
        distribution in POWER_DISTRIBUTIONS,
        f"unknown distribution {distribution!r}; known: {', '.join(POWER_DISTRIBUTIONS)}",
    )
    _require(int(n_sim) == n_sim and n_sim >= 1, f"n_sim must be a positive integer, got {n_sim!r}")
    critical = wilcoxon_critical_w_plus(n, p_threshold)
    n_walsh = n * (n + 1) // 2
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
    _require(
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
    """Large-sample power of the Wilcoxon test for normal changes (closed form).

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
    standardised mean moves by ``sqrt(12 n) delta \\int f^2``; for the standard
    normal ``\\int f^2 = 1 / (2 \\sqrt{\\pi})``, giving ``delta sqrt(3n/pi)``: the
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
    _require(
        alternative in ALTERNATIVES,
        f"unknown alternative {alternative!r}; known: {', '.join(ALTERNATIVES)}",
    )
    z_crit = stats.norm.isf(p_threshold / 2.0)
    shift = np.asarray(delta, dtype=float) * math.sqrt(3.0 * n / math.pi)
    power = stats.norm.sf(z_crit - shift)
    if alternative == "two-sided":
        power = power + stats.norm.cdf(-z_crit - shift)
    return power


def _delta_prior(prior: str, scale: float):
    """The frozen scipy prior on delta (centred at 0)."""
    _require(scale > 0 and math.isfinite(scale), f"prior scale must be positive, got {scale!r}")
    if prior == "cauchy":
        return stats.cauchy(0.0, scale)
    if prior == "normal":
        return stats.norm(0.0, scale)
    raise PriorError(f"unknown prior on delta {prior!r}; known: cauchy, normal")


@dataclass(frozen=True)
class _GridPosterior:
    """A posterior on a grid, with the prior's tails beyond it (power constant there)."""

    grid: np.ndarray
    density: np.ndarray  # normalised posterior density on the grid
    cdf_grid: np.ndarray  # posterior CDF at the grid points
    lower_tail: float  # posterior mass below grid[0]
    tail_weight_low: float  # power at grid[0] / evidence
    tail_weight_high: float  # power at grid[-1] / evidence
    prior: object

    def cdf(self, x: float) -> float:
        if x < self.grid[0]:
            return float(self.prior.cdf(x)) * self.tail_weight_low
        if x > self.grid[-1]:
            extra = float(self.prior.cdf(x) - self.prior.cdf(self.grid[-1]))
            return float(self.cdf_grid[-1]) + extra * self.tail_weight_high
        return float(np.interp(x, self.grid, self.cdf_grid))

    def quantile(self, q: float) -> float:
        lo, hi = float(self.prior.ppf(1e-12)), float(self.prior.ppf(1 - 1e-12))
        return float(optimize.brentq(lambda x: self.cdf(x) - q, lo, hi, xtol=1e-9))


def _grid_posterior(grid: np.ndarray, prior, likelihood: np.ndarray) -> _GridPosterior:
    """Normalise prior x likelihood on ``grid`` and the prior tails beyond it.

    Outside the grid the likelihood (the power) is taken as constant at its edge
    value: exact in the limit for a power function that has reached 0 or 1 there,
    which :func:`published_p_posterior` checks before calling this.
    """
    unnormalised = prior.pdf(grid) * likelihood
    inside = np.concatenate(
        [[0.0], np.cumsum(np.diff(grid) * (unnormalised[1:] + unnormalised[:-1]) / 2.0)]
    )
    low_mass = float(prior.cdf(grid[0])) * likelihood[0]
    high_mass = float(prior.sf(grid[-1])) * likelihood[-1]
    evidence = inside[-1] + low_mass + high_mass
    if not evidence > 0:
        raise SensitivityError("the power is zero everywhere on the grid: widen the delta grid")
    return _GridPosterior(
        grid=grid,
        density=unnormalised / evidence,
        cdf_grid=(low_mass + inside) / evidence,
        lower_tail=low_mass / evidence,
        tail_weight_low=likelihood[0] / evidence,
        tail_weight_high=likelihood[-1] / evidence,
        prior=prior,
    )


PUBLISHED_P_THRESHOLDS_OF_INTEREST = (0.0, 0.2, 0.5, 0.8)
"""Cohen's conventional small, medium and large standardised effects, and zero."""


def published_p_posterior(
    n: int = N_PARTICIPANTS,
    p_threshold: float = SPSS_P_THRESHOLD,
    *,
    prior: str = "cauchy",
    prior_scale: float = math.sqrt(2) / 2,
    distributions: Sequence[str] = ("normal", "t3"),
    alternative: str = "greater",
    delta_grid: np.ndarray | None = None,
    n_sim: int = 20_000,
    seed: int = 20241,
) -> SensitivityResult:
    """Posterior of the standardised effect given only "n = 24, Wilcoxon p < .0005".

    Parameters
    ----------
    n : int
        Published sample size.
    p_threshold : float
        Published bound on the p-value (SPSS's "0.000" means p < .0005).
    prior : {"cauchy", "normal"}
        Prior on delta, centred at 0 (default: the JZS Cauchy).
    prior_scale : float
        Its scale (default sqrt(2)/2, the "medium" r of the JZS Bayes factor).
    distributions : sequence of str
        Shapes of the changes (keys of :data:`POWER_DISTRIBUTIONS`), one posterior each.
    alternative : {"greater", "two-sided"}
        "greater" (default) uses that the paper reports an increase.
    delta_grid : array_like, optional
        Grid for the posterior (default -1.5 to 4 by 0.005; -4 to 4 for
        "two-sided"). The power must have settled at its ends (0 or 1 below, 1
        above), which is checked.
    n_sim, seed : int
        Simulation size and seed of the power function.

    Returns
    -------
    SensitivityResult
        ``table``: one row per distribution and one for the prior, with the
        posterior median, 95 % equal-tailed interval and P(delta > 0, 0.2, 0.5,
        0.8); ``extra_tables["power_curve"]``: the likelihood on the grid, with
        the Pitman closed form for comparison; ``figure``: the power curves, the
        prior and the posteriors. ``reconstructed`` is False: no raw data are used.

    Notes
    -----
    The published result is the event ``A = {p < threshold}``. Its likelihood is
    the test's power function, ``L(delta) = P(A | delta, n)``, and

    .. math:: \\pi(\\delta \\mid A) \\propto \\pi(\\delta)\\, P(A \\mid \\delta, n).

    The power comes from :func:`power_curve` (simulation with common random numbers,
    so the curve is smooth and monotone). Beyond the grid the power is constant (0
    or 1), so the posterior there is the prior's tail times that constant; the
    quantiles use this exactly, which matters for a Cauchy prior, whose upper tail
    the data never cut off: "p < .0005" rules out small effects but is equally
    happy with any large one.

    Examples
    --------
    >>> result = published_p_posterior(distributions=("normal",), n_sim=2000, seed=3)
    >>> row = result.table.set_index("distribution").loc["normal"]
    >>> bool(row.p_delta_gt_0 > 0.99 and row.ci95_low > 0.5)
    True
    """
    _require(int(n) == n and n >= 6, f"n must be an integer >= 6, got {n!r}")
    _require(len(distributions) >= 1, "give at least one distribution")
    prior_dist = _delta_prior(prior, prior_scale)
    low_end = -4.0 if alternative == "two-sided" else -1.5
    grid = (
        np.arange(low_end, 4.0 + 1e-9, 0.005)
        if delta_grid is None
        else np.asarray(delta_grid, dtype=float)
    )
    _require(
        grid.ndim == 1 and grid.size >= 10 and np.all(np.diff(grid) > 0),
        "delta_grid must be increasing with at least 10 points",
    )

    rows, curves, posteriors = [], {"delta": grid}, {}
    for name in distributions:
        power = power_curve(
            grid,
            n,
            distribution=name,
            alternative=alternative,
            n_sim=n_sim,
            seed=seed,
            p_threshold=p_threshold,
        )
        # beyond the grid the power is taken as constant: it must have settled there
        low_settled = power[0] > 0.999 if alternative == "two-sided" else power[0] < 1e-3
        _require(
            power[-1] > 0.999 and low_settled,
            f"the power for {name} has not settled (at 1 above, at "
            f"{'1' if alternative == 'two-sided' else '0'} below) on [{grid[0]:g}, "
            f"{grid[-1]:g}]: widen delta_grid",
        )
        posterior = _grid_posterior(grid, prior_dist, power)
        curves[f"power_{name}"] = power
        posteriors[name] = posterior
        rows.append(_delta_summary_row(name, posterior.quantile, posterior.cdf))
    rows.append(_delta_summary_row("prior", prior_dist.ppf, prior_dist.cdf))
    curves["power_pitman_normal"] = pitman_power(
        grid, n, alternative=alternative, p_threshold=p_threshold
    )
    table = pd.DataFrame(rows)
    power_table = pd.DataFrame(curves)
    figure = _published_p_figure(power_table, posteriors, prior_dist, n, p_threshold)
    headline = table.set_index("distribution")
    first = distributions[0]
    summary = {
        "n": int(n),
        "p_threshold": float(p_threshold),
        "alternative": alternative,
        "prior": prior,
        "prior_scale": float(prior_scale),
        "n_sim": int(n_sim),
        "seed": int(seed),
        "critical_w_plus": wilcoxon_critical_w_plus(n, p_threshold),
        "delta_median": float(headline.loc[first, "median"]),
        "delta_ci95_low": float(headline.loc[first, "ci95_low"]),
        "delta_ci95_high": float(headline.loc[first, "ci95_high"]),
        "p_delta_gt_0_5": float(headline.loc[first, "p_delta_gt_0.5"]),
    }
    notes = (
        f"Only the published facts are used: n = {n} and p < {p_threshold:g} "
        f"({'post > pre' if alternative == 'greater' else 'either direction'}); no raw data.",
        "The likelihood is the Wilcoxon test's power, simulated for each shape of the changes.",
        "The upper end of the interval is set by the prior: a small p-value excludes small "
        "effects but cannot tell a large effect from a huge one.",
    )
    return SensitivityResult(
        name="published_p",
        title="What 'n = 24, p = 0.000' alone implies",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=False,
        extra_tables={"power_curve": power_table},
        notes=notes,
    )


def _delta_summary_row(
    label: str, quantile: Callable[[float], float], cdf: Callable[[float], float]
) -> dict[str, object]:
    """Median, 95 % interval and exceedance probabilities from a quantile function and CDF."""
    row: dict[str, object] = {
        "distribution": label,
        "median": float(quantile(0.5)),
        "ci95_low": float(quantile(0.025)),
        "ci95_high": float(quantile(0.975)),
    }
    for cut in PUBLISHED_P_THRESHOLDS_OF_INTEREST:
        row[f"p_delta_gt_{cut:g}"] = 1.0 - float(cdf(cut))
    return row


def _published_p_figure(
    power_table: pd.DataFrame,
    posteriors: Mapping[str, _GridPosterior],
    prior_dist,
    n: int,
    p_threshold: float,
) -> Figure:
    """Left: the likelihood (power curves); right: prior and posteriors of delta."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    grid = power_table["delta"].to_numpy()
    for column in power_table.columns[1:]:
        style = ":" if "pitman" in column else "-"
        label = column.removeprefix("power_").replace("_", " ")
        left.plot(grid, power_table[column], style, label=label)
    left.set(
        xlabel="standardised effect δ",
        ylabel=f"P(p < {p_threshold:g} | δ, n = {n})",
        title="Likelihood: the Wilcoxon test's power",
        xlim=(-0.5, 2.5),
    )
    left.legend(frameon=False)
    view = grid[(grid >= -0.5) & (grid <= 3.5)]
    right.plot(view, prior_dist.pdf(view), color="grey", ls="--", label="prior")
    for name, posterior in posteriors.items():
        right.plot(grid, posterior.density, label=f"posterior ({name})")
    right.set(
        xlabel="standardised effect δ",
        ylabel="density",
        xlim=(-0.5, 3.5),
        title="Posterior of δ given only the published p",
    )
    right.legend(frameon=False)
    return figure


# ---------------------------------------------------------------------------
# Bias analysis of the single-group design
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPrior:
    """Normal prior on the change that would have happened without massage.

    Attributes
    ----------
    mean, sd : float
        Location and scale, in outcome units, over the study's three days.
    unit : str
        Outcome unit the numbers are in.
    rationale : str
        Why these numbers.
    """

    mean: float
    sd: float
    unit: str
    rationale: str


TREND_PRIORS: Mapping[str, TrendPrior] = MappingProxyType(
    {
        "volume": TrendPrior(
            mean=3.0,
            sd=3.0,
            unit="ml",
            rationale=(
                "Without massage, expressed volume still tends to rise over three days: "
                "lactation is still establishing, mothers get better at expressing, and "
                "mothers enrolled for low output regress towards their mean. A few ml "
                "(mean 3 ml, sd 3 ml; P(trend > 0) = 84 %) against per-session volumes of "
                "roughly 5-20 ml in comparable one-group studies."
            ),
        ),
        "score": TrendPrior(
            mean=0.5,
            sd=0.5,
            unit="points",
            rationale=(
                "An adequacy checklist drifts up by about half an indicator over three days "
                "without massage (same reasons as for volumes), sd half an indicator."
            ),
        ),
        "continuous": TrendPrior(
            mean=0.0,
            sd=1.0,
            unit="outcome units",
            rationale="No outcome-specific knowledge: centred at no trend, unit scale; set your own.",
        ),
    }
)
"""Default trend priors by outcome kind. They are assumptions, stated so they can be
argued with; :func:`bias_analysis` takes ``trend_mean`` and ``trend_sd`` to change them."""


def _prob_exceeds(
    effect_draws: np.ndarray, trend_mean: float, trend_sd: float, cut: float
) -> float:
    """P(mu - T > cut) with mu ~ draws and T ~ Normal(trend_mean, trend_sd), T independent.

    The normal trend is integrated exactly (``Phi``) for each draw, so the curve
    against ``trend_mean`` is smooth; ``trend_sd = 0`` is a known, fixed trend.
    """
    margin = effect_draws - trend_mean - cut
    if trend_sd == 0:
        return float(np.mean(margin > 0))
    return float(np.mean(stats.norm.cdf(margin / trend_sd)))


def tipping_points(
    effect_draws: np.ndarray,
    *,
    trend_sd: float,
    mcid: float,
    prob_positive: float = 0.95,
    prob_mcid: float = 0.5,
    trend_grid: np.ndarray | None = None,
) -> tuple[pd.DataFrame, float, float]:
    """How P(massage effect > 0) and P(> MCID) fall as the assumed natural trend grows.

    Parameters
    ----------
    effect_draws : numpy.ndarray
        Posterior draws of the observed mean change (massage effect + trend), in
        outcome units.
    trend_sd : float
        Uncertainty about the trend (sd of its normal prior), >= 0.
    mcid : float
        Minimal clinically important difference, in outcome units.
    prob_positive, prob_mcid : float
        Decision thresholds: the conclusion "the massage works" needs
        P(effect > 0) >= ``prob_positive``; "it matters clinically" needs
        P(effect > MCID) >= ``prob_mcid``.
    trend_grid : array_like, optional
        Trend locations for the table (default: 0 to the larger tipping point x 1.5).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``trend_mean``, ``p_effect_gt_0``, ``p_effect_gt_mcid``.
    tip_positive : float
        Trend mean at which P(effect > 0) = ``prob_positive``.
    tip_mcid : float
        Trend mean at which P(effect > MCID) = ``prob_mcid``.

    Notes
    -----
    A single group observes only the sum ``mu = theta + T`` of the massage effect
    theta and the natural trend T (which here includes regression to the mean), so
    the data cannot learn T: its posterior is its prior, independent of mu, and
    ``theta = mu - T``. For ``T ~ Normal(t, s)``,

    .. math:: P(\\theta > a \\mid t) = E_{\\mu}\\,\\Phi\\big((\\mu - t - a) / s\\big),

    decreasing in t; the tipping points are its roots (Brent's method). In the
    normal conjugate case ``mu ~ Normal(m, v)`` this is
    ``Phi((m - t - a) / sqrt(v + s^2))``, so ``t* = m - a - z_p sqrt(v + s^2)``,
    the closed form the tests check.

    Examples
    --------
    >>> draws = stats.norm.ppf((np.arange(4000) + 0.5) / 4000, 10.0, 2.0)  # mu ~ N(10, 2^2)
    >>> _, tip0, tip_mcid = tipping_points(draws, trend_sd=1.0, mcid=5.0)
    >>> round(tip0, 1), round(tip_mcid, 1)   # 10 - 1.645 * sqrt(2**2 + 1**2), and 10 - 5
    (6.3, 5.0)
    """
    draws = np.asarray(effect_draws, dtype=float).ravel()
    _require(
        draws.size >= 10 and np.all(np.isfinite(draws)),
        "effect_draws must hold at least 10 finite draws",
    )
    _require(trend_sd >= 0 and math.isfinite(trend_sd), f"trend_sd must be >= 0, got {trend_sd!r}")
    _require(
        0 < prob_positive < 1 and 0 < prob_mcid < 1, "decision probabilities must lie in (0, 1)"
    )
    spread = float(np.ptp(draws)) + 10.0 * trend_sd + abs(mcid) + 1.0
    lo, hi = float(draws.min()) - spread, float(draws.max()) + spread

    def tip(cut: float, prob: float) -> float:
        return float(
            optimize.brentq(
                lambda t: _prob_exceeds(draws, t, trend_sd, cut) - prob, lo, hi, xtol=1e-8
            )
        )

    tip_positive, tip_mcid = tip(0.0, prob_positive), tip(float(mcid), prob_mcid)
    if trend_grid is None:
        top = 1.5 * max(tip_positive, tip_mcid, 0.0) or float(np.std(draws)) * 3 or 1.0
        trend_grid = np.linspace(min(0.0, tip_positive, tip_mcid), top, 61)
    grid = np.asarray(trend_grid, dtype=float)
    table = pd.DataFrame(
        {
            "trend_mean": grid,
            "p_effect_gt_0": [_prob_exceeds(draws, t, trend_sd, 0.0) for t in grid],
            "p_effect_gt_mcid": [_prob_exceeds(draws, t, trend_sd, float(mcid)) for t in grid],
        }
    )
    return table, tip_positive, tip_mcid


def _bias_figure(
    table: pd.DataFrame,
    tip_positive: float,
    tip_mcid: float,
    trend: TrendPrior,
    mcid: float,
    prob_positive: float,
    prob_mcid: float,
) -> Figure:
    """Both decision probabilities against the assumed trend, with the tipping points."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    x = table["trend_mean"]
    axes.plot(x, table["p_effect_gt_0"], label="P(massage effect > 0)")
    axes.plot(x, table["p_effect_gt_mcid"], label=f"P(massage effect > MCID = {mcid:g})")
    axes.axhline(prob_positive, color="C0", ls=":", lw=1)
    axes.axhline(prob_mcid, color="C1", ls=":", lw=1)
    for value, colour in ((tip_positive, "C0"), (tip_mcid, "C1")):
        axes.axvline(value, color=colour, ls="--", lw=1)
    band = (trend.mean - 2 * trend.sd, trend.mean + 2 * trend.sd)
    axes.axvspan(*band, color="grey", alpha=0.08, label="trend prior, mean ± 2 sd")
    axes.axvline(trend.mean, color="grey", lw=0.8)
    axes.set(
        xlabel=f"assumed natural change without massage ({trend.unit})",
        ylabel="posterior probability",
        ylim=(-0.02, 1.02),
        title="When does the conclusion tip?",
    )
    axes.legend(frameon=False, loc="lower left")
    return figure


# ---------------------------------------------------------------------------
# Analyses that refit the models (through milkbayes.engine.fit's compile-once cache)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerOptions:
    """Small nutpie runs for sensitivity refits (many fits, each summarised by a few numbers).

    Attributes
    ----------
    draws, tune, chains : int
        Per chain; the defaults give 1000 draws, enough for medians and tail
        probabilities to about +-0.02.
    seed : int
        The same seed for every setting (common random numbers: the differences
        between settings are less noisy than the settings themselves).
    """

    draws: int = 500
    tune: int = 300
    chains: int = 2
    seed: int = 20241


FAST_SAMPLER = SamplerOptions(draws=150, tune=150, chains=1)
"""The sampler of the notebooks' and tests' FAST mode (rough numbers, same code path)."""

PRIOR_GRID_KEYS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "paired_change": ("delta_loc", "delta_scale", "standardised effect δ (Cauchy)"),
        "signed_rank": ("delta_loc", "delta_scale", "standardised effect δ (Cauchy)"),
        "prepost_hierarchical": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
        "two_arm": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
    }
)
"""For each model, the prior hyperparameters of the effect that the grid varies:
(location key, scale key, what they are a prior on)."""

DELTA_GRID_LOCATIONS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
DELTA_GRID_SCALES = (0.1, 0.2, 0.35, 0.5, math.sqrt(2) / 2, 1.0, math.sqrt(2), 2.0)
"""Default grid on delta: 7 x 8 = 56 settings, from a sceptic's narrow Cauchy at -1
to an ultrawide one at +1 (scales include the JZS defaults 0.707, 1 and 1.414)."""

MCID_MULTIPLES_LOCATIONS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
MCID_MULTIPLES_SCALES = (0.25, 0.5, 1 / 1.6448536269514722, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Default grid on the effect in outcome units, as multiples of the MCID (56 settings;
1/1.645 MCID is the sceptic's scale and 4 MCID the neutral one of :mod:`milkbayes.models.priors`)."""

BF_R_MARKS: Mapping[str, float] = MappingProxyType(
    {"default": math.sqrt(2) / 2, "wide": 1.0, "ultrawide": math.sqrt(2)}
)
"""The Cauchy widths r that JASP and BayesFactor name (Morey & Rouder's ``rscale``)."""


def _fit_quiet(model, study, *, prior, likelihood, mcid, sampler: SamplerOptions, inputs=None):
    """One refit that keeps only the posterior (no log-likelihood, no predictive)."""
    from milkbayes.engine.fit import fit

    return fit(
        model,
        study,
        prior=prior,
        likelihood=likelihood,
        mcid=mcid,
        draws=sampler.draws,
        tune=sampler.tune,
        chains=sampler.chains,
        seed=sampler.seed,
        log_likelihood=False,
        posterior_predictive=False,
        inputs=inputs,
    )


def _without_extra_summary(model):
    """The model module with its ``extra_summary`` switched off, for grids of refits.

    ``paired_change.extra_summary`` computes an informed Bayes factor by numerical
    integration (about 0.2 s) whenever the prior is not centred on 0, which would
    double the time of a prior grid; the grid needs only the posterior. The copy
    keeps the module's name and file, so :func:`milkbayes.engine.fit.fit` finds the same
    compiled model in its cache (its key is the module name), and its provenance
    hash is that of the real script.
    """
    import types

    from milkbayes.models.registry import load_model

    module = load_model(model)
    lean = types.ModuleType(module.__name__, module.__doc__)
    lean.__dict__.update(
        {key: value for key, value in vars(module).items() if not key.startswith("__")}
    )
    lean.__file__ = module.__file__
    lean.extra_summary = lambda posterior, inputs, prior: {}
    return lean


def _summary_row(result, **labels) -> dict[str, object]:
    """The decision quantities of one fit, as a flat row."""
    summary = result.summary
    row: dict[str, object] = dict(labels)
    for key in (
        "effect_median",
        "effect_ci95_low",
        "effect_ci95_high",
        "p_effect_gt_0",
        "p_effect_gt_mcid",
    ):
        row[key] = float(summary[key]) if summary.get(key) is not None else float("nan")
    for key in ("log_bf10_jzs", "log_bf10"):
        if summary.get(key) is not None:
            row["log_bf10"] = float(summary[key])
    return row


def _effect_draws(result) -> np.ndarray:
    """All posterior draws of the model's effect, flattened over chains."""
    name = result.summary["effect_variable"]
    return np.asarray(result.tree["posterior"][name].values, dtype=float).ravel()


def _massage_changes(study) -> np.ndarray:
    """Post - pre of the massage group (all rows for single-group data)."""
    table = study.table
    if "group" in table.columns:
        keep = (table["group"].astype(str) == "massage").to_numpy()
        return np.asarray(study.change, dtype=float)[keep]
    return np.asarray(study.change, dtype=float)


def bf_robustness(study, *, r_grid: Sequence[float] | None = None) -> SensitivityResult:
    """The JZS Bayes factor BF10 against the Cauchy width r of the prior on delta.

    Parameters
    ----------
    study : milkbayes.data.study.Study
        Only the paired t statistic and n of its massage group are used.
    r_grid : sequence of float, optional
        Widths to evaluate (default 0.05 to 2 on a log scale, plus the marks).

    Returns
    -------
    SensitivityResult
        ``table`` with ``r``, ``log_bf10``, ``bf10`` and ``mark`` (default / wide /
        ultrawide or empty); ``summary`` with the BF10 at each mark and the largest
        BF10 over the grid (a "maximum evidence" bound).

    Notes
    -----
    BF10 comes in closed form (one integral) from
    :func:`milkbayes.models.paired_change.jzs_log_bf10`, Rouder et al. (2009) eq. 1,
    so the curve costs no sampling. A Bayes factor that stays on the same side of
    1 (and of 10, 100) over every plausible r is robust to the choice of prior width.

    References
    ----------
    Rouder JN et al. (2009). Bayesian t tests for accepting and rejecting the null
    hypothesis. Psychon Bull Rev 16, 225-237.
    """
    from milkbayes.models.paired_change import jzs_log_bf10, paired_t

    change = _massage_changes(study)
    _require(
        change.size >= 2 and np.std(change) > 0,
        "the Bayes factor needs at least 2 changes that are not all equal",
    )
    t_stat, n = paired_t(change), int(change.size)
    grid = np.geomspace(0.05, 2.0, 60) if r_grid is None else np.asarray(r_grid, dtype=float)
    _require(np.all(grid > 0), "every Cauchy width r must be positive")
    grid = np.unique(np.concatenate([grid, list(BF_R_MARKS.values())]))
    log_bf = np.array([jzs_log_bf10(t_stat, n, float(r)) for r in grid])
    marks = {value: name for name, value in BF_R_MARKS.items()}
    table = pd.DataFrame(
        {
            "r": grid,
            "log_bf10": log_bf,
            "bf10": np.exp(np.minimum(log_bf, 700)),
            "mark": [marks.get(float(r), "") for r in grid],
        }
    )
    summary: dict[str, object] = {"t_statistic": float(t_stat), "n": n}
    for name, value in BF_R_MARKS.items():
        summary[f"log_bf10_{name}"] = float(table.loc[table.r == value, "log_bf10"].iloc[0])
    best = int(np.argmax(log_bf))
    summary["max_log_bf10"], summary["r_at_max"] = float(log_bf[best]), float(grid[best])
    figure = Figure(figsize=(6, 4), layout="constrained")
    _draw_bf_curve(figure.subplots(), table)
    return SensitivityResult(
        name="bf_robustness",
        title="Bayes-factor robustness: BF10 against the prior width r",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=(
            "BF10 is the JZS Bayes factor of the paired t-test (closed form), "
            f"t = {t_stat:.2f}, n = {n}.",
        ),
    )


def _draw_bf_curve(axes, table: pd.DataFrame) -> None:
    axes.plot(table["r"], table["log_bf10"] / math.log(10), color="C0")
    for (name, value), colour in zip(BF_R_MARKS.items(), ("C1", "C2", "C3"), strict=True):
        log10 = float(table.loc[table.r == value, "log_bf10"].iloc[0]) / math.log(10)
        axes.plot([value], [log10], "o", color=colour, label=f"{name} r = {value:.3g}")
    for level, text in ((1, "BF10 = 10"), (2, "100")):
        axes.axhline(level, color="grey", lw=0.7, ls=":")
        axes.annotate(text, (table["r"].iloc[0], level), fontsize=7, color="grey", va="bottom")
    axes.set(
        xscale="log",
        xlabel="Cauchy prior width r on δ",
        ylabel="log10 BF10",
        title="JZS Bayes factor robustness",
    )
    axes.legend(frameon=False, fontsize=8)


def _grid_prior(base, location_key: str, scale_key: str, location: float, scale: float):
    """The base prior set with the effect's location and scale replaced."""
    from dataclasses import fields, replace

    _require(
        location_key in base.values and scale_key in base.values,
        f"the prior set has no {location_key!r} and {scale_key!r} to vary; it has "
        f"{', '.join(base.values)}",
    )
    changes = {
        "name": f"grid {location_key}={location:g} {scale_key}={scale:g}",
        "values": {**base.values, location_key: float(location), scale_key: float(scale)},
        "beliefs": [],
        "source": "prior_grid",
    }
    names = {f.name for f in fields(base)}
    return replace(base, **{key: value for key, value in changes.items() if key in names})


def prior_grid(
    study,
    model="paired_change",
    *,
    locations: Sequence[float] | None = None,
    scales: Sequence[float] | None = None,
    mcid: float | None = None,
    likelihood: str | None = None,
    base_prior="neutral",
    prior_keys: tuple[str, str] | None = None,
    sampler: SamplerOptions = SamplerOptions(draws=200, tune=150, chains=2),
) -> SensitivityResult:
    """Refit over a grid of prior locations and scales of the effect.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str or module
        A model of :mod:`milkbayes.models` (its effect-prior keys come from
        :data:`PRIOR_GRID_KEYS`) or any module following the model contract
        (then give ``prior_keys``).
    locations, scales : sequence of float, optional
        Prior location and scale of the effect, on the scale the model puts its
        prior on: delta for ``paired_change`` / ``signed_rank`` (defaults
        :data:`DELTA_GRID_LOCATIONS`, :data:`DELTA_GRID_SCALES`), outcome units for
        the others (defaults: :data:`MCID_MULTIPLES_LOCATIONS` x MCID and
        :data:`MCID_MULTIPLES_SCALES` x MCID).
    mcid : float, optional
        Minimal clinically important difference in outcome units (default
        :func:`default_mcid`).
    likelihood : str, optional
        The model's likelihood (its default if omitted).
    base_prior : str, path or PriorSet
        The set that supplies every other hyperparameter.
    prior_keys : (str, str), optional
        The (location, scale) hyperparameters to vary, for models not in
        :data:`PRIOR_GRID_KEYS`.
    sampler : SamplerOptions
        Small runs: each setting is one refit of the same compiled model.

    Returns
    -------
    SensitivityResult
        ``table``: one row per setting (``location``, ``scale``, the effect's
        median and 95 % interval, P(effect > 0) and P(effect > MCID));
        ``extra_tables["bf_robustness"]`` and the right panel of the figure:
        :func:`bf_robustness`; ``summary``: the ranges of the decision quantities
        over the grid and the refit time.

    Notes
    -----
    The grid is what a reader asks next after seeing the three named priors: is
    there any reasonable prior under which the conclusion changes? Each setting only
    swaps ``prior_<location>`` and ``prior_<scale>`` into the compiled model
    (:func:`milkbayes.engine.fit.fit` and its cache), so 56 settings take seconds once the
    model is compiled.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> grid = prior_grid(load_bundled(), mcid=10.0)  # doctest: +SKIP
    >>> grid.summary["n_settings"], grid.summary["p_effect_gt_0_min"]  # doctest: +SKIP
    (56, 1.0)
    """
    import time

    from milkbayes.engine.fit import resolve_prior
    from milkbayes.models.registry import load_model

    module = load_model(model)
    if prior_keys is not None:
        location_key, scale_key = prior_keys
        prior_on = f"{location_key} / {scale_key}"
    else:
        _require(
            module.NAME in PRIOR_GRID_KEYS,
            f"the prior grid knows the effect prior of {', '.join(PRIOR_GRID_KEYS)}; "
            f"for model {module.NAME!r} give prior_keys=(location, scale)",
        )
        location_key, scale_key, prior_on = PRIOR_GRID_KEYS[module.NAME]
        _require(
            likelihood in (None, "normal", "student_t"),
            f"with the {likelihood} likelihood the effect's prior is on another scale "
            "(log or log-odds); give prior_keys, locations and scales explicitly",
        )
    mcid = default_mcid(study) if mcid is None else float(mcid)
    on_delta = location_key == "delta_loc"
    if locations is None:
        locations = (
            DELTA_GRID_LOCATIONS if on_delta else [m * mcid for m in MCID_MULTIPLES_LOCATIONS]
        )
    if scales is None:
        scales = DELTA_GRID_SCALES if on_delta else [m * mcid for m in MCID_MULTIPLES_SCALES]
    _require(len(locations) >= 1 and len(scales) >= 1, "give at least one location and scale")
    _require(all(float(s) > 0 for s in scales), "every prior scale must be positive")
    base = resolve_prior(base_prior, study, module.NAME)
    lean_model = _without_extra_summary(module)

    rows, compile_seconds, start = [], 0.0, time.perf_counter()
    for location in locations:
        for scale in scales:
            prior = _grid_prior(base, location_key, scale_key, float(location), float(scale))
            result = _fit_quiet(
                lean_model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
            )
            compile_seconds += float(result.compile_seconds)
            rows.append(_summary_row(result, location=float(location), scale=float(scale)))
    seconds = time.perf_counter() - start - compile_seconds
    table = pd.DataFrame(rows)
    extra_tables, bf_summary, bf_table = {}, {}, None
    if module.NAME in ("paired_change", "signed_rank"):
        robustness = bf_robustness(study)
        extra_tables["bf_robustness"] = bf_table = robustness.table
        bf_summary = {f"bf_{key}": value for key, value in robustness.summary.items()}
    figure = _prior_grid_figure(table, bf_table, prior_on, mcid)
    summary = {
        "model": module.NAME,
        "likelihood": likelihood,
        "n_settings": len(rows),
        "mcid": mcid,
        "refit_seconds": seconds,
        "compile_seconds": compile_seconds,
        "effect_median_min": float(table.effect_median.min()),
        "effect_median_max": float(table.effect_median.max()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
        **bf_summary,
    }
    notes = (
        f"Prior on the {prior_on}: location x scale, {len(rows)} settings; every other "
        f"hyperparameter from the '{base.name}' set.",
        "Each setting is a short refit of one compiled model; tail probabilities "
        "carry Monte Carlo error of about ±0.03.",
    )
    return SensitivityResult(
        name="prior_grid",
        title="Prior grid: does any reasonable prior change the conclusion?",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        extra_tables=extra_tables,
        notes=notes,
    )


def _prior_grid_figure(
    table: pd.DataFrame, bf_table: pd.DataFrame | None, prior_on: str, mcid: float
) -> Figure:
    """Left: heat map of P(effect > MCID) over the grid; right: the BF robustness curve."""
    if bf_table is None:
        figure = Figure(figsize=(6.5, 4.2), layout="constrained")
        left, right = figure.subplots(), None
    else:
        figure = Figure(figsize=(11, 4.2), layout="constrained")
        left, right = figure.subplots(1, 2, width_ratios=(1.2, 1))
    wide = table.pivot(index="location", columns="scale", values="p_effect_gt_mcid")
    image = left.imshow(
        wide.to_numpy(), origin="lower", aspect="auto", vmin=0, vmax=1, cmap="RdYlGn"
    )
    left.set_xticks(range(wide.shape[1]), [f"{s:.3g}" for s in wide.columns], rotation=45)
    left.set_yticks(range(wide.shape[0]), [f"{loc:.3g}" for loc in wide.index])
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            left.text(j, i, f"{wide.iat[i, j]:.2f}", ha="center", va="center", fontsize=7)
    left.set(
        xlabel="prior scale",
        ylabel="prior location",
        title=f"P(effect > MCID = {mcid:g}) by prior on the {prior_on}",
    )
    figure.colorbar(image, ax=left, shrink=0.8)
    if right is not None:
        _draw_bf_curve(right, bf_table)
    return figure


def likelihood_variants(
    study,
    model: str | None = None,
    *,
    likelihoods: Sequence[str] | None = None,
    prior: str = "neutral",
    mcid: float | None = None,
    sampler: SamplerOptions = SamplerOptions(),
) -> SensitivityResult:
    """The same data under normal, Student-t and log-normal likelihoods, side by side.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str, optional
        Default ``prepost_hierarchical`` (it has all three likelihoods for volumes),
        or ``paired_change`` (normal and Student-t) if that model is not installed.
    likelihoods : sequence of str, optional
        Default: every likelihood the model offers for this outcome kind, except the
        ordered-logistic one, which is for scores only (and the only one for them).
    prior : str
        Named prior set.
    mcid : float, optional
        Default :func:`default_mcid`.
    sampler : SamplerOptions

    Returns
    -------
    SensitivityResult
        One row per likelihood with the effect's median, 95 % interval,
        P(effect > 0), P(effect > MCID) and the name of the effect variable (the
        log-normal model's effect is multiplicative: read its ``effect_variable``
        and the extra columns it reports).

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = likelihood_variants(load_bundled(), "paired_change")  # doctest: +SKIP
    >>> list(result.table.likelihood)  # doctest: +SKIP
    ['normal', 'student_t']
    """
    from milkbayes.models.registry import available_models, load_model

    if model is None:
        model = (
            "prepost_hierarchical"
            if "prepost_hierarchical" in available_models()
            else "paired_change"
        )
    module = load_model(model)
    if likelihoods is None:
        likelihoods = [
            name
            for name in module.LIKELIHOODS
            if _likelihood_fits_outcome(name, study.outcome.kind)
        ]
    _require(
        len(likelihoods) >= 1, f"model {model} has no likelihood for {study.outcome.kind} outcomes"
    )
    mcid = default_mcid(study) if mcid is None else float(mcid)
    rows, results = [], {}
    for name in likelihoods:
        result = _fit_quiet(model, study, prior=prior, likelihood=name, mcid=mcid, sampler=sampler)
        results[name] = result
        row = _summary_row(result, likelihood=name)
        row["effect_variable"] = result.summary.get("effect_variable", module.EFFECT)
        row["effect_scale"] = str(result.summary.get("effect_scale") or "outcome units")
        for key in LIKELIHOOD_EXTRA_KEYS:  # the log-normal model's % change
            value = result.summary.get(key)
            row[key] = float(value) if value is not None else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    figure = _forest_figure(
        table,
        label_column="likelihood",
        title=f"{model}: the effect under each likelihood",
        mcid=mcid,
    )
    summary = {
        "model": model,
        "prior": prior,
        "mcid": mcid,
        "likelihoods": list(likelihoods),
        "effect_median_spread": float(table.effect_median.max() - table.effect_median.min()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
    }
    return SensitivityResult(
        name="likelihood",
        title="Likelihood variants side by side",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=("Same data, prior set and sampler; only the likelihood differs.",),
    )


LIKELIHOOD_EXTRA_KEYS = ("effect_pct_median", "effect_pct_ci95_low", "effect_pct_ci95_high")
"""Model-specific summary keys shown by :func:`likelihood_variants` (NaN where absent)."""


def _likelihood_fits_outcome(likelihood: str, kind: str) -> bool:
    """Ordered-logistic likelihoods are for scores; the others for everything else."""
    ordinal = likelihood.startswith("ordered")
    return ordinal if kind == "score" else not ordinal


def _forest_figure(
    table: pd.DataFrame,
    *,
    label_column: str,
    title: str,
    mcid: float | None,
    reference: float | None = None,
) -> Figure:
    """Median and 95 % interval of the effect, one line per row of ``table``."""
    height = max(2.5, 0.28 * len(table) + 1.2)
    figure = Figure(figsize=(7, height), layout="constrained")
    axes = figure.subplots()
    y = np.arange(len(table))[::-1]
    axes.errorbar(
        table["effect_median"],
        y,
        xerr=[
            table["effect_median"] - table["effect_ci95_low"],
            table["effect_ci95_high"] - table["effect_median"],
        ],
        fmt="o",
        color="C0",
        capsize=2,
    )
    axes.set_yticks(y, [str(v) for v in table[label_column]])
    axes.axvline(0, color="black", lw=0.8)
    if mcid is not None:
        axes.axvline(mcid, color="C1", ls="--", lw=1, label=f"MCID = {mcid:g}")
    if reference is not None:
        axes.axvline(reference, color="grey", ls=":", lw=1, label="all data")
    axes.set(xlabel="massage effect (posterior median, 95 % interval)", title=title)
    if mcid is not None or reference is not None:
        axes.legend(frameon=False, fontsize=8)
    return figure


def influence(
    study,
    model: str = "paired_change",
    *,
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    sampler: SamplerOptions = SamplerOptions(),
) -> SensitivityResult:
    """How the effect and P(effect > 0) move when each mother is left out.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str
        Any model with a ``mother_weight`` input (all four have one).
    prior, likelihood, mcid, sampler
        As in :func:`likelihood_variants`.

    Returns
    -------
    SensitivityResult
        One row per mother: her ``id``, ``change``, the effect's median and
        interval without her, its shift from the all-data median, P(effect > 0)
        and P(effect > MCID) without her. ``summary`` names the most influential
        mother.

    Notes
    -----
    Mother i is left out by setting her ``mother_weight`` to 0 (her likelihood term
    vanishes) and refitting the same compiled model: no change of shape, no
    recompilation. The same seed for every refit keeps the Monte Carlo noise common
    to all of them, so the shifts are mostly the mothers' doing.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = influence(load_bundled(), mcid=10.0)  # doctest: +SKIP
    >>> len(result.table), result.summary["most_influential_id"]  # doctest: +SKIP
    (24, 'M22')
    """
    from dataclasses import replace

    from milkbayes.engine.fit import resolve_likelihood
    from milkbayes.models.registry import load_model

    module = load_model(model)
    likelihood = resolve_likelihood(module, likelihood)
    mcid = default_mcid(study) if mcid is None else float(mcid)
    full_inputs = module.inputs(study, likelihood)
    _require(
        "mother_weight" in full_inputs.data,
        f"model {model} has no mother_weight input, so mothers cannot be left out",
    )
    full = _fit_quiet(model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler)
    weights = np.asarray(full_inputs.data["mother_weight"], dtype=float)
    mothers = list(full_inputs.coords.get("mother", study.ids))
    _require(weights.shape == (len(mothers),), f"model {model}: one weight per mother expected")
    changes = dict(zip(study.ids, np.asarray(study.change, dtype=float), strict=True))
    rows = []
    for index, mother in enumerate(mothers):
        held_out = weights.copy()
        held_out[index] = 0.0
        inputs = replace(full_inputs, data={**full_inputs.data, "mother_weight": held_out})
        result = _fit_quiet(
            model,
            study,
            prior=prior,
            likelihood=likelihood,
            mcid=mcid,
            sampler=sampler,
            inputs=inputs,
        )
        row = _summary_row(result, id=str(mother), change=changes.get(str(mother), float("nan")))
        rows.append(row)
    table = pd.DataFrame(rows)
    reference = float(full.summary["effect_median"])
    table["shift"] = table["effect_median"] - reference
    biggest = int(np.argmax(np.abs(table["shift"].to_numpy())))
    summary = {
        "model": model,
        "likelihood": likelihood,
        "mcid": mcid,
        "effect_median_all": reference,
        "p_effect_gt_0_all": float(full.summary["p_effect_gt_0"]),
        "p_effect_gt_mcid_all": float(full.summary.get("p_effect_gt_mcid", float("nan"))),
        "most_influential_id": str(table.id.iloc[biggest]),
        "largest_shift": float(table["shift"].iloc[biggest]),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
    }
    figure = _influence_figure(table, reference, mcid)
    return SensitivityResult(
        name="influence",
        title="Influence of each mother (leave one out)",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=("Each row is a refit with that mother's likelihood weight set to 0.",),
    )


def _influence_figure(table: pd.DataFrame, reference: float, mcid: float) -> Figure:
    """Effect without each mother against her change, and P(effect > MCID) without her."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.scatter(table["change"], table["effect_median"], color="C0")
    for _, row in table.iterrows():
        left.annotate(
            row["id"],
            (row["change"], row["effect_median"]),
            fontsize=6,
            xytext=(2, 2),
            textcoords="offset points",
        )
    left.axhline(reference, color="grey", ls=":", label="all mothers")
    left.set(
        xlabel="the left-out mother's change",
        ylabel="effect median without her",
        title="Leave one mother out",
    )
    left.legend(frameon=False, fontsize=8)
    order = np.arange(len(table))
    right.plot(order, table["p_effect_gt_0"], "o", label="P(effect > 0)")
    right.plot(order, table["p_effect_gt_mcid"], "s", label=f"P(effect > {mcid:g})")
    right.set_xticks(order, table["id"], rotation=90, fontsize=6)
    right.set(
        ylim=(-0.02, 1.02),
        ylabel="posterior probability without her",
        title="Decision probabilities",
    )
    right.legend(frameon=False, fontsize=8)
    return figure


def reconstruction_ensemble(
    scenario: str = "volume_ml",
    k: int = 20,
    seed: int = 0,
    *,
    model: str = "paired_change",
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    sampler: SamplerOptions = SamplerOptions(draws=300, tune=200, chains=2),
) -> SensitivityResult:
    """Refit K reconstructed datasets that all satisfy the published constraints.

    Parameters
    ----------
    scenario : {"volume_ml", "score"}
        Outcome scenario of :func:`milkbayes.datasets.ensemble`.
    k : int
        Number of reconstructed datasets.
    seed : int
        Seed of the ensemble (member seeds come from it).
    model, prior, likelihood, mcid, sampler
        As in :func:`influence`.

    Returns
    -------
    SensitivityResult
        One row per member (its seed, data hash, mean and sd of the changes, the
        effect's median and interval, P(effect > 0), P(effect > MCID)); ``summary``
        gives the spread of the conclusions over the ensemble.

    Notes
    -----
    Every member has n = 24, the published covariate counts and SPSS p < .0005, so
    the paper cannot tell them apart. The spread of the posterior conclusions
    across members is the part of the uncertainty that comes from not having the
    raw data; it sits on top of the within-dataset posterior uncertainty.
    """
    from milkbayes.datasets import ensemble, ensemble_seeds

    _require(int(k) == k and k >= 2, f"k must be a whole number >= 2, got {k!r}")
    members = ensemble(scenario, int(k), seed)
    seeds = ensemble_seeds(seed, int(k))
    mcid = default_mcid(members[0]) if mcid is None else float(mcid)
    rows = []
    for index, (member, member_seed) in enumerate(zip(members, seeds, strict=True)):
        change = _massage_changes(member)
        result = _fit_quiet(
            model, member, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
        )
        rows.append(
            _summary_row(
                result,
                member=index,
                seed=int(member_seed),
                sha256=member.sha256[:12],
                change_mean=float(change.mean()),
                change_sd=float(change.std(ddof=1)),
            )
        )
    table = pd.DataFrame(rows)
    summary = {
        "scenario": scenario,
        "k": int(k),
        "seed": int(seed),
        "model": model,
        "mcid": mcid,
        "effect_median_min": float(table.effect_median.min()),
        "effect_median_max": float(table.effect_median.max()),
        "effect_ci95_low_min": float(table.effect_ci95_low.min()),
        "effect_ci95_high_max": float(table.effect_ci95_high.max()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
        "share_p_effect_gt_mcid_above_half": float((table.p_effect_gt_mcid > 0.5).mean()),
    }
    ordered = table.sort_values("effect_median").reset_index(drop=True)
    figure = _forest_figure(
        ordered.assign(label=[f"seed {s}" for s in ordered.seed]),
        label_column="label",
        mcid=mcid,
        title=f"{k} reconstructions that all match the paper",
    )
    return SensitivityResult(
        name="ensemble",
        title="Reconstruction ensemble: how much hinges on the unknown raw data",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=True,
        notes=(
            "Every member matches n, the covariate counts and p < .0005; they differ only "
            "in what the paper did not publish.",
        ),
    )


def bias_analysis(
    study,
    *,
    model: str = "paired_change",
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    trend_mean: float | None = None,
    trend_sd: float | None = None,
    prob_positive: float = 0.95,
    prob_mcid: float = 0.5,
    sampler: SamplerOptions = SamplerOptions(),
    fit_result=None,
) -> SensitivityResult:
    """Bias analysis of the single-group design: the natural rise without massage.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model, prior, likelihood, sampler
        The fit of the observed mean change (ignored when ``fit_result`` is given).
    mcid : float, optional
        Default :func:`default_mcid`.
    trend_mean, trend_sd : float, optional
        Normal prior on the change over the study's three days that would have
        happened without massage (natural trend plus regression to the mean), in
        outcome units. Default: :data:`TREND_PRIORS` for the outcome kind.
    prob_positive, prob_mcid : float
        The decision thresholds of :func:`tipping_points`.
    fit_result : milkbayes.engine.fit.FitResult, optional
        A fit to reuse instead of fitting again.

    Returns
    -------
    SensitivityResult
        ``table``: both decision probabilities against the assumed trend mean;
        ``summary``: the tipping points, and the massage effect's median, 95 %
        interval, P(> 0) and P(> MCID) under the stated trend prior, next to the
        naive values that assume no trend.

    Notes
    -----
    Observed change = massage effect + natural trend + regression to the mean. A
    single group identifies only the sum; see :func:`tipping_points` for the maths.
    The massage effect under the trend prior is ``mu - T`` with ``T`` drawn from the
    prior independently of the posterior draws of ``mu`` (seeded).

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = bias_analysis(load_bundled(), mcid=10.0)  # doctest: +SKIP
    >>> result.summary["tipping_point_p_effect_gt_0"] > 0  # doctest: +SKIP
    True
    """
    mcid = default_mcid(study) if mcid is None else float(mcid)
    default_trend = TREND_PRIORS.get(study.outcome.kind, TREND_PRIORS["continuous"])
    if study.outcome.kind == "score" and study.outcome.max_score:
        factor = study.outcome.max_score / 10.0
        default_trend = TrendPrior(
            default_trend.mean * factor,
            default_trend.sd * factor,
            default_trend.unit,
            default_trend.rationale,
        )
    trend = TrendPrior(
        mean=default_trend.mean if trend_mean is None else float(trend_mean),
        sd=default_trend.sd if trend_sd is None else float(trend_sd),
        unit=study.outcome.unit or default_trend.unit,
        rationale=(
            default_trend.rationale
            if trend_mean is None and trend_sd is None
            else "set by the user"
        ),
    )
    if not (math.isfinite(trend.mean) and math.isfinite(trend.sd) and trend.sd >= 0):
        raise PriorError(
            f"the trend prior needs a finite mean and sd >= 0, got "
            f"mean {trend.mean!r}, sd {trend.sd!r}"
        )
    if fit_result is None:
        fit_result = _fit_quiet(
            model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
        )
    draws = _effect_draws(fit_result)
    _, tip_positive, tip_mcid = tipping_points(
        draws, trend_sd=trend.sd, mcid=mcid, prob_positive=prob_positive, prob_mcid=prob_mcid
    )
    # the plot spans no trend, both tipping points and the trend prior's +-2 sd
    span = (
        min(0.0, tip_positive, tip_mcid, trend.mean - 2 * trend.sd),
        max(1.5 * max(tip_positive, tip_mcid), trend.mean + 2 * trend.sd),
    )
    table, _, _ = tipping_points(
        draws,
        trend_sd=trend.sd,
        mcid=mcid,
        prob_positive=prob_positive,
        prob_mcid=prob_mcid,
        trend_grid=np.linspace(*span, 81),
    )
    rng = np.random.default_rng(sampler.seed)
    massage = draws - rng.normal(trend.mean, trend.sd, draws.size)
    summary = {
        "model": fit_result.model_name,
        "mcid": mcid,
        "trend_mean": trend.mean,
        "trend_sd": trend.sd,
        "tipping_point_p_effect_gt_0": tip_positive,
        "tipping_point_p_effect_gt_mcid": tip_mcid,
        "prob_positive_threshold": prob_positive,
        "prob_mcid_threshold": prob_mcid,
        "naive_effect_median": float(np.median(draws)),
        "naive_p_effect_gt_0": float(np.mean(draws > 0)),
        "naive_p_effect_gt_mcid": float(np.mean(draws > mcid)),
        "effect_median": float(np.median(massage)),
        "effect_ci95_low": float(np.quantile(massage, 0.025)),
        "effect_ci95_high": float(np.quantile(massage, 0.975)),
        "p_effect_gt_0": _prob_exceeds(draws, trend.mean, trend.sd, 0.0),
        "p_effect_gt_mcid": _prob_exceeds(draws, trend.mean, trend.sd, mcid),
    }
    figure = _bias_figure(table, tip_positive, tip_mcid, trend, mcid, prob_positive, prob_mcid)
    notes = (
        "A single group measures massage effect + natural trend + regression to the mean; "
        "the data cannot separate them, so the trend's prior passes through unchanged.",
        f"Trend prior: Normal({trend.mean:g}, {trend.sd:g}) {trend.unit}. {trend.rationale}",
        _tipping_sentence("P(effect > 0)", prob_positive, tip_positive, trend.unit),
        _tipping_sentence(f"P(effect > MCID = {mcid:g})", prob_mcid, tip_mcid, trend.unit),
    )
    return SensitivityResult(
        name="bias",
        title="Bias analysis: what if milk output rises without massage?",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=notes,
    )


def _tipping_sentence(what: str, threshold: float, tip: float, unit: str) -> str:
    """Say where the conclusion tips, including when it has tipped already at no trend."""
    if tip > 0:
        return (
            f"{what} falls below {threshold:g} once the assumed natural rise exceeds "
            f"{tip:.3g} {unit}."
        )
    return (
        f"{what} is below {threshold:g} even with no natural rise; only a natural "
        f"fall of more than {-tip:.3g} {unit} would lift it above."
    )


def highlights(study, *, mcid: float | None = None, fast: bool = False) -> list[SensitivityResult]:
    """The analyses the HTML report shows: prior grid with BF curve, bias, published p.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    mcid : float, optional
        Default :func:`default_mcid`.
    fast : bool
        Coarse grids and short runs (for tests and previews).

    Returns
    -------
    list of SensitivityResult

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> [r.name for r in highlights(load_bundled(), fast=True)]  # doctest: +SKIP
    ['prior_grid', 'bias', 'published_p']
    """
    sampler = FAST_SAMPLER if fast else SamplerOptions(draws=300, tune=200, chains=2)
    grid_kwargs = (
        {"locations": (-0.5, 0.0, 0.5), "scales": (0.2, math.sqrt(2) / 2, 1.4)} if fast else {}
    )
    return [
        prior_grid(study, mcid=mcid, sampler=sampler, **grid_kwargs),
        bias_analysis(study, mcid=mcid, sampler=sampler),
        published_p_posterior(n_sim=2000 if fast else 20_000),
    ]
