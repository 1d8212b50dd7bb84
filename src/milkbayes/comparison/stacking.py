r"""Ranking models by their leave-one-mother-out elpd, with stacking and pseudo-BMA+ weights.

:func:`compare_models` hands the LOMO pointwise values to :func:`arviz.compare`
(as K-fold results with one fold per mother), within each prediction target;
:func:`stacking_weights` and :func:`pseudo_bma_weights` do the same for a bare
matrix of pointwise values.

Stacking maximises the held-out log score of the mixture, so between two models
whose pointwise densities barely differ it readily gives 1 and 0: the weights then
flip with Monte Carlo noise in the elpd. Pseudo-BMA+ (Yao et al. 2018, section 3.3)
weights each model by :math:`\exp(\widehat{\mathrm{elpd}}_k)`, averaged over a
Bayesian bootstrap of the pointwise values, which shrinks the weights toward equality
as much as the uncertainty of the differences demands. Both are reported, and every
row says whether its difference from the best model is within noise
(:func:`within_noise`: :math:`|\Delta\mathrm{elpd}| < 4` or
:math:`< 2\,\mathrm{SE}(\Delta)`, Sivula, Magnusson & Vehtari 2020), in which case
no weight should be read as a verdict.

References
----------
Yao Y, Vehtari A, Simpson D, Gelman A (2018). Using stacking to average Bayesian
predictive distributions. Bayesian Analysis 13(3), 917-1007.
Sivula T, Magnusson M, Vehtari A (2020). Uncertainty in Bayesian leave-one-out
cross-validation based model comparison. arXiv:2008.10296.

Examples
--------
>>> import numpy as np
>>> w = stacking_weights(np.array([[-1.0, -1.0], [-1.0, -1.0]]))
>>> round(float(w.sum()), 12)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from milkbayes.comparison.lomo import LomoResult

__all__ = [
    "NOISE_ELPD",
    "NOISE_SE_MULTIPLE",
    "ComparisonRow",
    "compare_models",
    "pseudo_bma_weights",
    "stacking_weights",
    "within_noise",
]

NOISE_ELPD = 4.0
"""Below this |Delta elpd| a difference is small whatever its SE (Sivula et al. 2020)."""

NOISE_SE_MULTIPLE = 2.0
"""Below this many SE(Delta) a difference is indistinguishable from noise."""


def within_noise(elpd_diff: float, dse: float) -> bool:
    """True when a difference of elpd is too small to tell the models apart.

    Examples
    --------
    >>> within_noise(-1.31, 0.91), within_noise(-12.0, 3.0), within_noise(-5.0, 3.0)
    (True, False, True)
    """
    size = abs(float(elpd_diff))
    return bool(size < NOISE_ELPD or size < NOISE_SE_MULTIPLE * float(dse))


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
    pseudo_bma_weight: float = float("nan")
    within_noise: bool = True


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
    rows = compare_models(_bare_results(elpd_i))
    by_label = {row.label: row.weight for row in rows}
    return np.array([by_label[f"m{j}"] for j in range(np.shape(elpd_i)[1])])


def pseudo_bma_weights(elpd_i: np.ndarray, bootstrap: bool = True) -> np.ndarray:
    r"""Pseudo-BMA weights, with the Bayesian bootstrap (pseudo-BMA+) by default.

    Parameters
    ----------
    elpd_i : ndarray, shape (n_points, n_models)
    bootstrap : bool
        False: :math:`w_k \propto \exp(\sum_i \mathrm{elpd}_{ik})`. True (Yao et al.
        2018, eq. 12): the average over 1000 Dirichlet(1, ..., 1) draws :math:`\alpha`
        of the weights :math:`\propto \exp(n \sum_i \alpha_i \mathrm{elpd}_{ik})`,
        as :func:`arviz.compare` computes them (method ``"BB-pseudo-BMA"``, a fixed seed).

    Returns
    -------
    ndarray, shape (n_models,)

    Examples
    --------
    >>> w = pseudo_bma_weights(np.array([[-1.0, -1.5], [-1.0, -1.5]]), bootstrap=False)
    >>> bool(np.isclose(w[0], 1 / (1 + np.exp(-1.0))))
    True
    """
    import warnings

    import arviz as az

    elpd_i = np.asarray(elpd_i, dtype=float)
    results = _bare_results(elpd_i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(
            {r.label: r.to_elpd_data() for r in results},
            method="BB-pseudo-BMA" if bootstrap else "pseudo-BMA",
            round_to="none",
        )
    return np.array([float(table.loc[f"m{j}", "weight"]) for j in range(elpd_i.shape[1])])


def _bare_results(elpd_i) -> list[LomoResult]:
    elpd_i = np.asarray(elpd_i, dtype=float)
    return [
        LomoResult(
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
    ]


def compare_models(results: Sequence[LomoResult]) -> list[ComparisonRow]:
    """Rank models by LOMO elpd with stacking and pseudo-BMA+ weights, within each target.

    Parameters
    ----------
    results : sequence of LomoResult

    Returns
    -------
    list of ComparisonRow
        Grouped by target, best first; each kind of weight sums to 1 within a
        target; ``within_noise`` marks a difference from the best model that
        :func:`within_noise` calls noise (the best model itself: True when any other
        model of its target is within noise). A target with a single model gets
        weights 1 and no differences.
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
            rows.append(
                ComparisonRow(r.label, target, 0, r.elpd, r.se, 0.0, 0.0, r.p_lomo, 1.0, 1.0, False)
            )
            continue
        ids = {r.mother_ids for r in group}
        if len(ids) != 1:
            raise ValueError(
                f"models for target {target!r} were cross-validated on different mothers"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = {r.label: r.to_elpd_data() for r in group}
            table = az.compare(data, method="stacking", round_to="none")
            pseudo = az.compare(data, method="BB-pseudo-BMA", round_to="none")["weight"]
        noisy = {
            label: within_noise(rec["elpd_diff"], rec["dse"])
            for label, rec in table.iterrows()
            if rec["rank"] != 0
        }
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
                    pseudo_bma_weight=float(pseudo[label]),
                    within_noise=noisy.get(label, any(noisy.values())),
                )
            )
    return rows
