r"""ancova: post ~ pre + arm, the baseline-adjusted comparison of two arms.

For data with a control arm. Each mother's post measurement is regressed on her own
pre measurement and her arm (analysis of covariance, ANCOVA). In a randomised trial
this is the most precise of the usual pre/post analyses: it beats both the analysis
of change scores and the comparison of post values alone whatever the pre-post
correlation (Vickers & Altman 2001; Senn 2006). It does not need the parallel-trends
assumption of the difference in differences (:mod:`milkbayes.models.two_arm`): arms
that differ by chance at baseline are compared at the same pre value, so regression
to the mean does not pass for an effect.

Notes
-----
Mother :math:`i` with arm :math:`g_i \in \{0 = \text{control}, 1 = \text{massage}\}`:

.. math::

    \mathrm{post}_i &\sim N(\alpha + b\,(\mathrm{pre}_i - \overline{\mathrm{pre}})
      + \beta g_i, \sigma) \quad\text{or}\quad t_\nu(\cdot, \sigma),
      \quad \nu \sim \Gamma(2, \lambda_\nu) \\
    \alpha &\sim N(m + \mu_\alpha c, s_\alpha c), \quad b \sim N(\mu_b, s_b), \quad
    \beta \sim N(\mu_\beta c, s_\beta c), \quad \sigma \sim \mathrm{HalfNormal}(s_\sigma c)

with :math:`\overline{\mathrm{pre}}` the mean over all the study's mothers (a
covariate, so held-out mothers keep the same centring) and :math:`c, m` the outcome
scale and centre (:func:`milkbayes.models.contract.outcome_scaling`). :math:`\beta`
(``effect``) is the difference between the arms' post means at the same pre value;
with flat priors its posterior mean is the least-squares ANCOVA estimate.
:math:`b` (``baseline_slope``) is unit-free; :math:`b = 1` gives back the analysis of
changes and :math:`b = 0` that of post values alone.

The constrained longitudinal data analysis (cLDA) of Liang & Zeger (2000), which
models pre and post jointly with a common baseline mean for both arms, gives the
same estimate as ANCOVA in large randomised samples (Liu et al. 2009); only ANCOVA is
implemented here. The pre measurement is conditioned on, so a mother's
log-likelihood is the density of her post value given her pre value
(``PREDICTS = "post_given_pre"``). That is the density of her change *given* her pre
value, not the marginal density of the change that ``paired_change`` predicts: the
conditioning adds information, so the two elpds are not comparable and
cross-validation ranks this model only against models of the same target.

References
----------
Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and follow
up measurements. BMJ 323, 1123-1124.
Senn S (2006). Change from baseline and analysis of covariance revisited. Stat Med
25(24), 4334-4344.
Liang K-Y, Zeger SL (2000). Longitudinal data analysis of continuous and discrete
responses for pre-post designs. Sankhya B 62(1), 134-148.
Liu GF, Lu K, Mogg R, Mallick M, Mehrotra DV (2009). Should baseline be a covariate
or dependent variable in analyses of change from baseline in clinical trials? Stat
Med 28(20), 2509-2530.

Examples
--------
>>> from milkbayes.datasets import load_bundled
>>> inputs(load_bundled(), "normal")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
milkbayes.errors.ModelError: ancova needs a control arm, but every participant is in ...
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

NAME = "ancova"
LIKELIHOODS = ("normal", "student_t")
EFFECT = "effect"
PREDICTS = "post_given_pre"
"""A mother's log-likelihood is the density of post given pre (a target of its own)."""

NEEDS_CONTROL_ARM = True
"""Without a control arm the arm effect is not identified (see ``MISSING_CONTROL``)."""

DESIGN = "two_arm"
"""The design the model fits: both arms, every participant."""

MISSING_CONTROL = (
    "ancova needs a control arm, but every participant is in the {arm} group: the "
    "effect is the difference between the arms at the same pre value, and there is "
    "no second arm to compare with. Use prepost_hierarchical, prepost_bivariate or "
    "paired_change, whose 'effect' is the natural trend plus the massage effect."
)


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """Post values, centred pre values, the arms and the outcome scale.

    Raises
    ------
    ModelError
        When only one arm is present.
    """
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    massage = (study.table["group"] == "massage").to_numpy(dtype=float)
    require_both_arms(massage, MISSING_CONTROL)
    pre = study.table["pre"].to_numpy(dtype=float)
    centre, scale = outcome_scaling(study)
    return ModelInputs(
        data={
            "post": study.table["post"].to_numpy(dtype=float),
            "pre_centred": pre - pre.mean(),
            "massage": massage,
            "mother_weight": np.ones(study.n),
            "y_centre": np.asarray(centre),
            "y_scale": np.asarray(scale),
        },
        coords={"mother": list(study.ids)},
        meta={
            "n": study.n,
            "n_massage": int(massage.sum()),
            "n_control": int((1 - massage).sum()),
            "pre_mean": float(pre.mean()),
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
        post = pm.Data("post", inputs.data["post"], dims="mother")
        pre_centred = pm.Data("pre_centred", inputs.data["pre_centred"], dims="mother")
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
        slope = pm.Normal("baseline_slope", p["slope_mu"], p["slope_sigma"])
        effect = pm.Normal(EFFECT, p["effect_mu"] * y_scale, p["effect_sigma"] * y_scale)
        sigma = pm.HalfNormal("sigma", sigma=p["sigma"] * y_scale)
        eta = intercept + slope * pre_centred + effect * massage
        # likelihood
        if likelihood == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=p["nu_rate"])
            observed = pm.StudentT(
                "post_obs", nu=nu, mu=eta, sigma=sigma, observed=post, dims="mother"
            )
        else:
            observed = pm.Normal("post_obs", mu=eta, sigma=sigma, observed=post, dims="mother")
        weight_likelihood(observed, post, weight)
    return model


def ols_ancova(post, pre, massage) -> tuple[float, float]:
    """Least-squares ANCOVA: the arm coefficient of post ~ 1 + pre + massage, and its SE.

    The frequentist counterpart the posterior is reported beside (numpy's ``lstsq``;
    the tests compare it with statsmodels).

    Examples
    --------
    >>> est, se = ols_ancova([3.0, 4.0, 6.0, 8.0], [1.0, 2.0, 1.0, 2.0], [0, 0, 1, 1])
    >>> round(est, 6), round(se, 6)
    (3.5, 0.5)
    """
    post, pre, massage = (np.asarray(v, dtype=float) for v in (post, pre, massage))
    design = np.column_stack([np.ones_like(pre), pre, massage])
    coef, *_ = np.linalg.lstsq(design, post, rcond=None)
    residual = post - design @ coef
    dof = post.size - design.shape[1]
    if dof <= 0:
        return float(coef[2]), float("nan")
    cov = residual @ residual / dof * np.linalg.inv(design.T @ design)
    return float(coef[2]), float(np.sqrt(cov[2, 2]))


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """The baseline slope, the arm sizes and the least-squares ANCOVA estimate beside."""
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    slope = np.asarray(post["baseline_slope"]).ravel()
    keep = np.asarray(inputs.data["mother_weight"], dtype=float) > 0
    est, se = ols_ancova(
        np.asarray(inputs.data["post"])[keep],
        np.asarray(inputs.data["pre_centred"])[keep],
        np.asarray(inputs.data["massage"])[keep],
    )
    return {
        "baseline_slope_median": float(np.median(slope)),
        "baseline_slope_ci95_low": float(np.quantile(slope, 0.025)),
        "baseline_slope_ci95_high": float(np.quantile(slope, 0.975)),
        "ols_effect": est,
        "ols_effect_se": se,
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
