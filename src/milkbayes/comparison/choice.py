r"""Which cross-validation estimates a candidate's held-out density, chosen by size.

Every candidate of the comparison is scored by the expected log predictive density
of a mother left out, :math:`\sum_i \log p(y_i \mid y_{-i})`. Three estimators of it
share one compiled model (the ``mother_weight`` vector holds out any set of mothers):

- ``"psis+refits"``: PSIS-LOO by mother where its Pareto :math:`\hat k` is good, an
  exact refit without the mother where it is not (Vehtari, Gelman & Gabry 2017,
  section 2.1); one refit per bad-:math:`\hat k` mother;
- ``"exact"``: an exact refit for every mother (when PSIS is not used);
- ``"kfold"``: K-fold cross-validation by mother: the mothers are dealt into
  :data:`KFOLD_K` folds and each fold is held out in one refit; K refits whatever
  the number of mothers. Each fold's model learns from :math:`(K-1)/K` of the
  mothers, so its elpd is slightly pessimistic against leave-one-out (Vehtari,
  Gelman & Gabry 2017, section 2.3).

:func:`choose_method` picks one: per-mother refits while their number is at most
:data:`MAX_EXACT_REFITS`, K-fold beyond. The cap is three times K: up to it the
exact refits cost at most three K-fold runs and give the exact leave-one-out value;
beyond it their cost grows with the number of bad mothers (up to one refit per
mother, thousands on a large study) while K-fold's stays at K. A study of the
paper's size (24 mothers) is therefore always cross-validated exactly.
See ``docs/decisions.md``.

Examples
--------
>>> choose_method(24).method
'exact'
>>> choose_method(2000).method
'kfold'
>>> fold_assignment(7, 3, seed=1).tolist()
[1, 2, 1, 0, 0, 0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from milkbayes.comparison.psis import PsisResult

__all__ = [
    "KFOLD_K",
    "MAX_EXACT_REFITS",
    "MethodChoice",
    "choose_method",
    "fold_assignment",
    "untrusted_mothers",
]

MAX_EXACT_REFITS = 30
"""Most per-mother exact refits of one candidate before K-fold is used instead."""

KFOLD_K = 10
"""Number of folds of K-fold cross-validation by mother."""


@dataclass(frozen=True)
class MethodChoice:
    """The estimator :func:`choose_method` picked for one candidate.

    Attributes
    ----------
    method : str
        ``"exact"``, ``"psis+refits"`` or ``"kfold"``.
    refit : tuple of int
        For ``"exact"`` and ``"psis+refits"``, the indices of the mothers refitted
        exactly; empty for ``"kfold"``.
    n_folds : int or None
        K for ``"kfold"``, else None.
    reason : str
        One sentence for the report.
    """

    method: str
    refit: tuple[int, ...]
    n_folds: int | None
    reason: str

    @property
    def n_refits(self) -> int:
        """Refits this choice costs."""
        return self.n_folds if self.n_folds is not None else len(self.refit)


def untrusted_mothers(psis: PsisResult) -> list[int]:
    """Indices of the mothers whose PSIS-LOO value cannot be trusted.

    A Pareto k above ``psis.good_k``, a non-finite k (e.g. constant ratios: not
    evidence of reliability) or a non-finite elpd.

    Parameters
    ----------
    psis : PsisResult
        PSIS-LOO by mother.

    Returns
    -------
    list of int
    """
    k = np.asarray(psis.pareto_k, dtype=float)
    values = np.asarray(psis.elpd_i, dtype=float)
    trusted = np.isfinite(k) & (k <= psis.good_k) & np.isfinite(values)
    return [int(i) for i in np.flatnonzero(~trusted)]


def choose_method(
    n_mothers: int,
    psis: PsisResult | None = None,
    *,
    max_exact_refits: int = MAX_EXACT_REFITS,
    k: int = KFOLD_K,
) -> MethodChoice:
    """Pick the cross-validation of one candidate from the study's size.

    Parameters
    ----------
    n_mothers : int
        Mothers in the study.
    psis : PsisResult, optional
        PSIS-LOO by mother of the full-data fit; None when PSIS is not used (every
        mother would need a refit).
    max_exact_refits : int
        The cap on per-mother refits (:data:`MAX_EXACT_REFITS`).
    k : int
        Folds of the K-fold fallback (:data:`KFOLD_K`).

    Returns
    -------
    MethodChoice

    Examples
    --------
    >>> choice = choose_method(40)
    >>> choice.method, choice.n_folds, choice.n_refits
    ('kfold', 10, 10)
    >>> choose_method(30).n_refits
    30
    """
    if psis is not None and len(psis.pareto_k) != n_mothers:
        raise ValueError(f"PSIS has {len(psis.pareto_k)} mothers, the study {n_mothers}")
    refit = untrusted_mothers(psis) if psis is not None else list(range(n_mothers))
    if len(refit) <= max_exact_refits or k >= n_mothers:
        if psis is None or len(refit) == n_mothers:
            reason = f"every one of the {n_mothers} mothers refitted exactly"
            return MethodChoice("exact", tuple(refit), None, reason)
        reason = (
            f"PSIS-LOO by mother, with exact refits of the {len(refit)} mothers whose "
            f"Pareto k is above {psis.good_k:.2f}"
        )
        return MethodChoice("psis+refits", tuple(refit), None, reason)
    reason = (
        f"{k}-fold cross-validation by mother: {len(refit)} mothers would need an exact "
        f"refit, more than the cap of {max_exact_refits}"
    )
    return MethodChoice("kfold", (), k, reason)


def fold_assignment(n_mothers: int, k: int = KFOLD_K, *, seed: int = 0) -> np.ndarray:
    """The fold (0..k-1) of each mother: balanced, shuffled, fixed by ``seed``.

    A seeded permutation deals the mothers round-robin into ``k`` folds, so the
    folds differ in size by at most one and a file sorted by some covariate does not
    put similar mothers in the same fold.

    Parameters
    ----------
    n_mothers, k : int
        Mothers and folds (``2 <= k <= n_mothers``).
    seed : int
        Seed of the permutation.

    Returns
    -------
    ndarray of int
    """
    if not 2 <= k <= n_mothers:
        raise ValueError(f"K-fold needs 2 <= k <= n_mothers, got k={k}, n={n_mothers}")
    order = np.random.default_rng(seed).permutation(n_mothers)
    folds = np.empty(n_mothers, dtype=int)
    folds[order] = np.arange(n_mothers) % k
    return folds
