"""The same data under each likelihood the model offers, side by side.

Examples
--------
>>> LIKELIHOOD_EXTRA_KEYS[0]
'effect_pct_median'
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from milkbayes.models.priors import default_mcid
from milkbayes.sensitivity.common import (
    DEFAULT_SAMPLER,
    SamplerOptions,
    SensitivityResult,
    fit_quiet,
    forest_figure,
    mathtext_safe,
    require,
    summary_row,
)

__all__ = ["LIKELIHOOD_EXTRA_KEYS", "likelihood_variants"]


def likelihood_variants(
    study,
    model: str | None = None,
    *,
    likelihoods: Sequence[str] | None = None,
    prior: str = "neutral",
    mcid: float | None = None,
    sampler: SamplerOptions = DEFAULT_SAMPLER,
) -> SensitivityResult:
    """The same data under normal, Student-t and log-normal likelihoods, side by side.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str, optional
        Default ``prepost_hierarchical`` (it has all three likelihoods for volumes),
        or ``paired_change`` (normal and Student-t) if that model is not installed.
    likelihoods : sequence of str, optional
        Default: every likelihood the model offers for this outcome kind, except the
        ordered-logistic one, which is for scores only (and the only one for them).
    prior : str
        Named prior set.
    mcid : float, optional
        Default :func:`default_mcid`.
    sampler : SamplerOptions

    Returns
    -------
    SensitivityResult
        One row per likelihood with the effect's median, 95 % interval,
        P(effect > 0), P(effect > MCID) and the name of the effect variable (the
        log-normal model's effect is multiplicative: read its ``effect_variable``
        and the extra columns it reports).

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = likelihood_variants(load_bundled(), "paired_change")  # doctest: +SKIP
    >>> list(result.table.likelihood)  # doctest: +SKIP
    ['normal', 'student_t']
    """
    from milkbayes.models.registry import available_models, load_model

    if model is None:
        model = (
            "prepost_hierarchical"
            if "prepost_hierarchical" in available_models()
            else "paired_change"
        )
    module = load_model(model)
    if likelihoods is None:
        likelihoods = [
            name
            for name in module.LIKELIHOODS
            if _likelihood_fits_outcome(name, study.outcome.kind)
        ]
    require(
        len(likelihoods) >= 1, f"model {model} has no likelihood for {study.outcome.kind} outcomes"
    )
    mcid = default_mcid(study) if mcid is None else float(mcid)
    rows, results = [], {}
    for name in likelihoods:
        result = fit_quiet(model, study, prior=prior, likelihood=name, mcid=mcid, sampler=sampler)
        results[name] = result
        row = summary_row(result, likelihood=name)
        row["effect_variable"] = result.summary.get("effect_variable", module.EFFECT)
        row["effect_scale"] = str(result.summary.get("effect_scale") or "outcome units")
        for key in LIKELIHOOD_EXTRA_KEYS:  # the log-normal model's % change
            value = result.summary.get(key)
            row[key] = float(value) if value is not None else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    figure = forest_figure(
        table,
        label_column="likelihood",
        title=f"{mathtext_safe(model)}: the effect under each likelihood",
        mcid=mcid,
    )
    summary = {
        "model": model,
        "prior": prior,
        "mcid": mcid,
        "likelihoods": list(likelihoods),
        "effect_median_spread": float(table.effect_median.max() - table.effect_median.min()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
    }
    return SensitivityResult(
        name="likelihood",
        title="Likelihood variants side by side",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=("Same data, prior set and sampler; only the likelihood differs.",),
    )


LIKELIHOOD_EXTRA_KEYS = ("effect_pct_median", "effect_pct_ci95_low", "effect_pct_ci95_high")
"""Model-specific summary keys shown by :func:`likelihood_variants` (NaN where absent)."""


def _likelihood_fits_outcome(likelihood: str, kind: str) -> bool:
    """Ordered-logistic likelihoods are for scores; the others for everything else."""
    ordinal = likelihood.startswith("ordered")
    return ordinal if kind == "score" else not ordinal
