"""Bias analysis of the single-group design: how large a natural rise overturns the conclusion.

A single group measures massage effect + natural trend + regression to the mean,
and cannot separate them. :func:`bias_analysis` puts a prior on the trend
(:data:`TREND_PRIORS`, :class:`TrendPrior`) and finds the tipping points at which
the decision probabilities fall below their thresholds (:func:`tipping_points`).

Examples
--------
>>> TREND_PRIORS["volume"].mean, TREND_PRIORS["volume"].unit
(3.0, 'ml')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import optimize, stats

from milkbayes.errors import PriorError
from milkbayes.models.priors import default_mcid
from milkbayes.sensitivity.common import (
    DEFAULT_SAMPLER,
    SamplerOptions,
    SensitivityResult,
    fit_quiet,
    posterior_effect_draws,
    require,
)

__all__ = [
    "TREND_PRIORS",
    "TrendPrior",
    "bias_analysis",
    "stage_trend_prior",
    "tipping_points",
]


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
            rationale=(
                "No outcome-specific knowledge: centred at no trend, unit scale; set your own."
            ),
        ),
    }
)
"""Default trend priors by outcome kind. They are assumptions, stated so they can be
argued with; :func:`bias_analysis` takes ``trend_mean`` and ``trend_sd`` to change them."""


def stage_trend_prior(stage: str, level: float, unit: str = "ml") -> TrendPrior:
    """The natural-trend prior for a volume outcome at a stage of lactation, with sources.

    ``early`` (first postpartum days) is a large natural rise, ``established`` (about
    1 to 6 months, the paper's working mothers) no trend on average; the numbers and
    their sources are :func:`milkbayes.literature.stage_trend`'s, scaled by ``level``
    (the typical pre volume).

    Examples
    --------
    >>> prior = stage_trend_prior("established", 15.0)
    >>> prior.mean, round(prior.sd, 2)
    (0.0, 2.49)
    """
    from milkbayes.literature import stage_trend

    numbers = stage_trend(stage, level)
    return TrendPrior(
        mean=float(numbers["mean"]),
        sd=float(numbers["sd"]),
        unit=unit,
        rationale=numbers["rationale"] + f" Level: {level:.3g} {unit} (mean pre volume).",
    )


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
    r"""How P(massage effect > 0) and P(> MCID) fall as the assumed natural trend grows.

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

    .. math:: P(\theta > a \mid t) = E_{\mu}\,\Phi\big((\mu - t - a) / s\big),

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
    require(
        draws.size >= 10 and np.all(np.isfinite(draws)),
        "effect_draws must hold at least 10 finite draws",
    )
    require(trend_sd >= 0 and math.isfinite(trend_sd), f"trend_sd must be >= 0, got {trend_sd!r}")
    require(
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
    sampler: SamplerOptions = DEFAULT_SAMPLER,
    fit_result=None,
    stage: str | None = None,
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
    stage : {"early", "established"}, optional
        Stage of lactation: the default trend prior comes from
        :func:`stage_trend_prior` (sourced, scaled by the mean pre volume) instead of
        :data:`TREND_PRIORS`. Volumes only; ``trend_mean``/``trend_sd`` still win.
        The paper's working mothers were in established lactation
        (:data:`milkbayes.literature.PAPER_STAGE`).

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
    if stage is not None:
        if study.outcome.kind != "volume":
            raise PriorError(
                f"--stage sets a trend prior for volumes; the outcome is {study.outcome.kind!r}"
            )
        default_trend = stage_trend_prior(
            stage, float(np.mean(study.table["pre"])), study.outcome.unit or "ml"
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
        fit_result = fit_quiet(
            model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
        )
    draws = posterior_effect_draws(fit_result)
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
