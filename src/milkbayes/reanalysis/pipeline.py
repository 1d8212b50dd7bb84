"""The main job: reproduce the paper, reanalyse it, compare models and write the report.

One library call, :func:`run_reanalysis`, does everything ``milkbayes reanalyze``
does; the CLI only parses options and draws progress bars.

Stages, in order (each timed; :data:`~milkbayes.reanalysis.settings.STAGES`):

1. ``data`` — load the study (the bundled reconstruction by default) and describe it;
2. ``reproduction`` — the paper's Wilcoxon test within the massage group, with the
   SPSS tables, exact p, Hodges-Lehmann, t and sign tests and the audit of the
   published numbers (:func:`milkbayes.frequentist.reproduce.reproduce`, the same
   analysis ``milkbayes reproduce`` prints);
3. ``fit`` — the flagship ``prepost_hierarchical`` model under the skeptical,
   neutral and enthusiastic priors (compiled once; the priors are data);
4. ``published_facts`` — the headline, for a reconstruction of the paper only
   (computed in a thread during the fit; this stage is the wait for it): the
   standardised effect given only the published facts (rejection ABC over the
   reconstruction's assumptions, :mod:`milkbayes.reconstruction`) and the Bayes
   factor of the published event with its upper bound
   (:mod:`milkbayes.reanalysis.headline`);
5. ``diagnostics`` — convergence tables, predictive checks, LOO-PIT;
6. ``compare`` — leave-one-mother-out CV of the candidate models: PSIS-LOO by mother
   where its Pareto k is good, exact refits where it is not ("reloo"), K-fold by
   mother when those refits would be too many
   (:func:`milkbayes.comparison.choice.choose_method`), stacking weights
   (:mod:`milkbayes.comparison`);
7. ``figures`` — the PNGs (:mod:`milkbayes.reanalysis.figures`);
8. ``sensitivity`` — the highlights of :mod:`milkbayes.sensitivity`, then, for
   reconstructed data, the reconstruction ensemble: the main model refitted to
   reconstructions drawn under varied assumptions, so that every number that depends
   on individual measurements is shown as a distribution, labelled assumption-driven
   (:func:`milkbayes.sensitivity.assumption_ensemble`);
9. ``report`` — the HTML/Markdown/JSON report (:mod:`milkbayes.report.render`).

Each stage returns a typed section (:mod:`milkbayes.reanalysis.sections`); together
they form the JSON summary the report is rendered from.

In a full run, a second process (:class:`_BackgroundWork`) compiles and
cross-validates the candidates other than the main fit, then computes the sensitivity
highlights, from the start: that work overlaps stages 4-7, and stages 6 and 8 mostly
collect its results.

The report folder is built under a temporary name beside its target and moved into
place at the end (:func:`milkbayes.storage.staged_folder`), so an interrupted run
never leaves a half-written report, and an existing report is replaced only with
``force=True``.

Examples
--------
>>> from milkbayes.reanalysis.settings import FAST, FULL
>>> FAST.draws < FULL.draws
True
"""

from __future__ import annotations

import contextlib
import gc
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from milkbayes import RECONSTRUCTED_WARNING, __version__
from milkbayes.comparison.choice import KFOLD_K, MAX_EXACT_REFITS
from milkbayes.engine.sampling import sigterm_as_keyboard_interrupt
from milkbayes.errors import DiagnosticsFailedError, MilkbayesError, ModelError
from milkbayes.frequentist.description_audit import audit_for
from milkbayes.frequentist.reproduce import reproduce
from milkbayes.frequentist.two_arm import two_arm_analysis
from milkbayes.models.priors import mcid_source
from milkbayes.models.registry import load_model, predicts
from milkbayes.reanalysis.figures import (
    FIGURE_CAPTIONS,
    chain_figures,
    chain_tree,
    comparison_figure,
    delta_density_curves,
    draw_figures,
    published_facts_caption,
    published_facts_figure,
)
from milkbayes.reanalysis.headline import headline_posterior, published_facts_section
from milkbayes.reanalysis.sections import (
    AuditRow,
    BayesSection,
    Coefficient,
    ComparisonSection,
    DataSection,
    DesignSection,
    DiagnosticsSection,
    EnsembleSection,
    FigureEntry,
    HodgesLehmann,
    LevelCount,
    ModifierSection,
    Participant,
    PriorSourcesSection,
    Provenance,
    PublishedFactsSection,
    ReanalysisSummary,
    ReproductionSection,
    RunSettings,
    SensitivityItem,
    SpssRankRow,
    SpssTestRow,
    VariableSummary,
)
from milkbayes.reanalysis.settings import (
    FAST,
    FULL,
    MAIN_MODEL,
    REFERENCE_PRIOR,
    ROPE_FRACTION_OF_MCID,
    STAGES,
    TWO_ARM_SECONDARY_MODEL,
    Progress,
    ReanalysisSettings,
    for_design,
    with_comparison,
)

__all__ = [
    "FAST",
    "FULL",
    "STAGES",
    "DiagnosticsFailedError",
    "ReanalysisResult",
    "ReanalysisSettings",
    "compare_candidates",
    "load_input_study",
    "run_reanalysis",
    "with_comparison",
]


@dataclass(frozen=True)
class ReanalysisResult:
    """What :func:`run_reanalysis` produced.

    Attributes
    ----------
    out_dir : Path
        The report folder.
    html, markdown, json : Path
        ``report.html``, ``report.md`` and ``summary.json`` in it.
    summary : dict
        The JSON summary (:meth:`ReanalysisSummary.to_dict
        <milkbayes.reanalysis.sections.ReanalysisSummary.to_dict>`; numbers as numbers).
    diagnostics_ok : bool
        False when any convergence check failed.
    timings : dict of str to float
        Seconds per stage, the rendering of the report included.
    """

    out_dir: Path
    html: Path
    markdown: Path
    json: Path
    summary: dict
    diagnostics_ok: bool
    timings: dict


# --------------------------------------------------------------------------- helpers
class _Stopwatch:
    def __init__(self, progress: Progress | None):
        self.timings: dict[str, float] = {}
        self._progress = progress

    def tick(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(stage, done, total)

    def run(self, stage: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        self.tick(stage, 0, 1)
        out = work()
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start
        self.tick(stage, 1, 1)
        return out


def load_input_study(data: str | Path | None):
    """The user's file, or the bundled ``volume_ml`` reconstruction when None."""
    if data is None:
        from milkbayes.datasets import load_bundled

        return load_bundled("volume_ml")
    from milkbayes.data import load_study

    return load_study(data)


def _finite(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _flat_provenance(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    """The sidecar as short strings (nested values as compact JSON) for the data table."""
    from milkbayes.jsonio import dumps

    if not provenance:
        return {}
    keep = (
        "generator",
        "command",
        "scenario",
        "seed",
        "procedure",
        "csv_sha256",
        "assumptions",
        "constraints",
    )
    out = {}
    for key in keep:
        if key in provenance:
            value = provenance[key]
            out[key] = (
                dumps(value, indent=None, sort_keys=True)
                if isinstance(value, (dict, list))
                else str(value)
            )
    return out


# --------------------------------------------------------------------------- stages
def _data_section(study) -> DataSection:
    from milkbayes.data import describe

    description = describe(study)
    summary_rows = tuple(
        VariableSummary(
            variable=str(variable),
            n=int(row["n"]),
            **{k: _finite(row[k]) for k in ("mean", "sd", "median", "q1", "q3")},
        )
        for variable, row in description.summary.iterrows()
    )
    univariate = tuple(
        LevelCount(
            column=str(r["column"]),
            level=str(r["level"]),
            count=int(r["count"]),
            percent=_finite(r["percent"]),
        )
        for _, r in description.univariate.iterrows()
    )
    pre, post = study.table["pre"].to_numpy(float), study.table["post"].to_numpy(float)
    return DataSection(
        source=str(study.source),
        sha256=str(study.sha256),
        n=int(study.n),
        outcome=study.outcome.to_dict(),  # + "benefit" when lower is better
        columns=tuple(str(c) for c in study.table.columns),
        dropped_ids=tuple(str(i) for i in study.dropped_ids),
        provenance=_flat_provenance(getattr(study, "provenance", None)),
        summary=summary_rows,
        univariate=univariate,
        notes=tuple(description.notes),
        participants=tuple(
            Participant(id=str(i), pre=float(a), post=float(b), change=float(b - a))
            for i, a, b in zip(study.ids, pre, post, strict=True)
        ),
    )


def _reproduction_section(reproduction, study=None) -> ReproductionSection:
    """The report's view of :func:`milkbayes.frequentist.reproduce.reproduce`."""
    from milkbayes import frequentist as fq

    exact, spss, test = reproduction.exact, reproduction.spss, reproduction.test_statistics
    spss_p = reproduction.spss_p
    z = float(test.loc["Z", "value"])
    description = getattr(study, "description", None)
    audit, audit_note = (
        (tuple(reproduction.audit), "") if study is None else audit_for(study, reproduction)
    )
    return ReproductionSection(
        published_p_text=None if description is None else description.reported_p,
        spss_p_text=fq.format_p_spss(spss_p),
        p_exact=float(exact.p_value),
        p_honest_text=fq.format_p_honest(exact.p_value),
        p_asymptotic=spss_p,
        z_spss=float(spss.z_spss),
        w_plus=float(exact.w_plus),
        w_minus=float(exact.w_minus),
        n_zero=int(exact.n_zero),
        rank_biserial=float(exact.rank_biserial),
        hodges_lehmann=HodgesLehmann(
            estimate=float(exact.hodges_lehmann),
            low=float(exact.hl_ci_low),
            high=float(exact.hl_ci_high),
            method=exact.hl_ci_method,
        ),
        t_test={
            k: _finite(v)
            for k, v in reproduction.t_test.to_dict().items()
            if isinstance(v, (int, float))
        },
        sign_test_p=float(reproduction.sign_test.p_value),
        spss_ranks=tuple(
            SpssRankRow(
                row=str(label),
                n=int(r["N"]),
                mean_rank=_finite(r["Mean Rank"]),
                sum_of_ranks=_finite(r["Sum of Ranks"]),
                footnote=str(r["footnote"]),
            )
            for label, r in reproduction.ranks.iterrows()
        ),
        spss_test=(
            SpssTestRow(row="Z", value=z, text=f"{z:.3f}", footnote=str(test.loc["Z", "footnote"])),
            SpssTestRow(
                row="Asymp. Sig. (2-tailed)",
                value=spss_p,
                text=fq.format_p_spss(spss_p),
                footnote="",
            ),
        ),
        audit=tuple(
            AuditRow(
                check=c.check,
                published=c.expected,
                computed=c.found,
                status=c.status,
                note=c.explanation,
            )
            for c in audit
        ),
        audit_note=audit_note,
    )


def _mcid(study, settings: ReanalysisSettings) -> float:
    """The MCID: the settings', else the study description's, else the default."""
    from milkbayes.models.priors import resolve_mcid

    description = getattr(study, "description", None)
    given = settings.mcid if settings.mcid is not None else getattr(description, "mcid", None)
    return resolve_mcid(study, given)


def design_limits(study) -> tuple[tuple[str, str], ...]:
    """The design limits the report prints.

    The paper's own for the bundled paper; otherwise the generic limits of the
    study's design followed by its description's own.
    """
    from milkbayes.report import render as report

    description = getattr(study, "description", None)
    if description is not None and description.is_paper:
        return report.DESIGN_LIMITS
    generic = report.TWO_ARM_LIMITS if study.design == "two_arm" else report.ONE_GROUP_LIMITS
    return (*generic, *(description.limits if description is not None else ()))


def _design_section(study, settings: ReanalysisSettings, between, secondary=None) -> DesignSection:
    n_control = int((study.table["group"] == "control").sum())
    notes = []
    if between is not None:
        notes += [
            f"The study has a control arm ({n_control} participants) beside the massage arm "
            f"({study.n - n_control}). The main model is {settings.main_model}, which uses "
            "both arms: the effect is the difference between the arms' post values at the "
            "same pre value (ANCOVA, post ~ pre + arm).",
            "Why ANCOVA leads: in a randomised trial it is unbiased, it is more precise "
            "than the difference of the arms' mean changes whatever the pre-post "
            "correlation, and it needs no parallel-trends assumption (Vickers & Altman "
            "2001; Senn 2006). The difference in differences (model "
            f"{TWO_ARM_SECONDARY_MODEL}) is a secondary analysis; it assumes "
            f"{PARALLEL_TRENDS} Where the two disagree, trust ANCOVA if the arms were "
            "randomised.",
            "The paper's one-group test (section 2) is run on the massage arm only, and "
            "again on the control arm below: a control arm that changes too shows how "
            "much of the massage arm's change would have happened anyway.",
            "Only models that use both arms are compared. The sensitivity tools, which "
            "model one group, are not run on two-arm data.",
        ]
    return DesignSection(
        design=study.design,
        n_massage=study.n - n_control,
        n_control=n_control,
        main_model=settings.main_model,
        arms=tuple(a.to_dict() for a in between.arms) if between is not None else (),
        comparison=(
            {k: v for k, v in between.to_dict().items() if k != "arms"}
            if between is not None
            else None
        ),
        notes=tuple(notes),
        secondary=secondary,
    )


def _literature_prior_or_reason(study, model: str = MAIN_MODEL) -> tuple[Any, str]:
    """The literature prior set of the main model for ``study``, or None and why not.

    The literature prior is about breast-milk volume after oxytocin massage: it is
    fitted only where the outcome is that (:func:`milkbayes.models.priors.literature_reason`
    decides and its message is the reason); score outcomes never get it.
    """
    from milkbayes.errors import PriorError
    from milkbayes.models.priors import literature_prior, literature_reason

    reason = literature_reason(study)
    if reason:
        return None, reason
    try:
        return literature_prior(study.outcome, model), ""
    except PriorError as error:
        return None, str(error)


def _fit_priors(study, settings: ReanalysisSettings, mcid: float, tick) -> dict:
    """The main model under the three named priors and, where it exists, the literature's.

    The literature fit (key ``literature``) becomes a fourth row of the prior table;
    it is left out where :func:`_literature_prior_or_reason` gives no prior.
    """
    from milkbayes.models.priors import LITERATURE, PRIOR_NAMES

    literature, _ = _literature_prior_or_reason(study, settings.main_model)
    names = (*PRIOR_NAMES, LITERATURE) if literature is not None else PRIOR_NAMES
    fits = {}
    for k, name in enumerate(names):
        fits[name] = _main_fit(study, settings, mcid, literature if name == LITERATURE else name)
        tick("fit", k + 1, len(names))
    return fits


def _main_fit(study, settings: ReanalysisSettings, mcid: float, prior_name: str):
    """The main model under one prior, as the report fits it.

    ``milkbayes compare`` fits the reference prior's through this function too, so
    that its comparison reuses the same fit as the report's and gives the same
    numbers: a refit with other settings moves the elpd by Monte Carlo noise, which
    was enough to flip stacking weights of 1 and 0 between the two commands.
    """
    from milkbayes.engine import fit as fitting

    # only the reference fit feeds LOO-PIT and the posterior predictive check
    reference = prior_name == settings.reference_prior
    return fitting.fit(
        settings.main_model,
        study,
        prior=prior_name,
        mcid=mcid,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        log_likelihood=reference,
        posterior_predictive=reference,
        ci_prob=settings.ci_prob,
    )


def _secondary_fit(study, settings: ReanalysisSettings, mcid: float):
    """The secondary two-arm analysis (difference in differences) under the reference prior.

    Two-arm data only: the report leads with ANCOVA and shows this estimate beside it;
    the comparison reuses this fit for the same candidate (same numbers in
    ``milkbayes compare`` and in the report).
    """
    from milkbayes.engine import fit as fitting

    return fitting.fit(
        TWO_ARM_SECONDARY_MODEL,
        study,
        prior=settings.reference_prior,
        mcid=mcid,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        log_likelihood=False,
        posterior_predictive=False,
        ci_prob=settings.ci_prob,
    )


def _secondary_summary(result, prior_name: str) -> dict[str, Any]:
    """The design section's row of the secondary analysis (see :func:`_secondary_fit`)."""
    summary = result.summary
    return {
        "model": result.model_name,
        "likelihood": result.likelihood,
        "prior": prior_name,
        "effect_median": summary["effect_median"],
        "effect_ci95_low": summary["effect_ci95_low"],
        "effect_ci95_high": summary["effect_ci95_high"],
        "p_effect_gt_0": summary["p_effect_gt_0"],
        "diagnostics": result.diagnostics.status,
        "assumption": PARALLEL_TRENDS,
    }


PARALLEL_TRENDS = (
    "parallel trends: without the massage, the massage arm's mean would have changed "
    "by as much as the control arm's. It fails when the arms differ at baseline and "
    "the change depends on the baseline (regression to the mean, a ceiling)."
)
"""The assumption of the difference in differences, as the report states it."""


def _main_likelihood(model: str = MAIN_MODEL) -> str:
    """The likelihood :func:`_fit_priors` fits (the main model's default)."""
    from milkbayes.engine import fit as fitting

    return fitting.resolve_likelihood(load_model(model), None)


def _effect_draws(result) -> np.ndarray:
    variable = result.summary.get("effect_variable", "effect")
    return np.asarray(result.tree["posterior"][variable].values, dtype=float).ravel()


def _prior_rows(fits, mcid: float, rope, ci_prob: float, benefit: str = "increase") -> list[dict]:
    """The three-prior table's rows, each with its prior's beliefs and rationale."""
    from milkbayes import comparison as compare

    rows = compare.three_prior_table(
        {name: _effect_draws(r) for name, r in fits.items()},
        mcid=mcid,
        rope=rope,
        ci_prob=ci_prob,
        benefit=benefit,
    )
    return [
        {
            **asdict(row),
            "beliefs": list(fits[row.prior].prior.beliefs),
            "rationale": fits[row.prior].prior.rationale,
        }
        for row in rows
    ]


RANK_BF_MAX_PAIRS = 50
"""Pairs up to which the report gives the signed-rank Bayes factor.

Its quadrature's cost grows faster than the square of the number of pairs (about
0.6 s for the paper's 24 and 15 s for 100 on one core): a study of 2,000 mothers would
spend hours on one row of a table. Beyond this size the row is left out; the t-based
Bayes factor and the model's posterior beside it remain.
"""

RANK_BF_OMITTED_NOTE = (
    f" The Bayesian signed-rank Bayes factor is given for up to {RANK_BF_MAX_PAIRS} "
    "pairs only: its quadrature grows faster than the square of the number of pairs."
)


def signed_rank_bf10(study) -> float | None:
    """BF10 of the Bayesian signed-rank test on the pairs the Wilcoxon test used.

    The Bayesian counterpart of the paper's Wilcoxon test (van Doorn et al. 2020), on
    the same snapped changes, by quadrature
    (:func:`milkbayes.models.signed_rank.rank_bayes_factor`, no sampling). ``None``
    above :data:`RANK_BF_MAX_PAIRS` pairs, where the quadrature would dominate a
    reanalysis; ``inf`` when BF10 overflows a float.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> signed_rank_bf10(load_bundled()) > 1000
    True
    """
    from milkbayes.data import paired_change as snapped_change
    from milkbayes.frequentist.reproduce import paired_rows
    from milkbayes.models import signed_rank

    pairs = paired_rows(study)
    if len(pairs.pre) > RANK_BF_MAX_PAIRS:
        return None
    changes = snapped_change(pairs.pre, pairs.post)
    log_bf10 = signed_rank.rank_bayes_factor(changes)["log_bf10"]
    return math.exp(log_bf10) if log_bf10 < 700 else float("inf")


def _bayes_section(
    study,
    fits: Mapping[str, Any],
    reproduction,
    mcid: float,
    rope: tuple[float, float],
    reference_prior: str = REFERENCE_PRIOR,
    two_arm=None,
    secondary=None,
    ci_prob: float = 0.95,
) -> BayesSection:
    """The three-prior table and the frequentist-versus-Bayesian table.

    The frequentist numbers are those of ``reproduction`` (the massage group) for
    one-group data, and the between-arm analysis ``two_arm``
    (:func:`milkbayes.frequentist.two_arm.two_arm_analysis`) with a control arm: each
    side of the table then estimates the same between-arm effect: ANCOVA beside the
    main model (``ancova``), the difference of mean changes beside ``secondary``, the
    difference-in-differences fit (:func:`_secondary_fit`), when given.
    """
    if two_arm is not None:
        return _two_arm_bayes_section(
            study, fits, two_arm, mcid, rope, reference_prior, secondary, ci_prob
        )
    from milkbayes import comparison as compare
    from milkbayes.models import paired_change

    benefit = _benefit(study)
    priors = _prior_rows(fits, mcid, rope, ci_prob, benefit)
    reference = fits[reference_prior].summary
    exact, t_test = reproduction.exact, reproduction.t_test
    # The JZS Bayes factor of the paired model (Cauchy r = sqrt(2)/2 on delta), in
    # closed form from the t statistic of the pairs tested: the hierarchical model has
    # no Bayes factor of its own.
    log_bf = paired_change.jzs_log_bf10(float(t_test.t), reproduction.n)
    bf10 = math.exp(log_bf) if log_bf < 700 else float("inf")
    rank_bf10 = signed_rank_bf10(study)
    table = compare.freq_vs_bayes_table(
        hodges_lehmann=float(exact.hodges_lehmann),
        hl_ci=(float(exact.hl_ci_low), float(exact.hl_ci_high)),
        mean_change=float(t_test.mean_change),
        t_ci=(float(t_test.mean_ci_low), float(t_test.mean_ci_high)),
        p_wilcoxon=float(exact.p_value),
        p_t=float(t_test.p_value),
        effect_median=reference["effect_median"],
        effect_ci=(reference["effect_ci95_low"], reference["effect_ci95_high"]),
        p_effect_gt_0=reference.get("p_benefit", reference["p_effect_gt_0"]),
        p_effect_gt_mcid=reference.get(
            "p_benefit_gt_mcid", reference.get("p_effect_gt_mcid", float("nan"))
        ),
        mcid=mcid,
        bf10=bf10,
        bf10_text="BF10 (JZS, paired model)",
        signed_rank_bf10=rank_bf10,
        ci_prob=ci_prob,
        benefit=benefit,
    )
    return BayesSection(
        model=fits[reference_prior].model_name,
        likelihood=fits[reference_prior].likelihood,
        effect_variable=reference.get("effect_variable", "effect"),
        unit=_unit(study),
        mcid=mcid,
        rope=rope,
        reference_prior=reference_prior,
        priors=tuple(priors),
        effect_median=reference["effect_median"],
        freq_vs_bayes=tuple(asdict(r) for r in table),
        bf10=bf10,
        log_bf10=log_bf,
        bf10_note=(
            "BF10 is the JZS Bayes factor of the paired-change model (Cauchy prior "
            "with r = 0.707 on the standardised effect; Rouder et al. 2009), "
            "computed in closed form from the paired t statistic. It tests "
            "'any change' against 'no change' and, like p, says nothing about "
            "what caused the change." + ("" if rank_bf10 is not None else RANK_BF_OMITTED_NOTE)
        ),
        mcid_source=mcid_source(study, mcid),
        benefit=benefit,
    )


def _benefit(study) -> str:
    """The study's direction of benefit (``"increase"`` unless its outcome says a fall)."""
    return getattr(getattr(study, "outcome", None), "benefit", "increase")


def _unit(study) -> str:
    return study.outcome.unit or ("points" if study.outcome.kind == "score" else "units")


def _two_arm_bayes_section(
    study, fits, analysis, mcid, rope, reference_prior, secondary=None, ci_prob=0.95
) -> BayesSection:
    """The Bayesian between-arm effect beside the frequentist between-arm analyses.

    Each frequentist analysis faces its Bayesian counterpart: least-squares ANCOVA the
    main model (``ancova``), the difference of mean changes the difference-in-
    differences model ``secondary`` (the main model's when it is not given).
    """
    from milkbayes import comparison as compare
    from milkbayes.comparison.tables import FreqVsBayesRow, benefit_label

    benefit = _benefit(study)
    priors = _prior_rows(fits, mcid, rope, ci_prob, benefit)
    reference = fits[reference_prior].summary
    median = reference["effect_median"]
    interval = (reference["effect_ci95_low"], reference["effect_ci95_high"])
    main = fits[reference_prior].model_name
    did = secondary.summary if secondary is not None else reference
    did_model = secondary.model_name if secondary is not None else main
    table = [
        FreqVsBayesRow(
            "estimate",
            "ANCOVA: post ~ pre + arm",
            analysis.ancova,
            f"posterior median ({main})",
            median,
        ),
        FreqVsBayesRow(
            "estimate",
            "difference of mean changes",
            analysis.did,
            f"posterior median ({did_model})",
            did["effect_median"],
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (ANCOVA)",
            (analysis.ancova_ci_low, analysis.ancova_ci_high),
            f"{compare.level_label(ci_prob)} credible interval ({main})",
            interval,
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (Welch, changes)",
            (analysis.did_ci_low, analysis.did_ci_high),
            f"{compare.level_label(ci_prob)} credible interval ({did_model})",
            (did["effect_ci95_low"], did["effect_ci95_high"]),
        ),
        FreqVsBayesRow(
            "evidence",
            "p (ANCOVA)",
            analysis.ancova_p,
            benefit_label(benefit),
            reference.get("p_benefit", reference["p_effect_gt_0"]),
        ),
        FreqVsBayesRow(
            "evidence",
            "p (Mann-Whitney, changes)",
            analysis.p_mann_whitney,
            benefit_label(benefit, mcid),
            reference.get("p_benefit_gt_mcid", reference.get("p_effect_gt_mcid", float("nan"))),
        ),
    ]
    return BayesSection(
        model=fits[reference_prior].model_name,
        likelihood=fits[reference_prior].likelihood,
        effect_variable=reference.get("effect_variable", "effect"),
        unit=_unit(study),
        mcid=mcid,
        rope=rope,
        reference_prior=reference_prior,
        priors=tuple(priors),
        effect_median=median,
        freq_vs_bayes=tuple(asdict(r) for r in table),
        bf10=float("nan"),
        log_bf10=float("nan"),
        bf10_note=(
            "With a control arm the effect is the difference between the arms' changes; "
            "both columns estimate that between-arm effect. No Bayes factor is given: the "
            "JZS factor of the paired model tests one arm's change, not the difference."
        ),
        mcid_source=mcid_source(study, mcid),
        benefit=benefit,
    )


def _modifier_section(fit_result, ci_prob: float = 0.95) -> ModifierSection:
    summary = fit_result.summary
    post = fit_result.tree["posterior"]
    coefficients = []
    for name in post.data_vars:
        if name.startswith("modifier_"):
            x = np.asarray(post[name].values, dtype=float).ravel()
            coefficients.append(
                Coefficient(
                    name=name,
                    median=float(np.median(x)),
                    ci95_low=float(np.quantile(x, (1 - ci_prob) / 2)),
                    ci95_high=float(np.quantile(x, (1 + ci_prob) / 2)),
                )
            )
    return ModifierSection(
        subgroup_effects=_subgroup_effects_at(post, summary.get("subgroup_effects", {}), ci_prob),
        skipped=summary.get("skipped_covariates", {}),
        coefficients=tuple(coefficients),
    )


def _subgroup_effects_at(post, effects: Mapping[str, Any], ci_prob: float) -> dict:
    """The model's subgroup effects with their intervals recomputed at ``ci_prob``.

    A model's ``extra_summary`` takes no level (its contract is shared by every
    model), so its 95 % intervals are replaced here from the same draws
    (``effect_<covariate>``, levels in the order of the model's summary).
    """
    out: dict = {}
    for column, levels in effects.items():
        name = f"effect_{column}"
        if name not in post.data_vars:
            out[column] = levels
            continue
        stacked = np.asarray(post[name].values, dtype=float).reshape(-1, len(levels))
        low, high = np.quantile(stacked, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
        out[column] = {
            level: {**entry, "ci95_low": float(low[k]), "ci95_high": float(high[k])}
            for k, (level, entry) in enumerate(levels.items())
        }
    return out


def _diagnostics_section(
    study,
    fits: Mapping[str, Any],
    reference_prior: str = REFERENCE_PRIOR,
    report_of: Callable[[str], Any] | None = None,
) -> tuple[DiagnosticsSection, Any]:
    """The diagnostics section, and the prior and posterior predictive changes.

    ``report_of(name)`` gives a fit's convergence report computed elsewhere (from
    :func:`_convergence_tree`), or None for the fit's own; it is asked last, after
    the reference fit's checks.
    """
    checks = _reference_checks(study, fits[reference_prior])
    # the reference fit's report before asking for the others (they may be in the queue)
    _ = fits[reference_prior].diagnostics
    fit_rows, failing, statuses = [], [], []
    for name, result in fits.items():
        report = (report_of(name) if report_of is not None else None) or result.diagnostics
        label = f"{result.model_name}/{result.likelihood}, {name} prior"
        statuses.append(report.status)
        fit_rows.append(
            {
                "label": label,
                "status": report.status,
                "chains": report.chains,
                "draws": report.draws,
                "rows": [r.as_dict() for r in report.rows],
            }
        )
        failing += [
            {"fit": label, "check": r.check, "label": r.label, "detail": r.detail}
            for r in report.failures
        ]
    predictive, simulated, pit, pit_status = checks
    statuses += [c["status"] for c in predictive]
    if pit_status is not None:  # an unavailable LOO-PIT says so, without a status
        statuses.append(pit_status)
    order = {"pass": 0, "warn": 1, "fail": 2}
    overall = max(statuses, key=lambda s: order.get(s, 1), default="pass")
    return (
        DiagnosticsSection(
            overall=overall,
            failing=tuple(failing),
            fits=tuple(fit_rows),
            predictive=tuple(predictive),
            loo_pit=pit,
        ),
        simulated,
    )


def _reference_checks(study, reference) -> tuple[list, Any, dict, str | None]:
    """The reference fit's predictive checks, simulated changes, LOO-PIT and its status.

    The status is None when LOO-PIT is not available (it then counts for nothing).
    """
    from milkbayes import diagnostics as dg

    predictive, simulated = [], dg.simulated_changes(reference.tree, study)
    prior_simulated = _prior_predictive_changes(study, reference)
    if prior_simulated is not None:
        predictive += [c.as_dict() for c in dg.predictive_checks(*prior_simulated, kind="prior")]
    if simulated is not None:
        predictive += [c.as_dict() for c in dg.predictive_checks(*simulated, kind="posterior")]
    predictive += [c.as_dict() for c in dg.level_checks_of(reference.tree, study, "posterior")]
    label = f"{reference.model_name}/{reference.likelihood}"
    predictive = [{**row, "model": label} for row in predictive]
    try:
        pit = dg.loo_pit(reference.tree).as_dict()
        pit.pop("values", None)
        pit_status = pit["status"]
    except MilkbayesError as error:
        pit = {
            "ks_statistic": None,
            "ks_p_value": None,
            "status": "warn",
            "note": f"LOO-PIT not available: {error}",
        }
        pit_status = None
    return predictive, (prior_simulated, simulated), pit, pit_status


def _convergence_tree(result) -> Any:
    """What :func:`milkbayes.diagnostics.convergence_report` reads of a fit, as a DataTree.

    The posterior and the sampler statistics, without the log-likelihood and
    predictive groups: sent to the worker process, the same report comes back.
    """
    import xarray as xr

    groups = {"posterior": result.tree["posterior"].to_dataset()}
    if "sample_stats" in result.tree.children:
        groups["sample_stats"] = result.tree["sample_stats"].to_dataset()
    return xr.DataTree.from_dict(groups)


def _share_main_fit_work(background: _BackgroundWork, fits: Mapping[str, Any], reference: str):
    """Queue the main fits' work that either process may do, first in the queue.

    The trace and rank figures of the reference fit (``("chain_figures",)``) and the
    convergence reports of the other fits (``("convergence", name)``): about 3 s of
    CPU that the main process, the longer of the two, would otherwise do alone. The
    reference fit's report stays here (its tree is at hand for the other checks).
    """
    from milkbayes.diagnostics import convergence_report

    # the fit draw_figures draws the chain plots of
    chain_fit = fits[REFERENCE_PRIOR]
    background.submit_first(("chain_figures",), chain_figures, (chain_tree(chain_fit),))
    for name, result in reversed(list(fits.items())):  # first queued is taken last
        if name != reference:
            background.submit_first(
                ("convergence", name), convergence_report, (_convergence_tree(result),)
            )


def _shared_report(background: _BackgroundWork | None, reference: str):
    """``report_of(name)`` for :func:`_diagnostics_section`: the queued report, or None.

    None for the reference fit and without a worker (the fit's own report then).
    """
    if background is None:
        return None

    def report_of(name: str):
        return None if name == reference else background.result(("convergence", name))

    return report_of


def _shared_chain(background: _BackgroundWork | None):
    """``chain()`` for :func:`draw_figures`: the queued chain figures; None without a worker."""
    if background is None:
        return None
    return lambda: background.result(("chain_figures",))


def _prior_predictive_changes(study, reference, draws: int = 200):
    """Prior predictive draws of every mother's change under the reference prior, or None."""
    from milkbayes import diagnostics as dg
    from milkbayes.engine.predictive import prior_predictive

    try:
        tree = prior_predictive(
            reference.model_name,
            study,
            prior=reference.prior,
            likelihood=reference.likelihood,
            draws=draws,
            seed=reference.seed,
            inputs=reference.inputs,
        )
    except MilkbayesError:
        return None
    return dg.simulated_changes(tree, study, group="prior_predictive")


def _comparison_entry(
    module_name: str, likelihood: str, study, settings, prior_name: str, mcid: float, reuse=None
):
    """A full-data fit and the cached compiled model of one candidate."""
    from milkbayes.engine import fit as fitting
    from milkbayes.engine.cache import prepared_model

    result = reuse or fitting.fit(
        module_name,
        study,
        prior=prior_name,
        likelihood=likelihood,
        mcid=mcid,
        draws=settings.lomo_draws * 2,
        tune=settings.lomo_tune,
        chains=settings.lomo_chains,
        seed=settings.seed,
        log_likelihood=False,
        posterior_predictive=False,
        # read through its posterior only (PSIS, predictive checks, lppd)
        posterior_only=True,
    )
    entry, values, _ = prepared_model(
        load_model(module_name), result.inputs, result.prior, likelihood
    )
    return result, entry, values


def _candidate_cv(
    model_name: str,
    likelihood: str,
    study,
    settings: ReanalysisSettings,
    mcid: float,
    reuse=None,
    tick=None,
    position: tuple[int, int] = (0, 1),
):
    """PSIS-LOO by mother and the leave-one-mother-out elpd of one candidate.

    Returns ``(lomo, psis_rows, None, level_rows)``, or ``(None, [], reason, [])`` when
    the model cannot fit these data (e.g. log-normal with a zero measurement).
    ``level_rows`` are the posterior predictive checks of the pre and post values
    (:func:`milkbayes.diagnostics.level_checks_of`) of a candidate that predicts the
    pair and is not the main fit (whose checks the diagnostics section has): the
    comparison ranks it, so the report shows whether it reproduces the data's spread.
    """
    from milkbayes import comparison as compare

    label = f"{model_name}/{likelihood}"
    try:
        full, entry, values = _comparison_entry(
            model_name, likelihood, study, settings, settings.reference_prior, mcid, reuse
        )
    except ModelError as error:
        return None, [], f"{label}: {error}", []
    inputs = full.inputs
    n = int(study.n)
    mother_of_obs = np.asarray(inputs.data.get("mother_idx", np.arange(n)))
    target = predicts(model_name)
    intercept = ("mother_z", "mother") if "mother_z" in entry.model.named_vars else None
    k, total = position

    def refit_progress(done: int, of: int) -> None:
        if tick is not None:
            tick("compare", k * of + done, total * of)

    loglik = compare.PointwiseLogLik(entry.model)
    post = full.tree["posterior"]
    matrix = loglik(compare.stacked_draws(post, loglik.value_names))
    levels = ("mother", "observation") if target == "pre_post" else ("mother",)
    by_level, psis_rows = {}, []
    reff = compare.relative_ess(post) if len(levels) > 1 else None  # once for both
    for level in levels:
        psis = by_level[level] = compare.psis_by_mother(
            post, matrix, mother_of_obs, n, label=label, level=level, reff=reff
        )
        psis_rows.append(
            {
                "label": psis.label,
                "level": psis.level,
                "elpd": psis.elpd,
                "se": psis.se,
                "max_k": psis.max_k,
                "n_high_k": psis.n_high_k,
                "n": len(psis.pareto_k),
                "good_k": psis.good_k,
                "reliable": psis.reliable,
                "note": psis.note,
            }
        )
    # before the refits: the model holds this fit's data now
    level_rows = []
    if target == "pre_post" and reuse is None:
        from milkbayes import diagnostics as dg
        from milkbayes.engine.predictive import add_posterior_predictive

        tree = add_posterior_predictive(full.tree, entry.model, settings.seed)
        level_rows = [
            {**c.as_dict(), "model": label} for c in dg.level_checks_of(tree, study, "posterior")
        ]
    # the one choice of estimator by size: reloo while the refits are few, else K-fold
    choice = compare.choose_method(n, by_level["mother"] if settings.reloo else None)
    common = {
        "compiled": entry.compiled,
        "data": values,
        "mother_of_obs": mother_of_obs,
        "mother_ids": list(study.ids),
        "label": label,
        "target": target,
        "intercept": intercept,
        "draws": settings.lomo_draws,
        "tune": settings.lomo_tune,
        "chains": settings.lomo_chains,
        "seed": settings.seed,
        "full_posterior": full.tree,
        "progress": refit_progress,
        "loglik": loglik,
    }
    if choice.method == "kfold":
        lomo = compare.kfold_cv(entry.model, k=choice.n_folds, **common)
    else:
        lomo = compare.lomo_cv(
            entry.model, psis=by_level["mother"] if settings.reloo else None, **common
        )
    return lomo, psis_rows, None, level_rows


def _tie_worker_to_parent(parent_pid: int) -> None:
    """Make the background worker die with the process that started it.

    Runs first in the worker. A parent killed with SIGKILL cannot terminate its worker,
    and an orphaned worker that kept the caller's stdout and stderr open would make a
    shell pipeline (``milkbayes reanalyze | tee log``) wait for it. So the worker lets
    go of those streams (its results travel back through the pool's pipe, not through
    them) and exits as soon as its parent is gone: at once on Linux
    (``PR_SET_PDEATHSIG``), and within half a second elsewhere (a watchdog thread
    that polls the parent's pid).

    A forked worker (:func:`_worker_context`) starts with copies of its parent's
    Python streams, whose buffers may hold output the parent has not written yet:
    they are set aside unflushed (the parent writes that output; flushing the copies
    would print it twice) and kept referenced (a finalised stream flushes). It also
    drops a profiler the parent runs (a profile is the parent's) and takes the
    default handlers of SIGINT and SIGTERM, as a spawned worker has them. Either way
    it runs without full garbage collections, as the main process
    (:data:`GC_FULL_THRESHOLD`).
    """
    import os
    import signal
    import sys
    import threading
    import time

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _SET_ASIDE.extend(s for s in (sys.stdout, sys.stderr) if s is not None)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the worker's stream for its life
    sys.stderr = sys.stdout
    sys.setprofile(None)
    threading.setprofile(None)
    gc.set_threshold(*gc.get_threshold()[:2], GC_FULL_THRESHOLD)  # as the main process
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=watch, name="milkbayes-parent-watch", daemon=True).start()


_SET_ASIDE: list = []
"""The worker's inherited Python streams (:func:`_tie_worker_to_parent`), never finalised."""

WORKER_MODULES = ("nutpie", "pymc", "arviz", "matplotlib.figure", "milkbayes.engine.fit")
"""What the worker needs that the main process imports anyway: imported before a fork,
so that a forked worker starts with them (about 2.5 s of imports on each run).

nutpie comes before PyMC: it imports ArviZ, whose NumPyro converter asks
``lazy_loader`` for JAX; JAX being absent, the loader records its caller with
``inspect.stack()``, whose cost grows with the modules already loaded (as in the
``fit`` command, :func:`milkbayes.cli.fit_commands._import_sampler`)."""


def _os_threads() -> int:
    """The number of threads of this process (Linux), or 0 when unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _native_threads() -> int | None:
    """Threads of this process that Python's ``threading`` does not know, or None (unknown).

    Threads started by libraries in native code: a BLAS pool, numba's parallel
    pool, a sampler's chains.
    """
    total = _os_threads()
    return total - threading.active_count() if total > 0 else None


_NATIVE_THREADS_AT_IMPORT = _native_threads()
"""Native threads when this module was imported (numpy's BLAS pool, idle)."""


def _worker_context():
    """The multiprocessing context of the background worker: fork where safe, else spawn.

    A forked worker starts at once with the modules the main process has imported
    (:data:`WORKER_MODULES` are imported first), where a spawned one starts a new
    interpreter and imports them again, about 2.5 s of CPU on two shared cores. A
    fork copies only the calling thread, and a lock another thread holds stays
    locked in the child. Python threads of the main process (a progress bar's
    heartbeat or refresh thread) hold only locks of Python objects the worker never
    uses: its inherited streams are set aside untouched (:func:`_tie_worker_to_parent`)
    and it reports no progress. Native threads may hold any lock, so the worker is
    forked only on Linux and only while no native thread has been started since
    this module was imported (numpy's idle BLAS pool re-creates itself in the
    child); otherwise, e.g. after a parallel numba kernel, it is spawned. The
    worker's numbers do not depend on how it started (same code, arguments and
    seeds; see :class:`_BackgroundWork`).
    """
    import importlib
    import multiprocessing
    import sys

    if (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and _no_native_threads()
    ):
        for name in WORKER_MODULES:
            importlib.import_module(name)
        if _no_native_threads():
            return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _no_native_threads() -> bool:
    """True when no native thread was started since this module was imported."""
    native = _native_threads()
    return (
        native is not None
        and _NATIVE_THREADS_AT_IMPORT is not None
        and native <= _NATIVE_THREADS_AT_IMPORT
    )


def _prepared_for_fork(context, prepare: Callable[[], Any] | None):
    """Run ``prepare`` before a fork; the context to start the worker with then.

    What ``prepare`` loads (the main model, :func:`_prepare_main_model`) a forked
    worker inherits instead of loading it again. It is only a head start: an error
    in it is left to the fit that needs the same work, where it is raised as always.
    Should it have started a native thread, the worker is spawned after all
    (:func:`_worker_context`).
    """
    import multiprocessing

    if prepare is None or context.get_start_method() != "fork":
        return context
    try:
        prepare()
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001, S110 - the main fit redoes it and raises there
        pass
    return context if _no_native_threads() else multiprocessing.get_context("spawn")


def _prepare_main_model(study, settings: ReanalysisSettings) -> None:
    """Load what the main fits and the worker both need, before the worker is forked.

    The main model's compiled form (its record, numba's callbacks and PyTensor's
    compiled functions, with the imports their loading does), as the reference fit uses it
    (:func:`milkbayes.engine.fit.prepare_model`), and xarray's one-time look-up of
    the array libraries installed (dask among them), done at the first array it wraps.
    Each process did these on its own, about half a second of CPU in all. Only a
    model that is ready (cached or recorded: ``ready_only``) is loaded: with empty
    caches its compilation would hold the fork back for as long, one core idle,
    while the worker, which does not fit this model (the ensemble fits its copy with
    the covariates as data), could be compiling its own.
    """
    import xarray as xr

    from milkbayes.engine.fit import prepare_model

    xr.DataArray(np.zeros(1), dims=["draw"])
    prepare_model(settings.main_model, study, prior=settings.reference_prior, ready_only=True)


SENSITIVITY_MODEL = ("paired_change", "normal")
"""The model the sensitivity highlights refit (prior grid, bias analysis): the worker runs
them with that comparison candidate, so that one process compiles it."""


def _run_tasks(tasks: Sequence[tuple[Callable[..., Any], tuple]]) -> list:
    """``[work(*args) for work, args in tasks]``: one group of the worker's tasks."""
    return [work(*args) for work, args in tasks]


WORKER_GRACE_SECONDS = 3.0
"""How long a terminated background worker may take to stop before it is killed."""


class _BackgroundWork:
    """Work that does not need the main fits, shared between a second process and this one.

    The tasks: cross-validating each comparison candidate other than the main fit
    (one task per candidate: compile, fit, PSIS, refits), the sensitivity highlights
    (whose prior grid refits ``paired_change``) and, once the headline's posterior
    exists, the reconstruction ensemble. On a machine with two or more cores a worker
    process, started before the main fits, takes them one at a time, in that order
    except that the highlights come right after the first candidate and the ensemble
    (the longest) goes first as soon as it is queued, while the main process fits,
    checks, compares the main fit and draws the figures.

    The work is shared, not only handed over: when the main process needs a result
    (:meth:`comparison_result`, :meth:`sensitivity_result`, :meth:`ensemble_result`)
    it first runs itself, one after the other, the tasks the worker has not started,
    so that neither core idles while work is queued (on two cores the worker alone
    was the critical path, and with empty compile caches each candidate is a long
    numba compilation). A task runs in one process only, with the same function,
    arguments and seeds wherever it runs, so the report's numbers do not depend on
    which process computed what (draws do not depend on what a process compiled
    before: :mod:`milkbayes.engine.compile_cache`). The worker is forked where that
    is safe, else spawned (:func:`_worker_context`). On Ctrl-C or an error it is
    terminated.
    """

    def __init__(
        self,
        study,
        settings: ReanalysisSettings,
        mcid: float,
        candidates: tuple[tuple[str, str], ...],
        sensitivity: bool,
        prepare: Callable[[], Any] | None = None,
    ):
        import os
        import sys
        from concurrent.futures import ProcessPoolExecutor

        self.candidates = candidates
        context = _prepared_for_fork(_worker_context(), prepare)
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_tie_worker_to_parent,
            initargs=(os.getpid(),),
        )
        if context.get_start_method() == "fork":
            # the fork happens now (the pool starts its process at the first
            # submission), before the headline's thread starts; what the streams
            # hold is written by this process, not copied into the worker's
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            import warnings

            with warnings.catch_warnings():
                # Python 3.12 warns at any fork of a process with threads: BLAS's
                # idle pool (re-created in the child) and Python threads that hold
                # nothing the worker uses (_worker_context)
                warnings.filterwarnings("ignore", "This process .* is multi-threaded")
                self._pool.submit(int)
        # one group of tasks in the worker at a time: what it has not started stays
        # here, in order, for either process to take. Tasks that fit the same model go
        # in one group, so that no model is compiled in both processes.
        self._lock = threading.RLock()
        self._waiting: dict[tuple, list[tuple[tuple, Callable[..., Any], tuple]]] = {}
        self._futures: dict[tuple, tuple[Future, int]] = {}
        self._local: dict[tuple, Any] = {}  # results of the tasks this process ran
        self._busy = False
        self._closed = False
        for candidate in candidates:
            key = ("cv", candidate)
            self._waiting[key] = [(key, _candidate_cv, (*candidate, study, settings, mcid))]
        if sensitivity:
            # the highlights refit paired_change (normal): with that candidate, if here
            task = (
                ("sensitivity",),
                _sensitivity_section,
                (study, mcid, settings.sensitivity_fast, settings.trend_stage),
            )
            group = self._waiting.get(("cv", SENSITIVITY_MODEL))
            if group is not None:
                group.append(task)
            else:
                self._waiting[("sensitivity",)] = [task]
            # the highlights are among the longest tasks: second in the queue, after
            # the candidate the worker starts at once, so that the short ones are
            # left for the end, when either process may take them
            key = ("cv", SENSITIVITY_MODEL) if group is not None else ("sensitivity",)
            order = list(self._waiting)
            order.remove(key)
            order.insert(min(1, len(order)), key)
            self._waiting = {k: self._waiting[k] for k in order}
        # the ensemble waits for the headline's ABC posterior (submit_ensemble)
        self._ensemble_args = (
            (study, settings, mcid)
            if sensitivity and _ensemble_scenario(study) is not None
            else None
        )
        self._feed()

    def _feed(self) -> None:
        """Hand the worker the first waiting group if it is idle (call with the lock held)."""
        if self._busy or self._closed or not self._waiting:
            return
        group_key = next(iter(self._waiting))
        tasks = self._waiting.pop(group_key)
        try:
            future = self._pool.submit(_run_tasks, [(work, args) for _, work, args in tasks])
        except RuntimeError:  # the pool was shut down meanwhile (an error or Ctrl-C)
            self._waiting = {group_key: tasks, **self._waiting}
            return
        for index, (key, _, _) in enumerate(tasks):
            self._futures[key] = (future, index)
        self._busy = True
        future.add_done_callback(self._finished)

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self._busy = False
            self._feed()

    def _group_of(self, key: tuple) -> tuple | None:
        return next(
            (g for g, tasks in self._waiting.items() if any(k == key for k, _, _ in tasks)), None
        )

    def _take_waiting(self, keys: Sequence[tuple] | None = None) -> bool:
        """Run here a group of tasks the worker has not started; False when there is none.

        The group of one of ``keys``; with None, the first waiting.
        """
        with self._lock:
            if self._closed:
                return False
            groups = [self._group_of(k) for k in keys] if keys is not None else list(self._waiting)
            group_key = next((g for g in groups if g is not None), None)
            if group_key is None:
                return False
            tasks = self._waiting.pop(group_key)
        for key, work, args in tasks:
            self._local[key] = work(*args)
        return True

    def _results(self, keys: Sequence[tuple]) -> dict[tuple, Any]:
        """The results of ``keys``, sharing the work with the worker.

        The groups of ``keys`` the worker has not started run here; then, while it is
        still busy with one of them, this process runs other waiting groups rather
        than wait idle; then it waits.
        """
        while self._take_waiting(keys):
            pass

        def worker_busy() -> bool:
            return any(not self._futures[k][0].done() for k in keys if k in self._futures)

        while worker_busy() and self._take_waiting():
            pass
        return {
            k: self._local[k]
            if k in self._local
            else self._futures[k][0].result()[self._futures[k][1]]
            for k in keys
        }

    def submit_ensemble(self, posterior) -> None:
        """Queue the ensemble, its members taken from ``posterior`` (once; thread-safe).

        Called when the headline's posterior is ready, from the headline's thread. It
        goes first in the queue: it is the longest task, and the shortest ones are
        best left for the end, when either process may take them.
        """
        with self._lock:
            key = ("ensemble",)
            if (
                self._ensemble_args is None
                or self._closed
                or key in self._waiting
                or key in self._futures
                or key in self._local
            ):
                return
            task = (key, _ensemble_result, (*self._ensemble_args, posterior))
            self._waiting = {key: [task], **self._waiting}
            self._feed()

    def submit_first(self, key: tuple, work: Callable[..., Any], args: tuple) -> None:
        """Queue ``work(*args)`` under ``key`` at the front of the queue (thread-safe).

        For work of the main process that either process may do, queued when its
        inputs exist (the main fits' chain figures and convergence reports): the
        worker takes it as soon as it finishes its current group, and this process
        runs it itself if it is still waiting when its result is needed
        (:meth:`result`).
        """
        with self._lock:
            if self._closed or any(key in d for d in (self._futures, self._local)):
                return
            if self._group_of(key) is not None:
                return
            self._waiting = {key: [(key, work, args)], **self._waiting}
            self._feed()

    def result(self, key: tuple) -> Any:
        """The result of the task queued under ``key`` (:meth:`submit_first`)."""
        return self._results([key])[key]

    def comparison_result(self) -> dict:
        """``_candidate_cv``'s result by candidate of :attr:`candidates`."""
        keys = [("cv", candidate) for candidate in self.candidates]
        return {key[1]: value for key, value in self._results(keys).items()}

    def sensitivity_result(self) -> tuple[list | None, dict]:
        """``_sensitivity_section``'s result."""
        return self._results([("sensitivity",)])[("sensitivity",)]

    def ensemble_result(self, posterior=None) -> dict | None:
        """``_ensemble_result``'s result; None when there is none.

        ``posterior`` is queued first if the headline's callback has not done so.
        """
        if posterior is not None:
            self.submit_ensemble(posterior)
        with self._lock:
            queued = any(("ensemble",) in d for d in (self._waiting, self._futures, self._local))
        if not queued:
            return None
        return self._results([("ensemble",)])[("ensemble",)]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._waiting.clear()
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        # SIGTERM becomes a KeyboardInterrupt in the worker, which Python delivers only
        # between bytecodes: a worker inside a long compiled call (a C compilation, a
        # numba kernel) may not notice it for a while. After a grace period it is
        # killed, so that closing never leaves a worker behind.
        for process in processes:
            process.join(timeout=WORKER_GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join(timeout=WORKER_GRACE_SECONDS)

    @classmethod
    def start(
        cls,
        study,
        settings: ReanalysisSettings,
        mcid: float,
        *,
        reference_likelihood,
        sensitivity: bool,
        reused: tuple[tuple[str, str], ...] = (),
        prepare: Callable[[], Any] | None = None,
    ) -> _BackgroundWork | None:
        """Start a worker, or return None when there is nothing to do or one core only.

        The worker takes the candidates that do not reuse the main fit (nor one of
        ``reused``, fitted by the main process) and, if asked, the sensitivity
        highlights. ``prepare`` runs just before a fork (:func:`_prepared_for_fork`).
        """
        import os

        others = tuple(
            c
            for c in settings.comparison
            if c != (settings.main_model, reference_likelihood) and c not in reused
        )
        if not settings.parallel_worker or not (others or sensitivity) or (os.cpu_count() or 1) < 2:
            return None
        return cls(study, settings, mcid, others, sensitivity, prepare)


def _comparison_section(
    study,
    settings: ReanalysisSettings,
    fits: Mapping[str, Any],
    mcid: float,
    tick,
    background: _BackgroundWork | None = None,
    reused: Mapping[tuple[str, str], Any] | None = None,
    level_checks: list | None = None,
    precomputed: Mapping[tuple[str, str], Any] | None = None,
) -> tuple[ComparisonSection, list]:
    """The comparison section and the candidates' leave-one-mother-out results.

    ``precomputed`` holds :func:`_local_candidates`' results when the caller
    computed them already (the reanalysis does, before its figures).

    The candidates the ``background`` worker took are collected from it; the others
    are computed here (the main model's reusing the reference fit, when given, and
    any candidate of ``reused``, ``{(model, likelihood): FitResult}``, reusing that
    fit). The candidates' predictive checks of the pre/post levels are appended to
    ``level_checks`` when given.
    """
    from milkbayes import comparison as compare

    results, psis_rows, notes, skipped = [], [], [], []
    total = len(settings.comparison)
    # candidate -> _candidate_cv's result, here or in the background
    computed = dict(
        precomputed
        if precomputed is not None
        else _local_candidates(study, settings, fits, mcid, tick, background, reused)
    )
    if background is not None:
        computed.update(background.comparison_result())
    for candidate in settings.comparison:  # in the settings' order, wherever computed
        lomo, rows_of_candidate, reason, level_rows = computed[candidate]
        if level_checks is not None:
            level_checks += level_rows
        if lomo is None:
            skipped.append(reason)
            continue
        psis_rows += rows_of_candidate
        results.append(lomo)
        notes.append(_refit_note(lomo))
    tick("compare", total, total)
    rows = compare.compare_models(results) if results else []
    by_label = {r.label: r for r in results}
    lomo_rows = [
        {
            **asdict(row),
            "intercept_method": by_label[row.label].intercept_method,
            "n_divergent": by_label[row.label].n_divergent,
            "refit_seconds": by_label[row.label].refit_seconds,
            "method": by_label[row.label].method,
            "method_text": _method_text(by_label[row.label]),
            "n_folds": by_label[row.label].n_folds,
            "n_refitted": len(by_label[row.label].refitted),
            "refitted_ids": list(by_label[row.label].refitted),
        }
        for row in rows
    ]
    pointwise = (
        [
            {"id": mother, **{r.label: r.elpd_i[j] for r in results}}
            for j, mother in enumerate(results[0].mother_ids)
        ]
        if results
        else []
    )
    notes.append(
        "Why not PSIS-LOO alone: each mother has her own intercept and only two "
        "measurements. Leaving out one of them (or the mother) moves her intercept from "
        "'pinned by her data' to 'unknown', so the importance ratios of PSIS can have a "
        "heavy tail and the Pareto k exceed the reliability threshold. The PSIS table shows "
        "k for every candidate; its elpd sum is given only where every k is below the "
        "threshold."
    )
    if settings.reloo:
        notes.append(
            "The leave-one-mother-out elpd combines PSIS-LOO by mother where its Pareto k "
            "is at or below the threshold with an exact refit without the mother where k "
            "is above it (Vehtari, Gelman & Gabry 2017, section 2.1; 'reloo' in brms and "
            "ArviZ): both estimate the same held-out density, and the refits keep it exact "
            "where importance sampling cannot be trusted."
        )
    if any(r.method == "kfold" for r in results):
        notes.append(
            f"When more than {MAX_EXACT_REFITS} mothers of a candidate would need an exact "
            f"refit, its elpd comes from {KFOLD_K}-fold cross-validation by mother instead "
            f"({KFOLD_K} refits whatever the size of the study; Vehtari, Gelman & Gabry "
            "2017, section 2.3). Each fold's model learns from fewer mothers, so a K-fold "
            "elpd is slightly pessimistic against a leave-one-out one: compare candidates "
            "whose 'method' column differs with that in mind."
        )
    noisy = [row.label for row in rows if row.within_noise and row.rank != 0]
    if noisy:
        notes.append(
            f"Within noise: {', '.join(noisy)} differ(s) from the best model of the same "
            f"target by less than {compare.NOISE_ELPD:g} in elpd or less than "
            f"{compare.NOISE_SE_MULTIPLE:g} SE of the difference (Sivula, Magnusson & "
            "Vehtari 2020). The data cannot tell these models apart: stacking weights of "
            "1 and 0 between them are not a verdict (stacking picks one of two nearly "
            "equal predictive distributions, and Monte Carlo noise decides which); the "
            "pseudo-BMA+ weights (Yao et al. 2018, Bayesian bootstrap of the pointwise "
            "elpd) show how uncertain the choice is."
        )
    notes.append(
        "Models of the change (post − pre), models of the pair (pre, post) and models of "
        "post given pre (ANCOVA) predict different data, so their elpd values are not "
        "comparable; ranks, differences and weights are computed within each target. "
        "The density of post given pre is that of the change given pre: conditioning on "
        "the pre value adds information, so its elpd would beat a model of the change "
        "(or of the pair) without predicting anything better."
    )
    for r in results:
        if r.n_divergent:
            total_draws = r.n_draws * len(r.refitted)
            notes.append(
                f"The refits of {r.label} had {r.n_divergent} divergent transitions "
                f"in {total_draws} draws; its elpd is less trustworthy."
            )
    notes += [f"Not compared: {s}" for s in skipped]
    return (
        ComparisonSection(
            lomo=tuple(lomo_rows),
            psis=tuple(psis_rows),
            notes=tuple(notes),
            pointwise=tuple(pointwise),
            settings={
                "draws": settings.lomo_draws,
                "tune": settings.lomo_tune,
                "chains": settings.lomo_chains,
                "reloo": settings.reloo,
                "max_exact_refits": MAX_EXACT_REFITS,
                "kfold_k": KFOLD_K,
            },
        ),
        results,
    )


def _local_candidates(
    study,
    settings: ReanalysisSettings,
    fits: Mapping[str, Any],
    mcid: float,
    tick,
    background: _BackgroundWork | None = None,
    reused: Mapping[tuple[str, str], Any] | None = None,
) -> dict[tuple[str, str], Any]:
    """``_candidate_cv`` of the candidates this process computes (not the worker's).

    The main model's reuses the reference fit, when given, and a candidate of
    ``reused`` (``{(model, likelihood): FitResult}``) that fit.
    """
    reference = fits.get(settings.reference_prior)
    total = len(settings.comparison)
    local = [c for c in settings.comparison if background is None or c not in background.candidates]
    computed = {}
    for k, (model_name, likelihood) in enumerate(local):
        reuse = (
            reference
            if reference is not None
            and (model_name, likelihood) == (settings.main_model, reference.likelihood)
            else (reused or {}).get((model_name, likelihood))
        )
        computed[(model_name, likelihood)] = _candidate_cv(
            model_name, likelihood, study, settings, mcid, reuse, tick, (k, total)
        )
        tick("compare", k + 1, total)
    return computed


def _method_text(lomo) -> str:
    """The report's short name of the estimator of one candidate's elpd."""
    if lomo.method == "kfold":
        return f"{lomo.n_folds}-fold by mother"
    if lomo.method == "exact":
        return "exact leave-one-mother-out"
    n = len(lomo.refitted)
    if n == 0:
        return "PSIS-LOO (no refit needed)"
    return f"PSIS-LOO + {n} exact refit{'s' if n > 1 else ''}"


def _refit_note(lomo) -> str:
    """Which mothers one candidate's elpd refitted exactly, and why."""
    n = len(lomo.mother_ids)
    if lomo.method == "kfold":
        return (
            f"{lomo.label}: {lomo.n_folds}-fold cross-validation by mother (the {n} mothers "
            f"dealt into {lomo.n_folds} folds, each held out in one refit): more than "
            f"{MAX_EXACT_REFITS} mothers would have needed an exact refit."
        )
    if lomo.good_k is None:
        return f"{lomo.label}: all {n} mothers refitted exactly (reloo off)."
    if not lomo.refitted:
        return (
            f"{lomo.label}: every Pareto k <= {lomo.good_k:.2f}, so all {n} held-out "
            "densities are PSIS-LOO values; no refit was needed."
        )
    k = dict(zip(lomo.mother_ids, lomo.pareto_k, strict=True))
    listed = ", ".join(f"{m} (k = {k[m]:.2f})" for m in lomo.refitted)
    return (
        f"{lomo.label}: {len(lomo.refitted)} of {n} mothers had Pareto k > "
        f"{lomo.good_k:.2f} and were refitted exactly without their data: {listed}; "
        f"the other {n - len(lomo.refitted)} use their PSIS-LOO value."
    )


def _sensitivity_section(
    study, mcid: float, fast: bool, stage: str = "auto"
) -> tuple[tuple[SensitivityItem, ...], dict[str, bytes]]:
    """The sensitivity highlights and their figures (PNG bytes by figure name)."""
    from milkbayes import sensitivity
    from milkbayes.storage import figure_bytes

    items, figures = [], {}
    for result in sensitivity.highlights(study, mcid=mcid, fast=fast, stage=stage):
        figure_name = f"sensitivity_{result.name}"
        figures[figure_name] = figure_bytes(result.figure)
        items.append(
            SensitivityItem(
                name=result.name,
                title=result.title,
                summary={
                    str(k): v
                    for k, v in result.summary.items()
                    if isinstance(v, (int, float, str)) or v is None
                },
                notes=tuple(result.notes),
                figure=figure_name,
            )
        )
    return tuple(items), figures


def _fork_headline(study, settings: ReanalysisSettings):
    """The headline's evidence started in a forked helper process, or None.

    For a reconstruction of the paper, in a run with a background worker on two or
    more cores: the reconstruction posterior and the published-facts Bayes factor
    (:func:`milkbayes.reanalysis.headline.headline_evidence`, about 1.2 s of NumPy)
    depend on the settings only, so a helper forked at the start of the run computes
    them on the core left idle while this process imports PyMC, nutpie and ArviZ
    and loads the main model (:func:`_prepare_main_model`), instead of in a thread
    competing with the main fits. :func:`_start_headline` adopts its result, or
    computes it when the helper failed (:class:`milkbayes.engine.forked_call.ForkedCall`):
    the same values either way.
    """
    import functools
    import os

    if not (study.reconstructed and settings.parallel_worker and (os.cpu_count() or 1) >= 2):
        return None
    from milkbayes.engine.forked_call import ForkedCall

    return ForkedCall.start(functools.partial(_headline_parts, settings.sensitivity_fast))


def _headline_parts(fast: bool) -> tuple[Any, dict[str, Any]]:
    """What the headline's helper computes: the headline's evidence and the paper update.

    The prior sources' update of the meta-analysis with the paper
    (:func:`_paper_update`, 0.2 s) rests on the headline's posterior alone; computed
    in the helper, it leaves the end of the run, where the main process works alone.
    """
    from milkbayes.reanalysis.headline import headline_evidence

    evidence = headline_evidence(fast=fast)
    return evidence, _paper_update(evidence.posterior, fast)


def _paper_update(posterior, fast: bool) -> dict[str, Any]:
    """The prior sources' update of the meta-analysis with the paper (0.2 s of NumPy)."""
    from milkbayes.reanalysis.prior_sources import paper_update

    return paper_update(posterior, n_sim=5_000 if fast else 20_000)


def _start_headline(fast: bool, helper=None) -> Future:
    """Compute the published-facts headline in a thread while the models are fitted.

    The ABC is NumPy work that releases the GIL, and the fits spend their time in
    nutpie's native threads, so the two overlap instead of adding up. With
    ``helper`` (:func:`_fork_headline`) the thread only waits for the helper's
    result and adopts it (:func:`milkbayes.reanalysis.headline.adopt`). The modules
    are imported here, in the calling thread, so that no import runs concurrently.

    The future's value is the helper's paper update (:func:`_headline_parts`), None
    without a helper (:func:`_prior_sources_section` then computes it).
    """
    import milkbayes.reconstruction.abc
    import milkbayes.sensitivity.published_p  # noqa: F401
    from milkbayes.reanalysis.headline import adopt

    def headline() -> dict[str, Any] | None:
        update = None
        if helper is not None:
            evidence, update = helper.result()
            adopt(evidence)
        published_facts_section(fast=fast)
        return update

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milkbayes-headline")
    try:
        return pool.submit(headline)
    finally:
        pool.shutdown(wait=False)


def _queue_ensemble(background: _BackgroundWork, done: Future, fast: bool) -> None:
    """Hand the headline's posterior to the worker's ensemble (a Future's callback).

    A failed headline queues nothing: its error is raised where the headline is awaited.
    """
    if done.cancelled() or done.exception() is not None:
        return
    try:
        background.submit_ensemble(headline_posterior(fast=fast))
    except RuntimeError:  # the worker was shut down meanwhile (an error or Ctrl-C)
        pass


def _prior_sources_section(
    study,
    bayes: BayesSection,
    fits: Mapping[str, Any],
    posterior,
    fast: bool,
    stage: str = "auto",
    bias_shown: bool = True,
    update: dict[str, Any] | None = None,
) -> PriorSourcesSection:
    """Where the priors come from; with the headline's posterior, the paper added as a study.

    ``update`` is :func:`_paper_update` of ``posterior`` when computed already (by
    the headline's helper).
    """
    from milkbayes.models.priors import LITERATURE
    from milkbayes.reanalysis.prior_sources import prior_source_rows
    from milkbayes.sensitivity.bias import nonmassage_prior

    literature, reason = _literature_prior_or_reason(study, bayes.model)
    fitted = fits.get(LITERATURE)
    rows = prior_source_rows(
        kind=study.outcome.kind,
        unit=bayes.unit,
        mcid=bayes.mcid,
        literature=fitted.prior if fitted is not None else literature,
        literature_note=reason,
        mcid_source=mcid_source(study, bayes.mcid),
        nonmassage=nonmassage_prior(study, stage),
        bias_shown=bias_shown,
        benefit=_benefit(study),
    )
    if posterior is None:
        update = None
    elif update is None:
        update = _paper_update(posterior, fast)
    return PriorSourcesSection(
        rows=rows,
        literature_fitted=fitted is not None,
        literature_note=reason,
        meta_update=update,
    )


def _trend_stage(study, settings: ReanalysisSettings) -> str:
    """The settings' stage of lactation resolved for ``study``: early, established or none."""
    from milkbayes.sensitivity.bias import resolve_stage

    return resolve_stage(study, settings.trend_stage) or "none"


def _ensemble_scenario(study) -> str | None:
    """The generator's scenario of a reconstructed study, or None (no ensemble for it)."""
    from milkbayes.datasets import SCENARIOS

    if not study.reconstructed:
        return None
    provenance = getattr(study, "provenance", None) or {}
    scenario = provenance.get("scenario")
    return scenario if scenario in SCENARIOS else None


def _ensemble_result(
    study, settings: ReanalysisSettings, mcid: float, posterior=None
) -> dict | None:
    """The reconstruction ensemble's tables and figure, as plain data (it crosses processes).

    None for measured data, for a reconstruction of unknown scenario, or with
    ``ensemble_k`` 0: the ensemble varies the generator's assumptions, so it
    exists only where a generator made the data.

    With ``posterior`` (the headline's :class:`~milkbayes.reconstruction.ReconstructionPosterior`,
    see :func:`milkbayes.reanalysis.headline.headline_posterior`) the members are
    accepted datasets of that posterior, so the numbers in ml across reconstructions
    and the unit-free headline come from one posterior; without it, the assumptions
    are drawn from the ensemble's default ranges
    (:data:`milkbayes.sensitivity.ensemble.DEFAULT_VARY`, as ``sensitivity ensemble``).
    """
    from milkbayes.sensitivity import SamplerOptions, assumption_ensemble
    from milkbayes.storage import figure_bytes

    scenario = _ensemble_scenario(study)
    if scenario is None or settings.ensemble_k < 2:
        return None
    result = assumption_ensemble(
        scenario,
        settings.ensemble_k,
        settings.seed,
        from_abc=posterior is not None,
        posterior=posterior,
        model=MAIN_MODEL,
        mcid=mcid,
        sampler=SamplerOptions(
            draws=settings.ensemble_draws,
            tune=settings.ensemble_tune,
            chains=settings.ensemble_chains,
            seed=settings.seed,
        ),
    )
    summary = dict(result.summary)
    if posterior is not None:
        summary["varied"] = (
            "members taken from the reconstruction posterior behind the headline "
            f"(the same ABC run: {posterior.n_proposals:,} proposals, seed {posterior.seed}; "
            "every assumption of the generator drawn from its prior and kept when its "
            f"dataset matches the paper), {summary['k']} of its accepted {scenario} "
            "draws spread evenly"
        )
    return {
        "summary": summary,
        "spread": result.extra_tables["spread"].to_dict(orient="records"),
        "members": result.table.to_dict(orient="records"),
        "notes": list(result.notes),
        "figure": figure_bytes(result.figure),
        "sampler": {
            "draws": settings.ensemble_draws,
            "tune": settings.ensemble_tune,
            "chains": settings.ensemble_chains,
        },
    }


def _worked_example_values(bayes: BayesSection, modifiers: ModifierSection) -> dict:
    """The numbers of the data analysed above, under the names of the ensemble's table."""
    reference = next(p for p in bayes.priors if p["prior"] == bayes.reference_prior)
    values = {
        "effect_median": reference["median"],
        "effect_ci95_low": reference["ci95_low"],
        "effect_ci95_high": reference["ci95_high"],
        "p_effect_gt_0": reference["p_gt_0"],
        "p_effect_gt_mcid": reference["p_gt_mcid"],
        "log10_bf10": bayes.log_bf10 / math.log(10),
    }
    for coefficient in modifiers.coefficients:
        values[coefficient.name] = coefficient.median
    return values


def _published_rows(
    sensitivity: Sequence[SensitivityItem] | None,
    published_facts: PublishedFactsSection | None = None,
) -> list[dict]:
    """The numbers that depend on the published facts only: the same in every reconstruction.

    The standardised effect is the headline's (:mod:`milkbayes.reanalysis.headline`)
    when there is one, so that the report gives one value for it; else the
    ``published_p`` highlight's.
    """
    from milkbayes import published

    facts = "published facts only"
    rows = [
        {
            "quantity": "n",
            "label": "participants",
            "kind": "count",
            "worked_example": published.N_PARTICIPANTS,
            "median": published.N_PARTICIPANTS,
            "low": published.N_PARTICIPANTS,
            "high": published.N_PARTICIPANTS,
            "spread": "the same in every reconstruction",
            "source": "data-driven",
            "driver": facts,
            "driver_rho": None,
        },
        {
            "quantity": "spss_p_bound",
            "label": "SPSS Wilcoxon p, two-sided (printed 0.000), below",
            "kind": "bound",
            "worked_example": published.SPSS_P_THRESHOLD,
            "median": published.SPSS_P_THRESHOLD,
            "low": published.SPSS_P_THRESHOLD,
            "high": published.SPSS_P_THRESHOLD,
            "spread": "the same bound in every reconstruction",
            "source": "data-driven",
            "driver": facts,
            "driver_rho": None,
        },
    ]
    if published_facts is not None:
        pf = published_facts
        rows.append(
            {
                "quantity": "delta",
                "label": "standardised effect δ (mean change / SD of change), posterior median",
                "kind": "num",
                "worked_example": None,
                "median": pf.delta_median,
                "low": pf.delta_ci95_low,
                "high": pf.delta_ci95_high,
                "spread": "95 % interval from the published facts alone (the headline)",
                "source": "data-driven",
                "driver": facts + " (and the priors on the generator's assumptions)",
                "driver_rho": None,
            }
        )
        return rows
    for item in sensitivity or ():
        if item.name != "published_p":
            continue
        s = item.summary
        rows.append(
            {
                "quantity": "delta",
                "label": "standardised effect δ (mean change / SD of change), posterior median",
                "kind": "num",
                "worked_example": None,
                "median": s.get("delta_median"),
                "low": s.get("delta_ci95_low"),
                "high": s.get("delta_ci95_high"),
                "spread": "95 % interval from n and p alone (no reconstruction)",
                "source": "data-driven",
                "driver": facts + " (and the prior on δ)",
                "driver_rho": None,
            }
        )
    return rows


def _ensemble_section(
    raw: Mapping[str, Any],
    bayes: BayesSection,
    modifiers: ModifierSection,
    sensitivity: Sequence[SensitivityItem] | None,
    published_facts: PublishedFactsSection | None = None,
) -> EnsembleSection:
    """The report's ensemble section: the worked example beside the ensemble, per number."""
    from milkbayes.sensitivity.ensemble import ASSUMPTION_LABELS

    worked = _worked_example_values(bayes, modifiers)
    summary = raw["summary"]
    rows = []
    for row in raw["spread"]:
        driver = row["driver"]
        rows.append(
            {
                **row,
                "worked_example": worked.get(row["quantity"]),
                "spread": (
                    "range across reconstructions"
                    if row["source"] == "assumption-driven"
                    else "the same in every reconstruction"
                ),
                "driver": ASSUMPTION_LABELS.get(driver, driver)
                or (
                    "published facts (the same in every reconstruction)"
                    if row["source"] == "data-driven"
                    else "the unpublished individual values (no assumption dominates)"
                ),
                "driver_rho": _finite(row["driver_rho"]),
            }
        )
    rows += _published_rows(sensitivity, published_facts)
    notes = (
        "Assumption-driven: the number depends on the individual measurements, which were "
        "never published; it is shown as its median and range over reconstructions that "
        "all match the paper, each refitted with the main model. 'Driven by' names the "
        "assumption of the generator with the largest rank correlation (Spearman ρ) with "
        "the number across the reconstructions.",
        "Data-driven: the number follows from the published facts alone (n, the covariate "
        "counts, p < .0005 and a rise); every reconstruction has the same value.",
        "The worked example is the single reconstruction analysed in the sections above; "
        "it is one member of this distribution, not an estimate of the study's results.",
        *raw["notes"],
    )
    return EnsembleSection(
        scenario=str(summary["scenario"]),
        k=int(summary["k"]),
        n_proposals=int(summary["n_proposals"]),
        n_accepted=int(summary["n_accepted"]),
        acceptance_rate=float(summary["acceptance_rate"]),
        varied=str(summary["varied"]),
        model=str(summary["model"]),
        sampler=dict(raw["sampler"]),
        mcid=float(summary["mcid"]),
        unit=bayes.unit,
        rows=tuple(rows),
        members=tuple(
            {str(k): (_finite(v) if isinstance(v, float) else v) for k, v in m.items()}
            for m in raw["members"]
        ),
        notes=notes,
        figure="ensemble",
    )


def run_reanalysis(
    study=None,
    out_dir: str | Path = "milkbayes-report",
    *,
    fast: bool = False,
    strict: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    settings: ReanalysisSettings | None = None,
    sensitivity: bool = True,
) -> ReanalysisResult:
    """Run the whole reanalysis and write the report into ``out_dir``.

    Parameters
    ----------
    study : Study, path or None
        The data; None for the bundled reconstruction (``volume_ml``).
    out_dir : path
        The report folder (``report.html``, ``report.md``, ``summary.json``,
        ``figures/``, ``tables/``).
    fast : bool
        Small sampler runs (:data:`FAST`), for tests and CI.
    strict : bool
        Raise :class:`DiagnosticsFailedError` (exit code 3 in the CLI) when a
        convergence check fails; the report is written first either way.
    force : bool
        Replace an existing report folder.
    progress : callable(stage, done, total), optional
    settings : ReanalysisSettings, optional
        Overrides ``fast``.
    sensitivity : bool
        Include the sensitivity highlights when :mod:`milkbayes.sensitivity` provides them.

    Returns
    -------
    ReanalysisResult

    Raises
    ------
    RunExistsError
        ``out_dir`` holds files and ``force`` is False.
    DiagnosticsFailedError
        With ``strict``, after writing the report.
    """
    from milkbayes.data.study import Study

    settings = settings or (FAST if fast else FULL)
    target = Path(out_dir)
    clock = _Stopwatch(progress)
    if not isinstance(study, Study):
        study = clock.run("data", lambda: load_input_study(study))
    with sigterm_as_keyboard_interrupt(), no_full_collections():
        return _run_into(
            study, target, settings, clock, strict=strict, force=force, sensitivity=sensitivity
        )


GC_FULL_THRESHOLD = 1_000_000
"""Python's third collector threshold during a reanalysis (the default is 10).

A reanalysis imports PyMC, nutpie, ArviZ, xarray, SciPy and matplotlib (millions of
long-lived objects) and each full collection traverses all of them: with the
default thresholds about nine ran per process and run, 1.5-2 s of CPU to free a few
megabytes of cyclic garbage. With this threshold no full collection runs in a
reanalysis; the young generations are collected as usual, which keeps short-lived
cyclic garbage bounded. The worker process runs with the same threshold."""


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """Run the block with :data:`GC_FULL_THRESHOLD`, then restore the thresholds."""
    previous = gc.get_threshold()
    gc.set_threshold(previous[0], previous[1], max(previous[2], GC_FULL_THRESHOLD))
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _run_into(
    study,
    target: Path,
    settings: ReanalysisSettings,
    clock: _Stopwatch,
    *,
    strict: bool,
    force: bool,
    sensitivity: bool,
) -> ReanalysisResult:
    """The body of :func:`run_reanalysis`: build the report in a staged folder."""
    from milkbayes.report import render as report
    from milkbayes.storage import staged_folder

    background = headline_helper = None
    try:
        with staged_folder(
            target, force=force, is_replaceable=report.is_report_folder, what="report"
        ) as temporary:
            settings = for_design(settings, study.design)
            # first, before this process's imports: the helper has the other core
            headline_helper = _fork_headline(study, settings)
            # checked (a stage for a score is an error) before any work starts
            settings = replace(settings, trend_stage=_trend_stage(study, settings))
            mcid = _mcid(study, settings)
            rope = settings.rope or (-ROPE_FRACTION_OF_MCID * mcid, ROPE_FRACTION_OF_MCID * mcid)
            two_arm = study.design == "two_arm"
            # the bias and prior tools model one group; with a control arm the arms'
            # comparison replaces them (the design section says so)
            sensitivity = sensitivity and not two_arm
            data = clock.run("data", lambda: _data_section(study))
            reproduced = clock.run("reproduction", lambda: reproduce(study))
            reproduction = _reproduction_section(reproduced, study)
            between = two_arm_analysis(study) if two_arm else None
            secondary_key = (TWO_ARM_SECONDARY_MODEL, _main_likelihood(TWO_ARM_SECONDARY_MODEL))
            background = _BackgroundWork.start(
                study,
                settings,
                mcid,
                reference_likelihood=_main_likelihood(settings.main_model),
                sensitivity=sensitivity,
                reused=(secondary_key,) if two_arm else (),
                prepare=lambda: _prepare_main_model(study, settings),
            )
            # the headline needs no measurement: only for a reconstruction of the paper
            headline_fast = settings.sensitivity_fast
            headline_work = (
                _start_headline(headline_fast, headline_helper) if study.reconstructed else None
            )
            if headline_work is not None and background is not None:
                # the ensemble's members come from the headline's posterior: queue it
                # in the worker as soon as that posterior exists
                headline_work.add_done_callback(
                    lambda done: _queue_ensemble(background, done, headline_fast)
                )
            fits = clock.run("fit", lambda: _fit_priors(study, settings, mcid, clock.tick))
            secondary = (
                clock.run("fit", lambda: _secondary_fit(study, settings, mcid)) if two_arm else None
            )
            if background is not None:
                _share_main_fit_work(background, fits, settings.reference_prior)
            bayes = _bayes_section(
                study,
                fits,
                reproduced,
                mcid,
                rope,
                settings.reference_prior,
                between,
                secondary,
                ci_prob=settings.ci_prob,
            )
            published_facts = paper = None
            if headline_work is not None:
                # the helper's paper update for the prior sources (None without one)
                paper = clock.run("published_facts", headline_work.result)
                # the evidence is cached: this only adds the data's Bayes factor
                published_facts = published_facts_section(fast=headline_fast, data_bf10=bayes.bf10)
            modifiers = _modifier_section(fits[settings.reference_prior], settings.ci_prob)
            # this process's own work first (the candidates that reuse its fits, the
            # reference fit's checks, the figures of its trees), then what it shares
            # with the worker (_BackgroundWork): what it then takes from the queue is
            # what the worker has not reached
            reused = {secondary_key: secondary} if secondary is not None else None
            local_candidates = (
                clock.run(
                    "compare",
                    lambda: _local_candidates(
                        study, settings, fits, mcid, clock.tick, background, reused
                    ),
                )
                if background is not None
                else None
            )
            diagnostics, simulated = clock.run(
                "diagnostics",
                lambda: _diagnostics_section(
                    study,
                    fits,
                    settings.reference_prior,
                    report_of=_shared_report(background, settings.reference_prior),
                ),
            )
            figures = clock.run(
                "figures",
                lambda: draw_figures(
                    study, fits, simulated, (), mcid, chain=_shared_chain(background)
                ),
            )
            published_caption = None
            if published_facts is not None:
                # the headline's own figure, first in the report: its draws are cached
                curves = delta_density_curves(headline_posterior(fast=headline_fast))
                published_caption = published_facts_caption(curves)
                figures = {
                    "published_facts": clock.run("figures", lambda: published_facts_figure(curves)),
                    **figures,
                }
            candidate_checks: list = []
            comparison, lomo_results = clock.run(
                "compare",
                lambda: _comparison_section(
                    study,
                    settings,
                    fits,
                    mcid,
                    clock.tick,
                    background,
                    reused=reused,
                    level_checks=candidate_checks,
                    precomputed=local_candidates,
                ),
            )
            if candidate_checks:
                # the compared models' checks of the levels, after the main model's
                diagnostics = replace(
                    diagnostics, predictive=(*diagnostics.predictive, *candidate_checks)
                )
            from milkbayes import comparison as compare_module

            comparison_rows = compare_module.compare_models(lomo_results) if lomo_results else []
            if comparison_rows:
                figures["compare"] = clock.run(
                    "figures", lambda: comparison_figure(comparison_rows)
                )
            # last: in a full run the worker computes it meanwhile (_BackgroundWork)
            if not sensitivity:
                sens, sens_figures = None, {}
            elif background is not None:
                sens, sens_figures = clock.run("sensitivity", background.sensitivity_result)
            else:
                sens, sens_figures = clock.run(
                    "sensitivity",
                    lambda: _sensitivity_section(
                        study, mcid, settings.sensitivity_fast, settings.trend_stage
                    ),
                )
            # the reconstruction ensemble: after the highlights, in the same stage
            # one posterior: the ensemble's members are the headline's accepted datasets
            posterior = (
                headline_posterior(fast=headline_fast) if headline_work is not None else None
            )
            if not sensitivity:
                ensemble_raw = None
            elif background is not None:
                ensemble_raw = clock.run(
                    "sensitivity", lambda: background.ensemble_result(posterior)
                )
            else:
                ensemble_raw = clock.run(
                    "sensitivity", lambda: _ensemble_result(study, settings, mcid, posterior)
                )
            # cheap (no fit): timed with the sensitivity highlights, whose stage it extends
            prior_sources = clock.run(
                "sensitivity",
                lambda: _prior_sources_section(
                    study,
                    bayes,
                    fits,
                    posterior,
                    headline_fast,
                    settings.trend_stage,
                    bias_shown=sens is not None,
                    update=paper,
                ),
            )
            ensemble = None
            if ensemble_raw is not None:
                ensemble = _ensemble_section(ensemble_raw, bayes, modifiers, sens, published_facts)
                sens_figures["ensemble"] = ensemble_raw["figure"]
            if background is not None:
                background.close()
            figures.update(sens_figures)
            captions = dict(FIGURE_CAPTIONS)
            if published_caption is not None:
                captions["published_facts"] = published_caption
            for item in sens or ():
                captions[item.figure] = item.title
            if ensemble is not None:
                captions["ensemble"] = (
                    f"The main model refitted to {ensemble.k} reconstructions that all match "
                    "the paper, "
                    + (
                        "accepted datasets of the headline's reconstruction posterior"
                        if posterior is not None
                        else "drawn under varied assumptions"
                    )
                    + " (ASSUMPTION-DRIVEN): posterior "
                    "median and 95 % interval of the effect, one line per reconstruction."
                )
            sections = ReanalysisSummary(
                provenance=Provenance(
                    schema_version=report.SCHEMA_VERSION,
                    generator_name="milkbayes",
                    generator_version=__version__,
                    created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    reconstructed=bool(study.reconstructed),
                    warning=RECONSTRUCTED_WARNING if study.reconstructed else None,
                    settings=RunSettings(
                        fast=settings.sensitivity_fast,
                        draws=settings.draws,
                        tune=settings.tune,
                        chains=settings.chains,
                        seed=settings.seed,
                        mcid=mcid,
                        rope=rope,
                        comparison=settings.comparison,
                        ci_prob=settings.ci_prob,
                        trend_stage=settings.trend_stage,
                    ),
                ),
                data=data,
                reproduction=reproduction,
                bayes=bayes,
                modifiers=modifiers,
                diagnostics=diagnostics,
                comparison=comparison,
                sensitivity=sens,
                design_limits=design_limits(study),
                figures={
                    name: FigureEntry(file=f"figures/{name}.png", caption=captions.get(name, name))
                    for name in figures
                },
                # the summary's timings stop before rendering, so that re-rendering the
                # saved summary gives the same page; ReanalysisResult.timings include
                # the report stage
                timings=dict(clock.timings),
                study=None if study.description is None else study.description.to_dict(),
                design=_design_section(
                    study,
                    settings,
                    between,
                    _secondary_summary(secondary, settings.reference_prior)
                    if secondary is not None
                    else None,
                ),
                published_facts=published_facts,
                ensemble=ensemble,
                prior_sources=prior_sources,
            )
            summary = sections.to_dict()
            clock.run("report", lambda: report.write_report(summary, figures, temporary))
    except BaseException:
        if background is not None:
            background.close()
        if headline_helper is not None:
            headline_helper.close()
        raise
    result = ReanalysisResult(
        out_dir=target,
        html=target / "report.html",
        markdown=target / "report.md",
        json=target / "summary.json",
        summary=summary,
        diagnostics_ok=diagnostics.overall != "fail",
        timings=dict(clock.timings),
    )
    if strict and not result.diagnostics_ok:
        failed = "; ".join(f"{f['fit']}: {f['label']}" for f in diagnostics.failing)
        raise DiagnosticsFailedError(
            f"convergence diagnostics failed ({failed}); the report is in {result.html}", result
        )
    return result


def compare_candidates(
    study=None,
    *,
    fast: bool = False,
    progress: Progress | None = None,
    settings: ReanalysisSettings | None = None,
) -> dict:
    """Only the model comparison (``milkbayes compare``): LOMO, PSIS k and stacking.

    Returns the ``comparison`` section of the JSON summary, plus ``reconstructed`` and
    ``warning``.
    """
    settings = settings or (FAST if fast else FULL)
    clock = _Stopwatch(progress)
    from milkbayes.data.study import Study

    if not isinstance(study, Study):
        study = clock.run("data", lambda: load_input_study(study))
    settings = for_design(settings, study.design)
    mcid = _mcid(study, settings)
    fits = {}
    if any(model == settings.main_model for model, _ in settings.comparison):
        # the report's reference fit, reused by the comparison as in the report
        fits[settings.reference_prior] = clock.run(
            "fit", lambda: _main_fit(study, settings, mcid, settings.reference_prior)
        )
    reused = None
    secondary_key = (TWO_ARM_SECONDARY_MODEL, _main_likelihood(TWO_ARM_SECONDARY_MODEL))
    if study.design == "two_arm" and secondary_key in settings.comparison:
        # the report's secondary fit too, for the same reason
        reused = {secondary_key: clock.run("fit", lambda: _secondary_fit(study, settings, mcid))}
    section, _ = clock.run(
        "compare",
        lambda: _comparison_section(study, settings, fits, mcid, clock.tick, reused=reused),
    )
    return {
        "reconstructed": bool(study.reconstructed),
        "warning": RECONSTRUCTED_WARNING if study.reconstructed else None,
        "source": str(study.source),
        **section.to_dict(),
        "timings": dict(clock.timings),
    }
