r"""two_arm: group x time for the nonequivalent-control-group design (difference in differences).

Only for data with a control arm. In a one-group study the pre/post change mixes the
massage with everything else that changes over three days (lactation normally rises
in the first weeks, mothers practise expressing, regression to the mean); a control
arm measured at the same times estimates that natural trend, and the massage effect
is the difference between the two arms' changes.

Notes
-----
Observation :math:`j` of mother :math:`i`, arm :math:`g_i \in \{0 = control, 1 = massage\}`,
time :math:`t_j \in \{0, 1\}`:

.. math::

    y_j &\sim N(\eta_j, \sigma) \quad\text{or}\quad t_\nu(\eta_j, \sigma) \\
    \eta_j &= \alpha + \sigma_\alpha z_i + \gamma g_i + \theta t_j + \beta\, g_i t_j,
      \qquad z_i \sim N(0, 1) \\
    \alpha &\sim N(m + \mu_\alpha c, s_\alpha c), \quad
    \gamma \sim N(0, s_\gamma c), \quad
    \theta \sim N(\mu_\theta c, s_\theta c), \quad
    \beta \sim N(\mu_\beta c, s_\beta c)

:math:`\theta` (``trend``) is the change without massage and :math:`\beta` (``effect``)
the massage effect in outcome units; :math:`\gamma` absorbs the baseline difference
between the nonequivalent arms. Each mother's log-likelihood is multiplied by her
``mother_weight``.

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
    """Long-format arrays with the arm of each mother.

    Raises
    ------
    ModelError
        When only one arm is present.
    """
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    massage = (study.table["group"] == "massage").to_numpy(dtype=float)
    require_both_arms(massage, MISSING_CONTROL)
    long = study.long()
    centre, scale = outcome_scaling(study)
    return ModelInputs(
        data={
            "y": long["y"].to_numpy(dtype=float),
            "mother_idx": long["mother"].to_numpy(dtype=np.int64),
            "time": long["time"].to_numpy(dtype=float),
            "massage": massage,
            "mother_weight": np.ones(study.n),
            "y_centre": np.asarray(centre),
            "y_scale": np.asarray(scale),
        },
        coords={"mother": list(study.ids), "obs": list(range(len(long)))},
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

    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    require_both_arms(inputs.data["massage"], MISSING_CONTROL)
    with pm.Model(coords=inputs.coords) as model:
        # data
        y = pm.Data("y", inputs.data["y"], dims="obs")
        mother_idx = pm.Data("mother_idx", inputs.data["mother_idx"], dims="obs")
        time = pm.Data("time", inputs.data["time"], dims="obs")
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
        mother_z = pm.Normal("mother_z", 0.0, 1.0, dims="mother")
        group = pm.Normal("group_difference", 0.0, p["group_sigma"] * y_scale)
        trend = pm.Normal("trend", p["trend_mu"] * y_scale, p["trend_sigma"] * y_scale)
        effect = pm.Normal(EFFECT, p["effect_mu"] * y_scale, p["effect_sigma"] * y_scale)
        sigma = pm.HalfNormal("sigma", sigma=p["sigma"] * y_scale)
        arm = massage[mother_idx]
        eta = (
            intercept
            + mother_sd * mother_z[mother_idx]
            + group * arm
            + trend * time
            + effect * arm * time
        )
        # likelihood
        if likelihood == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=p["nu_rate"])
            observed = pm.StudentT("y_obs", nu=nu, mu=eta, sigma=sigma, observed=y, dims="obs")
        else:
            observed = pm.Normal("y_obs", mu=eta, sigma=sigma, observed=y, dims="obs")
        weight_likelihood(observed, y, weight[mother_idx])
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
