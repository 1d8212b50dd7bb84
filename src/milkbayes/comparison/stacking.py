"""Ranking models by their leave-one-mother-out elpd, with stacking weights.

:func:`compare_models` hands the LOMO pointwise values to :func:`arviz.compare`
(as K-fold results with one fold per mother), within each prediction target;
:func:`stacking_weights` does the same for a bare matrix of pointwise values.

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

__all__ = ["ComparisonRow", "compare_models", "stacking_weights"]


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
