"""``milkbayes reanalyze | report | compare``: the main job, re-rendering, model comparison.

One command is one library call (:func:`milkbayes.reanalysis.pipeline.run_reanalysis`,
:func:`milkbayes.report.render.rerender`, :func:`milkbayes.reanalysis.pipeline.compare_candidates`).
Progress goes to stderr: rich bars on a terminal, a plain line every few seconds
otherwise (:class:`PlainProgress`); ``--json`` prints one JSON object on stdout and nothing
else. A failing diagnostic under ``--strict`` exits with status 3 after the report
is written.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from milkbayes.cli.data_options import DataOptions, choice, ci_prob_option, data_options, flag
from milkbayes.errors import MilkbayesError

_JSON_HELP = "Print one JSON object on stdout instead of text."


def register(app: typer.Typer) -> None:
    """Add ``reanalyze``, ``report`` and ``compare`` to ``app``."""
    app.command("reanalyze")(reanalyze)
    app.command("report")(report)
    app.command("compare")(compare)


# ----------------------------------------------------------------------------- helpers
# progress reporting lives in milkbayes.progress (the simulations use it too); these
# names stay importable from here
from milkbayes.progress import (  # noqa: E402
    PLAIN_PROGRESS_INTERVAL,
    PlainProgress,
    _duration,
    _plain_interval,
)
from milkbayes.progress import progress_reporter as _progress_bars  # noqa: E402

__all__ = ["PLAIN_PROGRESS_INTERVAL", "PlainProgress", "_duration", "_plain_interval", "register"]


def _freeze_heap_at_exit() -> None:
    """Let the interpreter end without collecting the heap a reanalysis leaves.

    At exit Python runs a full garbage collection, which traverses every object of
    PyMC, nutpie, ArviZ, SciPy and matplotlib and the run's garbage: about 1.5 s
    after a reanalysis (which runs without full collections,
    :data:`milkbayes.reanalysis.pipeline.GC_FULL_THRESHOLD`), spent after the report
    is written. ``gc.freeze`` at exit (the last atexit handler registered runs first)
    makes that collection skip them; the operating system takes the memory back
    anyway. Registered once per process, so an in-process caller (tests) pays nothing
    until it exits.
    """
    global _HEAP_FROZEN_AT_EXIT
    if not _HEAP_FROZEN_AT_EXIT:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _HEAP_FROZEN_AT_EXIT = True


_HEAP_FROZEN_AT_EXIT = False


def _echo_json(payload: dict) -> None:
    from milkbayes.jsonio import dumps

    typer.echo(dumps(payload))


def _warn_reconstructed(reconstructed: bool) -> None:
    if reconstructed:
        from milkbayes import RECONSTRUCTED_WARNING

        typer.echo(RECONSTRUCTED_WARNING, err=True)


def _published_facts_line(pf: dict) -> str:
    """The last line of ``reanalyze``: what the published facts alone support, unit-free."""
    return (
        f"published facts alone (n = 24, p < .0005, output rose): standardised effect "
        f"median {pf['delta_median']:.2f}, 95 % interval [{pf['delta_ci95_low']:.2f}, "
        f"{pf['delta_ci95_high']:.1f}]; P(delta > 0.5) = {pf['p_delta_gt_0_5']:.3f}, "
        f"P(delta > 0.8) = {pf['p_delta_gt_0_8']:.3f}; Bayes factor of the published "
        f"result {pf['bf10']:,.0f} (at most {pf['bf10_upper_bound']:,.0f} for any alternative)"
    )


# ----------------------------------------------------------------------------- commands
@data_options()
def reanalyze(
    options: DataOptions = None,
    out: Path = typer.Option(Path("milkbayes-report"), "--out", help="Report folder to create."),
    fast: bool = flag("--fast", "Small sampler runs (tests, CI, previews); diagnostics may warn."),
    strict: bool = flag(
        "--strict",
        "Exit with status 3 when a convergence diagnostic fails (the report is still written).",
    ),
    force: bool = flag("--force", "Replace an existing report folder."),
    as_json: bool = flag("--json", _JSON_HELP),
    mcid: float = typer.Option(
        None,
        "--mcid",
        help="Minimal clinically important difference, in outcome units (default: the "
        "study description's, else 6.3 ml (half the SD of a feed) / 2 points per 10 / "
        "half an SD of pre).",
    ),
    rope: float = typer.Option(
        None,
        "--rope",
        help="Half-width of the region of practical equivalence, in outcome units "
        "(default: half the MCID).",
    ),
    prior: str = choice(
        "neutral",
        "--prior",
        "The reference prior of the frequentist-versus-Bayesian table and the "
        "diagnostics (all three are always fitted).",
        ("skeptical", "neutral", "enthusiastic"),
    ),
    seed: int = typer.Option(20241, "--seed", help="Random seed (same seed, same draws)."),
    draws: int = typer.Option(
        None, "--draws", help="Draws kept per chain of each main fit (default 2000; 300 --fast)."
    ),
    ensemble_k: int = typer.Option(
        None,
        "--ensemble-k",
        help="Reconstructions of the ensemble that shows every ml-scale number across "
        "assumptions (reconstructed data only; default 20, --fast 8; 0 switches it off).",
    ),
    ci_prob: float = ci_prob_option(
        "Probability of every credible interval the report gives (central, equal-tailed; "
        "default 0.95). The frequentist intervals and the published-facts headline stay "
        "at 95 % and say so."
    ),
    stage: str = choice(
        "auto",
        "--stage",
        "Stage of lactation of the bias analysis's prior on the change without massage: "
        "the stage's natural trend (sourced) plus a regression-to-the-mean term from the "
        "data. auto: the study's own (the paper's working mothers: established; other "
        "data: none); none: the unsourced default Normal(3, 3) ml. Volumes only.",
        ("auto", "early", "established", "none"),
    ),
) -> None:
    """Run the whole analysis on the bundled data or yours, and write the HTML report."""
    from dataclasses import replace

    from milkbayes.engine.sampling import check_sampler_settings
    from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED
    from milkbayes.reanalysis.pipeline import (
        FAST,
        FULL,
        DiagnosticsFailedError,
        run_reanalysis,
    )

    settings = FAST if fast else FULL
    if ensemble_k is not None:
        if ensemble_k < 0 or ensemble_k == 1:
            raise MilkbayesError(f"--ensemble-k must be 0 (off) or >= 2, not {ensemble_k}")
        settings = replace(settings, ensemble_k=ensemble_k)
    settings = replace(
        settings,
        seed=seed,
        draws=settings.draws if draws is None else draws,
        reference_prior=prior.lower(),
        ci_prob=ci_prob,
        trend_stage=stage,
    )
    check_sampler_settings(
        draws=settings.draws, tune=settings.tune, chains=settings.chains, seed=seed
    )
    study = options.load()
    from milkbayes.sensitivity.bias import resolve_stage

    resolve_stage(study, stage)  # a stage for a score: one line, exit 2, before any work
    if mcid is not None:
        from milkbayes.models.priors import resolve_mcid

        settings = replace(settings, mcid=resolve_mcid(study, mcid))
    if rope is not None:
        if not math.isfinite(rope) or rope < 0:
            raise MilkbayesError(f"--rope must be a finite number >= 0, not {rope}")
        settings = replace(settings, rope=(-rope, rope))
    _warn_reconstructed(study.reconstructed)
    if study.outcome_origin == "default":
        typer.echo(
            "note: the outcome's kind was not declared (no --kind, study description or "
            "sidecar): it is treated as continuous, with an MCID of half an SD of pre; "
            "pass --kind volume --unit ml (or score --max-score N) if that is wrong.",
            err=True,
        )
    failed = None
    with _progress_bars(enabled=True) as progress:
        try:
            result = run_reanalysis(
                study,
                out,
                fast=fast,
                strict=strict,
                force=force,
                progress=progress,
                settings=settings,
            )
        except DiagnosticsFailedError as error:
            result, failed = error.result, str(error)
    _freeze_heap_at_exit()
    summary = result.summary
    if as_json:
        _echo_json(
            {
                "reconstructed": summary["reconstructed"],
                "warning": summary["warning"],
                "report": str(result.html),
                "markdown": str(result.markdown),
                "summary": str(result.json),
                "diagnostics": summary["diagnostics"]["overall"],
                "effect_median": summary["bayes"]["effect_median"],
                "priors": summary["bayes"]["priors"],
                "published_facts": summary.get("published_facts"),
                "trend_stage": summary["settings"].get("trend_stage"),
                "ensemble": _ensemble_json(summary.get("ensemble")),
                "timings": result.timings,
            }
        )
    else:
        reference = summary["bayes"].get("reference_prior", "neutral")
        neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == reference)
        design = summary.get("design") or {}
        level = f"{100 * summary.get('ci_prob', 0.95):.10g} %"
        if design.get("design") == "two_arm":
            typer.echo(
                f"two arms ({design['n_massage']} massage, {design['n_control']} control): "
                f"model {design['main_model']}, effect = "
                + (
                    "massage - control at the same pre value (ANCOVA)"
                    if design["main_model"] == "ancova"
                    else "massage change - control change"
                )
            )
            secondary = design.get("secondary")
            if secondary:
                typer.echo(
                    f"secondary, {secondary['model']} (difference in differences, assumes "
                    f"parallel trends): median {secondary['effect_median']:.2f}, {level} CrI "
                    f"[{secondary['effect_ci95_low']:.2f}, {secondary['effect_ci95_high']:.2f}]"
                )
        source = (
            ", from the bundled worked-example reconstruction" if summary["reconstructed"] else ""
        )
        typer.echo(
            f"effect ({reference} prior{source}): median {neutral['median']:.2f} "
            f"{summary['bayes']['unit']}, {level} CrI [{neutral['ci95_low']:.2f}, "
            f"{neutral['ci95_high']:.2f}]; diagnostics: "
            f"{summary['diagnostics']['overall']}{_fast_mode_hint(summary)}"
        )
        for line in _ensemble_lines(summary.get("ensemble")):
            typer.echo(line)
        typer.echo(f"report: {result.html}")
        headline = summary.get("published_facts")
        if headline:
            typer.echo(_published_facts_line(headline))
    if failed is not None:
        typer.echo(f"error: {failed}", err=True)
        # the report is written; cli.main passes on the status app() returns for it
        raise typer.Exit(EXIT_DIAGNOSTICS_FAILED)


def _fast_mode_hint(summary: dict) -> str:
    """Why a fast run's diagnostics may fail, and what to do, or nothing.

    Fast mode's chains are kept short for previews and tests, so the ESS thresholds
    (400) can fail for a model that passes at its default draws; the user should
    hear that the remedy is the full run, not a different model.
    """
    if summary.get("settings", {}).get("fast") and summary["diagnostics"]["overall"] != "pass":
        return " (fast mode: chains too short to judge; run without --fast)"
    return ""


def _ensemble_json(ensemble: dict | None) -> dict | None:
    """The ensemble's table for ``reanalyze --json``: each number's spread and source."""
    if not ensemble:
        return None
    keep = ("quantity", "label", "median", "low", "high", "source", "driver")
    return {
        "k": ensemble["k"],
        "varied": ensemble["varied"],
        "rows": [{key: row.get(key) for key in keep} for row in ensemble["rows"]],
    }


def _ensemble_lines(ensemble: dict | None) -> list[str]:
    """What ``reanalyze`` prints about the ensemble: the one reconstruction is an example."""
    if not ensemble:
        return []
    rows = {row["quantity"]: row for row in ensemble["rows"]}
    effect = rows.get("effect_median")
    lines = ["(the effect above is from ONE reconstruction: a worked example)"]
    if effect is not None:
        lines.append(
            f"across {ensemble['k']} reconstructions that all match the paper "
            f"(ASSUMPTION-DRIVEN): effect median {effect['median']:.2f} {ensemble['unit']}, "
            f"range [{effect['low']:.2f}, {effect['high']:.2f}]; driven by {effect['driver']}"
        )
    return lines


def report(
    run_dir: Path = typer.Argument(..., help="A folder written by `milkbayes reanalyze`."),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Re-render the HTML and Markdown report of a reanalysis folder from its saved results."""
    from milkbayes.report.render import read_summary, rerender

    summary = read_summary(run_dir)
    _warn_reconstructed(bool(summary.get("reconstructed")))
    paths = rerender(run_dir)
    if as_json:
        _echo_json(
            {
                "reconstructed": summary["reconstructed"],
                "warning": summary.get("warning"),
                "report": str(paths.html),
                "markdown": str(paths.markdown),
                "summary": str(paths.json),
            }
        )
    else:
        typer.echo(f"report: {paths.html}")


@data_options()
def compare(
    options: DataOptions = None,
    fast: bool = flag("--fast", "Small sampler runs."),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Compare models by cross-validation by mother: PSIS-LOO k, stacking, pseudo-BMA+."""
    from milkbayes.reanalysis.pipeline import compare_candidates

    study = options.load()
    _warn_reconstructed(study.reconstructed)
    with _progress_bars(enabled=True) as progress:
        section = compare_candidates(study, fast=fast, progress=progress)
    if as_json:
        _echo_json(section)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cross-validation by mother")
    text_columns = ("model", "predicts", "method")
    columns = ("model", "predicts", "elpd", "SE", "Δelpd", "SE(Δ)", "stacking", "pseudo-BMA+")
    for column in (*columns, "within noise", "method"):
        table.add_column(column, justify="left" if column in text_columns else "right")
    for row in section["lomo"]:
        table.add_row(
            row["label"],
            row["target"],
            f"{row['elpd']:.2f}",
            f"{row['se']:.2f}",
            f"{row['elpd_diff']:.2f}",
            f"{row['dse']:.2f}",
            f"{row['weight']:.3f}",
            f"{row['pseudo_bma_weight']:.3f}",
            "yes" if row["within_noise"] else "no",
            row.get("method_text", row.get("method", "")),
        )
    console = Console()
    console.print(table)
    for row in section["psis"]:
        console.print(
            f"PSIS-LOO {row['label']} (leave one {row['level']} out): {row['note']}", markup=False
        )
    for note in section["notes"]:
        console.print(note, markup=False)
