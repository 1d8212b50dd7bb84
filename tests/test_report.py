"""Tests of milkbayes.report.render: escaping, self-containment, schema, CSV formula guard.

These tests render hand-made summaries (no sampling), so they are fast. The numbers
checked are the inputs themselves, formatted: the point is what reaches the page.
"""

from __future__ import annotations

import base64
import copy
import csv
import html as html_module
import io
import json
import re

import pytest

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.errors import MilkbayesError
from milkbayes.report import render as report

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'

# A 1x1 transparent PNG (the smallest valid PNG; its bytes are the PNG spec's layout).
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def summary_fixture(*, reconstructed: bool = True) -> dict:
    """A complete summary whose user-supplied strings are all hostile."""
    prior_row = {
        "prior": "neutral",
        "median": 11.0123,
        "ci95_low": 3.15,
        "ci95_high": 19.17,
        "p_gt_0": 0.992,
        "p_gt_mcid": 0.598,
        "p_in_rope": 0.067,
        "rope_statement": "CrI overlaps the ROPE [-5, 5]: undecided",
        "beliefs": ["P(effect > 10 ml) = 40.1 %"],
        "rationale": "weak",
    }
    return {
        "schema_version": report.SCHEMA_VERSION,
        "ci_prob": 0.95,
        "generator": {"name": "milkbayes", "version": "test"},
        "created_at": "2026-01-01 00:00 UTC",
        "reconstructed": reconstructed,
        "warning": RECONSTRUCTED_WARNING if reconstructed else None,
        "settings": {"fast": True},
        "data": {
            "source": f"/data/{HOSTILE}.csv",
            "sha256": "ab" * 32,
            "n": 2,
            "outcome": {"kind": "volume", "unit": HOSTILE, "max_score": None},
            "columns": ["id", "pre", "post", HOSTILE],
            "dropped_ids": [HOSTILE],
            "provenance": {HOSTILE: HOSTILE},
            "summary": [
                {
                    "variable": "change",
                    "n": 2,
                    "mean": 1.5,
                    "sd": 0.7,
                    "median": 1.5,
                    "q1": 1.0,
                    "q3": 2.0,
                }
            ],
            "univariate": [{"column": HOSTILE, "level": HOSTILE, "count": 1, "percent": 50.0}],
            "participants": [
                {"id": HOSTILE, "pre": 1.0, "post": 2.0, "change": 1.0},
                {"id": FORMULA, "pre": 3.0, "post": 5.0, "change": 2.0},
            ],
        },
        "reproduction": {
            "published_p_text": "0.000",
            "spss_p_text": ".000",
            "p_exact": 1.2e-5,
            "p_honest_text": "p < .001",
            "p_asymptotic": 3e-5,
            "z_spss": -4.1,
            "w_plus": 300.0,
            "w_minus": 0.0,
            "n_zero": 0,
            "rank_biserial": 1.0,
            "hodges_lehmann": {"estimate": 9.88, "low": 6.7, "high": 12.7, "method": "exact"},
            "t_test": {
                "mean_change": 9.51,
                "mean_ci_low": 6.8,
                "mean_ci_high": 12.2,
                "t": 7.35,
                "df": 23.0,
                "p_value": 1.7e-7,
                "cohens_dz": 1.5,
            },
            "sign_test_p": 1.2e-7,
            "spss_ranks": [
                {
                    "row": "Negative Ranks",
                    "n": 0,
                    "mean_rank": 0.0,
                    "sum_of_ranks": 0.0,
                    "footnote": "a",
                }
            ],
            "spss_test": [
                {
                    "row": "Z",
                    "value": -4.1,
                    "text": "-4.114",
                    "footnote": "Based on negative ranks.",
                }
            ],
            "audit": [
                {
                    "check": HOSTILE,
                    "published": "37.5 %",
                    "computed": "9/24",
                    "status": "pass",
                    "note": HOSTILE,
                }
            ],
            "audit_note": "",
        },
        "bayes": {
            "model": "prepost_hierarchical",
            "likelihood": "normal",
            "unit": HOSTILE,
            "effect_variable": "effect",
            "mcid": 10.0,
            "rope": [-5.0, 5.0],
            "reference_prior": "neutral",
            "priors": [prior_row],
            "effect_median": 11.0123,
            "freq_vs_bayes": [
                {
                    "quantity": "evidence",
                    "frequentist_label": "p (Wilcoxon, exact)",
                    "frequentist_value": 1.2e-5,
                    "bayesian_label": "BF10 (JZS, paired model)",
                    "bayesian_value": 88558.6,
                }
            ],
            "bf10": 88558.6,
            "bf10_note": "closed form",
        },
        "modifiers": {
            "subgroup_effects": {
                "parity": {HOSTILE: {"median": 1.0, "ci95_low": 0.0, "ci95_high": 2.0, "n": 1}}
            },
            "skipped": {HOSTILE: "not in the data"},
            "coefficients": [],
        },
        "diagnostics": {
            "overall": "pass",
            "failing": [],
            "fits": [],
            "predictive": [],
            "loo_pit": None,
        },
        "comparison": {
            "lomo": [
                {
                    "label": "m",
                    "target": "change",
                    "rank": 0,
                    "elpd": -80.0,
                    "se": 2.0,
                    "elpd_diff": 0.0,
                    "dse": 0.0,
                    "p_lomo": 1.3,
                    "weight": 1.0,
                }
            ],
            "psis": [],
            "notes": [HOSTILE],
            "pointwise": [{"id": HOSTILE, "m": -3.2}],
        },
        "sensitivity": None,
        "design_limits": [{"title": t, "text": x} for t, x in report.DESIGN_LIMITS],
        "figures": {"priors": {"file": "figures/priors.png", "caption": HOSTILE}},
        "timings": {"fit": 1.0},
    }


@pytest.fixture()
def html() -> str:
    return report.render_html(summary_fixture(), {"priors": PNG_1x1})


def test_hostile_strings_never_reach_the_html_unescaped(html):
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()  # no script of our own either


def test_html_has_no_network_reference(html):
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    assert references, "the page should have links and images to check"
    assert not [r for r in references if re.match(r"(?:https?:)?//", r, flags=re.I)]
    assert "@import" not in html and "url(" not in html  # no CSS fetches either


def test_figures_are_inline_png_data_uris(html):
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert sources == ["data:image/png;base64," + base64.b64encode(PNG_1x1).decode()]


def test_reconstructed_banner_is_first_in_the_body(html):
    body = html.split("<body>", 1)[1]
    assert body.index('id="reconstructed-banner"') < body.index("<h1>")
    assert RECONSTRUCTED_WARNING.split(":")[0] in body


def test_measured_data_carry_no_banner():
    page = report.render_html(summary_fixture(reconstructed=False), {})
    assert 'id="reconstructed-banner"' not in page


def test_failing_diagnostics_are_shown_before_the_first_section():
    summary = summary_fixture()
    summary["diagnostics"].update(
        overall="fail",
        failing=[
            {"fit": "m", "check": "rhat", "label": "max R-hat", "detail": "R-hat 1.05 (sigma)"}
        ],
    )
    page = report.render_html(summary, {})
    assert page.index('id="diagnostics-alert"') < page.index('<section id="data">')
    assert "R-hat 1.05 (sigma)" in page


def test_failing_diagnostics_of_a_fast_run_point_to_the_full_run():
    summary = summary_fixture()
    summary["diagnostics"].update(
        overall="fail",
        failing=[{"fit": "m", "check": "ess_bulk", "label": "min bulk ESS", "detail": "253"}],
    )
    assert summary["settings"]["fast"] is True
    assert 'id="fast-mode-hint"' in report.render_html(summary, {})
    assert "run without `--fast`" in report.render_markdown(summary)
    summary["settings"]["fast"] = False
    assert 'id="fast-mode-hint"' not in report.render_html(summary, {})
    assert "run without `--fast`" not in report.render_markdown(summary)


def test_numbers_are_formatted_not_stringified(html):
    assert "11.01" in html and "[3.15, 19.17]" in html
    assert "1.2e-05" in html  # exact p, not SPSS's 0.000
    assert "8.9 × 10^4" in html  # BF10 88558.6


def test_markdown_escapes_hostile_text():
    text = report.render_markdown(summary_fixture())
    assert HOSTILE not in text
    assert RECONSTRUCTED_WARNING in text


def test_missing_sensitivity_module_omits_the_section_cleanly(html):
    assert 'id="sensitivity"' not in html
    assert "7. What a single-group design cannot show" in html


def test_sensitivity_highlights_validate_and_render_as_a_list():
    # reanalyze writes the highlights as a list of items; the validator once wanted an
    # object and refused every real report that had a sensitivity section
    summary = summary_fixture()
    summary["sensitivity"] = [
        {
            "name": "bias",
            "title": f"Bias {HOSTILE}",
            "summary": {"tipping_point": 3.81},
            "notes": ["a note"],
            "figure": "sensitivity_bias",
        }
    ]
    report.validate_summary(summary)
    page = report.render_html(summary, {"priors": PNG_1x1, "sensitivity_bias": PNG_1x1})
    assert 'id="sensitivity"' in page and "3.81" in page and HOSTILE not in page
    assert "8. What a single-group design cannot show" in page


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.pop("schema_version"), "schema_version"),
        (lambda s: s.update(sensitivity={"bias": 1}), "'sensitivity' must be"),
        (lambda s: s.update(sensitivity=["text"]), "sensitivity[0]"),
        (lambda s: s.update(schema_version="2.0"), "not supported"),
        (lambda s: s.pop("comparison"), "'comparison'"),
        (lambda s: s.update(warning=None), "warning"),
        (lambda s: s["bayes"].update(priors=[]), "bayes.priors"),
        (lambda s: s["diagnostics"].pop("overall"), "diagnostics.overall"),
        (lambda s: s.pop("ci_prob"), "lacks the key 'ci_prob'"),
        (lambda s: s.update(ci_prob=1.0), "'ci_prob' must lie strictly between 0 and 1"),
    ],
)
def test_validate_summary_rejects_malformed_summaries(mutate, message):
    summary = summary_fixture()
    mutate(summary)
    with pytest.raises(report.ReportError, match=re.escape(message)):
        report.validate_summary(summary)
    assert issubclass(report.ReportError, MilkbayesError)


def test_write_report_round_trips_json_and_rerenders(tmp_path):
    summary = summary_fixture()
    summary["bayes"]["log_bf10"] = float("nan")  # JSON has no NaN: written as null
    paths = report.write_report(summary, {"priors": PNG_1x1}, tmp_path)
    loaded = json.loads(paths.json.read_text(encoding="utf-8"))
    report.validate_summary(loaded)
    assert loaded["schema_version"] == report.SCHEMA_VERSION
    assert loaded["bayes"]["log_bf10"] is None
    first = paths.html.read_text(encoding="utf-8")
    paths.html.unlink()
    again = report.rerender(tmp_path)
    assert again.html.read_text(encoding="utf-8") == first
    (tmp_path / "figures" / "priors.png").unlink()
    with pytest.raises(report.ReportError, match="priors.png"):
        report.rerender(tmp_path)


def test_infinite_bayes_factor_reads_the_same_after_rerendering(tmp_path):
    """An infinite Bayes factor reads the same on the page re-rendered from summary.json.

    JSON writes an infinity as "inf" (milkbayes.jsonio); the formatters read it back
    as an infinity, not as a missing value.
    """
    summary = summary_fixture()
    summary["bayes"]["bf10"] = float("inf")
    summary["bayes"]["freq_vs_bayes"][0]["bayesian_value"] = float("inf")
    paths = report.write_report(summary, {"priors": PNG_1x1}, tmp_path)
    loaded = json.loads(paths.json.read_text(encoding="utf-8"))
    assert loaded["bayes"]["bf10"] == "inf"
    assert loaded["bayes"]["freq_vs_bayes"][0]["bayesian_value"] == "inf"
    first = paths.html.read_text(encoding="utf-8")
    assert "&gt; 10^300" in first
    again = report.rerender(tmp_path)
    assert again.html.read_text(encoding="utf-8") == first


def test_report_folder_is_recognised_only_with_nothing_else_in_it(tmp_path):
    paths = report.write_report(summary_fixture(), {"priors": PNG_1x1}, tmp_path)
    assert report.is_report_folder(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} <= report.REPORT_ENTRIES
    (tmp_path / "thesis.tex").write_text("precious")
    assert not report.is_report_folder(tmp_path)
    assert paths.json.is_file()


def test_csv_exports_neutralise_formulas(tmp_path):
    paths = report.write_report(summary_fixture(), {"priors": PNG_1x1}, tmp_path)
    rows = list(csv.DictReader(io.StringIO((paths.tables / "participants.csv").read_text())))
    assert [r["id"] for r in rows] == [HOSTILE, "'" + FORMULA]
    assert rows[1]["change"] == "2.0"  # numbers untouched


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("M01", "M01"),
        (-1.5, -1.5),
        (3, 3),
    ],
)
def test_csv_safe(cell, expected):
    assert report.csv_safe(cell) == expected


def test_rerender_of_a_folder_without_summary_is_a_clear_error(tmp_path):
    with pytest.raises(report.ReportError, match="summary.json"):
        report.rerender(tmp_path)


def test_design_limits_cover_the_known_threats():
    titles = " ".join(t.lower() for t, _ in report.DESIGN_LIMITS)
    for threat in ("control", "regression to the mean", "rises", "unblinded", "husbands"):
        assert threat in titles


def test_summary_fixture_is_not_mutated_by_rendering():
    summary = summary_fixture()
    before = copy.deepcopy(summary)
    report.render_html(summary, {})
    assert summary == before


MARKDOWN_LINKS = ("![x](http://host/p.png)", "[x](javascript:alert(1))", "[a][b]")


@pytest.mark.parametrize("text", MARKDOWN_LINKS)
def test_user_text_cannot_become_a_link_or_an_image_in_the_markdown_report(text):
    """A participant id or file name that is Markdown link syntax renders as text.

    Rendered by a CommonMark renderer (markdown-it), the report must hold no image and
    no link made from the user's text, and the text itself must read back unchanged.
    """
    from markdown_it import MarkdownIt

    summary = summary_fixture(reconstructed=False)
    summary["data"]["source"] = f"/data/{text}.csv"
    summary["data"]["dropped_ids"] = [text]
    for row in summary["data"]["participants"]:
        row["id"] = text
    rendered = MarkdownIt("commonmark").render(report.render_markdown(summary))
    sources = re.findall(r'<img src="([^"]*)"', rendered)
    targets = re.findall(r'<a href="([^"]*)"', rendered)
    assert all(src.startswith("figures/") for src in sources), sources
    assert not any("host" in t or "javascript" in t for t in targets), targets
    assert html_module.escape(text, quote=False) in rendered


def test_the_mcid_is_printed_with_its_source_where_first_used():
    """One line "MCID = ... (source: ...)"; a summary without the key still renders."""
    summary = summary_fixture()
    summary["bayes"]["mcid"] = 6.3
    summary["bayes"]["mcid_source"] = "half an SD of one feed (Kent et al. 2006)"
    html_text = report.render_html(summary, {"priors": PNG_1x1})
    assert "MCID = 6.3" in html_text and "(source: half an SD of one feed (Kent et al. 2006))" in (
        html_text
    )
    first = html_text.index("MCID = 6.3")
    assert html_text.index("(source: half an SD") - first < 200  # on the same line
    markdown = report.render_markdown(summary)
    line = next(x for x in markdown.splitlines() if "MCID = 6.3" in x)
    assert "(source: half an SD of one feed (Kent et al. 2006))" in line
    assert "(source:" not in report.render_markdown(summary_fixture())


def test_the_command_line_says_why_a_fast_run_may_fail_its_diagnostics():
    from milkbayes.cli.report_commands import _fast_mode_hint

    fast_fail = {"settings": {"fast": True}, "diagnostics": {"overall": "fail"}}
    assert "run without --fast" in _fast_mode_hint(fast_fail)
    assert _fast_mode_hint({**fast_fail, "settings": {"fast": False}}) == ""
    assert _fast_mode_hint({**fast_fail, "diagnostics": {"overall": "pass"}}) == ""


def test_loo_pit_and_its_reliability_note_appear_in_both_reports():
    summary = summary_fixture()
    note = "KS test against U(0, 1) over 48 observations; 16 of 48 have Pareto k > 0.70"
    summary["diagnostics"]["loo_pit"] = {
        "variable": "y_obs",
        "values": [0.5] * 48,
        "ks_statistic": 0.0718,
        "ks_p_value": 0.9507,
        "status": "warn",
        "note": note,
        "n_high_k": 16,
        "k_threshold": 0.7,
    }
    markdown = report.render_markdown(summary)
    assert "LOO-PIT of `y_obs`: KS statistic 0.072, p = 0.951 (warn)" in markdown
    assert "16 of 48 have Pareto k" in markdown
    assert "16 of 48 have Pareto k" in html_module.unescape(report.render_html(summary, {}))


def test_convergence_rows_print_counts_and_ess_as_whole_numbers():
    summary = summary_fixture()
    rows = [("rhat", 1.00333), ("ess_bulk", 1313.273), ("divergences", 0.0), ("ebfmi", 0.42407)]
    summary["diagnostics"]["fits"] = [
        {
            "label": "m",
            "status": "pass",
            "chains": 4,
            "draws": 2000,
            "rows": [
                {
                    "check": check,
                    "label": check,
                    "value": value,
                    "threshold": "t",
                    "status": "pass",
                    "worst": None,
                    "detail": "",
                }
                for check, value in rows
            ],
        }
    ]
    markdown = report.render_markdown(summary)
    for check, shown in [("rhat", "1.003"), ("ess_bulk", "1313"), ("divergences", "0")]:
        assert f"| {check} | {shown} | t | pass |" in markdown
    assert "| ebfmi | 0.42 | t | pass |" in markdown
    assert ">1313<" in report.render_html(summary, {})
