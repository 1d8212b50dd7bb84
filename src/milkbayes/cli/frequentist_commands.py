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
from typing import Any

import typer

from milkbayes.cli.data_options import DataOptions, choice, ci_prob_option, data_options, flag
from milkbayes.errors import MilkbayesError

_GROUP_HELP = "Which group to test: massage (the paper's), control or all."
_JSON_HELP = "Print one JSON object on stdout instead of text."


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` and ``wilcoxon`` to ``app``."""
    app.command("reproduce")(reproduce_command)
    app.command("wilcoxon")(wilcoxon_command)


# ----------------------------------------------------------------------------- helpers


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


@data_options()
def wilcoxon_command(
    options: DataOptions = None,
    method: str = choice(
        "exact",
        "--method",
        "exact, asymptotic or spss.",
        ("exact", "asymptotic", "spss"),
        validate=False,
    ),
    zero_method: str = choice(
        "wilcox",
        "--zero-method",
        "wilcox, pratt or zsplit.",
        ("wilcox", "pratt", "zsplit"),
        validate=False,
    ),
    alternative: str = choice(
        "two-sided",
        "--alternative",
        "two-sided, greater (post > pre) or less.",
        ("two-sided", "greater", "less"),
        validate=False,
    ),
    correction: bool = flag("--correction", "Continuity correction in z (normal approximation)."),
    ci_prob: float = ci_prob_option("Level of the Hodges-Lehmann interval."),
    confidence: float = typer.Option(
        None, "--confidence", help="Deprecated name of --ci-prob.", hidden=True
    ),
    group: str = choice("massage", "--group", _GROUP_HELP, ("massage", "control", "all")),
    as_json: bool = flag("--json", _JSON_HELP),
) -> None:
    """Wilcoxon signed-rank test of post - pre, with effect sizes."""
    from milkbayes.frequentist import wilcoxon_signed_rank

    if confidence is not None:
        ci_prob = confidence
    study = options.load()
    pre, post = _pairs(study, group)
    result = wilcoxon_signed_rank(
        pre,
        post,
        method=method,
        zero_method=zero_method,
        alternative=alternative,
        correction=correction,
        confidence=ci_prob,
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


@data_options()
def reproduce_command(
    options: DataOptions = None,
    as_json: bool = flag("--json", _JSON_HELP),
    markdown: bool = flag("--markdown", "Print a Markdown document."),
) -> None:
    """The paper's analysis end to end: univariate table, SPSS Wilcoxon test, audit."""
    from milkbayes.frequentist.reproduce import reproduce

    if as_json and markdown:
        raise MilkbayesError("choose one of --json and --markdown")
    study = options.load()
    analysis = reproduce(study)
    if as_json:
        _echo_json(_reproduce_payload(study, analysis))
    elif markdown:
        typer.echo(_reproduce_markdown(study, analysis))
    else:
        typer.echo(_reproduce_text(study, analysis))


def _audit_table(study, analysis):
    """The audit against the study's own description (none without one)."""
    from dataclasses import asdict

    import pandas as pd

    from milkbayes.frequentist.audit import AUDIT_COLUMNS
    from milkbayes.frequentist.description_audit import audit_for

    checks, _ = audit_for(study, analysis)
    return pd.DataFrame([asdict(c) for c in checks], columns=list(AUDIT_COLUMNS))


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
        "audit": _audit_table(study, analysis).to_dict("records"),
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


def _heading(study) -> str:
    """The paper's analysis when the study is described, else the one-group analysis."""
    if study.description is None:
        return "The one-group analysis (Wilcoxon signed-rank, as SPSS runs it)"
    if study.description.is_paper:
        return "Reproduction of the paper's analysis"
    return f"Reproduction of the published analysis of {study.description.title}"


def _design_lines(study) -> list[str]:
    if not study.has_control:
        return []
    n_control = int((study.table["group"] == "control").sum())
    return [
        f"Two arms: the test below uses the {study.n - n_control} massage participants only; "
        f"the {n_control} control participants are not in it (`milkbayes wilcoxon --group "
        "control` tests them; `milkbayes reanalyze` compares the arms)."
    ]


def _audit_note(study, analysis) -> list[str]:
    from milkbayes.frequentist.description_audit import audit_for

    return [note] if (note := audit_for(study, analysis)[1]) else []


def _reproduce_text(study, analysis) -> str:
    import pandas as pd

    unit = f" {study.outcome.unit}" if study.outcome.unit else ""
    description = analysis.description
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        univariate = _univariate_frame(description).to_string(index=False)
        summary = description.summary.round(3).to_string()
    lines = [
        *_banner(study),
        f"{_heading(study)} on {study.source} (n = {study.n}, outcome {study.outcome.label})",
        *_design_lines(study),
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
        *_audit_note(study, analysis),
    ]
    for row in _audit_table(study, analysis).itertuples(index=False):
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
    audit = _audit_table(study, analysis).assign(status=lambda f: f["status"].str.upper())
    return "\n".join(
        [
            f"# {_heading(study)}",
            "",
            *[f"{line}\n" for line in _design_lines(study)],
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
