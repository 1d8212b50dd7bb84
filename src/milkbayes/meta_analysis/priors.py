r"""The literature-informed prior: the meta-analytic prediction, robustified and matched.

The prior for the massage effect in a new study is the predictive distribution of
:mod:`milkbayes.meta_analysis.model` (:math:`\theta_{\text{new}}`), made robust as
in Schmidli et al. (2014): a mixture

.. math:: p(\theta) = w\, p_{\text{MA}}(\theta) + (1 - w)\, p_{\text{vague}}(\theta)

with the package's *neutral* prior as the vague component and a weight
:math:`w = 0.5` (:data:`INFORMATIVE_WEIGHT`), down from the usual 0.8 because the
evidence is weak: one RCT, two non-randomised studies and one one-group study, read
from abstracts, with imputed SDs. The models take one distribution family per prior
(``pm.Data`` location and scale), not a mixture, so the mixture is summarised:

- normal effect priors (``prepost_hierarchical``, ``two_arm``): the normal with the
  mixture's mean and SD (moment matching; the vague component inflates the SD);
- Cauchy priors on the standardised effect (``paired_change``, ``signed_rank``): the
  Cauchy with the mixture's median and half its interquartile range (a Cauchy has no
  moments; its heavy tails are themselves robust).

References
----------
Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B
(2014). Robust meta-analytic-predictive priors in clinical trials with historical
control information. Biometrics 70(4), 1023-1032.

Examples
--------
>>> import numpy as np
>>> draws = np.random.default_rng(1).normal(10.0, 2.0, 40_000)
>>> m, s = mixture_moments(draws, weight=1.0, vague_sd=40.0)
>>> round(m, 1), round(s, 1)
(10.0, 2.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, stats

__all__ = [
    "INFORMATIVE_WEIGHT",
    "VAGUE_SD_ML",
    "VAGUE_SD_SMD",
    "derive_prior",
    "mixture_cauchy",
    "mixture_moments",
    "prior_toml",
]

INFORMATIVE_WEIGHT = 0.5
"""Weight of the meta-analytic component; the rest goes to the vague component."""

VAGUE_SD_ML = 40.0
"""SD of the vague component in ml: the neutral set's effect SD, four MCIDs of 10 ml."""

VAGUE_SD_SMD = 2.0
"""SD of the vague component in SD units: the neutral set's four MCIDs of 0.5 SD."""

VAGUE_CAUCHY_SCALE = math.sqrt(2) / 2
"""Scale of the neutral Cauchy prior on delta (the JZS default, Rouder et al. 2009)."""


def mixture_moments(draws: np.ndarray, *, weight: float, vague_sd: float) -> tuple[float, float]:
    r"""Mean and SD of ``weight`` x (draws) + (1 - weight) x Normal(0, vague_sd).

    .. math::
        m = w\,\bar\theta, \qquad
        s^2 = w\,\overline{\theta^2} + (1 - w)\,\sigma_0^2 - m^2.
    """
    draws = np.asarray(draws, dtype=float).ravel()
    mean = weight * float(draws.mean())
    second = weight * float(np.mean(draws**2)) + (1.0 - weight) * vague_sd**2
    return mean, math.sqrt(max(second - mean**2, 0.0))


def mixture_cauchy(
    draws: np.ndarray, *, weight: float, vague_scale: float = VAGUE_CAUCHY_SCALE
) -> tuple[float, float]:
    """Median and half the interquartile range of draws mixed with Cauchy(0, vague_scale).

    The mixture's CDF is ``weight * ECDF(draws) + (1 - weight) * Cauchy CDF``; its
    quartiles are found by Brent's method (the ECDF is a step function, so the root
    is located to within one draw's spacing).

    Examples
    --------
    >>> loc, scale = mixture_cauchy(np.zeros(10), weight=0.0, vague_scale=1.0)
    >>> abs(round(loc, 6)), round(scale, 6)   # a pure Cauchy(0, 1): median 0, quartiles +-1
    (0.0, 1.0)
    """
    draws = np.sort(np.asarray(draws, dtype=float).ravel())
    vague = stats.cauchy(0.0, vague_scale)

    def cdf(x: float) -> float:
        return weight * np.searchsorted(draws, x, side="right") / draws.size + (
            1.0 - weight
        ) * float(vague.cdf(x))

    lo = min(float(draws[0]), float(vague.ppf(1e-6))) - 1.0
    hi = max(float(draws[-1]), float(vague.ppf(1 - 1e-6))) + 1.0
    q = [optimize.brentq(lambda x, p=p: cdf(x) - p, lo, hi, xtol=1e-9) for p in (0.25, 0.5, 0.75)]
    return float(q[1]), float((q[2] - q[0]) / 2.0)


def derive_prior(
    theta_new_ml: np.ndarray,
    theta_new_smd: np.ndarray,
    *,
    weight: float = INFORMATIVE_WEIGHT,
) -> dict[str, Any]:
    """The prior numbers from the predictive draws of a new study on both scales.

    Returns
    -------
    dict
        ``{"meta": {...}, "ml": {...}, "smd": {...}}``: the predictive's mean and SD,
        the vague component, the moment-matched normal (``mixture_mean``,
        ``mixture_sd``) and, on the SMD scale, the matched Cauchy (``cauchy_loc``,
        ``cauchy_scale``).
    """
    ml = np.asarray(theta_new_ml, dtype=float).ravel()
    smd = np.asarray(theta_new_smd, dtype=float).ravel()
    ml_mean, ml_sd = mixture_moments(ml, weight=weight, vague_sd=VAGUE_SD_ML)
    smd_mean, smd_sd = mixture_moments(smd, weight=weight, vague_sd=VAGUE_SD_SMD)
    loc, scale = mixture_cauchy(smd, weight=weight)
    return {
        "meta": {"weight": weight, "n_draws": int(ml.size)},
        "ml": {
            "predictive_mean": float(ml.mean()),
            "predictive_sd": float(ml.std(ddof=1)),
            "vague_sd": VAGUE_SD_ML,
            "mixture_mean": ml_mean,
            "mixture_sd": ml_sd,
        },
        "smd": {
            "predictive_mean": float(smd.mean()),
            "predictive_sd": float(smd.std(ddof=1)),
            "vague_sd": VAGUE_SD_SMD,
            "vague_cauchy_scale": VAGUE_CAUCHY_SCALE,
            "mixture_mean": smd_mean,
            "mixture_sd": smd_sd,
            "cauchy_loc": loc,
            "cauchy_scale": scale,
        },
    }


def prior_toml(numbers: dict[str, Any], *, provenance: dict[str, Any]) -> str:
    """``numbers`` (from :func:`derive_prior`) as the text of ``derived_prior.toml``."""
    lines = [
        "# The literature-informed prior, derived by `milkbayes meta-analysis`",
        "# (milkbayes.meta_analysis.priors.derive_prior). Regenerate, do not edit.",
    ]
    meta = dict(numbers["meta"]) | provenance
    for section, table in (("meta", meta), ("ml", numbers["ml"]), ("smd", numbers["smd"])):
        lines.append(f"\n[{section}]")
        for key, value in table.items():
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {float(value)!r}")
    return "\n".join(lines) + "\n"
