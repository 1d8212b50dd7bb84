"""The sensitivity analyses the HTML report shows (:func:`highlights`)."""

from __future__ import annotations

import math

from milkbayes.sensitivity.bias import bias_analysis
from milkbayes.sensitivity.common import FAST_SAMPLER, SamplerOptions, SensitivityResult
from milkbayes.sensitivity.prior_robustness import prior_grid
from milkbayes.sensitivity.published_p import published_p_posterior

__all__ = ["REPORT_SAMPLER", "highlights"]

REPORT_SAMPLER = SamplerOptions(draws=300, tune=200, chains=2)
"""The refits of the report's analyses: enough draws for the tail probabilities it prints."""


def highlights(
    study, *, mcid: float | None = None, fast: bool = False, stage: str | None = "auto"
) -> list[SensitivityResult]:
    """The analyses the HTML report shows: prior grid with BF curve, bias, published p.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    mcid : float, optional
        Default :func:`default_mcid`.
    fast : bool
        Coarse grids and short runs (for tests and previews).
    stage : {"auto", "early", "established", "none"}
        Stage of lactation of the bias analysis's prior on the change without massage
        (:func:`milkbayes.sensitivity.bias.nonmassage_prior`); ``auto``: the study's.

    Returns
    -------
    list of SensitivityResult

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> [r.name for r in highlights(load_bundled(), fast=True)]  # doctest: +SKIP
    ['prior_grid', 'bias', 'published_p']
    """
    sampler = FAST_SAMPLER if fast else REPORT_SAMPLER
    grid_kwargs = (
        {"locations": (-0.5, 0.0, 0.5), "scales": (0.2, math.sqrt(2) / 2, 1.4)} if fast else {}
    )
    return [
        prior_grid(study, mcid=mcid, sampler=sampler, **grid_kwargs),
        bias_analysis(study, mcid=mcid, sampler=sampler, stage=stage),
        published_p_posterior(n_sim=2000 if fast else 20_000),
    ]
