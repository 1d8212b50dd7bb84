"""Model comparison: exact leave-one-mother-out CV, PSIS-LOO with its Pareto k, stacking.

Also the two tables that put the reanalysis side by side with the paper: the
frequentist-versus-Bayesian table and the three-prior table.

The unit of exchangeability is the mother, not the measurement. The hierarchical
model sees two observations per mother (pre and post) and one intercept per mother,
so "leave one out" must leave out a whole mother and predict both her measurements
from the other 23. Every model takes a ``pm.Data("mother_weight")`` 0/1 vector that
multiplies its likelihood, so one compiled model is refitted 24 times with only that
vector changed (``nutpie`` ``compiled.with_data``; no recompilation, same shapes).

Layers (as in arviz-stats): NumPy functions on arrays first (:func:`log_mean_exp`,
:func:`gauss_hermite_normal`, :func:`marginalise_intercept`, :func:`rope_statement`),
then the PyMC/nutpie driver (:func:`lomo_cv`), then tables.

Notes
-----
**Exact leave-one-mother-out (LOMO).** For mother :math:`i` with observations
:math:`y_i` (one change, or a pre and a post measurement),

.. math::

    \\widehat{\\mathrm{elpd}}_{\\mathrm{lomo}} = \\sum_{i=1}^{n}
        \\log \\frac{1}{S} \\sum_{s=1}^{S} p\\left(y_i \\mid \\theta_s^{(-i)}\\right),
    \\qquad \\theta_s^{(-i)} \\sim p(\\theta \\mid y_{-i}),

where the draws come from the refit with ``mother_weight[i] = 0``. Its standard error
is :math:`\\sqrt{n \\operatorname{Var}_i(\\mathrm{elpd}_i)}` and the effective number of
parameters is :math:`p_{\\mathrm{lomo}} = \\mathrm{lppd} - \\mathrm{elpd}_{\\mathrm{lomo}}`,
with :math:`\\mathrm{lppd} = \\sum_i \\log \\frac1S \\sum_s p(y_i \\mid \\theta_s)` from the
full-data fit.

**The held-out mother's own intercept.** In the hierarchical model
:math:`\\alpha_i = \\mu_\\alpha + \\sigma_\\alpha z_i` with :math:`z_i \\sim N(0, 1)` (non-centred).
When mother :math:`i` is held out her :math:`z_i` has no likelihood, so in the refit
its posterior *is* its prior, and the predictive density of a new mother is

.. math::

    p(y_i \\mid \\theta^{(-i)}) = \\int p(y_i \\mid \\alpha_i(z), \\theta^{(-i)})\\,
        \\phi(z)\\,dz .

Using the refit's own draws of :math:`z_i` is a valid but noisy Monte Carlo estimate
of that integral (one :math:`z` per :math:`\\theta` draw; when :math:`\\sigma_\\alpha \\gg \\sigma` few
draws land where the likelihood is). When the model names its standardised
intercept offset (``intercept=("z_name", "mother_dim")``) we instead integrate
:math:`z` out for every draw by *adaptive* Gauss-Hermite quadrature (Liu & Pierce
1994): with :math:`h(z) = \\log p(y_i \\mid z, \\theta_s) + \\log\\phi(z)`, its mode
:math:`m_s` and curvature scale :math:`s_s = (-h''(m_s))^{-1/2}`,

.. math::

    \\int e^{h(z)}dz \\approx \\sum_k \\sqrt2\\, s_s\\, w_k\\, e^{x_k^2}\\,
        e^{h(m_s + \\sqrt2 s_s x_k)} .

Plain Gauss-Hermite on :math:`\\phi` is not enough: when the between-mother sd
:math:`\\sigma_\\alpha` is large against the residual sd :math:`\\sigma` (as with milk volumes) the
integrand is a spike of width about :math:`\\sigma/\\sigma_\\alpha` that fixed nodes straddle. The
adaptive rule matches the closed-form bivariate normal marginal to 1e-8 in the
tests. The full-data fit's draws of :math:`z_i` must never be used: they would leak
the held-out mother's own data into her prediction. Her covariates, in contrast,
are known at prediction time: her time effect :math:`\\tau_i` uses the modifier and
subgroup effects learned from the other mothers (a subgroup she shares with no one
falls back to its population distribution the same way, its offset having no data).

**Why pointwise PSIS-LOO fails here.** PSIS-LOO reweights the full-data posterior by
:math:`1/p(y_i \\mid \\theta_s)`. Leaving out one of a mother's two observations, or the
mother herself, moves her intercept's posterior from "pinned by her data" to "her
prior": the importance ratios then have a heavy right tail and the Pareto shape
:math:`\\hat k` exceeds the reliability threshold
:math:`\\min(1 - 1/\\log_{10} S, 0.7)` (Vehtari et al. 2024). With one parameter per
two observations, each observation is highly influential by construction. We report
PSIS-LOO only with its :math:`\\hat k`, and give its elpd only where every :math:`\\hat k`
is below the threshold; exact LOMO is the estimate we rely on.

**Refitting only where needed ("reloo").** PSIS-LOO by mother and the exact refit
estimate the same :math:`\\log p(y_i \\mid y_{-i})`; the first is reliable exactly when
its :math:`\\hat k` is small. :func:`lomo_cv` with ``psis=`` therefore refits only the
mothers whose :math:`\\hat k` exceeds the threshold and keeps the PSIS value for the
others (Vehtari, Gelman & Gabry 2017, section 2.1; brms and ArviZ ``reloo``). The
paired-change models, with no per-mother parameter, usually need no refit at all;
the hierarchical model needs one for most mothers. :attr:`LomoResult.refitted` names
them.

**Stacking.** Weights :math:`w` on the simplex maximise the log score
:math:`\\sum_i \\log \\sum_k w_k \\exp(\\mathrm{elpd}_{ik})` (Yao et al. 2018). We hand the
LOMO pointwise values to :func:`arviz_stats.compare` as ``ELPDDataLOOKFold`` (LOMO is
K-fold CV with one fold per mother), so ArviZ does the optimisation. Stacking
needs the models to predict the *same* data: models of the change
:math:`d_i = \\mathrm{post}_i - \\mathrm{pre}_i` and models of the pair
:math:`(\\mathrm{pre}_i, \\mathrm{post}_i)` are compared only within their own target.

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

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from milkbayes.errors import ModelError

__all__ = [
    "LomoResult",
    "PsisResult",
    "ComparisonRow",
    "FreqVsBayesRow",
    "PriorRow",
    "log_mean_exp",
    "gauss_hermite_normal",
    "marginalise_intercept",
    "rope_statement",
    "lomo_cv",
    "psis_by_mother",
    "compare_models",
    "stacking_weights",
    "freq_vs_bayes_table",
    "three_prior_table",
    "PointwiseLogLik",
]

DEFAULT_QUADRATURE_NODES = 20
"""Gauss-Hermite nodes used to integrate a held-out mother's intercept."""


# --------------------------------------------------------------------------- arrays
def log_mean_exp(log_values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log of the mean of ``exp(log_values)`` along ``axis``, without overflow.

    Parameters
    ----------
    log_values : ndarray
        Log densities, e.g. one per posterior draw.
    axis : int
        Axis holding the draws.

    Returns
    -------
    ndarray
        :math:`\\log \\frac1S \\sum_s e^{x_s}`.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.isclose(log_mean_exp(np.log([1.0, 3.0])), np.log(2.0)))
    True
    >>> float(log_mean_exp(np.array([-1000.0, -1000.0])))
    -1000.0
    """
    log_values = np.asarray(log_values, dtype=float)
    return logsumexp(log_values, axis=axis) - math.log(log_values.shape[axis])


def gauss_hermite_normal(n_nodes: int = DEFAULT_QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log weights that integrate against a standard normal density.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.

    Returns
    -------
    nodes, log_weights : ndarray
        :math:`\\int f(z)\\phi(z)dz \\approx \\sum_k e^{\\text{log\\_weights}_k} f(\\text{nodes}_k)`.

    Notes
    -----
    From physicists' Gauss-Hermite nodes :math:`x_k`, weights :math:`w_k`
    (:func:`numpy.polynomial.hermite.hermgauss`): :math:`z_k = \\sqrt2 x_k`,
    weight :math:`w_k/\\sqrt\\pi`.

    Examples
    --------
    >>> import numpy as np
    >>> z, lw = gauss_hermite_normal(10)
    >>> round(float(np.exp(lw).sum()), 12), round(float((np.exp(lw) * z**2).sum()), 12)
    (1.0, 1.0)
    """
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    return math.sqrt(2.0) * x, np.log(w) - 0.5 * math.log(math.pi)


def marginalise_intercept(loglik_at_nodes: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    """Integrate a held-out mother's intercept out of her log-likelihood, per draw.

    Parameters
    ----------
    loglik_at_nodes : ndarray, shape (n_nodes, n_draws)
        :math:`\\log p(y_i \\mid z = z_k, \\theta_s)`, summed over her observations.
    log_weights : ndarray, shape (n_nodes,)
        From :func:`gauss_hermite_normal`.

    Returns
    -------
    ndarray, shape (n_draws,)
        :math:`\\log \\sum_k w_k\\, p(y_i \\mid z_k, \\theta_s)`.

    Examples
    --------
    A normal observation y with mean z, z ~ N(0, 1): the marginal is N(0, sqrt(2)).

    >>> import numpy as np
    >>> from scipy import stats
    >>> z, lw = gauss_hermite_normal(40)
    >>> y = 0.7
    >>> ll = stats.norm.logpdf(y, loc=z)[:, None]
    >>> bool(np.isclose(marginalise_intercept(ll, lw)[0], stats.norm.logpdf(y, 0, np.sqrt(2))))
    True
    """
    return logsumexp(np.asarray(loglik_at_nodes) + np.asarray(log_weights)[:, None], axis=0)


def rope_statement(ci_low: float, ci_high: float, rope: tuple[float, float]) -> str:
    """Kruschke's HDI+ROPE decision rule, applied to a 95 % credible interval.

    Parameters
    ----------
    ci_low, ci_high : float
        The 95 % credible interval of the effect.
    rope : (float, float)
        Region of practical equivalence to zero, in outcome units.

    Returns
    -------
    str
        One sentence.

    Examples
    --------
    >>> rope_statement(3.0, 9.0, (-2.0, 2.0))
    'CrI entirely above the ROPE [-2, 2]: practically positive'
    >>> rope_statement(-1.0, 1.0, (-2.0, 2.0))
    'CrI inside the ROPE [-2, 2]: practically equivalent to no effect'
    >>> rope_statement(1.0, 9.0, (-2.0, 2.0))
    'CrI overlaps the ROPE [-2, 2]: undecided'
    """
    lo, hi = rope
    where = f"the ROPE [{lo:g}, {hi:g}]"
    if ci_low > hi:
        return f"CrI entirely above {where}: practically positive"
    if ci_high < lo:
        return f"CrI entirely below {where}: practically negative"
    if lo <= ci_low and ci_high <= hi:
        return f"CrI inside {where}: practically equivalent to no effect"
    return f"CrI overlaps {where}: undecided"


# --------------------------------------------------------------------------- log-likelihood
class PointwiseLogLik:
    """Elementwise log-likelihood of a PyMC model, vectorised over posterior draws.

    ``pm.compute_log_likelihood`` loops over draws in Python; here the model's
    observed-variable log density is compiled once with a leading batch axis
    (:func:`pytensor.graph.replace.vectorize_graph`), so thousands of draws, or
    draws times quadrature nodes, cost milliseconds.

    Parameters
    ----------
    model : pm.Model
        The model; its observed variables define the likelihood. The
        ``mother_weight`` data do not enter: the density is unweighted.
    mode : str or pytensor Mode
        PyTensor compile mode. ``"FAST_COMPILE"`` (Python linker, NumPy kernels) by
        default: the default numba linker takes 4-20 s to JIT each model's graph,
        far more than the few hundred thousand rows a comparison evaluates cost
        (about 0.3 s per 50,000 draws of the flagship model either way).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     _ = pm.Normal("y", mu, 1, observed=np.array([0.0, 1.0]))
    >>> ll = PointwiseLogLik(m)({"mu": np.array([0.0, 1.0])})
    >>> ll.shape
    (2, 2)
    >>> from scipy import stats
    >>> bool(np.allclose(ll[1], stats.norm.logpdf([0.0, 1.0], 1.0, 1.0)))
    True
    """

    def __init__(self, model, mode="FAST_COMPILE"):
        import pytensor
        import pytensor.tensor as pt
        from pymc.model.transform.conditioning import remove_value_transforms
        from pytensor.graph.replace import vectorize_graph

        if not model.observed_RVs:
            raise ModelError("the model has no observed variable, so no log-likelihood")
        umodel = remove_value_transforms(model)
        self.observed_names = tuple(rv.name for rv in umodel.observed_RVs)
        outputs = umodel.logp(vars=umodel.observed_RVs, sum=False)
        self.value_names = tuple(v.name for v in umodel.value_vars)
        batched = [
            pt.tensor(name=f"{v.name}_batch", dtype=v.dtype, shape=(None,) * (v.ndim + 1))
            for v in umodel.value_vars
        ]
        vectorised = vectorize_graph(outputs, replace=dict(zip(umodel.value_vars, batched)))
        self._dtypes = tuple(v.dtype for v in umodel.value_vars)
        self._fn = pytensor.function(batched, vectorised, on_unused_input="ignore", mode=mode)

    def __call__(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-likelihood of every observation, shape ``(batch, n_observations)``.

        ``values`` maps each free variable name to an array with a leading batch
        axis (draws). Several observed variables are concatenated in model order.
        """
        missing = [name for name in self.value_names if name not in values]
        if missing:
            raise ModelError(f"posterior draws lack the variables {missing}")
        args = [
            np.ascontiguousarray(values[name], dtype=dtype)
            for name, dtype in zip(self.value_names, self._dtypes)
        ]
        outs = self._fn(*args)
        batch = args[0].shape[0] if args else 1
        return np.concatenate([np.reshape(o, (batch, -1)) for o in outs], axis=1)


def _stacked_draws(posterior, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Posterior variables as arrays with chain and draw flattened into one axis."""
    out = {}
    for name in names:
        da = posterior[name]
        da = da.transpose("chain", "draw", ...)
        values = np.asarray(da.values)
        out[name] = values.reshape((-1,) + values.shape[2:])
    return out


# --------------------------------------------------------------------------- LOMO
@dataclass(frozen=True)
class LomoResult:
    """Exact leave-one-mother-out cross-validation of one model.

    Attributes
    ----------
    label : str
        Model label (e.g. ``"prepost_hierarchical/normal"``).
    target : str
        What is predicted: ``"change"`` or ``"pre_post"``; only results with
        the same target can be compared.
    elpd : float
        Sum of the per-mother held-out log predictive densities.
    se : float
        Its standard error, :math:`\\sqrt{n\\,\\mathrm{Var}(\\mathrm{elpd}_i)}`.
    p_lomo : float
        ``lppd - elpd`` (NaN when no full-data fit was given).
    elpd_i : tuple of float
        Per mother, in the order of ``mother_ids``.
    mother_ids : tuple of str
    n_draws : int
        Posterior draws per refit.
    intercept_method : str
        ``"gauss-hermite"``, ``"refit draws"`` or ``"none"``.
    refit_seconds : float
        Wall time of the refits.
    lppd_i : tuple of float
        Per mother, the full-data log pointwise predictive density (if computed).
    n_divergent : int
        Divergent transitions summed over all refits (0 is what we want).
    refitted : tuple of str
        The mothers whose elpd_i comes from an exact refit: all of them for plain
        LOMO; with ``psis`` given to :func:`lomo_cv`, those whose Pareto k was above
        ``good_k`` (the others keep their PSIS-LOO value).
    pareto_k : tuple of float
        Per mother, the Pareto k of PSIS-LOO by mother (empty when PSIS was not used).
    good_k : float or None
        The Pareto k threshold used to pick the refits (None when PSIS was not used).
    """

    label: str
    target: str
    elpd: float
    se: float
    p_lomo: float
    elpd_i: tuple[float, ...]
    mother_ids: tuple[str, ...]
    n_draws: int
    intercept_method: str
    refit_seconds: float = 0.0
    lppd_i: tuple[float, ...] = field(default=())
    n_divergent: int = 0
    refitted: tuple[str, ...] | None = None
    pareto_k: tuple[float, ...] = field(default=())
    good_k: float | None = None

    @property
    def method(self) -> str:
        """``"exact"`` (every mother refitted) or ``"psis+refits"`` (reloo)."""
        if self.refitted is None or len(self.refitted) == len(self.mother_ids):
            return "exact"
        return "psis+refits"

    def to_elpd_data(self):
        """As an ArviZ ``ELPDDataLOOKFold`` (one fold per mother), for ``az.compare``."""
        import xarray as xr
        from arviz_stats.utils import ELPDDataLOOKFold

        elpd_i = xr.DataArray(
            np.asarray(self.elpd_i), dims=["mother"], coords={"mother": list(self.mother_ids)}
        )
        return ELPDDataLOOKFold(
            elpd=self.elpd,
            se=self.se,
            p=self.p_lomo,
            n_samples=self.n_draws,
            n_data_points=len(self.elpd_i),
            scale="log",
            warning=False,
            good_k=None,
            elpd_i=elpd_i,
            n_folds=len(self.elpd_i),
        )


def _mother_rows(mother_of_obs: np.ndarray, n_mothers: int) -> list[np.ndarray]:
    mother_of_obs = np.asarray(mother_of_obs).ravel()
    rows = [np.flatnonzero(mother_of_obs == i) for i in range(n_mothers)]
    empty = [i for i, r in enumerate(rows) if r.size == 0]
    if empty:
        raise ModelError(f"mothers {empty} have no observation in the likelihood")
    return rows


def _loglik_at_z(
    loglik: PointwiseLogLik,
    draws: dict[str, np.ndarray],
    rows: np.ndarray,
    name: str,
    mother: int,
    z: np.ndarray,
) -> np.ndarray:
    """Log p(y_i | z_i = z[k, s], theta_s) for a (k, s) array of offsets."""
    k, n_draws = z.shape
    tiled = {key: np.concatenate([v] * k, axis=0) for key, v in draws.items()}
    offsets = tiled[name].copy()
    offsets[:, mother] = z.ravel()
    tiled[name] = offsets
    return loglik(tiled)[:, rows].sum(axis=1).reshape(k, n_draws)


def _heldout_loglik(
    loglik: PointwiseLogLik,
    draws: dict[str, np.ndarray],
    rows: np.ndarray,
    mother: int,
    intercept: tuple[str, str] | None,
    n_nodes: int,
) -> np.ndarray:
    """Per-draw log p(y_i | theta_s) for a held-out mother, intercept integrated out.

    Adaptive Gauss-Hermite (Liu & Pierce 1994): per draw, find the mode m and the
    curvature of h(z) = log p(y_i | z, theta) + log phi(z) (a coarse grid, then
    Newton steps with central differences), and place the nodes at m + sqrt(2) s x_k.
    Plain Gauss-Hermite on phi fails when the between-mother sd is large against
    the residual sd: the integrand is then a spike far narrower than phi.
    """
    if intercept is None:
        return loglik(draws)[:, rows].sum(axis=1)
    name, _ = intercept
    n_draws = next(iter(draws.values())).shape[0]

    def h(z: np.ndarray) -> np.ndarray:
        return _loglik_at_z(loglik, draws, rows, name, mother, z) - 0.5 * z**2

    grid = np.linspace(-8.0, 8.0, 41)
    on_grid = h(np.repeat(grid[:, None], n_draws, axis=1))
    mode = grid[np.argmax(on_grid, axis=0)]
    step = 1e-3
    for _ in range(5):
        h3 = h(np.stack([mode - step, mode, mode + step]))
        slope = (h3[2] - h3[0]) / (2 * step)
        curvature = (h3[2] - 2 * h3[1] + h3[0]) / step**2
        concave = curvature < 0
        mode = np.where(concave, mode - slope / np.where(concave, curvature, -1.0), mode)
    h3 = h(np.stack([mode - step, mode, mode + step]))
    curvature = (h3[2] - 2 * h3[1] + h3[0]) / step**2
    scale = np.where(curvature < 0, 1.0 / np.sqrt(np.abs(curvature)), 1.0)
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    z = mode[None, :] + math.sqrt(2.0) * scale[None, :] * x[:, None]
    log_terms = (
        np.log(w)[:, None]
        + x[:, None] ** 2
        + np.log(math.sqrt(2.0) * scale)[None, :]
        + h(z)
        - 0.5 * math.log(2 * math.pi)
    )
    return logsumexp(log_terms, axis=0)


def lomo_cv(
    model,
    *,
    mother_of_obs: np.ndarray,
    mother_ids: Sequence[str],
    label: str,
    target: str,
    weight_name: str = "mother_weight",
    intercept: tuple[str, str] | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    seed: int = 20241,
    full_posterior=None,
    compiled=None,
    data: Mapping[str, np.ndarray] | None = None,
    n_nodes: int = DEFAULT_QUADRATURE_NODES,
    progress: Callable[[int, int], None] | None = None,
    psis: PsisResult | None = None,
    loglik: PointwiseLogLik | None = None,
) -> LomoResult:
    """Leave-one-mother-out CV by refitting one compiled model: every mother, or only
    the mothers whose PSIS-LOO Pareto k is too high ("reloo").

    Parameters
    ----------
    model : pm.Model
        Built with a ``pm.Data(weight_name)`` vector of ones, one per mother, that
        multiplies the likelihood.
    mother_of_obs : ndarray of int
        For each element of the observed variable (flattened), its mother's index.
    mother_ids : sequence of str
        Mother identifiers, index-aligned.
    label, target : str
        See :class:`LomoResult`.
    weight_name : str
        Name of the weight ``pm.Data``.
    intercept : (str, str), optional
        ``(variable, dim)`` of a non-centred, standard-normal per-mother offset to
        integrate out by Gauss-Hermite quadrature for the held-out mother (see the
        module Notes). ``None``: the refit's own draws are used, which is exact for
        models without per-mother parameters.
    draws, tune, chains, seed : int
        nutpie settings of each refit (seed + i for mother i).
    full_posterior : xarray Dataset or DataTree, optional
        The full-data posterior, to compute ``lppd`` and ``p_lomo``.
    compiled : nutpie compiled model, optional
        Reuse a compiled model (e.g. from :mod:`milkbayes.engine.fit`'s cache).
    data : mapping, optional
        Every ``pm.Data`` value of this fit (data and ``prior_*``): a cached compiled
        model may still hold another fit's values, so all are passed to each refit.
    n_nodes : int
        Quadrature nodes.
    progress : callable(done, total), optional
        Called after each refit.
    psis : PsisResult, optional
        PSIS-LOO of the full-data fit at the ``"mother"`` level
        (:func:`psis_by_mother`). When given, only the mothers with Pareto
        :math:`\\hat k` above its ``good_k`` (or a non-finite value) are refitted; the
        others keep their PSIS-LOO ``elpd_i``. None: every mother is refitted.
    loglik : PointwiseLogLik, optional
        Of ``model``, when the caller has one already (building it compiles a graph).

    Returns
    -------
    LomoResult
        ``refitted`` names the mothers refitted exactly.

    Notes
    -----
    See the module docstring for the estimator and the treatment of intercepts.

    With ``psis`` this is the approach of Vehtari, Gelman & Gabry (2017, section
    2.1; ``reloo`` in brms and ArviZ): where :math:`\\hat k \\le` ``good_k`` the
    Pareto-smoothed importance weights give a reliable estimate of the same
    quantity, :math:`\\log p(y_i \\mid y_{-i})` (reweighting the full posterior by
    :math:`1/p(y_i \\mid \\theta, z_i)` turns mother :math:`i`'s intercept back into
    its prior, exactly as in the refit), and where it is not, the exact refit
    replaces it. Each refit uses the seed ``seed + i`` either way, so a refitted
    mother's value is the one an all-refit run gives.
    """
    import time

    from milkbayes.engine.sampling import sample_uninterrupted

    if weight_name not in model.named_vars:
        raise ModelError(
            f"model {label!r} has no pm.Data {weight_name!r}; "
            "leave-one-mother-out needs the likelihood weight vector"
        )
    n = len(mother_ids)
    rows = _mother_rows(mother_of_obs, n)
    refit = _mothers_to_refit(psis, n, label)
    if compiled is None and refit:
        from milkbayes.engine.compile_cache import compile_pymc_model

        compiled = compile_pymc_model(model)
    loglik = loglik or PointwiseLogLik(model)
    names = loglik.value_names
    if intercept is not None and intercept[0] not in names:
        raise ModelError(f"model {label!r} has no free variable {intercept[0]!r} to integrate")

    known = {var.name for var in getattr(compiled, "shared_var_keys", ())} or None
    base = {
        k: np.asarray(v)
        for k, v in (data or {}).items()
        if k != weight_name and (known is None or k in known)
    }
    started = time.perf_counter()
    elpd_i = np.empty(n)
    n_draws = draws * chains
    n_divergent = 0
    if psis is not None:
        elpd_i[:] = np.asarray(psis.elpd_i, dtype=float)
    for done, i in enumerate(refit):
        weight = np.ones(n)
        weight[i] = 0.0
        # not nutpie.sample: on Ctrl-C it returns the draws so far as if finished
        tree = sample_uninterrupted(
            compiled.with_data(**base, **{weight_name: weight}),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed + i,
            progress_bar=False,
        )
        posterior = tree["posterior"] if "posterior" in tree.children else tree
        if "sample_stats" in tree.children and "diverging" in tree["sample_stats"].data_vars:
            n_divergent += int(np.asarray(tree["sample_stats"]["diverging"]).sum())
        sample = _stacked_draws(posterior, names)
        ll = _heldout_loglik(loglik, sample, rows[i], i, intercept, n_nodes)
        if not np.all(np.isfinite(ll)):
            raise ModelError(
                f"{label}: non-finite held-out log density for mother {mother_ids[i]!r}"
            )
        elpd_i[i] = float(log_mean_exp(ll))
        if progress is not None:
            progress(done + 1, len(refit))
    seconds = time.perf_counter() - started

    lppd_i: tuple[float, ...] = ()
    p_lomo = float("nan")
    if full_posterior is not None:
        post = (
            full_posterior["posterior"]
            if hasattr(full_posterior, "children") and "posterior" in full_posterior.children
            else full_posterior
        )
        full = loglik(_stacked_draws(post, names))
        lppd = np.array([float(log_mean_exp(full[:, r].sum(axis=1))) for r in rows])
        lppd_i = tuple(lppd.tolist())
        p_lomo = float(lppd.sum() - elpd_i.sum())
    return LomoResult(
        label=label,
        target=target,
        elpd=float(elpd_i.sum()),
        se=float(math.sqrt(n * np.var(elpd_i))),
        p_lomo=p_lomo,
        elpd_i=tuple(elpd_i.tolist()),
        mother_ids=tuple(str(m) for m in mother_ids),
        n_draws=n_draws,
        intercept_method="gauss-hermite" if intercept is not None else "refit draws",
        refit_seconds=seconds,
        lppd_i=lppd_i,
        n_divergent=n_divergent,
        refitted=tuple(str(mother_ids[i]) for i in refit),
        pareto_k=tuple(psis.pareto_k) if psis is not None else (),
        good_k=float(psis.good_k) if psis is not None else None,
    )


def _mothers_to_refit(psis: PsisResult | None, n: int, label: str) -> list[int]:
    """Indices to refit exactly: all, or those whose PSIS value cannot be trusted."""
    if psis is None:
        return list(range(n))
    if psis.level != "mother" or len(psis.pareto_k) != n or len(psis.elpd_i) != n:
        raise ModelError(
            f"{label}: reloo needs PSIS-LOO by mother for all {n} mothers, got "
            f"level {psis.level!r} with {len(psis.pareto_k)} Pareto k"
        )
    k = np.asarray(psis.pareto_k, dtype=float)
    values = np.asarray(psis.elpd_i, dtype=float)
    # a NaN k (e.g. constant ratios) is not evidence of reliability: refit it too
    trusted = np.isfinite(k) & (k <= psis.good_k) & np.isfinite(values)
    return [int(i) for i in np.flatnonzero(~trusted)]


# --------------------------------------------------------------------------- PSIS-LOO
@dataclass(frozen=True)
class PsisResult:
    """PSIS-LOO at one grouping level, reported with its Pareto k.

    Attributes
    ----------
    label : str
    level : str
        ``"observation"`` or ``"mother"`` (the mother's observations summed).
    elpd, se : float or None
        Given only when ``reliable``; ``None`` otherwise, never a silent number.
    pareto_k : tuple of float
    good_k : float
        The threshold :math:`\\min(1 - 1/\\log_{10} S, 0.7)`.
    n_high_k : int
    reliable : bool
    note : str
        Why the estimate is or is not reported.
    elpd_i : tuple of float
        Pointwise PSIS-LOO values, always kept: :func:`lomo_cv` uses those whose
        Pareto k is good and refits the others exactly. Only the sum is withheld
        when some k is high.
    """

    label: str
    level: str
    elpd: float | None
    se: float | None
    pareto_k: tuple[float, ...]
    good_k: float
    n_high_k: int
    reliable: bool
    note: str
    elpd_i: tuple[float, ...] = field(default=())

    @property
    def max_k(self) -> float:
        """Largest Pareto k."""
        return float(max(self.pareto_k))


def psis_by_mother(
    full_posterior,
    loglik_matrix: np.ndarray,
    mother_of_obs: np.ndarray,
    n_mothers: int,
    *,
    label: str,
    level: str = "mother",
) -> PsisResult:
    """PSIS-LOO with ``az.loo``, by observation or with each mother's observations summed.

    Parameters
    ----------
    full_posterior : xarray Dataset or DataTree
        Full-data posterior (its chain/draw layout gives ArviZ the relative ESS).
    loglik_matrix : ndarray, shape (chain * draw, n_observations)
        Pointwise log-likelihood, rows in chain-major order.
    mother_of_obs : ndarray of int
    n_mothers : int
    label : str
    level : {"mother", "observation"}

    Returns
    -------
    PsisResult
    """
    import arviz as az
    import xarray as xr

    post = (
        full_posterior["posterior"]
        if hasattr(full_posterior, "children") and "posterior" in full_posterior.children
        else full_posterior
    )
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    if level == "mother":
        rows = _mother_rows(mother_of_obs, n_mothers)
        values = np.stack([loglik_matrix[:, r].sum(axis=1) for r in rows], axis=1)
        dim = "mother"
    elif level == "observation":
        values, dim = loglik_matrix, "observation"
    else:
        raise ValueError(f"level must be 'mother' or 'observation', got {level!r}")
    ll = xr.DataArray(values.reshape(n_chain, n_draw, -1), dims=["chain", "draw", dim])
    post_ds = post.to_dataset() if hasattr(post, "to_dataset") else post
    tree = xr.DataTree.from_dict({"posterior": post_ds, "log_likelihood": xr.Dataset({"y": ll})})
    import warnings

    with warnings.catch_warnings():
        # the high-k warning is the finding itself; it is reported in the result
        warnings.simplefilter("ignore", UserWarning)
        result = az.loo(tree, pointwise=True, var_name="y")
    k = np.asarray(result.pareto_k).ravel()
    good_k = float(result.good_k)
    n_high = int((k > good_k).sum())
    reliable = n_high == 0
    if reliable:
        note = f"all Pareto k <= {good_k:.2f}: PSIS-LOO is reliable"
    else:
        note = (
            f"{n_high} of {k.size} Pareto k > {good_k:.2f} (max {k.max():.2f}): "
            "PSIS-LOO is not reliable; use exact leave-one-mother-out"
        )
    return PsisResult(
        label=label,
        level=level,
        elpd=float(result.elpd) if reliable else None,
        se=float(result.se) if reliable else None,
        pareto_k=tuple(k.tolist()),
        good_k=good_k,
        n_high_k=n_high,
        reliable=reliable,
        note=note,
        elpd_i=tuple(np.asarray(result.elpd_i, dtype=float).ravel().tolist()),
    )


# --------------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class ComparisonRow:
    """One model in the comparison table (one target)."""

    label: str
    target: str
    rank: int
    elpd: float
    se: float
    elpd_diff: float
    dse: float
    p_lomo: float
    weight: float


def stacking_weights(elpd_i: np.ndarray) -> np.ndarray:
    """Stacking weights from pointwise held-out log densities, via ``az.compare``.

    Parameters
    ----------
    elpd_i : ndarray, shape (n_points, n_models)

    Returns
    -------
    ndarray, shape (n_models,)
        Weights in the column order, summing to 1.

    Examples
    --------
    A model whose held-out density is higher at every point takes all the weight:

    >>> import numpy as np
    >>> w = stacking_weights(np.array([[-1.0, -3.0], [-1.2, -2.9], [-0.8, -3.5]]))
    >>> bool(w[0] > 0.99)
    True
    """
    elpd_i = np.asarray(elpd_i, dtype=float)
    results = {
        f"m{j}": LomoResult(
            label=f"m{j}",
            target="any",
            elpd=float(elpd_i[:, j].sum()),
            se=0.0,
            p_lomo=0.0,
            elpd_i=tuple(elpd_i[:, j]),
            mother_ids=tuple(str(i) for i in range(elpd_i.shape[0])),
            n_draws=1,
            intercept_method="none",
        )
        for j in range(elpd_i.shape[1])
    }
    rows = compare_models(list(results.values()))
    by_label = {row.label: row.weight for row in rows}
    return np.array([by_label[f"m{j}"] for j in range(elpd_i.shape[1])])


def compare_models(results: Sequence[LomoResult]) -> list[ComparisonRow]:
    """Rank models by LOMO elpd with stacking weights, within each prediction target.

    Parameters
    ----------
    results : sequence of LomoResult

    Returns
    -------
    list of ComparisonRow
        Grouped by target, best first; weights sum to 1 within a target. A target
        with a single model gets weight 1 and no differences.
    """
    import warnings

    import arviz as az

    rows: list[ComparisonRow] = []
    targets = list(dict.fromkeys(r.target for r in results))
    for target in targets:
        group = [r for r in results if r.target == target]
        labels = [r.label for r in group]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate model labels in {labels}")
        if len(group) == 1:
            r = group[0]
            rows.append(ComparisonRow(r.label, target, 0, r.elpd, r.se, 0.0, 0.0, r.p_lomo, 1.0))
            continue
        ids = {r.mother_ids for r in group}
        if len(ids) != 1:
            raise ValueError(
                f"models for target {target!r} were cross-validated on different mothers"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.compare(
                {r.label: r.to_elpd_data() for r in group}, method="stacking", round_to="none"
            )
        for label, rec in table.iterrows():
            r = next(x for x in group if x.label == label)
            rows.append(
                ComparisonRow(
                    label=str(label),
                    target=target,
                    rank=int(rec["rank"]),
                    elpd=r.elpd,
                    se=r.se,
                    elpd_diff=float(rec["elpd_diff"]),
                    dse=float(rec["dse"]),
                    p_lomo=r.p_lomo,
                    weight=float(rec["weight"]),
                )
            )
    return rows


# --------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class FreqVsBayesRow:
    """One line of the frequentist-versus-Bayesian table.

    Attributes
    ----------
    quantity : str
        ``"estimate"``, ``"interval"`` or ``"evidence"``.
    frequentist_label, frequentist_value : str, float or tuple
    bayesian_label, bayesian_value : str, float or tuple
    """

    quantity: str
    frequentist_label: str
    frequentist_value: float | tuple[float, float]
    bayesian_label: str
    bayesian_value: float | tuple[float, float]


def freq_vs_bayes_table(
    *,
    hodges_lehmann: float,
    hl_ci: tuple[float, float],
    mean_change: float,
    t_ci: tuple[float, float],
    p_wilcoxon: float,
    p_t: float | None,
    effect_median: float,
    effect_ci: tuple[float, float],
    p_effect_gt_0: float,
    p_effect_gt_mcid: float,
    mcid: float,
    bf10: float | None,
    bf10_text: str | None = None,
) -> list[FreqVsBayesRow]:
    """Estimate, interval and evidence side by side.

    Parameters
    ----------
    hodges_lehmann, hl_ci : float, (float, float)
        Hodges-Lehmann median change and its exact 95 % CI.
    mean_change, t_ci : float, (float, float)
        Mean change and the paired-t 95 % CI.
    p_wilcoxon, p_t : float
        Exact Wilcoxon p and paired-t p (two-sided).
    effect_median, effect_ci : float, (float, float)
        Posterior median and 95 % equal-tailed credible interval of the effect.
    p_effect_gt_0, p_effect_gt_mcid, mcid : float
    bf10 : float or None
        Bayes factor in favour of an effect (None if the model gives none).
    bf10_text : str, optional
        A textual bound when BF10 overflows (e.g. ``"BF10 > 10^5"``).

    Returns
    -------
    list of FreqVsBayesRow

    Examples
    --------
    >>> rows = freq_vs_bayes_table(hodges_lehmann=10.0, hl_ci=(7.0, 13.0), mean_change=10.5,
    ...     t_ci=(8.0, 13.0), p_wilcoxon=1e-5, p_t=1e-7, effect_median=10.2,
    ...     effect_ci=(7.5, 12.9), p_effect_gt_0=1.0, p_effect_gt_mcid=0.55, mcid=10.0,
    ...     bf10=2e4)
    >>> [r.quantity for r in rows]
    ['estimate', 'estimate', 'interval', 'interval', 'evidence', 'evidence', 'evidence']
    """
    rows = [
        FreqVsBayesRow(
            "estimate",
            "Hodges-Lehmann median change",
            hodges_lehmann,
            "posterior median of the effect",
            effect_median,
        ),
        FreqVsBayesRow(
            "estimate", "mean change", mean_change, "posterior median of the effect", effect_median
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (Hodges-Lehmann, exact)",
            tuple(hl_ci),
            "95 % credible interval",
            tuple(effect_ci),
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (paired t)",
            tuple(t_ci),
            "95 % credible interval",
            tuple(effect_ci),
        ),
        FreqVsBayesRow(
            "evidence",
            "p (Wilcoxon, exact)",
            p_wilcoxon,
            bf10_text or "BF10",
            float("nan") if bf10 is None else bf10,
        ),
        FreqVsBayesRow(
            "evidence",
            "p (paired t)",
            float("nan") if p_t is None else p_t,
            "P(effect > 0)",
            p_effect_gt_0,
        ),
        FreqVsBayesRow(
            "evidence",
            "p (Wilcoxon, exact)",
            p_wilcoxon,
            f"P(effect > MCID = {mcid:g})",
            p_effect_gt_mcid,
        ),
    ]
    return rows


@dataclass(frozen=True)
class PriorRow:
    """One prior set in the three-prior table."""

    prior: str
    median: float
    ci95_low: float
    ci95_high: float
    p_gt_0: float
    p_gt_mcid: float
    p_in_rope: float
    rope_statement: str


def three_prior_table(
    effect_draws: Mapping[str, np.ndarray], *, mcid: float, rope: tuple[float, float]
) -> list[PriorRow]:
    """Median, 95 % CrI, P(> 0), P(> MCID) and a ROPE statement, one row per prior.

    Parameters
    ----------
    effect_draws : mapping prior name -> 1-D array of posterior draws of the effect
    mcid : float
        Minimal clinically important difference, outcome units.
    rope : (float, float)
        Region of practical equivalence.

    Returns
    -------
    list of PriorRow
        In the mapping's order (skeptical, neutral, enthusiastic by convention).

    Notes
    -----
    The interval is equal-tailed (2.5 % and 97.5 % quantiles), as
    ``az.summary(..., ci_prob=0.95)`` gives with ``ci_kind="eti"``. P(> c) is the
    share of draws above c.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(10.0, 2.0, 200_000)
    >>> row = three_prior_table({"neutral": draws}, mcid=10.0, rope=(-2.0, 2.0))[0]
    >>> round(row.median, 1), round(row.p_gt_mcid, 2), round(row.ci95_low, 1)
    (10.0, 0.5, 6.1)
    """
    rows = []
    for name, draws in effect_draws.items():
        x = np.asarray(draws, dtype=float).ravel()
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise ModelError(f"prior {name!r}: effect draws are empty or not finite")
        low, med, high = np.quantile(x, [0.025, 0.5, 0.975])
        rows.append(
            PriorRow(
                prior=name,
                median=float(med),
                ci95_low=float(low),
                ci95_high=float(high),
                p_gt_0=float((x > 0).mean()),
                p_gt_mcid=float((x > mcid).mean()),
                p_in_rope=float(((x >= rope[0]) & (x <= rope[1])).mean()),
                rope_statement=rope_statement(float(low), float(high), rope),
            )
        )
    return rows
