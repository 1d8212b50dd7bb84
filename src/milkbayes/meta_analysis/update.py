r"""The paper as one more study: how "n = 24, Wilcoxon p < .0005" updates the meta-analysis.

The paper publishes no effect size, only that SPSS printed "p = 0.000" for 24
mothers. Its likelihood is the power of that test at the paper's standardised
effect :math:`\delta_p` (:func:`milkbayes.sensitivity.power.power_curve`, the
likelihood of :mod:`milkbayes.sensitivity.published_p`):
:math:`L(\delta_p) = P(p < .0005 \mid \delta_p, n = 24)`.

As one more study of the random-effects model its effect is

.. math:: \delta_p = \mu + \tau z_p + o + \beta\, s_p, \quad z_p \sim N(0, 1),

with :math:`o` the one-group bias (the paper has no control group) and
:math:`\beta s_p` the PET term at its standard error :math:`s_p = 1/\sqrt{n}`. Since
the paper's likelihood depends on the parameters only through :math:`\delta_p`, the
posterior given the paper is the meta-analysis posterior reweighted by
:math:`L(\delta_p)` per draw (importance sampling; the Kish effective sample size of
the weights is reported). The updated prediction for a new study is the reweighted
:math:`\theta_{\text{new}}`.

Caveat: the paper's :math:`\delta_p` is a standardised mean *change* (over the SD of
the changes), the meta-analysis's unit is Hedges' g; for change-score studies they
coincide, otherwise they are close but not the same scale.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> draws = {k: rng.normal(0.0, 0.1, 4000) for k in ("mu", "one_group_bias", "pet")}
>>> draws |= {"tau": np.full(4000, 0.01), "theta_new": rng.normal(0.0, 0.1, 4000)}
>>> update = update_with_paper(draws, n_sim=2000)
>>> update["p_mu_gt_0_after"] > update["p_mu_gt_0_before"]
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from milkbayes.published import N_PARTICIPANTS, SPSS_P_THRESHOLD

__all__ = ["BUNDLE_THIN", "bundle_draws", "update_with_paper"]

BUNDLE_THIN = 4
"""Every 4th draw of the default fit (8000 draws) is bundled: 2000 draws, about 90 kB."""


def _summary(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    order = np.argsort(values)
    cdf = np.cumsum(weights[order]) / weights.sum()
    low, median, high = (float(values[order][np.searchsorted(cdf, q)]) for q in (0.025, 0.5, 0.975))
    mean = float(np.average(values, weights=weights))
    return {"mean": mean, "median": median, "low": low, "high": high}


def update_with_paper(
    draws: Mapping[str, np.ndarray],
    *,
    n: int = N_PARTICIPANTS,
    p_threshold: float = SPSS_P_THRESHOLD,
    distribution: str = "normal",
    one_group_bias: bool = True,
    n_sim: int = 20_000,
    seed: int = 20261204,
    likelihood: tuple[np.ndarray, np.ndarray] | None = None,
    likelihood_name: str | None = None,
) -> dict[str, Any]:
    """Reweight the meta-analysis draws (SMD scale) by the paper's published-p likelihood.

    Parameters
    ----------
    draws : mapping of str to array
        Posterior draws of ``mu``, ``tau``, ``one_group_bias``, ``pet`` and
        ``theta_new`` (chains stacked), e.g. from ``MetaFit.draws``.
    n, p_threshold
        The paper's sample size and the bound on its p-value.
    distribution : str
        The shape of the changes for the power (see
        :data:`milkbayes.sensitivity.power.POWER_DISTRIBUTIONS`).
    one_group_bias : bool
        Add the one-group bias to the paper's effect (its design has no control).
    n_sim, seed
        The power simulation and the draws of the paper's own random effect.
    likelihood : (grid, values), optional
        The likelihood of the paper's delta on an increasing grid, used instead of the
        power (e.g. the acceptance rate by delta of the ABC reconstruction
        posterior, which also carries the generator's floor, modifiers and outcome
        readings); interpolated, constant beyond the grid.
    likelihood_name : str, optional
        How the result names it (default: the power's description).

    Returns
    -------
    dict
        Before and after: mean, median and 95 % interval of ``mu`` and of
        ``theta_new``, P(mu > 0); the paper's own effect after the update; the Kish
        effective sample size of the weights.
    """
    from milkbayes.sensitivity.power import power_curve

    mu = np.asarray(draws["mu"], dtype=float).ravel()
    tau = np.asarray(draws["tau"], dtype=float).ravel()
    bias = np.asarray(draws["one_group_bias"], dtype=float).ravel()
    pet = np.asarray(draws["pet"], dtype=float).ravel()
    theta_new = np.asarray(draws["theta_new"], dtype=float).ravel()
    rng = np.random.default_rng(seed)
    se_paper = 1.0 / math.sqrt(n)
    delta_paper = mu + tau * rng.standard_normal(mu.size) + pet * se_paper
    if one_group_bias:
        delta_paper = delta_paper + bias
    if likelihood is None:
        grid = np.arange(-2.0, 6.0 + 1e-9, 0.005)
        power = power_curve(
            grid,
            n,
            distribution=distribution,
            alternative="greater",
            n_sim=n_sim,
            seed=seed,
            p_threshold=p_threshold,
        )
        name = likelihood_name or (
            f"power of the one-sided test at n = {n}, p < {p_threshold:g} ({distribution} changes)"
        )
    else:
        grid, power = (np.asarray(a, dtype=float) for a in likelihood)
        name = likelihood_name or "given likelihood of delta"
    weights = np.interp(delta_paper, grid, power)  # constant beyond the grid: 0 below, 1 above
    if not weights.sum() > 0:
        raise ValueError("no draw is compatible with the published p: the weights are all zero")
    ones = np.ones_like(weights)
    return {
        "n": n,
        "p_threshold": p_threshold,
        "distribution": distribution,
        "likelihood": name,
        "one_group_bias": one_group_bias,
        "ess": float(weights.sum() ** 2 / np.sum(weights**2)),
        "n_draws": int(weights.size),
        "mu_before": _summary(mu, ones),
        "mu_after": _summary(mu, weights),
        "theta_new_before": _summary(theta_new, ones),
        "theta_new_after": _summary(theta_new, weights),
        "paper_delta_before": _summary(delta_paper, ones),
        "paper_delta_after": _summary(delta_paper, weights),
        "p_mu_gt_0_before": float(np.mean(mu > 0)),
        "p_mu_gt_0_after": float(np.average(mu > 0, weights=weights)),
        "likelihood_mean": float(weights.mean()),
    }


def bundle_draws(fit: Any, thin: int = BUNDLE_THIN) -> str:
    """The CSV text of ``milkbayes/literature/meta_draws.csv`` from an SMD-scale fit.

    Every ``thin``-th draw (chains stacked) of the columns
    :data:`milkbayes.literature.META_DRAW_COLUMNS`, six significant digits: enough for
    a reweighting whose Monte Carlo error is in the second decimal.

    Parameters
    ----------
    fit : MetaFit
        :func:`milkbayes.meta_analysis.model.fit_meta_analysis` on the SMD scale.
    thin : int
    """
    import pandas as pd

    from milkbayes.literature import META_DRAW_COLUMNS

    table = pd.DataFrame({name: fit.draws(name)[::thin] for name in META_DRAW_COLUMNS})
    return table.to_csv(index=False, float_format="%.6g", lineterminator="\n")
