"""The whole meta-analysis: both scales, the derived prior, the checks, the figure, the report.

:func:`run_meta_analysis` fits :mod:`milkbayes.meta_analysis.model` to the primary
studies of :mod:`milkbayes.literature` on the SMD and the ml scale, derives the
literature-informed prior (:mod:`milkbayes.meta_analysis.priors`), sets the result
beside the published pooled estimates and the sceptic's anchor, and returns
everything as a :class:`MetaResult`; :func:`write_meta_analysis` writes it as a folder
(``summary.json``, ``report.md``, ``forest.png``, ``derived_prior.toml``), whole or
not at all.

Examples
--------
>>> result = run_meta_analysis(draws=300, tune=300, chains=2)  # doctest: +SKIP
>>> sorted(result.fits)  # doctest: +SKIP
['ml', 'smd']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from milkbayes.literature import (
    PAPER_STAGE,
    literature_mcid,
    load_references,
    load_studies,
    stage_trend,
)
from milkbayes.meta_analysis.effects import study_effects
from milkbayes.meta_analysis.model import DEFAULT_PRIORS, MetaFit, MetaPriors, fit_meta_analysis
from milkbayes.meta_analysis.priors import derive_prior, prior_toml
from milkbayes.meta_analysis.update import update_with_paper

__all__ = ["MARKER", "MetaResult", "run_meta_analysis", "write_meta_analysis"]

MARKER = "milkbayes-meta-analysis.json"
"""The file that marks a folder as written by :func:`write_meta_analysis` (so that
``--force`` replaces only such folders)."""

Z975 = 1.959963984540054


@dataclass
class MetaResult:
    """Both fits, the derived prior, and what the report says."""

    studies: pd.DataFrame
    fits: dict[str, MetaFit]
    prior_numbers: dict[str, Any]
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every fit passed its convergence checks."""
        return all(fit.diagnostics.ok for fit in self.fits.values())


def _anchor(studies: pd.DataFrame) -> dict[str, Any]:
    """What a non-significant two-arm RCT bounds: |SMD| < 1.96 x SE (at d = 0)."""
    row = studies.loc["fewtrell2006"]
    n1, n2 = int(row["n_treat"]), int(row["n_control"])
    se = math.sqrt((n1 + n2) / (n1 * n2))
    return {
        "id": "fewtrell2006",
        "what": str(row["intervention"]),
        "se_smd_at_0": se,
        "nonsignificant_bound_smd": Z975 * se,
    }


def run_meta_analysis(
    studies: pd.DataFrame | None = None,
    *,
    priors: MetaPriors = DEFAULT_PRIORS,
    draws: int = 2000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 20261204,
) -> MetaResult:
    """Fit both scales, derive the prior, and gather the report's numbers.

    Parameters
    ----------
    studies : pandas.DataFrame, optional
        From :func:`milkbayes.literature.load_studies` (default: the bundled file).
    priors : MetaPriors
        The meta-analysis's priors and bias terms.
    draws, tune, chains, seed
        Sampler settings of each fit.
    """
    studies = load_studies() if studies is None else studies
    fits = {
        scale: fit_meta_analysis(
            study_effects(studies, scale=scale),
            priors=priors,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
        )
        for scale in ("smd", "ml")
    }
    numbers = derive_prior(fits["ml"].draws("theta_new"), fits["smd"].draws("theta_new"))
    smd_draws = {
        name: fits["smd"].draws(name)
        for name in ("mu", "tau", "one_group_bias", "pet", "theta_new")
    }
    paper_update = {
        "with_one_group_bias": update_with_paper(smd_draws, one_group_bias=True, seed=seed),
        "without_bias": update_with_paper(smd_draws, one_group_bias=False, seed=seed),
    }
    reviews = studies.loc[studies.role == "pooled_review"]
    mcid = literature_mcid()
    trend = {
        stage: stage_trend(stage, 15.0) | {"level_ml": 15.0} for stage in ("early", "established")
    }
    summary = {
        "smd": fits["smd"].summary,
        "ml": fits["ml"].summary,
        "prior": numbers,
        "paper_update": paper_update,
        "published_pooled": {
            key: {
                "smd": float(row["effect"]),
                "low": float(row["effect_low"]),
                "high": float(row["effect_high"]),
                "k": None if row["k_studies"] is pd.NA else int(row["k_studies"]),
            }
            for key, row in reviews.iterrows()
        },
        "anchor": _anchor(studies),
        "mcid": mcid,
        "paper_stage": PAPER_STAGE,
        "trend_by_stage": trend,
        "diagnostics_ok": all(fit.diagnostics.ok for fit in fits.values()),
        "studies": {
            key: {
                "design": row["design"],
                "stage": row["stage"],
                "provenance": row["provenance"],
                "flags": fits["smd"].table.loc[key, "flags"]
                if key in fits["smd"].table.index
                else "",
            }
            for key, row in studies.iterrows()
        },
    }
    notes = [
        "Four primary studies: with so few, the heterogeneity, design-bias and "
        "small-study terms lean on their priors; read the numbers as a summary of weak "
        "evidence, not as a precise effect.",
        "Every number comes from a published abstract or, where marked, a secondary "
        "quotation; SDs that were not reported are imputed or derived and flagged.",
    ]
    return MetaResult(
        studies=studies, fits=fits, prior_numbers=numbers, summary=summary, notes=notes
    )


# --------------------------------------------------------------------------- figure
def forest_figure(result: MetaResult) -> Figure:
    """Forest plot per scale: observed (open) and shrunken (filled) estimates, mu, new study."""
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, scale in zip(axes, ("smd", "ml"), strict=True):
        fit = result.fits[scale]
        table = fit.shrunken
        labels = [f"{key} ({table.loc[key, 'design']})" for key in table.index]
        ys = np.arange(len(table))[::-1] + 2
        ax.errorbar(
            table["observed"],
            ys + 0.15,
            xerr=[
                table["observed"] - table["observed_low"],
                table["observed_high"] - table["observed"],
            ],
            fmt="o",
            mfc="white",
            color="grey",
            label="published (95 % CI)",
        )
        ax.errorbar(
            table["shrunken"],
            ys - 0.15,
            xerr=[
                table["shrunken"] - table["shrunken_low"],
                table["shrunken_high"] - table["shrunken"],
            ],
            fmt="o",
            color="C0",
            label="shrunken, bias-corrected",
        )
        s = fit.summary
        for y, name, colour in ((1, "mu", "C3"), (0, "theta_new", "C2")):
            ax.errorbar(
                s[f"{name}_mean"],
                y,
                xerr=[
                    [s[f"{name}_mean"] - s[f"{name}_low"]],
                    [s[f"{name}_high"] - s[f"{name}_mean"]],
                ],
                fmt="D",
                color=colour,
            )
        ax.set_yticks(list(ys) + [1, 0], labels + ["mean effect mu", "new study (predictive)"])
        ax.axvline(0.0, color="black", lw=0.8)
        unit = "Hedges' g" if scale == "smd" else "ml per session"
        ax.set(xlabel=unit, title=f"Meta-analysis, {unit}")
        if scale == "smd":
            for pooled in result.summary["published_pooled"].values():
                ax.axvspan(pooled["low"], pooled["high"], alpha=0.08, color="C1")
                ax.axvline(pooled["smd"], color="C1", ls=":", lw=1)
            ax.plot([], [], color="C1", ls=":", label="published pooled SMDs")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    return figure


# --------------------------------------------------------------------------- report
def _fmt(value: float) -> str:
    return f"{value:.3g}"


def report_markdown(result: MetaResult) -> str:
    """The report: studies, results, priors and where each comes from."""
    s = result.summary
    lines = [
        "# Meta-analysis of the oxytocin-massage literature",
        "",
        "Published study summaries only (no reconstructed data enter this analysis).",
        "",
        "## Studies",
        "",
        "| study | design | stage | estimate (SMD) | SE | ml | flags | provenance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    smd, ml = result.fits["smd"].table, result.fits["ml"].table
    for key in smd.index:
        lines.append(
            f"| {key} | {smd.loc[key, 'design']} | {smd.loc[key, 'stage']} | "
            f"{_fmt(smd.loc[key, 'y'])} | {_fmt(smd.loc[key, 'se'])} | "
            f"{_fmt(ml.loc[key, 'y'])} ± {_fmt(ml.loc[key, 'se'])} | "
            f"{smd.loc[key, 'flags'] or '-'} | {smd.loc[key, 'provenance']} |"
        )
    lines += ["", "## Results", ""]
    for scale, unit in (("smd", "SMD"), ("ml", "ml")):
        f = s[scale]
        lines.append(
            f"- {unit}: mu = {_fmt(f['mu_mean'])} (95 % {_fmt(f['mu_low'])} to "
            f"{_fmt(f['mu_high'])}), P(mu > 0) = {f['p_mu_gt_0']:.3f}; tau = "
            f"{_fmt(f['tau_mean'])}; new study: {_fmt(f['theta_new_mean'])} "
            f"({_fmt(f['theta_new_low'])} to {_fmt(f['theta_new_high'])}), P(> 0) = "
            f"{f['p_new_gt_0']:.3f}; PET coefficient {_fmt(f['pet_mean'])}; "
            f"divergences {f['divergences']}, diagnostics "
            f"{'pass' if f['diagnostics_ok'] else 'FAIL'}."
        )
    for key, pooled in s["published_pooled"].items():
        lines.append(
            f"- Published pooled ({key}, k = {pooled['k']}): SMD {pooled['smd']:g} "
            f"({pooled['low']:g} to {pooled['high']:g}); not in the likelihood (overlap)."
        )
    anchor = s["anchor"]
    lines.append(
        f"- Sceptic's anchor ({anchor['id']}, {anchor['what']}): no difference; a "
        f"non-significant trial of this size bounds |SMD| below about "
        f"{anchor['nonsignificant_bound_smd']:.2f}."
    )
    lines += ["", "## This study as one more study (published facts only)", ""]
    for label, update in s["paper_update"].items():
        before, after = update["theta_new_before"], update["theta_new_after"]
        lines.append(
            f'- {label.replace("_", " ")}: the likelihood of "n = {update["n"]}, Wilcoxon '
            f"p < {update['p_threshold']:g}\" (the test's power) reweights the draws "
            f"(effective sample size {update['ess']:.0f} of {update['n_draws']}). "
            f"mu: {_fmt(update['mu_before']['mean'])} -> {_fmt(update['mu_after']['mean'])}, "
            f"P(mu > 0) {update['p_mu_gt_0_before']:.3f} -> {update['p_mu_gt_0_after']:.3f}; "
            f"new study: {_fmt(before['mean'])} ({_fmt(before['low'])} to "
            f"{_fmt(before['high'])}) -> {_fmt(after['mean'])} ({_fmt(after['low'])} to "
            f"{_fmt(after['high'])}); the paper's own standardised change: "
            f"{_fmt(update['paper_delta_after']['median'])} ("
            f"{_fmt(update['paper_delta_after']['low'])} to "
            f"{_fmt(update['paper_delta_after']['high'])})."
        )
    p = s["prior"]
    mcid = s["mcid"]
    lines += [
        "",
        "## Priors derived from the literature, and where each comes from",
        "",
        "- Effect (ml, `prepost_hierarchical`, `two_arm`): "
        f"Normal({_fmt(p['ml']['mixture_mean'])}, "
        f"{_fmt(p['ml']['mixture_sd'])}) - the moment-matched normal of "
        f"{p['meta']['weight']:g} x the predictive for a new study "
        f"(mean {_fmt(p['ml']['predictive_mean'])}, SD {_fmt(p['ml']['predictive_sd'])}) + "
        f"{1 - p['meta']['weight']:g} x the neutral Normal(0, {p['ml']['vague_sd']:g}) "
        "(Schmidli et al. 2014); down-weighted for low quality.",
        f"- Standardised effect delta (`paired_change`, `signed_rank`): Cauchy("
        f"{_fmt(p['smd']['cauchy_loc'])}, {_fmt(p['smd']['cauchy_scale'])}) - the median and "
        "half the IQR of the same mixture on the SMD scale with the neutral Cauchy(0, 0.707).",
        f"- MCID: {mcid['value']:g} ml per session. {mcid['rationale']}",
        f"- Natural trend over three days by stage (level 15 ml): early "
        f"Normal({_fmt(s['trend_by_stage']['early']['mean'])}, "
        f"{_fmt(s['trend_by_stage']['early']['sd'])}); established Normal(0, "
        f"{_fmt(s['trend_by_stage']['established']['sd'])}). The paper's mothers: "
        f"{s['paper_stage']} lactation (working mothers).",
        f"  - early: {s['trend_by_stage']['early']['rationale']}",
        f"  - established: {s['trend_by_stage']['established']['rationale']}",
        "",
        "## Sources",
        "",
    ]
    for key, row in result.studies.iterrows():
        lines.append(f"- **{key}** ({row['provenance']}): {row['citation']}")
    for key, ref in load_references().items():
        lines.append(f"- **{key}** ({ref['provenance']}): {ref['citation']}")
    lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _is_ours(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def write_meta_analysis(result: MetaResult, out: str | Path, *, force: bool = False) -> Path:
    """Write the result as a folder, whole or not at all (:func:`milkbayes.storage.staged_folder`).

    Files: ``summary.json`` (every number), ``report.md``, ``forest.png``,
    ``derived_prior.toml`` (the file :func:`milkbayes.literature.derived_prior` reads)
    and the marker :data:`MARKER`.
    """
    from milkbayes import __version__, jsonio
    from milkbayes.storage import figure_bytes, staged_folder

    target = Path(out)
    provenance = {
        "milkbayes": __version__,
        "draws": int(result.fits["smd"].tree["posterior"].sizes["draw"]),
        "chains": int(result.fits["smd"].tree["posterior"].sizes["chain"]),
    }
    with staged_folder(target, force=force, is_replaceable=_is_ours, what="meta-analysis") as tmp:
        (tmp / "summary.json").write_text(jsonio.dumps(result.summary), encoding="utf-8")
        (tmp / "report.md").write_text(report_markdown(result), encoding="utf-8")
        (tmp / "forest.png").write_bytes(figure_bytes(forest_figure(result)))
        (tmp / "derived_prior.toml").write_text(
            prior_toml(result.prior_numbers, provenance=provenance), encoding="utf-8"
        )
        (tmp / MARKER).write_text(jsonio.dumps(provenance), encoding="utf-8")
    return target
