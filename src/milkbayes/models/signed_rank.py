r"""signed_rank: the Bayesian Wilcoxon signed-rank test (van Doorn et al. 2020) in PyMC.

The data enter only through the signs of the changes and the ranks of their
absolute values, as in the Wilcoxon test. Each change is the visible trace of a
latent normal value; the posterior of the standardised effect is the posterior
given the signed ranks alone.

Notes
-----
Model (van Doorn, Ly, Marsman & Wagenmakers 2020, the signed-rank test): latent
:math:`z_i \sim N(\delta, 1)` (the variance is fixed at 1 because signed ranks do not
identify a scale), :math:`\delta \sim \mathrm{Cauchy}(\delta_0, r)`, and the observed
signed ranks constrain the latent values: :math:`\mathrm{sign}(z_i) = \mathrm{sign}(d_i)`
and :math:`|z_i| < |z_k|` whenever :math:`|d_i| < |d_k|`. Tied :math:`|d|` put no order
among themselves (each tied value lies between the largest latent value of the
lower rank group and the smallest of the higher one, as in the paper's Gibbs
sampler); zero changes are kept, ranked as the smallest absolute values, with a
sign that is unknown (the authors' code gives them a random sign at each sweep; here
the sign is summed out, :math:`p(|z|) = \tfrac12[\phi(|z| - \delta) + \phi(-|z| - \delta)]`).
The authors' published R code draws every :math:`|z_i|` from a normal with mean
:math:`|\delta|` whatever the sign of :math:`d_i`; the full conditional implied by the
model has mean :math:`\mathrm{sign}(d_i)\,\delta`, which is the posterior sampled here
(and by the independent Gibbs sampler in ``tests/test_models.py``).

The paper samples the latent values by Gibbs sweeps of truncated normals. Here the
constrained latent values are written as a smooth bijection of free parameters,
so NUTS samples the same joint posterior: with rank groups :math:`k = 0, 1, \dots`
of equal :math:`|d|` in increasing order, free :math:`u_i \in \mathbb R` and
:math:`E_i = e^{u_i}`,

.. math::

    |z_i| = B_{k(i)} + E_i, \qquad B_k = \sum_{j < k} \max_{l \in \text{group } j} E_l ,

which maps :math:`\mathbb R^n` one-to-one onto the constraint set (every member of
group :math:`k` exceeds every member of group :math:`k - 1`). The Jacobian is
triangular with diagonal :math:`E_i`, so :math:`\log|J| = \sum_i u_i`. The graph
depends on the data only through ``sign`` and ``rank_group`` (``pm.Data``), so one
compiled model serves every dataset of the same size.

Bayes factor by Savage-Dickey, :math:`BF_{10} = p(\delta = 0) / p(\delta = 0 \mid
\text{data})`, with the posterior density at 0 estimated by averaging the exact full
conditional density of :math:`\delta` given the latent values (normalised on a grid),
in log space. Unlike the logspline of the paper, this stays a valid estimate when the
posterior lies far from 0, but then few draws carry it; when their effective number
is below :data:`MIN_EFFECTIVE_DRAWS`, the summary gives ``"BF10 > 10^k"`` with
:math:`k` the floor of the smaller of this estimate and a normal approximation to the
posterior of :math:`\delta`, instead of a number.

``mother_weight`` multiplies each mother's log-likelihood (and Jacobian); a mother
with weight 0 gets a standard-normal :math:`u_i` instead, so the posterior stays
proper, but her latent value still takes its place in the rank order: for exact
leave-one-out refit on ``study.without(id)`` (the ranks change).

References
----------
van Doorn J, Ly A, Marsman M, Wagenmakers E-J (2020). Bayesian rank-based hypothesis
testing for the rank sum test, the signed rank test, and Spearman's rho. Journal of
Applied Statistics 47(16), 2984-3006.
Gelfand AE, Smith AFM (1990). Sampling-based approaches to calculating marginal
densities. JASA 85(410), 398-409.

Examples
--------
>>> rank_groups(np.array([0.0, 2.0, -2.0, 5.0, 1.0]))
array([0, 2, 2, 3, 1])
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import special, stats

from milkbayes.models.contract import (
    ModelInputs,
    check_likelihood,
    prior_data,
    weight_likelihood,
)

NAME = "signed_rank"
LIKELIHOODS = ("latent_normal",)
EFFECT = "delta"
"""The standardised effect: ranks carry no outcome units."""

MIN_EFFECTIVE_DRAWS = 100.0
"""Fewer effective draws than this behind the density at 0: report a bound only."""

GRID_POINTS = 2001
"""Grid for normalising the full conditional of delta (spacing well below its SD)."""


def rank_groups(change: np.ndarray) -> np.ndarray:
    """Index of each |change| among the distinct absolute values (0 = smallest).

    Equal absolute values share a group (ties); zeros form the lowest group.
    """
    absolute = np.abs(np.asarray(change, dtype=float))
    return np.unique(absolute, return_inverse=True)[1].astype(np.int64)


def inputs(study, likelihood: str | None = None) -> ModelInputs:
    """Signs and rank groups of the changes (the only information the test uses)."""
    likelihood = check_likelihood(likelihood, LIKELIHOODS, NAME)
    change = np.asarray(study.change, dtype=float)
    return ModelInputs(
        data={
            "sign": np.sign(change),
            "rank_group": rank_groups(change),
            "mother_weight": np.ones_like(change),
        },
        coords={"mother": list(study.ids)},
        meta={
            "n": study.n,
            "n_zero": int(np.sum(change == 0)),
            "n_tied": int(change.size - np.unique(np.abs(change)).size),
            "likelihood": likelihood,
            "kind": study.outcome.kind,
        },
    )


def _latent_logp(sign, absolute, delta):
    """Log density of the latent value given its sign (0 = unknown sign)."""
    import pytensor.tensor as pt

    log_phi = lambda x: -0.5 * x**2 - 0.5 * math.log(2 * math.pi)  # noqa: E731
    signed = log_phi(sign * absolute - delta)
    unknown = pt.logaddexp(log_phi(absolute - delta), log_phi(-absolute - delta)) - math.log(2)
    return pt.switch(pt.eq(sign, 0), unknown, signed)


def _random_signs(absolute, delta, rng=None, size=None):
    """Signs of new latent values z ~ N(delta, 1): the predictive of the signs."""
    rng = np.random.default_rng() if rng is None else rng
    return np.sign(rng.normal(delta, 1.0, size=size))


def build(inputs: ModelInputs, prior, likelihood: str | None = None):
    """The PyMC model (see the module docstring for the maths and the transform)."""
    import pymc as pm
    import pytensor.tensor as pt

    check_likelihood(likelihood, LIKELIHOODS, NAME)
    with pm.Model(coords=inputs.coords) as model:
        # data
        sign = pm.Data("sign", inputs.data["sign"], dims="mother")
        group = pm.Data("rank_group", inputs.data["rank_group"], dims="mother")
        weight = pm.Data("mother_weight", inputs.data["mother_weight"], dims="mother")
        p = prior_data(prior)
        # priors
        delta = pm.Cauchy(EFFECT, alpha=p["delta_loc"], beta=p["delta_scale"])
        u = pm.Flat("latent_log_gap", dims="mother")  # start u = 0: unit gaps, valid
        gap = pt.exp(u)
        members = pt.eq(group[None, :], pt.arange(gap.shape[0])[:, None])
        group_max = pt.max(pt.switch(members, gap[None, :], 0.0), axis=1)
        below = pt.cumsum(group_max) - group_max
        absolute = pm.Deterministic("latent_abs", below[group] + gap, dims="mother")
        # likelihood
        observed = pm.CustomDist(
            "sign_obs",
            absolute,
            delta,
            logp=_latent_logp,
            random=_random_signs,
            observed=sign,
            dims="mother",
        )
        weight_likelihood(observed, sign, weight)
        pm.Potential("jacobian_and_held_out", (weight * u + (1.0 - weight) * (-0.5 * u**2)).sum())
    return model


def log_density_at_zero(
    absolute: np.ndarray,
    sign: np.ndarray,
    weight: np.ndarray,
    loc: float,
    scale: float,
    centre: float,
    spread: float,
) -> tuple[float, float]:
    r"""Rao-Blackwellised log p(delta = 0 | data) from draws of the latent absolute values.

    For each draw the full conditional :math:`p(\delta \mid |z|)` (Cauchy prior times
    the latent likelihood, zeros with summed-out signs) is normalised on a grid of
    :data:`GRID_POINTS` points covering 0 and ``centre +- 12 spread`` (trapezoid rule);
    the densities at 0 are averaged in log space. Returns the log density and the
    effective number of draws carrying the average.
    """
    absolute = np.asarray(absolute, dtype=float)
    low = min(0.0, centre - 12.0 * spread) - 1.0
    high = max(0.0, centre + 12.0 * spread) + 1.0
    grid = np.union1d(np.linspace(low, high, GRID_POINTS), [0.0])
    zero = int(np.searchsorted(grid, 0.0))
    log_f = np.broadcast_to(
        stats.cauchy(loc, scale).logpdf(grid), (absolute.shape[0], grid.size)
    ).copy()
    for i in range(absolute.shape[1]):
        if weight[i] == 0:
            continue
        a = absolute[:, i : i + 1]
        if sign[i] == 0:
            term = np.logaddexp(
                stats.norm.logpdf(a - grid), stats.norm.logpdf(-a - grid)
            ) - math.log(2)
        else:
            term = stats.norm.logpdf(sign[i] * a - grid)
        log_f += weight[i] * term
    top = log_f.max(axis=1, keepdims=True)
    log_norm = np.log(np.trapezoid(np.exp(log_f - top), grid, axis=1)) + top[:, 0]
    log_at_zero = log_f[:, zero] - log_norm
    weights = np.exp(log_at_zero - log_at_zero.max())
    ess = float(weights.sum() ** 2 / (weights**2).sum())
    return float(special.logsumexp(log_at_zero) - math.log(log_at_zero.size)), ess


def bf10_text(log_bf10: float, log_bf10_bound: float, trustworthy: bool) -> str:
    """How to print BF10: a number when trustworthy, else a power-of-ten bound.

    Examples
    --------
    >>> bf10_text(math.log(25.0), math.log(25.0), True)
    'BF10 = 25'
    >>> bf10_text(40.0, 35.0, False)
    'BF10 > 10^15'
    """
    if trustworthy:
        return f"BF10 = {math.exp(log_bf10):.3g}" if log_bf10 < 700 else "BF10 > 10^300"
    k = math.floor(min(log_bf10, log_bf10_bound) / math.log(10))
    return f"BF10 > 10^{k}" if k >= 1 else "BF10 not estimable from these draws"


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """Log BF10 by Savage-Dickey (Rao-Blackwellised) and its printable text.

    Keys: ``log_bf10``, ``bf10_text``, ``bf10_trustworthy``, ``bf10_effective_draws``,
    ``log_bf10_normal_approx``, ``n_zero``, ``n_tied``.
    """
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    delta = np.asarray(post[EFFECT]).ravel()
    absolute = np.asarray(post["latent_abs"]).reshape(delta.size, -1)
    loc, scale = prior.values["delta_loc"], prior.values["delta_scale"]
    log_prior0 = float(stats.cauchy(loc, scale).logpdf(0.0))
    log_post0, ess = log_density_at_zero(
        absolute,
        np.asarray(inputs.data["sign"]),
        np.asarray(inputs.data["mother_weight"]),
        loc,
        scale,
        float(np.mean(delta)),
        float(np.std(delta)),
    )
    log_bf = log_prior0 - log_post0
    log_bf_normal = log_prior0 - float(stats.norm(np.mean(delta), np.std(delta)).logpdf(0.0))
    trustworthy = ess >= MIN_EFFECTIVE_DRAWS
    return {
        "log_bf10": log_bf,
        "bf10_text": bf10_text(log_bf, log_bf_normal, trustworthy),
        "bf10_trustworthy": trustworthy,
        "bf10_effective_draws": ess,
        "log_bf10_normal_approx": log_bf_normal,
        "n_zero": inputs.meta["n_zero"],
        "n_tied": inputs.meta["n_tied"],
    }


def main(argv=None) -> int:
    """Fit the bundled data and print the summary (``--help`` for options)."""
    # The script hands over to the engine at run time only: the models layer
    # imports nothing above it, so the engine can import every model.
    from milkbayes.engine.script import run_model_script

    return run_model_script(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
