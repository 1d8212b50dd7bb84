r"""paired_change: the change post - pre with a Cauchy prior on the standardised effect.

The one-sample (paired) Bayesian t-test of Rouder et al. (2009) written as a PyMC
model, with its JZS Bayes factor computed by the closed-form integral.

Notes
-----
For mother :math:`i = 1..n` with change :math:`d_i = \mathrm{post}_i - \mathrm{pre}_i`:

.. math::

    \delta &\sim \mathrm{Cauchy}(\delta_0, r), \qquad
    \sigma \sim \mathrm{HalfNormal}(s_\sigma \cdot c) \\
    \mu &= \delta \, \sigma \quad \text{(the effect, in outcome units)} \\
    d_i &\sim \mathrm{Normal}(\mu, \sigma)
      \quad\text{or}\quad \mathrm{StudentT}(\nu, \mu, \sigma),
      \quad \nu \sim \mathrm{Gamma}(2, \lambda_\nu)

with :math:`\delta_0 = 0`, :math:`r = \sqrt 2 / 2` in the neutral set, :math:`c` the
outcome scale (:func:`milkbayes.models.contract.outcome_scaling`) and each mother's
log-likelihood multiplied by her ``mother_weight`` :math:`w_i \in \{0, 1\}`. Under the
Student-t likelihood :math:`\sigma` is the scale of the t, so :math:`\delta` is the
effect in units of that scale.

The Bayes factor of :math:`H_1: \delta \sim \mathrm{Cauchy}(0, r)` against
:math:`H_0: \delta = 0` with Jeffreys' prior on :math:`\sigma` (JZS) is Rouder et al.
(2009), eq. 1, with :math:`t` the paired t statistic and :math:`\nu = n - 1`:

.. math::

    BF_{10} = \frac{\int_0^\infty (1 + n g r^2)^{-1/2}
        \left(1 + \frac{t^2}{(1 + n g r^2)\nu}\right)^{-(\nu+1)/2}
        (2\pi)^{-1/2} g^{-3/2} e^{-1/(2g)} \, dg}
        {\left(1 + t^2/\nu\right)^{-(\nu+1)/2}}

When the prior is not centred on zero (the enthusiastic set) the informed form of
Gronau, Ly & Wagenmakers (2020) is used instead:
:math:`BF_{10} = \int T_\nu(t \mid \delta\sqrt n)\, p(\delta)\, d\delta \,/\, T_\nu(t)`,
with :math:`T_\nu(\cdot \mid \lambda)` the noncentral-t density.

Cross-check: the sampled posterior gives the same Bayes factor by Savage-Dickey,
:math:`BF_{10} = p(\delta = 0) / p(\delta = 0 \mid d)`, with the posterior density at
zero estimated by averaging the full conditional density of :math:`\delta` given
:math:`\sigma` (Rao-Blackwellisation; normal likelihood only). The two differ only by
the prior on :math:`\sigma` (Jeffreys against half-normal). When the posterior lies
far from zero that average rests on a handful of draws; the summary then says that
the cross-check is not informative rather than report it.

References
----------
Rouder JN, Speckman PL, Sun D, Morey RD, Iverson G (2009). Bayesian t tests for
accepting and rejecting the null hypothesis. Psychon Bull Rev 16(2), 225-237.
Gronau QF, Ly A, Wagenmakers E-J (2020). Informed Bayesian t-tests. Am Stat 74(2),
137-143.

Examples
--------
>>> round(jzs_bf10(t=3.5, n=20), 3)  # pingouin: bayesfactor_ttest(3.5, 20, paired=True)
17.185
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import integrate, optimize, stats

from milkbayes.models.contract import (
    ModelInputs,
    check_likelihood,
    outcome_scaling,
    prior_data,
    rao_blackwell_log_density_at_zero,
    weight_likelihood,
)

NAME = "paired_change"
LIKELIHOODS = ("normal", "student_t")
EFFECT = "effect"
"""The mean change mu = delta * sigma, in outcome units."""

CROSSCHECK_MIN_ESS = 100.0
"""Fewer effective draws than this behind the Savage-Dickey estimate: not informative."""


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """Changes of every mother, weights and the outcome scale."""
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    _, scale = outcome_scaling(study)
    change = np.asarray(study.change, dtype=float)
    return ModelInputs(
        data={
            "change": change,
            "mother_weight": np.ones_like(change),
            "y_scale": np.asarray(scale),
        },
        coords={"mother": list(study.ids)},
        meta={
            "n": study.n,
            "kind": study.outcome.kind,
            "unit": study.outcome.unit,
            "likelihood": likelihood,
        },
    )


def build(inputs: ModelInputs, prior, likelihood: str | None = None):
    """The PyMC model (see the module docstring for the maths)."""
    import pymc as pm

    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    with pm.Model(coords=inputs.coords) as model:
        # data
        change = pm.Data("change", inputs.data["change"], dims="mother")
        weight = pm.Data("mother_weight", inputs.data["mother_weight"], dims="mother")
        y_scale = pm.Data("y_scale", inputs.data["y_scale"])
        p = prior_data(prior)
        # priors
        delta = pm.Cauchy("delta", alpha=p["delta_loc"], beta=p["delta_scale"])
        sigma = pm.HalfNormal("sigma", sigma=p["sigma"] * y_scale)
        effect = pm.Deterministic(EFFECT, delta * sigma)
        # likelihood
        if likelihood == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=p["nu_rate"])
            observed = pm.StudentT(
                "change_obs", nu=nu, mu=effect, sigma=sigma, observed=change, dims="mother"
            )
        else:
            observed = pm.Normal(
                "change_obs", mu=effect, sigma=sigma, observed=change, dims="mother"
            )
        weight_likelihood(observed, change, weight)
    return model


# --------------------------------------------------------------------------- Bayes factors
def _log_t_kernel(t: float, nu: float, inflation: float) -> float:
    return -0.5 * math.log(inflation) - (nu + 1) / 2 * math.log1p(t * t / (inflation * nu))


def jzs_log_bf10(t: float, n: int, r: float = math.sqrt(2) / 2) -> float:
    """Natural log of the JZS Bayes factor, Rouder et al. (2009) eq. 1, one-sample.

    The integral over g is taken in log g with scipy ``quad`` around the integrand's
    mode, in log space, so very large Bayes factors do not overflow.

    Examples
    --------
    >>> round(math.exp(jzs_log_bf10(0.0, 30)), 3) < 1  # no effect: evidence for H0
    True
    """
    if n < 2:
        raise ValueError(f"the JZS Bayes factor needs n >= 2, not {n}")
    nu = n - 1.0
    log_null = _log_t_kernel(t, nu, 1.0)

    def log_integrand(u: float) -> float:  # u = log g; dg = g du
        g = math.exp(u)
        return (
            _log_t_kernel(t, nu, 1.0 + n * g * r * r)
            - 0.5 * math.log(2 * math.pi)
            - 1.5 * u
            - 1.0 / (2.0 * g)
            + u
        )

    mode = optimize.minimize_scalar(
        lambda u: -log_integrand(u), bounds=(-30.0, 30.0), method="bounded"
    ).x
    top = log_integrand(mode)
    # Left of the mode the integrand dies as exp(-1/2g), right of it like 1/g: a window
    # of 60 e-folds each side loses less than exp(-60) of the mass.
    value, _ = integrate.quad(
        lambda u: math.exp(log_integrand(u) - top),
        mode - 60.0,
        mode + 60.0,
        points=[mode],
        limit=400,
    )
    return float(top + math.log(value) - log_null)


def jzs_bf10(t: float, n: int, r: float = math.sqrt(2) / 2) -> float:
    """The JZS Bayes factor BF10 (Rouder et al. 2009, eq. 1); see :func:`jzs_log_bf10`."""
    return math.exp(jzs_log_bf10(t, n, r))


def informed_log_bf10(t: float, n: int, loc: float, scale: float) -> float:
    """Log BF10 for delta ~ Cauchy(loc, scale), Gronau, Ly & Wagenmakers (2020).

    With ``loc = 0`` it equals :func:`jzs_log_bf10` (both are the same integral, over
    delta here and over g there).

    Examples
    --------
    >>> abs(informed_log_bf10(2.5, 20, 0.0, 0.7071) - jzs_log_bf10(2.5, 20, 0.7071)) < 1e-6
    True
    """
    nu = n - 1.0
    log_null = stats.t.logpdf(t, nu)
    prior = stats.cauchy(loc, scale)

    def log_integrand(delta: float) -> float:
        return stats.nct.logpdf(t, nu, delta * math.sqrt(n)) + prior.logpdf(delta)

    centre = t / math.sqrt(n)
    top = max(log_integrand(centre), log_integrand(loc))
    low = min(centre, loc) - 10.0 / math.sqrt(n) - 10.0 * scale
    high = max(centre, loc) + 10.0 / math.sqrt(n) + 10.0 * scale

    def piece(a: float, b: float, **kwargs) -> float:
        return integrate.quad(
            lambda x: math.exp(log_integrand(x) - top), a, b, limit=400, **kwargs
        )[0]

    value = (
        piece(-np.inf, low) + piece(low, high, points=sorted({centre, loc})) + piece(high, np.inf)
    )
    return float(top + math.log(value) - log_null)


def paired_t(change: np.ndarray) -> float:
    """The paired (one-sample) t statistic of ``change`` against zero."""
    change = np.asarray(change, dtype=float)
    return float(change.mean() / (change.std(ddof=1) / math.sqrt(change.size)))


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """JZS BF10 (closed form) and its Savage-Dickey cross-check from the posterior.

    Keys: ``bf10_jzs``, ``log_bf10_jzs``, ``bf10_method``, ``t_statistic``, ``delta_median``,
    ``delta_ci95_low``, ``delta_ci95_high``,
    ``log_bf10_savage_dickey`` (or None), ``savage_dickey_ess``, ``bf10_crosscheck``.
    """
    weight = np.asarray(inputs.data["mother_weight"], dtype=float)
    change = np.asarray(inputs.data["change"], dtype=float)[weight > 0]
    n = change.size
    t = paired_t(change)
    loc, scale = prior.values["delta_loc"], prior.values["delta_scale"]
    if loc == 0:
        log_bf = jzs_log_bf10(t, n, scale)
        method = "JZS, Rouder et al. (2009) eq. 1"
    else:
        log_bf = informed_log_bf10(t, n, loc, scale)
        method = "informed Cauchy prior, Gronau, Ly & Wagenmakers (2020)"
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    delta = np.asarray(post["delta"]).ravel()
    out = {
        "bf10_jzs": float(math.exp(log_bf)) if log_bf < 700 else float("inf"),
        "log_bf10_jzs": float(log_bf),
        "bf10_method": method,
        "t_statistic": t,
        "delta_median": float(np.median(delta)),
        "delta_ci95_low": float(np.quantile(delta, 0.025)),
        "delta_ci95_high": float(np.quantile(delta, 0.975)),
        "log_bf10_savage_dickey": None,
        "savage_dickey_ess": None,
    }
    if inputs.meta.get("likelihood", "normal") != "normal":
        out["bf10_crosscheck"] = (
            "not available: the Savage-Dickey check needs the normal likelihood"
        )
        return out
    sigma = np.asarray(post["sigma"]).ravel()
    log_post0, ess = rao_blackwell_log_density_at_zero(change.mean() / sigma, n, loc, scale)
    log_sd = float(stats.cauchy(loc, scale).logpdf(0.0) - log_post0)
    out["log_bf10_savage_dickey"], out["savage_dickey_ess"] = log_sd, float(ess)
    if ess < CROSSCHECK_MIN_ESS:
        out["bf10_crosscheck"] = (
            f"not informative: the posterior of delta lies far from 0 (only {ess:.0f} "
            "effective draws inform its density there); the closed form stands alone"
        )
    else:
        out["bf10_crosscheck"] = (
            f"Savage-Dickey from the posterior: log BF10 = {log_sd:.3f} "
            f"against {log_bf:.3f} in closed form (half-normal versus "
            "Jeffreys prior on sigma)"
        )
    return out


def main(argv=None) -> int:
    """Fit the bundled data and print the summary (``--help`` for options)."""
    # The script hands over to the engine at run time only: the models layer
    # imports nothing above it, so the engine can import every model.
    from milkbayes.engine.script import run_model_script

    return run_model_script(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
