"""Influence of each mother: the effect and the decision probabilities with her left out.

Mother i is left out by setting her ``mother_weight`` to 0 and refitting the same
compiled model (:func:`influence`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from milkbayes.models.priors import default_mcid
from milkbayes.sensitivity.common import (
    DEFAULT_SAMPLER,
    SamplerOptions,
    SensitivityResult,
    benefit_summary,
    fit_quiet,
    mathtext_safe,
    require,
    study_benefit,
    summary_row,
)

__all__ = ["influence"]


def influence(
    study,
    model: str = "paired_change",
    *,
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    sampler: SamplerOptions = DEFAULT_SAMPLER,
    progress: Any = None,
) -> SensitivityResult:
    """How the effect and P(effect > 0) move when each mother is left out.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str
        Any model with a ``mother_weight`` input (all four have one).
    prior, likelihood, mcid, sampler
        As in :func:`likelihood_variants`.
    progress : callable(stage, done, total), optional
        Told after each fit (e.g. :func:`milkbayes.progress.progress_reporter`'s
        callback), for a progress line with the time left.

    Returns
    -------
    SensitivityResult
        One row per mother: her ``id``, ``change``, the effect's median and
        interval without her, its shift from the all-data median, P(effect > 0)
        and P(effect > MCID) without her, and for a lower-is-better outcome
        ``p_benefit`` = P(effect < 0) and ``p_benefit_gt_mcid`` = P(effect < -MCID).
        ``summary`` names the most influential mother.

    Notes
    -----
    Mother i is left out by setting her ``mother_weight`` to 0 (her likelihood term
    vanishes) and refitting the same compiled model: no change of shape, no
    recompilation. The same seed for every refit keeps the Monte Carlo noise common
    to all of them, so the shifts are mostly the mothers' doing.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = influence(load_bundled(), mcid=10.0)  # doctest: +SKIP
    >>> len(result.table), result.summary["most_influential_id"]  # doctest: +SKIP
    (24, 'M22')
    """
    from dataclasses import replace

    from milkbayes.engine.fit import resolve_likelihood
    from milkbayes.models.registry import load_model

    module = load_model(model)
    likelihood = resolve_likelihood(module, likelihood)
    mcid = default_mcid(study) if mcid is None else float(mcid)
    full_inputs = module.inputs(study, likelihood)
    require(
        "mother_weight" in full_inputs.data,
        f"model {model} has no mother_weight input, so mothers cannot be left out",
    )
    full = fit_quiet(model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler)
    weights = np.asarray(full_inputs.data["mother_weight"], dtype=float)
    mothers = list(full_inputs.coords.get("mother", study.ids))
    require(weights.shape == (len(mothers),), f"model {model}: one weight per mother expected")
    changes = dict(zip(study.ids, np.asarray(study.change, dtype=float), strict=True))
    rows = []
    for index, mother in enumerate(mothers):
        held_out = weights.copy()
        held_out[index] = 0.0
        inputs = replace(full_inputs, data={**full_inputs.data, "mother_weight": held_out})
        result = fit_quiet(
            model,
            study,
            prior=prior,
            likelihood=likelihood,
            mcid=mcid,
            sampler=sampler,
            inputs=inputs,
        )
        row = summary_row(result, id=str(mother), change=changes.get(str(mother), float("nan")))
        rows.append(row)
        if progress is not None:
            progress("influence", len(rows), len(mothers))
    table = pd.DataFrame(rows)
    reference = float(full.summary["effect_median"])
    table["shift"] = table["effect_median"] - reference
    biggest = int(np.argmax(np.abs(table["shift"].to_numpy())))
    summary = {
        "model": model,
        "likelihood": likelihood,
        "mcid": mcid,
        "effect_median_all": reference,
        "p_effect_gt_0_all": float(full.summary["p_effect_gt_0"]),
        "p_effect_gt_mcid_all": float(full.summary.get("p_effect_gt_mcid", float("nan"))),
        "most_influential_id": str(table.id.iloc[biggest]),
        "largest_shift": float(table["shift"].iloc[biggest]),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
    }
    benefit = study_benefit(study)
    if benefit == "decrease":
        summary["p_benefit_all"] = float(full.summary["p_benefit"])
        summary["p_benefit_gt_mcid_all"] = float(full.summary.get("p_benefit_gt_mcid", math.nan))
        summary.update(benefit_summary(table, benefit))
    figure = _influence_figure(table, reference, mcid, benefit)
    return SensitivityResult(
        name="influence",
        title="Influence of each mother (leave one out)",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=("Each row is a refit with that mother's likelihood weight set to 0.",),
    )


def _influence_figure(
    table: pd.DataFrame, reference: float, mcid: float, benefit: str = "increase"
) -> Figure:
    """Effect without each mother against her change, and P(benefit) without her."""
    from milkbayes.comparison.tables import benefit_label

    figure = Figure(figsize=(10, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.scatter(table["change"], table["effect_median"], color="C0")
    for _, row in table.iterrows():
        left.annotate(
            mathtext_safe(row["id"]),
            (row["change"], row["effect_median"]),
            fontsize=6,
            xytext=(2, 2),
            textcoords="offset points",
        )
    left.axhline(reference, color="grey", ls=":", label="all mothers")
    left.set(
        xlabel="the left-out mother's change",
        ylabel="effect median without her",
        title="Leave one mother out",
    )
    left.legend(frameon=False, fontsize=8)
    order = np.arange(len(table))
    if benefit == "decrease":
        right.plot(order, table["p_benefit"], "o", label=benefit_label(benefit))
        right.plot(order, table["p_benefit_gt_mcid"], "s", label=benefit_label(benefit, mcid))
    else:
        right.plot(order, table["p_effect_gt_0"], "o", label="P(effect > 0)")
        right.plot(order, table["p_effect_gt_mcid"], "s", label=f"P(effect > {mcid:g})")
    right.set_xticks(order, [mathtext_safe(i) for i in table["id"]], rotation=90, fontsize=6)
    right.set(
        ylim=(-0.02, 1.02),
        ylabel="posterior probability without her",
        title="Decision probabilities",
    )
    right.legend(frameon=False, fontsize=8)
    return figure
