r"""Model comparison: exact leave-one-mother-out CV, PSIS-LOO with its Pareto k, stacking.

Also the two tables that put the reanalysis side by side with the paper: the
frequentist-versus-Bayesian table and the three-prior table.

The unit of exchangeability is the mother, not the measurement. The hierarchical
model sees two observations per mother (pre and post) and one intercept per mother,
so "leave one out" must leave out a whole mother and predict both her measurements
from the other 23. Every model takes a ``pm.Data("mother_weight")`` 0/1 vector that
multiplies its likelihood, so one compiled model is refitted 24 times with only that
vector changed (``nutpie`` ``compiled.with_data``; no recompilation, same shapes).

Layers (as in arviz-stats), one module each: NumPy functions on arrays first
(``quadrature``: :func:`log_mean_exp`, :func:`gauss_hermite_normal`,
:func:`marginalise_intercept`), the pointwise log-likelihood (``pointwise``:
:class:`PointwiseLogLik`), then the drivers (``psis``: :func:`psis_by_mother`;
``lomo``: :func:`lomo_cv`, :func:`kfold_cv`; ``choice``: :func:`choose_method`, which
picks between them by the study's size), the ranking (``stacking``: :func:`compare_models`,
:func:`stacking_weights`) and the tables (``tables``: :func:`freq_vs_bayes_table`,
:func:`three_prior_table`, :func:`rope_statement`).

Notes
-----
**Exact leave-one-mother-out (LOMO).** For mother :math:`i` with observations
:math:`y_i` (one change, or a pre and a post measurement),

.. math::

    \widehat{\mathrm{elpd}}_{\mathrm{lomo}} = \sum_{i=1}^{n}
        \log \frac{1}{S} \sum_{s=1}^{S} p\left(y_i \mid \theta_s^{(-i)}\right),
    \qquad \theta_s^{(-i)} \sim p(\theta \mid y_{-i}),

where the draws come from the refit with ``mother_weight[i] = 0``. Its standard error
is :math:`\sqrt{n \operatorname{Var}_i(\mathrm{elpd}_i)}` and the effective number of
parameters is :math:`p_{\mathrm{lomo}} = \mathrm{lppd} - \mathrm{elpd}_{\mathrm{lomo}}`,
with :math:`\mathrm{lppd} = \sum_i \log \frac1S \sum_s p(y_i \mid \theta_s)` from the
full-data fit.

**The held-out mother's own intercept.** In the hierarchical model
:math:`\alpha_i = \mu_\alpha + \sigma_\alpha z_i` with :math:`z_i \sim N(0, 1)` (non-centred).
When mother :math:`i` is held out her :math:`z_i` has no likelihood, so in the refit
its posterior *is* its prior, and the predictive density of a new mother is

.. math::

    p(y_i \mid \theta^{(-i)}) = \int p(y_i \mid \alpha_i(z), \theta^{(-i)})\,
        \phi(z)\,dz .

Using the refit's own draws of :math:`z_i` is a valid but noisy Monte Carlo estimate
of that integral (one :math:`z` per :math:`\theta` draw; when :math:`\sigma_\alpha \gg \sigma` few
draws land where the likelihood is). When the model names its standardised
intercept offset (``intercept=("z_name", "mother_dim")``) we instead integrate
:math:`z` out for every draw by *adaptive* Gauss-Hermite quadrature (Liu & Pierce
1994): with :math:`h(z) = \log p(y_i \mid z, \theta_s) + \log\phi(z)`, its mode
:math:`m_s` and curvature scale :math:`s_s = (-h''(m_s))^{-1/2}`,

.. math::

    \int e^{h(z)}dz \approx \sum_k \sqrt2\, s_s\, w_k\, e^{x_k^2}\,
        e^{h(m_s + \sqrt2 s_s x_k)} .

Plain Gauss-Hermite on :math:`\phi` is not enough: when the between-mother sd
:math:`\sigma_\alpha` is large against the residual sd :math:`\sigma` (as with milk volumes) the
integrand is a spike of width about :math:`\sigma/\sigma_\alpha` that fixed nodes straddle. The
adaptive rule matches the closed-form bivariate normal marginal to 1e-8 in the
tests. The full-data fit's draws of :math:`z_i` must never be used: they would leak
the held-out mother's own data into her prediction. Her covariates, in contrast,
are known at prediction time: her time effect :math:`\tau_i` uses the modifier and
subgroup effects learned from the other mothers (a subgroup she shares with no one
falls back to its population distribution the same way, its offset having no data).

**Why pointwise PSIS-LOO fails here.** PSIS-LOO reweights the full-data posterior by
:math:`1/p(y_i \mid \theta_s)`. Leaving out one of a mother's two observations, or the
mother herself, moves her intercept's posterior from "pinned by her data" to "her
prior": the importance ratios then have a heavy right tail and the Pareto shape
:math:`\hat k` exceeds the reliability threshold
:math:`\min(1 - 1/\log_{10} S, 0.7)` (Vehtari et al. 2024). With one parameter per
two observations, each observation is highly influential by construction. We report
PSIS-LOO only with its :math:`\hat k`, and give its elpd only where every :math:`\hat k`
is below the threshold; exact LOMO is the estimate we rely on.

**Refitting only where needed ("reloo").** PSIS-LOO by mother and the exact refit
estimate the same :math:`\log p(y_i \mid y_{-i})`; the first is reliable exactly when
its :math:`\hat k` is small. :func:`lomo_cv` with ``psis=`` therefore refits only the
mothers whose :math:`\hat k` exceeds the threshold and keeps the PSIS value for the
others (Vehtari, Gelman & Gabry 2017, section 2.1; brms and ArviZ ``reloo``). The
paired-change models, with no per-mother parameter, usually need no refit at all;
the hierarchical model needs one for most mothers. :attr:`LomoResult.refitted` names
them.

**Stacking.** Weights :math:`w` on the simplex maximise the log score
:math:`\sum_i \log \sum_k w_k \exp(\mathrm{elpd}_{ik})` (Yao et al. 2018). We hand the
LOMO pointwise values to :func:`arviz_stats.compare` as ``ELPDDataLOOKFold`` (LOMO is
K-fold CV with one fold per mother), so ArviZ does the optimisation. Stacking
needs the models to predict the *same* data: models of the change
:math:`d_i = \mathrm{post}_i - \mathrm{pre}_i` and models of the pair
:math:`(\mathrm{pre}_i, \mathrm{post}_i)` are compared only within their own target.

References
----------
.. [1] Vehtari, A., Gelman, A., Gabry, J. (2017). Practical Bayesian model evaluation
   using leave-one-out cross-validation and WAIC. Statistics and Computing 27, 1413-1432.
.. [2] Vehtari, A., Simpson, D., Gelman, A., Yao, Y., Gabry, J. (2024). Pareto smoothed
   importance sampling. JMLR 25(72).
.. [3] Yao, Y., Vehtari, A., Simpson, D., Gelman, A. (2018). Using stacking to average
   Bayesian predictive distributions. Bayesian Analysis 13(3), 917-1007.
.. [4] Liu, Q., Pierce, D. A. (1994). A note on Gauss-Hermite quadrature.
   Biometrika 81(3), 624-629.
.. [5] Kruschke, J. K. (2018). Rejecting or accepting parameter values in Bayesian
   estimation. Advances in Methods and Practices in Psychological Science 1(2), 270-280.
"""

from milkbayes.comparison.choice import (
    KFOLD_K,
    MAX_EXACT_REFITS,
    MethodChoice,
    choose_method,
    fold_assignment,
)
from milkbayes.comparison.lomo import LomoResult, kfold_cv, lomo_cv
from milkbayes.comparison.pointwise import PointwiseLogLik, mother_rows, stacked_draws
from milkbayes.comparison.psis import PsisResult, psis_by_mother, relative_ess
from milkbayes.comparison.quadrature import (
    DEFAULT_QUADRATURE_NODES,
    gauss_hermite_normal,
    log_mean_exp,
    marginalise_intercept,
)
from milkbayes.comparison.stacking import (
    NOISE_ELPD,
    NOISE_SE_MULTIPLE,
    ComparisonRow,
    compare_models,
    pseudo_bma_weights,
    stacking_weights,
    within_noise,
)
from milkbayes.comparison.tables import (
    FreqVsBayesRow,
    PriorRow,
    freq_vs_bayes_table,
    level_label,
    rope_statement,
    three_prior_table,
)

__all__ = [
    "DEFAULT_QUADRATURE_NODES",
    "KFOLD_K",
    "MAX_EXACT_REFITS",
    "NOISE_ELPD",
    "NOISE_SE_MULTIPLE",
    "ComparisonRow",
    "FreqVsBayesRow",
    "LomoResult",
    "MethodChoice",
    "PointwiseLogLik",
    "PriorRow",
    "PsisResult",
    "choose_method",
    "compare_models",
    "fold_assignment",
    "freq_vs_bayes_table",
    "level_label",
    "gauss_hermite_normal",
    "kfold_cv",
    "lomo_cv",
    "log_mean_exp",
    "marginalise_intercept",
    "mother_rows",
    "psis_by_mother",
    "relative_ess",
    "rope_statement",
    "stacked_draws",
    "pseudo_bma_weights",
    "stacking_weights",
    "within_noise",
    "three_prior_table",
]
