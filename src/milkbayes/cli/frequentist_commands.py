"""``milkbayes reproduce`` and ``milkbayes wilcoxon``: the paper's frequentist analysis.

``reproduce`` runs the paper's analysis end to end (univariate table, the SPSS-style
Wilcoxon test, the audit of the published numbers); ``wilcoxon`` is one call of
:func:`milkbayes.frequentist.wilcoxon_signed_rank`. Text goes to stdout, ``--json``
prints exactly one JSON object, ``--markdown`` a Markdown document. Output made from
reconstructed data always carries :data:`milkbayes.RECONSTRUCTED_WARNING`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import typer

from milkbayes.errors import MilkbayesError

_DATA_HELP = "Study file (CSV/TSV, or anything pandas reads); default: the bundled data."
_SCENARIO_HELP = "Bundled dataset when no --data is given: volume_ml or score."
_KIND_HELP = "Outcome kind: volume, continuous or score (overrides the sidecar)."
_UNIT_HELP = "Unit of a volume or continuous outcome, e.g. ml."
_MAX_HELP = "Maximum of a score outcome."
_GROUP_HELP = "Which group to test: massage (the paper's), control or all."
_JSON_HELP = "Print one JSON object on stdout instead of text."


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` and ``wilcoxon`` to ``app``."""
    app.command("reproduce")(reproduce_command)
    app.command("wilcoxon")(wilcoxon_command)


# ----------------------------------------------------------------------------- helpers


def _load(
    data: Path | None, scenario: str, kind: str | None, unit: str | None, max_score: int | None
):
    from milkbayes.data import Outcome, load_study

    if kind is None and (unit is not None or max_score is not None):
        raise MilkbayesError("--unit and --max-score need --kind (volume, continuous or score)")
    if data is None:
        if kind is not None:
            raise MilkbayesError("--kind applies to --data files; the bundled data declare theirs")
        from milkbayes.datasets import load_bundled

        return load_bundled(scenario)
    outcome = None if kind is None else Outcome(kind, unit=unit, max_score=max_score)
    return load_study(data, outcome=outcome)


def _pairs(study, group: str):
    """Pre and post of the chosen group, as float arrays."""
    from milkbayes.frequentist.reproduce import paired_rows

    rows = paired_rows(study, group)
    return rows.pre, rows.post


def _echo_json(payload: dict[str, Any]) -> None:
    from milkbayes.jsonio import dumps

    typer.echo(dumps(payload))


def _provenance(study, group: str) -> dict[str, Any]:
    return {
        "source": study.source,
        "sha256": study.sha256,
        "group": group,
        "outcome": study.outcome.to_dict(),
        "reconstructed": study.reconstructed,
        "warning": study.warning,
    }


def _banner(study) -> list[str]:
    if not study.reconstructed:
        return []
    rule = "!" * 78
    return [rule, study.warning, rule, ""]  # one line, so that grep finds it whole


def _p_texts(p: float) -> dict[str, str]:
    from milkbayes.frequentist import format_p_exact, format_p_honest, format_p_spss

    spss = format_p_spss(p)
    # the paper copied SPSS's ".000" as "0.000"
    return {
        "spss": spss,
        "paper": "0" + spss if spss.startswith(".") else spss,
        "honest": format_p_honest(p),
        "exact": format_p_exact(p),
    }


def _markdown_table(frame) -> str:
    """A GitHub pipe table (written here to avoid a tabulate dependency)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.4g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


# ----------------------------------------------------------------------------- wilcoxon


def wilcoxon_command(
    data: Path = typer.Option(
        ..., "--data", help="Study file (CSV/TSV, or anything pandas reads)."
    ),
    method: str = typer.Option("exact", "--method", help="exact, asymptotic or spss."),
    zero_method: str = typer.Option("wilcox", "--zero-method", help="wilcox, pratt or zsplit."),
    alternative: str = typer.Option(
        "two-sided", "--alternative", help="two-sided, greater (post > pre) or less."
    ),
    correction: bool = typer.Option(
        False, "--correction", help="Continuity correction in z (normal approximation)."
    ),
    confidence: float = typer.Option(
        0.95, "--confidence", help="Level of the Hodges-Lehmann interval."
    ),
    group: str = typer.Option("massage", "--group", help=_GROUP_HELP),
    kind: str = typer.Option(None, "--kind", help=_KIND_HELP),
    unit: str = typer.Option(None, "--unit", help=_UNIT_HELP),
    max_score: int = typer.Option(None, "--max-score", help=_MAX_HELP),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Wilcoxon signed-rank test of post - pre, with effect sizes."""
    from milkbayes.frequentist import wilcoxon_signed_rank

    study = _load(data, "volume_ml", kind, unit, max_score)
    pre, post = _pairs(study, group)
    result = wilcoxon_signed_rank(
        pre,
        post,
        method=method,
        zero_method=zero_method,
        alternative=alternative,
        correction=correction,
        confidence=confidence,
    )
    if as_json:
        _echo_json(
            {
                **result.to_dict(),
                "p_value_text": _p_texts(result.p_value),
                **_provenance(study, group),
            }
        )
        return
    typer.echo("\n".join([*_banner(study), *_wilcoxon_lines(result, study, group)]))


def _wilcoxon_lines(result, study, group: str) -> list[str]:
    unit = f" {study.outcome.unit}" if study.outcome.unit else ""
    p = _p_texts(result.p_value)
    correction = ", continuity-corrected" if result.correction else ""
    return [
        f"Wilcoxon signed-rank test of post - pre ({study.source}, {group} group, n = {result.n})",
        f"  method {result.method}, zeros {result.zero_method}, alternative "
        f"{result.alternative}{correction}",
        f"  increases {result.n_positive}, decreases {result.n_negative}, ties {result.n_zero}",
        f"  W+ = {result.w_plus:g} (mean rank {result.mean_rank_positive:.2f}), "
        f"W- = {result.w_minus:g} (mean rank {result.mean_rank_negative:.2f})",
        f"  z = {result.z:.3f}, p = {p['exact']} ({p['honest']}; SPSS would print {p['spss']})",
        f"  Hodges-Lehmann median change {result.hodges_lehmann:.4g}{unit}, "
        f"{100 * result.confidence:g}% CI [{result.hl_ci_low:.4g}, {result.hl_ci_high:.4g}] "
        f"({result.hl_ci_method}, achieved {100 * result.hl_ci_achieved:.1f}%"
        + (
            ": too few pairs to reach the requested level)"
            if result.hl_ci_achieved < result.confidence
            else ")"
        ),
        f"  rank-biserial correlation {result.rank_biserial:.3f}, r = z/sqrt(n) = {result.r:.3f}",
    ]


# ----------------------------------------------------------------------------- reproduce


def reproduce_command(
    data: Path = typer.Option(None, "--data", help=_DATA_HELP),
    scenario: str = typer.Option("volume_ml", "--scenario", help=_SCENARIO_HELP),
    kind: str = typer.Option(None, "--kind", help=_KIND_HELP),
    unit: str = typer.Option(None, "--unit", help=_UNIT_HELP),
    max_score: int = typer.Option(None, "--max-score", help=_MAX_HELP),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown document."),
) -> None:
    """The paper's analysis end to end: univariate table, SPSS Wilcoxon test, audit."""
    from milkbayes.frequentist.reproduce import reproduce

    if as_json and markdown:
        raise MilkbayesError("choose one of --json and --markdown")
    study = _load(data, scenario, kind, unit, max_score)
    analysis = reproduce(study)
    if as_json:
        _echo_json(_reproduce_payload(study, analysis))
    elif markdown:
        typer.echo(_reproduce_markdown(study, analysis))
    else:
        typer.echo(_reproduce_text(study, analysis))


def _reproduce_payload(study, analysis) -> dict[str, Any]:
    description = analysis.description.to_dict()
    ranks = analysis.ranks.reset_index(names="row")
    spss = analysis.spss
    return {
        **_provenance(study, analysis.group),
        "n": study.n,
        "univariate": description["univariate"],
        "summary": description["summary"],
        "notes": description["notes"],
        "wilcoxon_spss": {
            **spss.to_dict(),
            "p_value_text": _p_texts(spss.p_value),
            "z_based_on": f"{spss.spss_based_on} ranks",
            "spss_text": analysis.spss_text,
            "ranks_table": ranks.to_dict("records"),
        },
        "wilcoxon_exact": {
            **analysis.exact.to_dict(),
            "p_value_text": _p_texts(analysis.exact.p_value),
        },
        "paired_t_test": analysis.t_test.to_dict(),
        "sign_test": analysis.sign_test.to_dict(),
        "audit": analysis.audit_table().to_dict("records"),
    }


def _univariate_frame(description):
    frame = description.univariate.copy()
    frame["percent"] = frame["percent"].round(1)
    frame["published_percent"] = [
        ("" if math.isnan(v) else f"{v:g}") for v in frame["published_percent"]
    ]
    return frame[["column", "level", "count", "percent", "published_percent"]]


def _comparison_lines(analysis, unit: str) -> list[str]:
    exact, t_test, sign = analysis.exact, analysis.t_test, analysis.sign_test
    spss_p = _p_texts(analysis.spss.p_value)
    return [
        f"As the paper prints it: p = {spss_p['paper']}; honestly: {spss_p['honest']} "
        f"(SPSS asymptotic p = {spss_p['exact']})",
        f"Exact signed-rank p (ties and zeros handled exactly): {_p_texts(exact.p_value)['exact']}",
        f"Hodges-Lehmann median change {exact.hodges_lehmann:.4g}{unit}, 95% CI "
        f"[{exact.hl_ci_low:.4g}, {exact.hl_ci_high:.4g}] ({exact.hl_ci_method})",
        f"Rank-biserial correlation {exact.rank_biserial:.3f}; r = Z/sqrt(N) = "
        f"{analysis.spss.r:.3f}",
        f"Mean change {t_test.mean_change:.4g}{unit}, 95% CI [{t_test.mean_ci_low:.4g}, "
        f"{t_test.mean_ci_high:.4g}]; Cohen's d_z {t_test.cohens_dz:.3f}, 95% CI "
        f"{_dz_interval_text(t_test)}",
        f"Paired t-test: t({t_test.df:g}) = {t_test.t:.3f}, p = "
        f"{_p_texts(t_test.p_value)['exact']}",
        f"Sign test: {sign.n_positive} up, {sign.n_negative} down, {sign.n_zero} tied; exact p = "
        f"{_p_texts(sign.p_value)['exact']}",
    ]


def _dz_interval_text(t_test) -> str:
    """The d_z interval, or why it is missing (a limit the solver could not locate is NaN)."""
    if math.isfinite(t_test.dz_ci_low) and math.isfinite(t_test.dz_ci_high):
        return f"[{t_test.dz_ci_low:.3f}, {t_test.dz_ci_high:.3f}]"
    return "unavailable (the noncentral-t limits could not be located)"


def _reproduce_text(study, analysis) -> str:
    import pandas as pd

    unit = f" {study.outcome.unit}" if study.outcome.unit else ""
    description = analysis.description
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        univariate = _univariate_frame(description).to_string(index=False)
        summary = description.summary.round(3).to_string()
    lines = [
        *_banner(study),
        f"Reproduction of the paper's analysis on {study.source} (n = {study.n}, "
        f"outcome {study.outcome.label})",
        "",
        "1. Univariate table",
        univariate,
        "",
        summary,
        *description.notes,
        "",
        "2. Wilcoxon signed-rank test, as SPSS prints it",
        analysis.spss_text,
        "",
        *_comparison_lines(analysis, unit),
        "",
        "3. Audit of the published numbers",
    ]
    for row in analysis.audit_table().itertuples(index=False):
        lines.append(
            f"[{row.status.upper():4}] {row.check}: expected {row.expected}; found {row.found}"
        )
        lines += textwrap.wrap(
            row.explanation, 96, initial_indent="       ", subsequent_indent="       "
        )
    return "\n".join(lines)


def _reproduce_markdown(study, analysis) -> str:
    unit = f" {study.outcome.unit}" if study.outcome.unit else ""
    description = analysis.description
    warning = [f"> **{study.warning}**", ""] if study.reconstructed else []
    summary = description.summary.round(3).reset_index(names="variable")
    audit = analysis.audit_table().assign(status=lambda f: f["status"].str.upper())
    return "\n".join(
        [
            "# Reproduction of the paper's analysis",
            "",
            *warning,
            f"Data: `{study.source}` (n = {study.n}, outcome {study.outcome.label}).",
            "",
            "## 1. Univariate table",
            "",
            _markdown_table(_univariate_frame(description)),
            "",
            _markdown_table(summary),
            "",
            "## 2. Wilcoxon signed-rank test, as SPSS prints it",
            "",
            "```",
            analysis.spss_text,
            "```",
            "",
            *[f"- {line}" for line in _comparison_lines(analysis, unit)],
            "",
            "## 3. Audit of the published numbers",
            "",
            _markdown_table(audit),
            "",
        ]
    )
