"""Sensitivity analyses: how much the conclusion depends on what was assumed.

The reanalysis of the oxytocin-massage study rests on four kinds of assumption:
the prior, the likelihood, the (unpublished, reconstructed) raw data and the
single-group design. Each analysis varies one of them and returns a
:class:`SensitivityResult`: a tidy table, a figure and a few headline numbers,
ready for the report, the CLI and the notebooks. One module per analysis:

=======================  =================================  ==============================
module                   function                           what it varies
=======================  =================================  ==============================
``prior_robustness``     :func:`prior_grid`,                prior location x scale of the
                         :func:`bf_robustness`              effect; the JZS BF against r
``likelihood``           :func:`likelihood_variants`        normal, Student-t, log-normal
``leave_one_out``        :func:`influence`                  each mother left out in turn
``ensemble``             :func:`assumption_ensemble`,       the generator's assumptions
                         :func:`reconstruction_ensemble`    (rejection ABC), or its seed
``published_p``          :func:`published_p_posterior`      nothing but "n = 24, p < .0005"
``power``                :func:`power_curve`,               (the likelihood of the
                         :func:`rejection_thresholds`,      published p: the test's power)
                         :func:`pitman_power`
``bias``                 :func:`bias_analysis`,             the natural rise in milk
                         :func:`tipping_points`             output without massage
``report_highlights``    :func:`highlights`                 (the set the report shows)
``common``               :class:`SensitivityResult`,        (shared by all of them)
                         :class:`SamplerOptions`
=======================  =================================  ==============================

The analyses that fit models go through :func:`milkbayes.engine.fit.fit`, whose
per-process cache compiles each model once; every setting is a refit with new data
or prior values (``compiled.with_data``), which is what makes a grid of 50 priors
cheap.

Examples
--------
>>> from milkbayes.sensitivity import wilcoxon_critical_w_plus
>>> wilcoxon_critical_w_plus(24)  # W+ >= 272, i.e. the smaller rank sum <= 28
272
"""

from milkbayes.sensitivity.bias import TREND_PRIORS, TrendPrior, bias_analysis, tipping_points
from milkbayes.sensitivity.common import FAST_SAMPLER, SamplerOptions, SensitivityResult
from milkbayes.sensitivity.ensemble import (
    DEFAULT_VARY,
    Vary,
    assumption_ensemble,
    propose_reconstructions,
    reconstruction_ensemble,
)
from milkbayes.sensitivity.leave_one_out import influence
from milkbayes.sensitivity.likelihood import LIKELIHOOD_EXTRA_KEYS, likelihood_variants
from milkbayes.sensitivity.power import (
    POWER_DISTRIBUTIONS,
    pitman_power,
    power_curve,
    rejection_thresholds,
    wilcoxon_critical_w_plus,
)
from milkbayes.sensitivity.prior_robustness import (
    BF_R_MARKS,
    DELTA_GRID_LOCATIONS,
    DELTA_GRID_SCALES,
    MCID_MULTIPLES_LOCATIONS,
    MCID_MULTIPLES_SCALES,
    PRIOR_GRID_KEYS,
    bf_robustness,
    prior_grid,
)
from milkbayes.sensitivity.published_p import published_p_posterior
from milkbayes.sensitivity.report_highlights import highlights

__all__ = [
    "BF_R_MARKS",
    "DEFAULT_VARY",
    "Vary",
    "assumption_ensemble",
    "propose_reconstructions",
    "DELTA_GRID_LOCATIONS",
    "DELTA_GRID_SCALES",
    "FAST_SAMPLER",
    "LIKELIHOOD_EXTRA_KEYS",
    "MCID_MULTIPLES_LOCATIONS",
    "MCID_MULTIPLES_SCALES",
    "POWER_DISTRIBUTIONS",
    "PRIOR_GRID_KEYS",
    "TREND_PRIORS",
    "SamplerOptions",
    "SensitivityResult",
    "TrendPrior",
    "bf_robustness",
    "bias_analysis",
    "wilcoxon_critical_w_plus",
    "highlights",
    "influence",
    "likelihood_variants",
    "pitman_power",
    "power_curve",
    "prior_grid",
    "published_p_posterior",
    "reconstruction_ensemble",
    "rejection_thresholds",
    "tipping_points",
]
