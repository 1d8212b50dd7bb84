r"""prepost_bivariate: each mother's (pre, post) pair, bivariate normal, unstructured covariance.

The flagship (:mod:`milkbayes.models.prepost_hierarchical`) gives every mother her own
level and one residual standard deviation at both times. That makes the spread of
the post measurements equal to the spread of the pre measurements up to the spread
of the mothers' effects, and on the bundled volumes the post spread is almost twice
the pre spread. This model lets the two times have their own standard deviations
and their own correlation, the unstructured covariance of a two-time longitudinal
model (Fitzmaurice, Laird & Ware 2011, ch. 7), and keeps the flagship's effect and
its modifiers, so the two answer the same question under different assumptions
about the spread.

Notes
-----
Mother :math:`i` contributes the pair :math:`y_i = (\mathrm{pre}_i, \mathrm{post}_i)`:

.. math::

    y_i &\sim \mathrm{MvNormal}\!\left(\begin{pmatrix}\alpha \\ \alpha + \tau_i
      \end{pmatrix}, \Sigma\right), \qquad
    \Sigma = \begin{pmatrix} s_0^2 & \rho s_0 s_1 \\ \rho s_0 s_1 & s_1^2 \end{pmatrix} \\
    \tau_i &= \beta + \gamma_w (x^{w}_i - \bar x^w) + \gamma_p (x^{p}_i - \bar x^p)
      + \sum_{g} (u^{g}_{k_g(i)} - \bar u^g), \qquad u^g_k = s_g v^g_k \\
    s_t &\sim \mathrm{HalfNormal}(s_\Sigma c), \quad
    \tfrac{1 + \rho}{2} \sim \mathrm{Beta}(\eta, \eta), \quad
    \alpha \sim N(m + \mu_\alpha c, s_\alpha c), \quad \beta \sim N(\mu_\beta c, s_\beta c)

with :math:`c, m` the outcome scale and centre
(:func:`milkbayes.models.contract.outcome_scaling`). The effect :math:`\tau_i` and its
modifiers are coded exactly as in the flagship (sample-centred binary modifiers,
partially pooled occupation, education and age group; the codings are taken from
:func:`milkbayes.models.prepost_hierarchical.inputs`), so :math:`\beta` (``effect``)
is the average massage effect of the study's mothers in both models.

*The LKJ prior.* For a :math:`2 \times 2` correlation matrix the LKJ density
(Lewandowski, Kurowicka & Joe 2009) is :math:`\propto \det(R)^{\eta - 1} = (1 -
\rho^2)^{\eta - 1}`, which is exactly :math:`(1 + \rho)/2 \sim \mathrm{Beta}(\eta,
\eta)`; the model writes it that way (``corr_beta``) so that every variable has named
dimensions. :math:`\eta = 2` (neutral) mildly favours moderate correlations.

*Mother intercepts marginalised.* The flagship's mother intercepts
:math:`\alpha_i \sim N(\alpha, \sigma_\alpha)` with residual :math:`\sigma` imply
:math:`\Sigma = \sigma_\alpha^2 \mathbf 1 \mathbf 1^\top + \sigma^2 I` (compound
symmetry: equal variances, :math:`\rho \ge 0`); the unstructured :math:`\Sigma` here
contains it as a special case, with the intercepts integrated out analytically. So
there is no funnel to sample, and each mother's log-likelihood is one number (her
pair), the quantity leave-one-mother-out cross-validation predicts
(``PREDICTS = "pre_post"``).

*The density written out.* The likelihood is the bivariate normal above, exactly,
but coded as :math:`p(\mathrm{pre}_i)\, p(\mathrm{post}_i \mid \mathrm{pre}_i)`, two
univariate normal terms (:func:`bivariate_normal_logp`), rather than ``pm.MvNormal``
with a Cholesky factor. For a :math:`2 \times 2` covariance the general form buys
nothing and costs a compilation: its triangular solves, their gradients and the
joins that assemble the factor are linear-algebra operations that numba compiles
anew for every empty cache (with them the model compiles in about twice the time,
``benchmarks/README.md``), while the written-out form is elementwise arithmetic,
which is also batched over draws without a loop when the log-likelihood of every
draw is computed. The random part draws standard normals as PyTensor's multivariate
normal does and multiplies them by the same Cholesky factor
(:func:`bivariate_normal_random`), so predictive draws are those of ``pm.MvNormal``
for the same seed.

Deterministics: ``corr`` (:math:`\rho`), ``sd_ratio`` (:math:`s_1 / s_0`) and
``effect_mother`` (:math:`\tau_i`), ``effect_<covariate>`` per level. Each mother's
log-likelihood is multiplied by her ``mother_weight``.

Still normal: the model does not keep volumes positive; the predictive checks of
:mod:`milkbayes.diagnostics` report the share of replicated values below zero.

References
----------
Fitzmaurice GM, Laird NM, Ware JH (2011). Applied Longitudinal Analysis, 2nd ed.,
chapter 7. Wiley.
Lewandowski D, Kurowicka D, Joe H (2009). Generating random correlation matrices
based on vines and extended onion method. J Multivar Anal 100(9), 1989-2001.

Examples
--------
>>> from milkbayes.datasets import load_bundled
>>> inputs_ = inputs(load_bundled(), "normal")
>>> inputs_.data["y"].shape, inputs_.coords["time"]
((24, 2), ['pre', 'post'])
"""

from __future__ import annotations

import sys

import numpy as np

from milkbayes.models import prepost_hierarchical
from milkbayes.models.contract import (
    ModelInputs,
    check_likelihood,
    outcome_scaling,
    prior_data,
    weight_likelihood,
)

NAME = "prepost_bivariate"
LIKELIHOODS = ("normal",)
EFFECT = "effect"
PREDICTS = "pre_post"
"""What a mother's log-likelihood is the density of: her (pre, post) pair."""

DESIGN_DATA = ("x_*", "idx_*", "share_*")
"""Covariate codings (``fnmatch`` patterns), compiled in as constants like the flagship's."""

TIMES = ["pre", "post"]


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """The (pre, post) pairs, the flagship's covariate codings and the outcome scale."""
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    coding = prepost_hierarchical.inputs(study, "normal")
    centre, scale = outcome_scaling(study)
    pairs = study.table[["pre", "post"]].to_numpy(dtype=float)
    data = {
        "y": pairs,
        "mother_weight": np.ones(study.n),
        "y_centre": np.asarray(centre),
        "y_scale": np.asarray(scale),
    }
    data |= {
        key: value for key, value in coding.data.items() if key.startswith(("x_", "idx_", "share_"))
    }
    coords = {key: value for key, value in coding.coords.items() if key != "obs"}
    coords["time"] = list(TIMES)
    meta = dict(coding.meta, likelihood=likelihood)
    return ModelInputs(data=data, coords=coords, meta=meta)


def build(inputs: ModelInputs, prior, likelihood: str | None = None):
    """The PyMC model (see the module docstring for the maths)."""
    import pymc as pm
    import pytensor.tensor as pt

    check_likelihood(likelihood, LIKELIHOODS, NAME)
    meta, n = inputs.meta, len(inputs.coords["mother"])
    with pm.Model(coords=inputs.coords) as model:
        # data
        y = pm.Data("y", inputs.data["y"], dims=("mother", "time"))
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
        p = prior_data(prior)

        # priors
        intercept = pm.Normal(
            "intercept",
            mu=y_centre + p["intercept_mu"] * y_scale,
            sigma=p["intercept_sigma"] * y_scale,
        )
        effect = pm.Normal(EFFECT, p["effect_mu"] * y_scale, p["effect_sigma"] * y_scale)
        tau = effect + pt.zeros(n)
        subgroup_terms = {}
        for column in meta["modifiers"]:  # x is centred on the sample already
            gamma = pm.Normal(f"modifier_{column}", 0.0, p["modifier_sigma"] * y_scale)
            tau = tau + gamma * x[column]
            codes = np.array(
                [meta[f"{column}_codes"][lv] for lv in inputs.coords[f"{column}_level"]]
            )
            subgroup_terms[column] = gamma * codes
        for column in meta["pooled"]:
            sd_group = pm.HalfNormal(f"sd_{column}", sigma=p["subgroup_sd"] * y_scale)
            raw = pm.Normal(f"z_{column}", 0.0, 1.0, dims=f"{column}_level")
            deviation = sd_group * raw
            centred = deviation - (share[column] * deviation).sum()
            tau = tau + centred[idx[column]]
            subgroup_terms[column] = centred
        tau = pm.Deterministic("effect_mother", tau, dims="mother")
        for column, term in subgroup_terms.items():
            pm.Deterministic(f"effect_{column}", effect + term, dims=f"{column}_level")
        sd = pm.HalfNormal("sd", sigma=p["time_sd"] * y_scale, dims="time")
        corr_beta = pm.Beta("corr_beta", alpha=p["lkj_eta"], beta=p["lkj_eta"])
        rho = 2.0 * corr_beta - 1.0
        # likelihood: the bivariate normal written out (module docstring, Notes)
        observed = pm.CustomDist(
            "y_obs",
            intercept,
            intercept + tau,
            sd,
            rho,
            logp=bivariate_normal_logp,
            random=bivariate_normal_random,
            signature="(),(),(t),()->(t)",
            observed=y,
            dims=("mother", "time"),
        )
        weight_likelihood(observed, y, weight)
        pm.Deterministic("corr", rho)
        pm.Deterministic("sd_ratio", sd[1] / sd[0])
    return model


def bivariate_normal_logp(value, mean_pre, mean_post, sd, rho):
    r"""Log density of each (pre, post) pair under the bivariate normal, elementwise.

    The density factorised as :math:`p(a)\,p(b \mid a)`: with :math:`z_0 = (a -
    m_0)/s_0` and the conditional standard deviation :math:`s_{1|0} = s_1 \sqrt{1 -
    \rho^2}`,

    .. math::

        \log p(a, b) = -\log 2\pi - \log s_0 - \log s_{1|0}
          - \tfrac12 \left(z_0^2 + r^2\right), \qquad
        r = \frac{b - m_1 - \rho s_1 z_0}{s_{1|0}},

    which is :math:`\log \mathrm{MvNormal}((a, b) \mid (m_0, m_1), \Sigma)` with
    :math:`\Sigma` of the module docstring (:math:`\det \Sigma = s_0^2 s_{1|0}^2`,
    and the quadratic form splits into the two squares). No parameter checks: the
    model's :math:`s_t` are positive and :math:`|\rho| < 1` by construction.

    Parameters
    ----------
    value : tensor, shape (..., 2)
        The pairs, ``(pre, post)`` on the last axis.
    mean_pre, mean_post : tensor
        :math:`m_0, m_1`, broadcast against ``value[..., 0]``.
    sd : tensor, shape (..., 2)
        :math:`(s_0, s_1)` on the last axis.
    rho : tensor
        The correlation.

    Returns
    -------
    tensor
        One log density per pair (``value``'s shape without its last axis).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> pair = np.array([1.0, 3.0])
    >>> mine = bivariate_normal_logp(pair, 0.0, 2.0, np.array([1.5, 2.5]), 0.3).eval()
    >>> cov = [[1.5**2, 0.3 * 1.5 * 2.5], [0.3 * 1.5 * 2.5, 2.5**2]]
    >>> bool(np.isclose(mine, stats.multivariate_normal([0.0, 2.0], cov).logpdf(pair)))
    True
    """
    import pytensor.tensor as pt

    value, sd = pt.as_tensor_variable(value), pt.as_tensor_variable(sd)
    sd_pre, sd_post = sd[..., 0], sd[..., 1]
    z_pre = (value[..., 0] - mean_pre) / sd_pre
    sd_cond = sd_post * pt.sqrt(1.0 - rho**2)
    r_post = (value[..., 1] - mean_post - rho * sd_post * z_pre) / sd_cond
    return -np.log(2.0 * np.pi) - pt.log(sd_pre) - pt.log(sd_cond) - 0.5 * (z_pre**2 + r_post**2)


def bivariate_normal_random(mean_pre, mean_post, sd, rho, rng=None, size=None):
    r"""Random (pre, post) pairs: :math:`m + L z` with :math:`z` standard normal.

    :math:`L = \begin{pmatrix} s_0 & 0 \\ \rho s_1 & s_1 \sqrt{1 - \rho^2}
    \end{pmatrix}` is the Cholesky factor of :math:`\Sigma`, and the standard normals
    are drawn as PyTensor's multivariate normal draws them (one array, pairs on the
    last axis), so a seed gives the pairs ``pm.MvNormal`` would give, and the draws
    batched over the posterior equal those of PyMC's loop over draws.

    The random function of ``y_obs`` (a ``pm.CustomDist`` random variable with
    signature ``(),(),(t),()->(t)``, :func:`bivariate_normal_logp` its density). The
    parameters arrive with their batch dimensions aligned (extended over the draws
    when PyMC batches a predictive over the posterior).

    Examples
    --------
    >>> import numpy as np
    >>> pairs = bivariate_normal_random(0.0, 2.0, np.array([1.5, 2.5]), 0.3,
    ...                                 rng=np.random.default_rng(1), size=(200_000,))
    >>> pairs.shape, float(np.round(np.corrcoef(pairs.T)[0, 1], 2))
    ((200000, 2), 0.3)
    """
    sd = np.asarray(sd)
    sd_pre, sd_post = sd[..., 0], sd[..., 1]
    if size is None:
        size = np.broadcast_shapes(*(np.shape(p) for p in (mean_pre, mean_post, sd_pre, rho)))
    z = rng.normal(size=(*size, 2))
    pre = mean_pre + sd_pre * z[..., 0]
    post = mean_post + sd_post * (rho * z[..., 0] + np.sqrt(1.0 - rho**2) * z[..., 1])
    return np.stack([pre, post], axis=-1)


def _interval(values) -> dict[str, float]:
    values = np.asarray(values, dtype=float).ravel()
    return {
        "median": float(np.median(values)),
        "ci95_low": float(np.quantile(values, 0.025)),
        "ci95_high": float(np.quantile(values, 0.975)),
    }


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """Subgroup effects (as the flagship), the two sds, their ratio and the correlation.

    Keys: those of :func:`milkbayes.models.prepost_hierarchical.extra_summary` and
    ``sd_pre``, ``sd_post``, ``sd_ratio``, ``corr`` (each ``{"median", "ci95_low",
    "ci95_high"}``).
    """
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    out = prepost_hierarchical.extra_summary(posterior, inputs, prior)
    sd = np.asarray(post["sd"]).reshape(-1, 2)
    out |= {
        "sd_pre": _interval(sd[:, 0]),
        "sd_post": _interval(sd[:, 1]),
        "sd_ratio": _interval(post["sd_ratio"]),
        "corr": _interval(post["corr"]),
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
