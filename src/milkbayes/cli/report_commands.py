"""``milkbayes reanalyze | report | compare``: the main job, re-rendering, model comparison.

One command is one library call (:func:`milkbayes.reanalysis.pipeline.run_reanalysis`,
:func:`milkbayes.report.render.rerender`, :func:`milkbayes.reanalysis.pipeline.compare_candidates`).
Progress goes to stderr: rich bars on a terminal, a plain line every few seconds
otherwise (:class:`PlainProgress`); ``--json`` prints one JSON object on stdout and nothing
else. A failing diagnostic under ``--strict`` exits with status 3 after the report
is written.
"""

from __future__ import annotations

from pathlib import Path

import typer

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


def _echo_json(payload: dict) -> None:
    from milkbayes.jsonio import dumps

    typer.echo(dumps(payload))


def _warn_reconstructed(reconstructed: bool) -> None:
    if reconstructed:
        from milkbayes import RECONSTRUCTED_WARNING

        typer.echo(RECONSTRUCTED_WARNING, err=True)


# ----------------------------------------------------------------------------- commands
def reanalyze(
    data: Path | None = typer.Option(
        None, "--data", help="Study CSV (default: the bundled reconstructed volume data)."
    ),
    out: Path = typer.Option(Path("milkbayes-report"), "--out", help="Report folder to create."),
    fast: bool = typer.Option(
        False, "--fast", help="Small sampler runs (tests, CI, previews); diagnostics may warn."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exit with status 3 when a "
        "convergence diagnostic fails (the report is still written).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing report folder."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Run the whole analysis on the bundled data or yours, and write the HTML report."""
    from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED
    from milkbayes.reanalysis.pipeline import (
        DiagnosticsFailedError,
        load_input_study,
        run_reanalysis,
    )

    study = load_input_study(data)
    _warn_reconstructed(study.reconstructed)
    failed = None
    with _progress_bars(enabled=True) as progress:
        try:
            result = run_reanalysis(
                study, out, fast=fast, strict=strict, force=force, progress=progress
            )
        except DiagnosticsFailedError as error:
            result, failed = error.result, str(error)
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
                "timings": result.timings,
            }
        )
    else:
        neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
        typer.echo(
            f"effect (neutral prior): median {neutral['median']:.2f} "
            f"{summary['bayes']['unit']}, 95 % CrI [{neutral['ci95_low']:.2f}, "
            f"{neutral['ci95_high']:.2f}]; diagnostics: "
            f"{summary['diagnostics']['overall']}"
        )
        typer.echo(f"report: {result.html}")
    if failed is not None:
        typer.echo(f"error: {failed}", err=True)
        # the report is written; cli.main passes on the status app() returns for it
        raise typer.Exit(EXIT_DIAGNOSTICS_FAILED)


def report(
    run_dir: Path = typer.Argument(..., help="A folder written by `milkbayes reanalyze`."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
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


def compare(
    data: Path | None = typer.Option(None, "--data", help="Study CSV (default: bundled)."),
    fast: bool = typer.Option(False, "--fast", help="Small sampler runs."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Compare models by cross-validation by mother, with PSIS-LOO k and stacking weights."""
    from milkbayes.reanalysis.pipeline import compare_candidates, load_input_study

    study = load_input_study(data)
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
    for column in ("model", "predicts", "elpd", "SE", "Δelpd", "SE(Δ)", "weight", "method"):
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
