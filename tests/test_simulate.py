"""Tests of milkbayes.simulate.

Every value is checked against a closed form, an independent scipy computation, or a
simulation with known truth.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from milkbayes.errors import EXIT_USER_ERROR
from milkbayes.simulate import design, engine, runner
from milkbayes.simulate.dgp import DGPSettings, SimulationError, change_sd, simulate
from milkbayes.simulate.rtm import expected_rtm_change, regression_to_mean
from milkbayes.simulate.rules import jzs_bf10_many, wilcoxon_many

NORMAL = dict(distribution="normal", baseline_mean=30.0, between_sd=5.0)


def _within(value, target, se, k=4.0):
    return abs(value - target) <= k * se


# ---------------------------------------------------------------- data-generating process


def test_dgp_recovers_arm_means_and_change_sd():
    s = DGPSettings(
        n=30,
        n_control=30,
        effect=5.0,
        trend=2.0,
        within_sd=3.0,
        measurement_sd=1.5,
        modifier_work_long=4.0,
        modifier_multipara=-2.0,
        **NORMAL,
    )
    sims = simulate(s, 4000, np.random.default_rng(11))
    massage, control = sims.massage_change, sims.control_change
    sd = change_sd(s)  # closed form of Var(change) including the centred modifiers
    assert _within(massage.mean(), 7.0, sd / math.sqrt(massage.size))
    assert _within(control.mean(), 2.0, math.sqrt(3.0**2 + 2 * 1.5**2) / math.sqrt(control.size))
    assert abs(massage.std(ddof=1) / sd - 1) < 0.02
    # effect modification: the long-work mothers gain modifier_work_long more
    long_gain = massage[sims.work_long[:, :30]].mean() - massage[~sims.work_long[:, :30]].mean()
    assert _within(long_gain, 4.0, 0.1)


def test_lognormal_volumes_keep_the_mean_change_in_ml():
    s = DGPSettings(effect=6.0, trend=2.0)
    sims = simulate(s, 20000, np.random.default_rng(5))
    assert (sims.pre > 0).all() and (sims.post > 0).all()
    d = sims.massage_change
    assert _within(d.mean(), 8.0, d.std() / math.sqrt(d.size))
    # multiplicative: mothers with more milk gain more
    assert np.corrcoef(sims.pre.ravel(), d.ravel())[0, 1] > 0.2


def test_scores_are_integers_in_range_and_study_is_valid():
    s = DGPSettings(
        outcome="score",
        max_score=10,
        baseline_mean=5,
        between_sd=2,
        effect=1,
        trend=0.5,
        within_sd=1,
        measurement_sd=0.5,
        n_control=4,
    )
    sims = simulate(s, 50, np.random.default_rng(1))
    values = np.concatenate([sims.pre.ravel(), sims.post.ravel()])
    assert set(np.unique(values)) <= set(range(11))
    study = sims.study(3)
    assert study.outcome.kind == "score" and study.outcome.max_score == 10
    assert study.n == 28 and study.has_control
    assert list(study.table["group"].astype(str)).count("control") == 4
    assert np.array_equal(study.change, sims.change[3])


def test_bad_settings_raise_simulation_errors():
    with pytest.raises(SimulationError, match="n_control"):
        DGPSettings(n_control=1)
    with pytest.raises(SimulationError, match="distribution"):
        DGPSettings(distribution="gamma")
    with pytest.raises(SimulationError, match="measurement_sd"):
        DGPSettings(measurement_sd=-1.0)


# ---------------------------------------------------------------- decision rules


def test_wilcoxon_many_matches_scipy_row_by_row():
    d = np.round(np.random.default_rng(2).normal(0.4, 1.0, size=(200, 24)), 1)  # ties, zeros
    z, p = wilcoxon_many(d)
    for row in range(0, 200, 17):
        ref = stats.wilcoxon(d[row], zero_method="wilcox", correction=False, method="approx")
        assert np.isclose(p[row], ref.pvalue)


def test_jzs_bf10_matches_the_quadrature_of_paired_change():
    from milkbayes.models.paired_change import jzs_bf10

    t = np.array([-3.0, 0.0, 0.7, 2.1, 4.5, 9.0])
    fast = jzs_bf10_many(t, 24)
    slow = np.array([jzs_bf10(float(x), 24) for x in t])
    assert np.allclose(fast, slow, rtol=1e-5)


def test_wilcoxon_power_matches_an_independent_scipy_simulation():
    s = DGPSettings(n=24, effect=0.5, trend=0.0, within_sd=1.0, measurement_sd=0.0, **NORMAL)
    ours = design.power(s, 6000, seed=3)
    # independent: other generator, scipy's own Wilcoxon (asymptotic, no correction)
    d = np.random.default_rng(99).normal(0.5, 1.0, size=(6000, 24))
    theirs = np.mean(stats.wilcoxon(d, axis=1, correction=False, method="approx").pvalue < 0.05)
    assert _within(ours.power["wilcoxon"], theirs, math.sqrt(2) * ours.mc_se["wilcoxon"])
    # and the t-test against its noncentral-t closed form (significant and favourable)
    nc, crit = 0.5 * math.sqrt(24), stats.t.ppf(0.975, 23)
    exact = stats.nct.sf(crit, 23, nc)
    assert _within(ours.power["t"], exact, ours.mc_se["t"])


def test_type_one_error_of_every_rule_under_no_effect():
    s = DGPSettings(n=24, effect=0.0, trend=0.0, within_sd=1.0, measurement_sd=0.0, **NORMAL)
    result = design.power(s, 8000, seed=4)
    # a success is significant and favourable: alpha / 2 of the studies under H0,
    # and as many significant harms
    se = math.sqrt(0.025 * 0.975 / 8000)
    for rule in ("t", "wilcoxon"):  # Wilcoxon's normal approximation: near-exact at 24
        assert _within(result.power[rule], 0.025, se)
        assert _within(result.harmful[rule], 0.025, se)
    # JZS BF10 > 3 at n = 24 under H0: P(t > t*) with BF10(t*) = 3, from the closed form
    grid = np.linspace(0, 6, 6001)
    t_star = grid[np.argmax(jzs_bf10_many(grid, 24) > 3)]
    assert _within(result.power["bf10"], stats.t.sf(t_star, 23), se)
    assert "trend + effect" in result.targets["t"]


def test_a_control_arm_brings_the_type_one_error_back_to_alpha():
    # a natural rise (trend 1 SD) and no massage effect: every one-group rule
    # "detects" the trend, the between-arm rules reject at alpha (alpha / 2 favourable)
    s = DGPSettings(
        n=20, n_control=20, effect=0.0, trend=1.0, within_sd=1.0, measurement_sd=0.0, **NORMAL
    )
    result = design.power(s, 8000, seed=6)
    se = math.sqrt(0.025 * 0.975 / 8000)
    for rule in ("ancova", "t_between", "mann_whitney"):
        assert _within(result.power[rule], 0.025, se)
        assert _within(result.power[rule] + result.harmful[rule], 0.05, math.sqrt(2) * se)
    assert list(result.power)[:3] == ["ancova", "t_between", "mann_whitney"]
    exact_trend = stats.nct.sf(stats.t.ppf(0.975, 19), 19, 1.0 * math.sqrt(20))
    assert _within(result.power["t"], exact_trend, result.mc_se["t"] + 1e-3)


def test_between_arm_t_power_matches_the_noncentral_t():
    s = DGPSettings(
        n=15, n_control=15, effect=0.8, trend=2.0, within_sd=1.0, measurement_sd=0.0, **NORMAL
    )
    result = design.power(s, 6000, seed=7)
    df, nc = 28, 0.8 / math.sqrt(2 / 15)
    exact = stats.nct.sf(stats.t.ppf(0.975, df), df, nc)
    assert _within(result.power["t_between"], exact, result.mc_se["t_between"])


def test_assurance_matches_power_integrated_over_the_design_prior():
    s = DGPSettings(n=16, trend=0.0, within_sd=2.0, measurement_sd=0.0, **NORMAL)
    prior = {"mean": 1.0, "sd": 1.0}
    result = design.assurance(s, prior, 6000, seed=8)
    crit = stats.t.ppf(0.975, 15)

    def favourable_at(beta):
        return stats.nct.sf(crit, 15, beta / 2.0 * 4.0)

    def harm_at(beta):
        # P(T < -c; nc) = P(T > c; -nc): scipy's nct.cdf returns NaN far in the tail
        return stats.nct.sf(crit, 15, -beta / 2.0 * 4.0)

    exact = integrate.quad(lambda b: favourable_at(b) * stats.norm.pdf(b, 1.0, 1.0), -5, 7)[0]
    assert _within(result.power["t"], exact, result.mc_se["t"])
    harm = integrate.quad(lambda b: harm_at(b) * stats.norm.pdf(b, 1.0, 1.0), -5, 7)[0]
    assert _within(result.harmful["t"], harm, math.sqrt(harm / 6000) + 1e-4)


def test_assurance_does_not_count_significant_harm_as_success():
    # a design prior with much mass below 0, N(-0.5, 1): harm is common and not success
    s = DGPSettings(n=16, trend=0.0, within_sd=2.0, measurement_sd=0.0, **NORMAL)
    result = design.assurance(s, {"mean": -0.5, "sd": 1.0}, 6000, seed=9)
    crit = stats.t.ppf(0.975, 15)
    density = lambda b: stats.norm.pdf(b, -0.5, 1.0)  # noqa: E731
    favourable = integrate.quad(lambda b: stats.nct.sf(crit, 15, 2 * b) * density(b), -6, 5)[0]
    harmful = integrate.quad(lambda b: stats.nct.sf(crit, 15, -2 * b) * density(b), -6, 5)[0]
    assert _within(result.power["t"], favourable, result.mc_se["t"])
    assert _within(result.harmful["t"], harmful, math.sqrt(harmful * (1 - harmful) / 6000))
    assert harmful > 2 * favourable


def test_type_s_and_m_match_gelman_carlin_closed_form():
    # normal changes with known SD: the mean change is exactly N(D, s^2)
    s = DGPSettings(n=10, effect=0.4, trend=0.0, within_sd=2.0, measurement_sd=0.0, **NORMAL)
    simulated = design.type_sm(s, 40000, test="z", seed=12)
    closed = design.retrodesign(0.4, 2.0 / math.sqrt(10))
    n_sig = simulated.n_significant
    assert _within(simulated.power, closed.power, math.sqrt(closed.power / 40000))
    assert _within(
        simulated.type_s, closed.type_s, math.sqrt(closed.type_s * (1 - closed.type_s) / n_sig)
    )
    assert abs(simulated.exaggeration / closed.exaggeration - 1) < 0.05
    assert closed.exaggeration > 2  # a low-powered design exaggerates


def test_retrodesign_is_symmetric_in_the_sign_of_the_effect():
    a, b = design.retrodesign(0.3, 1.0), design.retrodesign(-0.3, 1.0)
    assert np.allclose([a.power, a.type_s, a.exaggeration], [b.power, b.type_s, b.exaggeration])


# ---------------------------------------------------------------- regression to the mean


def test_spurious_rise_matches_the_bivariate_normal_closed_form():
    s = DGPSettings(
        n=20,
        n_control=20,
        effect=0.0,
        trend=0.0,
        baseline_mean=20.0,
        between_sd=5.0,
        within_sd=1.0,
        measurement_sd=4.0,
        distribution="normal",
    )
    r = regression_to_mean(s, cutoff=16.0, n_sims=3000, seed=2)
    # independent closed form: bivariate normal regression of post on pre
    sd_pre = math.hypot(5.0, 4.0)
    a = (16.0 - 20.0) / sd_pre
    rise = (1 - 25.0 / sd_pre**2) * sd_pre * stats.norm.pdf(a) / stats.norm.cdf(a)
    assert math.isclose(r.expected_change, rise)
    assert _within(r.mean_change_massage, rise, r.mc_se_massage)
    assert rise > 1.0 and r.rejection_one_group > 0.3  # a false "effect", often significant
    assert _within(r.mean_difference, 0.0, r.mc_se_difference)  # the control arm removes it
    assert _within(r.rejection_two_arm, 0.05, math.sqrt(0.05 * 0.95 / 3000))


def test_no_measurement_error_no_regression_to_the_mean():
    s = DGPSettings(distribution="normal", trend=1.5, measurement_sd=0.0)
    assert expected_rtm_change(s, 5.0) == 1.5


def test_rtm_refuses_a_process_without_closed_form():
    with pytest.raises(SimulationError, match="normal volumes"):
        regression_to_mean(DGPSettings(), cutoff=8.0, n_sims=10)


# ---------------------------------------------------------------- precision


def test_sample_size_for_precision_against_simulation():
    sigma, target = 4.0, 2.0
    n = design.sample_size_for_precision(sigma, target, probability=0.8)
    s = DGPSettings(within_sd=sigma, measurement_sd=0.0, effect=1.0, trend=0.0, **NORMAL)
    (at_n,) = design.precision_curve(s, [n], target, n_sims=20000, seed=3)
    exact = design.probability_half_width_within(n, sigma, target)
    assert exact >= 0.8 > design.probability_half_width_within(n - 1, sigma, target)
    assert _within(at_n.p_within, exact, math.sqrt(exact * (1 - exact) / 20000))
    assert _within(at_n.mean_half_width, design.expected_half_width(n, sigma), 0.01)
    assert _within(at_n.coverage, 0.95, math.sqrt(0.95 * 0.05 / 20000))


# ---------------------------------------------------------------- runner


POWER_SETTINGS = DGPSettings(
    n=12, effect=1.0, trend=0.0, within_sd=2.0, measurement_sd=0.5, **NORMAL
)


def _power_run(**options):
    params = {
        "settings": POWER_SETTINGS.to_dict(),
        "n_sims": 2500,
        "block": 500,
        "design_prior": None,
    }
    return runner.run_study("frequentist", params, 5, seed=21, **options)


def test_results_do_not_depend_on_batching_or_processes():
    inline = _power_run(workers=1, batch_size=1)
    batched = _power_run(workers=1, batch_size=3)
    processes = _power_run(workers=2, batch_size=1)
    assert inline.results == batched.results == processes.results
    assert processes.backend == "processes" and inline.backend == "inline"


def test_dask_local_cluster_gives_the_local_results():
    distributed = pytest.importorskip("distributed")
    local = _power_run(workers=1)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = _power_run(client=client, batch_size=1)
    assert on_dask.backend == "dask" and on_dask.workers == 2
    assert on_dask.results == local.results


def test_resume_from_checkpoint_skips_finished_tasks_and_changes_nothing(tmp_path):
    path = tmp_path / "study.jsonl"
    fresh = runner.run_study("selftest", {"scale": 3.0}, 8, seed=4, workers=1)
    first = runner.run_study("selftest", {"scale": 3.0}, 5, seed=4, workers=1, checkpoint=path)
    assert first.resumed == 0
    # an interrupted append leaves a torn last line: it is dropped and re-run
    with open(path, "a") as handle:
        handle.write('{"index": 5, "resu')
    resumed = runner.run_study("selftest", {"scale": 3.0}, 8, seed=4, workers=1, checkpoint=path)
    assert resumed.resumed == 5 and resumed.tasks_run == 3
    assert resumed.results == fresh.results
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 8 and all(json.loads(line) for line in lines)
    again = runner.run_study("selftest", {"scale": 3.0}, 8, seed=4, workers=1, checkpoint=path)
    assert again.tasks_run == 0 and again.results == fresh.results


def test_checkpoint_of_another_study_is_refused(tmp_path):
    path = tmp_path / "study.jsonl"
    runner.run_study("selftest", {"scale": 1.0}, 2, seed=1, workers=1, checkpoint=path)
    with pytest.raises(runner.CheckpointError, match=r"study.jsonl: row 1: .*seed"):
        runner.run_study("selftest", {"scale": 1.0}, 2, seed=2, workers=1, checkpoint=path)


def test_task_seed_is_the_spawned_child():
    children = np.random.SeedSequence(9).spawn(4)
    for i, child in enumerate(children):
        assert (runner.task_seed(9, i).generate_state(4) == child.generate_state(4)).all()


# ---------------------------------------------------------------- fits and SBC


def test_raw_trace_refit_gives_the_datatree_draws():
    from milkbayes.simulate.sbc import _setup

    params = {
        "model": "paired_change",
        "likelihood": "normal",
        "prior": "neutral",
        "widen": 1.0,
        "n": 12,
        "n_control": 0,
        "outcome": "volume",
        "draws": 100,
        "tune": 100,
        "chains": 2,
        "L": 99,
        "template_seed": 2018,
    }
    bundle, _, inputs = _setup(params)
    data = {**inputs.data, "change": np.random.default_rng(1).normal(5, 3, 12)}
    tree = engine.sample(bundle, data, seed=5, draws=100, tune=100, chains=2)
    draws, _ = engine.sample_scalars(
        bundle, data, ["effect", "sigma"], seed=5, draws=100, tune=100, chains=2
    )
    assert np.array_equal(np.asarray(tree.posterior["effect"]), draws["effect"])
    assert np.array_equal(np.asarray(tree.posterior["sigma"]), draws["sigma"])


def test_simulation_refits_use_the_target_accept_of_fit(monkeypatch):
    """A calibration study checks the sampler as ``fit`` runs it: same adaptation target."""
    import nutpie

    from milkbayes.models.registry import load_model
    from milkbayes.simulate.sbc import _setup

    params = {
        "model": "prepost_hierarchical",
        "likelihood": "normal",
        "prior": "neutral",
        "widen": 1.0,
        "n": 12,
        "n_control": 0,
        "outcome": "volume",
        "draws": 20,
        "tune": 20,
        "chains": 1,
        "L": 19,
        "template_seed": 2018,
    }
    bundle, _, inputs = _setup(params)
    assert bundle.target_accept == load_model("prepost_hierarchical").TARGET_ACCEPT
    seen = []
    real = nutpie.sample
    monkeypatch.setattr(
        nutpie, "sample", lambda *a, **k: seen.append(k["target_accept"]) or real(*a, **k)
    )
    engine.sample_scalars(
        bundle, dict(inputs.data), ["effect"], seed=1, draws=20, tune=20, chains=1
    )
    assert seen == [load_model("prepost_hierarchical").TARGET_ACCEPT]


def test_sbc_paired_change_passes_and_a_doubled_prior_fails():
    from milkbayes.simulate.sbc import sbc

    # the default size (200 simulations) and a fixed seed
    good = sbc("paired_change", n_sims=200, widen=1.0, workers=1)
    bad = sbc("paired_change", n_sims=200, widen=2.0, workers=1)
    assert good.passed, good.ecdf_excursion
    assert not bad.passed, bad.ecdf_excursion
    assert set(good.ranks) == {"delta", "sigma", "effect"}
    assert all(0 <= r <= 99 for r in good.ranks["effect"])
    # a prior twice too wide draws too large sigmas: their ranks pile up at the top
    assert not bad.ecdf_inside["sigma"]
    assert np.mean(np.asarray(bad.ranks["sigma"]) >= 80) > 0.2


def test_ecdf_band_has_its_simultaneous_coverage_on_independent_uniform_ranks():
    """The band against 4000 sets of uniform ranks drawn independently with numpy."""
    from milkbayes.simulate.sbc import ecdf_uniformity

    n, L, prob, sets = 100, 99, 0.95, 4000
    band = ecdf_uniformity(np.arange(n) % (L + 1), L, prob)
    x = band["x"]
    lower, upper = band["lower_diff"] + x, band["upper_diff"] + x
    rng = np.random.default_rng(123)
    u = (rng.integers(0, L + 1, size=(sets, n)) + rng.uniform(size=(sets, n))) / (L + 1)
    ecdf = (np.sort(u, axis=1)[:, None, :] <= x[None, :, None]).mean(axis=2)
    inside = np.all((ecdf >= lower) & (ecdf <= upper), axis=1)
    se = math.sqrt(prob * (1 - prob) / sets)
    # the band itself comes from 4000 simulated samples: allow its error too, 0.01
    assert abs(inside.mean() - prob) < 4 * se + 0.01
    # the decision agrees with the band
    for _ in range(5):
        ranks = rng.integers(0, L + 1, size=n)
        got = ecdf_uniformity(ranks, L, prob)
        assert got["inside"] == (got["excursion"] == 0.0)
    # and it is a simultaneous band: wider than the pointwise 95 % binomial interval
    pointwise = stats.binom.interval(0.95, n, x[1:-1])
    assert np.all(upper[1:-1] * n >= pointwise[1] - 1e-9)
    assert np.any(upper[1:-1] * n > pointwise[1])


def test_bayes_power_compiles_once_and_recovers_the_effect():
    s = DGPSettings(n=12, effect=4.0, trend=0.0, within_sd=4.0, measurement_sd=0.0, **NORMAL)
    before = engine.compilation_count()
    result, fits = design.bayes_power(s, 40, draws=200, tune=200, seed=3, workers=1)
    middle = engine.compilation_count()
    design.bayes_power(s, 10, draws=200, tune=200, seed=4, workers=1)
    assert middle - before <= 1 and engine.compilation_count() == middle
    medians = np.array([f["effect_median"] for f in fits])
    estimates = np.array([f["estimate"] for f in fits])
    # posterior medians track the sample means (weak prior) and centre on the truth
    assert np.corrcoef(medians, estimates)[0, 1] > 0.95
    assert _within(medians.mean(), 4.0, 4.0 / math.sqrt(12) / math.sqrt(40))
    assert set(result.power) == {"t", "wilcoxon", "bf10", "posterior"}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["prepost_hierarchical", "two_arm"])
def test_sbc_every_model_passes_and_fails_with_a_doubled_prior(model):
    from milkbayes.simulate.sbc import sbc

    assert sbc(model, n_sims=150, widen=1.0, workers=1).passed
    assert not sbc(model, n_sims=150, widen=2.0, workers=1).passed


@pytest.mark.slow
def test_sbc_signed_rank_passes_and_flags_a_posterior_half_an_sd_off(monkeypatch):
    """signed_rank is calibrated with its own prior, and the check sees a bias of 0.5.

    A doubled prior is no test of this model: near 0 the ranks of 12 mothers outweigh
    either Cauchy prior, and beyond |delta| ~ 3 (all signs alike) the posterior is the
    prior's tail, whose shape Cauchy(0, r) and Cauchy(0, 2r) share (400 simulations
    with the doubled prior: ECDF p = 0.93). Data simulated from z ~ N(delta + 0.5, 1)
    while the truth recorded is delta are what a sampler biased by half an SD of the
    latent normal would give; the ranks of the truths then pile up at the bottom.
    """
    import importlib

    # the package re-exports the function sbc under the module's name
    sbc_module = importlib.import_module("milkbayes.simulate.sbc")
    good = sbc_module.sbc("signed_rank", n_sims=150, widen=1.0, workers=1)
    assert good.passed, good.ecdf_excursion

    class HalfAnSdMore(sbc_module._SignedRankSimulator):
        def draw(self, seed):
            rng = np.random.default_rng(seed)
            delta = self.values["delta_loc"] + self.values["delta_scale"] * rng.standard_cauchy()
            z = delta + 0.5 + rng.standard_normal(self.n)
            data = {"sign": np.sign(z), "rank_group": self.module.rank_groups(z)}
            return {self.module.EFFECT: delta}, data

    # fresh caches, so that the patched simulator is the one built
    monkeypatch.setattr(sbc_module, "_SignedRankSimulator", HalfAnSdMore)
    monkeypatch.setattr(sbc_module, "_SIMULATORS", {})
    monkeypatch.setattr(sbc_module, "_SETUPS", {})
    bad = sbc_module.sbc("signed_rank", n_sims=150, widen=1.0, workers=1)
    assert not bad.passed, bad.ecdf_excursion
    assert np.mean(np.asarray(bad.ranks["delta"]) < 10) > 0.2


@pytest.mark.slow
def test_processes_compile_each_model_once_per_worker():
    s = DGPSettings(n=12, effect=4.0, trend=0.0, within_sd=4.0, measurement_sd=0.0, **NORMAL)
    _, fits = design.bayes_power(s, 30, draws=100, tune=100, seed=3, workers=2)
    result, fits_inline = design.bayes_power(s, 30, draws=100, tune=100, seed=3, workers=1)
    assert fits == fits_inline
    run = runner.run_study(
        "bayes_fit",
        {
            "settings": s.to_dict(),
            "model": "paired_change",
            "likelihood": "normal",
            "prior": "neutral",
            "draws": 100,
            "tune": 100,
            "chains": 2,
            "design_prior": None,
        },
        30,
        seed=3,
        workers=2,
        batch_size=1,
    )
    assert run.compilations == run.worker_processes <= 2


# ---------------------------------------------------------------- CLI


def _main(args):
    from milkbayes.cli import main

    return main(args)


def test_cli_power_json(capsys):
    code = _main(
        [
            "simulate",
            "power",
            "--sims",
            "2000",
            "--distribution",
            "normal",
            "--effect",
            "1",
            "--trend",
            "0",
            "--within-sd",
            "2",
            "--measurement-sd",
            "0",
            "--n",
            "16",
            "--no-progress",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    payload = json.loads(out.out)
    assert payload["simulated"] is True and payload["reconstructed"] is False
    nc, crit = 0.5 * 4, stats.t.ppf(0.975, 15)
    exact = stats.nct.sf(crit, 15, nc)  # significant and favourable
    assert _within(payload["result"]["power"]["t"], exact, math.sqrt(exact * (1 - exact) / 2000))


def test_cli_json_writes_uncomputable_rates_as_null(capsys):
    """With n = 3 the exact two-sided Wilcoxon p is at least 2 / 2**3 = 0.25.

    So nothing is significant at 0.05, Type S and the exaggeration ratio cannot be
    computed, and the JSON policy (milkbayes.jsonio) writes them as null, not NaN.
    """

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    code = _main(
        ["simulate", "type-sm", "--test", "wilcoxon", "--n", "3", "--sims", "40"]
        + ["--workers", "1", "--no-progress", "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0 and len(out.strip().splitlines()) == 1
    simulated = json.loads(out, parse_constant=refuse)["result"]["simulated"]
    assert simulated["power"] == 0.0 and simulated["n_significant"] == 0
    assert simulated["type_s"] is None and simulated["exaggeration"] is None


def test_cli_rtm_text_and_figure(capsys, tmp_path):
    figure = tmp_path / "rtm.png"
    code = _main(["simulate", "rtm", "--sims", "500", "--no-progress", "--figure", str(figure)])
    out = capsys.readouterr()
    assert code == 0 and "closed form" in out.out and figure.stat().st_size > 1000


def test_cli_bad_option_is_one_line_exit_2(capsys):
    code = _main(["simulate", "power", "--distribution", "gamma", "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR
    assert err.startswith("error:") and "distribution" in err and len(err.splitlines()) == 1


def test_installed_entry_point_type_sm():
    script = Path(sys.executable).parent / "milkbayes"
    done = subprocess.run(
        [
            str(script),
            "simulate",
            "type-sm",
            "--sims",
            "3000",
            "--test",
            "z",
            "--distribution",
            "normal",
            "--json",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["result"]
    assert result["closed_form"]["power"] == pytest.approx(result["simulated"]["power"], abs=0.05)


def test_cli_sbc_one_model_json_and_figure(capsys, tmp_path):
    figure = tmp_path / "sbc.png"
    code = _main(
        [
            "simulate",
            "sbc",
            "--model",
            "paired_change",
            "--sims",
            "20",
            "--mothers",
            "12",
            "--workers",
            "1",
            "--no-progress",
            "--json",
            "--figure",
            str(figure),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    (study,) = json.loads(out.out)["result"]["studies"]
    assert study["model"] == "paired_change" and len(study["ranks"]["effect"]) == 20
    assert figure.stat().st_size > 1000


def test_cli_precision_meets_its_target_in_simulation(capsys):
    code = _main(["simulate", "precision", "--half-width", "1.5", "--sims", "4000", "--json"])
    result = json.loads(capsys.readouterr().out)["result"]
    assert code == 0
    at_n = next(p for p in result["simulated"] if p["n"] == result["n"])
    below = max((p for p in result["simulated"] if p["n"] < result["n"]), key=lambda p: p["n"])
    assert at_n["mean_half_width"] <= 1.5 + 0.01 and below["mean_half_width"] > 1.5


def test_figures_render(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from milkbayes.simulate import figures

    s = DGPSettings(n=12, effect=1.0, trend=0.0, **NORMAL)
    fig = figures.plot_power(design.power(s, 1000, seed=1))
    fig.savefig(tmp_path / "power.png")
    points = design.precision_curve(s, [8, 16], 2.0, n_sims=200)
    figures.plot_precision(points, 2.0).savefig(tmp_path / "precision.png")
    assert (tmp_path / "power.png").stat().st_size > 1000
    assert (tmp_path / "precision.png").stat().st_size > 1000


def test_cli_refuses_a_bad_figure_path_before_simulating(capsys, tmp_path, monkeypatch):
    """A --figure that cannot be written is refused while the options are read."""
    import milkbayes.simulate.design as design

    def never(*args, **kwargs):
        raise AssertionError("the simulation started")

    monkeypatch.setattr(design, "power", never)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    for bad, message in (
        (tmp_path / "power.docx", "not a figure format"),
        (blocker / "power.png", "notes.txt: it exists and is not a folder"),
    ):
        code = _main(["simulate", "power", "--sims", "50", "--no-progress", "--figure", str(bad)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: --figure: ") and message in err
        assert "Traceback" not in err
    assert blocker.read_text() == "mine"


def test_power_curve_rises_with_n_and_the_cli_draws_it(capsys, tmp_path):
    s = DGPSettings(n=24, effect=0.5, trend=0.0, within_sd=1.0, measurement_sd=0.0, **NORMAL)
    curve = design.power_curve(s, [8, 20, 40], n_sims=2000, seed=5, workers=1)
    t = curve[curve.rule == "t"].sort_values("n")
    exact = [
        stats.nct.sf(stats.t.ppf(0.975, n - 1), n - 1, 0.5 * math.sqrt(n)) for n in (8, 20, 40)
    ]
    assert np.all(np.abs(t.power.to_numpy() - exact) <= 4 * t.mc_se.to_numpy() + 1e-3)
    figure = tmp_path / "curve.png"
    code = _main(
        [
            "simulate",
            "power",
            "--n-grid",
            "6,12",
            "--sims",
            "500",
            "--no-progress",
            "--json",
            "--figure",
            str(figure),
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and {row["n"] for row in payload["result"]["curve"]} == {6, 12}
    assert figure.stat().st_size > 1000
    assert _main(["simulate", "power", "--n-grid", "6,x", "--no-progress"]) == EXIT_USER_ERROR
