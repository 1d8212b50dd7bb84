"""``milkbayes meta-analysis``: the Bayesian meta-analysis of the published studies.

One call of :func:`milkbayes.meta_analysis.run.run_meta_analysis`, written by
:func:`~milkbayes.meta_analysis.run.write_meta_analysis` as a folder (``summary.json``,
``report.md``, ``forest.png``, ``derived_prior.toml``) that appears whole or not at
all. PyMC and the meta-analysis are imported inside the command, so that
``milkbayes --help`` stays fast. A bad studies file is one line on stderr and exit 2;
failed convergence checks exit 3 after the folder is written (stderr says so).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``meta-analysis`` command to ``app``."""
    app.command("meta-analysis")(meta_analysis_command)


def meta_analysis_command(
    studies: Path = typer.Option(
        None, "--studies", help="Studies TOML file (default: the bundled literature)."
    ),
    out: Path = typer.Option(
        Path("milkbayes-meta-analysis"), "--out", help="Folder to create for the results."
    ),
    force: bool = typer.Option(
        False, "--force", metavar="", help="Replace an earlier meta-analysis folder."
    ),
    no_bias: bool = typer.Option(
        False, "--no-bias", metavar="", help="Leave out the design-bias terms."
    ),
    no_pet: bool = typer.Option(
        False, "--no-pet", metavar="", help="Leave out the PET small-study term."
    ),
    draws: int = typer.Option(2000, "--draws", min=100, help="Draws per chain."),
    tune: int = typer.Option(1000, "--tune", min=100, help="Warm-up draws per chain."),
    chains: int = typer.Option(4, "--chains", min=1, help="Chains."),
    seed: int = typer.Option(20261204, "--seed", min=0, help="Sampler seed."),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print the summary as one JSON object."
    ),
) -> None:
    """Meta-analyse the published oxytocin-massage studies and derive the literature prior."""
    from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED
    from milkbayes.literature import load_studies
    from milkbayes.meta_analysis.model import MetaPriors
    from milkbayes.meta_analysis.run import MARKER, run_meta_analysis, write_meta_analysis
    from milkbayes.storage import check_target

    # refuse an occupied folder before sampling, not after
    check_target(
        out, force=force, is_replaceable=lambda p: (p / MARKER).is_file(), what="meta-analysis"
    )
    table = load_studies(studies)
    result = run_meta_analysis(
        table,
        priors=MetaPriors(use_bias=not no_bias, use_pet=not no_pet),
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
    )
    write_meta_analysis(result, out, force=force)
    if as_json:
        from milkbayes.jsonio import dumps

        typer.echo(dumps(result.summary))
    else:
        s = result.summary
        for scale, unit in (("smd", "SMD"), ("ml", "ml")):
            f = s[scale]
            typer.echo(
                f"{unit}: mu {f['mu_mean']:.3g} (95 % {f['mu_low']:.3g} to {f['mu_high']:.3g}), "
                f"tau {f['tau_mean']:.3g}, new study {f['theta_new_mean']:.3g} "
                f"({f['theta_new_low']:.3g} to {f['theta_new_high']:.3g})"
            )
        prior = s["prior"]
        typer.echo(
            f"literature prior: effect ~ Normal({prior['ml']['mixture_mean']:.3g}, "
            f"{prior['ml']['mixture_sd']:.3g}) ml; delta ~ Cauchy("
            f"{prior['smd']['cauchy_loc']:.3g}, {prior['smd']['cauchy_scale']:.3g})"
        )
    typer.echo(f"written to {out}", err=True)
    if not result.ok:
        typer.echo(
            f"error: the meta-analysis failed its convergence checks; the results in {out} "
            "are not to be trusted (see summary.json)",
            err=True,
        )
        raise typer.Exit(EXIT_DIAGNOSTICS_FAILED)
