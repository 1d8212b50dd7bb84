r"""The reanalysis report: one self-contained HTML file, Markdown and a versioned JSON summary.

Rendering only: every number arrives computed, in the JSON summary built from
:class:`milkbayes.reanalysis.sections.ReanalysisSummary`. The HTML and Markdown are
rendered from it (and from the figure PNGs), so ``milkbayes report RUN_DIR`` can
re-render a run without refitting anything. Numbers stay numbers in the JSON
(written by :mod:`milkbayes.jsonio`: NaN as ``null``, infinities as ``"inf"``); they
are formatted only by the template filters of :mod:`milkbayes.report.formatting`.
Every file is written whole or not at all (:mod:`milkbayes.storage`).

Safety rules, each tested:

* jinja2 runs with autoescape on, so every string a user supplied (participant ids,
  level labels, column names, file names) reaches the HTML escaped;
* the HTML is self-contained: CSS inline, figures inline as ``data:image/png;base64``,
  no script, no ``http(s)://`` reference, so it opens offline and from ``file://``;
* CSV exports guard against spreadsheet formula injection: a cell starting with
  ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is prefixed with ``'``
  (OWASP, "CSV Injection").

Examples
--------
>>> csv_safe('=HYPERLINK("x")')
'\'=HYPERLINK("x")'
>>> csv_safe(-3.5), csv_safe("M01")
(-3.5, 'M01')
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milkbayes.errors import ReportError
from milkbayes.jsonio import dumps
from milkbayes.report.formatting import (
    fmt_bf,
    fmt_check_value,
    fmt_ci,
    fmt_level,
    fmt_num,
    fmt_p,
    fmt_prob,
    fmt_value,
    md_cell,
    md_escape,
    sensitivity_sentence,
    summary_rows,
)
from milkbayes.storage import atomic_write_bytes, atomic_write_text

__all__ = [
    "SCHEMA_VERSION",
    "REQUIRED_SECTIONS",
    "DESIGN_LIMITS",
    "ONE_GROUP_LIMITS",
    "TWO_ARM_LIMITS",
    "ReportError",
    "ReportPaths",
    "csv_safe",
    "write_csv",
    "validate_summary",
    "render_html",
    "render_markdown",
    "write_report",
    "read_summary",
    "read_figures",
    "rerender",
    "table_rows",
    "REPORT_ENTRIES",
    "is_report_folder",
]

SCHEMA_VERSION = "1.3"
"""Version of the JSON summary's layout. Bump the major part on any breaking change.

1.2 adds the top-level ``ci_prob``: every ``*ci95_*`` key of the reanalysis is the
central interval at that probability (the keys keep their 1.x names); a summary
before 1.2 has none and its intervals are at 0.95.

1.3 adds ``settings.trend_stage`` (``early``, ``established`` or ``none``: the stage of
lactation of the bias highlight's prior on the change without massage) and, in the
``bias`` highlight's summary, that prior's two parts beside their sum (``trend_mean``,
``trend_sd``, as before): ``trend_stage``, ``natural_trend_mean``,
``natural_trend_sd`` (the stage's natural trend) and, with a stage, ``rtm_mean``,
``rtm_sd`` (the regression-to-the-mean term), ``rtm_if_selected`` (its size had the
mothers been enrolled for low output), ``rtm_p_selected`` (that reading's
probability) and ``rtm_reliability``; ``prior_sources.rows`` then gains the rows
``regression to the mean`` and ``change without massage (bias analysis)``. All
optional: older summaries lack them.
"""

REQUIRED_SECTIONS = (
    "data",
    "reproduction",
    "bayes",
    "modifiers",
    "diagnostics",
    "comparison",
    "design_limits",
)
"""Top-level keys every summary has (``sensitivity`` and, since 1.1, ``published_facts``
are optional: None or absent)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make spreadsheets evaluate a cell as a formula."""

DESIGN_LIMITS = (
    (
        "No control arm",
        "Every mother was massaged, so there is nothing to compare the change with. The "
        "pre/post difference is the massage effect plus everything else that changed over "
        'the same three days. The paper calls the design a "nonequivalent control group" '
        "design but describes a single group; no estimate in this report, frequentist or "
        "Bayesian, can separate the massage from the passage of time.",
    ),
    (
        "Milk output rises on its own",
        "The paper does not say how old the babies were. Early in lactation, milk output "
        "rises day by day as supply adapts to the baby's demand; for working mothers, "
        "output also moves with how often they can feed or express milk, which the study "
        "itself may have changed by asking them to express milk for the measurements. A "
        "rise over three days is plausible without any massage, and its size in these "
        "mothers is unknown. The bias analysis (sensitivity section) shows how large such "
        "a natural trend would have to be for the conclusion to fail.",
    ),
    (
        "Regression to the mean",
        "If mothers were enrolled because their milk seemed insufficient, their first "
        "measurement was selected low and the second will be higher on average even with "
        "no change at all. Consecutive sampling of mothers worried about supply makes this "
        "plausible; the paper does not say how the pre measurement related to enrolment.",
    ),
    (
        "Unblinded, loosely defined outcome",
        'The outcome, "breast-milk production" from an observation sheet, has no stated '
        "unit or protocol, and was recorded by people who knew every mother had been "
        "massaged. Expectation can move such a measurement, and so can practice: a mother "
        "expressing milk a second time is better at it.",
    ),
    (
        "Husbands as co-interventionists",
        "The massage was given mostly by husbands. That brings attention, rest, help with "
        "the baby and emotional support, each of which may raise milk flow through the "
        "oxytocin reflex. Even a controlled trial of this package could not attribute the "
        "effect to the spinal massage itself.",
    ),
    (
        "Working mothers, one health centre, 24 women",
        "The sample is small, non-random and local (one public health centre in Kubu Raya). "
        "Effect modifiers (work duration, parity, occupation, education, age) are estimated "
        "from subgroups of a handful of mothers; the forest plot shows how little they can "
        "say, and none of them was pre-specified.",
    ),
    (
        "The raw data were never published",
        'Only n, five percentages and "p = 0.000" are public. Every number in this report '
        "that depends on individual measurements comes from data reconstructed to match the "
        "published facts, not from the study's measurements. A different reconstruction "
        "that matches them equally well can give different estimates: the section "
        "'Across reconstructions' shows each such number over reconstructions drawn under "
        "varied assumptions, and which assumption drives it.",
    ),
    (
        'What "p = 0.000" does and does not mean',
        'SPSS prints .000 when p < .0005. That says the data are very unlikely under "no '
        'change at all"; it does not say the change is large, that it is clinically '
        "important, or that the massage caused it. With no control arm, a small p is what "
        "a natural three-day rise alone would also produce.",
    ),
)
"""What the bundled paper's single-group design cannot show: (title, text) pairs.

These name the paper's own circumstances (husbands, Kubu Raya, SPSS's "0.000"); the
report prints them only for data described by the paper. Other studies get
:data:`ONE_GROUP_LIMITS` or :data:`TWO_ARM_LIMITS`, then their description's own.
"""

ONE_GROUP_LIMITS = (
    (
        "No control arm",
        "Every participant received the intervention, so there is nothing to compare the "
        "change with. The pre/post difference is the intervention's effect plus everything "
        "else that changed between the two measurements (natural trends, practice, "
        "season); no estimate in this report, frequentist or Bayesian, can separate them.",
    ),
    (
        "Regression to the mean",
        "If participants were enrolled because their first measurement was low (or high), "
        "the second will move towards the mean on average even with no change at all.",
    ),
    (
        "Blinding and measurement",
        "When the people measuring the outcome know that every participant was treated, "
        "expectation can move the measurement; a second measurement also benefits from "
        "practice.",
    ),
    (
        "A small p is not a large or a caused effect",
        "A small p says the data are unlikely under 'no change at all'. It does not say "
        "that the change is large, clinically important, or caused by the intervention.",
    ),
)
"""What any single-group pre/post design cannot show."""

TWO_ARM_LIMITS = (
    (
        "Nonequivalent arms",
        "Unless participants were randomised to the arms, the arms may differ in ways "
        "that also change the outcome (motivation, severity, setting). The baseline "
        "adjustment (ANCOVA) and the difference in differences remove a baseline "
        "difference in the outcome, not a difference in how the arms would have changed.",
    ),
    (
        "Regression to the mean differs between arms",
        "If the arms were selected differently (e.g. the treated arm for a low first "
        "measurement), regression to the mean moves them differently, and the difference "
        "in changes absorbs it. ANCOVA is the less biased comparison when the arms were "
        "randomised; the difference in changes when they were not, under parallel trends.",
    ),
    (
        "Blinding and co-interventions",
        "Participants and assessors who know the arm can change the outcome through "
        "expectation; anything else given to one arm only is part of the effect estimated.",
    ),
    (
        "Small arms",
        "With few participants per arm, both intervals are wide and the model comparison "
        "says little; the per-arm tests show each arm's change, not the effect.",
    ),
)
"""What a two-arm (treated and control) pre/post design cannot show."""


REPORT_ENTRIES = frozenset({"report.html", "report.md", "summary.json", "figures", "tables"})
"""What :func:`write_report` puts in a report folder."""


def is_report_folder(folder: Path) -> bool:
    """True for a folder :func:`write_report` wrote, holding nothing else.

    ``--force`` replaces only such a folder (:func:`milkbayes.storage.staged_folder`):
    never a folder of other files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "summary.json").write_text("{}")
    2
    >>> is_report_folder(folder)
    True
    >>> (folder / "thesis.tex").write_text("precious")
    8
    >>> is_report_folder(folder)
    False
    """
    names = {entry.name for entry in Path(folder).iterdir()}
    return "summary.json" in names and names <= REPORT_ENTRIES


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` put the files."""

    html: Path
    markdown: Path
    json: Path
    figures: Path
    tables: Path


# --------------------------------------------------------------------------- CSV safety
def csv_safe(cell: Any) -> Any:
    """Neutralise a spreadsheet formula: prefix text starting with = + - @ with a quote.

    Numbers pass through unchanged (a negative number is data, not a formula).

    Examples
    --------
    >>> csv_safe("+1-2"), csv_safe("@SUM(A1)"), csv_safe("ok")
    ("'+1-2", "'@SUM(A1)", 'ok')
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write dict rows as CSV with every text cell (and header) made formula-safe.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_csv([{"id": "=cmd()", "change": -2.0}], p)
    >>> p.read_bytes().splitlines()
    [b'id,change', b"'=cmd(),-2.0"]
    """
    path = Path(path)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    # RFC 4180 line ends: the writer then quotes any cell holding a bare "\r" too, so a
    # reader cannot split a cell there and strand the guarding quote
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe(str(c)) for c in columns])
    for row in rows:
        writer.writerow([csv_safe(_csv_cell(row.get(c))) for c in columns])
    atomic_write_text(path, buffer.getvalue())
    return path


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return dumps(value, indent=None, sort_keys=True)
    return "" if value is None else value


# --------------------------------------------------------------------------- validation
def validate_summary(summary: Mapping[str, Any]) -> None:
    """Check a JSON summary before rendering it: whatever passes renders.

    First the structure (schema version, the sections as JSON objects or lists, the
    prior rows), then a trial rendering of the HTML and Markdown templates, so that a
    field a template needs but the summary lacks is reported here, by its JSON path,
    rather than as a template error half-way through writing a report.

    Raises
    ------
    ReportError
        Naming the JSON path of the missing or malformed field.

    Examples
    --------
    >>> validate_summary({"schema_version": "0.1"})
    Traceback (most recent call last):
    ...
    milkbayes.errors.ReportError: summary schema_version '0.1' is not supported ...
    >>> validate_summary({"schema_version": "1.0", "reconstructed": False, "generator": {},
    ...     "data": {}, "reproduction": {}, "bayes": [], "modifiers": {}, "diagnostics": {},
    ...     "comparison": {}, "design_limits": []})
    Traceback (most recent call last):
    ...
    milkbayes.errors.ReportError: summary field 'bayes' must be a JSON object, not a list
    """
    _check_structure(summary)
    _render("html", summary, {})
    _render("markdown", summary, {})


_JSON_TYPE_NAMES = {
    Mapping: "a JSON object",
    list: "a list",
    str: "text",
    bool: "true or false",
    type(None): "null",
}


def _json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    for kind, name in _JSON_TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _expect(value: Any, kind: Any, path: str) -> Any:
    """``value`` if it is of the JSON ``kind``, else a ReportError naming ``path``.

    ``kind`` is Mapping, list, str or ``"number"``.
    """
    if kind == "number":
        ok, wanted = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok, wanted = isinstance(value, kind), _JSON_TYPE_NAMES[kind]
    if not ok:
        raise ReportError(f"summary field {path!r} must be {wanted}, not {_json_type_name(value)}")
    return value


def _check_ci_prob(summary: Mapping, version: str) -> None:
    """``ci_prob`` is required from schema 1.2 on (older summaries are at 0.95)."""
    try:
        minor = int(version.split(".")[1])
    except (IndexError, ValueError):
        minor = 0
    if "ci_prob" not in summary:
        if minor >= 2:
            raise ReportError(f"a summary of schema {version} lacks the key 'ci_prob'")
        return
    value = _expect(summary["ci_prob"], "number", "ci_prob")
    if not 0.0 < value < 1.0:
        raise ReportError(f"summary field 'ci_prob' must lie strictly between 0 and 1, not {value}")


def _check_structure(summary: Any) -> None:
    if not isinstance(summary, Mapping):
        raise ReportError("the summary is not a JSON object")
    version = summary.get("schema_version")
    if not isinstance(version, str):
        raise ReportError("the summary has no schema_version")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ReportError(
            f"summary schema_version {version!r} is not supported "
            f"(this milkbayes reads {SCHEMA_VERSION.split('.')[0]}.x)"
        )
    for key in ("reconstructed", "generator", *REQUIRED_SECTIONS):
        if key not in summary:
            raise ReportError(f"the summary lacks the key {key!r}")
    _check_ci_prob(summary, version)
    if not isinstance(summary["reconstructed"], bool):
        raise ReportError("summary key 'reconstructed' must be true or false")
    if summary["reconstructed"] and not summary.get("warning"):
        raise ReportError("a summary of reconstructed data must carry its 'warning'")
    for key in ("generator", *REQUIRED_SECTIONS):
        _expect(summary[key], list if key == "design_limits" else Mapping, key)
    if summary.get("sensitivity") is not None:  # a list of highlight items, as rendered
        _expect(summary["sensitivity"], list, "sensitivity")
        for i, item in enumerate(summary["sensitivity"]):
            _expect(item, Mapping, f"sensitivity[{i}]")
    if summary.get("published_facts") is not None:  # the headline, since 1.1
        _expect(summary["published_facts"], Mapping, "published_facts")
        _expect(summary["published_facts"].get("bottom_line"), str, "published_facts.bottom_line")
    if summary.get("prior_sources") is not None:  # where the priors come from, optional
        _expect(summary["prior_sources"], Mapping, "prior_sources")
        _expect(summary["prior_sources"].get("rows"), list, "prior_sources.rows")
    priors = summary["bayes"].get("priors")
    if not isinstance(priors, list) or not priors:
        raise ReportError("summary key 'bayes.priors' must be a non-empty list")
    for i, row in enumerate(priors):
        where = f"bayes.priors[{i}]"
        _expect(row, Mapping, where)
        _expect(row.get("prior"), str, f"{where}.prior")
        for key in ("median", "ci95_low", "ci95_high", "p_gt_0", "p_gt_mcid"):
            if key not in row:
                raise ReportError(f"summary 'bayes.priors' row {i} lacks {key!r}")
            if row[key] is not None and not isinstance(row[key], str):  # "inf" is text
                _expect(row[key], "number", f"{where}.{key}")
    if "overall" not in summary["diagnostics"]:
        raise ReportError("summary key 'diagnostics.overall' is missing")
    _expect(summary["diagnostics"]["overall"], str, "diagnostics.overall")


def _environment(kind: str = "html"):
    import jinja2

    options = dict(
        loader=jinja2.PackageLoader("milkbayes.report", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if kind == "html":
        # every template output is escaped: user text (ids, labels, file names) included
        env = jinja2.Environment(autoescape=True, **options)
    else:
        # Markdown: every {{ }} output goes through md_escape (finalize), so no value can
        # be forgotten; template literals are ours.
        env = jinja2.Environment(autoescape=False, finalize=md_escape, **options)
    env.filters.update(
        num=fmt_num,
        check_value=fmt_check_value,
        ci=fmt_ci,
        level=fmt_level,
        prob=fmt_prob,
        pval=fmt_p,
        bf=fmt_bf,
        value=fmt_value,
        md=md_cell,
    )
    env.filters.update(readable=summary_rows, sentence=sensitivity_sentence, kind=_fmt_kind)
    return env


def _fmt_kind(value: Any, kind: str, digits: int = 2) -> str:
    """A number of the ensemble table by its kind: ``prob``, ``log10`` or outcome units."""
    if kind == "prob":
        return fmt_prob(value)
    return fmt_num(value, digits)


def _figure_data(summary: Mapping[str, Any], figures: Mapping[str, bytes]) -> dict:
    """Figures in report order with base64 payloads, only those that exist."""
    out = {}
    for name, meta in summary.get("figures", {}).items():
        if name in figures:
            out[name] = {
                "caption": meta.get("caption", ""),
                "file": meta.get("file", ""),
                "b64": base64.b64encode(figures[name]).decode("ascii"),
            }
    return out


class _TracedDict(dict):
    """A summary object that knows its JSON path, so a missing field can be named."""

    json_path = ""


class _TracedList(list):
    json_path = ""


def _traced(value: Any, path: str = "") -> Any:
    """A copy of ``value`` whose objects and lists carry their JSON path."""
    if isinstance(value, Mapping):
        out = _TracedDict(
            {k: _traced(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        )
    elif isinstance(value, list):
        out = _TracedList(_traced(v, f"{path}[{i}]") for i, v in enumerate(value))
    else:
        return value
    out.json_path = path
    return out


def _undefined_class():
    import jinja2

    class _PathUndefined(jinja2.StrictUndefined):
        """StrictUndefined whose message is the JSON path of the missing field."""

        __slots__ = ()

        @property
        def _undefined_message(self) -> str:
            parent = getattr(self._undefined_obj, "json_path", None)
            if parent is None:
                return super()._undefined_message
            name = self._undefined_name
            if isinstance(self._undefined_obj, list):
                path = f"{parent}[{name}]"
            else:
                path = f"{parent}.{name}" if parent else str(name)
            return f"summary field {path!r} is missing"

    return _PathUndefined


def _render(kind: str, summary: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """Render a template; a missing or malformed field is a ReportError.

    The error names the field's JSON path when the template met it as missing.
    """
    import jinja2

    env = _environment(kind)
    env.undefined = _undefined_class()
    name = "report.html.j2" if kind == "html" else "report.md.j2"
    traced = _traced(summary)
    try:
        if kind == "html":
            return env.get_template(name).render(s=traced, figures=_figure_data(traced, figures))
        return env.get_template(name).render(s=traced)
    except jinja2.UndefinedError as error:
        raise ReportError(str(error)) from error
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as error:
        raise ReportError(
            f"summary cannot be rendered ({type(error).__name__}: {error}); "
            "a field has the wrong type"
        ) from error


def render_html(summary: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """The self-contained HTML report (CSS inline, PNGs as data URIs, no script).

    Parameters
    ----------
    summary : mapping
        A JSON summary (its structure is checked first).
    figures : mapping of name to PNG bytes
        Keys of ``summary["figures"]``.
    """
    _check_structure(summary)
    return _render("html", summary, figures)


def render_markdown(summary: Mapping[str, Any]) -> str:
    """The Markdown report; figures are linked as files under ``figures/``."""
    _check_structure(summary)
    return _render("markdown", summary, {})


def table_rows(summary: Mapping[str, Any]) -> dict[str, list[dict]]:
    """The report's tables as lists of flat rows, for the CSV exports."""
    out: dict[str, list[dict]] = {
        "three_priors": list(summary["bayes"].get("priors", [])),
        "freq_vs_bayes": list(summary["bayes"].get("freq_vs_bayes", [])),
        "comparison": list(summary["comparison"].get("lomo", [])),
        "audit": list(summary["reproduction"].get("audit") or []),
        "participants": list(summary["data"].get("participants") or []),
        "lomo_pointwise": list(summary["comparison"].get("pointwise") or []),
    }
    forest = []
    for column, levels in (summary["modifiers"].get("subgroup_effects") or {}).items():
        for level, row in levels.items():
            forest.append({"covariate": column, "level": level, **row})
    out["subgroup_effects"] = forest
    return out


def write_report(
    summary: Mapping[str, Any], figures: Mapping[str, bytes], out_dir: str | Path
) -> ReportPaths:
    """Write ``report.html``, ``report.md``, ``summary.json``, figures and CSV tables.

    Every file is written atomically. The JSON is written last, so a folder with a
    ``summary.json`` always has the rest.
    """
    validate_summary(summary)
    out = Path(out_dir)
    figures_dir, tables_dir = out / "figures", out / "tables"
    figures_dir.mkdir(parents=True, exist_ok=True)
    tables_dir.mkdir(parents=True, exist_ok=True)
    for name, payload in figures.items():
        atomic_write_bytes(figures_dir / f"{_safe_name(name)}.png", payload)
    for name, rows in table_rows(summary).items():
        if rows:
            write_csv(rows, tables_dir / f"{name}.csv")
    html_path, md_path, json_path = out / "report.html", out / "report.md", out / "summary.json"
    atomic_write_text(html_path, render_html(summary, figures))
    atomic_write_text(md_path, render_markdown(summary))
    atomic_write_text(json_path, dumps(summary) + "\n")
    return ReportPaths(
        html=html_path, markdown=md_path, json=json_path, figures=figures_dir, tables=tables_dir
    )


def _safe_name(name: str) -> str:
    """A figure key as a file name (keys are ours, but never trust a path)."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
    return cleaned or "figure"


def read_summary(run_dir: str | Path) -> dict:
    """Read and validate ``summary.json`` of a reanalysis folder."""
    path = Path(run_dir) / "summary.json"
    if not Path(run_dir).is_dir():
        raise ReportError(f"{run_dir}: no such folder")
    if not path.is_file():
        raise ReportError(f"{run_dir}: not a reanalysis folder (no summary.json)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: cannot be read ({error})") from error
    try:
        validate_summary(summary)
    except ReportError as error:
        raise ReportError(f"{path}: {error}") from error
    return summary


def read_figures(run_dir: str | Path, names: Iterable[str]) -> dict[str, bytes]:
    """The PNGs of a reanalysis folder; a missing one is an error, not a blank."""
    out = {}
    for name in names:
        path = Path(run_dir) / "figures" / f"{_safe_name(name)}.png"
        if not path.is_file():
            raise ReportError(f"{path}: figure missing; re-run `milkbayes reanalyze`")
        out[name] = path.read_bytes()
    return out


def rerender(run_dir: str | Path) -> ReportPaths:
    """Re-render the HTML and Markdown of a reanalysis folder from its saved results."""
    summary = read_summary(run_dir)
    figures = read_figures(run_dir, summary.get("figures", {}).keys())
    return write_report(summary, figures, run_dir)
