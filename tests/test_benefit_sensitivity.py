"""The prior grid, leave-one-out influence and likelihood tables of a lower-is-better outcome.

For ``benefit = "decrease"`` the tables add ``p_benefit`` = P(effect < 0) and
``p_benefit_gt_mcid`` = P(effect < -MCID). Checked independently: against the
tables' own P(effect > 0) from the same draws (P(benefit) = 1 - P(effect > 0)),
against a one-dimensional integral done by scipy (the normal-family grid on delta),
and against a mirror image of the data (post' = -post, pre' = -pre, direction
flipped), which must give the mirrored table: a sign error puts the mirrored
numbers on the other side of 0.5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from milkbayes.cli import main

ROOT = Path(__file__).resolve().parents[1]
SLEEP = ROOT / "tests/data/sleep_student1908.csv"
SMALL = {"draws": 400, "tune": 300, "chains": 2}


def _studies(n: int | None = None):
    """Student's sleep data (a rise) and its mirror image, where lower is better."""
    from milkbayes.data import Outcome
    from milkbayes.data.study import study_from_frame

    frame = pd.read_csv(SLEEP).head(n)
    up = study_from_frame(frame, outcome=Outcome("continuous"))
    mirrored = frame.assign(pre=-frame["pre"], post=-frame["post"])
    down = study_from_frame(mirrored, outcome=Outcome("continuous", benefit="decrease"))
    return up, down


def test_normal_delta_grid_of_a_fall_is_the_mirror_of_a_rise():
    """Quadrature (no sampling): default locations mirrored, probabilities mirrored."""
    from milkbayes.sensitivity import prior_grid

    up, down = _studies()
    a = prior_grid(up, "paired_change", family="normal").table
    b = prior_grid(down, "paired_change", family="normal").table
    assert "p_benefit" not in a.columns  # a rise's table keeps its columns
    assert len(a) == len(b) == 56
    np.testing.assert_allclose(b.location, -a.location, atol=0)
    np.testing.assert_allclose(b.scale, a.scale, atol=0)
    np.testing.assert_allclose(b.effect_median, -a.effect_median, atol=2e-3)
    np.testing.assert_allclose(b.p_benefit, a.p_effect_gt_0, atol=1e-3)
    np.testing.assert_allclose(b.p_benefit_gt_mcid, a.p_effect_gt_mcid, atol=1e-3)
    np.testing.assert_allclose(b.p_benefit, 1.0 - b.p_effect_gt_0, atol=1e-12)
    # the sleep data rose clearly, so the fall of the mirror is likely under every
    # prior but the narrow ones on the harm side: a sign error would flip these
    assert b.p_benefit.median() > 0.9 and b.p_effect_gt_0.median() < 0.1


def test_normal_delta_grid_p_benefit_gt_mcid_matches_scipy_quadrature():
    """P(delta < -0.5 | t) with a normal prior, integrated by scipy.integrate.quad."""
    from milkbayes.models.paired_change import paired_t
    from milkbayes.models.priors import DELTA_MCID
    from milkbayes.sensitivity import prior_grid
    from milkbayes.sensitivity.common import massage_changes

    _, down = _studies()
    result = prior_grid(
        down, "paired_change", family="normal", locations=(0.5, -0.5), scales=(0.35, 1.0)
    )
    t, n = paired_t(massage_changes(down)), int(massage_changes(down).size)
    assert t < 0  # the mirror fell
    for row in result.table.itertuples():

        def joint(d, loc=row.location, scale=row.scale):
            return stats.nct.pdf(t, n - 1, d * math.sqrt(n)) * stats.norm.pdf(d, loc, scale)

        centre = t / math.sqrt(n)
        total = integrate.quad(joint, -np.inf, np.inf, points=None, limit=200)[0]
        below = integrate.quad(joint, -np.inf, -DELTA_MCID, limit=200)[0]
        below0 = integrate.quad(joint, -np.inf, 0.0, limit=200)[0]
        assert centre < 0
        assert row.p_benefit_gt_mcid == pytest.approx(below / total, abs=2e-4)
        assert row.p_benefit == pytest.approx(below0 / total, abs=2e-4)
    assert result.summary["benefit"] == "decrease"
    assert result.summary["p_benefit_gt_mcid_min"] == pytest.approx(
        result.table.p_benefit_gt_mcid.min(), abs=0
    )


@pytest.fixture(scope="module")
def sampled_grids():
    """A 2 x 1 Cauchy grid on delta (paired_change refits) of the data and its mirror.

    Five pairs only, so that a narrow prior still moves the posterior.
    """
    from milkbayes.sensitivity import prior_grid
    from milkbayes.sensitivity.common import SamplerOptions

    up, down = _studies(5)
    sampler = SamplerOptions(**SMALL, seed=7)
    a = prior_grid(up, "paired_change", locations=(-0.5, 0.5), scales=(0.1,), sampler=sampler)
    b = prior_grid(down, "paired_change", locations=(0.5, -0.5), scales=(0.1,), sampler=sampler)
    return a, b


def test_sampled_grid_p_benefit_is_one_minus_p_effect_gt_0_of_the_same_draws(sampled_grids):
    _, b = sampled_grids
    table = b.table
    # from the same draws: no draw of a continuous posterior is exactly 0
    np.testing.assert_allclose(table.p_benefit, 1.0 - table.p_effect_gt_0, atol=1e-12)
    assert b.summary["benefit"] == "decrease"
    assert b.summary["p_benefit_min"] == pytest.approx(table.p_benefit.min(), abs=0)


def test_sampled_grid_of_the_mirror_is_the_mirrored_table(sampled_grids):
    a, b = sampled_grids
    # Monte Carlo error of a probability from 800 draws: at most 0.5 / sqrt(ESS ~ 300)
    np.testing.assert_allclose(b.table.p_benefit, a.table.p_effect_gt_0, atol=0.08)
    np.testing.assert_allclose(b.table.p_benefit_gt_mcid, a.table.p_effect_gt_mcid, atol=0.08)
    np.testing.assert_allclose(b.table.effect_median, -a.table.effect_median, atol=0.15)
    # the narrow prior on the harm side (mirror's +0.5) holds P(benefit) well below
    # the one on the benefit side: the columns are read on the right side
    harm, help_ = b.table.p_benefit.iloc[0], b.table.p_benefit.iloc[1]
    assert help_ - harm > 0.2 and harm < 0.8


@pytest.fixture(scope="module")
def influence_pair():
    from milkbayes.sensitivity import influence
    from milkbayes.sensitivity.common import SamplerOptions

    up, down = _studies(6)
    sampler = SamplerOptions(**SMALL, seed=3)
    return (
        influence(up, "paired_change", mcid=0.5, sampler=sampler),
        influence(down, "paired_change", mcid=0.5, sampler=sampler),
    )


def test_influence_of_a_fall_gives_p_benefit_and_mirrors(influence_pair):
    a, b = influence_pair
    assert "p_benefit" not in a.table.columns
    np.testing.assert_allclose(b.table.p_benefit, 1.0 - b.table.p_effect_gt_0, atol=1e-12)
    np.testing.assert_allclose(b.table.p_benefit, a.table.p_effect_gt_0, atol=0.08)
    np.testing.assert_allclose(b.table.p_benefit_gt_mcid, a.table.p_effect_gt_mcid, atol=0.08)
    np.testing.assert_allclose(b.table.change, -a.table.change, atol=1e-12)
    s = b.summary
    assert s["benefit"] == "decrease"
    assert s["p_benefit_all"] == pytest.approx(1.0 - s["p_effect_gt_0_all"], abs=1e-12)
    assert s["p_benefit_gt_mcid_min"] == pytest.approx(b.table.p_benefit_gt_mcid.min(), abs=0)


def test_likelihood_table_of_a_fall_gives_p_benefit():
    from milkbayes.sensitivity import likelihood_variants
    from milkbayes.sensitivity.common import SamplerOptions

    up, down = _studies()
    sampler = SamplerOptions(**SMALL, seed=5)
    a = likelihood_variants(up, "paired_change", mcid=0.5, sampler=sampler)
    b = likelihood_variants(down, "paired_change", mcid=0.5, sampler=sampler)
    assert list(b.table.likelihood) == ["normal", "student_t"]
    assert "p_benefit" not in a.table.columns and "benefit" not in a.summary
    np.testing.assert_allclose(b.table.p_benefit, 1.0 - b.table.p_effect_gt_0, atol=1e-12)
    np.testing.assert_allclose(b.table.p_benefit_gt_mcid, a.table.p_effect_gt_mcid, atol=0.08)
    assert b.summary["p_benefit_min"] == pytest.approx(b.table.p_benefit.min(), abs=0)


def test_cli_prior_grid_names_the_benefit_columns(capsys):
    argv = ["sensitivity", "prior-grid", "--data", str(SLEEP), "--family", "normal"]
    argv += ["--locations", "0,0.5", "--scales", "0.5"]
    assert main([*argv, "--benefit", "decrease"]) == 0
    text = capsys.readouterr().out
    assert "P(benefit) = P(effect < 0)" in text
    assert "P(benefit > MCID) = P(effect < -0.5)" in text
    assert main([*argv, "--benefit", "decrease", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = payload["table"]
    assert payload["summary"]["benefit"] == "decrease"
    assert [r["p_benefit"] for r in rows] == pytest.approx([1 - r["p_effect_gt_0"] for r in rows])
    assert main(argv) == 0
    assert "P(benefit)" not in capsys.readouterr().out


def test_report_sentence_of_a_fall_speaks_of_p_benefit():
    from milkbayes.report.formatting import sensitivity_sentence, summary_rows

    summary = {
        "n_settings": 56,
        "effect_median_min": -3.0,
        "effect_median_max": -1.0,
        "p_effect_gt_0_min": 0.0,
        "p_effect_gt_mcid_min": 0.0,
        "p_effect_gt_mcid_max": 0.01,
        "benefit": "decrease",
        "p_benefit_min": 0.91,
        "p_benefit_gt_mcid_min": 0.2,
        "p_benefit_gt_mcid_max": 0.7,
    }
    text = sensitivity_sentence({"name": "prior_grid", "summary": summary}, "points")
    assert "the smallest P(benefit) = P(effect < 0) is 0.910" in text
    assert "P(benefit > MCID) runs from 0.200 to 0.700 (lower is better)" in text
    labels = dict(summary_rows(summary))
    assert labels["smallest P(benefit) = P(effect < 0)"] == "0.910"


def test_bias_figure_of_a_fall_plots_the_benefit_side_closed_form():
    """Curves P(mu - T < -a) = Phi((t - m - a) / sqrt(sd^2 + s^2)), tips at a natural fall."""
    from types import SimpleNamespace

    from milkbayes.comparison.tables import benefit_label
    from milkbayes.sensitivity.bias import bias_analysis

    _, down = _studies()
    m, sd, s, mcid = -10.0, 2.0, 1.5, 4.0
    draws = stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000, m, sd)  # mu ~ N(m, sd^2)
    fake = SimpleNamespace(
        tree={"posterior": {"mu": SimpleNamespace(values=draws)}},
        summary={"effect_variable": "mu"},
        model_name="paired_change",
    )
    result = bias_analysis(down, mcid=mcid, trend_mean=-1.0, trend_sd=s, fit_result=fake)
    table, total = result.table, math.hypot(sd, s)
    t = table.trend_mean.to_numpy()
    np.testing.assert_allclose(table.p_benefit, stats.norm.cdf((t - m) / total), atol=1e-4)
    np.testing.assert_allclose(
        table.p_benefit_gt_mcid, stats.norm.cdf((t - m - mcid) / total), atol=1e-4
    )
    tip = m + stats.norm.ppf(0.95) * total  # a natural fall of about 5.9
    assert t.min() <= tip < 0 <= t.max()  # the span reaches the fall that tips it
    axes = result.figure.axes[0]
    _, labels = axes.get_legend_handles_labels()
    assert labels[:2] == [benefit_label("decrease"), benefit_label("decrease", mcid)]
    curve = axes.get_lines()[0]
    np.testing.assert_allclose(curve.get_ydata(), table.p_benefit, atol=0)
    # the dashed tipping-point lines stand at the fall's tips, not the rise's
    dashed = sorted(
        float(line.get_xdata()[0]) for line in axes.get_lines() if line.get_linestyle() == "--"
    )
    assert dashed == pytest.approx(sorted([tip, m + mcid]), abs=2e-3)
    assert "falls without treatment" in result.title
