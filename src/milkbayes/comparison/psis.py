"""PSIS-LOO at the level of the mother or of the observation, always with its Pareto k.

Pointwise PSIS-LOO is unreliable for the hierarchical model (one intercept per two
observations); :func:`psis_by_mother` reports the estimate only where every Pareto
k is good, and keeps the pointwise values so that
:func:`milkbayes.comparison.lomo.lomo_cv` refits only the mothers whose k is high.
See :mod:`milkbayes.comparison` for the reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from milkbayes.comparison.pointwise import mother_rows

__all__ = ["PsisResult", "psis_by_mother", "relative_ess"]


@dataclass(frozen=True)
class PsisResult:
    r"""PSIS-LOO at one grouping level, reported with its Pareto k.

    Attributes
    ----------
    label : str
    level : str
        ``"observation"`` or ``"mother"`` (the mother's observations summed).
    elpd, se : float or None
        Given only when ``reliable``; ``None`` otherwise, never a silent number.
    pareto_k : tuple of float
    good_k : float
        The threshold :math:`\min(1 - 1/\log_{10} S, 0.7)`.
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
    reff: float | None = None,
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
    reff : float, optional
        The posterior's relative efficiency, :func:`relative_ess` of
        ``full_posterior`` (what ``az.loo`` computes without it), when the caller
        has it: both levels of one fit share it.

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
        rows = mother_rows(mother_of_obs, n_mothers)
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
        try:
            result = az.loo(tree, pointwise=True, var_name="y", reff=reff)
        except ValueError as error:
            # e.g. "All tail values are the same": every change zero, so some
            # log-likelihood is flat over the draws and no Pareto tail can be fitted
            return _unavailable(label, level, values.shape[1], n_chain * n_draw, str(error))
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


def _unavailable(label: str, level: str, n_points: int, n_samples: int, reason: str) -> PsisResult:
    r"""A PSIS result that says PSIS-LOO could not be computed, so that every mother is refitted.

    Every Pareto k is NaN, which :func:`milkbayes.comparison.lomo.lomo_cv` treats as
    untrustworthy; the threshold is ArviZ's, :math:`\min(1 - 1/\log_{10} S, 0.7)`.
    """
    good_k = min(1.0 - 1.0 / math.log10(n_samples), 0.7) if n_samples > 10 else 0.7
    return PsisResult(
        label=label,
        level=level,
        elpd=None,
        se=None,
        pareto_k=(math.nan,) * n_points,
        good_k=good_k,
        n_high_k=n_points,
        reliable=False,
        note=(f"PSIS-LOO could not be computed ({reason}); use exact leave-one-mother-out"),
        elpd_i=(math.nan,) * n_points,
    )


def relative_ess(full_posterior) -> float:
    """The relative efficiency ``az.loo`` gives PSIS by default: mean ESS over all draws.

    ArviZ's choice (``arviz_stats.loo``): with several chains, the mean of the
    "mean" ESS of every element of every posterior variable, divided by the
    number of draws; 1 with one chain. A function of the posterior alone, so
    :func:`psis_by_mother` of two levels of one fit needs it once (it is most of
    an ``az.loo`` call on these models).

    Parameters
    ----------
    full_posterior : xarray Dataset or DataTree
        As :func:`psis_by_mother` takes it.

    Returns
    -------
    float

    Examples
    --------
    >>> import xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> post = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(4, 500)))})
    >>> 0.8 < relative_ess(post) < 1.2  # independent draws: ESS about the draws
    True
    """
    import arviz_stats  # noqa: F401 - the azstats accessor

    post = (
        full_posterior["posterior"]
        if hasattr(full_posterior, "children") and "posterior" in full_posterior.children
        else full_posterior
    )
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    if post.sizes["chain"] == 1:
        return 1.0
    ess = post.azstats.ess(method="mean")
    n_samples = post.sizes["chain"] * post.sizes["draw"]
    return float(np.hstack([ess[v].values.flatten() for v in ess.data_vars]).mean() / n_samples)
