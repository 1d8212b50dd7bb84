"""Tests of the Bayesian meta-analysis against independent computations.

- the fixed-effect limit (tau -> 0, flat prior on mu) against statsmodels'
  inverse-variance estimate (a closed form);
- a hand-written grid posterior of (mu, tau), itself checked against statsmodels'
  random-effects estimate at a fixed tau, against the PyMC posterior mean of mu
  within Monte Carlo error;
- the robust-mixture summaries against closed forms;
- the CLI: a folder written whole, refusals, bad input.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from milkbayes.cli import main
from milkbayes.errors import EXIT_USER_ERROR
from milkbayes.literature import derived_prior, load_studies
from milkbayes.meta_analysis.effects import study_effects
from milkbayes.meta_analysis.model import MetaPriors, fit_meta_analysis
from milkbayes.meta_analysis.priors import derive_prior, mixture_cauchy, mixture_moments

TABLE = study_effects(load_studies(), scale="smd")
NO_BIAS = MetaPriors(use_bias=False, use_pet=False)


def grid_posterior(y, se, *, mu_sd, tau_scale, tau_fixed=None):
    """p(mu, tau | y) on a grid: Normal(0, mu_sd) x HalfNormal(tau_scale) x likelihood.

    The marginal likelihood of study i given (mu, tau) is Normal(y_i; mu,
    sqrt(se_i^2 + tau^2)) (the study's true effect integrated out). Returns the
    posterior mean and SD of mu. ``mu_sd = inf`` is a flat prior on mu;
    ``tau_fixed`` conditions on one value of tau.
    """
    mu = np.linspace(-6.0, 8.0, 2801)
    tau = np.array([tau_fixed]) if tau_fixed is not None else np.linspace(0.0, 6.0, 1201)
    m, t = np.meshgrid(mu, tau, indexing="ij")
    log_post = np.zeros_like(m)
    if math.isfinite(mu_sd):
        log_post += stats.norm.logpdf(m, 0.0, mu_sd)
    if tau_fixed is None:
        log_post += stats.halfnorm.logpdf(t, scale=tau_scale)
    for yi, si in zip(y, se, strict=True):
        log_post += stats.norm.logpdf(yi, m, np.sqrt(si**2 + t**2))
    weights = np.exp(log_post - log_post.max())
    marginal = weights.sum(axis=1)
    marginal /= marginal.sum()
    mean = float((mu * marginal).sum())
    return mean, float(np.sqrt(((mu - mean) ** 2 * marginal).sum()))


def test_the_grid_reproduces_statsmodels_at_fixed_tau():
    """At tau = the DerSimonian-Laird tau and a flat prior, mu | y is the DL estimate."""
    y, variance = TABLE["y"].to_numpy(), TABLE["se"].to_numpy() ** 2
    result = combine_effects(y, variance, method_re="chi2")
    mean, sd = grid_posterior(
        y, np.sqrt(variance), mu_sd=math.inf, tau_scale=1.0, tau_fixed=math.sqrt(result.tau2)
    )
    assert mean == pytest.approx(result.mean_effect_re, abs=1e-4)
    assert sd == pytest.approx(result.sd_eff_w_re, rel=1e-3)


@pytest.fixture(scope="module")
def fixed_effect_fit():
    priors = MetaPriors(mu_sd=100.0, tau_scale=1e-4, use_bias=False, use_pet=False)
    return fit_meta_analysis(TABLE, priors=priors, draws=1500, tune=700, chains=2, seed=11)


def test_the_fixed_effect_limit_matches_statsmodels(fixed_effect_fit):
    """With tau -> 0 and a flat mu, the posterior of mu is the inverse-variance estimate."""
    result = combine_effects(TABLE["y"].to_numpy(), TABLE["se"].to_numpy() ** 2)
    summary = fixed_effect_fit.summary
    assert abs(summary["mu_mean"] - result.mean_effect_fe) < 4 * summary["mu_mcse"]
    assert summary["mu_sd"] == pytest.approx(result.sd_eff_w_fe, rel=0.08)


@pytest.fixture(scope="module")
def random_effects_fit():
    return fit_meta_analysis(TABLE, priors=NO_BIAS, draws=2000, tune=1000, chains=4, seed=7)


def test_pymc_matches_the_grid_posterior(random_effects_fit):
    """Same priors (mu ~ N(0, 1), tau ~ HN(1)), no bias terms: posterior means of mu agree."""
    mean, sd = grid_posterior(
        TABLE["y"].to_numpy(), TABLE["se"].to_numpy(), mu_sd=1.0, tau_scale=1.0
    )
    summary = random_effects_fit.summary
    assert abs(summary["mu_mean"] - mean) < 4 * summary["mu_mcse"] + 1e-3
    assert summary["mu_sd"] == pytest.approx(sd, rel=0.1)
    assert summary["divergences"] == 0 and random_effects_fit.diagnostics.ok


def test_switched_off_bias_terms_keep_their_priors(random_effects_fit):
    """use_bias = 0: the one-group bias is untouched by the data, N(0.5, 1) as a priori."""
    draws = random_effects_fit.draws("one_group_bias")
    assert draws.mean() == pytest.approx(0.5, abs=0.1)
    assert draws.std() == pytest.approx(1.0, rel=0.1)


def test_the_predictive_is_wider_than_the_mean(random_effects_fit):
    """theta_new = mu + tau z: its variance is Var(mu) + E(tau^2) (independent z)."""
    fit = random_effects_fit
    expected = fit.draws("mu").var() + np.mean(fit.draws("tau") ** 2)
    assert fit.draws("theta_new").var() == pytest.approx(expected, rel=0.1)
    assert fit.shrunken["shrunken"].between(TABLE["y"].min() - 1, TABLE["y"].max()).all()


def test_a_single_study_is_refused():
    from milkbayes.errors import MilkbayesError

    with pytest.raises(MilkbayesError, match="at least two studies"):
        fit_meta_analysis(TABLE.iloc[:1])


# --------------------------------------------------------------- robust prior summaries
def test_mixture_moments_closed_form():
    """Mixture moments against the closed form.

    w N(m, s) + (1 - w) N(0, v) has mean w m and variance
    w (s^2 + m^2) + (1 - w) v^2 - (w m)^2.
    """
    draws = stats.norm.ppf((np.arange(200_000) + 0.5) / 200_000, 8.0, 12.0)
    mean, sd = mixture_moments(draws, weight=0.5, vague_sd=40.0)
    assert mean == pytest.approx(4.0, abs=1e-3)
    assert sd == pytest.approx(math.sqrt(0.5 * (144 + 64) + 0.5 * 1600 - 16), rel=1e-3)


def test_mixture_cauchy_of_a_pure_normal_is_its_quartiles():
    draws = stats.norm.ppf((np.arange(100_000) + 0.5) / 100_000, 1.0, 2.0)
    loc, scale = mixture_cauchy(draws, weight=1.0)
    assert loc == pytest.approx(1.0, abs=1e-3)
    assert scale == pytest.approx(2.0 * stats.norm.ppf(0.75), rel=1e-3)


def test_derive_prior_sections():
    rng = np.random.default_rng(3)
    numbers = derive_prior(rng.normal(9, 12, 4000), rng.normal(1, 1.2, 4000))
    assert set(numbers) == {"meta", "ml", "smd"}
    assert numbers["ml"]["mixture_sd"] > numbers["ml"]["predictive_sd"]


# --------------------------------------------------------------- command line
def test_the_command_writes_a_folder_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "ma"
    status = main(
        ["meta-analysis", "--out", str(out), "--draws", "1000", "--tune", "500", "--json"]
    )
    assert status in (0, 3)  # 3: short chains may miss the ESS threshold; stderr says so
    assert {p.name for p in out.iterdir()} == {
        "summary.json",
        "report.md",
        "forest.png",
        "derived_prior.toml",
        "milkbayes-meta-analysis.json",
    }
    summary = json.loads(capsys.readouterr().out)
    assert summary["smd"]["k"] == 4 and summary["mcid"]["value"] == pytest.approx(6.3)
    assert derived_prior(out / "derived_prior.toml")["meta"]["weight"] == 0.5
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Schmidli" in report and "as quoted in the review, unverified" in report
    before = (out / "summary.json").read_bytes()
    assert main(["meta-analysis", "--out", str(out)]) == EXIT_USER_ERROR
    assert (out / "summary.json").read_bytes() == before


def test_bad_studies_file_is_one_line_and_no_folder(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[study]]\nid = "x"\n', encoding="utf-8")
    out = tmp_path / "never"
    assert main(["meta-analysis", "--studies", str(bad), "--out", str(out)]) == EXIT_USER_ERROR
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {bad}, row 1, column \"citation\": study 'x': missing required field"]
    assert not out.exists()


@pytest.mark.slow
def test_the_bundled_derived_prior_matches_a_fresh_run():
    """The shipped derived_prior.toml is what the meta-analysis gives (within MC error)."""
    from milkbayes.meta_analysis.run import run_meta_analysis

    bundled = derived_prior()
    fresh = run_meta_analysis(seed=99).prior_numbers
    for scale, tolerance in (("ml", 1.0), ("smd", 0.1)):
        for key in ("predictive_mean", "mixture_mean"):
            assert fresh[scale][key] == pytest.approx(bundled[scale][key], abs=tolerance)
        assert fresh[scale]["mixture_sd"] == pytest.approx(bundled[scale]["mixture_sd"], rel=0.05)


# --------------------------------------------------------------- the paper as one more study
def test_the_paper_update_is_the_grid_posterior_of_prior_times_power():
    """With tau = bias = PET = 0 the reweighted mu is Normal(m, s) x power, integrated."""
    from milkbayes.meta_analysis.update import update_with_paper
    from milkbayes.sensitivity.power import power_curve

    size = 40_000
    mu = stats.norm.ppf((np.arange(size) + 0.5) / size, 0.8, 0.5)
    zeros = np.zeros(size)
    draws = {"mu": mu, "tau": zeros, "one_group_bias": zeros, "pet": zeros, "theta_new": mu}
    update = update_with_paper(draws, n_sim=4000, seed=5)
    grid = np.arange(-2.0, 6.0, 0.001)
    power = power_curve(grid, 24, n_sim=4000, seed=5, p_threshold=0.0005)
    density = stats.norm.pdf(grid, 0.8, 0.5) * power
    expected = float((grid * density).sum() / density.sum())
    assert update["mu_after"]["mean"] == pytest.approx(expected, abs=2e-3)
    assert update["mu_after"]["mean"] > update["mu_before"]["mean"]
    assert update["p_mu_gt_0_after"] >= update["p_mu_gt_0_before"]
