"""What the reanalysis fits and how long it samples: stages, the main model, sampler sizes.

Examples
--------
>>> STAGES[:3]
('data', 'reproduction', 'fit')
>>> FAST.draws < FULL.draws
True
>>> with_comparison(FAST, ("paired_change", "normal")).comparison
(('paired_change', 'normal'),)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = [
    "FAST",
    "FULL",
    "MAIN_MODEL",
    "REFERENCE_PRIOR",
    "ROPE_FRACTION_OF_MCID",
    "STAGES",
    "Progress",
    "ReanalysisSettings",
    "with_comparison",
    "for_design",
    "TWO_ARM_CANDIDATES",
    "TWO_ARM_MAIN_MODEL",
    "TWO_ARM_SECONDARY_MODEL",
]

STAGES = (
    "data",
    "reproduction",
    "fit",
    "published_facts",
    "diagnostics",
    "compare",
    "figures",
    "sensitivity",
    "report",
)
"""The stages reported to the progress callback, in order."""

MAIN_MODEL = "prepost_hierarchical"
"""The flagship model whose estimates the report leads with."""

REFERENCE_PRIOR = "neutral"
"""The prior of the frequentist-versus-Bayesian table and of the diagnostics plots."""

ROPE_FRACTION_OF_MCID = 1.0
"""The ROPE is +-(this x MCID): an effect smaller than the MCID is practically nil.

One threshold for both statements of the report: the MCID is by definition the
smallest change that matters (see :func:`milkbayes.models.priors.default_mcid` for
its source), and Kruschke (2018) sets the ROPE at the smallest effect of practical
importance. With the ROPE at half the MCID the report called an effect "practically
positive" (interval above the ROPE) while P(effect > MCID) was 0.32.

Kruschke JK (2018). Rejecting or accepting parameter values in Bayesian estimation.
Advances in Methods and Practices in Psychological Science 1(2), 270-280.
"""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as each stage advances."""


@dataclass(frozen=True)
class ReanalysisSettings:
    """Sampler sizes and the candidate models of the comparison.

    Attributes
    ----------
    draws, tune, chains : int
        Main fits (one per prior).
    lomo_draws, lomo_tune, lomo_chains : int
        Each leave-one-mother-out refit (only a log mean density is needed, so
        fewer draws suffice).
    seed : int
        Seed of every fit and refit.
    comparison : tuple of (model, likelihood)
        Candidates of the comparison. Models that predict the change are stacked
        among themselves, models of the pre/post pair among themselves. The
        log-normal likelihood is not a default candidate: it is undefined for a zero
        volume, which the volume outcome admits (a session that yields no milk), so
        the default table would lose a row depending on the data; and each
        hierarchical candidate costs a compilation of its own. Add it with
        :func:`with_comparison` for data without zeros. ``prepost_bivariate`` (an
        unstructured pre/post covariance: a sd per time and their correlation) is a
        default candidate beside the flagship, which it is comparable with (both
        predict the pair): the flagship's one residual sd for both times cannot fit
        data whose post values spread more than their pre values (the bundled
        volumes: SD(post)/SD(pre) about 1.9), and the comparison and the level checks
        show whether that matters.
    sensitivity_fast : bool
        Passed to :func:`milkbayes.sensitivity.highlights`.
    reloo : bool
        Exact refits only for the mothers whose PSIS-LOO Pareto k is too high, PSIS
        elsewhere (:func:`milkbayes.comparison.lomo_cv` with
        ``psis``); False refits every mother.
    main_model : str
        The model the report leads with, fitted under the three priors
        (:func:`for_design` makes it ``ancova`` for data with a control arm).
    reference_prior : str
        The prior of the frequentist-versus-Bayesian table and the diagnostics.
    mcid : float or None
        The MCID; None for the study description's, else
        :func:`milkbayes.models.priors.default_mcid`.
    rope : tuple of float or None
        The ROPE; None for +-(:data:`ROPE_FRACTION_OF_MCID` x MCID).
    ensemble_k : int
        Reconstructions of the reconstruction ensemble (reconstructed data only; 0
        switches it off): the report shows every number that depends on individual
        measurements across them (:func:`milkbayes.sensitivity.assumption_ensemble`).
    ensemble_draws, ensemble_tune, ensemble_chains : int
        Each member's refit of the main model: medians and tail probabilities only,
        so short runs do.
    parallel_worker : bool
        Compile and cross-validate the candidates other than the main fit, and compute
        the sensitivity highlights, in a second process while the main fits run (on
        two or more cores; see :mod:`milkbayes.reanalysis.pipeline`); same numbers,
        less wall time. Off in :data:`FAST`, whose small fits would not repay the
        worker's start-up.
    ci_prob : float
        Probability of every central credible interval the reanalysis reports, in
        (0, 1); the summary keys keep their names (``*_ci95_*``, schema 1.x) and
        mean "the central interval at ``ci_prob``".
    trend_stage : {"auto", "early", "established", "none"}
        Stage of lactation of the bias highlight's prior on the change without
        massage (:func:`milkbayes.sensitivity.bias.nonmassage_prior`: the stage's
        natural trend plus a regression-to-the-mean term); ``auto`` is the study's
        own (the paper's data: established lactation), ``none`` the unsourced
        default. See docs/decisions.md.
    """

    draws: int
    tune: int
    chains: int
    lomo_draws: int
    lomo_tune: int
    lomo_chains: int
    seed: int = 20241
    comparison: tuple[tuple[str, str], ...] = (
        ("prepost_hierarchical", "normal"),
        ("prepost_hierarchical", "student_t"),
        ("prepost_bivariate", "normal"),
        ("paired_change", "normal"),
        ("paired_change", "student_t"),
    )
    sensitivity_fast: bool = False
    reloo: bool = True
    parallel_worker: bool = False
    main_model: str = MAIN_MODEL
    reference_prior: str = REFERENCE_PRIOR
    mcid: float | None = None
    rope: tuple[float, float] | None = None
    ensemble_k: int = 20
    ensemble_draws: int = 200
    ensemble_tune: int = 200
    ensemble_chains: int = 1
    ci_prob: float = 0.95
    trend_stage: str = "auto"


FULL = ReanalysisSettings(
    draws=2000,
    tune=1000,
    chains=4,
    lomo_draws=300,
    lomo_tune=300,
    lomo_chains=2,
    parallel_worker=True,
)
"""The default: 4 x 2000 draws per main fit.

The flagship's slowest quantities are its variance partition (``mother_sd`` against
``sigma``: two measurements per mother barely separate them), with a bulk ESS of
about 600 per 4,000 draws; at 4 x 1000 draws 6 of 40 seeds failed a convergence
check (R-hat > 1.01 in 4), at 4 x 2000 3 of 40 (a single divergence in 2), so the
longer chains are worth their cost.
"""

FAST = ReanalysisSettings(
    draws=300,
    tune=300,
    chains=2,
    lomo_draws=150,
    lomo_tune=200,
    lomo_chains=2,
    comparison=(
        ("prepost_hierarchical", "normal"),
        ("prepost_bivariate", "normal"),
        ("paired_change", "normal"),
        ("paired_change", "student_t"),
    ),
    sensitivity_fast=True,
    ensemble_k=8,
    ensemble_draws=100,
    ensemble_tune=100,
)
"""``--fast``: small runs for tests and CI. Diagnostics may warn or fail; the report says so."""


TWO_ARM_MAIN_MODEL = "ancova"
"""The model a two-arm report leads with: ANCOVA, post ~ pre + arm.

In a randomised trial ANCOVA is unbiased, more precise than the difference in
differences whatever the pre-post correlation, and needs no parallel-trends
assumption (Vickers & Altman 2001; Senn 2006). The difference in differences
(:data:`TWO_ARM_SECONDARY_MODEL`) is reported beside it as a secondary analysis.
"""

TWO_ARM_SECONDARY_MODEL = "two_arm"
"""The secondary two-arm analysis: difference in differences (parallel trends)."""

TWO_ARM_CANDIDATES = (
    ("ancova", "normal"),
    ("ancova", "student_t"),
    ("two_arm", "normal"),
    ("two_arm", "student_t"),
)
"""The comparison of two-arm data: models that use both arms (one-group models would
be fitted to the massage arm only, to other data, so their elpd is not comparable).

ANCOVA predicts post given pre and ``two_arm`` the pair (pre, post): different
targets (:data:`milkbayes.models.registry.PREDICTED`), so each is ranked against its
own other likelihood only, never against the other model."""


def for_design(settings: ReanalysisSettings, design: str) -> ReanalysisSettings:
    """``settings`` for a study's design: with a control arm, two-arm models only.

    The main model becomes :data:`TWO_ARM_MAIN_MODEL` (ANCOVA). The candidates are
    :data:`TWO_ARM_CANDIDATES` and every other two-arm model of
    the registry (``DESIGN = "two_arm"``) with its first likelihood.

    Examples
    --------
    >>> for_design(FAST, "two_arm").main_model
    'ancova'
    >>> for_design(FAST, "one_group") is FAST
    True
    """
    if design != "two_arm":
        return settings
    from milkbayes.models.contract import TWO_ARM, model_design
    from milkbayes.models.registry import MODEL_NAMES, load_model

    candidates = list(TWO_ARM_CANDIDATES)
    named = {model for model, _ in TWO_ARM_CANDIDATES}
    for name in MODEL_NAMES:
        module = load_model(name)
        if name not in named and model_design(module) == TWO_ARM:
            candidates.append((name, module.LIKELIHOODS[0]))
    return replace(settings, main_model=TWO_ARM_MAIN_MODEL, comparison=tuple(candidates))


def with_comparison(
    settings: ReanalysisSettings, *candidates: tuple[str, str]
) -> ReanalysisSettings:
    """A copy of ``settings`` with other comparison candidates.

    Parameters
    ----------
    settings : ReanalysisSettings
        The settings to copy.
    *candidates : tuple of (model, likelihood)
        The new candidates, in table order.

    Returns
    -------
    ReanalysisSettings
    """
    return replace(settings, comparison=tuple(candidates))
