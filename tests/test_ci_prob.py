"""``reanalyze --ci-prob``: one interval probability for every credible interval.

One tiny run at ``ci_prob = 0.8`` on the bundled volumes saved without their sidecar
(read as measured data: no ensemble, no published-facts headline, so the run stays
short). Its main-effect interval is checked against ``numpy.quantile`` at 0.1/0.9 of
the reference prior's draws, refitted independently with the run's seed (same seed,
same draws); its summary and report must say 80 %.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from _small_runs import TINY
from milkbayes.cli import main
from milkbayes.errors import EXIT_USER_ERROR, DiagnosticsFailedError
from milkbayes.report import render as report

CI_PROB = 0.8
SETTINGS = dataclasses.replace(TINY, reloo=False, ci_prob=CI_PROB)


@pytest.fixture(scope="module")
def measured_csv(tmp_path_factory):
    """The bundled table saved as a plain CSV (no sidecar: measured data, no ensemble)."""
    from milkbayes.datasets import load_bundled

    path = tmp_path_factory.mktemp("ci_prob") / "study.csv"
    load_bundled("volume_ml").table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run80(measured_csv, tmp_path_factory):
    from milkbayes.reanalysis.pipeline import load_input_study, run_reanalysis

    study = load_input_study(measured_csv)
    out = tmp_path_factory.mktemp("ci_prob_run") / "report"
    try:
        result = run_reanalysis(study, out, settings=SETTINGS, sensitivity=False)
    except DiagnosticsFailedError as failed:  # tiny runs may fail the checks; report written
        result = failed.result
    return study, result


def test_main_effect_interval_is_the_central_80_percent_of_the_draws(run80):
    from milkbayes.engine.fit import fit

    study, result = run80
    summary = result.summary
    bayes = summary["bayes"]
    # the reference prior's fit again, with the run's settings and seed: same draws
    again = fit(
        SETTINGS.main_model,
        study,
        prior=SETTINGS.reference_prior,
        mcid=bayes["mcid"],
        draws=SETTINGS.draws,
        tune=SETTINGS.tune,
        chains=SETTINGS.chains,
        seed=SETTINGS.seed,
    )
    draws = np.asarray(again.tree["posterior"][again.summary["effect_variable"]]).ravel()
    low, high = np.quantile(draws, [0.1, 0.9])
    row = next(p for p in bayes["priors"] if p["prior"] == SETTINGS.reference_prior)
    assert row["median"] == pytest.approx(np.median(draws), rel=1e-9)
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high), rel=1e-9)
    # the fit's own summary (ArviZ's equal-tailed interval at 0.8) agrees too
    assert again.summary["effect_ci95_low"] != pytest.approx(low)  # fit default is 0.95
    at80 = fit(
        SETTINGS.main_model,
        study,
        prior=SETTINGS.reference_prior,
        mcid=bayes["mcid"],
        draws=SETTINGS.draws,
        tune=SETTINGS.tune,
        chains=SETTINGS.chains,
        seed=SETTINGS.seed,
        ci_prob=CI_PROB,
    )
    assert (at80.summary["effect_ci95_low"], at80.summary["effect_ci95_high"]) == pytest.approx(
        (low, high), rel=1e-9
    )
    interval_rows = [r for r in bayes["freq_vs_bayes"] if r["quantity"] == "interval"]
    assert interval_rows
    for r in interval_rows:
        assert tuple(r["bayesian_value"]) == pytest.approx((low, high), rel=1e-9)
        assert r["bayesian_label"].startswith("80 % credible interval")


def test_summary_records_the_level_at_the_top_and_in_the_settings(run80):
    summary = run80[1].summary
    assert summary["ci_prob"] == CI_PROB
    assert summary["settings"]["ci_prob"] == CI_PROB
    assert summary["schema_version"] == report.SCHEMA_VERSION
    assert tuple(int(p) for p in report.SCHEMA_VERSION.split(".")) >= (1, 2)  # has ci_prob
    report.validate_summary(summary)


def test_report_labels_the_credible_intervals_80_percent(run80):
    result = run80[1]
    markdown = result.markdown.read_text(encoding="utf-8")
    assert "| prior | median | 80 % CrI |" in markdown
    assert "80 % credible interval" in markdown
    assert "95 % CrI" not in markdown and "95 % credible interval" not in markdown
    html = result.html.read_text(encoding="utf-8")
    assert "<th>80 % CrI</th>" in html and "95 % CrI" not in html


def test_summary_without_ci_prob_before_1_2_reads_as_95_percent(run80):
    summary = dict(run80[1].summary)
    summary.pop("ci_prob")
    summary["schema_version"] = "1.1"
    report.validate_summary(summary)
    assert "| prior | median | 95 % CrI |" in report.render_markdown(summary)


@pytest.mark.parametrize("value", ["0", "1", "1.5", "abc", "-0.2", "nan"])
def test_bad_ci_prob_is_one_line_exit_2_and_nothing_written(value, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["reanalyze", "--fast", "--ci-prob", value, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == EXIT_USER_ERROR == 2
    assert captured.err.startswith("error: --ci-prob") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == []
