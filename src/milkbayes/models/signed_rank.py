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
of equal :math:`|d|` in increasing order, free :math:`u_i \in \mathbb R`,

.. math::

    |z_i| = B_{k(i)} + E_i, \qquad B_k = \sum_{j < k} \max_{l \in \text{group } j} E_l ,

with :math:`E_i = e^{u_i}` above the lowest group and :math:`E_i =
\mathrm{softplus}(u_i + \mathrm{softplus}(\mathrm{sign}(d_i)\,\delta))` in it. This
maps :math:`\mathbb R^n` one-to-one onto the constraint set (every member of group
:math:`k` exceeds every member of group :math:`k - 1`) for each :math:`\delta`, so
:math:`(\delta, u) \mapsto (\delta, |z|)` is triangular and its Jacobian is
:math:`\prod_i \mathrm d E_i / \mathrm d u_i`: :math:`\log|J| = \sum u_i` above the
lowest group and :math:`\sum \log \sigma(u_i + \mathrm{softplus}(\mathrm{sign}_i
\delta))` in it. The graph depends on the data only through ``sign`` and
``rank_group`` (``pm.Data``), so one compiled model serves every dataset of the same
size.

Why the shift and the coordinate of :math:`\delta`: when all signs agree the
likelihood of the ranks is flat in :math:`\delta` beyond about 3, so the posterior
keeps the Cauchy tail, and the latent values then sit near :math:`|\delta|`. With
:math:`E = e^u` for the lowest value, :math:`u \approx \log|\delta|` within
:math:`1/|\delta|`, a ridge that narrows as it goes out, on which NUTS diverges and
falls short of the tail (and fails simulation-based calibration with the model's own
prior; ``docs/decisions.md``). The shift puts the
lowest values at :math:`|\delta|` + :math:`O(1)` with :math:`u = O(1)` for every
:math:`\delta`, and :math:`\delta` is sampled as :math:`x = \operatorname{logit}
F(\delta)` (:class:`CauchyLogOdds`, standard logistic under the prior), whose tail
NUTS explores in a few steps. The posterior sampled is unchanged: only the
coordinates are.

Bayes factor by numerical integration, not by MCMC. The likelihood of the signed
ranks given :math:`\delta` is the probability that independent latent values fall
in the observed order with the observed signs, an :math:`n`-dimensional integral that
a recursion over the rank groups reduces to one-dimensional cumulative integrals
(:func:`log_likelihood_of_ranks`). With :math:`H_k(t)` the probability that the
groups up to :math:`k` keep their order and lie below :math:`t`, and
:math:`F_j(t) = P(0 < \mathrm{sign}_j z_j < t)`,

.. math::

    H_k(t) = \int_0^t \prod_{j \in \text{group } k} \bigl[F_j(t) - F_j(m)\bigr]\,
    \mathrm{d}H_{k-1}(m), \qquad H_0 = 1, \qquad p(\text{ranks} \mid \delta) = H_K(\infty),

(for an untied group of one, :math:`H_k(t) = \int_0^t f_j H_{k-1}`). At
:math:`\delta = 0` every order is equally likely, so :math:`p(\text{ranks} \mid 0) =
2^{-n} \prod_k g_k! / n!` with :math:`g_k` the group sizes, a closed form the
quadrature reproduces. :math:`BF_{10} = \int p(\text{ranks} \mid \delta)\,
p(\delta)\,\mathrm d\delta / p(\text{ranks} \mid 0)` is then a one-dimensional
integral over the prior (:func:`rank_bayes_factor`), with the one-sided
:math:`BF_{+0}` and :math:`BF_{-0}` and the exact posterior of :math:`\delta` on the
way. The paper's sampler estimates the same BF by Savage-Dickey from MCMC draws with
a logspline density at 0; when the posterior lies far from 0 almost no draw carries
that density (21 effective draws on the bundled data) and the number cannot be
trusted. The quadrature has no Monte Carlo error: its error is that of the grid,
estimated by the change between two step sizes (Richardson) and reported as
``bf10_error_percent`` (JASP's "error %"). The Rao-Blackwellised Savage-Dickey
estimate from the draws is kept as ``log_bf10_savage_dickey`` with its effective
number of draws, as a cross-check.

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
Richardson LF (1911). The approximate arithmetical solution by finite differences of
physical problems. Phil Trans R Soc A 210, 307-357.

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
    change = np.asarray(study.change, dtype=float)  # snapped: decimal ties tie
    _, sizes = np.unique(np.abs(change[change != 0]), return_counts=True)
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
            "n_tied": int(sizes[sizes > 1].sum()),
            "n_tie_groups": int(np.sum(sizes > 1)),
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


TAIL_LIMIT = 30.0
r"""Largest :math:`|x|` (log-odds of the prior CDF of delta) the transform follows.

Beyond it :math:`\delta` stays at :math:`\pm 2 \cdot 10^{12} r` (a prior mass of
:math:`2 e^{-30} \approx 2 \cdot 10^{-13}` is put there): the lowest latent values sit
near :math:`|\delta|`, and past about :math:`10^{16}` a change of their free
coordinate no longer changes them in double precision, a gradient of exactly 0 that
makes nutpie abort a chain it re-initialises there."""


class CauchyLogOdds:
    r"""Unconstrained coordinate of a Cauchy variable: the log-odds of its CDF.

    :math:`x = \operatorname{logit} F(\delta)`, so :math:`\delta = \delta_0 + r \tan(\tfrac\pi2
    \tanh\tfrac x2)` and, under the prior, :math:`x` is standard logistic. NUTS cannot
    explore a Cauchy tail in :math:`\delta` itself (a step size that fits the bulk needs
    thousands of steps to reach :math:`|\delta| = 100`, the stretch that all-equal
    signs leave to the prior); in :math:`x` the tail decays like :math:`e^{-|x|}`.
    The Jacobian is :math:`\log|d\delta/dx| = \log(r\pi/4) - 2\log\sin(\pi
    \sigma(-|x|)) - 2\log\cosh\tfrac x2`, written with :math:`1 - |\tanh\tfrac x2| =
    2\sigma(-|x|)` so that it stays exact far in the tail.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> t = CauchyLogOdds.transform()
    >>> x, loc, scale = (pt.as_tensor(np.float64(v)) for v in (1.5, 0.0, 1.0))
    >>> d = t.backward(x, None, None, loc, scale).eval()
    >>> bool(abs(d - math.tan(math.pi * (1 / (1 + math.exp(-1.5)) - 0.5))) < 1e-12)
    True
    """

    @staticmethod
    def transform():
        """A ``pymc`` transform (``default_transform=`` of :class:`pymc.Cauchy`)."""
        import pytensor.tensor as pt
        from pymc.logprob.transforms import Transform

        def _cos_of_angle(value):
            # cos(pi/2 tanh(x/2)) = sin(pi/2 (1 - |tanh(x/2)|)) = sin(pi sigmoid(-|x|)),
            # held at |x| = TAIL_LIMIT
            return pt.sin(math.pi * pt.sigmoid(-pt.minimum(pt.abs(value), TAIL_LIMIT)))

        class _CauchyLogOdds(Transform):
            # no underscore: PyMC names the value variable back by cutting at the last one
            name = "cauchylogodds"
            ndim_supp = 0

            def forward(self, value, *inputs):
                loc, scale = inputs[-2], inputs[-1]
                return 2.0 * pt.arctanh(2.0 / math.pi * pt.arctan((value - loc) / scale))

            def backward(self, value, *inputs):
                loc, scale = inputs[-2], inputs[-1]
                # tan(a) = sin(a) / cos(a), with cos(a) = sin(pi/2 (1 - |tanh(x/2)|))
                angle = math.pi / 2.0 * pt.tanh(value / 2.0)
                return loc + scale * pt.sin(angle) / _cos_of_angle(value)

            def log_jac_det(self, value, *inputs):
                scale = inputs[-1]
                half = pt.abs(value) / 2.0
                log_cosh = half + pt.log1p(pt.exp(-2.0 * half)) - math.log(2.0)
                return (
                    pt.log(scale * math.pi / 4.0)
                    - 2.0 * pt.log(_cos_of_angle(value))
                    - 2.0 * log_cosh
                )

        return _CauchyLogOdds()


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
        delta = pm.Cauchy(
            EFFECT,
            alpha=p["delta_loc"],
            beta=p["delta_scale"],
            default_transform=CauchyLogOdds.transform(),
        )
        u = pm.Flat("latent_log_gap", dims="mother")  # start u = 0: valid gaps
        # the lowest group's gaps start near sign * delta when that is large, so u
        # stays O(1) however far delta goes (no ridge u ~ log delta of width 1/delta)
        lowest = pt.eq(group, 0)
        shifted = u + pt.switch(lowest, pt.softplus(sign * delta), 0.0)
        gap = pt.switch(lowest, pt.softplus(shifted), pt.exp(u))
        log_jacobian = pt.switch(lowest, -pt.softplus(-shifted), u)  # log of d gap / d u
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
        pm.Potential(
            "jacobian_and_held_out",
            (weight * log_jacobian + (1.0 - weight) * (-0.5 * u**2)).sum(),
        )
    return model


QUADRATURE_STEP = 0.01
"""Step of the latent-value grid; the result is extrapolated with half this step."""

DELTA_REACH = 12.0
r"""Beyond :math:`|\delta| = 12` the likelihood of the ranks is constant to double
precision (:math:`\Phi(-12) \approx 10^{-33}`), so the prior's tails enter as masses."""

MAX_ERROR_PERCENT = 10.0
"""A BF whose estimated grid error exceeds this (in %) is printed as a bound only."""

EFFECT_UNIT = "SD of the latent normal (unit-free)"
"""What :data:`EFFECT` is measured in: ranks carry no outcome units."""


def _between(mu: np.ndarray, a: np.ndarray) -> np.ndarray:
    """P(0 < X < a) for X ~ N(mu, 1), without cancellation on either side."""
    upper = stats.norm.sf(-mu) - stats.norm.sf(a - mu)
    lower = stats.norm.cdf(a - mu) - stats.norm.cdf(-mu)
    return np.where(mu > 0, upper, lower)


def log_likelihood_of_ranks(
    sign: np.ndarray, group: np.ndarray, delta, *, step: float = QUADRATURE_STEP
) -> np.ndarray:
    r"""Log probability of the observed signs and rank order given :math:`\delta`.

    Parameters
    ----------
    sign : numpy.ndarray
        Sign of each change (0 for a zero change, whose sign is summed out).
    group : numpy.ndarray
        :func:`rank_groups` of the changes.
    delta : float or array_like
        Standardised effects at which to evaluate.
    step : float
        Grid step of the latent absolute values (error of order ``step**2``).

    Returns
    -------
    numpy.ndarray
        :math:`\log p(\text{signs, ranks} \mid \delta)`, one per ``delta``.

    Notes
    -----
    The recursion of the module docstring on a grid ``0, step, ..., max|delta| + 9``:
    untied groups by the cumulative trapezoid rule, tied groups by expanding the
    product over subsets of the group (cumulative sums), the increments of
    :math:`H_{k-1}` taken at cell midpoints. :math:`H` is rescaled after each group
    and the log scales summed, so nothing underflows.

    Examples
    --------
    >>> group = rank_groups(np.array([1.0, -2.0, 3.0]))
    >>> exact = math.log(1 / 8 / 6)  # delta = 0: 2^-n / n!
    >>> bool(abs(log_likelihood_of_ranks(np.array([1, -1, 1]), group, 0.0)[0] - exact) < 1e-3)
    True
    """
    sign = np.asarray(sign, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    delta = np.atleast_1d(np.asarray(delta, dtype=float))
    out = np.empty(delta.size)
    # chunks of similar |delta| share a grid reaching just past them (same step,
    # so the same grid points and the same discretisation)
    order = np.argsort(np.abs(delta), kind="stable")
    for start in range(0, delta.size, 32):
        chunk = order[start : start + 32]
        out[chunk] = _log_likelihood_chunk(sign, group, delta[chunk], step)
    return out


def _log_likelihood_chunk(sign, group, delta, step):
    delta = delta[:, None]
    top = float(np.max(np.abs(delta))) + 9.0
    a = np.linspace(0.0, top, int(math.ceil(top / step)) + 1)
    h = a[1] - a[0]
    cdf = {1.0: _between(delta, a), -1.0: _between(-delta, a)}
    cdf[0.0] = 0.5 * (cdf[1.0] + cdf[-1.0])
    pdf = {1.0: stats.norm.pdf(a - delta), -1.0: stats.norm.pdf(a + delta)}
    pdf[0.0] = 0.5 * (pdf[1.0] + pdf[-1.0])
    big = np.ones((delta.shape[0], a.size))
    increment = np.zeros_like(big)
    increment[:, 0] = 1.0  # H_0: all mass at 0
    log_scale = np.zeros(delta.shape[0])
    for k in np.unique(group):
        members = sign[group == k]
        if members.size == 1:
            integrand = pdf[float(members[0])] * big
            new = np.zeros_like(big)
            new[:, 1:] = np.cumsum(0.5 * (integrand[:, 1:] + integrand[:, :-1]), axis=1) * h
        else:
            at_t = [cdf[float(x)] for x in members]
            at_m = [np.concatenate([c[:, :1], 0.5 * (c[:, 1:] + c[:, :-1])], axis=1) for c in at_t]
            new = np.zeros_like(big)
            for subset in range(1 << members.size):
                factor_t, factor_m = np.ones_like(big), increment.copy()
                for j in range(members.size):
                    if (subset >> j) & 1:
                        factor_m = factor_m * at_m[j]
                    else:
                        factor_t = factor_t * at_t[j]
                sign_term = -1.0 if bin(subset).count("1") % 2 else 1.0
                new += sign_term * factor_t * np.cumsum(factor_m, axis=1)
        # an order too improbable for double precision (the subset sums of a tied
        # group cancel below about 1e-16 of their terms) counts as probability 0
        scale = new[:, -1]
        lost = ~(np.isfinite(scale) & (scale > 1e-280))
        scale = np.where(lost, 1.0, scale)
        with np.errstate(over="ignore", invalid="ignore"):
            big = np.where(lost[:, None] | ~np.isfinite(new), 1.0, new / scale[:, None])
        log_scale += np.where(lost, -np.inf, np.log(scale))
        increment = np.diff(big, axis=1, prepend=0.0)
    return log_scale


def log_null_likelihood(group: np.ndarray) -> float:
    r"""The log likelihood of the ranks at :math:`\delta = 0`, in closed form.

    :math:`\log p = -n \log 2 + \sum_k \log g_k! - \log n!`: every order of the
    latent values is equally likely and every sign has probability 1/2.

    Examples
    --------
    >>> round(math.exp(log_null_likelihood(np.array([0, 1, 1]))), 6)  # 2! / 3! / 8
    0.041667
    """
    group = np.asarray(group, dtype=np.int64)
    sizes = np.bincount(group)
    return float(
        -group.size * math.log(2)
        + special.gammaln(sizes + 1).sum()
        - special.gammaln(group.size + 1)
    )


def _richardson(sign, group, delta) -> tuple[np.ndarray, np.ndarray]:
    """Log likelihoods extrapolated from steps (h, h/2) and, coarser, from (2h, h).

    Their difference carries into the BF as its error estimate.
    """
    steps = (2 * QUADRATURE_STEP, QUADRATURE_STEP, QUADRATURE_STEP / 2)
    wide, middle, narrow = (log_likelihood_of_ranks(sign, group, delta, step=h) for h in steps)

    def extrapolate(coarse, fine):
        finite = np.isfinite(coarse) & np.isfinite(fine)
        with np.errstate(invalid="ignore"):
            return np.where(finite, (4.0 * fine - coarse) / 3.0, -np.inf)

    return extrapolate(middle, narrow), extrapolate(wide, middle)


def _trapezoid_log(log_values: np.ndarray, grid: np.ndarray) -> float:
    top = float(np.max(log_values))
    return float(np.log(np.trapezoid(np.exp(log_values - top), grid)) + top)


def rank_bayes_factor(
    change: np.ndarray, loc: float = 0.0, scale: float = math.sqrt(2) / 2
) -> dict:
    r"""Bayes factors of the signed-rank model by numerical integration over :math:`\delta`.

    Parameters
    ----------
    change : numpy.ndarray
        The (snapped) changes; only their signs and rank groups are used.
    loc, scale : float
        The Cauchy prior of :math:`\delta`.

    Returns
    -------
    dict
        ``log_bf10``, ``log_bf_plus0`` (:math:`\delta > 0` against 0, the prior
        truncated to :math:`\delta > 0`), ``log_bf_minus0``, ``bf10_error_percent``
        (relative error of BF10 from the grid, in %), ``delta_grid`` and
        ``posterior_density`` (the exact posterior of :math:`\delta` on the grid).

    Notes
    -----
    The prior integral is a trapezoid rule on a grid of :math:`\delta` (step 0.1 on
    :math:`[-12, 12]` plus 201 points over :math:`\pm 8` posterior SDs around the
    mode), with the prior's mass beyond :math:`\pm 12` times the likelihood there
    (constant). Each likelihood is Richardson-extrapolated from two latent grids.
    Both the numerator and :math:`p(\text{ranks} \mid 0)` come from the same
    quadrature, so their grid errors largely cancel. The reported error is the
    change of BF10 between the extrapolations from steps (h, h/2) and (2h, h): an
    estimate (on the safe side) of the error left in the finer one.

    Examples
    --------
    >>> bf = rank_bayes_factor(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -0.5]))
    >>> 1 < math.exp(bf["log_bf10"]) < math.exp(bf["log_bf_plus0"])
    True
    """
    change = np.asarray(change, dtype=float)
    sign, group = np.sign(change), rank_groups(change)
    prior = stats.cauchy(loc, scale)
    # a rough pass finds where the posterior mass lies
    coarse = np.union1d(np.linspace(-DELTA_REACH, DELTA_REACH, 241), [0.0])
    rough = log_likelihood_of_ranks(sign, group, coarse, step=2 * QUADRATURE_STEP)
    log_post = rough + prior.logpdf(coarse)
    weights = np.exp(log_post - log_post.max())
    mean = float(np.sum(weights * coarse) / weights.sum())
    sd = max(float(np.sqrt(np.sum(weights * (coarse - mean) ** 2) / weights.sum())), 0.01)
    fine = np.clip(np.linspace(mean - 8 * sd, mean + 8 * sd, 201), -DELTA_REACH, DELTA_REACH)
    # points below e^-40 of the peak add nothing a double can hold
    kept = coarse[(log_post > log_post.max() - 40.0) | (np.abs(coarse) == DELTA_REACH)]
    grid = np.union1d(np.union1d(kept, fine), [0.0])
    best, rougher = _richardson(sign, group, grid)
    null_best, null_rougher = _richardson(sign, group, 0.0)
    result = _bayes_factors(best, float(null_best[0]), grid, prior)
    check = _bayes_factors(rougher, float(null_rougher[0]), grid, prior)
    error = abs(result["log_bf10"] - check["log_bf10"])
    return {**result, "bf10_error_percent": 100.0 * math.expm1(error), "delta_grid": grid}


def _bayes_factors(log_lik, log_null, grid, prior) -> dict:
    """BF10, BF+0, BF-0 and the posterior of delta from the likelihood on ``grid``."""
    log_joint = log_lik + prior.logpdf(grid)
    tails = [
        log_lik[0] + prior.logcdf(-DELTA_REACH),
        log_lik[-1] + prior.logsf(DELTA_REACH),
    ]
    log_marginal = float(special.logsumexp([_trapezoid_log(log_joint, grid), *tails]))
    positive, negative = grid >= 0, grid <= 0
    log_plus = float(
        special.logsumexp([_trapezoid_log(log_joint[positive], grid[positive]), tails[1]])
        - prior.logsf(0.0)
    )
    log_minus = float(
        special.logsumexp([_trapezoid_log(log_joint[negative], grid[negative]), tails[0]])
        - prior.logcdf(0.0)
    )
    return {
        "log_bf10": log_marginal - log_null,
        "log_bf_plus0": log_plus - log_null,
        "log_bf_minus0": log_minus - log_null,
        "posterior_density": np.exp(log_joint - log_marginal),
    }


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

    The cross-check of :func:`rank_bayes_factor` (Savage-Dickey from the draws). For
    each draw the full conditional :math:`p(\delta \mid |z|)` (Cauchy prior times the
    latent likelihood, zeros with summed-out signs) is normalised on a grid of
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
    if not (math.isfinite(log_bf10) and math.isfinite(log_bf10_bound)):
        return "BF10 not computed"
    k = math.floor(min(log_bf10, log_bf10_bound) / math.log(10))
    return f"BF10 > 10^{k}" if k >= 1 else "BF10 not estimable from these draws"


def extra_summary(posterior, inputs: ModelInputs, prior) -> dict:
    """Bayes factors by quadrature (:func:`rank_bayes_factor`) and the Savage-Dickey cross-check.

    Keys: ``log_bf10``, ``bf10_text``, ``log_bf_plus0``, ``log_bf_minus0``,
    ``bf10_error_percent``, ``bf10_method``, ``bf10_trustworthy``,
    ``log_bf10_savage_dickey``, ``savage_dickey_effective_draws``, ``effect_unit``,
    ``n_zero``, ``n_tied``, ``n_tie_groups``. With mother weights other than 0 and 1
    the quadrature is not defined and the BFs are NaN; weight-0 mothers are left out
    of it (their ranks re-computed among the others).
    """
    post = posterior.posterior if hasattr(posterior, "posterior") else posterior
    delta = np.asarray(post[EFFECT]).ravel()
    absolute = np.asarray(post["latent_abs"]).reshape(delta.size, -1)
    loc, scale = prior.values["delta_loc"], prior.values["delta_scale"]
    sign = np.asarray(inputs.data["sign"], dtype=float)
    weight = np.asarray(inputs.data["mother_weight"], dtype=float)
    log_prior0 = float(stats.cauchy(loc, scale).logpdf(0.0))
    log_post0, ess = log_density_at_zero(
        absolute, sign, weight, loc, scale, float(np.mean(delta)), float(np.std(delta))
    )
    nan = float("nan")
    quadrature = {"log_bf10": nan, "log_bf_plus0": nan, "log_bf_minus0": nan}
    quadrature["bf10_error_percent"] = nan
    if np.all((weight == 0) | (weight == 1)) and weight.sum() > 0:
        # the rank order of the kept mothers: group codes order |d| as the ranks do
        kept = weight == 1
        pseudo_change = sign[kept] * (1.0 + np.asarray(inputs.data["rank_group"])[kept])
        pseudo_change[sign[kept] == 0] = 0.0
        quadrature = rank_bayes_factor(pseudo_change, loc, scale)
    log_bf = quadrature["log_bf10"]
    trustworthy = bool(np.isfinite(log_bf) and quadrature["bf10_error_percent"] < MAX_ERROR_PERCENT)
    return {
        "log_bf10": log_bf,
        "bf10_text": bf10_text(log_bf, log_bf, trustworthy),
        "log_bf_plus0": quadrature["log_bf_plus0"],
        "log_bf_minus0": quadrature["log_bf_minus0"],
        "bf10_error_percent": quadrature["bf10_error_percent"],
        "bf10_method": "quadrature of the rank likelihood (no Monte Carlo error)",
        "bf10_trustworthy": trustworthy,
        "log_bf10_savage_dickey": log_prior0 - log_post0,
        "savage_dickey_effective_draws": ess,
        "effect_unit": EFFECT_UNIT,
        "n_zero": inputs.meta["n_zero"],
        "n_tied": inputs.meta["n_tied"],
        "n_tie_groups": inputs.meta["n_tie_groups"],
    }


def main(argv=None) -> int:
    """Fit the bundled data and print the summary (``--help`` for options)."""
    # The script hands over to the engine at run time only: the models layer
    # imports nothing above it, so the engine can import every model.
    from milkbayes.engine.script import run_model_script

    return run_model_script(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
