"""What the published result alone implies: the posterior of delta given "n = 24, p < .0005".

The paper gives no raw data, only n and SPSS's "p = 0.000". That is the event
``A = {p < .0005}``, whose likelihood is the power of the test
(:mod:`milkbayes.sensitivity.power`); :func:`published_p_posterior` multiplies it
by a prior on the standardised effect delta and integrates on a grid.

Examples
--------
>>> result = published_p_posterior(distributions=("normal",), n_sim=500, seed=1)
>>> result.summary["critical_w_plus"]
272
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import optimize, stats

from milkbayes.errors import PriorError, SensitivityError
from milkbayes.frequentist.null_distribution import exact_null_distribution
from milkbayes.published import N_PARTICIPANTS, SPSS_P_THRESHOLD
from milkbayes.sensitivity.common import SensitivityResult, require, whole_number
from milkbayes.sensitivity.power import pitman_power, power_curve, wilcoxon_critical_w_plus

__all__ = [
    "PUBLISHED_P_THRESHOLDS_OF_INTEREST",
    "BF_PRIORS",
    "PublishedFactsBayesFactor",
    "null_probability_of_published_event",
    "published_facts_bayes_factor",
    "published_facts_bf_point",
    "published_p_posterior",
]


def _delta_prior(prior: str, scale: float):
    """The frozen scipy prior on delta (centred at 0)."""
    require(scale > 0 and math.isfinite(scale), f"prior scale must be positive, got {scale!r}")
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
    r"""Posterior of the standardised effect given only "n = 24, Wilcoxon p < .0005".

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

    .. math:: \pi(\delta \mid A) \propto \pi(\delta)\, P(A \mid \delta, n).

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
    require(
        whole_number(n) and n >= 6,
        f"n must be a whole number >= 6, got {n!r}",
    )
    require(len(distributions) >= 1, "give at least one distribution")
    critical = wilcoxon_critical_w_plus(int(n), p_threshold)
    _require_attainable(int(n), float(p_threshold), critical)
    prior_dist = _delta_prior(prior, prior_scale)
    low_end = -4.0 if alternative == "two-sided" else -1.5
    grid = (
        np.arange(low_end, 4.0 + 1e-9, 0.005)
        if delta_grid is None
        else np.asarray(delta_grid, dtype=float)
    )
    require(
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
        require(
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
        "critical_w_plus": critical,
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


def _require_attainable(n: int, p_threshold: float, critical: int) -> None:
    """Refuse a threshold that no data of n untied changes can reach under SPSS's test.

    The smallest p SPSS can print with n untied non-zero changes is that of every
    change of one sign: Z = (n(n+1)/4) / sqrt(n(n+1)(2n+1)/24). Below it the
    published event is impossible whatever delta, and the posterior is undefined.
    """
    if critical <= n * (n + 1) // 2:
        return
    z_max = (n * (n + 1) / 4.0) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    smallest = 2.0 * float(stats.norm.sf(z_max))
    raise SensitivityError(
        f"p < {p_threshold:g} cannot happen with n = {n}: the smallest two-sided p the "
        f"SPSS Wilcoxon test gives with {n} pairs is {smallest:.3g} (every change of one "
        "sign); give a larger n or a threshold above that"
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


# ----------------------------------------------------------------------------- Bayes factor
def null_probability_of_published_event(
    n: int = N_PARTICIPANTS, p_threshold: float = SPSS_P_THRESHOLD
) -> float:
    r"""P(SPSS two-sided p < threshold and post > pre | no effect), exactly.

    With n untied non-zero changes (continuous changes have no ties and no zeros,
    almost surely) SPSS's Z is a monotone function of W+, so the event is
    :math:`W^+ \ge c` with c from :func:`wilcoxon_critical_w_plus`, and its null
    probability is the upper tail of the exact signed-rank distribution
    (:func:`milkbayes.frequentist.null_distribution.exact_null_distribution` of the
    ranks 1..n). This is the *untied* value; data recorded to 0.1 ml can tie, and
    with ties the conditional null probability moves a little with the tie pattern
    (which the paper does not give).

    Examples
    --------
    >>> round(null_probability_of_published_event(24) * 1e5, 2)  # W+ >= 272 of 300
    8.77
    """
    critical = wilcoxon_critical_w_plus(int(n), p_threshold)
    _require_attainable(int(n), float(p_threshold), critical)
    values, pmf = exact_null_distribution(np.arange(1, int(n) + 1))
    return float(pmf[values >= critical].sum())


@dataclass(frozen=True)
class PublishedFactsBayesFactor:
    """The Bayes factor of the published event, H1 (an effect) against H0 (none).

    Attributes
    ----------
    bf10 : dict
        ``{label: BF10}`` for each prior on delta under H1 (see
        :func:`published_facts_bayes_factor`).
    upper_bound : float
        ``1 / p_h0``: the largest BF10 any alternative can give, since
        P(event | H1) <= 1.
    p_h0 : float
        P(event | H0), exact, untied (:func:`null_probability_of_published_event`).
    critical_w_plus : int
    n, p_threshold, distribution, n_sim, seed
        The settings.
    """

    bf10: Mapping[str, float]
    upper_bound: float
    p_h0: float
    critical_w_plus: int
    n: int
    p_threshold: float
    distribution: str
    n_sim: int
    seed: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "bf10": dict(self.bf10),
            "upper_bound": self.upper_bound,
            "p_h0": self.p_h0,
            "critical_w_plus": self.critical_w_plus,
            "n": self.n,
            "p_threshold": self.p_threshold,
            "distribution": self.distribution,
            "n_sim": self.n_sim,
            "seed": self.seed,
            "h0_ties": "untied (continuous changes)",
        }


BF_PRIORS = (
    ("cauchy_0.707_one_sided", "cauchy", math.sqrt(2) / 2, True),
    ("cauchy_0.707_two_sided", "cauchy", math.sqrt(2) / 2, False),
    ("normal_1_one_sided", "normal", 1.0, True),
)
"""The priors on delta under H1 of :func:`published_facts_bayes_factor`: label,
family, scale, one-sided (delta > 0 only, the prior's positive half renormalised)."""


def published_facts_bayes_factor(
    n: int = N_PARTICIPANTS,
    p_threshold: float = SPSS_P_THRESHOLD,
    *,
    distribution: str = "normal",
    n_sim: int = 20_000,
    seed: int = 20241,
    delta_grid: np.ndarray | None = None,
) -> PublishedFactsBayesFactor:
    r"""Bayes factor of "n = 24, SPSS p < .0005, output rose": effect against no effect.

    Parameters
    ----------
    n, p_threshold
        The published sample size and bound on the two-sided p.
    distribution : str
        Shape of the changes under H1 (a key of :data:`POWER_DISTRIBUTIONS`).
    n_sim, seed
        Simulation size and seed of the power function.
    delta_grid : array_like, optional
        Integration grid through 0 (default -2 to 6 by 0.0025); beyond its top the
        power is 1.

    Returns
    -------
    PublishedFactsBayesFactor

    Notes
    -----
    The published result is the event A = {p < threshold, post > pre}; the data
    behind it are not published, so the likelihood of a hypothesis is P(A | H):

    .. math::

        BF_{10} = \frac{\int P(A \mid \delta)\, \pi_1(\delta)\, d\delta}{P(A \mid \delta = 0)},
        \qquad BF_{10} \le \frac{1}{P(A \mid \delta = 0)} .

    The denominator is exact (:func:`null_probability_of_published_event`,
    8.76e-5 for n = 24); the numerator integrates the simulated power
    (:func:`power_curve`, "greater") against the prior on delta. Against a point
    alternative delta_1 it is power(delta_1) / P(A | H0). The bound holds for
    every alternative: that is what a "p < .0005" can say at most, whatever raw
    data produced it (the approach of the default Bayesian signed-rank test of van
    Doorn et al. 2020, applied to the published event rather than to data).

    References
    ----------
    van Doorn, J., Ly, A., Marsman, M. and Wagenmakers, E.-J. (2020). Bayesian
    rank-based hypothesis testing for the rank sum test, the signed rank test, and
    Spearman's rho. *Journal of Applied Statistics* 47, 2984-3006.

    Examples
    --------
    >>> bf = published_facts_bayes_factor(n_sim=4000, seed=1)
    >>> round(bf.upper_bound)
    11398
    >>> bool(bf.bf10["cauchy_0.707_two_sided"] < bf.bf10["cauchy_0.707_one_sided"] < bf.upper_bound)
    True
    """
    p_h0 = null_probability_of_published_event(n, p_threshold)
    grid = (
        np.concatenate([np.linspace(-2.0, 0.0, 801)[:-1], np.linspace(0.0, 6.0, 2401)])
        if delta_grid is None
        else np.asarray(delta_grid, dtype=float)
    )
    require(
        grid.ndim == 1
        and grid.size >= 10
        and grid[0] < 0.0 < grid[-1]
        and np.any(grid == 0.0)
        and np.all(np.diff(grid) > 0),
        "delta_grid must increase through 0 (included), with at least 10 points",
    )
    power = power_curve(
        grid, n, distribution=distribution, n_sim=n_sim, seed=seed, p_threshold=p_threshold
    )
    require(
        power[-1] > 0.999,
        f"the power has not reached 1 at delta = {grid[-1]:g}: widen the grid",
    )
    positive = grid >= 0.0
    bf10 = {}
    for label, family, scale, one_sided in BF_PRIORS:
        prior = _delta_prior(family, scale)
        weight = prior.pdf(grid) * power
        # beyond the grid's top the power is 1; below its bottom (a fall of more than
        # 2 SD) it is below P(A | H0) * prior.cdf(grid[0]), negligible and left out
        beyond = float(prior.sf(grid[-1])) * power[-1]
        if one_sided:  # the prior's positive half, renormalised
            marginal = (float(np.trapezoid(weight[positive], grid[positive])) + beyond) / 0.5
        else:
            marginal = float(np.trapezoid(weight, grid)) + beyond
        bf10[label] = float(marginal / p_h0)
    return PublishedFactsBayesFactor(
        bf10=bf10,
        upper_bound=1.0 / p_h0,
        p_h0=p_h0,
        critical_w_plus=wilcoxon_critical_w_plus(int(n), p_threshold),
        n=int(n),
        p_threshold=float(p_threshold),
        distribution=distribution,
        n_sim=int(n_sim),
        seed=int(seed),
    )


def published_facts_bf_point(
    delta: float | np.ndarray,
    n: int = N_PARTICIPANTS,
    p_threshold: float = SPSS_P_THRESHOLD,
    *,
    distribution: str = "normal",
    n_sim: int = 20_000,
    seed: int = 20241,
) -> np.ndarray:
    """BF10 of the published event against a point alternative: power(delta) / P(A | H0).

    Examples
    --------
    >>> bf = published_facts_bf_point([0.0, 5.0], n_sim=2000, seed=1)
    >>> float(bf[1]) == 1 / null_probability_of_published_event()
    True
    """
    p_h0 = null_probability_of_published_event(n, p_threshold)
    power = power_curve(
        np.atleast_1d(np.asarray(delta, dtype=float)),
        n,
        distribution=distribution,
        n_sim=n_sim,
        seed=seed,
        p_threshold=p_threshold,
    )
    return power / p_h0
