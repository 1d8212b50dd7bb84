"""``milkbayes simulate power|assurance|type-sm|rtm|sbc|precision``: one library call each.

Simulations draw data from :mod:`milkbayes.simulate.dgp` with a truth the user sets,
so none of their output comes from the reconstructed data. Studies run on local
processes (``--workers``), or on a Dask cluster (``--scheduler ADDRESS``); a
``--checkpoint`` file lets an interrupted study resume. ``--json`` prints one JSON
object on stdout; progress bars go to stderr.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from milkbayes.cli.data_options import ci_prob_option
from milkbayes.errors import MilkbayesError
from milkbayes.jsonio import dumps

simulate_app = typer.Typer(
    help="Simulations with known truth: power, assurance, Type S/M, regression to the mean, "
    "SBC, precision.",
    no_args_is_help=True,
)

# Options shared by every command (typer reads them as metadata; reuse is safe).
N = typer.Option(24, "--n", help="Mothers in the massage arm.")
N_CONTROL = typer.Option(0, "--n-control", help="Mothers in a control arm (0: one group).")
EFFECT = typer.Option(6.0, "--effect", help="True mean massage effect (ml or score points).")
TREND = typer.Option(2.0, "--trend", help="Natural rise over 3 days without massage.")
# power and assurance default to a design whose power lies between 0.2 and 0.95 for
# every rule (t 0.73, Wilcoxon 0.74, BF10 > 3 0.55 at n = 24, one group): with the
# paper-sized effect of 6 ml every rule has power 1.000 and the comparison of rules,
# the point of the command, shows nothing. 1.5 ml is a modest effect, 0.5 ml a small
# natural rise over 3 days.
POWER_EFFECT = typer.Option(
    1.5, "--effect", help="True mean massage effect (ml or score points; default: a modest one)."
)
POWER_TREND = typer.Option(0.5, "--trend", help="Natural rise over 3 days without massage.")
BASELINE = typer.Option(10.0, "--baseline-mean", help="Mean true pre output.")
BETWEEN = typer.Option(4.0, "--between-sd", help="SD of true pre output between mothers.")
WITHIN = typer.Option(3.0, "--within-sd", help="SD of a mother's true change.")
MEASUREMENT = typer.Option(1.0, "--measurement-sd", help="SD of the measurement error.")
MOD_WORK = typer.Option(0.0, "--modifier-work-long", help="Extra effect, long vs short work.")
MOD_PARITY = typer.Option(0.0, "--modifier-multipara", help="Extra effect, multi- vs primipara.")
OUTCOME = typer.Option("volume", "--outcome", help="volume or score.")
DISTRIBUTION = typer.Option("lognormal", "--distribution", help="lognormal or normal volumes.")
MAX_SCORE = typer.Option(10, "--max-score", help="Maximum of the score outcome.")
SIMS = typer.Option(10_000, "--sims", help="Simulated studies.")
ALPHA = typer.Option(0.05, "--alpha", help="Significance level.")
SEED = typer.Option(1, "--seed", help="Root seed: task i uses SeedSequence(seed, spawn_key=(i,)).")
SCHEDULER = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786).")
WORKERS = typer.Option(None, "--workers", help="Local worker processes (1: in this process).")
CHECKPOINT = typer.Option(None, "--checkpoint", help="JSON-lines checkpoint file to resume from.")


def _checked_figure(path: Path | None) -> Path | None:
    """Refuse a bad ``--figure`` while the options are read, before any simulation."""
    if path is not None:
        from milkbayes.storage import check_figure_path

        check_figure_path(path, option="--figure")
    return path


FIGURE = typer.Option(
    None,
    "--figure",
    help="Save a figure (PNG, PDF or SVG) to this path.",
    callback=_checked_figure,
)
JSON = typer.Option(False, "--json", help="Print one JSON object on stdout.", metavar="")
PROGRESS = typer.Option(
    True, "--progress/--no-progress", help="Progress bar on stderr.", metavar=""
)


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command group to ``app``."""
    app.add_typer(simulate_app, name="simulate")


def _settings(
    n,
    n_control,
    effect,
    trend,
    baseline_mean,
    between_sd,
    within_sd,
    measurement_sd,
    modifier_work_long,
    modifier_multipara,
    outcome,
    distribution,
    max_score,
):
    from milkbayes.simulate.dgp import DGPSettings

    return DGPSettings(
        n=n,
        n_control=n_control,
        effect=effect,
        trend=trend,
        baseline_mean=baseline_mean,
        between_sd=between_sd,
        within_sd=within_sd,
        measurement_sd=measurement_sd,
        modifier_work_long=modifier_work_long,
        modifier_multipara=modifier_multipara,
        outcome=outcome,
        distribution=distribution,
        max_score=max_score,
    )


def _run_options(workers, scheduler, checkpoint, progress, default_workers=None) -> dict:
    return {
        "workers": workers if workers is not None else default_workers,
        "scheduler": scheduler,
        "checkpoint": checkpoint,
        "progress": progress,
    }


def _emit(command: str, result: dict, as_json: bool, lines: list[str]) -> None:
    """Print ``result`` as one JSON object (``as_json``) or as the text ``lines``.

    The JSON follows :mod:`milkbayes.jsonio`: a quantity that could not be computed
    (a Type S rate when nothing was significant) is ``null``, an infinity ``"inf"``.
    """
    payload = {
        "command": f"simulate {command}",
        "simulated": True,
        "reconstructed": False,
        "result": result,
    }
    if as_json:
        typer.echo(dumps(payload, indent=None))
    else:
        for line in lines:
            typer.echo(line)


def _power_curve(settings, n_grid: str, sims, alpha, seed, figure, as_json, fits) -> None:
    from milkbayes.simulate import design, figures

    if fits:
        raise MilkbayesError("--n-grid computes the no-sampling rules only; drop --fits")
    try:
        sizes = [int(part) for part in n_grid.split(",") if part.strip()]
    except ValueError:
        raise MilkbayesError(
            f"--n-grid takes whole numbers separated by commas, not {n_grid!r}"
        ) from None
    curve = design.power_curve(settings, sizes, sims, alpha=alpha, seed=seed, workers=1)
    _save(figures.plot_power_curve(curve) if figure else None, figure)
    lines = [
        f"power over n (effect {settings.effect:g}, trend {settings.trend:g}, {sims} "
        "simulations per n); a success is significant AND favourable:"
    ] + [
        f"  n = {row.n:<4} {row.rule:<12} {row.power:6.3f}  (MC SE {row.mc_se:.3f})"
        for row in curve.itertuples()
    ]
    _emit("power_curve", {"curve": curve.to_dict(orient="records")}, as_json, lines)


def _rule_lines(result) -> list[str]:
    """One line per rule: favourable rate, MC SE, significant harm, what it detects."""
    return [
        f"  {rule:<12} {p:6.3f}  (MC SE {result.mc_se[rule]:.3f}; significant harm "
        f"{result.harmful.get(rule, float('nan')):.3f})  detects {result.targets.get(rule, '?')}"
        for rule, p in result.power.items()
    ]


def _save(figure, path: Path | None) -> None:
    if path is None:
        return
    from milkbayes.storage import save_figure

    save_figure(figure, path, dpi=100)
    typer.echo(f"figure saved to {path}", err=True)


@simulate_app.command("power")
def power_command(
    n: int = N,
    n_control: int = N_CONTROL,
    effect: float = POWER_EFFECT,
    trend: float = POWER_TREND,
    baseline_mean: float = BASELINE,
    between_sd: float = BETWEEN,
    within_sd: float = WITHIN,
    measurement_sd: float = MEASUREMENT,
    modifier_work_long: float = MOD_WORK,
    modifier_multipara: float = MOD_PARITY,
    outcome: str = OUTCOME,
    distribution: str = DISTRIBUTION,
    max_score: int = MAX_SCORE,
    sims: int = SIMS,
    alpha: float = ALPHA,
    seed: int = SEED,
    fits: bool = typer.Option(
        False,
        "--fits/--no-fits",
        metavar="",
        help="Also fit a model to every study for the rule P(effect > 0) > 0.95 (MCMC; slower).",
    ),
    model: str = typer.Option("paired_change", "--model", help="Model for --fits."),
    prior: str = typer.Option("neutral", "--prior", help="Prior set for --fits."),
    draws: int = typer.Option(300, "--draws", help="Draws kept per chain of each fit."),
    tune: int = typer.Option(300, "--tune", help="Warm-up draws per chain."),
    chains: int = typer.Option(2, "--chains", help="Number of chains."),
    scheduler: str | None = SCHEDULER,
    workers: int | None = WORKERS,
    checkpoint: Path | None = CHECKPOINT,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
    progress: bool = PROGRESS,
    n_grid: str | None = typer.Option(
        None,
        "--n-grid",
        help="Comma-separated numbers of mothers: a power curve over n instead of one n "
        "(the control arm keeps its ratio to the massage arm).",
    ),
) -> None:
    """Power of the Wilcoxon, paired t and BF10 > 3 rules (and the posterior rule with --fits).

    BF10 uses the JZS closed form (no sampling); --fits adds the posterior rule (MCMC).
    """
    from milkbayes.simulate import design, figures

    settings = _settings(
        n,
        n_control,
        effect,
        trend,
        baseline_mean,
        between_sd,
        within_sd,
        measurement_sd,
        modifier_work_long,
        modifier_multipara,
        outcome,
        distribution,
        max_score,
    )
    if n_grid is not None:
        _power_curve(settings, n_grid, sims, alpha, seed, figure, as_json, fits)
        return
    if fits:
        result, _ = design.bayes_power(
            settings,
            sims,
            model=model,
            prior=prior,
            draws=draws,
            tune=tune,
            chains=chains,
            alpha=alpha,
            seed=seed,
            **_run_options(workers, scheduler, checkpoint, progress),
        )
    else:
        result = design.power(
            settings,
            sims,
            alpha=alpha,
            seed=seed,
            **_run_options(workers, scheduler, checkpoint, progress, 1),
        )
    _save(figures.plot_power(result) if figure else None, figure)
    _emit(
        "power",
        result.to_dict(),
        as_json,
        [
            f"power with n = {n}, n_control = {n_control}, true effect {effect:g}, "
            f"trend {trend:g} ({sims} simulations); a success is significant AND favourable:"
        ]
        + _rule_lines(result),
    )


@simulate_app.command("assurance")
def assurance_command(
    prior_mean: float = typer.Option(1.5, "--prior-mean", help="Design prior mean of the effect."),
    prior_sd: float = typer.Option(2.0, "--prior-sd", help="Design prior SD of the effect."),
    n: int = N,
    n_control: int = N_CONTROL,
    trend: float = POWER_TREND,
    baseline_mean: float = BASELINE,
    between_sd: float = BETWEEN,
    within_sd: float = WITHIN,
    measurement_sd: float = MEASUREMENT,
    modifier_work_long: float = MOD_WORK,
    modifier_multipara: float = MOD_PARITY,
    outcome: str = OUTCOME,
    distribution: str = DISTRIBUTION,
    max_score: int = MAX_SCORE,
    sims: int = SIMS,
    alpha: float = ALPHA,
    seed: int = SEED,
    scheduler: str | None = SCHEDULER,
    workers: int | None = WORKERS,
    checkpoint: Path | None = CHECKPOINT,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
    progress: bool = PROGRESS,
) -> None:
    """Assurance: power averaged over a normal design prior on the true effect."""
    from milkbayes.simulate import design, figures

    settings = _settings(
        n,
        n_control,
        prior_mean,
        trend,
        baseline_mean,
        between_sd,
        within_sd,
        measurement_sd,
        modifier_work_long,
        modifier_multipara,
        outcome,
        distribution,
        max_score,
    )
    result = design.assurance(
        settings,
        {"mean": prior_mean, "sd": prior_sd},
        sims,
        alpha=alpha,
        seed=seed,
        **_run_options(workers, scheduler, checkpoint, progress, 1),
    )
    _save(figures.plot_power(result) if figure else None, figure)
    _emit(
        "assurance",
        result.to_dict(),
        as_json,
        [
            f"assurance with n = {n}, n_control = {n_control}, effect ~ Normal({prior_mean:g}, "
            f"{prior_sd:g}) ({sims} simulations); a success is significant AND favourable:"
        ]
        + _rule_lines(result),
    )


@simulate_app.command("type-sm")
def type_sm_command(
    test: str = typer.Option("t", "--test", help="Significance rule: t, wilcoxon or z."),
    n: int = N,
    effect: float = EFFECT,
    trend: float = TREND,
    baseline_mean: float = BASELINE,
    between_sd: float = BETWEEN,
    within_sd: float = WITHIN,
    measurement_sd: float = MEASUREMENT,
    modifier_work_long: float = MOD_WORK,
    modifier_multipara: float = MOD_PARITY,
    outcome: str = OUTCOME,
    distribution: str = DISTRIBUTION,
    max_score: int = MAX_SCORE,
    sims: int = SIMS,
    alpha: float = ALPHA,
    seed: int = SEED,
    scheduler: str | None = SCHEDULER,
    workers: int | None = WORKERS,
    checkpoint: Path | None = CHECKPOINT,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
    progress: bool = PROGRESS,
) -> None:
    """Type S and Type M errors conditional on significance, with Gelman & Carlin's closed form."""
    from milkbayes.simulate import design, figures
    from milkbayes.simulate.dgp import change_sd

    settings = _settings(
        n,
        0,
        effect,
        trend,
        baseline_mean,
        between_sd,
        within_sd,
        measurement_sd,
        modifier_work_long,
        modifier_multipara,
        outcome,
        distribution,
        max_score,
    )
    simulated = design.type_sm(
        settings,
        sims,
        test=test,
        alpha=alpha,
        seed=seed,
        **_run_options(workers, scheduler, checkpoint, progress, 1),
    )
    se = change_sd(settings) / math.sqrt(n)
    closed = design.retrodesign(trend + effect, se, alpha) if trend + effect and se else None
    _save(figures.plot_type_sm(simulated, closed) if figure else None, figure)
    result = {
        "simulated": simulated.to_dict(),
        "closed_form": closed.to_dict() if closed else None,
        "true_mean_change": trend + effect,
        "se_normal": se,
    }
    lines = [
        f"true mean change {trend + effect:g} (trend {trend:g} + effect {effect:g}), "
        f"n = {n}, test {test}:",
        f"  simulated:   power {simulated.power:.3f}, Type S {simulated.type_s:.4f}, "
        f"exaggeration {simulated.exaggeration:.3f}",
    ]
    if closed:
        lines.append(
            f"  closed form: power {closed.power:.3f}, Type S {closed.type_s:.4f}, "
            f"exaggeration {closed.exaggeration:.3f} (normal estimate, SE {se:.3g})"
        )
    _emit("type-sm", result, as_json, lines)


@simulate_app.command("rtm")
def rtm_command(
    cutoff: float = typer.Option(8.0, "--cutoff", help="Enrol mothers whose pre is below this."),
    n: int = N,
    n_control: int = typer.Option(24, "--n-control", help="Control mothers enrolled the same way."),
    effect: float = typer.Option(0.0, "--effect", help="True massage effect (0: none)."),
    trend: float = typer.Option(0.0, "--trend", help="Natural rise (0: none)."),
    baseline_mean: float = BASELINE,
    between_sd: float = BETWEEN,
    within_sd: float = WITHIN,
    measurement_sd: float = typer.Option(
        3.0, "--measurement-sd", help="SD of the measurement error."
    ),
    sims: int = typer.Option(2000, "--sims", help="Simulated studies."),
    alpha: float = ALPHA,
    seed: int = SEED,
    scheduler: str | None = SCHEDULER,
    workers: int | None = WORKERS,
    checkpoint: Path | None = CHECKPOINT,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
    progress: bool = PROGRESS,
) -> None:
    """Regression to the mean: the spurious rise after enrolling mothers for low output."""
    from milkbayes.simulate import figures
    from milkbayes.simulate.rtm import regression_to_mean

    settings = _settings(
        n,
        n_control,
        effect,
        trend,
        baseline_mean,
        between_sd,
        within_sd,
        measurement_sd,
        0.0,
        0.0,
        "volume",
        "normal",
        10,
    )
    result = regression_to_mean(
        settings,
        cutoff,
        sims,
        alpha=alpha,
        seed=seed,
        **_run_options(workers, scheduler, checkpoint, progress, 1),
    )
    _save(figures.plot_rtm(result) if figure else None, figure)
    lines = [
        f"enrolled when pre < {cutoff:g}; true effect {effect:g}, trend {trend:g}:",
        f"  one group: mean change {result.mean_change_massage:.3f} "
        f"(closed form {result.expected_change:.3f}); Wilcoxon p < {alpha:g} in "
        f"{100 * result.rejection_one_group:.1f} % of studies",
    ]
    if result.mean_difference is not None:
        lines.append(
            f"  with control: massage - control {result.mean_difference:.3f}; Welch "
            f"p < {alpha:g} in {100 * result.rejection_two_arm:.1f} % of studies"
        )
    _emit("rtm", result.to_dict(), as_json, lines)


@simulate_app.command("sbc")
def sbc_command(
    model: str = typer.Option("all", "--model", help="A model name, or all."),
    widen: float = typer.Option(
        1.0, "--widen", help="Width factor of the simulating prior (2: broken check)."
    ),
    sims: int = typer.Option(200, "--sims", help="Simulated datasets per model."),
    mothers: int = typer.Option(12, "--mothers", help="Mothers per simulated dataset."),
    prior: str = typer.Option("neutral", "--prior", help="Prior set the data are drawn from."),
    likelihood: str | None = typer.Option(
        None, "--likelihood", help="The model's likelihood (default: its first)."
    ),
    draws: int = typer.Option(200, "--draws", help="Draws kept per chain of each fit."),
    tune: int = typer.Option(200, "--tune", help="Warm-up draws per chain."),
    chains: int = typer.Option(2, "--chains", help="Number of chains."),
    alpha: float = ALPHA,
    seed: int = typer.Option(2018, "--seed", help="Root seed of the simulated datasets."),
    scheduler: str | None = SCHEDULER,
    workers: int | None = WORKERS,
    checkpoint: Path | None = CHECKPOINT,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
    progress: bool = PROGRESS,
) -> None:
    """Simulation-based calibration: rank ECDFs in simultaneous bands (and chi-square)."""
    from milkbayes.simulate import figures
    from milkbayes.simulate.sbc import MODELS, sbc

    names = MODELS if model == "all" else (model,)
    if checkpoint is not None and len(names) > 1:
        raise MilkbayesError("--checkpoint needs one --model (one checkpoint per study)")
    results, lines = [], []
    for name in names:
        r = sbc(
            name,
            n_sims=sims,
            likelihood=likelihood,
            prior=prior,
            widen=widen,
            n_mothers=mothers,
            draws=draws,
            tune=tune,
            chains=chains,
            alpha=alpha,
            seed=seed,
            **_run_options(workers, scheduler, checkpoint, progress),
        )
        results.append(r)
        verdict = "passes" if r.passed else "FAILS"
        lines.append(
            f"{name} ({r.likelihood}, simulating prior x{widen:g}): {verdict} "
            + ", ".join(
                f"{k} {'inside' if r.ecdf_inside[k] else 'OUTSIDE'} the ECDF band "
                f"(chi-square p = {p:.3g})"
                for k, p in r.p_value.items()
            )
            + f"; {r.divergences} divergences"
        )
        if figure is not None:
            path = (
                figure
                if len(names) == 1
                else figure.with_name(f"{figure.stem}_{name}{figure.suffix}")
            )
            _save(figures.plot_sbc_ranks(r), path)
    _emit("sbc", {"studies": [r.to_dict() for r in results]}, as_json, lines)


@simulate_app.command("precision")
def precision_command(
    half_width: float = typer.Option(
        ..., "--half-width", help="Wanted half-width of the 95 % interval."
    ),
    sigma: float | None = typer.Option(
        None, "--sigma", help="SD of the changes (default: from the DGP)."
    ),
    probability: float | None = typer.Option(
        None,
        "--probability",
        help="Reach the half-width with this probability (default: on average).",
    ),
    confidence: float = ci_prob_option("Level of the interval whose width is targeted."),
    old_confidence: float = typer.Option(
        None, "--confidence", help="Deprecated name of --ci-prob.", hidden=True
    ),
    effect: float = EFFECT,
    trend: float = TREND,
    within_sd: float = WITHIN,
    measurement_sd: float = MEASUREMENT,
    sims: int = typer.Option(2000, "--sims", help="Simulated studies."),
    seed: int = SEED,
    figure: Path | None = FIGURE,
    as_json: bool = JSON,
) -> None:
    """Sample size for a chosen precision of the estimated mean change."""
    from milkbayes.simulate import design, figures
    from milkbayes.simulate.dgp import DGPSettings, change_sd

    if old_confidence is not None:
        confidence = old_confidence

    settings = DGPSettings(
        distribution="normal",
        effect=effect,
        trend=trend,
        within_sd=within_sd,
        measurement_sd=measurement_sd,
    )
    sd = change_sd(settings) if sigma is None else sigma
    n = design.sample_size_for_precision(
        sd, half_width, confidence=confidence, probability=probability
    )
    sizes = sorted({max(2, n // 2), max(2, n - 5), n, n + 5, 2 * n})
    check = design.precision_curve(
        settings.with_(
            within_sd=sd, measurement_sd=0.0, modifier_work_long=0.0, modifier_multipara=0.0
        ),
        sizes,
        half_width,
        n_sims=sims,
        confidence=confidence,
        seed=seed,
    )
    _save(figures.plot_precision(check, half_width) if figure else None, figure)
    result = {
        "n": n,
        "sigma": sd,
        "half_width": half_width,
        "confidence": confidence,
        "probability": probability,
        "simulated": [p.__dict__ for p in check],
    }
    criterion = f"with probability {probability:g}" if probability is not None else "on average"
    _emit(
        "precision",
        result,
        as_json,
        [
            f"n = {n} mothers give a {100 * confidence:g} % interval of half-width <= "
            f"{half_width:g} {criterion} (SD of changes {sd:.3g})"
        ]
        + [
            f"  n = {p.n:4d}: mean half-width {p.mean_half_width:.3f}, P(<= target) "
            f"{p.p_within:.3f}, coverage {p.coverage:.3f}"
            for p in check
        ],
    )
