r"""Diagnostics of a fit: convergence table, predictive checks and LOO-PIT.

nutpie runs no convergence checks of its own; this module does, with explicit
thresholds, and marks each row ``pass``, ``warn`` or ``fail``.

Notes
-----
Convergence rows (ArviZ computes every number; this module only reduces and judges):

========================  ============================================  ========
check                     statistic                                     failing
========================  ============================================  ========
``rhat``                  max rank-normalised split R-hat               > 1.01
``ess_bulk``              min bulk ESS                                  < 400
``ess_tail``              min tail ESS                                  < 400
``divergences``           number of divergent post-warm-up transitions  > 0
``ebfmi``                 min over chains of E-BFMI                     < 0.3
``tree_depth``            draws whose trajectory hit the maximum depth  > 0 (warn)
========================  ============================================  ========

Reductions are explicit (``max``/``min`` over every element of every posterior
variable) and never silently NaN: a non-finite R-hat or ESS fails its row and names
the variable; a variable that is constant over all draws (a fixed deterministic) is
left out of R-hat and ESS, and the row says so. Hitting the maximum tree depth costs
efficiency, not validity, so it warns.

E-BFMI of chain :math:`c` with energies :math:`E_t` is
:math:`\sum_t (E_t - E_{t-1})^2 / \sum_t (E_t - \bar E)^2` (Betancourt 2016),
computed by ``arviz.bfmi``.

Predictive checks compare a statistic :math:`T` of the observed data with its
distribution over predictive draws, by the mid-p predictive p-value
:math:`P(T^{rep} > T^{obs}) + \tfrac12 P(T^{rep} = T^{obs})` (the half counts ties,
frequent for shares). Values below 0.025 or above 0.975 warn. Two families:

* statistics of the changes (:data:`STATISTICS`): the mean change and the share of
  positive changes. Every model fits the mean change directly, so these checks
  seldom fail (Gelman, Meng & Stern 1996 on statistics that a model fits);
* statistics of the two measurements that no model fits directly
  (:data:`LEVEL_STATISTICS`): :math:`\mathrm{SD}(\mathrm{post})/\mathrm{SD}(\mathrm{pre})`,
  which a model with one residual sd at both times cannot stretch; the smallest
  measurement; and, for volumes and scores (which cannot be negative), the share of
  measurements below zero, which a normal model of small volumes puts above zero.
  These need the pre and post values of every mother, so models of the change alone
  get none.

LOO-PIT values (``arviz.loo_pit``) of a well-calibrated model are close to uniform;
the Kolmogorov-Smirnov test (``scipy.stats.kstest``) against U(0, 1) with p < 0.05
warns. With two dozen mothers the test has little power: a pass is weak evidence.
The values rest on PSIS weights: where an observation's Pareto k exceeds ArviZ's
threshold its PIT value is not reliable either, and the check warns whatever the
test says (with a mother's own intercept and two measurements, most k are high).

References
----------
Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C (2021). Rank-normalization,
folding, and localization: an improved R-hat. Bayesian Analysis 16(2), 667-718.
Betancourt M (2016). Diagnosing suboptimal cotangent disintegrations in Hamiltonian
Monte Carlo. arXiv:1604.00695.
Gelman A, Meng X-L, Stern H (1996). Posterior predictive assessment of model fitness
via realized discrepancies. Statistica Sinica 6, 733-807.

Examples
--------
>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(1)
>>> good = xr.DataTree.from_dict({"posterior": xr.Dataset(
...     {"mu": (("chain", "draw"), rng.normal(size=(4, 1000)))})})
>>> report = convergence_report(good)
>>> report.row("rhat").status, report.row("divergences").status
('pass', 'warn')
>>> stuck = xr.DataTree.from_dict({"posterior": xr.Dataset(
...     {"mu": (("chain", "draw"), rng.normal(size=(4, 1000)) + np.arange(4)[:, None])})})
>>> convergence_report(stuck).ok
False
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    import xarray as xr

RHAT_MAX = 1.01
"""R-hat above this fails (Vehtari et al. 2021)."""

ESS_MIN = 400
"""Bulk or tail ESS below this fails (100 per chain for 4 chains, Vehtari et al. 2021)."""

DIVERGENCES_MAX = 0
"""Any divergent transition fails: the posterior may be biased where the sampler fled."""

EBFMI_MIN = 0.3
"""E-BFMI below this in any chain fails (Betancourt 2016)."""

TREE_DEPTH_HITS_MAX = 0
"""More draws than this at the maximum tree depth warns (efficiency, not validity)."""

PPP_LOW, PPP_HIGH = 0.025, 0.975
"""Predictive p-values outside this band warn."""

LOO_PIT_KS_ALPHA = 0.05
"""A KS test of LOO-PIT uniformity below this warns."""

Status = Literal["pass", "warn", "fail"]
_SEVERITY = {"pass": 0, "warn": 1, "fail": 2}


# ----------------------------------------------------------------------------- convergence
@dataclass(frozen=True)
class DiagnosticRow:
    """One row of the convergence table.

    Attributes
    ----------
    check : str
        ``rhat``, ``ess_bulk``, ``ess_tail``, ``divergences``, ``ebfmi`` or ``tree_depth``.
    label : str
        What the row measures, in words.
    value : float or None
        The reduced statistic; None only when the sampler did not record it.
    threshold : str
        The passing condition, e.g. ``"<= 1.01"``.
    status : {"pass", "warn", "fail"}
    worst : str or None
        The variable (and element) that decided the value.
    detail : str
        A sentence for the report.
    """

    check: str
    label: str
    value: float | None
    threshold: str
    status: Status
    worst: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "check": self.check,
            "label": self.label,
            "value": self.value,
            "threshold": self.threshold,
            "status": self.status,
            "worst": self.worst,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ConvergenceReport:
    """The convergence table of one fit.

    Attributes
    ----------
    rows : tuple of DiagnosticRow
    chains, draws : int
        Post-warm-up chains and draws per chain.
    excluded : tuple of str
        Posterior variables constant over all draws, left out of R-hat and ESS.
    """

    rows: tuple[DiagnosticRow, ...]
    chains: int
    draws: int
    excluded: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row fails (warnings allowed)."""
        return not self.failures

    @property
    def failures(self) -> tuple[DiagnosticRow, ...]:
        """The failing rows."""
        return tuple(row for row in self.rows if row.status == "fail")

    @property
    def warnings(self) -> tuple[DiagnosticRow, ...]:
        """The rows that warn."""
        return tuple(row for row in self.rows if row.status == "warn")

    @property
    def status(self) -> Status:
        """The worst status of any row."""
        return max((row.status for row in self.rows), key=_SEVERITY.__getitem__, default="pass")

    def remedies(
        self,
        *,
        draws: int | None = None,
        tune: int | None = None,
        target_accept: float | None = None,
    ) -> tuple[str, ...]:
        """What to do about each failing row, one sentence each, naming the parameter.

        R-hat or ESS: more draws (and warm-up), since both improve with chain length;
        divergences: a higher step-size target (smaller steps), else a
        reparameterisation; E-BFMI: more warm-up, else a reparameterisation. The
        script options are those of ``python models/NAME.py``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> rng = np.random.default_rng(1)
        >>> stuck = xr.DataTree.from_dict({"posterior": xr.Dataset({"sigma": (
        ...     ("chain", "draw"), rng.normal(size=(4, 100)) + np.arange(4)[:, None])})})
        >>> print(convergence_report(stuck).remedies(draws=100, tune=100)[0])
        ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
        max R-hat (rank-normalised, split) is ... for sigma (needs <= 1.01):
        run more draws, e.g. --draws 400 --tune 400
        """
        more_draws = 4 * draws if draws else 4000
        more_tune = max(2 * tune, more_draws) if tune else 2000
        higher = 0.99 if target_accept is None or target_accept < 0.99 else 0.995
        now = "" if target_accept is None else f" (now {target_accept:g})"
        out = []
        for row in self.failures:
            value = "undefined" if row.value is None else f"{row.value:.4g}"
            where = f" for {row.worst}" if row.worst else ""
            head = f"{row.label} is {value}{where} (needs {row.threshold})"
            if row.check in ("rhat", "ess_bulk", "ess_tail"):
                suggested = more_draws
                if row.check != "rhat" and draws and row.value:
                    # ESS grows in proportion to the draws: aim 25 % above the threshold
                    suggested = max(
                        suggested, int(np.ceil(draws * ESS_MIN * 1.25 / row.value / 100)) * 100
                    )
                out.append(
                    f"{head}: run more draws, e.g. --draws {suggested} "
                    f"--tune {max(more_tune, suggested // 2)}"
                )
            elif row.check == "divergences":
                out.append(
                    f"{head}: raise the step-size target, e.g. --target-accept {higher}"
                    f"{now}; if divergences remain, the posterior has a funnel the model "
                    "should be reparameterised to remove"
                )
            elif row.check == "ebfmi":
                out.append(
                    f"{head}: run a longer warm-up, e.g. --tune {more_tune}; if it stays low, "
                    "the energy does not explore the tails (reparameterise)"
                )
            else:
                out.append(f"{head}: {row.detail}")
        return tuple(out)

    def row(self, check: str) -> DiagnosticRow:
        """The row of ``check`` (KeyError if absent)."""
        for row in self.rows:
            if row.check == check:
                return row
        raise KeyError(check)

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame, one row per check."""
        import pandas as pd

        return pd.DataFrame([row.as_dict() for row in self.rows]).set_index("check")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``diagnostics.json`` of a run folder)."""
        return {
            "status": self.status,
            "ok": self.ok,
            "chains": self.chains,
            "draws": self.draws,
            "excluded": list(self.excluded),
            "thresholds": {
                "rhat_max": RHAT_MAX,
                "ess_min": ESS_MIN,
                "divergences_max": DIVERGENCES_MAX,
                "ebfmi_min": EBFMI_MIN,
                "tree_depth_hits_max": TREE_DEPTH_HITS_MAX,
            },
            "rows": [row.as_dict() for row in self.rows],
        }


def convergence_report(tree: xr.DataTree, var_names: list[str] | None = None) -> ConvergenceReport:
    """Judge a fit: R-hat, bulk and tail ESS, divergences, E-BFMI, tree depth.

    Parameters
    ----------
    tree : xarray.DataTree
        Needs a ``posterior`` group; ``sample_stats`` (``diverging``, ``energy``,
        ``maxdepth_reached`` from nutpie, or PyMC's ``reached_max_treedepth``) adds
        the sampler rows. A missing statistic gives a ``warn`` row saying so.
    var_names : list of str, optional
        Posterior variables for R-hat and ESS (all by default).
    """
    posterior = tree["posterior"].to_dataset()
    if var_names is not None:
        posterior = posterior[var_names]
    chains, draws = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    varying, excluded = _split_constant(posterior)
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    ranks = _rank_statistics()
    rows = (
        _rhat_row(varying, ranks),
        _ess_row(varying, "bulk", ranks),
        _ess_row(varying, "tail", ranks),
        _divergence_row(stats),
        _ebfmi_row(tree, stats),
        _tree_depth_row(stats),
    )
    return ConvergenceReport(rows=rows, chains=chains, draws=draws, excluded=excluded)


def _split_constant(posterior: xr.Dataset) -> tuple[xr.Dataset, tuple[str, ...]]:
    constant = tuple(
        name
        for name, var in posterior.data_vars.items()
        if np.ptp(np.asarray(var.values, dtype=float)) == 0
    )
    return posterior.drop_vars(list(constant)), constant


def _extreme(values: xr.Dataset, *, largest: bool) -> tuple[float, str | None]:
    """The max (or min) over every element of every variable, and where it is.

    A non-finite element wins, so it cannot hide behind finite ones.
    """
    best, where = None, None
    for name, var in values.data_vars.items():
        array = np.asarray(var.values, dtype=float)
        flat = array.ravel()
        bad = ~np.isfinite(flat)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            return float("nan"), _element_name(var, name, index)
        index = int(np.argmax(flat) if largest else np.argmin(flat))
        if best is None or (flat[index] > best if largest else flat[index] < best):
            best, where = float(flat[index]), _element_name(var, name, index)
    return (float("nan") if best is None else best), where


def _element_name(var: xr.DataArray, name: str, index: int) -> str:
    if var.ndim == 0:
        return name
    position = np.unravel_index(index, var.shape)
    labels = [
        str(var[dim].values[i]) if dim in var.coords else str(i)
        for dim, i in zip(var.dims, position, strict=True)
    ]
    return f"{name}[{', '.join(labels)}]"


def _no_variables_row(check: str, label: str, threshold: str) -> DiagnosticRow:
    return DiagnosticRow(
        check, label, None, threshold, "warn", None, "no varying posterior variable to check"
    )


def _rank_statistics() -> Any:
    """ArviZ's R-hat and ESS of a DataArray, rank-normalising each array once.

    ``arviz.rhat`` (rank method) and ``arviz.ess(method="bulk")`` both normalise the
    ranks of the same split chains; the statistics object returned here
    (``arviz_stats``' own :class:`~arviz_stats.base.dataarray.BaseDataArray` over
    :func:`_shared_ranks_class`) computes those normal scores once per array and ranks
    untied draws with one unstable sort (:func:`_untied_ranks`). It gives
    ``arviz.rhat``'s and ``arviz.ess``'s values bit for bit (tested); the ranks were
    most of a convergence report's time, which four fits of a reanalysis pay.
    """
    from arviz_stats.base.dataarray import BaseDataArray

    return BaseDataArray(array_class=_shared_ranks_class()())


@functools.lru_cache(maxsize=1)
def _shared_ranks_class() -> type:
    """``arviz_stats``' ``BaseArray`` whose normal scores are computed once per array.

    Built on first use, so that importing this module does not import ArviZ.
    """
    from arviz_stats.base.array import BaseArray
    from scipy import stats

    class SharedRanks(BaseArray):
        def __init__(self) -> None:
            super().__init__()
            self._scores: dict[tuple, np.ndarray] = {}

        def _z_scale(self, ary):
            ary = np.asarray(ary)
            key = (ary.shape, ary.dtype.str, ary.tobytes())
            scores = self._scores.get(key)
            if scores is None:
                rank = _untied_ranks(ary)
                if rank is None:  # ties or NaN: ArviZ's own (scipy's average ranks)
                    scores = super()._z_scale(ary)
                else:
                    scores = stats.norm.ppf(self._backtransform_ranks(rank)).reshape(ary.shape)
                self._scores[key] = scores
            return scores.copy()

    return SharedRanks


def _untied_ranks(ary: np.ndarray) -> np.ndarray | None:
    """``scipy.stats.rankdata(ary, method="average")`` of finite, untied values, else None.

    Without ties the average ranks are the positions in sorted order, 1 to n, which
    any sort gives; scipy's stable sort is several times slower than NumPy's
    default one on draws. With a tie or a non-finite value, None (the caller then
    uses scipy).

    Examples
    --------
    >>> _untied_ranks(np.array([[0.3, -1.0], [2.0, 0.1]])).tolist()
    [3.0, 1.0, 4.0, 2.0]
    >>> _untied_ranks(np.array([1.0, 1.0])) is None
    True
    """
    flat = np.asarray(ary, dtype=float).ravel()
    if not np.isfinite(flat).all():
        return None
    order = np.argsort(flat)
    ordered = flat[order]
    if (ordered[1:] == ordered[:-1]).any():
        return None
    rank = np.empty(flat.size, dtype=float)
    rank[order] = np.arange(1, flat.size + 1, dtype=float)
    return rank


def _per_variable(posterior: xr.Dataset, statistic: Any) -> xr.Dataset:
    """``statistic(da)`` for every variable, as ArviZ's Dataset functions assemble it."""
    import xarray as xr

    return xr.Dataset({name: statistic(da) for name, da in posterior.data_vars.items()})


def _rhat_row(posterior: xr.Dataset, ranks: Any = None) -> DiagnosticRow:
    import arviz as az

    label, threshold = "max R-hat (rank-normalised, split)", f"<= {RHAT_MAX}"
    if not posterior.data_vars:
        return _no_variables_row("rhat", label, threshold)
    if posterior.sizes["chain"] < 2:
        return DiagnosticRow(
            "rhat",
            label,
            None,
            threshold,
            "warn",
            None,
            "one chain: R-hat compares chains, run at least 2",
        )
    values = (
        az.rhat(posterior)
        if ranks is None
        else _per_variable(
            posterior, lambda da: ranks.rhat(da, sample_dims=["chain", "draw"], method="rank")
        )
    )
    value, worst = _extreme(values, largest=True)
    if not np.isfinite(value):
        return DiagnosticRow(
            "rhat",
            label,
            None,
            threshold,
            "fail",
            worst,
            f"R-hat of {worst} is undefined: it does not move within chains (stuck sampler)",
        )
    status: Status = "pass" if value <= RHAT_MAX else "fail"
    return DiagnosticRow(
        "rhat", label, value, threshold, status, worst, f"largest R-hat {value:.4f} ({worst})"
    )


def _ess_row(posterior: xr.Dataset, method: str, ranks: Any = None) -> DiagnosticRow:
    import arviz as az

    check, label, threshold = f"ess_{method}", f"min {method} ESS", f">= {ESS_MIN}"
    if not posterior.data_vars:
        return _no_variables_row(check, label, threshold)
    values = (
        az.ess(posterior, method=method)
        if ranks is None
        else _per_variable(
            posterior, lambda da: ranks.ess(da, sample_dims=["chain", "draw"], method=method)
        )
    )
    value, worst = _extreme(values, largest=False)
    if not np.isfinite(value):
        return DiagnosticRow(
            check,
            label,
            None,
            threshold,
            "fail",
            worst,
            f"{method} ESS of {worst} is undefined (stuck sampler)",
        )
    status: Status = "pass" if value >= ESS_MIN else "fail"
    return DiagnosticRow(
        check,
        label,
        value,
        threshold,
        status,
        worst,
        f"smallest {method} ESS {value:.0f} ({worst})",
    )


def _divergence_row(stats: xr.Dataset | None) -> DiagnosticRow:
    label, threshold = "divergent transitions", f"<= {DIVERGENCES_MAX}"
    if stats is None or "diverging" not in stats:
        return DiagnosticRow(
            "divergences",
            label,
            None,
            threshold,
            "warn",
            None,
            "the sampler recorded no divergence statistic",
        )
    diverging = np.asarray(stats["diverging"].values, dtype=bool)
    count = int(diverging.sum())
    status: Status = "pass" if count <= DIVERGENCES_MAX else "fail"
    per_chain = ", ".join(str(int(c)) for c in diverging.reshape(diverging.shape[0], -1).sum(1))
    return DiagnosticRow(
        "divergences",
        label,
        float(count),
        threshold,
        status,
        None,
        f"{count} of {diverging.size} draws diverged "
        f"({100 * count / diverging.size:.1f} %; per chain: {per_chain})",
    )


def _ebfmi_row(tree: xr.DataTree, stats: xr.Dataset | None) -> DiagnosticRow:
    import arviz as az

    label, threshold = "min E-BFMI over chains", f">= {EBFMI_MIN}"
    if stats is None or "energy" not in stats:
        return DiagnosticRow(
            "ebfmi", label, None, threshold, "warn", None, "the sampler recorded no energy"
        )
    per_chain = np.asarray(az.bfmi(tree)["energy"].values, dtype=float).ravel()
    if not np.all(np.isfinite(per_chain)):
        return DiagnosticRow(
            "ebfmi",
            label,
            None,
            threshold,
            "fail",
            None,
            "E-BFMI undefined: the energy does not vary within a chain",
        )
    chain = int(np.argmin(per_chain))
    value = float(per_chain[chain])
    status: Status = "pass" if value >= EBFMI_MIN else "fail"
    return DiagnosticRow(
        "ebfmi",
        label,
        value,
        threshold,
        status,
        f"chain {chain}",
        "E-BFMI per chain: " + ", ".join(f"{v:.2f}" for v in per_chain),
    )


def _tree_depth_row(stats: xr.Dataset | None) -> DiagnosticRow:
    label, threshold = "draws at maximum tree depth", f"<= {TREE_DEPTH_HITS_MAX}"
    name = next(
        (
            n
            for n in ("maxdepth_reached", "reached_max_treedepth")
            if stats is not None and n in stats
        ),
        None,
    )
    if name is None:
        return DiagnosticRow(
            "tree_depth",
            label,
            None,
            threshold,
            "warn",
            None,
            "the sampler recorded no tree-depth saturation",
        )
    hits = np.asarray(stats[name].values, dtype=bool)
    count = int(hits.sum())
    status: Status = "pass" if count <= TREE_DEPTH_HITS_MAX else "warn"
    depth = ""
    if "depth" in stats:
        depth = f"; deepest tree {int(np.asarray(stats['depth'].values).max())}"
    return DiagnosticRow(
        "tree_depth",
        label,
        float(count),
        threshold,
        status,
        None,
        f"{count} of {hits.size} draws hit the maximum depth{depth}",
    )


# ----------------------------------------------------------------------------- predictive
@dataclass(frozen=True)
class PredictiveCheck:
    """A statistic of the observed changes against its predictive distribution.

    Attributes
    ----------
    kind : {"prior", "posterior"}
    statistic : str
        A key of :data:`STATISTICS` or :data:`LEVEL_STATISTICS`.
    observed : float
    predicted_median, predicted_low, predicted_high : float
        Median and equal-tailed 95 % interval of the statistic over predictive draws.
    p_value : float
        Mid-p predictive p-value (see the module Notes).
    status : {"pass", "warn"}
    """

    kind: str
    statistic: str
    observed: float
    predicted_median: float
    predicted_low: float
    predicted_high: float
    p_value: float
    status: Status

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


STATISTICS = {
    "mean_change": lambda change: np.mean(change, axis=-1),
    "share_positive": lambda change: np.mean(change > 0, axis=-1),
}
"""The statistics of the changes that the predictive checks compare."""


def predictive_p_value(replicated: np.ndarray, observed: float) -> float:
    """Mid-p :math:`P(T^{rep} > T^{obs}) + P(T^{rep} = T^{obs})/2`.

    Examples
    --------
    >>> predictive_p_value(np.array([0.0, 1.0, 2.0, 3.0]), 1.0)
    0.625
    """
    replicated = np.asarray(replicated, dtype=float)
    return float(np.mean(replicated > observed) + 0.5 * np.mean(replicated == observed))


def predictive_checks(
    simulated_changes: np.ndarray, observed_changes: np.ndarray, *, kind: str = "posterior"
) -> tuple[PredictiveCheck, ...]:
    """Check the mean change and the share of positive changes.

    Parameters
    ----------
    simulated_changes : array, shape (draws, n)
        Predictive draws of every participant's change.
    observed_changes : array, shape (n,)
    kind : {"prior", "posterior"}

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sim = rng.normal(1.0, 1.0, size=(4000, 20))
    >>> [c.status for c in predictive_checks(sim, np.full(20, 1.0))]
    ['pass', 'warn']
    """
    simulated = np.asarray(simulated_changes, dtype=float)
    observed = np.asarray(observed_changes, dtype=float)
    if simulated.ndim != 2 or simulated.shape[1] != observed.size:
        raise ValueError(
            f"simulated changes of shape {simulated.shape} do not match "
            f"{observed.size} observed changes"
        )
    return tuple(
        _check(kind, name, statistic(simulated), statistic(observed))
        for name, statistic in STATISTICS.items()
    )


def simulated_changes(
    tree: xr.DataTree, study: Any, group: str = "posterior_predictive"
) -> tuple[np.ndarray, np.ndarray] | None:
    """Predictive draws of each participant's change, and the observed changes.

    The observed variable is recognised by its values in ``observed_data``: the
    changes themselves (``paired_change``), or pre and post values that
    :func:`simulated_pairs` recognises, whose difference gives the changes.
    Returns None when the model observes something else (e.g. ranks only).
    """
    if group not in tree.children or "observed_data" not in tree.children:
        return None
    observed = tree["observed_data"].to_dataset()
    predicted = tree[group].to_dataset()
    change = np.asarray(study.change, dtype=float)
    for name, var in observed.data_vars.items():
        if name not in predicted or var.ndim != 1:
            continue
        values = np.asarray(var.values, dtype=float)
        if values.shape == change.shape and np.allclose(values, change):
            draws = np.asarray(predicted[name].values, dtype=float)
            return draws.reshape(-1, draws.shape[-1]), change
    pairs = simulated_pairs(tree, study, group)
    if pairs is None:
        return None
    pre_draws, post_draws, pre, post = pairs
    return post_draws - pre_draws, post - pre


def simulated_pairs(
    tree: xr.DataTree, study: Any, group: str = "posterior_predictive"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Predictive draws of every mother's pre and post values, and the observed ones.

    Recognised by its values in ``observed_data``, the observed variable is one of:

    * the long-format outcome of ``study.long()`` (``prepost_hierarchical``,
      ``two_arm``), one row per mother and time;
    * a (mother, time) array of the pre and post columns (``prepost_bivariate``);
    * the post values alone (``ancova``, which conditions on pre): the replicated pre
      values are then the observed ones.

    Returns
    -------
    tuple of (pre_draws, post_draws, pre, post) or None
        Draws of shape (draws, n); None when the model observes something else
        (the changes only, or ranks).
    """
    if group not in tree.children or "observed_data" not in tree.children:
        return None
    observed = tree["observed_data"].to_dataset()
    predicted = tree[group].to_dataset()
    pre = study.table["pre"].to_numpy(dtype=float)
    post = study.table["post"].to_numpy(dtype=float)
    long = study.long()
    for name, var in observed.data_vars.items():
        if name not in predicted:
            continue
        values = np.asarray(var.values, dtype=float)
        draws = np.asarray(predicted[name].values, dtype=float)
        if values.shape == (pre.size, 2) and np.allclose(values, np.column_stack([pre, post])):
            draws = draws.reshape(-1, pre.size, 2)
            return draws[..., 0], draws[..., 1], pre, post
        if var.ndim != 1:
            continue
        draws = draws.reshape(-1, draws.shape[-1])
        if values.shape == post.shape and np.allclose(values, post):
            return np.broadcast_to(pre, draws.shape), draws, pre, post
        if values.shape == (len(long),) and np.allclose(values, long["y"].to_numpy(float)):
            is_post = (long["time"] == 1).to_numpy()
            is_pre = (long["time"] == 0).to_numpy()
            order_pre = long["mother"].to_numpy()[is_pre]
            order_post = long["mother"].to_numpy()[is_post]
            if np.array_equal(order_post, order_pre):
                return draws[:, is_pre], draws[:, is_post], values[is_pre], values[is_post]
    return None


def _sd_ratio(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    return np.std(post, axis=-1, ddof=1) / np.std(pre, axis=-1, ddof=1)


def _minimum(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    return np.minimum(np.min(pre, axis=-1), np.min(post, axis=-1))


def _share_below_zero(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    return (np.sum(pre < 0, axis=-1) + np.sum(post < 0, axis=-1)) / (2 * pre.shape[-1])


LEVEL_STATISTICS = {
    "sd_ratio_post_pre": _sd_ratio,
    "minimum": _minimum,
    "share_below_zero": _share_below_zero,
}
"""Statistics of the pre and post values that no model fits directly.

Each takes ``(pre, post)`` arrays whose last axis runs over mothers.
"""

POST_ONLY_WHEN_PRE_FIXED = ("minimum", "share_below_zero")
"""Level statistics taken over the post values alone when a model does not replicate pre.

Both are symmetric in the two times, so ``statistic(post, post)`` is the statistic of
the post values; the SD ratio keeps the observed pre values, which is what a model
conditioning on them predicts.
"""

NONNEGATIVE_KINDS = ("volume", "score")
"""Outcome kinds that cannot be negative: only for them is ``share_below_zero`` checked."""


def level_checks(
    pre_draws: np.ndarray,
    post_draws: np.ndarray,
    pre: np.ndarray,
    post: np.ndarray,
    *,
    kind: str = "posterior",
    outcome_kind: str = "volume",
) -> tuple[PredictiveCheck, ...]:
    """Check the SD ratio post/pre, the minimum and (for volumes, scores) the share below 0.

    Parameters
    ----------
    pre_draws, post_draws : array, shape (draws, n)
        Predictive draws of every mother's pre and post values.
    pre, post : array, shape (n,)
        The observed values.
    kind : {"prior", "posterior"}
    outcome_kind : str
        ``share_below_zero`` is checked only for :data:`NONNEGATIVE_KINDS`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pre_rep = rng.normal(10, 2, size=(2000, 30)); post_rep = rng.normal(12, 2, (2000, 30))
    >>> pre = rng.normal(10, 2, 30); post = rng.normal(12, 6, 30)  # post spread tripled
    >>> {c.statistic: c.status for c in level_checks(pre_rep, post_rep, pre, post)}
    {'sd_ratio_post_pre': 'warn', 'minimum': 'warn', 'share_below_zero': 'pass'}
    """
    pre_draws = np.asarray(pre_draws, dtype=float)
    post_draws = np.asarray(post_draws, dtype=float)
    pre, post = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    if pre_draws.shape != post_draws.shape or pre_draws.ndim != 2 or pre_draws.shape[1] != pre.size:
        raise ValueError(
            f"predictive draws of shapes {pre_draws.shape} and {post_draws.shape} do not "
            f"match {pre.size} observed pairs"
        )
    # A model that conditions on pre (ANCOVA) replicates post only: its "replicated" pre
    # values are the observed ones, so a statistic over both times would be pinned by
    # the observed pre values (a minimum that cannot move). Such statistics are then
    # taken over the post values alone, which the model does predict.
    pre_is_replicated = not np.array_equal(pre_draws, np.broadcast_to(pre, pre_draws.shape))
    checks = []
    for name, statistic in LEVEL_STATISTICS.items():
        if name == "share_below_zero" and outcome_kind not in NONNEGATIVE_KINDS:
            continue
        if not pre_is_replicated and name in POST_ONLY_WHEN_PRE_FIXED:
            replicated, observed = statistic(post_draws, post_draws), statistic(post, post)
        else:
            replicated, observed = statistic(pre_draws, post_draws), statistic(pre, post)
        checks.append(_check(kind, name, replicated, observed))
    return tuple(checks)


def _check(kind: str, name: str, replicated: np.ndarray, observed: Any) -> PredictiveCheck:
    replicated = np.asarray(replicated, dtype=float)
    replicated = replicated[np.isfinite(replicated)]
    value = float(observed)
    p = predictive_p_value(replicated, value)
    low, median, high = (float(q) for q in np.quantile(replicated, [0.025, 0.5, 0.975]))
    status: Status = "pass" if PPP_LOW <= p <= PPP_HIGH else "warn"
    return PredictiveCheck(kind, name, value, median, low, high, p, status)


def level_checks_of(
    tree: xr.DataTree, study: Any, kind: str = "posterior"
) -> tuple[PredictiveCheck, ...]:
    """:func:`level_checks` of a fitted or prior-predictive tree; () for change-only models."""
    if kind not in ("prior", "posterior"):
        raise ValueError(f"kind must be 'prior' or 'posterior', not {kind!r}")
    found = simulated_pairs(tree, study, group=f"{kind}_predictive")
    if found is None:
        return ()
    return level_checks(*found, kind=kind, outcome_kind=study.outcome.kind)


def predictive_checks_of(
    tree: xr.DataTree, study: Any, kind: str = "posterior"
) -> tuple[PredictiveCheck, ...]:
    """The checks of a fitted (``kind="posterior"``) or prior-predictive tree.

    The checks of the changes (:func:`predictive_checks`) come first, then those of
    the pre and post values (:func:`level_checks`) when the model predicts both.
    Returns an empty tuple when the model observes neither the changes nor the
    pre/post values (see :func:`simulated_changes`); the caller says so.
    """
    if kind not in ("prior", "posterior"):
        raise ValueError(f"kind must be 'prior' or 'posterior', not {kind!r}")
    found = simulated_changes(tree, study, group=f"{kind}_predictive")
    changes = () if found is None else predictive_checks(*found, kind=kind)
    return changes + level_checks_of(tree, study, kind)


def predictive_figure(
    simulated: np.ndarray,
    observed: np.ndarray,
    *,
    kind: str = "posterior",
    title: str | None = None,
):
    """Histograms of the two statistics over predictive draws, observed value marked.

    Returns a :class:`matplotlib.figure.Figure` (Agg canvas; no display needed).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots(1, len(STATISTICS))
    for axis, (name, statistic) in zip(axes, STATISTICS.items(), strict=True):
        replicated = statistic(np.asarray(simulated, dtype=float))
        value = float(statistic(np.asarray(observed, dtype=float)))
        axis.hist(replicated, bins=40, color="#8da0cb", edgecolor="white")
        axis.axvline(value, color="#d62728", linewidth=2, label="observed")
        axis.set_xlabel(name.replace("_", " "))
        axis.set_yticks([])
        axis.set_title(f"p = {predictive_p_value(replicated, value):.3f}", fontsize=9)
    axes[0].legend(frameon=False, fontsize=8)
    figure.suptitle(title or f"{kind} predictive check", fontsize=10)
    return figure


# ----------------------------------------------------------------------------- LOO-PIT
def loo_pit_figure(pit: LooPit):
    """ECDF of the LOO-PIT values against the uniform diagonal.

    The 95 % Kolmogorov-Smirnov band (``scipy.stats.kstwo``) is drawn around it.
    """
    from matplotlib.figure import Figure
    from scipy import stats

    values = np.sort(np.asarray(pit.values, dtype=float))
    n = values.size
    band = float(stats.kstwo.ppf(0.95, n))
    grid = np.linspace(0, 1, 201)
    figure = Figure(figsize=(4, 3.2), layout="constrained")
    axis = figure.subplots()
    axis.fill_between(
        grid,
        np.clip(grid - band, 0, 1),
        np.clip(grid + band, 0, 1),
        color="#dddddd",
        label="95 % KS band",
    )
    axis.plot(grid, grid, color="grey", linewidth=1)
    axis.step(
        np.concatenate([[0.0], values, [1.0]]),
        np.concatenate([[0.0], np.arange(1, n + 1) / n, [1.0]]),
        where="post",
        color="#1f77b4",
        label="LOO-PIT ECDF",
    )
    axis.set_xlabel("LOO-PIT")
    axis.set_ylabel("ECDF")
    axis.set_title(f"{pit.variable}: KS p = {pit.ks_p_value:.2f}", fontsize=9)
    axis.legend(frameon=False, fontsize=8)
    return figure


@dataclass(frozen=True)
class LooPit:
    """LOO-PIT values of the observations and a uniformity test.

    Attributes
    ----------
    variable : str
    values : tuple of float
        One PIT value per observation.
    ks_statistic, ks_p_value : float
        Kolmogorov-Smirnov test against U(0, 1) (``scipy.stats.kstest``).
    status : {"pass", "warn"}
        ``warn`` when the KS test rejects, or when the PSIS weights of some
        observations are unreliable (their PIT values are then not trustworthy).
    note : str
        The test, and the observations with unreliable weights if any.
    n_high_k : int
        Observations whose PSIS Pareto k exceeds ``k_threshold``.
    k_threshold : float
        ArviZ's reliability threshold, min(1 - 1/log10(S), 0.7) for S draws.
    """

    variable: str
    values: tuple[float, ...]
    ks_statistic: float
    ks_p_value: float
    status: Status
    note: str = field(default="")
    n_high_k: int = 0
    k_threshold: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__, values=list(self.values))


def loo_pit(tree: xr.DataTree, variable: str | None = None, *, seed: int = 0) -> LooPit:
    """LOO-PIT with ``arviz.loo_pit``, and a KS test of uniformity.

    The tree needs the groups ``log_likelihood``, ``posterior_predictive`` and
    ``observed_data``.
    """
    import arviz as az
    from scipy import stats

    missing = [
        g
        for g in ("log_likelihood", "posterior_predictive", "observed_data")
        if g not in tree.children
    ]
    if missing:
        raise ValueError(f"LOO-PIT needs the groups {', '.join(missing)}")
    if variable is None:
        variable = next(iter(tree["observed_data"].data_vars))
    n_observed = int(tree["observed_data"][variable].size)
    loglik = tree["log_likelihood"][variable]
    n_pointwise = int(np.prod([loglik.sizes[d] for d in loglik.dims if d not in ("chain", "draw")]))
    if n_pointwise != n_observed:
        raise ValueError(
            f"{variable} has {n_pointwise} log-likelihood values for {n_observed} observed "
            "values (a joint density per mother, as in prepost_bivariate), so there is no "
            "leave-one-out predictive distribution of each value to take a PIT of"
        )
    import xarray as xr

    # the PSIS weights once, for the PIT values and for their reliability; ArviZ's
    # warning about high k is replaced by the note below
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        psis = az.loo(tree, var_name=variable, pointwise=True)
    result = az.loo_pit(
        tree,
        var_names=[variable],
        log_weights=xr.Dataset({variable: psis.log_weights}),
        pareto_k=xr.Dataset({variable: psis.pareto_k}),
        random_state=seed,
    )
    values = np.asarray(
        (
            result[variable]
            if hasattr(result, "data_vars") or hasattr(result, "children")
            else result
        ).values,
        dtype=float,
    ).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"LOO-PIT of {variable} has {int((~np.isfinite(values)).sum())} non-finite values"
        )
    test = stats.kstest(values, "uniform")
    k_threshold = float(psis.good_k)
    n_high_k = int((np.asarray(psis.pareto_k) > k_threshold).sum())
    note = f"KS test against U(0, 1) over {values.size} observations"
    if n_high_k:
        note += (
            f"; {n_high_k} of {values.size} have Pareto k > {k_threshold:.2f}, so their "
            "PSIS weights, their PIT values and this test are not reliable (the exact "
            "leave-one-mother-out refits of the model comparison are)"
        )
    reliable = test.pvalue >= LOO_PIT_KS_ALPHA and not n_high_k
    return LooPit(
        variable,
        tuple(float(v) for v in values),
        float(test.statistic),
        float(test.pvalue),
        "pass" if reliable else "warn",
        note=note,
        n_high_k=n_high_k,
        k_threshold=k_threshold,
    )
