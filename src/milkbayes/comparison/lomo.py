"""Cross-validation by mother, by refitting one compiled model.

:func:`lomo_cv` refits the model once per held-out mother with her
``mother_weight`` set to 0 (or only for the mothers whose PSIS-LOO Pareto k is too
high), integrates her own intercept out by adaptive Gauss-Hermite quadrature, and
returns a :class:`LomoResult`. :func:`kfold_cv` holds out K folds of mothers instead
(K refits, whatever the number of mothers), for studies too large for per-mother
refits (:func:`milkbayes.comparison.choice.choose_method` decides). The estimator and
its treatment of intercepts are explained in :mod:`milkbayes.comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from milkbayes.comparison.choice import fold_assignment, untrusted_mothers
from milkbayes.comparison.pointwise import PointwiseLogLik, mother_rows, stacked_draws
from milkbayes.comparison.psis import PsisResult
from milkbayes.comparison.quadrature import DEFAULT_QUADRATURE_NODES, log_mean_exp
from milkbayes.errors import ModelError

__all__ = ["LomoResult", "kfold_cv", "lomo_cv"]


@dataclass(frozen=True)
class LomoResult:
    r"""Exact leave-one-mother-out cross-validation of one model.

    Attributes
    ----------
    label : str
        Model label (e.g. ``"prepost_hierarchical/normal"``).
    target : str
        What is predicted: ``"change"``, ``"pre_post"`` or ``"post_given_pre"``
        (:data:`milkbayes.models.registry.PREDICTED`); only results with the same
        target can be compared.
    elpd : float
        Sum of the per-mother held-out log predictive densities.
    se : float
        Its standard error, :math:`\sqrt{n\,\mathrm{Var}(\mathrm{elpd}_i)}`.
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
    n_folds : int or None
        K of K-fold cross-validation (:func:`kfold_cv`); None for leave-one-out.
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
    n_folds: int | None = None

    @property
    def method(self) -> str:
        """``"exact"`` (every mother refitted), ``"psis+refits"`` (reloo) or ``"kfold"``."""
        if self.n_folds is not None:
            return "kfold"
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
            n_folds=self.n_folds or len(self.elpd_i),
        )


_GRID_CHUNK = 8
"""Offsets evaluated per call of the log-likelihood (bounds its memory on large studies)."""


def _heldout_loglik(
    loglik: PointwiseLogLik,
    draws: dict[str, np.ndarray],
    rows: np.ndarray,
    mother: int,
    intercept: tuple[str, str] | None,
    n_nodes: int,
) -> np.ndarray:
    """Per-draw log p(y_i | theta_s) for one held-out mother (see :func:`_heldout_logliks`)."""
    return _heldout_logliks(loglik, draws, [rows], [mother], intercept, n_nodes)[:, 0]


def _heldout_logliks(
    loglik: PointwiseLogLik,
    draws: dict[str, np.ndarray],
    rows: Sequence[np.ndarray],
    mothers: Sequence[int],
    intercept: tuple[str, str] | None,
    n_nodes: int,
) -> np.ndarray:
    """Per-draw log p(y_i | theta_s) of held-out mothers, intercepts integrated out.

    Returns an array (draws, mothers). Adaptive Gauss-Hermite (Liu & Pierce 1994):
    per draw and mother, find the mode m and the curvature of
    h(z) = log p(y_i | z, theta) + log phi(z) (a coarse grid, then Newton steps with
    central differences), and place the nodes at m + sqrt(2) s x_k. Plain
    Gauss-Hermite on phi fails when the between-mother sd is large against the
    residual sd: the integrand is then a spike far narrower than phi.

    A mother's likelihood depends on her own offset only, so the offsets of all the
    held-out mothers of a refit are moved together: one evaluation of the
    log-likelihood serves every one of them, and K-fold on thousands of mothers
    costs K x (grid + Newton steps) evaluations rather than one set per mother.
    """
    n_held = len(mothers)
    # the held-out mothers' rows side by side: one gather and one segmented sum
    columns = np.concatenate([np.asarray(r, dtype=int) for r in rows])
    starts = np.cumsum([0] + [len(r) for r in rows[:-1]])

    def per_mother(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[:, columns], starts, axis=1)

    if intercept is None:
        return per_mother(loglik(draws))
    name, _ = intercept
    n_draws = next(iter(draws.values())).shape[0]
    held = np.asarray(mothers, dtype=int)

    def h(z: np.ndarray) -> np.ndarray:
        """The function h at offsets z of shape (k, draws, mothers), in chunks of the first axis."""
        out = np.empty_like(z)
        for start in range(0, z.shape[0], _GRID_CHUNK):
            chunk = z[start : start + _GRID_CHUNK]
            k = chunk.shape[0]
            tiled = {key: np.concatenate([v] * k, axis=0) for key, v in draws.items()}
            offsets = tiled[name].copy()
            offsets[:, held] = chunk.reshape(k * n_draws, n_held)
            tiled[name] = offsets
            # only the held-out mothers' observations (loglik.rows: the same values)
            values = np.add.reduceat(loglik.rows(tiled, columns), starts, axis=1)
            values = values.reshape(k, n_draws, n_held)
            out[start : start + k] = values - 0.5 * chunk**2
        return out

    shape = (n_draws, n_held)
    grid = np.linspace(-8.0, 8.0, 41)
    on_grid = h(np.broadcast_to(grid[:, None, None], (grid.size, *shape)).copy())
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
    x3, w3 = x[:, None, None], w[:, None, None]
    z = mode[None] + math.sqrt(2.0) * scale[None] * x3
    log_terms = (
        np.log(w3)
        + x3**2
        + np.log(math.sqrt(2.0) * scale)[None]
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
    r"""Leave-one-mother-out CV by refitting one compiled model, for every mother or some.

    Every mother is refitted, or only the mothers whose PSIS-LOO Pareto k is too high
    ("reloo").

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
        :math:`\hat k` above its ``good_k`` (or a non-finite value) are refitted; the
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
    2.1; ``reloo`` in brms and ArviZ): where :math:`\hat k \le` ``good_k`` the
    Pareto-smoothed importance weights give a reliable estimate of the same
    quantity, :math:`\log p(y_i \mid y_{-i})` (reweighting the full posterior by
    :math:`1/p(y_i \mid \theta, z_i)` turns mother :math:`i`'s intercept back into
    its prior, exactly as in the refit), and where it is not, the exact refit
    replaces it. Each refit uses the seed ``seed + i`` either way, so a refitted
    mother's value is the one an all-refit run gives.
    """
    n = len(mother_ids)
    refit = _mothers_to_refit(psis, n, label)
    return _cross_validate(
        model,
        groups=[np.array([i]) for i in refit],
        seeds=[seed + i for i in refit],
        mother_of_obs=mother_of_obs,
        mother_ids=mother_ids,
        label=label,
        target=target,
        weight_name=weight_name,
        intercept=intercept,
        draws=draws,
        tune=tune,
        chains=chains,
        full_posterior=full_posterior,
        compiled=compiled,
        data=data,
        n_nodes=n_nodes,
        progress=progress,
        psis=psis,
        loglik=loglik,
    )


def kfold_cv(
    model,
    *,
    mother_of_obs: np.ndarray,
    mother_ids: Sequence[str],
    label: str,
    target: str,
    k: int,
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
    loglik: PointwiseLogLik | None = None,
) -> LomoResult:
    r"""K-fold cross-validation by mother: K refits, each holding out one fold of mothers.

    The mothers are dealt into ``k`` folds by
    :func:`~milkbayes.comparison.choice.fold_assignment` (seeded by ``seed``); fold
    :math:`j` is refitted with its mothers' ``mother_weight`` set to 0 and seed
    ``seed + j``. Each held-out mother :math:`i` of fold :math:`j` gets

    .. math:: \widehat{\mathrm{elpd}}_i = \log \frac{1}{S} \sum_s
        p(y_i \mid \theta^{(s)}_{-j}),

    her own intercept integrated out as in :func:`lomo_cv`: the pointwise K-fold
    estimate of Vehtari, Gelman & Gabry (2017, section 2.3), on the same per-mother
    scale as leave-one-mother-out, so the stacking weights and the pointwise table
    treat both alike.

    Parameters
    ----------
    model, mother_of_obs, mother_ids, label, target, weight_name, intercept
        As for :func:`lomo_cv`.
    k : int
        Number of folds (``2 <= k <= len(mother_ids)``).
    draws, tune, chains, seed : int
        nutpie settings of each refit (seed + j for fold j; ``seed`` also fixes the
        folds).
    full_posterior, compiled, data, n_nodes, loglik
        As for :func:`lomo_cv`.
    progress : callable(done, total), optional
        Called after each of the ``k`` refits.

    Returns
    -------
    LomoResult
        With ``n_folds = k`` (``method == "kfold"``) and every mother in
        ``refitted``.
    """
    folds = fold_assignment(len(mother_ids), k, seed=seed)
    return _cross_validate(
        model,
        groups=[np.flatnonzero(folds == j) for j in range(k)],
        seeds=[seed + j for j in range(k)],
        mother_of_obs=mother_of_obs,
        mother_ids=mother_ids,
        label=label,
        target=target,
        weight_name=weight_name,
        intercept=intercept,
        draws=draws,
        tune=tune,
        chains=chains,
        full_posterior=full_posterior,
        compiled=compiled,
        data=data,
        n_nodes=n_nodes,
        progress=progress,
        psis=None,
        loglik=loglik,
        n_folds=k,
    )


def _cross_validate(
    model,
    *,
    groups: list[np.ndarray],
    seeds: list[int],
    mother_of_obs: np.ndarray,
    mother_ids: Sequence[str],
    label: str,
    target: str,
    weight_name: str,
    intercept: tuple[str, str] | None,
    draws: int,
    tune: int,
    chains: int,
    full_posterior,
    compiled,
    data: Mapping[str, np.ndarray] | None,
    n_nodes: int,
    progress: Callable[[int, int], None] | None,
    psis: PsisResult | None,
    loglik: PointwiseLogLik | None,
    n_folds: int | None = None,
) -> LomoResult:
    """Refit once per group of held-out mothers and score each of them.

    The mothers in no group keep their PSIS-LOO value (``psis``).
    """
    import time

    from milkbayes.engine.sampling import sample_draws

    if weight_name not in model.named_vars:
        raise ModelError(
            f"model {label!r} has no pm.Data {weight_name!r}; "
            "cross-validation by mother needs the likelihood weight vector"
        )
    n = len(mother_ids)
    rows = mother_rows(mother_of_obs, n)
    if compiled is None and groups:
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
    for done, (group, group_seed) in enumerate(zip(groups, seeds, strict=True)):
        weight = np.ones(n)
        weight[group] = 0.0
        # not nutpie.sample: on Ctrl-C it returns the draws so far as if finished; and
        # only the arrays the held-out density needs, not nutpie's whole DataTree
        values, divergent = sample_draws(
            compiled.with_data(**base, **{weight_name: weight}),
            names,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=group_seed,
            progress_bar=False,
        )
        n_divergent += divergent
        sample = {name: v.reshape((-1, *v.shape[2:])) for name, v in values.items()}
        ll = _heldout_logliks(
            loglik, sample, [rows[i] for i in group], [int(i) for i in group], intercept, n_nodes
        )
        for j, i in enumerate(group):
            if not np.all(np.isfinite(ll[:, j])):
                raise ModelError(
                    f"{label}: non-finite held-out log density for mother {mother_ids[i]!r}"
                )
            elpd_i[i] = float(log_mean_exp(ll[:, j]))
        if progress is not None:
            progress(done + 1, len(groups))
    seconds = time.perf_counter() - started

    lppd_i: tuple[float, ...] = ()
    p_lomo = float("nan")
    if full_posterior is not None:
        post = (
            full_posterior["posterior"]
            if hasattr(full_posterior, "children") and "posterior" in full_posterior.children
            else full_posterior
        )
        full = loglik(stacked_draws(post, names))
        lppd = np.array([float(log_mean_exp(full[:, r].sum(axis=1))) for r in rows])
        lppd_i = tuple(lppd.tolist())
        p_lomo = float(lppd.sum() - elpd_i.sum())
    refitted = sorted(int(i) for group in groups for i in group)
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
        refitted=tuple(str(mother_ids[i]) for i in refitted),
        pareto_k=tuple(psis.pareto_k) if psis is not None else (),
        good_k=float(psis.good_k) if psis is not None else None,
        n_folds=n_folds,
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
    return untrusted_mothers(psis)
