r"""prepost_hierarchical: per-mother intercepts and a time effect modified by covariates.

The flagship model. Both measurements of every mother enter in long format
(:meth:`milkbayes.data.study.Study.long`); each mother has her own level, and the change
from pre to post (the massage effect, in a one-group study confounded with any
natural three-day trend) depends on her work duration and parity and, partially
pooled, on her occupation, education and age group.

Notes
-----
Observation :math:`j` belongs to mother :math:`i = i[j]` at time :math:`t_j \in \{0,1\}`:

.. math::

    \eta_j &= \alpha + \sigma_\alpha z_{i} + t_j \, \tau_{i}, \qquad z_i \sim N(0, 1)
      \quad\text{(non-centred mother intercepts)} \\
    \tau_i &= \beta + \gamma_w (x^{w}_i - \bar x^w) + \gamma_p (x^{p}_i - \bar x^p)
      + \sum_{g \in \{occ, edu, age\}} (u^{g}_{k_g(i)} - \bar u^g) \\
    u^{g}_k &= s_g \, v^{g}_k, \quad v^{g}_k \sim N(0, 1), \quad
      s_g \sim \mathrm{HalfNormal}(s_u) \quad\text{(partial pooling)}

Coding (sample-centred): :math:`x^w_i = 1[\text{long}]` and
:math:`x^p_i = 1[\text{multipara}]` enter as :math:`x_i - \bar x`, and each pooled
deviation as :math:`u^g_{k} - \bar u^g`, with :math:`\bar u^g = \sum_k \pi^g_k u^g_k`
and :math:`\pi^g_k` the share of the study's mothers in level :math:`k`; the bars
average over all the mothers of the data. Hence :math:`\beta` (``effect``) is exactly
the average of the mothers' effects :math:`\tau_i` in this sample, the average
massage effect, and its prior is the prior set's normal distribution; :math:`\gamma`
is the long-minus-short (multipara-minus-primipara) difference in effect, and
``effect_<covariate>`` is the effect in each level. Covariates absent from the data,
or with a single level present, are skipped (``meta["skipped"]`` says which and why).
The centring uses covariates only, never outcomes, so a mother held out by
``mother_weight = 0`` still counts in it: her covariates are known when her outcome
is predicted, and every leave-one-mother-out refit keeps the same meaning of
:math:`\beta`.

Likelihoods, with :math:`c, m` the outcome scale and centre
(:func:`milkbayes.models.contract.outcome_scaling`) multiplying the prior values:

* ``normal``: :math:`y_j \sim N(\eta_j, \sigma)`, :math:`\alpha \sim N(m + \mu_\alpha c,
  s_\alpha c)`, :math:`\beta \sim N(\mu_\beta c, s_\beta c)`;
* ``student_t``: :math:`y_j \sim t_\nu(\eta_j, \sigma)`, :math:`\nu \sim \Gamma(2, \lambda_\nu)`;
* ``lognormal``: :math:`\log y_j \sim N(\eta_j, \sigma)` with the ``log_*`` priors; the
  effect is multiplicative: ``effect_pct`` :math:`= 100(e^{\beta} - 1)` and
  ``effect`` :math:`= e^{\alpha}(e^{\beta} - 1)` is the change in the median of a
  typical mother, in outcome units (volumes must be > 0);
* ``ordered_logistic`` (scores only): :math:`y_j \sim \mathrm{OrderedLogistic}(\eta_j,
  \kappa)` with :math:`\alpha = 0`, ordered cutpoints
  :math:`\kappa_1 < \dots < \kappa_K`, :math:`\kappa_j \sim N(\mathrm{logit}(j/(K+1)),
  s_\kappa)` (centred where every score is equally likely), :math:`K` = ``max_score``;
  ``effect`` is on the log-odds scale.

Each observation's log-likelihood is multiplied by its mother's ``mother_weight``.
Subgroup effects are deterministics ``effect_<covariate>`` with one value per level.

References
----------
Gelman A, Hill J (2007). Data Analysis Using Regression and Multilevel/Hierarchical
Models, chapters 12-13. Cambridge University Press.
"""

from __future__ import annotations

import sys

import numpy as np

from milkbayes.errors import ModelError
from milkbayes.models.contract import (
    ModelInputs,
    check_likelihood,
    outcome_scaling,
    prior_data,
    weight_likelihood,
)

NAME = "prepost_hierarchical"
LIKELIHOODS = ("normal", "student_t", "lognormal", "ordered_logistic")
EFFECT = "effect"
PREDICTS = "pre_post"
"""A mother's log-likelihood is the density of both her measurements."""
TARGET_ACCEPT = 0.95
"""nutpie's adaptation target for this model: its variance components make a funnel
that the engine's default, 0.9, does not always cross without a divergent transition
(1 in 4 x 2000 draws at the default seed); 0.95 leaves none there."""

DRAWS = 2000
"""Draws per chain by default: the variance partition (``mother_sd`` against ``sigma``,
two measurements per mother) mixes slowly, and at 4 x 1000 draws 4 of 30 seeds left
``mother_sd`` with a bulk or tail ESS below 400 or R-hat above 1.01 on the bundled
data; at 4 x 2000 none of the same 30 seeds did."""

BINARY_MODIFIERS = {"work_duration": "long", "parity": "multipara"}
"""Modifiers with a fixed effect, and the level coded 1 (before centring)."""

POOLED_MODIFIERS = ("occupation", "education", "age_group")
"""Modifiers with partially pooled effects."""

DESIGN_DATA = ("mother_idx", "time", "x_*", "idx_*", "share_*")
"""Data that describe the design, not the outcomes (``fnmatch`` patterns).

The fitting engine compiles them into the model as constants, so that indexing and
centring are specialised: less time per gradient and a shorter compilation (figures in
``benchmarks/README.md``); fits whose design differs compile anew. Outcomes, weights and prior
values stay swappable. The assumption ensemble, whose reconstructions each arrange the
covariates differently, fits a copy that reads the codings as data
(:func:`milkbayes.sensitivity.ensemble.lean_model`): one compilation for all its members.
The main fits keep the codings frozen although reading them as data would let the
ensemble refit the main fits' compiled model (one compilation fewer with empty caches):
every gradient would then cost about a quarter more, in every fit and refit.
"""


def _mother_table(study):
    return study.table.reset_index(drop=True)


def _long_arrays(study) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y``, ``mother`` and ``time`` of ``study.long()``, as arrays.

    Two rows per mother in table order, pre then post: the columns the model reads,
    without building the long table (most of the time of :func:`inputs`, which the
    reconstruction ensemble calls once per member).

    Examples
    --------
    >>> import pandas as pd
    >>> from milkbayes.data.study import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": ["x", "y"], "pre": [1.0, 2.0],
    ...                                    "post": [3.0, 5.0]}))
    >>> [a.tolist() for a in _long_arrays(s)]
    [[1.0, 3.0, 2.0, 5.0], [0, 0, 1, 1], [0.0, 1.0, 0.0, 1.0]]
    """
    table = study.table
    pre = table["pre"].to_numpy(dtype=float)
    post = table["post"].to_numpy(dtype=float)
    n = len(pre)
    y = np.column_stack((pre, post)).reshape(-1)
    mother = np.repeat(np.arange(n, dtype=np.int64), 2)
    time = np.tile(np.array([0.0, 1.0]), n)
    return y, mother, time


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """Long-format arrays, covariate codings and the outcome scale.

    Raises
    ------
    ModelError
        Ordered logistic on a non-score outcome or on non-integer scores; log-normal
        with a measurement that is not > 0.
    """
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    y, mother, time = _long_arrays(study)
    if likelihood == "ordered_logistic":
        if study.outcome.kind != "score":
            raise ModelError(
                "the ordered-logistic likelihood is for scores; these data are "
                f"of kind {study.outcome.kind!r}"
            )
        if (
            not np.all(np.equal(np.mod(y, 1), 0))
            or y.min() < 0
            or y.max() > study.outcome.max_score
        ):
            raise ModelError(f"ordered logistic needs whole scores 0..{study.outcome.max_score}")
    if likelihood == "lognormal" and not np.all(y > 0):
        long = study.long()
        bad = long.loc[~(long["y"] > 0)].iloc[0]
        raise ModelError(
            f"the log-normal likelihood needs every measurement > 0; mother "
            f"{bad['id']} has {'post' if bad['time'] else 'pre'} = {bad['y']}"
        )
    centre, scale = outcome_scaling(study)
    table = _mother_table(study)
    data = {
        "y": y.astype(np.int64) if likelihood == "ordered_logistic" else y,
        "mother_idx": mother,
        "time": time,
        "mother_weight": np.ones(study.n),
        "y_centre": np.asarray(centre),
        "y_scale": np.asarray(scale),
    }
    coords: dict[str, list] = {"mother": list(study.ids), "obs": list(range(len(y)))}
    meta: dict = {
        "n": study.n,
        "kind": study.outcome.kind,
        "unit": study.outcome.unit,
        "likelihood": likelihood,
        "skipped": {},
        "modifiers": [],
        "pooled": [],
        "level_counts": {},
    }
    for column, level in BINARY_MODIFIERS.items():
        if column not in table.columns:
            meta["skipped"][column] = "not in the data"
            continue
        indicator = (table[column] == level).to_numpy(dtype=float)
        if indicator.min() == indicator.max():
            meta["skipped"][column] = "only one level present"
            continue
        data[f"x_{column}"] = indicator - indicator.mean()
        meta["modifiers"].append(column)
        levels = [lv for lv in table[column].cat.categories if (table[column] == lv).any()]
        coords[f"{column}_level"] = levels
        meta["level_counts"][column] = {lv: int((table[column] == lv).sum()) for lv in levels}
        meta[f"{column}_codes"] = {lv: float(lv == level) - indicator.mean() for lv in levels}
    for column in POOLED_MODIFIERS:
        if column not in table.columns:
            meta["skipped"][column] = "not in the data"
            continue
        levels = [lv for lv in table[column].cat.categories if (table[column] == lv).any()]
        if len(levels) < 2:
            meta["skipped"][column] = "only one level present"
            continue
        codes = {lv: k for k, lv in enumerate(levels)}
        data[f"idx_{column}"] = table[column].map(codes).to_numpy(dtype=np.int64)
        data[f"share_{column}"] = (
            np.bincount(data[f"idx_{column}"], minlength=len(levels)) / study.n
        )
        coords[f"{column}_level"] = levels
        meta["pooled"].append(column)
        meta["level_counts"][column] = {lv: int((table[column] == lv).sum()) for lv in levels}
    if likelihood == "ordered_logistic":
        coords["cutpoint"] = list(range(1, study.outcome.max_score + 1))
    return ModelInputs(data=data, coords=coords, meta=meta)


def _scale_priors(p: dict, likelihood: str, y_centre, y_scale) -> dict:
    """Prior hyperparameters of the chosen likelihood, in the model's units."""
    if likelihood == "lognormal":
        return {
            "intercept": (p["log_intercept_mu"], p["log_intercept_sigma"]),
            "mother_sd": p["log_mother_sd"],
            "effect": (p["log_effect_mu"], p["log_effect_sigma"]),
            "modifier": p["log_modifier_sigma"],
            "subgroup_sd": p["log_subgroup_sd"],
            "sigma": p["log_sigma"],
        }
    if likelihood == "ordered_logistic":
        return {
            "mother_sd": p["logit_mother_sd"],
            "effect": (p["logit_effect_mu"], p["logit_effect_sigma"]),
            "modifier": p["logit_modifier_sigma"],
            "subgroup_sd": p["logit_subgroup_sd"],
            "cutpoint_sigma": p["cutpoint_sigma"],
        }
    return {
        "intercept": (y_centre + p["intercept_mu"] * y_scale, p["intercept_sigma"] * y_scale),
        "mother_sd": p["mother_sd"] * y_scale,
        "effect": (p["effect_mu"] * y_scale, p["effect_sigma"] * y_scale),
        "modifier": p["modifier_sigma"] * y_scale,
        "subgroup_sd": p["subgroup_sd"] * y_scale,
        "sigma": p["sigma"] * y_scale,
        "nu_rate": p["nu_rate"],
    }


def _uniform_cutpoints(k: int) -> np.ndarray:
    """logit(j / (k + 1)), j = 1..k: cutpoints giving every category equal probability.

    The prior mean of the cutpoints, and (being increasing) a valid start for the
    ordered transform.

    Examples
    --------
    >>> _uniform_cutpoints(3).round(3).tolist()
    [-1.099, 0.0, 1.099]
    """
    from scipy.special import logit

    return logit(np.arange(1, k + 1) / (k + 1))


def build(inputs: ModelInputs, prior, likelihood: str | None = None):
    """The PyMC model (see the module docstring for the maths)."""
    import pymc as pm
    import pytensor.tensor as pt

    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    if likelihood != inputs.meta.get("likelihood", likelihood):
        raise ModelError(
            f"inputs were prepared for {inputs.meta['likelihood']!r}, "
            f"not {likelihood!r}; call inputs() again"
        )
    meta = inputs.meta
    with pm.Model(coords=inputs.coords) as model:
        # data
        y = pm.Data("y", inputs.data["y"], dims="obs")
        mother_idx = pm.Data("mother_idx", inputs.data["mother_idx"], dims="obs")
        time = pm.Data("time", inputs.data["time"], dims="obs")
        weight = pm.Data("mother_weight", inputs.data["mother_weight"], dims="mother")
        y_centre = pm.Data("y_centre", inputs.data["y_centre"])
        y_scale = pm.Data("y_scale", inputs.data["y_scale"])
        x = {c: pm.Data(f"x_{c}", inputs.data[f"x_{c}"], dims="mother") for c in meta["modifiers"]}
        idx = {
            c: pm.Data(f"idx_{c}", inputs.data[f"idx_{c}"], dims="mother") for c in meta["pooled"]
        }
        share = {
            c: pm.Data(f"share_{c}", inputs.data[f"share_{c}"], dims=f"{c}_level")
            for c in meta["pooled"]
        }
        h = _scale_priors(prior_data(prior), likelihood, y_centre, y_scale)

        # priors
        mother_sd = pm.HalfNormal("mother_sd", sigma=h["mother_sd"])
        mother_z = pm.Normal("mother_z", 0.0, 1.0, dims="mother")
        effect_base = pm.Normal(
            "effect_base" if likelihood == "lognormal" else EFFECT,
            mu=h["effect"][0],
            sigma=h["effect"][1],
        )
        tau = effect_base + pt.zeros(len(inputs.coords["mother"]))
        subgroup_terms = {}
        for column in meta["modifiers"]:  # x is centred on the sample already
            gamma = pm.Normal(f"modifier_{column}", 0.0, h["modifier"])
            tau = tau + gamma * x[column]
            codes = np.array(
                [meta[f"{column}_codes"][lv] for lv in inputs.coords[f"{column}_level"]]
            )
            subgroup_terms[column] = gamma * codes
        for column in meta["pooled"]:
            sd = pm.HalfNormal(f"sd_{column}", sigma=h["subgroup_sd"])
            raw = pm.Normal(f"z_{column}", 0.0, 1.0, dims=f"{column}_level")
            deviation = pm.Deterministic(f"u_{column}", sd * raw, dims=f"{column}_level")
            # an elementwise product and a sum, not pt.dot: numba calls BLAS for a dot,
            # which costs more than the whole product at these sizes
            centred = deviation - (share[column] * deviation).sum()
            tau = tau + centred[idx[column]]
            subgroup_terms[column] = centred
        tau = pm.Deterministic("effect_mother", tau, dims="mother")
        for column, term in subgroup_terms.items():
            pm.Deterministic(f"effect_{column}", effect_base + term, dims=f"{column}_level")

        if likelihood == "ordered_logistic":
            eta = mother_sd * mother_z[mother_idx] + time * tau[mother_idx]
        else:
            intercept = pm.Normal("intercept", mu=h["intercept"][0], sigma=h["intercept"][1])
            eta = intercept + mother_sd * mother_z[mother_idx] + time * tau[mother_idx]

        # likelihood
        obs_weight = weight[mother_idx]
        if likelihood == "ordered_logistic":
            cutpoints = pm.Normal(
                "cutpoints",
                mu=_uniform_cutpoints(len(inputs.coords["cutpoint"])),
                sigma=h["cutpoint_sigma"],
                dims="cutpoint",
                transform=pm.distributions.transforms.ordered,
            )
            observed = pm.OrderedLogistic(
                "y_obs", eta=eta, cutpoints=cutpoints, compute_p=False, observed=y, dims="obs"
            )
        else:
            sigma = pm.HalfNormal("sigma", sigma=h["sigma"])
            if likelihood == "student_t":
                nu = pm.Gamma("nu", alpha=2.0, beta=h["nu_rate"])
                observed = pm.StudentT("y_obs", nu=nu, mu=eta, sigma=sigma, observed=y, dims="obs")
            elif likelihood == "lognormal":
                observed = pm.LogNormal("y_obs", mu=eta, sigma=sigma, observed=y, dims="obs")
            else:
                observed = pm.Normal("y_obs", mu=eta, sigma=sigma, observed=y, dims="obs")
        weight_likelihood(observed, y, obs_weight)

        if likelihood == "lognormal":
            pm.Deterministic("effect_pct", 100.0 * pt.expm1(effect_base))
            pm.Deterministic(EFFECT, pt.exp(intercept) * pt.expm1(effect_base))
    return model


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """Median and 95 % interval of the effect in every subgroup (and % change).

    Keys: ``subgroup_effects`` (``{covariate: {level: {"median", "ci95_low",
    "ci95_high", "n"}}}``), ``skipped_covariates``, ``effect_scale`` and, for the
    log-normal likelihood, ``effect_pct_median`` with its interval.
    """
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    out: dict = {
        "subgroup_effects": {},
        "skipped_covariates": dict(inputs.meta["skipped"]),
        "effect_scale": {
            "ordered_logistic": "log-odds",
            "lognormal": "outcome units (change in the median)",
        }.get(inputs.meta["likelihood"], "outcome units"),
    }
    for column in (*inputs.meta["modifiers"], *inputs.meta["pooled"]):
        values = post[f"effect_{column}"]
        levels = inputs.coords[f"{column}_level"]
        stacked = np.asarray(values).reshape(-1, len(levels))
        out["subgroup_effects"][column] = {
            level: {
                "median": float(np.median(stacked[:, k])),
                "ci95_low": float(np.quantile(stacked[:, k], 0.025)),
                "ci95_high": float(np.quantile(stacked[:, k], 0.975)),
                "n": inputs.meta["level_counts"][column][level],
            }
            for k, level in enumerate(levels)
        }
    if inputs.meta["likelihood"] == "lognormal":
        pct = np.asarray(post["effect_pct"]).ravel()
        out |= {
            "effect_pct_median": float(np.median(pct)),
            "effect_pct_ci95_low": float(np.quantile(pct, 0.025)),
            "effect_pct_ci95_high": float(np.quantile(pct, 0.975)),
        }
    return out


def main(argv=None) -> int:
    """Fit the bundled data and print the summary (``--help`` for options)."""
    # The script hands over to the engine at run time only: the models layer
    # imports nothing above it, so the engine can import every model.
    from milkbayes.engine.script import run_model_script

    return run_model_script(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
