"""``milkbayes sensitivity prior-grid | likelihood | influence | ensemble | published-p | bias``.

One command is one call of :mod:`milkbayes.sensitivity`. Text output is a rich table
and the headline numbers on stdout; ``--json`` prints exactly one JSON object
instead (through :func:`milkbayes.jsonio.dumps`: NaN as null, infinities as "inf");
``--figure PATH`` also saves the analysis's figure (PNG, SVG or PDF by the file's
suffix), whole or not at all (:func:`milkbayes.storage.atomic_write_bytes`). Progress
and warnings go to stderr. Bad options raise :class:`~milkbayes.errors.MilkbayesError`,
which :func:`milkbayes.cli.main` turns into one line on stderr and exit status 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from milkbayes.cli.data_options import DataOptions, choice, data_options, flag
from milkbayes.errors import MilkbayesError

sensitivity_app = typer.Typer(
    name="sensitivity",
    help="How much the conclusion depends on the prior, likelihood, data and design.",
    no_args_is_help=True,
)

_JSON_HELP = "Print one JSON object on stdout instead of tables."
_FIGURE_HELP = "Also save the figure to this file (.png, .svg or .pdf)."
_MCID_HELP = "Minimal clinically important difference, in outcome units (default: per outcome)."
_PRIOR_HELP = "Named prior set (skeptical, neutral, enthusiastic, literature) or a TOML file."


def register(app: typer.Typer) -> None:
    """Add the ``sensitivity`` command group to ``app``."""
    app.add_typer(sensitivity_app, name="sensitivity")
    app.command("bayes-ttest")(bayes_ttest_command)


@data_options()
def bayes_ttest_command(
    options: DataOptions = None,
    r: float = typer.Option(
        0.7071067811865476, "--r", help="Width of the Cauchy prior on delta (JASP: 0.707)."
    ),
    figure: Path = typer.Option(
        None, "--figure", help="Prior/posterior, sequential and robustness plots (png, pdf, svg)."
    ),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Bayesian paired t-test as JASP reports it: BF10, BF01, BF+0, error %, three plots."""
    from milkbayes.sensitivity.bayes_ttest import bayes_ttest

    _check_figure_path(figure)
    _emit(bayes_ttest(_study(options, "paired_change"), r=r), as_json, figure)


# ----------------------------------------------------------------------------- helpers
def _study(options: DataOptions, model: str | None):
    """The study a one-group tool analyses: the massage arm when there is a control arm.

    The sensitivity tools refit one-group models (their effect is the pre-to-post
    change), so with a control arm they would pool the arms; they get the massage
    arm, and stderr says so. A two-arm model (``--model two_arm``) gets every row.
    """
    study = options.load()
    if not study.has_control:
        return study
    from milkbayes.models.contract import design_rows
    from milkbayes.models.registry import load_model

    rows, note = design_rows(load_model(model or "paired_change"), study)
    if note is not None:
        typer.echo(f"note: {note}", err=True)
    return rows


def _sampler(draws: int, tune: int, chains: int, seed: int):
    from milkbayes.sensitivity import SamplerOptions

    for name, value, minimum in (
        ("--draws", draws, 1),
        ("--tune", tune, 0),
        ("--chains", chains, 1),
        ("--seed", seed, 0),
    ):
        if value < minimum:
            raise MilkbayesError(f"{name} must be >= {minimum}, not {value}")
    return SamplerOptions(draws=draws, tune=tune, chains=chains, seed=seed)


def _numbers(text: str | None, option: str) -> list[float] | None:
    """Parse "0.1,0.5, 1" into floats; a clear error names the option and the bad item."""
    if text is None:
        return None
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = float(item)
        except ValueError:
            raise MilkbayesError(
                f"{option}: {item!r} is not a number (give comma-separated numbers, e.g. 0.2,0.5,1)"
            ) from None
        if not math.isfinite(value):
            raise MilkbayesError(f"{option}: {item!r} is not a finite number")
        values.append(value)
    return values


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [item.strip() for item in text.split(",") if item.strip()]


def _check_figure_path(figure: Path | None) -> None:
    """Refuse a bad ``--figure`` before any computation (see storage.check_figure_path)."""
    if figure is not None:
        from milkbayes.storage import check_figure_path

        check_figure_path(figure, option="--figure")


def _records(table) -> list[dict[str, Any]]:
    return table.to_dict(orient="records")


def payload(result) -> dict[str, Any]:
    """The JSON-ready object of one :class:`~milkbayes.sensitivity.SensitivityResult`.

    Numbers stay numbers (numpy's included); :func:`milkbayes.jsonio.dumps` applies
    the JSON policy when it is written.
    """
    return {
        "analysis": result.name,
        "title": result.title,
        "summary": dict(result.summary),
        "table": _records(result.table),
        "extra_tables": {name: _records(table) for name, table in result.extra_tables.items()},
        "notes": list(result.notes),
        "reconstructed": result.reconstructed,
        "warning": result.warning,
    }


def _emit(result, as_json: bool, figure: Path | None) -> None:
    if figure is not None:
        from milkbayes.storage import save_figure

        save_figure(result.figure, figure, dpi=120)
        typer.echo(f"figure written to {figure}", err=True)
    if as_json:
        from milkbayes.jsonio import dumps

        typer.echo(dumps(payload(result)))
        return
    _print_result(result)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _benefit_headers(summary) -> dict[str, str]:
    """Headers of the P(benefit) columns of a lower-is-better outcome's table."""
    from milkbayes.comparison.tables import benefit_label

    if summary.get("benefit") != "decrease":
        return {}
    mcid = summary.get("mcid")
    mcid = float(mcid) if isinstance(mcid, (int, float)) and math.isfinite(mcid) else None
    return {
        "p_benefit": benefit_label("decrease"),
        "p_benefit_gt_mcid": benefit_label("decrease", mcid)
        if mcid is not None
        else "P(benefit > MCID)",
    }


def _print_result(result) -> None:
    import sys

    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    # wide enough for every column when piped to a file; the terminal's width otherwise
    # markup=False: ids, labels and notes are user text printed literally (an id "[/]"
    # would otherwise be a rich markup error)
    console = Console(
        highlight=False, soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 200
    )
    if result.reconstructed:
        console.print(
            Panel(result.warning, title="RECONSTRUCTED DATA", style="bold yellow", expand=False)
        )
    table = Table(title=result.title)
    headers = _benefit_headers(result.summary)
    for column in result.table.columns:
        table.add_column(
            headers.get(str(column), str(column)),
            justify="left" if column in ("id", "likelihood", "distribution") else "right",
        )
    for row in result.table.itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    console.print(table)
    for key, value in result.summary.items():
        console.print(f"{key}: {_cell(value)}")
    for note in result.notes:
        console.print(f"note: {note}")


# ----------------------------------------------------------------------------- commands
_SAMPLER_OPTIONS = {
    "draws": typer.Option(500, "--draws", help="Draws kept per chain."),
    "tune": typer.Option(300, "--tune", help="Warm-up draws per chain."),
    "chains": typer.Option(2, "--chains", help="Number of chains."),
    "sampler_seed": typer.Option(20241, "--seed", help="Seed of every refit."),
    "old_seed": typer.Option(
        None, "--sampler-seed", help="Deprecated name of --seed.", hidden=True
    ),
}


def _seed(seed: int, old: int | None) -> int:
    """``--seed``, or the deprecated ``--sampler-seed`` when that was given."""
    return seed if old is None else old


@sensitivity_app.command("prior-grid")
@data_options()
def prior_grid_command(
    options: DataOptions = None,
    model: str = typer.Option("paired_change", "--model", help="Model whose effect prior varies."),
    locations: str = typer.Option(
        None, "--locations", help="Comma-separated prior locations (default: 7 values)."
    ),
    scales: str = typer.Option(
        None, "--scales", help="Comma-separated prior scales (default: 8 values)."
    ),
    likelihood: str = typer.Option(None, "--likelihood", help="The model's likelihood."),
    base_prior: str = typer.Option(
        "neutral", "--base-prior", help="Named set for the other hyperparameters."
    ),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    family: str = typer.Option(
        None,
        "--family",
        help="Prior family of the effect: cauchy or normal (default: the model's own; "
        "normal on delta for the paired designs is computed by quadrature, no refits).",
    ),
    draws: int = typer.Option(200, "--draws", help="Draws kept per chain."),
    tune: int = typer.Option(150, "--tune", help="Warm-up draws per chain."),
    chains: int = typer.Option(2, "--chains", help="Number of chains."),
    sampler_seed: int = _SAMPLER_OPTIONS["sampler_seed"],
    old_seed: int = _SAMPLER_OPTIONS["old_seed"],
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Refit over a grid of prior locations x scales; with the BF10-against-r curve."""
    from milkbayes.sensitivity import prior_grid

    _check_figure_path(figure)
    from milkbayes.progress import progress_reporter

    with progress_reporter(first=2.0) as progress:
        result = prior_grid(
            _study(options, model),
            model,
            locations=_numbers(locations, "--locations"),
            scales=_numbers(scales, "--scales"),
            mcid=mcid,
            likelihood=likelihood,
            base_prior=base_prior,
            sampler=_sampler(draws, tune, chains, _seed(sampler_seed, old_seed)),
            progress=progress,
            family=family,
        )
    _emit(result, as_json, figure)


@sensitivity_app.command("likelihood")
@data_options()
def likelihood_command(
    options: DataOptions = None,
    model: str = typer.Option(
        None, "--model", help="Default prepost_hierarchical (else paired_change)."
    ),
    likelihoods: str = typer.Option(
        None, "--likelihoods", help="Comma-separated likelihoods (default: all that fit)."
    ),
    prior: str = typer.Option("neutral", "--prior", help=_PRIOR_HELP),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    draws: int = _SAMPLER_OPTIONS["draws"],
    tune: int = _SAMPLER_OPTIONS["tune"],
    chains: int = _SAMPLER_OPTIONS["chains"],
    sampler_seed: int = _SAMPLER_OPTIONS["sampler_seed"],
    old_seed: int = _SAMPLER_OPTIONS["old_seed"],
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """The effect under normal, Student-t and log-normal likelihoods, side by side."""
    from milkbayes.sensitivity import likelihood_variants

    _check_figure_path(figure)
    from milkbayes.progress import progress_reporter

    with progress_reporter(first=2.0) as progress:
        result = likelihood_variants(
            _study(options, model),
            model,
            likelihoods=_names(likelihoods),
            prior=prior,
            mcid=mcid,
            sampler=_sampler(draws, tune, chains, _seed(sampler_seed, old_seed)),
            progress=progress,
        )
    _emit(result, as_json, figure)


@sensitivity_app.command("influence")
@data_options()
def influence_command(
    options: DataOptions = None,
    model: str = typer.Option("paired_change", "--model", help="Model to refit."),
    likelihood: str = typer.Option(None, "--likelihood", help="The model's likelihood."),
    prior: str = typer.Option("neutral", "--prior", help=_PRIOR_HELP),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    draws: int = _SAMPLER_OPTIONS["draws"],
    tune: int = _SAMPLER_OPTIONS["tune"],
    chains: int = _SAMPLER_OPTIONS["chains"],
    sampler_seed: int = _SAMPLER_OPTIONS["sampler_seed"],
    old_seed: int = _SAMPLER_OPTIONS["old_seed"],
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Leave each mother out in turn (mother_weight = 0) and refit."""
    from milkbayes.sensitivity import influence

    _check_figure_path(figure)
    from milkbayes.progress import progress_reporter

    with progress_reporter(first=2.0) as progress:
        result = influence(
            _study(options, model),
            model,
            prior=prior,
            likelihood=likelihood,
            mcid=mcid,
            sampler=_sampler(draws, tune, chains, _seed(sampler_seed, old_seed)),
            progress=progress,
        )
    _emit(result, as_json, figure)


@sensitivity_app.command("ensemble")
def ensemble_command(
    scenario: str = typer.Option("volume_ml", "--scenario", help="volume_ml or score."),
    k: int = typer.Option(20, "--k", help="Number of reconstructed datasets."),
    seed: int = typer.Option(0, "--seed", help="Seed of the ensemble of reconstructions."),
    vary: list[str] = typer.Option(
        None,
        "--vary",
        help="Vary an assumption of the generator: NAME=LOW:HIGH (uniform) or "
        "NAME=v1,v2,... (repeatable). Default: every outcome assumption over wide "
        "ranges (see sensitivity.DEFAULT_VARY).",
    ),
    seeds_only: bool = typer.Option(
        False, "--seeds-only", metavar="", help="Vary only the seed, at the default assumptions."
    ),
    from_abc: bool = typer.Option(
        False,
        "--from-abc",
        metavar="",
        help="Take the members from the ABC reconstruction posterior.",
    ),
    max_proposals: int = typer.Option(
        None, "--max-proposals", help="Proposal budget (default 50 x k)."
    ),
    model: str = typer.Option(
        "prepost_hierarchical", "--model", help="Model to refit (compiled once)."
    ),
    likelihood: str = typer.Option(None, "--likelihood", help="The model's likelihood."),
    prior: str = typer.Option("neutral", "--prior", help=_PRIOR_HELP),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    draws: int = typer.Option(300, "--draws", help="Draws kept per chain."),
    tune: int = typer.Option(200, "--tune", help="Warm-up draws per chain."),
    chains: int = _SAMPLER_OPTIONS["chains"],
    sampler_seed: int = _SAMPLER_OPTIONS["sampler_seed"],
    old_seed: int = _SAMPLER_OPTIONS["old_seed"],
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Refit K reconstructions that all match the paper, under VARIED assumptions."""
    from milkbayes.sensitivity import assumption_ensemble

    _check_figure_path(figure)
    if sum((bool(vary), seeds_only, from_abc)) > 1:
        raise MilkbayesError("choose one of --vary, --seeds-only and --from-abc")
    if max_proposals is not None and max_proposals < 1:
        raise MilkbayesError(f"--max-proposals must be >= 1, not {max_proposals}")
    from milkbayes.progress import progress_reporter

    with progress_reporter(first=2.0) as progress:
        result = assumption_ensemble(
            scenario,
            k,
            seed,
            vary=[] if seeds_only else (vary or None),
            from_abc=from_abc,
            max_proposals=max_proposals,
            model=model,
            prior=prior,
            likelihood=likelihood,
            mcid=mcid,
            sampler=_sampler(draws, tune, chains, _seed(sampler_seed, old_seed)),
            progress=lambda done, total: progress("ensemble", done, total),
        )
    _emit(result, as_json, figure)


@sensitivity_app.command("published-p")
def published_p_command(
    n: int = typer.Option(24, "--n", help="Published sample size."),
    p_threshold: float = typer.Option(
        0.0005, "--p-threshold", help="Published bound on p (SPSS '0.000': p < .0005)."
    ),
    prior: str = typer.Option("cauchy", "--prior", help="Prior on delta: cauchy or normal."),
    prior_scale: float = typer.Option(
        math.sqrt(2) / 2, "--prior-scale", help="Scale of the prior on delta."
    ),
    distributions: str = typer.Option(
        "normal,t3", "--distributions", help="Shapes of the changes: normal, t3, t5."
    ),
    alternative: str = typer.Option(
        "greater", "--alternative", help="greater (post > pre, as reported) or two-sided."
    ),
    n_sim: int = typer.Option(20_000, "--sims", help="Simulations of the power function."),
    old_n_sim: int = typer.Option(None, "--n-sim", help="Deprecated name of --sims.", hidden=True),
    seed: int = typer.Option(20241, "--seed", help="Seed of the simulation."),
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Posterior of the standardised effect given only 'n = 24, Wilcoxon p < .0005'."""
    from milkbayes.sensitivity import published_p_posterior

    _check_figure_path(figure)
    if seed < 0:
        raise MilkbayesError(f"--seed must be >= 0, not {seed}")
    if old_n_sim is not None:
        n_sim = old_n_sim
    result = published_p_posterior(
        n,
        p_threshold,
        prior=prior,
        prior_scale=prior_scale,
        distributions=_names(distributions) or [],
        alternative=alternative,
        n_sim=n_sim,
        seed=seed,
    )
    _emit(result, as_json, figure)


@sensitivity_app.command("bias")
@data_options()
def bias_command(
    options: DataOptions = None,
    model: str = typer.Option("paired_change", "--model", help="Model of the observed change."),
    likelihood: str = typer.Option(None, "--likelihood", help="The model's likelihood."),
    prior: str = typer.Option("neutral", "--prior", help=_PRIOR_HELP),
    mcid: float = typer.Option(None, "--mcid", help=_MCID_HELP),
    trend_mean: float = typer.Option(
        None, "--trend-mean", help="Prior mean of the natural change without massage."
    ),
    trend_sd: float = typer.Option(None, "--trend-sd", help="Its prior sd (>= 0)."),
    stage: str = choice(
        "auto",
        "--stage",
        "Stage of lactation of the prior on the change without massage: the stage's "
        "natural trend (sourced) plus a regression-to-the-mean term from the data. auto: "
        "the study's own (the paper's working mothers: established; other data: none); "
        "none: the unsourced default Normal(3, 3) ml. Volumes only.",
        ("auto", "early", "established", "none"),
    ),
    prob_positive: float = typer.Option(
        0.95, "--prob-positive", help="Threshold on P(effect > 0)."
    ),
    prob_mcid: float = typer.Option(0.5, "--prob-mcid", help="Threshold on P(effect > MCID)."),
    draws: int = _SAMPLER_OPTIONS["draws"],
    tune: int = _SAMPLER_OPTIONS["tune"],
    chains: int = _SAMPLER_OPTIONS["chains"],
    sampler_seed: int = _SAMPLER_OPTIONS["sampler_seed"],
    old_seed: int = _SAMPLER_OPTIONS["old_seed"],
    figure: Path = typer.Option(None, "--figure", help=_FIGURE_HELP),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Tipping points: how large a natural rise would overturn the conclusion."""
    from milkbayes.sensitivity import bias_analysis

    _check_figure_path(figure)
    result = bias_analysis(
        _study(options, model),
        model=model,
        prior=prior,
        likelihood=likelihood,
        mcid=mcid,
        trend_mean=trend_mean,
        trend_sd=trend_sd,
        prob_positive=prob_positive,
        prob_mcid=prob_mcid,
        sampler=_sampler(draws, tune, chains, _seed(sampler_seed, old_seed)),
        stage=stage,
    )
    _emit(result, as_json, figure)
