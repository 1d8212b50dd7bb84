"""Tests of milkbayes.sensitivity: each value is worked out independently of the code.

Sources of the reference values: closed forms (Pitman's asymptotic power of the
signed-rank test, the normal conjugate posterior, truncated priors), the direct
Wilcoxon test of :func:`milkbayes.frequentist.wilcoxon_many` on the same random
numbers, and the arithmetic of SPSS's Z for n = 24 (E T = 150, sd T = 35, so
p < .0005 means a smaller rank sum <= 28 of 300).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.errors import MilkbayesError
from milkbayes.frequentist import wilcoxon_many
from milkbayes.sensitivity import (
    POWER_DISTRIBUTIONS,
    SensitivityResult,
    pitman_power,
    power_curve,
    published_p_posterior,
    rejection_thresholds,
    tipping_points,
    wilcoxon_critical_w_plus,
)
from milkbayes.sensitivity.published_p import _grid_posterior

SPSS_THRESHOLD = 0.0005


# --------------------------------------------------------------------------- published p
def test_critical_w_plus_matches_the_published_bound_and_the_spss_test():
    critical = wilcoxon_critical_w_plus(24, SPSS_THRESHOLD)
    # With 24 untied non-zero differences, p < .0005 means |Z| > 3.4808, i.e. a
    # smaller rank sum T < 150 - 35 * 3.4808 = 28.17: at most 28 of 300.
    assert 300 - critical == 28
    # Changes equal to the ranks 1..24, negative on a set S, have W- = sum(S):
    # S = {4, 24} gives W- = 28 (must reach p < .0005), S = {5, 24} gives W- = 29 (must not).
    ranks = np.arange(1, 25, dtype=float)
    at_bound = np.where(np.isin(ranks, [4, 24]), -ranks, ranks)
    past_bound = np.where(np.isin(ranks, [5, 24]), -ranks, ranks)
    _, p = wilcoxon_many([at_bound, past_bound])
    assert p[0] < SPSS_THRESHOLD <= p[1]


@pytest.mark.parametrize("distribution", ["normal", "t3"])
def test_rejection_thresholds_reproduce_the_wilcoxon_test_on_the_same_numbers(distribution):
    n, n_sim, seed = 24, 400, 11
    lower, upper = rejection_thresholds(
        n, distribution=distribution, n_sim=n_sim, seed=seed, chunk=n_sim
    )
    noise = POWER_DISTRIBUTIONS[distribution](np.random.default_rng(seed), (n_sim, n))
    for delta in (-1.2, -0.4, 0.3, 0.7, 1.0, 1.6):
        z, p = wilcoxon_many(delta + noise)
        expected_up = (p < SPSS_THRESHOLD) & (z > 0)
        expected_down = (p < SPSS_THRESHOLD) & (z < 0)
        np.testing.assert_array_equal(delta > upper, expected_up)
        np.testing.assert_array_equal(delta <= lower, expected_down)


def test_unit_variance_noise_so_delta_is_mean_over_sd():
    rng = np.random.default_rng(0)
    for name, draw in POWER_DISTRIBUTIONS.items():
        sample = draw(rng, (400_000, 1))
        assert abs(sample.mean()) < 0.01, name
        # the t3 variance estimate converges slowly (infinite kurtosis): wide tolerance
        assert abs(sample.var() - 1.0) < (0.15 if name == "t3" else 0.01), name


def test_power_matches_pitman_closed_form_for_large_n():
    # Pitman: power -> 1 - Phi(z_crit - delta sqrt(3n/pi)) for normal changes.
    n, n_sim = 200, 2000
    z_crit = stats.norm.isf(SPSS_THRESHOLD / 2)
    deltas = np.array([0.5, 1.0, 1.5]) * z_crit / math.sqrt(3 * n / math.pi)
    simulated = power_curve(deltas, n, n_sim=n_sim, seed=5)
    expected = stats.norm.sf(z_crit - deltas * math.sqrt(3 * n / math.pi))
    np.testing.assert_allclose(pitman_power(deltas, n), expected)
    monte_carlo_se = np.sqrt(expected * (1 - expected) / n_sim)
    # 3 MC standard errors plus 0.01 for the O(1/sqrt(n)) error of the approximation
    assert np.all(np.abs(simulated - expected) < 3 * monte_carlo_se + 0.01), (simulated, expected)


def test_power_is_monotone_and_has_the_right_size():
    grid = np.linspace(-1, 3, 81)
    power = power_curve(grid, 24, n_sim=3000, seed=1)
    assert np.all(np.diff(power) >= 0)
    assert power[0] == 0.0 and power[-1] == 1.0
    # At delta = 0 the one-sided rejection rate is the size, about 0.00025 (normal
    # approximation); with 100,000 samples it must be well below 0.002.
    size = power_curve(0.0, 24, n_sim=100_000, seed=2)
    assert float(size) < 0.002
    symmetric = np.linspace(-2, 2, 81)
    two_sided = power_curve(symmetric, 24, alternative="two-sided", n_sim=3000, seed=1)
    # symmetric in delta up to Monte Carlo error (sd <= sqrt(0.25 * 2 / 3000) = 0.013)
    np.testing.assert_allclose(two_sided, two_sided[::-1], atol=0.05)


def test_grid_posterior_with_flat_likelihood_returns_the_prior_including_its_tails():
    prior = stats.cauchy(0, math.sqrt(2) / 2)
    grid = np.linspace(-2, 2, 801)
    posterior = _grid_posterior(grid, prior, np.ones_like(grid))
    for q in (0.025, 0.5, 0.975):  # 0.975 lies far beyond the grid (Cauchy tail)
        assert posterior.quantile(q) == pytest.approx(prior.ppf(q), abs=1e-3, rel=1e-4)


def test_grid_posterior_with_step_likelihood_is_the_truncated_prior():
    # Power 0 below a and 1 above: the posterior is the prior truncated to (a, inf),
    # whose quantile q is prior.ppf(cdf(a) + q sf(a)).
    prior, a = stats.cauchy(0, 0.707), 0.8
    grid = np.arange(-1.0, 4.0, 0.0005)
    posterior = _grid_posterior(grid, prior, (grid > a).astype(float))
    for q in (0.025, 0.5, 0.975):
        expected = prior.ppf(prior.cdf(a) + q * prior.sf(a))
        assert posterior.quantile(q) == pytest.approx(expected, rel=2e-3)


def test_published_p_posterior_result():
    result = published_p_posterior(n_sim=4000, seed=3)
    assert isinstance(result, SensitivityResult) and isinstance(result.figure, Figure)
    assert result.reconstructed is False and result.warning is None
    table = result.table.set_index("distribution")
    assert list(table.index) == ["normal", "t3", "prior"]
    normal = table.loc["normal"]
    # p < .0005 with n = 24 needs W+ >= 272; the power is ~1 % at delta = 0.35, so the
    # posterior puts almost nothing below 0.3, and the upper end is the prior's tail.
    assert normal["p_delta_gt_0"] > 0.999
    assert 0.5 < normal["ci95_low"] < normal["median"] < normal["ci95_high"]
    assert normal["ci95_high"] > 3.0
    # heavier tails: the Wilcoxon test is more powerful (ARE > 1) so smaller deltas
    # explain the result as well: the t3 posterior sits lower.
    assert table.loc["t3", "median"] < normal["median"]
    prior = table.loc["prior"]
    assert prior["p_delta_gt_0"] == pytest.approx(0.5)
    assert prior["p_delta_gt_0.5"] == pytest.approx(stats.cauchy(0, math.sqrt(2) / 2).sf(0.5))
    power = result.extra_tables["power_curve"]
    assert {"delta", "power_normal", "power_t3", "power_pitman_normal"} <= set(power.columns)


def test_published_p_posterior_bad_options_raise_clear_errors():
    with pytest.raises(MilkbayesError, match="unknown distribution"):
        published_p_posterior(distributions=("cauchy",), n_sim=100)
    with pytest.raises(MilkbayesError, match="prior"):
        published_p_posterior(prior="uniform", n_sim=100)
    with pytest.raises(MilkbayesError, match="widen"):
        published_p_posterior(delta_grid=np.linspace(-0.5, 0.6, 50), n_sim=200)


# --------------------------------------------------------------------------- bias analysis
def test_tipping_points_match_the_normal_conjugate_closed_form():
    # Known-sigma normal model: y_i ~ N(mu, sigma), mu ~ N(m0, s0) gives
    # mu | y ~ N(m, v) with 1/v = 1/s0^2 + n/sigma^2 and m = v (m0/s0^2 + n ybar/sigma^2).
    rng = np.random.default_rng(4)
    sigma, n, m0, s0 = 6.0, 24, 0.0, 20.0
    y = rng.normal(9.5, sigma, n)
    v = 1.0 / (1.0 / s0**2 + n / sigma**2)
    m = v * (m0 / s0**2 + n * y.mean() / sigma**2)
    draws = stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000, m, math.sqrt(v))
    trend_sd, mcid = 3.0, 5.0
    table, tip_positive, tip_mcid = tipping_points(draws, trend_sd=trend_sd, mcid=mcid)
    z95 = stats.norm.ppf(0.95)
    assert tip_positive == pytest.approx(m - z95 * math.sqrt(v + trend_sd**2), abs=5e-3)
    assert tip_mcid == pytest.approx(m - mcid, abs=5e-3)
    expected = stats.norm.sf((table.trend_mean + 0.0 - m) / math.sqrt(v + trend_sd**2))
    np.testing.assert_allclose(table.p_effect_gt_0, expected, atol=2e-3)
    assert np.all(np.diff(table.p_effect_gt_mcid) <= 0)


def test_tipping_points_reject_bad_input():
    with pytest.raises(MilkbayesError, match="trend_sd"):
        tipping_points(np.arange(100.0), trend_sd=-1.0, mcid=1.0)
    with pytest.raises(MilkbayesError, match="finite"):
        tipping_points(np.r_[np.arange(100.0), np.nan], trend_sd=1.0, mcid=1.0)


def test_reconstructed_warning_is_carried():
    result = SensitivityResult(
        name="x", title="x", table=None, figure=None, summary={}, reconstructed=True
    )
    assert result.warning == RECONSTRUCTED_WARNING


# --------------------------------------------------------------------------- refits
# The conjugate toy model (tests/_toy_model.py) has a closed-form posterior:
# Normal(m_n, s_n) with 1/s_n^2 = 1/s0^2 + W/s^2, m_n = s_n^2 (m0/s0^2 + sum w_i d_i / s^2).

from milkbayes.sensitivity import (  # noqa: E402
    FAST_SAMPLER,
    SamplerOptions,
    bf_robustness,
    bias_analysis,
    influence,
    likelihood_variants,
    prior_grid,
    reconstruction_ensemble,
)

TOY_NOISE_SD = 4.0
TOY_SAMPLER = SamplerOptions(draws=1000, tune=300, chains=2, seed=7)


def _conjugate(change, weight, m0, s0, s=TOY_NOISE_SD):
    precision = 1 / s0**2 + weight.sum() / s**2
    return (m0 / s0**2 + (weight * change).sum() / s**2) / precision, precision**-0.5


def test_influence_matches_the_conjugate_leave_one_out_posterior(small_study, toy_model, toy_prior):
    result = influence(small_study, toy_model, prior=toy_prior, mcid=5.0, sampler=TOY_SAMPLER)
    change = np.asarray(small_study.change, dtype=float)
    assert list(result.table.id) == list(small_study.ids)
    for index, row in result.table.iterrows():
        weight = np.ones_like(change)
        weight[index] = 0.0
        mean, sd = _conjugate(change, weight, 0.0, 20.0)
        # posterior median of a normal is its mean; MC error about sd / sqrt(ESS ~ 600)
        assert row.effect_median == pytest.approx(mean, abs=5 * sd / math.sqrt(600))
        assert row.p_effect_gt_mcid == pytest.approx(stats.norm.sf(5.0, mean, sd), abs=0.06)
        assert row.change == pytest.approx(change[index])
    full_mean, _ = _conjugate(change, np.ones_like(change), 0.0, 20.0)
    np.testing.assert_allclose(
        result.table["shift"], result.table.effect_median - result.summary["effect_median_all"]
    )
    assert result.summary["effect_median_all"] == pytest.approx(full_mean, abs=0.4)
    # the mother with the largest change pulls the effect most when she leaves
    assert result.summary["most_influential_id"] in {
        small_study.ids[int(np.argmax(change))],
        small_study.ids[int(np.argmin(change))],
    }
    assert result.reconstructed is False


def test_prior_grid_matches_the_conjugate_posterior_at_every_setting(
    small_study, toy_model, toy_prior
):
    result = prior_grid(
        small_study,
        toy_model,
        base_prior=toy_prior,
        prior_keys=("mu_loc", "mu_scale"),
        locations=(-10.0, 0.0, 10.0),
        scales=(1.0, 5.0),
        mcid=5.0,
        sampler=TOY_SAMPLER,
    )
    change = np.asarray(small_study.change, dtype=float)
    assert len(result.table) == 6
    for _, row in result.table.iterrows():
        mean, sd = _conjugate(change, np.ones_like(change), row.location, row.scale)
        assert row.effect_median == pytest.approx(mean, abs=5 * sd / math.sqrt(600))
        assert row.effect_ci95_low == pytest.approx(mean - 1.96 * sd, abs=0.25 * sd + 0.05)
    assert "bf_robustness" not in result.extra_tables  # no JZS BF for a non-t model


def test_bias_analysis_tipping_point_matches_closed_form_on_a_conjugate_fit(
    small_study, toy_model, toy_prior
):
    result = bias_analysis(
        small_study,
        model=toy_model,
        prior=toy_prior,
        mcid=5.0,
        trend_mean=1.0,
        trend_sd=2.0,
        sampler=TOY_SAMPLER,
    )
    change = np.asarray(small_study.change, dtype=float)
    m, sd = _conjugate(change, np.ones_like(change), 0.0, 20.0)
    total_sd = math.sqrt(sd**2 + 2.0**2)
    summary = result.summary
    assert summary["tipping_point_p_effect_gt_0"] == pytest.approx(
        m - stats.norm.ppf(0.95) * total_sd, abs=0.3
    )
    assert summary["tipping_point_p_effect_gt_mcid"] == pytest.approx(m - 5.0, abs=0.3)
    assert summary["p_effect_gt_0"] == pytest.approx(stats.norm.sf(0, m - 1.0, total_sd), abs=0.03)
    assert summary["naive_p_effect_gt_mcid"] == pytest.approx(stats.norm.sf(5.0, m, sd), abs=0.05)


def test_bias_analysis_defaults_on_the_bundled_data(paired_fit, bundled_study):
    result = bias_analysis(bundled_study, fit_result=paired_fit, trend_sd=0.0, trend_mean=0.0)
    draws = np.asarray(paired_fit.tree["posterior"]["effect"]).ravel()
    # with a known zero trend the tipping point for the MCID is exactly where the
    # assumed trend moves the posterior median onto the MCID: median - MCID
    assert result.summary["tipping_point_p_effect_gt_mcid"] == pytest.approx(
        np.median(draws) - 10.0, abs=0.05
    )
    assert result.summary["p_effect_gt_0"] == pytest.approx(paired_fit.summary["p_effect_gt_0"])
    assert result.reconstructed and result.warning == RECONSTRUCTED_WARNING
    with pytest.raises(MilkbayesError, match="trend"):
        bias_analysis(bundled_study, fit_result=paired_fit, trend_sd=-1.0)


def test_bf_robustness_uses_the_paired_t_and_marks_the_three_widths(bundled_study):
    from milkbayes.models.paired_change import jzs_log_bf10

    result = bf_robustness(bundled_study, r_grid=[0.1, 0.5])
    change = bundled_study.change
    t = change.mean() / (change.std(ddof=1) / math.sqrt(change.size))
    assert result.summary["t_statistic"] == pytest.approx(stats.ttest_1samp(change, 0).statistic)
    assert set(result.table["mark"]) == {"", "default", "wide", "ultrawide"}
    row = result.table.loc[result.table.mark == "wide"].iloc[0]
    assert row.log_bf10 == pytest.approx(jzs_log_bf10(t, change.size, 1.0))
    # Large t: BF10 rises with r up to r of order t/sqrt(n) and falls slowly after it
    assert result.summary["log_bf10_default"] > math.log(100)


def test_likelihood_variants_and_ensemble_on_the_bundled_data(bundled_study):
    result = likelihood_variants(bundled_study, "paired_change", sampler=FAST_SAMPLER)
    assert list(result.table.likelihood) == ["normal", "student_t"]
    change = bundled_study.change
    se = change.std(ddof=1) / math.sqrt(change.size)
    # weakly informative prior: the normal-likelihood median sits near the mean change
    assert result.table.effect_median.iloc[0] == pytest.approx(change.mean(), abs=1.0 * se)
    from milkbayes.datasets import ensemble

    members = ensemble("volume_ml", 3, 9)
    spread = reconstruction_ensemble("volume_ml", 3, 9, sampler=FAST_SAMPLER)
    np.testing.assert_allclose(spread.table.change_mean, [m.change.mean() for m in members])
    assert spread.reconstructed and spread.warning == RECONSTRUCTED_WARNING
    assert np.all(np.abs(spread.table.effect_median - spread.table.change_mean) < 2.0)
    with pytest.raises(MilkbayesError, match="k must"):
        reconstruction_ensemble("volume_ml", 1)


# --------------------------------------------------------------------------- CLI
def test_cli_published_p_json_through_the_entry_point(tmp_path):
    import json
    import shutil
    import subprocess

    exe = shutil.which("milkbayes") or str(Path(sys.executable).parent / "milkbayes")
    figure = tmp_path / "pp.png"
    done = subprocess.run(
        [
            exe,
            "sensitivity",
            "published-p",
            "--n-sim",
            "1000",
            "--json",
            "--distributions",
            "normal",
            "--figure",
            str(figure),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["analysis"] == "published_p" and payload["reconstructed"] is False
    assert payload["summary"]["critical_w_plus"] == 272
    assert figure.stat().st_size > 1000
    bad = subprocess.run(
        [exe, "sensitivity", "published-p", "--alternative", "less"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_cli_bias_json_in_process(capsys, paired_fit):
    import json

    from milkbayes.cli import main

    code = main(
        [
            "sensitivity",
            "bias",
            "--json",
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "1",
            "--trend-mean",
            "2",
            "--trend-sd",
            "1",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    payload = json.loads(out.out)
    assert payload["reconstructed"] is True and payload["warning"] == RECONSTRUCTED_WARNING
    assert payload["summary"]["trend_mean"] == 2.0
    tip = payload["summary"]["tipping_point_p_effect_gt_mcid"]
    assert tip == pytest.approx(payload["summary"]["naive_effect_median"] - 10.0, abs=0.3)
    assert main(["sensitivity", "bias", "--trend-sd", "-1"]) == 2
    assert main(["sensitivity", "prior-grid", "--scales", "0.5,abc"]) == 2
    assert "abc" in capsys.readouterr().err


def test_prior_grid_refuses_settings_it_cannot_interpret(bundled_study, toy_model):
    with pytest.raises(MilkbayesError, match="prior_keys"):
        prior_grid(bundled_study, "prepost_hierarchical", likelihood="lognormal")
    with pytest.raises(MilkbayesError, match="prior_keys"):
        prior_grid(bundled_study, toy_model)  # not a named model: keys needed
    with pytest.raises(MilkbayesError, match="unknown model"):
        prior_grid(bundled_study, "no_such_model")
    with pytest.raises(MilkbayesError, match="positive"):
        prior_grid(bundled_study, scales=(0.5, -1.0))


def test_cli_fit_based_commands_in_process(capsys, paired_fit, tmp_path):
    """prior-grid, influence, ensemble and likelihood from the CLI, on the cached model."""
    import json

    from milkbayes.cli import main

    small = ["--draws", "60", "--tune", "60", "--chains", "1", "--json"]
    runs = {
        "prior_grid": [
            "sensitivity",
            "prior-grid",
            "--locations",
            "0",
            "--scales",
            "0.7,1",
            *small,
        ],
        "influence": ["sensitivity", "influence", *small],
        "ensemble": ["sensitivity", "ensemble", "--k", "2", "--seed", "3", *small],
        "likelihood": [
            "sensitivity",
            "likelihood",
            "--model",
            "paired_change",
            "--likelihoods",
            "normal",
            "--figure",
            str(tmp_path / "l.svg"),
            *small,
        ],
    }
    for name, argv in runs.items():
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, (name, out.err)
        payload = json.loads(out.out)
        assert payload["analysis"] == name and payload["reconstructed"] is True
        assert payload["warning"] == RECONSTRUCTED_WARNING
    assert (tmp_path / "l.svg").stat().st_size > 1000
    # the influence table has one row per mother of the bundled data
    main(runs["influence"])
    assert len(json.loads(capsys.readouterr().out)["table"]) == 24
    assert main(["sensitivity", "likelihood", "--figure", str(tmp_path / "x.gif")]) == 2
    assert "--figure" in capsys.readouterr().err


def test_published_p_two_sided_posterior_is_symmetric_under_a_centred_prior():
    # With the two-sided event the likelihood is symmetric in delta (up to Monte
    # Carlo error), so under a prior centred at 0 the posterior is too.
    result = published_p_posterior(
        distributions=("normal",), alternative="two-sided", n_sim=4000, seed=8
    )
    row = result.table.set_index("distribution").loc["normal"]
    # (the median is not tested: the CDF is flat at 0.5 across the gap around 0)
    assert abs(row["median"]) < 0.5
    assert row["p_delta_gt_0"] == pytest.approx(0.5, abs=0.03)
    assert row["ci95_low"] == pytest.approx(-row["ci95_high"], rel=0.1)


# --------------------------------------------------------------------------- reliability
MATHTEXT_ID = "$\\frac{1}{$"


def _png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_figures_print_ids_with_dollars_literally():
    import pandas as pd

    from milkbayes.sensitivity.common import forest_figure, mathtext_safe
    from milkbayes.sensitivity.leave_one_out import _influence_figure

    table = pd.DataFrame(
        {
            "id": [MATHTEXT_ID, "M$2", "plain"],
            "change": [1.0, 2.0, 3.0],
            "effect_median": [1.0, 1.2, 0.9],
            "effect_ci95_low": [0.5, 0.6, 0.4],
            "effect_ci95_high": [1.5, 1.8, 1.4],
            "p_effect_gt_0": [0.99, 0.98, 0.97],
            "p_effect_gt_mcid": [0.5, 0.6, 0.4],
        }
    )
    # matplotlib's mathtext parser rejects the unescaped id ("$\frac{1}{$" is unclosed)
    assert _png(_influence_figure(table, 1.0, 0.5)).startswith(b"\x89PNG")
    assert _png(forest_figure(table, label_column="id", title="t", mcid=0.5)).startswith(b"\x89PNG")
    figure = _influence_figure(table, 1.0, 0.5)
    labels = [t.get_text() for t in figure.axes[1].get_xticklabels()]
    assert (
        labels == [mathtext_safe(i) for i in table["id"]] == ["\\$\\frac{1}{\\$", "M\\$2", "plain"]
    )


def test_lognormal_is_for_volumes_only():
    import pandas as pd

    from milkbayes.data.study import study_from_frame
    from milkbayes.errors import SensitivityError
    from milkbayes.sensitivity.likelihood import _unfit_reason

    frame = pd.DataFrame({"id": ["a", "b", "c"], "pre": [1.0, -2.0, 3.0], "post": [2.0, 0.5, 3.5]})
    continuous = study_from_frame(frame)  # no sidecar: a continuous outcome

    assert _unfit_reason("lognormal", "volume") is None
    assert "volume" in _unfit_reason("lognormal", "continuous")
    assert _unfit_reason("normal", "continuous") is None
    assert _unfit_reason("ordered_logistic", "score") is None
    assert _unfit_reason("normal", "score") is not None
    assert continuous.outcome.kind == "continuous"
    with pytest.raises(SensitivityError, match="lognormal likelihood does not fit.*volume"):
        likelihood_variants(continuous, "prepost_hierarchical", likelihoods=["lognormal"])


def test_cli_refuses_an_impossible_threshold_and_a_bad_figure_place(capsys, tmp_path):
    import json

    from milkbayes.cli import main

    code = main(["sensitivity", "published-p", "--p-threshold", "1e-300", "--n-sim", "100"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot happen with n = 24" in err and "Traceback" not in err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(["sensitivity", "published-p", "--figure", str(blocker / "pp.png")])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker) in err and "Traceback" not in err
    figure = tmp_path / "deep" / "pp.png"
    argv = ["sensitivity", "published-p", "--n-sim", "400", "--distributions", "normal"]
    code = main([*argv, "--json", "--figure", str(figure)])
    out = capsys.readouterr().out
    assert code == 0 and figure.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in figure.parent.iterdir()] == ["pp.png"]  # no temporary left
    payload = json.loads(out)
    assert payload["summary"]["critical_w_plus"] == 272
    assert "NaN" not in out


# ---------------------------------------------------------------- normal prior family


def test_informed_t_posterior_matches_a_two_dimensional_quadrature_of_the_raw_data():
    """The informed t posterior equals a 2-D quadrature over (delta, sigma) of the raw data.

    Normal prior on delta, sigma with the right-Haar prior 1/sigma: the noncentral-t
    shortcut against the normal likelihood of the raw changes on a grid.
    """
    from scipy import special

    from milkbayes.sensitivity.prior_robustness import informed_t_posterior

    d = np.random.default_rng(12).normal(0.6, 1.0, 15)
    n, t = d.size, stats.ttest_1samp(d, 0.0).statistic
    delta = np.linspace(-2.5, 3.5, 1201)
    log_sigma = np.linspace(-3.0, 2.5, 1101)
    sigma = np.exp(log_sigma)[:, None]
    # 1/sigma d sigma = d log sigma
    log_lik = stats.norm.logpdf(
        d[None, None, :], delta[None, :, None] * sigma[..., None], sigma[..., None]
    ).sum(axis=2)
    log_post = special.logsumexp(log_lik, axis=0) + stats.norm.logpdf(delta, -0.3, 0.4)
    post = np.exp(log_post - log_post.max())
    cdf = np.cumsum(post) / post.sum()
    got = informed_t_posterior(t, n, -0.3, 0.4, "normal")
    assert got["median"] == pytest.approx(float(np.interp(0.5, cdf, delta)), abs=0.01)
    assert got["p_gt_0"] == pytest.approx(1 - float(np.interp(0.0, delta, cdf)), abs=0.005)
    assert got["p_gt_mcid"] == pytest.approx(1 - float(np.interp(0.5, delta, cdf)), abs=0.005)


def test_normal_prior_family_can_move_the_conclusion_where_the_cauchy_cannot():
    from milkbayes.sensitivity.prior_robustness import informed_t_posterior

    t, n = 5.0, 24  # a clear effect, delta about 1
    normal = informed_t_posterior(t, n, -1.0, 0.1, "normal")["p_gt_mcid"]
    cauchy = informed_t_posterior(t, n, -1.0, 0.1, "cauchy")["p_gt_mcid"]
    # a sceptic's light-tailed prior at delta = -1 holds the posterior below 0.5 SD;
    # the Cauchy's tails let the data escape to where the likelihood is
    assert normal < 0.05 < 0.5 < cauchy


def test_prior_grid_offers_the_normal_family_for_a_paired_design():
    from milkbayes.datasets import load_bundled
    from milkbayes.sensitivity.prior_robustness import DELTA_NORMAL_SCALES, prior_grid

    grid = prior_grid(load_bundled("volume_ml"), "paired_change", family="normal")
    assert grid.summary["n_settings"] == 7 * len(DELTA_NORMAL_SCALES)
    assert grid.summary["family"] == "normal"
    assert grid.summary["p_effect_gt_mcid_max"] - grid.summary["p_effect_gt_mcid_min"] > 0.5
    with pytest.raises(MilkbayesError, match="normal effect prior"):
        prior_grid(load_bundled("volume_ml"), "prepost_hierarchical", family="cauchy")
