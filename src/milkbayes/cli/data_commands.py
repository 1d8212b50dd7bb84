"""``milkbayes data validate | describe | reconstruct``: one library call each.

Text output uses rich tables on stdout; ``--json`` prints exactly one JSON object on
stdout instead. Bad input raises :class:`~milkbayes.errors.DataError`, which
:func:`milkbayes.cli.main` turns into one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from milkbayes.cli.data_options import DataOptions, data_options, flag
from milkbayes.errors import MilkbayesError

data_app = typer.Typer(
    name="data",
    help="Validate, describe and reconstruct study data.",
    no_args_is_help=True,
)

_JSON_HELP = "Print one JSON object on stdout instead of tables."


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    app.add_typer(data_app, name="data")


# ----------------------------------------------------------------------------- helpers
def _echo_json(payload: dict[str, Any]) -> None:
    from milkbayes import jsonio

    typer.echo(jsonio.dumps(payload))


def _console():
    """A console that prints text literally, never as rich markup.

    Ids, column names and file names are user text, and rich markup in them (an id
    ``[/]``, a file ``[bold]y.csv``) must neither crash nor restyle the output.
    Styles are passed as objects, not markup.
    """
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False)


def _banner(console, study_or_description) -> None:
    if study_or_description.reconstructed:
        from rich.panel import Panel

        console.print(
            Panel(
                study_or_description.warning,
                title="RECONSTRUCTED DATA",
                style="bold yellow",
                expand=False,
            ),
            soft_wrap=False,
        )


def _study_payload(study) -> dict[str, Any]:
    return {
        "source": study.source,
        "sha256": study.sha256,
        "n": study.n,
        "outcome": study.outcome.to_dict(),
        "outcome_origin": study.outcome_origin,
        "covariates": list(study.covariates),
        "has_control": study.has_control,
        "dropped_ids": list(study.dropped_ids),
        "ignored_columns": list(study.ignored_columns),
        "reconstructed": study.reconstructed,
        "warning": study.warning,
    }


def _fmt(value: float, digits: int = 2) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


# ----------------------------------------------------------------------------- validate
@data_app.command("validate")
@data_options(data_argument=True)
def validate_command(
    options: DataOptions = None,
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Check a study file; exit 0 if it is valid, 2 with the first problem otherwise."""
    if options.data is None:
        raise MilkbayesError("give the study file to validate: milkbayes data validate FILE")
    study = options.load()
    if as_json:
        _echo_json({"valid": True, **_study_payload(study)})
        return
    console = _console()
    _banner(console, study)
    console.print(
        f"valid: {study.source}: {study.n} participants, outcome "
        f"{study.outcome.label}"
        + (" (not declared: defaulted)" if study.outcome_origin == "default" else "")
        + f", covariates: {', '.join(study.covariates) or 'none'}"
    )
    if study.dropped_ids:
        console.print(f"dropped (complete case): {', '.join(study.dropped_ids)}")
    if study.ignored_columns:
        console.print(f"ignored columns: {', '.join(study.ignored_columns)}")


# ----------------------------------------------------------------------------- describe
@data_app.command("describe")
@data_options(data_argument=True)
def describe_command(
    options: DataOptions = None,
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Show the univariate table (count, %, published % if described) and outcome summaries."""
    from milkbayes.data import describe

    if options.data is None and (options.unit is not None or options.max_score is not None):
        raise MilkbayesError("loading options apply to a FILE; the bundled data carry their own")
    study = options.load()
    description = describe(study)
    if as_json:
        _echo_json(description.to_dict())
        return
    _print_description(description)


def _print_description(description) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    _banner(console, description)
    console.print(
        Text.assemble(
            (str(description.source), "bold"),
            f": n = {description.n}, outcome {description.outcome.label}",
        )
    )
    for note in description.notes:
        console.print(f"note: {note}")
    uni = Table(title="Participants by category (the paper's univariate table)")
    for header, justify in (
        ("column", "left"),
        ("level", "left"),
        ("count", "right"),
        ("%", "right"),
        ("published %", "right"),
    ):
        uni.add_column(header, justify=justify)
    previous = None
    for row in description.univariate.itertuples(index=False):
        uni.add_row(
            row.column if row.column != previous else "",
            row.level,
            str(row.count),
            _fmt(row.percent, 1),
            _fmt(row.published_percent, 1),
        )
        previous = row.column
    console.print(uni)
    console.print(
        _summary_rich(description.summary, f"Outcome summary ({description.outcome.label})")
    )
    if description.group_summary is not None:
        for group, part in description.group_summary.groupby(level="group", sort=False):
            console.print(_summary_rich(part.droplevel("group"), f"Outcome summary, {group} group"))


def _summary_rich(frame, title: str):
    from rich.table import Table

    summary = Table(title=title)
    summary.add_column("", justify="left")
    for header in ("n", "mean", "sd", "median", "q1", "q3", "IQR", "min", "max"):
        summary.add_column(header, justify="right")
    for name, row in frame.iterrows():
        summary.add_row(
            str(name),
            str(int(row["n"])),
            *(_fmt(row[c]) for c in ("mean", "sd", "median", "q1", "q3", "iqr", "min", "max")),
        )
    return summary


# ----------------------------------------------------------------------------- reconstruct
@data_app.command("reconstruct")
def reconstruct_command(
    scenario: str = typer.Option("volume_ml", "--scenario", help="volume_ml or score."),
    seed: int = typer.Option(None, "--seed", help="Seed (default: the bundled file's seed, 2024)."),
    out: Path = typer.Option(
        ..., "--out", help="CSV to write; the sidecar goes beside it with the same stem and .json."
    ),
    force: bool = flag("--force", "Overwrite existing files."),
    assumption: list[str] = typer.Option(
        None,
        "--set",
        help="Override an assumption, NAME=VALUE (VALUE as JSON), e.g. "
        "--set effect_ml=8 or --set 'occupation_other_counts={...}'.",
    ),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Write a reconstructed dataset that honours every published number, with its sidecar.

    With the bundled seed (the default) the CSV is byte-identical to the bundled file.
    """
    from milkbayes.datasets import BUNDLED_SEEDS, SCENARIOS, reconstruct, write_reconstruction

    if scenario not in SCENARIOS:
        raise MilkbayesError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    chosen_seed = BUNDLED_SEEDS[scenario] if seed is None else seed
    study = reconstruct(scenario, chosen_seed, **_parse_assumptions(assumption or []))
    csv_path, sidecar = write_reconstruction(study, out, force=force)
    constraints = study.provenance["constraints"]
    if as_json:
        _echo_json(
            {
                "out": str(csv_path),
                "sidecar": str(sidecar),
                "scenario": scenario,
                "seed": chosen_seed,
                "sha256": study.sha256,
                "accepted_attempt": study.provenance["accepted_attempt"],
                "constraints": constraints,
                "assumptions": study.provenance["assumptions"],
                "reconstructed": True,
                "warning": study.warning,
            }
        )
        return
    console = _console()
    _banner(console, study)
    console.print(
        f"wrote {csv_path} and {sidecar} (scenario {scenario}, seed {chosen_seed}, "
        f"accepted on attempt {study.provenance['accepted_attempt']})"
    )
    counts = ", ".join(f"{c} {v}" for c, v in constraints["counts"].items())
    console.print(f"published counts matched: n {constraints['n']}, {counts}")
    console.print(
        f"SPSS Wilcoxon: Z = {constraints['spss_z']:.3f}, p = "
        f"{constraints['spss_p']:.2e} < {constraints['threshold']} "
        f"({constraints['n_nonzero']} non-zero changes)"
    )
    console.print(f"sha256 {study.sha256}")


def _parse_assumptions(pairs: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise MilkbayesError(f"--set takes NAME=VALUE (got {pair!r})")
        try:
            parsed[name.strip()] = json.loads(text)
        except (ValueError, RecursionError):
            # ValueError covers malformed JSON and integers beyond 4300 digits;
            # RecursionError, arrays nested beyond the parser's depth.
            shown = text if len(text) <= 60 else text[:59] + "…"
            raise MilkbayesError(
                f"--set {name.strip()}: value {shown!r} is not JSON that milkbayes reads "
                '(numbers as 8.5, mappings as {"a": 1})'
            ) from None
    return parsed
