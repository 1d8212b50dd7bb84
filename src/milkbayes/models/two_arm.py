r"""two_arm: group x time for the nonequivalent-control-group design (difference in differences).

Only for data with a control arm. In a one-group study the pre/post change mixes the
massage with everything else that changes over three days (lactation normally rises
in the first weeks, mothers practise expressing, regression to the mean); a control
arm measured at the same times estimates that natural trend, and the massage effect
is the difference between the two arms' changes.

Notes
-----
Mother :math:`i` in arm :math:`g_i \in \{0 = control, 1 = massage\}` has the level
:math:`\alpha + \gamma g_i + \sigma_\alpha z_i` (:math:`z_i \sim N(0, 1)`), and her
measurements at times :math:`t \in \{0, 1\}` are that level plus
:math:`\theta t + \beta g_i t` plus an error of sd :math:`\sigma`:

.. math::

    \alpha &\sim N(m + \mu_\alpha c, s_\alpha c), \quad
    \gamma \sim N(0, s_\gamma c), \quad
    \theta \sim N(\mu_\theta c, s_\theta c), \quad
    \beta \sim N(\mu_\beta c, s_\beta c)

:math:`\theta` (``trend``) is the change without massage and :math:`\beta` (``effect``)
the massage effect in outcome units; :math:`\gamma` absorbs the baseline difference
between the nonequivalent arms.

*The mothers' levels are integrated out.* With normal errors the model gives each
mother's pair :math:`y_i = (\mathrm{pre}_i, \mathrm{post}_i)` the bivariate normal

.. math::

    y_i \sim \mathrm{MvNormal}(\mu_i, \Sigma), \qquad
    \mu_i = \begin{pmatrix} \alpha + \gamma g_i \\
      \alpha + \gamma g_i + \theta + \beta g_i \end{pmatrix}, \qquad
    \Sigma = \sigma_\alpha^2 \mathbf 1 \mathbf 1^\top + \sigma^2 I,

which is what the normal likelihood samples: the same model and the same posterior of
every parameter, without the :math:`n` offsets :math:`z_i`. Sampled, the offsets mix
badly: when a mother's pair pins her level (:math:`\sigma_\alpha` large against
:math:`\sigma`, as in most pre/post data), :math:`\alpha` and :math:`\gamma` trade off
against the arms' means of the :math:`z_i`; at 2 x 300 draws the bulk ESS of
:math:`\alpha`, :math:`\gamma` and :math:`\sigma_\alpha` was 13 to 94 (R-hat up to
1.13) on ``examples/my_study.csv`` and on the acupuncture trial of the tests, against
266 to 429 marginalised. Each mother's log-likelihood is one number, the density of
her pair, which is what leave-one-mother-out cross-validation predicts
(``PREDICTS = "pre_post"``); PSIS-LOO by mother then needs no refit for a mother whose
level the full fit had pinned.

*Student-t.* The robust likelihood is the bivariate Student-t with the same location
and scale matrix, :math:`y_i \sim t_\nu(\mu_i, \Sigma)` (Lange, Little & Taylor 1989):
heavy tails per mother, whose two measurements share one scale-mixing weight, so a
mother far from her arm (in either measurement) is down-weighted as a whole. The
per-measurement version (independent t errors around a sampled level) has no closed
form for the pair and kept the offsets' poor mixing even at 4 x 1000 draws (bulk ESS
141 to 379, R-hat up to 1.037, in 10 of 10 fits). Each mother's log-likelihood is
multiplied by her ``mother_weight``.

*Parallel trends.* :math:`\beta` is the massage effect only if, without massage,
the massage arm would have changed as much as the control arm did (the same
:math:`\theta` in both arms). Nothing in the data can check this with two time
points. It fails when the arms differ at baseline for reasons that also move their
change: an arm selected for low pre values regresses upwards towards the mean, and
the difference in differences counts that as an effect. Under randomisation the
baseline-adjusted comparison (:mod:`milkbayes.models.ancova`, Vickers & Altman 2001)
needs no such assumption and is more precise.

References
----------
Shadish WR, Cook TD, Campbell DT (2002). Experimental and Quasi-Experimental Designs
for Generalized Causal Inference, chapter 5. Houghton Mifflin.
Lange KL, Little RJA, Taylor JMG (1989). Robust statistical modeling using the t
distribution. Journal of the American Statistical Association 84(408), 881-896.
Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and follow
up measurements. BMJ 323, 1123-1124.

Examples
--------
>>> import pandas as pd
>>> from milkbayes.data.study import study_from_frame
>>> one_group = study_from_frame(pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 2.0],
...                                            "post": [2.0, 4.0]}))
>>> inputs(one_group)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
milkbayes.errors.ModelError: two_arm needs a control arm, but every participant is in ...
"""

from __future__ import annotations

import sys

import numpy as np

from milkbayes.models.contract import (
    ModelInputs,
    check_likelihood,
    outcome_scaling,
    prior_data,
    require_both_arms,
    weight_likelihood,
)

NAME = "two_arm"
DESIGN = "two_arm"
"""Fits both arms (one-group models get the massage arm only: ``contract.design_rows``)."""
LIKELIHOODS = ("normal", "student_t")
EFFECT = "effect"
PREDICTS = "pre_post"
"""A mother's log-likelihood is the density of both her measurements."""

TIMES = ["pre", "post"]

NEEDS_CONTROL_ARM = True
"""Without a control arm the trend and the effect are not separately identified."""

MISSING_CONTROL = (
    "two_arm needs a control arm, but every participant is in the {arm} group: without "
    "control mothers measured at the same times, the natural pre-to-post trend and the "
    "massage effect are not separately identified (any split of the change between them "
    "fits equally well). Use prepost_hierarchical or paired_change, whose 'effect' is the "
    "trend plus the massage effect."
)


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """Each mother's (pre, post) pair and her arm.

    Raises
    ------
    ModelError
        When only one arm is present.
    """
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    massage = (study.table["group"] == "massage").to_numpy(dtype=float)
    require_both_arms(massage, MISSING_CONTROL)
    centre, scale = outcome_scaling(study)
    return ModelInputs(
        data={
            "y": study.table[["pre", "post"]].to_numpy(dtype=float),
            "massage": massage,
            "mother_weight": np.ones(study.n),
            "y_centre": np.asarray(centre),
            "y_scale": np.asarray(scale),
        },
        coords={"mother": list(study.ids), "time": list(TIMES)},
        meta={
            "n": study.n,
            "n_massage": int(massage.sum()),
            "n_control": int((1 - massage).sum()),
            "kind": study.outcome.kind,
            "unit": study.outcome.unit,
            "likelihood": likelihood,
        },
    )


def build(inputs: ModelInputs, prior, likelihood: str | None = None):
    """The PyMC model (see the module docstring); ModelError on single-arm data."""
    import pymc as pm
    import pytensor.tensor as pt

    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    require_both_arms(inputs.data["massage"], MISSING_CONTROL)
    with pm.Model(coords=inputs.coords) as model:
        # data
        y = pm.Data("y", inputs.data["y"], dims=("mother", "time"))
        massage = pm.Data("massage", inputs.data["massage"], dims="mother")
        weight = pm.Data("mother_weight", inputs.data["mother_weight"], dims="mother")
        y_centre = pm.Data("y_centre", inputs.data["y_centre"])
        y_scale = pm.Data("y_scale", inputs.data["y_scale"])
        p = prior_data(prior)
        # priors
        intercept = pm.Normal(
            "intercept",
            mu=y_centre + p["intercept_mu"] * y_scale,
            sigma=p["intercept_sigma"] * y_scale,
        )
        mother_sd = pm.HalfNormal("mother_sd", sigma=p["mother_sd"] * y_scale)
        group = pm.Normal("group_difference", 0.0, p["group_sigma"] * y_scale)
        trend = pm.Normal("trend", p["trend_mu"] * y_scale, p["trend_sigma"] * y_scale)
        effect = pm.Normal(EFFECT, p["effect_mu"] * y_scale, p["effect_sigma"] * y_scale)
        sigma = pm.HalfNormal("sigma", sigma=p["sigma"] * y_scale)
        level = intercept + group * massage
        mean = pt.stack([level, level + trend + effect * massage], axis=1)
        # Cholesky factor of mother_sd**2 * 11' + sigma**2 * I (compound symmetry)
        total = pt.sqrt(mother_sd**2 + sigma**2)
        shared = mother_sd**2 / total
        chol = pt.stack(
            [
                pt.stack([total, pt.zeros(())]),
                pt.stack([shared, pt.sqrt(total**2 - shared**2)]),
            ]
        )
        # likelihood
        if likelihood == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=p["nu_rate"])
            observed = pm.MvStudentT(
                "y_obs", nu=nu, mu=mean, chol=chol, observed=y, dims=("mother", "time")
            )
        else:
            observed = pm.MvNormal("y_obs", mu=mean, chol=chol, observed=y, dims=("mother", "time"))
        weight_likelihood(observed, y, weight)
        pm.Deterministic("change_massage", trend + effect)
    return model


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """The natural trend (control arm's change) beside the effect."""
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    trend = np.asarray(post["trend"]).ravel()
    return {
        "trend_median": float(np.median(trend)),
        "trend_ci95_low": float(np.quantile(trend, 0.025)),
        "trend_ci95_high": float(np.quantile(trend, 0.975)),
        "n_massage": inputs.meta["n_massage"],
        "n_control": inputs.meta["n_control"],
    }


def main(argv=None) -> int:
    """Fit the data and print the summary (``--help`` for options)."""
    # The script hands over to the engine at run time only: the models layer
    # imports nothing above it, so the engine can import every model.
    from milkbayes.engine.script import run_model_script

    return run_model_script(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
