"""``milkbayes fit`` and ``milkbayes diagnose``: one library call each.

``fit`` is :func:`milkbayes.engine.fit.fit` followed by :func:`milkbayes.engine.runs.save_run`;
``diagnose`` re-reads a run folder and recomputes its diagnostics
(:mod:`milkbayes.diagnostics`). Results go to stdout (``--json``: exactly one JSON
object); progress, the reconstructed-data banner and diagnostic alarms go to stderr.
A failing diagnostic is printed loudly; with ``--strict`` it also makes the exit
status :data:`milkbayes.errors.EXIT_DIAGNOSTICS_FAILED`.
"""

from __future__ import annotations

import contextlib
import gc
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from milkbayes.cli.data_options import DataOptions, choice, data_options, flag
from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED, MilkbayesError

_PRIOR_HELP = (
    "Prior set: skeptical, neutral, enthusiastic, literature (from `milkbayes "
    "meta-analysis`), or a TOML file."
)
_MCID_HELP = "Minimal clinically important difference, in outcome units."
_OUT_HELP = (
    "Run folder to create (default: runs/MODEL_LIKELIHOOD_PRIOR_seedSEED). "
    "An existing run is never replaced without --force."
)
_STRICT_HELP = f"Exit with status {EXIT_DIAGNOSTICS_FAILED} when a diagnostic fails."
_JSON_HELP = "Print one JSON object on stdout instead of tables."

KEY_ORDER = (
    "effect_median",
    "effect_ci95_low",
    "effect_ci95_high",
    "p_effect_gt_0",
    "p_effect_gt_mcid",
    "mcid",
)
"""Keys every ``fit --json`` carries, for every model (``p_effect_gt_mcid`` and
``mcid`` are null without ``--mcid``). Beside them, ``mcid_source`` (null without
``--mcid``), ``default_mcid`` and ``default_mcid_source``: the named priors are
calibrated on the default MCID, so its source is printed even without ``--mcid``."""

BENEFIT_KEYS = ("benefit", "p_benefit", "p_benefit_gt_mcid")
"""Keys of the direction of benefit (``fit --json`` carries them; the table prints
them only for a lower-is-better outcome, where they differ from P(effect > ...))."""


FIT_PROGRESS_FIRST = 2.0
"""Seconds before (and between) the plain progress lines of ``milkbayes fit``."""

FIT_GC_FULL_THRESHOLD = 1_000_000
"""Python's third collector threshold while ``milkbayes fit`` runs (the default: 10).

A fit imports PyMC, nutpie, ArviZ, xarray and dask (millions of long-lived objects)
and builds graphs and trees. Each full collection traverses every live object, and
with the default thresholds seven of them ran in a flagship fit: a fifth of the
command's CPU time, to free a few megabytes of cyclic garbage (the peak resident
memory grows by about 2 %). With this threshold no full collection runs before
a million young-generation collections (none in a fit); the young generations are
collected as usual, which keeps short-lived cyclic garbage bounded. Larger young
thresholds were measured slower (each collection then walks more objects than the
caches hold)."""


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``diagnose`` to ``app``."""
    app.command("fit")(fit_command)
    app.command("diagnose")(diagnose_command)


# ----------------------------------------------------------------------------- helpers
def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _literal(text: Any) -> str:
    """``text`` escaped for rich markup.

    Run folders, prior names, subgroup levels and diagnostic details come from the
    user, and "[/]" in them must print as itself.
    """
    from rich.markup import escape

    return escape(str(text))


def _echo_json(payload: dict[str, Any]) -> None:
    from milkbayes.jsonio import dumps

    typer.echo(dumps(payload))


def _warn_reconstructed(reconstructed: bool) -> None:
    if reconstructed:
        from milkbayes import RECONSTRUCTED_WARNING

        _stderr_console().print(f"[bold yellow]WARNING: {RECONSTRUCTED_WARNING}[/]")


def _shout_failures(rows: list[dict], where: str) -> None:
    """Print every failing diagnostic on stderr, loudly."""
    failing = [row for row in rows if row["status"] == "fail"]
    if not failing:
        return
    console = _stderr_console()
    console.print(f"[bold red]DIAGNOSTICS FAILED: {_literal(where)}[/]")
    for row in failing:
        console.print(
            f"[bold red]  FAIL {_literal(row['label'])}: {_literal(row['detail'])} "
            f"(needs {_literal(row['threshold'])})[/]"
        )


def _diagnostics_table(rows: list[dict], title: str):
    from rich.table import Table

    colours = {"pass": "green", "warn": "yellow", "fail": "bold red"}
    table = Table(title=_literal(title))
    for header in ("check", "value", "threshold", "status", "detail"):
        table.add_column(header)
    for row in rows:
        value = row["value"]
        shown = (
            "n/a" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        )
        table.add_row(
            _literal(row["check"]),
            shown,
            _literal(row["threshold"]),
            f"[{colours[row['status']]}]{_literal(row['status'])}[/]",
            _literal(row["detail"]),
        )
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _flatten(key: str, value: Any) -> list[tuple[str, str]]:
    """Rows for a summary entry.

    Nested dicts (e.g. subgroup effects) become one row per leaf, and a
    ``{median, ci95_low, ci95_high}`` leaf reads "median (low to high)".
    """
    if isinstance(value, dict):
        if {"median", "ci95_low", "ci95_high"} <= set(value):
            extra = f", n = {value['n']}" if "n" in value else ""
            return [
                (
                    key,
                    f"{_fmt(value['median'])} ({_fmt(value['ci95_low'])} to "
                    f"{_fmt(value['ci95_high'])}{extra})",
                )
            ]
        if not value:
            return [(key, "none")]
        rows: list[tuple[str, str]] = []
        for sub, item in value.items():
            rows.extend(_flatten(f"{key}.{sub}", item))
        return rows
    return [(key, _fmt(value))]


def _default_out(model: str, likelihood: str, prior_name: str, seed: int) -> Path:
    from milkbayes.engine.runs import safe_run_name

    return Path("runs") / safe_run_name(f"{model}_{likelihood}_{prior_name}_seed{seed}")


def _fit_payload(result, run_dir: Path | None) -> dict[str, Any]:
    from milkbayes import RECONSTRUCTED_WARNING
    from milkbayes.models.priors import ANCHORS, default_mcid, mcid_source

    summary = dict(result.summary)
    payload: dict[str, Any] = {key: summary.pop(key, None) for key in KEY_ORDER}
    payload.update(summary)
    study = result.study
    known = getattr(study.outcome, "kind", None) in ANCHORS
    payload.update(
        {
            "mcid_source": (
                mcid_source(study, payload["mcid"])
                if known and payload["mcid"] is not None
                else None
            ),
            "default_mcid": default_mcid(study) if known else None,
            "default_mcid_source": mcid_source(study) if known else None,
        }
    )
    payload.update(
        {
            "model": result.model_name,
            "likelihood": result.likelihood,
            "prior": str(result.prior.name),
            "seed": result.seed,
            "sampler": result.settings.as_dict(),
            "diagnostics": {
                "status": result.diagnostics.status,
                "ok": result.diagnostics.ok,
                "failures": [row.check for row in result.diagnostics.failures],
                "warnings": [row.check for row in result.diagnostics.warnings],
                "remedies": list(_remedies(result)),
            },
            "run_dir": None if run_dir is None else str(run_dir),
            "data": {
                "source": str(result.study.source),
                "sha256": result.study.sha256,
                "n": result.study.n,
            },
            "reconstructed": result.reconstructed,
            "warning": RECONSTRUCTED_WARNING if result.reconstructed else None,
        }
    )
    return payload


def _remedies(result) -> tuple[str, ...]:
    """What to do about each failing diagnostic (``ConvergenceReport.remedies``)."""
    settings = result.settings
    return result.diagnostics.remedies(
        draws=settings.draws, tune=settings.tune, target_accept=settings.target_accept
    )


def _exit_diagnostics_failed() -> None:
    """Exit with EXIT_DIAGNOSTICS_FAILED (``cli.main`` passes the status on)."""
    raise typer.Exit(EXIT_DIAGNOSTICS_FAILED)


# ----------------------------------------------------------------------------- fit
@data_options()
def fit_command(
    ctx: typer.Context,
    model: str = typer.Argument(
        ...,
        help=(
            "paired_change, signed_rank, prepost_hierarchical, prepost_bivariate, "
            "two_arm or ancova (the last two need a control arm)."
        ),
    ),
    options: DataOptions = None,
    prior: str = typer.Option("neutral", "--prior", help=_PRIOR_HELP),
    likelihood: str = typer.Option(
        None, "--likelihood", help="One of the model's likelihoods (default: its first)."
    ),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    draws: int = typer.Option(
        None, "--draws", help="Draws kept per chain (default: 1000, the flagship 2000)."
    ),
    tune: int = typer.Option(1000, "--tune", help="Warm-up draws per chain."),
    chains: int = typer.Option(4, "--chains", help="Number of chains."),
    seed: int = typer.Option(20241, "--seed", help="Random seed (same seed, same draws)."),
    target_accept: float = typer.Option(
        None,
        "--target-accept",
        help="nutpie's adaptation target in (0, 1) (default: the model's, else 0.9).",
    ),
    out: Path = typer.Option(None, "--out", help=_OUT_HELP),
    force: bool = flag("--force", "Replace an existing run folder."),
    strict: bool = flag("--strict", _STRICT_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
    stage: str = choice(
        "none",
        "--stage",
        "Stage of lactation of the natural-trend prior (two_arm only: its 'trend', the "
        "control arm's change): the stage's trend plus a regression-to-the-mean term "
        "from the data. none: the model's default (Normal(0, 4 MCIDs)). The one-group "
        "models have no trend parameter: use 'sensitivity bias --stage'.",
        ("none", "auto", "early", "established"),
    ),
) -> None:
    """Fit a Bayesian model with nutpie and save the run (NetCDF + provenance)."""
    with _fit_gc_thresholds():
        # every argument and the data are checked before the sampler is imported (seconds)
        from milkbayes.engine.fit import (
            fit,
            load_model,
            resolve_draws,
            resolve_likelihood,
            resolve_prior,
            resolve_target_accept,
        )
        from milkbayes.engine.runs import check_run_target, save_run
        from milkbayes.engine.sampling import check_sampler_settings

        module = load_model(model)
        draws = resolve_draws(module, draws)
        check_sampler_settings(draws=draws, tune=tune, chains=chains, seed=seed)
        if target_accept is not None:
            resolve_target_accept(None, target_accept)
        if mcid is not None and not math.isfinite(mcid):
            raise MilkbayesError(f"--mcid must be a finite number, not {mcid}")
        study = options.load()
        likelihood = resolve_likelihood(module, likelihood)
        prior_set = resolve_prior(prior, study, module.NAME)
        if stage != "none":
            from milkbayes.sensitivity.bias import with_stage_trend

            prior_set = with_stage_trend(prior_set, study, stage)
        run_dir = (
            out
            if out is not None
            else _default_out(module.NAME, likelihood, str(prior_set.name), seed)
        )
        check_run_target(run_dir, force=force)  # before sampling, not after
        _freeze_heap_at_exit()
        _import_sampler()
        _warn_reconstructed(study.reconstructed)
        from milkbayes.progress import progress_reporter

        console = _stderr_console()
        console.print(
            f"fitting {module.NAME} ({likelihood}, prior {prior_set.name}): "
            f"{chains} chains x {draws} draws",
            markup=False,
        )
        # a fit takes seconds: plain lines (stderr not a terminal) from 2 s on, every 2 s
        with progress_reporter(first=FIT_PROGRESS_FIRST, interval=FIT_PROGRESS_FIRST) as progress:
            result = fit(
                module.NAME,
                study,
                prior=prior_set,
                likelihood=likelihood,
                mcid=mcid,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed,
                target_accept=target_accept,
                stage_progress=progress,
                run_folder=True,
            )
            progress("write", 0, 1)
            saved = save_run(result, run_dir, force=force, command_line=_command_line(ctx))
            progress("write", 1, 1)
        console.print(f"run saved in {saved}", markup=False)
        if result.summary.get("design_note"):
            console.print(f"note: {result.summary['design_note']}", markup=False)
        rows = [row.as_dict() for row in result.diagnostics.rows]
        _shout_failures(rows, module.NAME)
        for remedy in _remedies(result):
            _stderr_console().print(f"  what to do: {remedy}", markup=False)
        if as_json:
            _echo_json(_fit_payload(result, saved))
        else:
            _print_fit(result, saved, rows)
        if strict and not result.diagnostics.ok:
            _exit_diagnostics_failed()


def _import_sampler() -> None:
    """Import nutpie (and with it ArviZ, xarray, pandas), once every input is checked.

    The import takes most of a second on its own and more than half of the command's
    time in all; a wrong option or a malformed data file is reported before it (the
    modules a check needs are light: the data are read with pandas alone). nutpie is
    imported before PyMC: ArviZ's NumPyro converter asks ``lazy_loader`` for JAX,
    which (JAX being absent) records its caller with ``inspect.stack()``, whose cost
    grows with the modules loaded.
    """
    import nutpie  # noqa: F401


def _freeze_heap_at_exit() -> None:
    """Let the interpreter end without a full collection of the heap a fit leaves.

    At exit Python collects every generation: the millions of objects PyMC, nutpie,
    ArviZ, SciPy, xarray and dask left alive, about as long as the NetCDF write
    (0.8 s measured on a busy machine, 0.13 s with the heap frozen). The operating
    system takes the memory back anyway; ``reanalyze`` does the same
    (:func:`milkbayes.cli.report_commands._freeze_heap_at_exit`, registered once per
    process, so an in-process caller pays nothing until it exits).
    """
    from milkbayes.cli.report_commands import _freeze_heap_at_exit as freeze

    freeze()


@contextlib.contextmanager
def _fit_gc_thresholds() -> Iterator[None]:
    """Run the block with no full collection (:data:`FIT_GC_FULL_THRESHOLD`), then restore."""
    previous = gc.get_threshold()
    gc.set_threshold(previous[0], previous[1], FIT_GC_FULL_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _command_line(ctx: typer.Context) -> dict[str, Any]:
    """What was asked: the process arguments and the parsed options of this command.

    Both are kept: they differ when :func:`milkbayes.cli.main` is called from Python.
    """
    params = {
        key: (str(value) if isinstance(value, Path) else value) for key, value in ctx.params.items()
    }
    return {"argv": ["milkbayes", *sys.argv[1:]], "command": ctx.command_path, "params": params}


def _print_mcid(console, study, mcid: float | None) -> None:
    """Print the MCID used (or the default the named priors are calibrated on).

    With its source: every probability against it inherits its credibility.
    """
    from milkbayes.models.priors import ANCHORS, mcid_statement

    if getattr(study.outcome, "kind", None) not in ANCHORS:
        return
    line = mcid_statement(study, mcid)
    if mcid is None:
        line = f"no --mcid; the named priors are calibrated on the default {line}"
    console.print(line, markup=False)


def _print_fit(result, run_dir: Path, rows: list[dict]) -> None:
    from rich.table import Table

    console = _stdout_console()
    if result.reconstructed:
        from milkbayes import RECONSTRUCTED_WARNING

        console.print(f"[bold yellow]{RECONSTRUCTED_WARNING}[/]")
    from milkbayes.report.formatting import fmt_prob  # "> 0.999", as the report prints

    summary = result.summary
    # a model whose effect has no outcome units (signed_rank's delta) says so
    unit = summary.get("effect_unit") or getattr(result.study.outcome, "unit", None) or ""
    table = Table(
        title=_literal(
            f"{result.model_name} ({result.likelihood}), prior "
            f"{result.prior.name}: effect '{summary['effect_variable']}'"
        )
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("posterior median", _literal(f"{summary['effect_median']:.3g} {unit}".strip()))
    table.add_row(
        "95 % CrI (equal-tailed)",
        f"{summary['effect_ci95_low']:.3g} to {summary['effect_ci95_high']:.3g}",
    )
    table.add_row("P(effect > 0)", fmt_prob(summary["p_effect_gt_0"]))
    if summary.get("mcid") is None:
        table.add_row("P(effect > MCID)", "no MCID given (--mcid)")
    else:
        table.add_row(f"P(effect > {summary['mcid']:g})", fmt_prob(summary["p_effect_gt_mcid"]))
    if summary.get("benefit") == "decrease":
        # lower is better: the benefit is the fall, on the effect's own (signed) scale
        table.add_row("P(benefit) = P(effect < 0)", fmt_prob(summary["p_benefit"]))
        if summary.get("mcid") is not None:
            table.add_row(
                f"P(benefit > MCID) = P(effect < {-summary['mcid']:g})",
                fmt_prob(summary["p_benefit_gt_mcid"]),
            )
    for key, value in summary.items():
        if key in KEY_ORDER or key in BENEFIT_KEYS:
            continue
        if key in ("effect_variable", "effect_mean", "effect_unit"):
            continue
        for label, text in _flatten(key, value):
            table.add_row(_literal(label), _literal(text))
    console.print(table)
    _print_mcid(console, result.study, summary.get("mcid"))
    console.print(_diagnostics_table(rows, f"Convergence: {result.diagnostics.status}"))
    console.print(f"run folder: {run_dir}", markup=False)


# ----------------------------------------------------------------------------- diagnose
def diagnose_command(
    run_dir: Path = typer.Argument(..., help="A run folder written by `milkbayes fit`."),
    strict: bool = flag("--strict", _STRICT_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Recompute the diagnostics of a saved run: convergence, predictive checks, LOO-PIT."""
    from milkbayes.diagnostics import convergence_report
    from milkbayes.engine.runs import load_run

    saved = load_run(run_dir)
    reconstructed = bool(saved.provenance.get("reconstructed", False))
    _warn_reconstructed(reconstructed)
    report = convergence_report(saved.tree)
    rows = [row.as_dict() for row in report.rows]
    checks, check_note = _predictive_checks(saved)
    pit, pit_note = _loo_pit(saved.tree)
    _shout_failures(rows, str(run_dir))
    payload = {
        "run_dir": str(run_dir),
        "model": saved.provenance.get("model"),
        **report.to_dict(),
        "predictive_checks": [check.as_dict() for check in checks],
        "predictive_checks_note": check_note,
        "loo_pit": None
        if pit is None
        else {k: v for k, v in pit.as_dict().items() if k != "values"},
        "loo_pit_note": pit_note,
        "reconstructed": reconstructed,
        "warning": saved.provenance.get("warning"),
    }
    if as_json:
        _echo_json(payload)
    else:
        _print_diagnose(payload, rows)
    if strict and not report.ok:
        _exit_diagnostics_failed()


def _study_of_run(provenance: dict):
    """The study a run was fitted to, if it can be found unchanged (same SHA-256)."""
    source = str(provenance.get("data", {}).get("source", ""))
    sha = provenance.get("data", {}).get("sha256")
    try:
        if source.startswith("bundled:"):
            from milkbayes.datasets import load_bundled

            study = load_bundled(source.removeprefix("bundled:"))
        elif source and Path(source).is_file():
            from milkbayes.data import load_study

            study = load_study(source)
        else:
            return None, f"the data file {source!r} is not available"
    except MilkbayesError as error:
        return None, f"the data could not be reloaded ({error})"
    if sha and study.sha256 != sha:
        return None, f"{source} changed since the fit (SHA-256 differs)"
    return study, ""


def _predictive_checks(saved):
    from milkbayes.diagnostics import level_checks_of, predictive_checks, simulated_changes

    study, note = _study_of_run(saved.provenance)
    if study is None:
        return (), f"posterior predictive checks skipped: {note}"
    found = simulated_changes(saved.tree, study)
    if found is None:
        return (
            (),
            "posterior predictive checks not available: the model does not observe "
            "the changes or the pre/post outcome",
        )
    checks = predictive_checks(*found, kind="posterior")
    return checks + level_checks_of(saved.tree, study, "posterior"), ""


def _loo_pit(tree):
    from milkbayes.diagnostics import loo_pit

    try:
        return loo_pit(tree), ""
    except ValueError as error:
        return None, f"LOO-PIT not available: {error}"


def _print_diagnose(payload: dict, rows: list[dict]) -> None:
    from rich.table import Table

    console = _stdout_console()
    if payload["reconstructed"]:
        console.print(f"[bold yellow]{_literal(payload['warning'])}[/]")
    console.print(
        _diagnostics_table(rows, f"Convergence of {payload['run_dir']}: {payload['status']}")
    )
    if payload["predictive_checks"]:
        table = Table(title="Posterior predictive checks")
        for header in ("statistic", "observed", "predicted (95 %)", "p", "status"):
            table.add_column(header)
        for check in payload["predictive_checks"]:
            table.add_row(
                _literal(check["statistic"]),
                f"{check['observed']:.3g}",
                f"{check['predicted_median']:.3g} ({check['predicted_low']:.3g} "
                f"to {check['predicted_high']:.3g})",
                f"{check['p_value']:.3f}",
                check["status"],
            )
        console.print(table)
    else:
        console.print(payload["predictive_checks_note"], markup=False)
    pit = payload["loo_pit"]
    if pit is None:
        console.print(payload["loo_pit_note"], markup=False)
    else:
        console.print(
            f"LOO-PIT ({pit['variable']}): KS D = {pit['ks_statistic']:.3f}, "
            f"p = {pit['ks_p_value']:.3f} -> {pit['status']} ({pit['note']})",
            markup=False,
        )
