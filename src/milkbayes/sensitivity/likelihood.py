"""The same data under each likelihood the model offers, side by side.

Examples
--------
>>> LIKELIHOOD_EXTRA_KEYS[0]
'effect_pct_median'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    study_benefit,
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
    progress: Any = None,
) -> SensitivityResult:
    """The same data under normal, Student-t and log-normal likelihoods, side by side.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str, optional
        Default ``prepost_hierarchical`` (it has all three likelihoods for volumes),
        or ``paired_change`` (normal and Student-t) if that model is not installed.
    likelihoods : sequence of str, optional
        Default: every likelihood the model offers for this outcome kind. The
        ordered-logistic one is for scores only (and the only one for them); the
        log-normal one for volumes only (positive values, whose priors are set on
        the log scale), so it is skipped, with a note, for a continuous outcome.
    prior : str
        Named prior set.
    mcid : float, optional
        Default :func:`default_mcid`.
    sampler : SamplerOptions
    progress : callable(stage, done, total), optional
        Told after each fit (e.g. :func:`milkbayes.progress.progress_reporter`'s
        callback), for a progress line with the time left.

    Returns
    -------
    SensitivityResult
        One row per likelihood with the effect's median, 95 % interval,
        P(effect > 0), P(effect > MCID) (and for a lower-is-better outcome
        ``p_benefit`` = P(effect < 0), ``p_benefit_gt_mcid`` = P(effect < -MCID))
        and the name of the effect variable (the
        log-normal model's effect is multiplicative: read its ``effect_variable``
        and the extra columns it reports).

    Raises
    ------
    SensitivityError
        If a likelihood asked for does not fit the outcome kind (e.g. log-normal for
        a continuous outcome), or none does.

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
    kind = study.outcome.kind
    notes = ["Same data, prior set and sampler; only the likelihood differs."]
    if likelihoods is None:
        likelihoods = [name for name in module.LIKELIHOODS if _unfit_reason(name, kind) is None]
        notes += [
            f"The {name} likelihood is left out: {_unfit_reason(name, kind)}."
            for name in module.LIKELIHOODS
            if _unfit_reason(name, kind) is not None and not name.startswith("ordered")
        ]
    else:
        for name in likelihoods:
            reason = _unfit_reason(name, kind)
            require(reason is None, f"the {name} likelihood does not fit these data: {reason}")
    require(len(likelihoods) >= 1, f"model {model} has no likelihood for {kind} outcomes")
    mcid = default_mcid(study) if mcid is None else float(mcid)
    rows, results = [], {}
    for name in likelihoods:
        result = fit_quiet(model, study, prior=prior, likelihood=name, mcid=mcid, sampler=sampler)
        results[name] = result
        if progress is not None:
            progress("likelihoods", len(results), len(likelihoods))
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
        benefit=study_benefit(study),
    )
    summary = {
        "model": model,
        "prior": prior,
        "mcid": mcid,
        "likelihoods": list(likelihoods),
        "effect_median_spread": float(table.effect_median.max() - table.effect_median.min()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
    }
    if study_benefit(study) == "decrease":
        summary["benefit"] = "decrease"
        summary["p_benefit_min"] = float(table.p_benefit.min())
    return SensitivityResult(
        name="likelihood",
        title="Likelihood variants side by side",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=tuple(notes),
    )


LIKELIHOOD_EXTRA_KEYS = ("effect_pct_median", "effect_pct_ci95_low", "effect_pct_ci95_high")
"""Model-specific summary keys shown by :func:`likelihood_variants` (NaN where absent)."""


def _unfit_reason(likelihood: str, kind: str) -> str | None:
    """Why ``likelihood`` does not fit an outcome of ``kind``; None when it does.

    Ordered-logistic likelihoods are for scores, and scores take nothing else. The
    log-normal likelihood needs positive values and priors on the log scale, which
    the prior sets give for volumes only: a continuous outcome may be negative.
    """
    ordinal = likelihood.startswith("ordered")
    if kind == "score":
        return None if ordinal else "a score takes only the ordered-logistic likelihood"
    if ordinal:
        return f"the ordered-logistic likelihood is for scores, and this outcome is {kind}"
    if likelihood == "lognormal" and kind != "volume":
        return (
            f"it needs a volume outcome (positive values, priors on the log scale), and this "
            f"outcome is {kind}; declare it a volume, with its unit, in the study's sidecar "
            "file to use it"
        )
    return None
