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
    "RTM_P_SELECTED",
    "RTM_SELECTED_SHARE",
    "STAGE_CHOICES",
    "TREND_PRIORS",
    "NonMassagePrior",
    "RTMTerm",
    "TrendPrior",
    "bias_analysis",
    "nonmassage_prior",
    "resolve_stage",
    "rtm_if_selected",
    "rtm_prior",
    "stage_trend_prior",
    "tipping_points",
    "with_stage_trend",
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


STAGE_CHOICES = ("auto", "early", "established", "none")
"""Values of ``--stage``: ``auto`` is the study's own stage (the paper's data:
:data:`milkbayes.literature.PAPER_STAGE`; other data: none stated), ``none`` the
unsourced :data:`TREND_PRIORS` default."""

RTM_P_SELECTED = 0.5
"""Probability that the mothers were, in fact, enrolled for low output.

The paper states consecutive sampling of working mothers and no criterion on the pre
measurement, which gives no regression to the mean; yet mothers who join a study of
milk production are plausibly those worried about their supply, and the paper does
not say how enrolment related to the pre measurement. With nothing to prefer one
reading, each gets half."""

RTM_SELECTED_SHARE = 0.5
"""Under the "enrolled for low output" reading, the share of screened mothers enrolled:
those below the median (a mother worried about her supply is below the typical one)."""


@dataclass(frozen=True)
class RTMTerm:
    """Normal prior on the regression to the mean over the study, with its derivation.

    Attributes
    ----------
    mean, sd : float
        Of the normal prior, in outcome units (a two-point mixture matched in mean
        and variance: 0 without selection, ``if_selected`` with it).
    if_selected : float
        Expected rise from regression to the mean had the mothers been enrolled
        below the ``selected_share`` quantile of the screened ones.
    p_selected, selected_share : float
        :data:`RTM_P_SELECTED` and :data:`RTM_SELECTED_SHARE` (or the caller's).
    sd_pre, correlation : float
        The data's SD of pre and pre-post correlation.
    sd_pre_population, reliability : float
        Both corrected for the selection (truncation of pre; Thorndike's case II).
    unit, rationale : str
    """

    mean: float
    sd: float
    if_selected: float
    p_selected: float
    selected_share: float
    sd_pre: float
    correlation: float
    sd_pre_population: float
    reliability: float
    unit: str
    rationale: str


def rtm_if_selected(sd_pre: float, reliability: float, share: float) -> float:
    r"""Expected rise from regression to the mean when enrolling below a cut-off.

    Parameters
    ----------
    sd_pre : float
        SD of the pre measurement among the *screened* mothers, :math:`\sigma_p`.
    reliability : float
        Correlation of two measurements of the same mother without intervention,
        :math:`\rho` (test-retest), in [0, 1].
    share : float
        Share of the screened mothers enrolled, :math:`\Phi(a)`, in (0, 1].

    Notes
    -----
    With pre and post bivariate normal, equal variances and correlation :math:`\rho`,
    and enrolment when pre is below :math:`c = \mu + a\sigma_p`,

    .. math:: E[\text{post} - \text{pre} \mid \text{pre} < c]
              = (1 - \rho)\,(\mu - E[\text{pre} \mid \text{pre} < c])
              = (1 - \rho)\,\sigma_p\,\varphi(a) / \Phi(a)

    (Barnett, van der Pols & Dobson 2005; the same closed form as
    :func:`milkbayes.simulate.rtm.expected_rtm_change`, written with :math:`\rho`).
    ``share = 1`` (no selection) gives 0.

    Examples
    --------
    >>> round(rtm_if_selected(4.0, 0.5, 0.5), 4)   # 0.5 * 4 * phi(0) / 0.5
    1.5958
    >>> rtm_if_selected(4.0, 0.5, 1.0)
    0.0
    """
    require(math.isfinite(sd_pre) and sd_pre >= 0, f"sd_pre must be >= 0, got {sd_pre!r}")
    require(0.0 <= reliability <= 1.0, f"reliability must lie in [0, 1], got {reliability!r}")
    require(0.0 < share <= 1.0, f"share must lie in (0, 1], got {share!r}")
    if share == 1.0:
        return 0.0
    a = stats.norm.ppf(share)
    return float((1.0 - reliability) * sd_pre * stats.norm.pdf(a) / share)


def _truncation_variance_ratio(share: float) -> float:
    """Var(pre | pre < c) / Var(pre) for a normal pre and ``share = Phi(a)`` enrolled."""
    if share == 1.0:
        return 1.0
    a = stats.norm.ppf(share)
    mills = stats.norm.pdf(a) / share
    return float(1.0 - a * mills - mills**2)


def rtm_prior(
    pre,
    post,
    *,
    unit: str = "ml",
    p_selected: float = RTM_P_SELECTED,
    selected_share: float = RTM_SELECTED_SHARE,
) -> RTMTerm:
    r"""Prior on the regression to the mean in a one-group pre/post study, from its data.

    Parameters
    ----------
    pre, post : array_like
        The enrolled mothers' measurements (at least 3, pre with a spread).
    unit : str
    p_selected : float
        Probability that enrolment selected low pre values (default
        :data:`RTM_P_SELECTED`).
    selected_share : float
        Share enrolled under that reading (default :data:`RTM_SELECTED_SHARE`).

    Returns
    -------
    RTMTerm

    Notes
    -----
    Without selection on the pre measurement (consecutive sampling, as the paper
    states) the expected regression to the mean is 0. With enrolment below the
    ``selected_share`` quantile it is :func:`rtm_if_selected`, whose inputs refer
    to the screened mothers: the data's SD of pre is divided by the truncated
    normal's SD ratio :math:`\sqrt{1 - a\lambda - \lambda^2}`,
    :math:`\lambda = \varphi(a)/\Phi(a)`, and the pre-post correlation :math:`r` is
    corrected for the same restriction of range (Thorndike's case II,
    :math:`\rho = rU / \sqrt{1 - r^2 + r^2U^2}`, :math:`U` the SD ratio). The
    pre-post correlation stands in for the test-retest reliability; varying effects
    of the massage lower it, so it overstates the regression to the mean (a
    cautious error). The two readings, 0 with probability ``1 - p_selected`` and
    ``R`` with ``p_selected``, become the normal with the same mean
    :math:`pR` and SD :math:`R\sqrt{p(1 - p)}`.

    References
    ----------
    Barnett, A. G., van der Pols, J. C., & Dobson, A. J. (2005). Regression to the
    mean: what it is and how to deal with it. *International Journal of
    Epidemiology*, 34(1), 215-220.
    Thorndike, R. L. (1949). *Personnel selection*. Wiley (case II correction).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> true = rng.normal(10.0, 4.0, 24)
    >>> term = rtm_prior(true + rng.normal(0, 3, 24), true + 5 + rng.normal(0, 3, 24))
    >>> bool(term.mean == 0.5 * term.if_selected and term.sd == term.mean)
    True
    """
    pre = np.asarray(pre, dtype=float).ravel()
    post = np.asarray(post, dtype=float).ravel()
    if not (pre.size == post.size and pre.size >= 3):
        raise PriorError("the regression-to-the-mean term needs at least 3 pairs of pre and post")
    if not (np.all(np.isfinite(pre)) and np.all(np.isfinite(post))):
        raise PriorError("the regression-to-the-mean term needs finite pre and post values")
    require(0.0 <= p_selected <= 1.0, f"p_selected must lie in [0, 1], got {p_selected!r}")
    require(
        0.0 < selected_share <= 1.0, f"selected_share must lie in (0, 1], got {selected_share!r}"
    )
    sd_pre = float(np.std(pre, ddof=1))
    sd_post = float(np.std(post, ddof=1))
    if not (sd_pre > 0 and sd_post > 0):
        raise PriorError(
            "the regression-to-the-mean term needs pre and post measurements that vary "
            "between mothers"
        )
    r = float(np.corrcoef(pre, post)[0, 1])
    r = min(max(r, 0.0), 1.0)  # a reliability is not negative
    ratio = 1.0 / math.sqrt(_truncation_variance_ratio(selected_share))
    sd_population = sd_pre * ratio
    reliability = r * ratio / math.sqrt(1.0 - r**2 + (r * ratio) ** 2)
    rise = rtm_if_selected(sd_population, reliability, selected_share)
    mean = p_selected * rise
    sd = rise * math.sqrt(p_selected * (1.0 - p_selected))
    rationale = (
        "Regression to the mean: none if the mothers were enrolled whatever their output "
        "(the paper: consecutive sampling, no criterion on the pre measurement); "
        f"{rise:.2f} {unit} had they been enrolled for low output, below the "
        f"{100 * selected_share:g} % point of the screened mothers: (1 - rho) x SD(pre) x "
        "phi(a)/Phi(a) (Barnett et al. 2005), with the data's SD of pre "
        f"{sd_pre:.2f} and pre-post correlation {r:.2f} corrected for that selection "
        f"({sd_population:.2f} {unit}, rho = {reliability:.2f}; Thorndike case II). "
        f"Each reading has probability {1 - p_selected:g} : {p_selected:g}; the normal "
        f"with the same mean and SD is Normal({mean:.2f}, {sd:.2f}) {unit}."
    )
    return RTMTerm(
        mean=mean,
        sd=sd,
        if_selected=rise,
        p_selected=float(p_selected),
        selected_share=float(selected_share),
        sd_pre=sd_pre,
        correlation=r,
        sd_pre_population=sd_population,
        reliability=float(reliability),
        unit=unit,
        rationale=rationale,
    )


@dataclass(frozen=True)
class NonMassagePrior:
    """The prior on the change without massage: natural trend + regression to the mean.

    Attributes
    ----------
    stage : str or None
        The stage of lactation of the trend; None for the unsourced default.
    trend : TrendPrior
        The natural trend (:func:`stage_trend_prior`, or :data:`TREND_PRIORS`
        without a stage, which stands for both parts).
    rtm : RTMTerm or None
        The regression to the mean (:func:`rtm_prior`); None without a stage.
    combined : TrendPrior
        The sum of the two independent normals: mean ``trend.mean + rtm.mean``, SD
        ``sqrt(trend.sd**2 + rtm.sd**2)``; what the bias analysis subtracts.
    """

    stage: str | None
    trend: TrendPrior
    rtm: RTMTerm | None
    combined: TrendPrior

    def summary(self) -> dict:
        """The components as flat keys (the bias analysis's summary, the report)."""
        out = {
            "trend_stage": self.stage if self.stage is not None else "none",
            "natural_trend_mean": self.trend.mean,
            "natural_trend_sd": self.trend.sd,
        }
        if self.rtm is not None:
            out |= {
                "rtm_mean": self.rtm.mean,
                "rtm_sd": self.rtm.sd,
                "rtm_if_selected": self.rtm.if_selected,
                "rtm_p_selected": self.rtm.p_selected,
                "rtm_reliability": self.rtm.reliability,
            }
        return out


def resolve_stage(study, stage: str | None = "auto") -> str | None:
    """The stage of lactation a trend prior uses: ``early``, ``established`` or None.

    ``auto`` (and None) is the study's own: :data:`milkbayes.literature.PAPER_STAGE`
    for a volume outcome of the bundled paper's data, None otherwise (no stage
    stated). ``none`` is None. A stage for an outcome that is not a volume is a
    :class:`~milkbayes.errors.PriorError` (the literature's trends are volumes).

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> resolve_stage(load_bundled("volume_ml")), resolve_stage(load_bundled("score"))
    ('established', None)
    """
    from milkbayes.literature import PAPER_STAGE

    chosen = "auto" if stage is None else str(stage).lower()
    if chosen not in STAGE_CHOICES:
        raise PriorError(f"unknown stage of lactation {stage!r}; known: {', '.join(STAGE_CHOICES)}")
    volume = study.outcome.kind == "volume"
    if chosen == "auto":
        description = getattr(study, "description", None)
        paper = description is not None and getattr(description, "is_paper", False)
        return PAPER_STAGE if paper and volume else None
    if chosen == "none":
        return None
    if not volume:
        raise PriorError(
            f"--stage sets a trend prior for volumes; the outcome is {study.outcome.kind!r}"
        )
    return chosen


def default_trend_prior(study) -> TrendPrior:
    """:data:`TREND_PRIORS` for the study's outcome (scores scaled to their maximum)."""
    trend = TREND_PRIORS.get(study.outcome.kind, TREND_PRIORS["continuous"])
    if study.outcome.kind == "score" and study.outcome.max_score:
        factor = study.outcome.max_score / 10.0
        trend = TrendPrior(trend.mean * factor, trend.sd * factor, trend.unit, trend.rationale)
    return trend


def nonmassage_prior(study, stage: str | None = "auto") -> NonMassagePrior:
    r"""The prior on the change without massage that the bias analysis uses: one construction.

    With a stage of lactation (:func:`resolve_stage`), the natural trend of
    :func:`stage_trend_prior` (scaled by the mean pre volume) plus the
    regression-to-the-mean term of :func:`rtm_prior` (from the data's pre and post),
    independent normals, so

    .. math:: T + M \sim N(\mu_T + \mu_M, \sqrt{\sigma_T^2 + \sigma_M^2}).

    Without one, :data:`TREND_PRIORS`, an unsourced assumption standing for both.
    ``reanalyze --stage``, ``sensitivity bias --stage`` and ``fit two_arm --stage``
    all call this function.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    stage : {"auto", "early", "established", "none"} or None

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> prior = nonmassage_prior(load_bundled("volume_ml"), "established")
    >>> prior.trend.mean, bool(prior.rtm.mean > 0)
    (0.0, True)
    >>> bool(abs(prior.combined.sd**2 - prior.trend.sd**2 - prior.rtm.sd**2) < 1e-12)
    True
    """
    resolved = resolve_stage(study, stage)
    if resolved is None:
        trend = default_trend_prior(study)
        trend = TrendPrior(trend.mean, trend.sd, study.outcome.unit or trend.unit, trend.rationale)
        return NonMassagePrior(stage=None, trend=trend, rtm=None, combined=trend)
    unit = study.outcome.unit or "ml"
    pre = study.table["pre"].to_numpy(dtype=float)
    post = study.table["post"].to_numpy(dtype=float)
    trend = stage_trend_prior(resolved, float(np.mean(pre)), unit)
    rtm = rtm_prior(pre, post, unit=unit)
    mean = trend.mean + rtm.mean
    sd = math.hypot(trend.sd, rtm.sd)
    combined = TrendPrior(
        mean=mean,
        sd=sd,
        unit=unit,
        rationale=(
            f"Change without massage = natural trend ({resolved} lactation) + regression "
            f"to the mean, independent normals: Normal({trend.mean:.2f}, {trend.sd:.2f}) + "
            f"Normal({rtm.mean:.2f}, {rtm.sd:.2f}) = Normal({mean:.2f}, {sd:.2f}) {unit}. "
            f"Trend: {trend.rationale} {rtm.rationale} Practice at expressing and the "
            "study's own extra expressions are in neither part (no source gives their "
            "size): the tipping points show how much of them it would take."
        ),
    )
    return NonMassagePrior(stage=resolved, trend=trend, rtm=rtm, combined=combined)


def with_stage_trend(prior_set, study, stage: str | None):
    """``prior_set`` with its natural-trend prior set to :func:`nonmassage_prior`'s.

    For a model with a trend parameter (``trend_mu``, ``trend_sigma``: ``two_arm``,
    whose control arm measures the change without massage, enrolled the same way, so
    natural trend and regression to the mean together). ``none`` (or ``auto`` for
    data without a stated stage) returns ``prior_set`` unchanged.

    Raises
    ------
    PriorError
        A stage for a model without a trend parameter: one group cannot separate the
        trend from the effect, so its stage-indexed prior enters through the bias
        analysis (``sensitivity bias --stage``, ``reanalyze --stage``) instead.
    """
    from dataclasses import replace

    nonmassage = nonmassage_prior(study, stage)
    if nonmassage.stage is None:
        return prior_set
    if not {"trend_mu", "trend_sigma"} <= set(prior_set.values):
        raise PriorError(
            f"--stage: model {prior_set.model_name or '?'} has no natural-trend parameter "
            "(one group cannot separate the trend from the effect); the stage's trend "
            "enters through 'milkbayes sensitivity bias --stage' and 'milkbayes "
            "reanalyze --stage'"
        )
    combined = nonmassage.combined
    return replace(
        prior_set,
        values=dict(prior_set.values)
        | {"trend_mu": float(combined.mean), "trend_sigma": float(combined.sd)},
        rationale=f"{prior_set.rationale} Natural trend: {combined.rationale}",
        settings=dict(prior_set.settings) | {"trend_stage": nonmassage.stage},
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
    benefit: str = "increase",
) -> Figure:
    """Both decision probabilities against the assumed trend, with the tipping points.

    For a lower-is-better outcome the curves are P(benefit) = P(effect < 0) and
    P(benefit > MCID), the tipping points those of a natural fall (``tip_positive``
    and ``tip_mcid`` are then :func:`benefit_side`'s), and the table must hold
    ``p_benefit`` and ``p_benefit_gt_mcid``.
    """
    from milkbayes.comparison.tables import benefit_label

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    x = table["trend_mean"]
    if benefit == "decrease":
        axes.plot(x, table["p_benefit"], label=benefit_label(benefit))
        axes.plot(x, table["p_benefit_gt_mcid"], label=benefit_label(benefit, mcid))
    else:
        axes.plot(x, table["p_effect_gt_0"], label="P(massage effect > 0)")
        axes.plot(x, table["p_effect_gt_mcid"], label=f"P(massage effect > MCID = {mcid:g})")
    axes.axhline(prob_positive, color="C0", ls=":", lw=1)
    axes.axhline(prob_mcid, color="C1", ls=":", lw=1)
    for value, colour in ((tip_positive, "C0"), (tip_mcid, "C1")):
        axes.axvline(value, color=colour, ls="--", lw=1)
    band = (trend.mean - 2 * trend.sd, trend.mean + 2 * trend.sd)
    axes.axvspan(*band, color="grey", alpha=0.08, label="trend prior, mean ± 2 sd")
    axes.axvline(trend.mean, color="grey", lw=0.8)
    without = "treatment" if benefit == "decrease" else "massage"
    axes.set(
        xlabel=f"assumed natural change without {without} ({trend.unit})",
        ylabel="posterior probability",
        ylim=(-0.02, 1.02),
        title="When does the conclusion tip?",
    )
    # a fall's curves rise with the trend: the empty corner is the lower right
    axes.legend(frameon=False, loc="lower right" if benefit == "decrease" else "lower left")
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
    stage: str | None = "auto",
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
    stage : {"auto", "early", "established", "none"}, optional
        Stage of lactation: the default prior on the change without massage is
        :func:`nonmassage_prior`'s, the natural trend of :func:`stage_trend_prior`
        (sourced, scaled by the mean pre volume) plus the regression to the mean of
        :func:`rtm_prior`, instead of :data:`TREND_PRIORS`. ``auto`` is the study's
        own stage (:func:`resolve_stage`: the paper's working mothers were in
        established lactation, :data:`milkbayes.literature.PAPER_STAGE`; other data
        state none); None is ``auto``; ``none`` keeps :data:`TREND_PRIORS`. A stage is for volumes
        only; ``trend_mean``/``trend_sd`` still win. The summary then gives both
        parts (``natural_trend_*``, ``rtm_*``) beside their sum (``trend_*``).

    Returns
    -------
    SensitivityResult
        ``table``: both decision probabilities against the assumed trend mean (for
        a lower-is-better outcome also ``p_benefit`` = P(effect < 0) and
        ``p_benefit_gt_mcid``, over a span that reaches the natural falls at which
        they tip, and the figure plots those);
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
    nonmassage = nonmassage_prior(study, stage)
    default_trend = nonmassage.combined
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
    fall = getattr(study.outcome, "benefit", "increase") == "decrease"
    # the plot spans no trend, both tipping points and the trend prior's +-2 sd
    span = (
        min(0.0, tip_positive, tip_mcid, trend.mean - 2 * trend.sd),
        max(1.5 * max(tip_positive, tip_mcid), trend.mean + 2 * trend.sd),
    )
    if fall:  # the same, mirrored: a natural fall imitates the benefit
        side = benefit_side(draws, trend, mcid, prob_positive, prob_mcid)
        tips = (side["tipping_point_p_benefit"], side["tipping_point_p_benefit_gt_mcid"])
        span = (
            min(1.5 * min(tips), trend.mean - 2 * trend.sd),
            max(0.0, *tips, trend.mean + 2 * trend.sd),
        )
    table, _, _ = tipping_points(
        draws,
        trend_sd=trend.sd,
        mcid=mcid,
        prob_positive=prob_positive,
        prob_mcid=prob_mcid,
        trend_grid=np.linspace(*span, 81),
    )
    if fall:
        grid = table["trend_mean"].to_numpy()
        table["p_benefit"] = [_prob_exceeds(-draws, -t, trend.sd, 0.0) for t in grid]
        table["p_benefit_gt_mcid"] = [_prob_exceeds(-draws, -t, trend.sd, mcid) for t in grid]
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
    if trend_mean is None and trend_sd is None:
        summary |= nonmassage.summary()  # the two parts of trend_mean / trend_sd
    if fall:
        summary |= side
        figure = _bias_figure(table, *tips, trend, mcid, prob_positive, prob_mcid, "decrease")
    else:
        figure = _bias_figure(table, tip_positive, tip_mcid, trend, mcid, prob_positive, prob_mcid)
    notes = (
        "A single group measures massage effect + natural trend + regression to the mean; "
        "the data cannot separate them, so the trend's prior passes through unchanged.",
        f"Trend prior: Normal({trend.mean:.3g}, {trend.sd:.3g}) {trend.unit}. {trend.rationale}",
        _tipping_sentence("P(effect > 0)", prob_positive, tip_positive, trend.unit),
        _tipping_sentence(f"P(effect > MCID = {mcid:g})", prob_mcid, tip_mcid, trend.unit),
    )
    if fall:
        notes += (
            _fall_sentence(
                "P(benefit) = P(effect < 0)",
                prob_positive,
                summary["tipping_point_p_benefit"],
                trend.unit,
            ),
            _fall_sentence(
                f"P(benefit > MCID) = P(effect < {-mcid:.3g})",
                prob_mcid,
                summary["tipping_point_p_benefit_gt_mcid"],
                trend.unit,
            ),
        )
    return SensitivityResult(
        name="bias",
        title=(
            "Bias analysis: what if the outcome falls without treatment?"
            if fall
            else "Bias analysis: what if milk output rises without massage?"
        ),
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=notes,
    )


def benefit_side(
    effect_draws: np.ndarray,
    trend: TrendPrior,
    mcid: float,
    prob_positive: float = 0.95,
    prob_mcid: float = 0.5,
) -> dict[str, float]:
    r"""The bias analysis of a lower-is-better outcome: a natural FALL imitates the benefit.

    The effect keeps its sign (a benefit is negative), so the tipping points are
    natural trends :math:`t^* < 0` at which P(effect < 0) = ``prob_positive`` and
    P(effect < -MCID) = ``prob_mcid``: :func:`tipping_points` of the mirrored draws,
    mirrored back. In the normal case ``mu ~ Normal(m, v)``,
    ``t* = m + a + z_p sqrt(v + s^2)`` (``a`` = 0 or MCID).

    Returns
    -------
    dict
        ``benefit`` (``"decrease"``), ``tipping_point_p_benefit``,
        ``tipping_point_p_benefit_gt_mcid`` (trend means, negative = a fall),
        ``naive_p_benefit``, ``naive_p_benefit_gt_mcid`` (no trend) and ``p_benefit``,
        ``p_benefit_gt_mcid`` under the trend prior.

    Examples
    --------
    >>> draws = stats.norm.ppf((np.arange(4000) + 0.5) / 4000, -10.0, 2.0)
    >>> side = benefit_side(draws, TrendPrior(0.0, 1.0, "ml", ""), mcid=5.0)
    >>> round(side["tipping_point_p_benefit"], 1)  # -10 + 1.645 * sqrt(2**2 + 1**2)
    -6.3
    """
    draws = np.asarray(effect_draws, dtype=float).ravel()
    mirrored = -draws  # the benefit as a rise: tipping_points' own question
    _, tip_benefit, tip_mcid = tipping_points(
        mirrored, trend_sd=trend.sd, mcid=mcid, prob_positive=prob_positive, prob_mcid=prob_mcid
    )
    return {
        "benefit": "decrease",
        "tipping_point_p_benefit": -tip_benefit,
        "tipping_point_p_benefit_gt_mcid": -tip_mcid,
        "naive_p_benefit": float(np.mean(draws < 0)),
        "naive_p_benefit_gt_mcid": float(np.mean(draws < -mcid)),
        "p_benefit": _prob_exceeds(mirrored, -trend.mean, trend.sd, 0.0),
        "p_benefit_gt_mcid": _prob_exceeds(mirrored, -trend.mean, trend.sd, mcid),
    }


def _fall_sentence(what: str, threshold: float, tip: float, unit: str) -> str:
    """Where a lower-is-better conclusion tips: at a natural fall (``tip`` < 0)."""
    if tip < 0:
        return (
            f"{what} falls below {threshold:g} once the assumed natural fall exceeds "
            f"{-tip:.3g} {unit}."
        )
    return (
        f"{what} is below {threshold:g} even with no natural fall; only a natural "
        f"rise of more than {tip:.3g} {unit} would lift it above."
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
