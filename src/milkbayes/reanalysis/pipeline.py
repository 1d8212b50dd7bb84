"""The main job: reproduce the paper, reanalyse it, compare models and write the report.

One library call, :func:`run_reanalysis`, does everything ``milkbayes reanalyze``
does; the CLI only parses options and draws progress bars.

Stages, in order (each timed; :data:`STAGES`):

1. ``data`` — load the study (the bundled reconstruction by default) and describe it;
2. ``reproduction`` — the SPSS Wilcoxon tables, exact p, Hodges-Lehmann, t and sign
   tests, and the audit of the published numbers;
3. ``fit`` — the flagship ``prepost_hierarchical`` model under the skeptical,
   neutral and enthusiastic priors (compiled once; the priors are data);
4. ``diagnostics`` — convergence tables, predictive checks, LOO-PIT;
5. ``compare`` — leave-one-mother-out CV of the candidate models: PSIS-LOO by mother
   where its Pareto k is good, exact refits where it is not ("reloo"), stacking
   weights (:mod:`milkbayes.comparison.cross_validation`);
6. ``figures`` — the PNGs;
7. ``sensitivity`` — the highlights of :mod:`milkbayes.sensitivity.analyses`, when present;
8. ``report`` — the HTML/Markdown/JSON report (:mod:`milkbayes.report.render`).

In a full run, a second process (:class:`_BackgroundWork`) compiles and
cross-validates the candidates other than the main fit, then computes the sensitivity
highlights, from the start: that work overlaps stages 3-6, and stages 5 and 7 mostly
collect its results.

The run folder is built in a temporary sibling folder and moved into place at the
end, so an interrupted run never leaves a half-written report, and an existing
report is replaced only with ``force=True``.

Examples
--------
>>> STAGES[:3]
('data', 'reproduction', 'fit')
>>> FAST.draws < FULL.draws
True
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from milkbayes import RECONSTRUCTED_WARNING, __version__
from milkbayes.engine.sampling import sigterm_as_keyboard_interrupt
from milkbayes.errors import (
    DiagnosticsFailedError,
    MilkbayesError,
    ModelError,
    RunExistsError,
)
from milkbayes.models.priors import default_mcid
from milkbayes.storage import rename_or_refuse

__all__ = [
    "STAGES",
    "ReanalysisSettings",
    "FULL",
    "FAST",
    "ReanalysisResult",
    "DiagnosticsFailedError",
    "run_reanalysis",
    "load_input_study",
]

STAGES = (
    "data",
    "reproduction",
    "fit",
    "diagnostics",
    "compare",
    "figures",
    "sensitivity",
    "report",
)
"""The stages reported to the progress callback, in order."""

MAIN_MODEL = "prepost_hierarchical"
"""The flagship model whose estimates the report leads with."""

REFERENCE_PRIOR = "neutral"
"""The prior of the frequentist-versus-Bayesian table and of the diagnostics plots."""

ROPE_FRACTION_OF_MCID = 0.5
"""The ROPE is +-(this x MCID): an effect under half the MCID is treated as nil."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as each stage advances."""


@dataclass(frozen=True)
class ReanalysisSettings:
    """Sampler sizes and the candidate models of the comparison.

    Attributes
    ----------
    draws, tune, chains : int
        Main fits (one per prior).
    lomo_draws, lomo_tune, lomo_chains : int
        Each leave-one-mother-out refit (only a log mean density is needed, so
        fewer draws suffice).
    seed : int
    comparison : tuple of (model, likelihood)
        Candidates of the comparison. Models that predict the change are stacked
        among themselves, models of the pre/post pair among themselves. The
        log-normal likelihood is not a default candidate: it is undefined for a zero
        volume, which the volume outcome admits (a session that yields no milk), so
        the default table would lose a row depending on the data; and each
        hierarchical candidate costs a compilation of its own (15-40 s). Add it with
        :func:`with_comparison` for data without zeros.
    sensitivity_fast : bool
        Passed to :func:`milkbayes.sensitivity.analyses.highlights`.
    reloo : bool
        Exact refits only for the mothers whose PSIS-LOO Pareto k is too high, PSIS
        elsewhere (:func:`milkbayes.comparison.cross_validation.lomo_cv` with ``psis``); False refits
        every mother.
    parallel_worker : bool
        Compile and cross-validate the candidates other than the main fit, and compute
        the sensitivity highlights, in a second process while the main fits run (on
        two or more cores; :class:`_BackgroundWork`); same numbers, less wall time.
        Off in :data:`FAST`, whose small fits would not repay the worker's start-up.
    """

    draws: int
    tune: int
    chains: int
    lomo_draws: int
    lomo_tune: int
    lomo_chains: int
    seed: int = 20241
    comparison: tuple[tuple[str, str], ...] = (
        ("prepost_hierarchical", "normal"),
        ("prepost_hierarchical", "student_t"),
        ("paired_change", "normal"),
        ("paired_change", "student_t"),
    )
    sensitivity_fast: bool = False
    reloo: bool = True
    parallel_worker: bool = False


FULL = ReanalysisSettings(
    draws=2000,
    tune=1000,
    chains=4,
    lomo_draws=300,
    lomo_tune=300,
    lomo_chains=2,
    parallel_worker=True,
)
"""The default: 4 x 2000 draws per main fit.

The flagship's slowest quantities are its variance partition (``mother_sd`` against
``sigma``: two measurements per mother barely separate them), with a bulk ESS of
about 600 per 4,000 draws; at 4 x 1000 draws 6 of 40 seeds failed a convergence
check (R-hat > 1.01 in 4), at 4 x 2000 3 of 40 (a single divergence in 2). Sampling
costs 0.3 s against 0.45 s, so the longer chains are worth it.
"""

FAST = ReanalysisSettings(
    draws=300,
    tune=300,
    chains=2,
    lomo_draws=150,
    lomo_tune=200,
    lomo_chains=2,
    comparison=(
        ("prepost_hierarchical", "normal"),
        ("paired_change", "normal"),
        ("paired_change", "student_t"),
    ),
    sensitivity_fast=True,
)
"""``--fast``: small runs for tests and CI. Diagnostics may warn or fail; the report says so."""


@dataclass(frozen=True)
class ReanalysisResult:
    """What :func:`run_reanalysis` produced.

    Attributes
    ----------
    out_dir : Path
    html, markdown, json : Path
    summary : dict
        The JSON summary (numbers as numbers).
    diagnostics_ok : bool
        False when any convergence check failed.
    timings : dict of str to float
        Seconds per stage.
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
    from milkbayes.data.study import load_study

    return load_study(data)


def _finite(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _flat_provenance(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    """The sidecar as short strings (nested values as compact JSON) for the data table."""
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
                json.dumps(value, sort_keys=True, default=str)
                if isinstance(value, (dict, list))
                else str(value)
            )
    return out


# --------------------------------------------------------------------------- stages
def _data_section(study) -> dict:
    from milkbayes.data.study import describe

    description = describe(study)
    summary_rows = []
    for variable, row in description.summary.iterrows():
        summary_rows.append(
            {
                "variable": str(variable),
                "n": int(row["n"]),
                **{k: _finite(row[k]) for k in ("mean", "sd", "median", "q1", "q3")},
            }
        )
    univariate = [
        {
            "column": str(r["column"]),
            "level": str(r["level"]),
            "count": int(r["count"]),
            "percent": _finite(r["percent"]),
        }
        for _, r in description.univariate.iterrows()
    ]
    return {
        "source": str(study.source),
        "sha256": str(study.sha256),
        "n": int(study.n),
        "outcome": {
            "kind": study.outcome.kind,
            "unit": study.outcome.unit,
            "max_score": study.outcome.max_score,
        },
        "columns": [str(c) for c in study.table.columns],
        "dropped_ids": [str(i) for i in study.dropped_ids],
        "provenance": _flat_provenance(getattr(study, "provenance", None)),
        "summary": summary_rows,
        "univariate": univariate,
        "notes": list(description.notes),
        "participants": [
            {"id": str(i), "pre": float(a), "post": float(b), "change": float(b - a)}
            for i, a, b in zip(
                study.ids, study.table["pre"].to_numpy(float), study.table["post"].to_numpy(float)
            )
        ],
    }


def _reproduction_section(study) -> dict:
    from milkbayes import published
    from milkbayes.frequentist import paired_tests as fq

    pre = study.table["pre"].to_numpy(float)
    post = study.table["post"].to_numpy(float)
    exact = fq.wilcoxon_signed_rank(pre, post, method="exact")
    spss = fq.wilcoxon_signed_rank(pre, post, method="spss")
    ranks, test = fq.spss_tables(spss)
    t_test = fq.paired_t_test(pre, post)
    sign = fq.sign_test(pre, post)
    spss_p = float(test.loc["Asymp. Sig. (2-tailed)", "value"])
    spss_rows = [
        {
            "row": str(label),
            "n": int(r["N"]),
            "mean_rank": _finite(r["Mean Rank"]),
            "sum_of_ranks": _finite(r["Sum of Ranks"]),
            "footnote": str(r["footnote"]),
        }
        for label, r in ranks.iterrows()
    ]
    test_rows = [
        {
            "row": "Z",
            "value": float(test.loc["Z", "value"]),
            "text": f"{float(test.loc['Z', 'value']):.3f}",
            "footnote": str(test.loc["Z", "footnote"]),
        },
        {
            "row": "Asymp. Sig. (2-tailed)",
            "value": spss_p,
            "text": fq.format_p_spss(spss_p),
            "footnote": "",
        },
    ]
    out = {
        "published_p_text": published.REPORTED_P_TEXT,
        "spss_p_text": fq.format_p_spss(spss_p),
        "p_exact": float(exact.p_value),
        "p_honest_text": fq.format_p_honest(exact.p_value),
        "p_asymptotic": spss_p,
        "z_spss": float(spss.z_spss),
        "w_plus": float(exact.w_plus),
        "w_minus": float(exact.w_minus),
        "n_zero": int(exact.n_zero),
        "rank_biserial": float(exact.rank_biserial),
        "hodges_lehmann": {
            "estimate": float(exact.hodges_lehmann),
            "low": float(exact.hl_ci_low),
            "high": float(exact.hl_ci_high),
            "method": exact.hl_ci_method,
        },
        "t_test": {
            k: _finite(v) for k, v in t_test.to_dict().items() if isinstance(v, (int, float))
        },
        "sign_test_p": float(sign.p_value),
        "spss_ranks": spss_rows,
        "spss_test": test_rows,
    }
    try:
        from milkbayes.frequentist import audit
    except ImportError:  # pragma: no cover - the audit module is part of the package
        out["audit"], out["audit_note"] = None, "The audit module is not installed."
    else:
        out["audit"] = [
            {
                "check": c.check,
                "published": c.expected,
                "computed": c.found,
                "status": c.status,
                "note": c.explanation,
            }
            for c in audit.audit_checks(study)
        ]
        out["audit_note"] = ""
    return out


def _fit_priors(study, settings: ReanalysisSettings, mcid: float, tick) -> dict:
    from milkbayes.engine import fit as fitting
    from milkbayes.models.priors import PRIOR_NAMES

    fits = {}
    for k, name in enumerate(PRIOR_NAMES):
        # only the reference fit feeds LOO-PIT and the posterior predictive check
        reference = name == REFERENCE_PRIOR
        fits[name] = fitting.fit(
            MAIN_MODEL,
            study,
            prior=name,
            mcid=mcid,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            seed=settings.seed,
            log_likelihood=reference,
            posterior_predictive=reference,
        )
        tick("fit", k + 1, len(PRIOR_NAMES))
    return fits


def _main_likelihood() -> str:
    """The likelihood :func:`_fit_priors` fits (the main model's default)."""
    from milkbayes.engine import fit as fitting

    return fitting.resolve_likelihood(fitting.load_model(MAIN_MODEL), None)


def _effect_draws(result) -> np.ndarray:
    variable = result.summary.get("effect_variable", "effect")
    return np.asarray(result.tree["posterior"][variable].values, dtype=float).ravel()


def _bayes_section(
    study, fits: Mapping[str, Any], reproduction: dict, mcid: float, rope: tuple[float, float]
) -> dict:
    from milkbayes.comparison import cross_validation as compare
    from milkbayes.models import paired_change

    rows = compare.three_prior_table(
        {name: _effect_draws(r) for name, r in fits.items()}, mcid=mcid, rope=rope
    )
    priors = []
    for row in rows:
        prior = fits[row.prior].prior
        priors.append({**asdict(row), "beliefs": list(prior.beliefs), "rationale": prior.rationale})
    reference = fits[REFERENCE_PRIOR].summary
    t_stat = reproduction["t_test"]["t"]
    n = int(study.n)
    # The JZS Bayes factor of the paired model (Cauchy r = sqrt(2)/2 on delta), in
    # closed form: the hierarchical model has no Bayes factor of its own.
    log_bf = paired_change.jzs_log_bf10(t_stat, n)
    bf10 = math.exp(log_bf) if log_bf < 700 else float("inf")
    table = compare.freq_vs_bayes_table(
        hodges_lehmann=reproduction["hodges_lehmann"]["estimate"],
        hl_ci=(reproduction["hodges_lehmann"]["low"], reproduction["hodges_lehmann"]["high"]),
        mean_change=reproduction["t_test"]["mean_change"],
        t_ci=(reproduction["t_test"]["mean_ci_low"], reproduction["t_test"]["mean_ci_high"]),
        p_wilcoxon=reproduction["p_exact"],
        p_t=reproduction["t_test"]["p_value"],
        effect_median=reference["effect_median"],
        effect_ci=(reference["effect_ci95_low"], reference["effect_ci95_high"]),
        p_effect_gt_0=reference["p_effect_gt_0"],
        p_effect_gt_mcid=reference.get("p_effect_gt_mcid", float("nan")),
        mcid=mcid,
        bf10=bf10,
        bf10_text="BF10 (JZS, paired model)",
    )
    return {
        "model": MAIN_MODEL,
        "likelihood": fits[REFERENCE_PRIOR].likelihood,
        "effect_variable": reference.get("effect_variable", "effect"),
        "unit": study.outcome.unit or ("points" if study.outcome.kind == "score" else "units"),
        "mcid": mcid,
        "rope": list(rope),
        "reference_prior": REFERENCE_PRIOR,
        "priors": priors,
        "effect_median": reference["effect_median"],
        "freq_vs_bayes": [asdict(r) for r in table],
        "bf10": bf10,
        "log_bf10": log_bf,
        "bf10_note": (
            "BF10 is the JZS Bayes factor of the paired-change model (Cauchy prior "
            "with r = 0.707 on the standardised effect; Rouder et al. 2009), "
            "computed in closed form from the paired t statistic. It tests "
            "'any change' against 'no change' and, like p, says nothing about "
            "what caused the change."
        ),
    }


def _modifier_section(fit_result) -> dict:
    summary = fit_result.summary
    post = fit_result.tree["posterior"]
    coefficients = []
    for name in post.data_vars:
        if name.startswith("modifier_"):
            x = np.asarray(post[name].values, dtype=float).ravel()
            coefficients.append(
                {
                    "name": name,
                    "median": float(np.median(x)),
                    "ci95_low": float(np.quantile(x, 0.025)),
                    "ci95_high": float(np.quantile(x, 0.975)),
                }
            )
    return {
        "subgroup_effects": summary.get("subgroup_effects", {}),
        "skipped": summary.get("skipped_covariates", {}),
        "coefficients": coefficients,
    }


def _diagnostics_section(study, fits: Mapping[str, Any]) -> tuple[dict, Any]:
    from milkbayes import diagnostics as dg

    fit_rows, failing, statuses = [], [], []
    for name, result in fits.items():
        report = result.diagnostics
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
    reference = fits[REFERENCE_PRIOR]
    predictive, simulated = [], dg.simulated_changes(reference.tree, study)
    prior_simulated = _prior_predictive_changes(study, reference)
    if prior_simulated is not None:
        predictive += [c.as_dict() for c in dg.predictive_checks(*prior_simulated, kind="prior")]
    if simulated is not None:
        predictive += [c.as_dict() for c in dg.predictive_checks(*simulated, kind="posterior")]
    statuses += [c["status"] for c in predictive]
    try:
        pit = dg.loo_pit(reference.tree).as_dict()
        pit.pop("values", None)
        statuses.append(pit["status"])
    except MilkbayesError as error:
        pit = {
            "ks_statistic": None,
            "ks_p_value": None,
            "status": "warn",
            "note": f"LOO-PIT not available: {error}",
        }
    order = {"pass": 0, "warn": 1, "fail": 2}
    overall = max(statuses, key=lambda s: order.get(s, 1), default="pass")
    return (
        {
            "overall": overall,
            "failing": failing,
            "fits": fit_rows,
            "predictive": predictive,
            "loo_pit": pit,
        },
        (prior_simulated, simulated),
    )


def _prior_predictive_changes(study, reference, draws: int = 200):
    """Prior predictive draws of every mother's change under the reference prior, or None."""
    from milkbayes import diagnostics as dg
    from milkbayes.engine.predictive import prior_predictive

    try:
        tree = prior_predictive(
            MAIN_MODEL,
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
    )
    entry, values, _ = prepared_model(
        fitting.load_model(module_name), result.inputs, result.prior, likelihood
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

    Returns ``(lomo, psis_rows, None)``, or ``(None, [], reason)`` when the model cannot
    fit these data (e.g. log-normal with a zero measurement).
    """
    from milkbayes.comparison import cross_validation as compare

    label = f"{model_name}/{likelihood}"
    try:
        full, entry, values = _comparison_entry(
            model_name, likelihood, study, settings, REFERENCE_PRIOR, mcid, reuse
        )
    except ModelError as error:
        return None, [], f"{label}: {error}"
    inputs = full.inputs
    n = int(study.n)
    mother_of_obs = np.asarray(inputs.data.get("mother_idx", np.arange(n)))
    target = "pre_post" if "mother_idx" in inputs.data else "change"
    intercept = ("mother_z", "mother") if "mother_z" in entry.model.named_vars else None
    k, total = position

    def refit_progress(done: int, of: int) -> None:
        if tick is not None:
            tick("compare", k * of + done, total * of)

    loglik = compare.PointwiseLogLik(entry.model)
    post = full.tree["posterior"]
    matrix = loglik(compare._stacked_draws(post, loglik.value_names))
    levels = ("mother", "observation") if target == "pre_post" else ("mother",)
    by_level, psis_rows = {}, []
    for level in levels:
        psis = by_level[level] = compare.psis_by_mother(
            post, matrix, mother_of_obs, n, label=label, level=level
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
    # reloo: exact refits only where the mother-level Pareto k is too high
    lomo = compare.lomo_cv(
        entry.model,
        compiled=entry.compiled,
        data=values,
        mother_of_obs=mother_of_obs,
        mother_ids=list(study.ids),
        label=label,
        target=target,
        intercept=intercept,
        draws=settings.lomo_draws,
        tune=settings.lomo_tune,
        chains=settings.lomo_chains,
        seed=settings.seed,
        full_posterior=full.tree,
        progress=refit_progress,
        psis=by_level["mother"] if settings.reloo else None,
        loglik=loglik,
    )
    return lomo, psis_rows, None


def _candidates_cv(
    study, settings: ReanalysisSettings, mcid: float, candidates: tuple[tuple[str, str], ...]
) -> dict:
    """:func:`_candidate_cv` of several candidates (the body of the background worker)."""
    return {candidate: _candidate_cv(*candidate, study, settings, mcid) for candidate in candidates}


class _BackgroundWork:
    """Work that does not need the main fits, done in a second process meanwhile.

    The comparison candidates other than the main fit (compiled and cross-validated)
    and then the sensitivity highlights (whose prior grid refits ``paired_change``).
    On a machine with two or more cores, a worker process started before the main fits
    does them in that order while the main process fits, checks, compares the main fit
    and draws the figures. The worker is spawned (not forked: numba and nutpie keep
    threads), uses the same seeds, and so returns exactly the numbers a serial run
    computes. On Ctrl-C or an error the worker is terminated.
    """

    def __init__(
        self,
        study,
        settings: ReanalysisSettings,
        mcid: float,
        candidates: tuple[tuple[str, str], ...],
        sensitivity: bool,
    ):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.candidates = candidates
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        # one worker: the tasks run in the order submitted, the comparison (needed
        # first) before the sensitivity highlights
        self._comparison = (
            self._pool.submit(_candidates_cv, study, settings, mcid, candidates)
            if candidates
            else None
        )
        self._sensitivity = (
            self._pool.submit(_sensitivity_section, study, mcid, settings.sensitivity_fast)
            if sensitivity
            else None
        )

    def comparison_result(self) -> dict:
        """``_candidates_cv``'s result for :attr:`candidates` (waits for the worker)."""
        return self._comparison.result() if self._comparison is not None else {}

    def sensitivity_result(self) -> tuple[list | None, dict]:
        """``_sensitivity_section``'s result (waits for the worker)."""
        return self._sensitivity.result()

    def close(self) -> None:
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()

    @classmethod
    def start(
        cls,
        study,
        settings: ReanalysisSettings,
        mcid: float,
        *,
        reference_likelihood,
        sensitivity: bool,
    ) -> _BackgroundWork | None:
        """A worker for the candidates that do not reuse the main fit and, if asked, the
        sensitivity highlights; None when there is nothing to do or one core only.
        """
        import os

        others = tuple(c for c in settings.comparison if c != (MAIN_MODEL, reference_likelihood))
        if not settings.parallel_worker or not (others or sensitivity) or (os.cpu_count() or 1) < 2:
            return None
        return cls(study, settings, mcid, others, sensitivity)


def _comparison_section(
    study,
    settings: ReanalysisSettings,
    fits: Mapping[str, Any],
    mcid: float,
    tick,
    background: _BackgroundWork | None = None,
) -> tuple[dict, list]:
    from milkbayes.comparison import cross_validation as compare

    results, psis_rows, notes, skipped = [], [], [], []
    reference = fits.get(REFERENCE_PRIOR)
    total = len(settings.comparison)
    computed = {}  # candidate -> _candidate_cv's result, here or in the background
    local = [c for c in settings.comparison if background is None or c not in background.candidates]
    for k, (model_name, likelihood) in enumerate(local):
        reuse = (
            reference
            if reference is not None
            and (model_name, likelihood) == (MAIN_MODEL, reference.likelihood)
            else None
        )
        computed[(model_name, likelihood)] = _candidate_cv(
            model_name, likelihood, study, settings, mcid, reuse, tick, (k, total)
        )
        tick("compare", k + 1, total)
    if background is not None:
        computed.update(background.comparison_result())
    for candidate in settings.comparison:  # in the settings' order, wherever computed
        lomo, rows_of_candidate, reason = computed[candidate]
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
    notes.append(
        "Models of the change (post − pre) and models of the pair (pre, post) predict "
        "different data, so their elpd values are not comparable; stacking weights are "
        "computed within each group."
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
        {
            "lomo": lomo_rows,
            "psis": psis_rows,
            "notes": notes,
            "pointwise": pointwise,
            "settings": {
                "draws": settings.lomo_draws,
                "tune": settings.lomo_tune,
                "chains": settings.lomo_chains,
                "reloo": settings.reloo,
            },
        },
        results,
    )


def _refit_note(lomo) -> str:
    """Which mothers one candidate's elpd refitted exactly, and why."""
    n = len(lomo.mother_ids)
    if lomo.good_k is None:
        return f"{lomo.label}: all {n} mothers refitted exactly (reloo off)."
    if not lomo.refitted:
        return (
            f"{lomo.label}: every Pareto k <= {lomo.good_k:.2f}, so all {n} held-out "
            "densities are PSIS-LOO values; no refit was needed."
        )
    k = dict(zip(lomo.mother_ids, lomo.pareto_k))
    listed = ", ".join(f"{m} (k = {k[m]:.2f})" for m in lomo.refitted)
    return (
        f"{lomo.label}: {len(lomo.refitted)} of {n} mothers had Pareto k > "
        f"{lomo.good_k:.2f} and were refitted exactly without their data: {listed}; "
        f"the other {n - len(lomo.refitted)} use their PSIS-LOO value."
    )


def _sensitivity_section(study, mcid: float, fast: bool) -> tuple[list | None, dict]:
    try:
        from milkbayes.sensitivity import analyses as sensitivity
    except ImportError:  # the section is omitted cleanly
        return None, {}
    if not hasattr(sensitivity, "highlights"):
        return None, {}
    from milkbayes.report.render import png_bytes

    items, figures = [], {}
    for result in sensitivity.highlights(study, mcid=mcid, fast=fast):
        figure_name = f"sensitivity_{result.name}"
        figures[figure_name] = png_bytes(result.figure)
        items.append(
            {
                "name": result.name,
                "title": result.title,
                "summary": {
                    str(k): v
                    for k, v in result.summary.items()
                    if isinstance(v, (int, float, str)) or v is None
                },
                "notes": list(result.notes),
                "figure": figure_name,
            }
        )
    return items, figures


# --------------------------------------------------------------------------- figures
def _forest_figure(posterior, names, mcid: float, unit: str | None):
    """The average effect and the effect in each subgroup, one labelled row each.

    Drawn with matplotlib from the draws rather than with ``az.plot_forest``, whose
    labels of many level coordinates overlap: a reader must see "parity: primipara"
    beside its interval. Thin line 95 %, thick line 50 %, dot the median.
    """
    from matplotlib.figure import Figure

    rows = []
    for name in names:
        draws = posterior[name]
        level_dims = [d for d in draws.dims if d not in ("chain", "draw")]
        if not level_dims:
            rows.append(("average effect", draws.values.ravel()))
            continue
        dim = level_dims[0]
        covariate = name.removeprefix("effect_")
        for level in draws[dim].values:
            rows.append((f"{covariate}: {level}", draws.sel({dim: level}).values.ravel()))
    fig = Figure(figsize=(6.5, 0.32 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    for y, (label, values) in enumerate(rows):
        q025, q25, q50, q75, q975 = np.quantile(values, [0.025, 0.25, 0.5, 0.75, 0.975])
        colour = "#1f3b73" if y == 0 else "#4c72b0"
        ax.plot([q025, q975], [y, y], color=colour, linewidth=1)
        ax.plot([q25, q75], [y, y], color=colour, linewidth=3.5)
        ax.plot([q50], [y], "o", color="white", markeredgecolor=colour, markersize=5)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(mcid, color="#d62728", linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"effect of the massage period ({unit or 'outcome units'})")
    return fig


def _figures(study, fits, simulated, comparison_rows, mcid) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az
    from matplotlib.figure import Figure

    from milkbayes.report.render import png_bytes

    figures: dict[str, bytes] = {}
    # data: one line per mother
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    pre, post = study.table["pre"].to_numpy(float), study.table["post"].to_numpy(float)
    for a, b in zip(pre, post):
        ax.plot([0, 1], [a, b], color="#4c72b0", alpha=0.5, marker="o", markersize=3)
    ax.set_xticks([0, 1], ["pre", "post"])
    ax.set_ylabel(study.outcome.unit or "outcome")
    ax.set_title("Each mother's pre and post measurement", fontsize=10)
    figures["data"] = png_bytes(fig)

    reference = fits[REFERENCE_PRIOR]
    effect = reference.summary.get("effect_variable", "effect")
    pc = az.plot_dist(
        {name: r.tree for name, r in fits.items()},
        var_names=[effect],
        backend="matplotlib",
        figure_kwargs={"figsize": (6.5, 3.6)},
    )
    pc.add_legend("model")
    axis = pc.get_viz("figure").axes[0]
    axis.axvline(0.0, color="black", linewidth=1)
    axis.axvline(mcid, color="#d62728", linestyle="--", linewidth=1)
    figures["priors"] = png_bytes(pc)

    post = reference.tree["posterior"]
    forest_vars = [effect] + [
        v
        for v in post.data_vars
        if v.startswith("effect_") and v not in ("effect_mother", "effect_pct", "effect_base")
    ]
    figures["forest"] = png_bytes(_forest_figure(post, forest_vars, mcid, study.outcome.unit))
    core = [v for v in (effect, "intercept", "sigma", "mother_sd") if v in post.data_vars]
    figures["trace"] = png_bytes(
        az.plot_trace_dist(reference.tree, var_names=core, backend="matplotlib")
    )
    figures["rank"] = png_bytes(az.plot_rank(reference.tree, var_names=core, backend="matplotlib"))
    from milkbayes.diagnostics import predictive_figure

    prior_simulated, simulated = simulated
    if prior_simulated is not None:
        figures["prior_ppc"] = png_bytes(predictive_figure(*prior_simulated, kind="prior"))
    if simulated is not None:
        figures["ppc"] = png_bytes(predictive_figure(*simulated, kind="posterior"))
    if comparison_rows:
        fig = Figure(figsize=(6.5, 0.6 + 0.45 * len(comparison_rows)), layout="constrained")
        targets = list(dict.fromkeys(r.target for r in comparison_rows))
        axes = np.atleast_1d(fig.subplots(len(targets), 1, squeeze=False)[:, 0])
        for axis, target in zip(axes, targets):
            group = [r for r in comparison_rows if r.target == target]
            y = np.arange(len(group))[::-1]
            axis.errorbar(
                [r.elpd for r in group],
                y,
                xerr=[r.se for r in group],
                fmt="o",
                color="#4c72b0",
                capsize=3,
            )
            axis.set_yticks(y, [f"{r.label} (w={r.weight:.2f})" for r in group], fontsize=8)
            axis.set_title(f"predicts: {target}", fontsize=9)
        axes[-1].set_xlabel("elpd, leave-one-mother-out (± SE)")
        figures["compare"] = png_bytes(fig)
    return figures


FIGURE_CAPTIONS = {
    "data": "Pre and post measurement of every mother (one line each).",
    "priors": "Posterior of the effect under the three priors (black: no change; dashed "
    "red: the MCID).",
    "forest": "Effect in each subgroup (black line: no change; dashed red: the MCID): posterior medians with 95 % (thin) and 50 % "
    "(thick) credible intervals.",
    "trace": "Trace and marginal plots of the main parameters (neutral prior).",
    "rank": "Rank plots of the main parameters: flat, overlapping ECDF differences mean "
    "the chains agree.",
    "ppc": "Posterior predictive check of the mean change and the share of positive "
    "changes (red: observed).",
    "prior_ppc": "Prior predictive check (neutral prior): what the model expects before "
    "seeing the data (red: observed).",
    "compare": "Leave-one-mother-out elpd (higher is better; PSIS-LOO where Pareto k is "
    "good, exact refits elsewhere) with stacking weights, within each prediction "
    "target.",
}


# --------------------------------------------------------------------------- main job
REPORT_ENTRIES = frozenset({"report.html", "report.md", "summary.json", "figures", "tables"})
"""What a report folder holds; ``--force`` replaces only folders made of these."""


def _is_report_folder(folder: Path) -> bool:
    """True for a folder written by :func:`run_reanalysis` (and nothing else in it)."""
    names = {entry.name for entry in folder.iterdir()}
    return "summary.json" in names and names <= REPORT_ENTRIES


def _prepare_out_dir(out_dir: Path, force: bool) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise RunExistsError(f"{out_dir} exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise RunExistsError(
                f"{out_dir} already holds files; use --force to replace a "
                "report, or --out to choose another folder"
            )
        if not _is_report_folder(out_dir):
            # --force replaces the whole folder: never do that to a folder of other files
            raise RunExistsError(
                f"{out_dir} holds files that are not a milkbayes report; "
                "refusing to replace it even with --force"
            )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    from milkbayes.report.render import _umask

    temporary.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the report is to be shared
    return temporary


def _move_into_place(temporary: Path, target: Path, *, force: bool = False) -> None:
    """Rename the finished folder onto ``target``.

    The check of :func:`_prepare_out_dir` ran long before: another run may have written
    ``target`` meanwhile. Without ``force`` that report is kept (RunExistsError); with
    it, only a report folder is replaced.
    """
    if target.exists() and any(target.iterdir()):
        if not force:
            raise RunExistsError(
                f"{target} was written by another run meanwhile; it is kept "
                "(use --force to replace it)"
            )
        if not _is_report_folder(target):
            raise RunExistsError(
                f"{target} now holds files that are not a milkbayes report; refusing to replace it"
            )
        old = target.with_name(f".{target.name}.old-{int(time.time() * 1000)}")
        target.rename(old)
        try:
            rename_or_refuse(temporary, target, what="report")
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    rename_or_refuse(temporary, target, what="report")  # an empty folder is replaced atomically


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
        Include the sensitivity highlights when :mod:`milkbayes.sensitivity.analyses` provides them.

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
    with sigterm_as_keyboard_interrupt():
        return _run_into(
            study, target, settings, clock, strict=strict, force=force, sensitivity=sensitivity
        )


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
    """The body of :func:`run_reanalysis`: build the report in a temporary sibling folder."""
    from milkbayes.report import render as report

    temporary = _prepare_out_dir(target, force)
    background = None
    try:
        mcid = default_mcid(study)
        rope = (-ROPE_FRACTION_OF_MCID * mcid, ROPE_FRACTION_OF_MCID * mcid)
        data = clock.run("data", lambda: _data_section(study))
        reproduction = clock.run("reproduction", lambda: _reproduction_section(study))
        background = _BackgroundWork.start(
            study, settings, mcid, reference_likelihood=_main_likelihood(), sensitivity=sensitivity
        )
        fits = clock.run("fit", lambda: _fit_priors(study, settings, mcid, clock.tick))
        bayes = _bayes_section(study, fits, reproduction, mcid, rope)
        modifiers = _modifier_section(fits[REFERENCE_PRIOR])
        diagnostics, simulated = clock.run("diagnostics", lambda: _diagnostics_section(study, fits))
        comparison, lomo_results = clock.run(
            "compare",
            lambda: _comparison_section(study, settings, fits, mcid, clock.tick, background),
        )
        from milkbayes.comparison import cross_validation as compare_module

        comparison_rows = compare_module.compare_models(lomo_results) if lomo_results else []
        figures = clock.run(
            "figures", lambda: _figures(study, fits, simulated, comparison_rows, mcid)
        )
        # last: in a full run the worker computes it meanwhile (_BackgroundWork)
        if not sensitivity:
            sens, sens_figures = None, {}
        elif background is not None:
            sens, sens_figures = clock.run("sensitivity", background.sensitivity_result)
        else:
            sens, sens_figures = clock.run(
                "sensitivity", lambda: _sensitivity_section(study, mcid, settings.sensitivity_fast)
            )
        if background is not None:
            background.close()
        figures.update(sens_figures)
        captions = dict(FIGURE_CAPTIONS)
        for item in sens or []:
            captions[item["figure"]] = item["title"]
        summary = {
            "schema_version": report.SCHEMA_VERSION,
            "generator": {"name": "milkbayes", "version": __version__},
            "created_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "reconstructed": bool(study.reconstructed),
            "warning": RECONSTRUCTED_WARNING if study.reconstructed else None,
            "settings": {
                "fast": settings == FAST,
                "draws": settings.draws,
                "tune": settings.tune,
                "chains": settings.chains,
                "seed": settings.seed,
                "mcid": mcid,
                "rope": list(rope),
                "comparison": [list(c) for c in settings.comparison],
            },
            "data": data,
            "reproduction": reproduction,
            "bayes": bayes,
            "modifiers": modifiers,
            "diagnostics": diagnostics,
            "comparison": comparison,
            "sensitivity": sens,
            "design_limits": [{"title": t, "text": x} for t, x in report.DESIGN_LIMITS],
            "figures": {
                name: {"file": f"figures/{name}.png", "caption": captions.get(name, name)}
                for name in figures
            },
            "timings": {},
        }
        # the summary's timings stop before rendering, so that re-rendering the saved
        # summary gives the same page; ReanalysisResult.timings include the report stage
        summary["timings"] = dict(clock.timings)
        clock.run("report", lambda: report.write_report(summary, figures, temporary))
        _move_into_place(temporary, target, force=force)
    except BaseException:
        if background is not None:
            background.close()
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    result = ReanalysisResult(
        out_dir=target,
        html=target / "report.html",
        markdown=target / "report.md",
        json=target / "summary.json",
        summary=summary,
        diagnostics_ok=diagnostics["overall"] != "fail",
        timings=dict(clock.timings),
    )
    if strict and not result.diagnostics_ok:
        failed = "; ".join(f"{f['fit']}: {f['label']}" for f in diagnostics["failing"])
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
    mcid = default_mcid(study)
    section, _ = clock.run(
        "compare", lambda: _comparison_section(study, settings, {}, mcid, clock.tick)
    )
    return {
        "reconstructed": bool(study.reconstructed),
        "warning": RECONSTRUCTED_WARNING if study.reconstructed else None,
        "source": str(study.source),
        **section,
        "timings": dict(clock.timings),
    }


def with_comparison(
    settings: ReanalysisSettings, *candidates: tuple[str, str]
) -> ReanalysisSettings:
    """A copy of ``settings`` with other comparison candidates.

    Examples
    --------
    >>> with_comparison(FAST, ("paired_change", "normal")).comparison
    (('paired_change', 'normal'),)
    """
    return replace(settings, comparison=tuple(candidates))
