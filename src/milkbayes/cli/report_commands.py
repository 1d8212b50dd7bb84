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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from milkbayes.cli.data_options import DataOptions, choice, data_options, flag
from milkbayes.errors import MilkbayesError

_JSON_HELP = "Print one JSON object on stdout instead of text."


def register(app: typer.Typer) -> None:
    """Add ``reanalyze``, ``report`` and ``compare`` to ``app``."""
    app.command("reanalyze")(reanalyze)
    app.command("report")(report)
    app.command("compare")(compare)


# ----------------------------------------------------------------------------- helpers
PLAIN_PROGRESS_INTERVAL = 10.0
"""Seconds between two plain progress lines when stderr is not a terminal.

The environment variable ``MILKBAYES_PROGRESS_INTERVAL`` (seconds, > 0) overrides it,
e.g. for a log that should be denser or sparser.
"""


def _plain_interval() -> float:
    """:data:`PLAIN_PROGRESS_INTERVAL`, or ``MILKBAYES_PROGRESS_INTERVAL`` when valid."""
    import math
    import os

    try:
        value = float(os.environ.get("MILKBAYES_PROGRESS_INTERVAL", ""))
    except ValueError:
        return PLAIN_PROGRESS_INTERVAL
    return value if math.isfinite(value) and value > 0 else PLAIN_PROGRESS_INTERVAL


def _duration(seconds: float) -> str:
    """A rough human duration: ``"40 s"``, ``"3 min"``, ``"1 h 05 min"``.

    Examples
    --------
    >>> _duration(42.4), _duration(170), _duration(3900)
    ('42 s', '3 min', '1 h 05 min')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """``progress(stage, done, total)`` as plain lines, for a stderr that is not a terminal.

    A log file or a pipe gets no progress bar (rich draws nothing there until the
    end), so long work would look hung. This prints ``"compare: 120/2000, about
    2 min left"`` at most once every ``interval`` seconds, and a stage's end
    (``"compare: done in 4 min"``) only for stages that took at least that long, so
    a short run prints nothing. The estimate of the time left is the rate since the
    stage's current count began (a stage that changes its total, e.g. from
    candidates to refits, starts its estimate again).

    Parameters
    ----------
    write : callable(str)
        Receives each line (without newline).
    interval : float
        Least seconds between two lines.
    clock : callable() -> float
        Monotonic seconds (a parameter so that tests can drive it).

    Examples
    --------
    >>> now = [0.0]
    >>> lines = []
    >>> progress = PlainProgress(lines.append, interval=10, clock=lambda: now[0])
    >>> for step in range(1, 101):
    ...     now[0] = step * 1.0
    ...     progress("compare", step, 100)
    >>> lines[:2]
    ['compare: 10/100, about 90 s left', 'compare: 20/100, about 80 s left']
    >>> lines[-1]
    'compare: done in 99 s'
    """

    def __init__(self, write, *, interval: float = PLAIN_PROGRESS_INTERVAL, clock=None):
        import threading
        import time

        self._lock = threading.Lock()  # the heartbeat thread also writes
        self._write = write
        self._interval = interval
        self._clock = clock or time.monotonic
        self._last_line = self._clock()
        self._stage: str | None = None
        self._stage_start = 0.0
        self._base: tuple[float, int, int] | None = None  # (time, done, total)
        self._ended: str | None = None  # the stage whose end was last reported

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Record progress; print a line if the last one is old enough."""
        with self._lock:
            self._record(stage, done, total)

    def _record(self, stage: str, done: int, total: int) -> None:
        now = self._clock()
        if stage != self._stage:
            self._stage, self._stage_start, self._base = stage, now, None
        if self._base is None or self._base[2] != total or done < self._base[1]:
            self._base = (now, done, total)
        if total > 0 and done >= total:
            late = now - self._stage_start >= self._interval
            if late and self._ended != stage:
                self._ended = stage
                self._emit(now, f"{stage}: done in {_duration(now - self._stage_start)}")
            return
        if self._ended == stage:
            self._ended = None
        if now - self._last_line < self._interval:
            return
        line = f"{stage}: {done}/{total}"
        start, start_done, _ = self._base
        if done > start_done and now > start:
            left = (now - start) / (done - start_done) * (total - done)
            line += f", about {_duration(left)} left"
        self._emit(now, line)

    def heartbeat(self) -> None:
        """Say which stage is still running when it has been silent for a while.

        Some stages (e.g. the diagnostics of a large study) report no steps; this is
        called every ``interval`` seconds by :func:`_progress_bars` and prints
        ``"diagnostics: still running (3 min)"`` once the last line is six
        intervals old.
        """
        with self._lock:
            now = self._clock()
            if self._stage is not None and now - self._last_line >= 6 * self._interval:
                running = _duration(now - self._stage_start)
                self._emit(now, f"{self._stage}: still running ({running})")

    def _emit(self, now: float, line: str) -> None:
        self._last_line = now
        self._write(line)


@contextmanager
def _progress_bars(enabled: bool):
    """A ``progress(stage, done, total)`` callback reporting on stderr.

    Rich bars on a terminal; :class:`PlainProgress` lines otherwise.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        import threading

        interval = _plain_interval()
        plain = PlainProgress(lambda line: typer.echo(line, err=True), interval=interval)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                plain.heartbeat()

        threading.Thread(target=beat, name="milkbayes-progress", daemon=True).start()
        try:
            yield plain
        finally:
            stop.set()
        return
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=max(total, 1))
            bars.update(tasks[stage], completed=done, total=max(total, 1))

        yield progress


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
        "study description's, else 10 ml / 2 points per 10 / half an SD of pre).",
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
    )
    check_sampler_settings(
        draws=settings.draws, tune=settings.tune, chains=settings.chains, seed=seed
    )
    study = options.load()
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
                "ensemble": _ensemble_json(summary.get("ensemble")),
                "timings": result.timings,
            }
        )
    else:
        reference = summary["bayes"].get("reference_prior", "neutral")
        neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == reference)
        design = summary.get("design") or {}
        if design.get("design") == "two_arm":
            typer.echo(
                f"two arms ({design['n_massage']} massage, {design['n_control']} control): "
                f"model {design['main_model']}, effect = massage change - control change"
            )
        source = (
            ", from the bundled worked-example reconstruction" if summary["reconstructed"] else ""
        )
        typer.echo(
            f"effect ({reference} prior{source}): median {neutral['median']:.2f} "
            f"{summary['bayes']['unit']}, 95 % CrI [{neutral['ci95_low']:.2f}, "
            f"{neutral['ci95_high']:.2f}]; diagnostics: "
            f"{summary['diagnostics']['overall']}"
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
    """Compare models by cross-validation by mother, with PSIS-LOO k and stacking weights."""
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
