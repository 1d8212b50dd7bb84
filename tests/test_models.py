"""Tests of the model scripts: structure, Bayes factors, recovery of known truth, SBC.

Reference values and where they come from:
* pingouin's ``bayesfactor_ttest`` docstring: paired t = 3.5, n = 20 gives BF10 = 17.185;
* BayesFactor's ``ttestBF`` help page (R, ``datasets::sleep``), paired:
  ``ttestBF(x = sleep$extra[1:10], y = sleep$extra[11:20], paired = TRUE)`` prints
  ``Alt., r=0.707 : 17.25888``; one sample on drug 2 alone prints ``10.71554``;
* the signed-rank posterior is compared with a plain Gibbs sampler of the published
  algorithm (van Doorn et al. 2020), written below independently of the model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from milkbayes.data.study import study_from_frame
from milkbayes.errors import ModelError
from milkbayes.models import (
    ancova,
    paired_change,
    prepost_bivariate,
    prepost_hierarchical,
    signed_rank,
    two_arm,
)
from milkbayes.models.contract import ModelInputs, rao_blackwell_log_density_at_zero
from milkbayes.models.priors import get_prior

SMALL = {"draws": 300, "tune": 300, "chains": 2}
LEVELS = {
    "work_duration": ("short", "long"),
    "parity": ("primipara", "multipara"),
    "occupation": ("farm_labourer", "entrepreneur", "private_employee"),
    "education": ("elementary", "junior_high", "senior_high"),
    "age_group": ("under_20", "adult"),
}


# --------------------------------------------------------------------------- data helpers
def make_frame(n, rng, pre, post, *, control=None, covariates=True):
    frame = pd.DataFrame({"id": [f"m{i:02d}" for i in range(n)], "pre": pre, "post": post})
    if control is not None:
        frame["group"] = np.where(control, "control", "massage")
    if covariates:
        for column, levels in LEVELS.items():
            frame[column] = [levels[k % len(levels)] for k in rng.permutation(n)]
    return frame


def volume_study(n=24, seed=0, effect=8.0, covariates=True):
    rng = np.random.default_rng(seed)
    pre = rng.gamma(6.0, 2.0, n).round(1)
    post = np.clip(pre + rng.normal(effect, 4.0, n), 0.1, None).round(1)
    return study_from_frame(
        make_frame(n, rng, pre, post, covariates=covariates),
        outcome={"kind": "volume", "unit": "ml"},
    )


def score_study(n=24, seed=0):
    rng = np.random.default_rng(seed)
    pre = rng.integers(0, 7, n).astype(float)
    post = np.clip(pre + rng.integers(0, 4, n), 0, 10).astype(float)
    return study_from_frame(
        make_frame(n, rng, pre, post), outcome={"kind": "score", "max_score": 10}
    )


def control_study(n=24, seed=0):
    rng = np.random.default_rng(seed)
    pre = rng.gamma(6.0, 2.0, n).round(1)
    control = np.arange(n) % 2 == 0
    post = pre + rng.normal(3.0, 3.0, n) + 6.0 * ~control
    return study_from_frame(
        make_frame(n, rng, pre, np.clip(post, 0, None).round(1), control=control),
        outcome={"kind": "volume", "unit": "ml"},
    )


CASES = [
    (paired_change, "normal", volume_study),
    (paired_change, "student_t", volume_study),
    (signed_rank, "latent_normal", volume_study),
    (prepost_hierarchical, "normal", volume_study),
    (prepost_hierarchical, "student_t", volume_study),
    (prepost_hierarchical, "lognormal", volume_study),
    (prepost_hierarchical, "ordered_logistic", score_study),
    (prepost_hierarchical, "normal", score_study),
    (prepost_bivariate, "normal", volume_study),
    (prepost_bivariate, "normal", score_study),
    (two_arm, "normal", control_study),
    (two_arm, "student_t", control_study),
    (ancova, "normal", control_study),
    (ancova, "student_t", control_study),
]


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize(
    ("module", "likelihood", "make"),
    CASES,
    ids=[f"{m.NAME}-{lk}-{mk.__name__}" for m, lk, mk in CASES],
)
def test_structure_names_dims_and_finite_gradient(module, likelihood, make):
    study = make()
    prior = get_prior("neutral", study.outcome, module.NAME)
    inputs = module.inputs(study, likelihood)
    model = module.build(inputs, prior, likelihood)
    data_names = {var.name for var in model.data_vars}
    assert data_names == set(inputs.data) | {f"prior_{k}" for k in prior.values}
    assert "mother_weight" in inputs.data and module.EFFECT in model.named_vars
    for var in (*model.free_RVs, *model.deterministics, *model.observed_RVs):
        if var.ndim > 0:
            assert model.named_vars_to_dims.get(var.name), f"{var.name} has no dims"
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert np.all(np.isfinite(model.compile_dlogp()(point)))


def test_prepost_skips_missing_and_single_level_covariates():
    study = volume_study(covariates=False)
    inputs = prepost_hierarchical.inputs(study, "normal")
    assert inputs.meta["skipped"] == {
        c: "not in the data"
        for c in ("work_duration", "parity", "occupation", "education", "age_group")
    }
    rng = np.random.default_rng(1)
    frame = make_frame(10, rng, np.full(10, 5.0), np.full(10, 9.0))
    frame["age_group"] = "adult"
    one_level = study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})
    meta = prepost_hierarchical.inputs(one_level, "normal").meta
    assert meta["skipped"] == {"age_group": "only one level present"}
    assert "idx_age_group" not in prepost_hierarchical.inputs(one_level, "normal").data


@pytest.mark.parametrize("held_out", [None, 4])
def test_prepost_effect_is_the_average_of_the_mothers_effects(held_out):
    """The sample-centred coding makes 'effect' the mean of 'effect_mother'.

    This holds over the study's mothers at any parameter values (checked at a random
    point), and holding a mother out (weight 0) does not change that meaning; each
    pooled covariate's level effects average to 'effect' with the levels' shares of
    mothers as weights.
    """
    study = volume_study()
    inputs = prepost_hierarchical.inputs(study, "normal")
    weights = np.ones(study.n)
    if held_out is not None:
        weights[held_out] = 0.0
    model = prepost_hierarchical.build(
        ModelInputs({**inputs.data, "mother_weight": weights}, inputs.coords, inputs.meta),
        get_prior("neutral", study.outcome, "prepost_hierarchical"),
        "normal",
    )
    rng = np.random.default_rng(8)
    point = {
        name: rng.normal(size=np.shape(value)) for name, value in model.initial_point().items()
    }
    import pytensor

    outputs = model.replace_rvs_by_values(
        [
            model["effect_mother"],
            model["effect"],
            model["effect_work_duration"],
            model["effect_occupation"],
        ]
    )
    function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    mothers, effect, long_short, by_occupation = function(
        *(point[v.name] for v in model.value_vars)
    )
    assert np.mean(mothers) == pytest.approx(float(effect), abs=1e-10)
    levels = inputs.coords["occupation_level"]
    counts = study.table["occupation"].value_counts()
    shares = np.array([counts[level] for level in levels]) / study.n
    assert np.sum(shares * by_occupation) == pytest.approx(float(effect), abs=1e-10)
    is_long = (study.table["work_duration"] == "long").to_numpy()
    gamma = point["modifier_work_duration"]
    assert long_short[1] - long_short[0] == pytest.approx(float(gamma), abs=1e-10)
    assert is_long.any() and not is_long.all()


def test_prepost_long_arrays_are_the_long_tables_columns():
    """The arrays the flagship reads equal ``study.long()``'s columns, bytes and dtype.

    Reference: the long table of pandas (two rows per mother, sorted by mother then
    time), on mothers in a shuffled table order.
    """
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"id": [f"m{k}" for k in (3, 1, 2, 0)], "pre": rng.normal(5, 1, 4), "post": [4, 6, 7, 5]}
    )
    study = study_from_frame(frame)
    long = study.long()
    expected = (
        long["y"].to_numpy(dtype=float),
        long["mother"].to_numpy(dtype=np.int64),
        long["time"].to_numpy(dtype=float),
    )
    for got, want in zip(prepost_hierarchical._long_arrays(study), expected, strict=True):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_lognormal_and_ordered_logistic_refuse_unsuitable_data():
    rng = np.random.default_rng(2)
    zero = study_from_frame(
        make_frame(4, rng, [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]),
        outcome={"kind": "volume", "unit": "ml"},
    )
    with pytest.raises(ModelError, match="mother m00 has pre = 0.0"):
        prepost_hierarchical.inputs(zero, "lognormal")
    with pytest.raises(ModelError, match="ordered-logistic likelihood is for scores"):
        prepost_hierarchical.inputs(volume_study(), "ordered_logistic")


def test_two_arm_on_one_group_explains_what_is_missing():
    study = volume_study()
    with pytest.raises(ModelError, match="not separately identified"):
        two_arm.inputs(study, "normal")
    inputs = two_arm.inputs(control_study(), "normal")
    one_arm = ModelInputs(
        {**inputs.data, "massage": np.ones_like(inputs.data["massage"])}, inputs.coords, inputs.meta
    )
    with pytest.raises(ModelError, match="needs a control arm"):
        two_arm.build(one_arm, get_prior("neutral", study.outcome, "two_arm"), "normal")


def _logp_at(model, point):
    return float(model.compile_logp()(point))


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_two_arm_pair_density_integrates_the_mothers_level_out(likelihood):
    """Each mother's log-likelihood is the density of her pair, her level integrated out.

    Normal: the integral over the level of the two normal measurements, by quadrature,
    and scipy's bivariate normal with covariance sd_mother^2 11' + sigma^2 I.
    Student-t: scipy's bivariate t with that scale matrix.
    """
    study = control_study()
    model = two_arm.build(
        two_arm.inputs(study, likelihood),
        get_prior("neutral", study.outcome, "two_arm"),
        likelihood,
    )
    alpha, gamma, trend, effect, tau, sigma, nu = 11.0, -1.5, 2.5, 5.0, 3.0, 1.7, 4.5
    point = {
        "intercept": np.asarray(alpha),
        "group_difference": np.asarray(gamma),
        "trend": np.asarray(trend),
        "effect": np.asarray(effect),
        "mother_sd_log__": np.asarray(math.log(tau)),
        "sigma_log__": np.asarray(math.log(sigma)),
    }
    if likelihood == "student_t":
        point["nu_log__"] = np.asarray(math.log(nu))
    pointwise = model.compile_logp(vars=[model["y_obs"]], sum=False)(point)[0]
    arm = (study.table["group"] == "massage").to_numpy(dtype=float)
    pairs = study.table[["pre", "post"]].to_numpy(dtype=float)
    cov = tau**2 * np.ones((2, 2)) + sigma**2 * np.eye(2)
    assert pointwise.shape == (study.n,)
    for i, ((pre, post), g) in enumerate(zip(pairs, arm, strict=True)):
        mean = np.array([alpha + gamma * g, alpha + gamma * g + trend + effect * g])
        if likelihood == "student_t":
            expected = stats.multivariate_t(loc=mean, shape=cov, df=nu).logpdf([pre, post])
        else:
            expected = stats.multivariate_normal(mean, cov).logpdf([pre, post])

            def joint(level, pre=pre, post=post, centre=mean[0], shift=mean[1] - mean[0]):
                return (
                    stats.norm.pdf(pre, level, sigma)
                    * stats.norm.pdf(post, level + shift, sigma)
                    * stats.norm.pdf(level, centre, tau)
                )

            integral, _ = integrate.quad(joint, mean[0] - 12 * tau, mean[0] + 12 * tau)
            assert pointwise[i] == pytest.approx(math.log(integral), rel=1e-7)
        assert pointwise[i] == pytest.approx(expected, rel=1e-9)


def test_mother_weight_zero_equals_dropping_her_paired_change():
    study = volume_study()
    prior = get_prior("neutral", study.outcome, "paired_change")
    inputs = paired_change.inputs(study, "normal")
    weights = np.ones(study.n)
    weights[3] = 0.0
    weighted = paired_change.build(
        ModelInputs({**inputs.data, "mother_weight": weights}, inputs.coords, inputs.meta),
        prior,
        "normal",
    )
    dropped_study = study.without(study.ids[3])
    dropped = paired_change.build(paired_change.inputs(dropped_study, "normal"), prior, "normal")
    point = {"delta": np.asarray(0.7), "sigma_log__": np.asarray(np.log(4.0))}
    assert _logp_at(weighted, point) == pytest.approx(_logp_at(dropped, point), rel=1e-10)


def test_mother_weight_zero_leaves_only_her_intercept_prior_prepost():
    """With w_k = 0, mother k's data no longer count.

    The log density differs from the model without mother k only by her own N(0, 1)
    intercept term.
    """
    study = volume_study(covariates=False)
    prior = get_prior("neutral", study.outcome, "prepost_hierarchical")
    inputs = prepost_hierarchical.inputs(study, "normal")
    weights = np.ones(study.n)
    weights[5] = 0.0
    weighted = prepost_hierarchical.build(
        ModelInputs({**inputs.data, "mother_weight": weights}, inputs.coords, inputs.meta),
        prior,
        "normal",
    )
    dropped = prepost_hierarchical.build(
        prepost_hierarchical.inputs(study.without(study.ids[5]), "normal"), prior, "normal"
    )
    z = np.linspace(-1.0, 1.0, study.n)
    common = {
        "mother_sd_log__": np.asarray(1.0),
        "effect": np.asarray(7.0),
        "intercept": np.asarray(11.0),
        "sigma_log__": np.asarray(1.2),
    }
    full = _logp_at(weighted, {**common, "mother_z": z})
    without = _logp_at(dropped, {**common, "mother_z": np.delete(z, 5)})
    assert full - without == pytest.approx(stats.norm.logpdf(z[5]), rel=1e-9)


# --------------------------------------------------------------------------- JZS BF
SLEEP_DRUG1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_DRUG2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def test_jzs_bf10_matches_pingouin_docstring_example():
    # pingouin.bayesfactor_ttest docstring: bayesfactor_ttest(3.5, 20, 20, paired=True) = 17.185
    assert paired_change.jzs_bf10(3.5, 20) == pytest.approx(17.185, abs=5e-4)


def test_jzs_bf10_matches_bayesfactor_ttestbf_sleep_examples():
    # R BayesFactor ?ttestBF, sleep data: paired 17.25888, drug 2 one-sample 10.71554
    paired = paired_change.paired_t(SLEEP_DRUG1 - SLEEP_DRUG2)
    assert paired == pytest.approx(stats.ttest_rel(SLEEP_DRUG1, SLEEP_DRUG2).statistic)
    assert paired_change.jzs_bf10(paired, 10) == pytest.approx(17.25888, rel=2e-6)
    one = paired_change.paired_t(SLEEP_DRUG2)
    assert paired_change.jzs_bf10(one, 10) == pytest.approx(10.71554, rel=2e-6)


@pytest.mark.parametrize(
    ("t", "n", "r"),
    [(0.0, 12, 0.707), (1.2, 24, 0.707), (-2.9, 24, 0.5), (4.0, 30, 1.0), (8.0, 24, 0.707)],
)
def test_jzs_bf10_agrees_with_pingouin_and_the_informed_form(t, n, r):
    pingouin = pytest.importorskip("pingouin")
    expected = pingouin.bayesfactor_ttest(t, n, paired=True, r=r)
    assert paired_change.jzs_bf10(t, n, r) == pytest.approx(expected, rel=2e-4)
    assert paired_change.informed_log_bf10(t, n, 0.0, r) == pytest.approx(
        paired_change.jzs_log_bf10(t, n, r), abs=1e-6
    )


def test_rao_blackwell_density_matches_a_normal_prior_closed_form():
    """With a huge Cauchy scale the density at 0 is the normal pdf.

    The prior is then flat near the data, so the full conditional is N(m, 1/n).
    """
    m = np.array([0.3, 0.5])
    log_p, _ = rao_blackwell_log_density_at_zero(m, 25.0, 0.0, 1e4)
    expected = np.log(np.mean(stats.norm(m, 0.2).pdf(0.0)))
    assert log_p == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------- fits
def _fit(module, study, likelihood=None, prior="neutral", seed=7, inputs=None):
    from milkbayes.engine.fit import fit

    return fit(
        module.NAME,
        study,
        prior=prior,
        likelihood=likelihood,
        seed=seed,
        log_likelihood=False,
        posterior_predictive=False,
        inputs=inputs,
        **SMALL,
    )


def _draws(result, name):
    return np.asarray(result.tree.posterior[name]).reshape(
        -1, *result.tree.posterior[name].shape[2:]
    )


def _covers(draws, truth, prob=0.99):
    low, high = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
    return low < truth < high


def test_paired_change_recovers_mean_and_sd_and_bf_crosscheck():
    rng = np.random.default_rng(11)
    n, mu, sigma = 24, 1.0, 4.0  # delta = 0.25: posterior near 0, cross-check informative
    pre = rng.gamma(6.0, 2.0, n).round(2) + 20
    post = (pre + rng.normal(mu, sigma, n)).round(2)
    study = study_from_frame(
        make_frame(n, rng, pre, post, covariates=False), outcome={"kind": "volume", "unit": "ml"}
    )
    result = _fit(paired_change, study)
    effect = _draws(result, "effect")
    change = study.change
    # posterior of mu centres on the sample mean within 3 posterior SE's MC error, and
    # its SD is close to the classical standard error s / sqrt(n)
    assert abs(np.mean(effect) - change.mean()) < 0.25 * change.std(ddof=1) / math.sqrt(n) * 3
    assert np.std(effect) == pytest.approx(change.std(ddof=1) / math.sqrt(n), rel=0.2)
    assert _covers(effect, mu) and _covers(_draws(result, "sigma"), sigma)
    extra = result.summary
    assert extra["savage_dickey_ess"] >= paired_change.CROSSCHECK_MIN_ESS
    # Savage-Dickey on the sampled posterior (half-normal sigma prior) against the
    # closed form (Jeffreys sigma prior): same evidence up to the sigma prior
    assert extra["log_bf10_savage_dickey"] == pytest.approx(extra["log_bf10_jzs"], abs=0.35)


def _truncated_normal(rng, low, high, mean):
    """Inverse-CDF draw from N(mean, 1) on (low, high), from the far side of the mean."""
    a, b = low - mean, high - mean
    if a > 0:  # both bounds above the mean: use upper tails for precision
        u = rng.uniform(special.ndtr(-b), special.ndtr(-a))
        return mean - special.ndtri(u)
    u = rng.uniform(special.ndtr(a), special.ndtr(b))
    return mean + special.ndtri(u)


def gibbs_signed_rank(change, r, iterations, rng, inner=10):
    """The published Gibbs sampler (van Doorn et al. 2020, signed-rank test).

    Sweep the latent |z_i| within the bounds set by neighbouring rank groups, then
    draw delta and g (delta ~ Cauchy(0, r) as N(0, g), g ~ InvGamma(1/2, r^2/2)).
    Zeros: |z| ranked lowest, sign drawn from its full conditional.
    """
    change = np.asarray(change, dtype=float)
    n = change.size
    sign = np.sign(change)
    absolute = np.abs(change)
    ranks = stats.rankdata(absolute)
    latent = np.sort(np.abs(rng.normal(size=n)))[np.argsort(np.argsort(ranks, kind="stable"))]
    delta, g, out = 0.0, 1.0, np.empty(iterations)
    for it in range(iterations):
        for i in rng.permutation(n):
            lower = latent[ranks < ranks[i]]
            upper = latent[ranks > ranks[i]]
            low = lower.max() if lower.size else 0.0
            high = upper.min() if upper.size else np.inf
            if sign[i] == 0:
                mass = [special.ndtr(high - m) - special.ndtr(low - m) for m in (delta, -delta)]
                mean = delta if rng.random() < mass[0] / (mass[0] + mass[1]) else -delta
            else:
                mean = sign[i] * delta
            latent[i] = _truncated_normal(rng, low, high, mean)
        z = sign * latent
        zero = sign == 0
        z[zero] = np.where(
            rng.random(zero.sum()) < special.expit(2 * latent[zero] * delta),
            latent[zero],
            -latent[zero],
        )
        zbar = z.mean()
        for _ in range(inner):
            var = 1.0 / (n + 1.0 / g)
            delta = rng.normal(n * zbar * var, math.sqrt(var))
            g = 1.0 / rng.gamma(1.0, 1.0 / ((delta**2 + r**2) / 2.0))
        out[it] = delta
    return out


SIGNED_RANK_CHANGES = np.array(
    [0.0, 0.0, 0.8, -0.2, -0.1, 0.2, -1.6, 0.2, -0.5, 3.7, 0.6, 0.1, -0.3, 0.9, 1.4, 0.4]
)


def test_signed_rank_agrees_with_plain_gibbs_sampler():
    import arviz as az

    n = SIGNED_RANK_CHANGES.size
    rng = np.random.default_rng(5)
    study = study_from_frame(
        make_frame(n, rng, np.full(n, 5.0), 5.0 + SIGNED_RANK_CHANGES, covariates=False),
        outcome={"kind": "continuous"},
    )
    result = _fit(signed_rank, study)
    delta = result.tree.posterior["delta"]
    mean = float(delta.mean())
    se = float(delta.std()) / math.sqrt(float(az.ess(np.asarray(delta))))
    gibbs = gibbs_signed_rank(
        SIGNED_RANK_CHANGES, math.sqrt(2) / 2, 4000, np.random.default_rng(9)
    )[500:]
    gibbs_se = gibbs.std() / math.sqrt(
        len(gibbs) / 5
    )  # Gibbs autocorrelation: ESS ~ N/5 (generous)
    assert abs(mean - gibbs.mean()) < 4 * math.hypot(se, gibbs_se)
    assert float(delta.std()) == pytest.approx(gibbs.std(), rel=0.15)
    # Savage-Dickey from a KDE of the Gibbs draws against the quadrature BF and the
    # Rao-Blackwell estimate from the model's draws
    kde_log_bf = stats.cauchy(0, math.sqrt(2) / 2).logpdf(0) - np.log(
        stats.gaussian_kde(gibbs)(0.0)[0]
    )
    assert result.summary["bf10_trustworthy"]
    assert result.summary["log_bf10"] == pytest.approx(kde_log_bf, abs=0.3)
    assert result.summary["log_bf10_savage_dickey"] == pytest.approx(kde_log_bf, abs=0.3)
    # the quadrature's exact posterior mean against the Gibbs sampler's
    exact = signed_rank.rank_bayes_factor(SIGNED_RANK_CHANGES)
    grid, density = exact["delta_grid"], exact["posterior_density"]
    exact_mean = np.trapezoid(grid * density, grid) / np.trapezoid(density, grid)
    assert abs(exact_mean - gibbs.mean()) < 4 * gibbs_se


def test_cauchy_log_odds_coordinate_is_standard_logistic_under_the_prior():
    """The prior delta ~ Cauchy(loc, r) in the transform's coordinate is scipy's logistic."""
    import pymc as pm

    x = np.array([-29.0, -8.0, -1.5, -1e-9, 0.0, 0.3, 2.0, 12.0, 29.0])
    with pm.Model() as model:
        pm.Cauchy("d", 0.4, 0.7, default_transform=signed_rank.CauchyLogOdds.transform())
    logp = model.compile_logp()
    (name,) = [v.name for v in model.value_vars]
    got = np.array([logp({name: v}) for v in x])
    np.testing.assert_allclose(got, stats.logistic.logpdf(x), rtol=1e-9, atol=1e-12)
    # and the coordinate is the log-odds of the prior CDF
    draws = pm.draw(model["d"], 5, random_seed=1)
    forward = model.rvs_to_transforms[model["d"]].forward
    import pytensor.tensor as pt

    inputs = model["d"].owner.inputs
    coords = forward(pt.as_tensor(draws), *inputs).eval()
    np.testing.assert_allclose(coords, special.logit(stats.cauchy(0.4, 0.7).cdf(draws)), rtol=1e-9)


def test_signed_rank_reaches_the_cauchy_tail_when_all_signs_agree():
    """All changes positive: the posterior keeps the prior's Cauchy tail, in closed form.

    With every sign positive the latent values are iid given they are positive, so
    every order of them is equally likely and p(signs, ranks | delta) =
    Phi(delta)^n / n!; the posterior is Cauchy(0, r) times Phi(delta)^n, integrated
    here with scipy in the prior's CDF coordinate. NUTS on the latent values must
    reach its tail (P(delta > 10) = 0.16), which it falls short of when the lowest
    latent gap is on the log scale (a ridge u ~ log(delta) of width 1/delta).
    """
    import arviz as az

    n, r = 12, math.sqrt(2) / 2
    rng = np.random.default_rng(3)
    change = np.arange(1, n + 1) * 0.7
    study = study_from_frame(
        make_frame(n, rng, np.full(n, 5.0), 5.0 + change, covariates=False),
        outcome={"kind": "continuous"},
    )
    from milkbayes.engine.fit import fit

    result = fit(
        signed_rank.NAME,
        study,
        prior="neutral",
        seed=11,
        log_likelihood=False,
        posterior_predictive=False,
        draws=1000,
        tune=1000,
        chains=2,
    )
    delta = np.asarray(result.tree.posterior["delta"])

    def weight(x):
        d = r * math.tan(math.pi * (special.expit(x) - 0.5))
        return stats.logistic.pdf(x) * stats.norm.cdf(d) ** n

    total = integrate.quad(weight, -40, 40, points=[0, 2, 5], limit=200)[0]
    for t in (1.0, 3.0, 10.0, 30.0):
        upper = special.logit(stats.cauchy(0, r).cdf(t))
        exact = integrate.quad(weight, -40, upper, limit=200)[0] / total
        below = (delta < t).astype(float)
        ess = float(az.ess(below)) if below.std() > 0 else below.size
        se = math.sqrt(exact * (1 - exact) / ess)
        assert abs(below.mean() - exact) < 4 * se + 0.01, (t, below.mean(), exact)


def _simulate_prepost(rng, n, *, effect, modifier, intercept, mother_sd, sigma):
    frame = make_frame(n, rng, np.zeros(n), np.zeros(n))
    long = (frame["work_duration"] == "long").to_numpy(dtype=float)
    x = long - long.mean()
    level = intercept + mother_sd * rng.normal(size=n)
    frame["pre"] = level + sigma * rng.normal(size=n)
    frame["post"] = level + effect + modifier * x + sigma * rng.normal(size=n)
    return frame


@pytest.mark.slow
def test_prepost_normal_recovers_effect_and_modifier():
    rng = np.random.default_rng(21)
    frame = _simulate_prepost(
        rng, 40, effect=8.0, modifier=-4.0, intercept=20.0, mother_sd=3.0, sigma=2.0
    )
    study = study_from_frame(frame.round(3), outcome={"kind": "volume", "unit": "ml"})
    result = _fit(prepost_hierarchical, study, "normal")
    assert _covers(_draws(result, "effect"), 8.0)
    assert _covers(_draws(result, "modifier_work_duration"), -4.0)
    levels = list(
        result.tree.posterior["effect_work_duration"].coords["work_duration_level"].values
    )
    assert levels == ["short", "long"]
    subgroup = result.summary["subgroup_effects"]["work_duration"]
    assert subgroup["long"]["median"] < subgroup["short"]["median"]


@pytest.mark.slow
def test_prepost_lognormal_recovers_percent_change():
    rng = np.random.default_rng(22)
    frame = _simulate_prepost(
        rng, 40, effect=0.5, modifier=0.0, intercept=2.5, mother_sd=0.3, sigma=0.15
    )
    frame[["pre", "post"]] = np.exp(frame[["pre", "post"]])
    study = study_from_frame(frame.round(4), outcome={"kind": "volume", "unit": "ml"})
    result = _fit(prepost_hierarchical, study, "lognormal")
    assert _covers(_draws(result, "effect_pct"), 100 * math.expm1(0.5))
    assert _covers(_draws(result, "effect"), math.exp(2.5) * math.expm1(0.5), prob=0.995)


@pytest.mark.slow
def test_prepost_ordered_logistic_recovers_log_odds_effect():
    rng = np.random.default_rng(23)
    n, effect = 60, 1.5
    cutpoints = prepost_hierarchical._uniform_cutpoints(10)
    level = 0.5 * rng.normal(size=n)

    def draw(eta):
        latent = eta + rng.logistic(size=n)
        return np.searchsorted(cutpoints, latent).astype(float)

    frame = make_frame(n, rng, draw(level), draw(level + effect))
    study = study_from_frame(frame, outcome={"kind": "score", "max_score": 10})
    result = _fit(prepost_hierarchical, study, "ordered_logistic")
    assert _covers(_draws(result, "effect"), effect)


@pytest.mark.slow
def test_two_arm_recovers_trend_and_effect():
    rng = np.random.default_rng(24)
    n = 40
    control = np.arange(n) % 2 == 0
    level = 15.0 + 3.0 * rng.normal(size=n) + 2.0 * ~control  # nonequivalent arms
    pre = level + 1.5 * rng.normal(size=n)
    post = level + 3.0 + 6.0 * ~control + 1.5 * rng.normal(size=n)
    study = study_from_frame(
        make_frame(n, rng, pre.round(3), post.round(3), control=control, covariates=False),
        outcome={"kind": "volume", "unit": "ml"},
    )
    result = _fit(two_arm, study)
    assert _covers(_draws(result, "effect"), 6.0) and _covers(_draws(result, "trend"), 3.0)
    assert result.summary["n_control"] == 20


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
def test_prepost_simulation_based_calibration_smoke():
    """Simulation-based calibration of the flagship (normal likelihood), 20 prior draws.

    The rank of each true effect among its posterior draws should be uniform (Talts
    et al. 2018).
    """
    import pymc as pm

    study = volume_study(n=24, seed=3)
    prior = get_prior("neutral", study.outcome, "prepost_hierarchical")
    inputs = prepost_hierarchical.inputs(study, "normal")
    model = prepost_hierarchical.build(inputs, prior, "normal")
    with model:
        sims = pm.sample_prior_predictive(draws=20, random_seed=42)
    truths = np.asarray(sims.prior["effect"]).ravel()
    ys = np.asarray(sims.prior_predictive["y_obs"]).reshape(20, -1)
    ranks = []
    for k in range(20):
        simulated = ModelInputs({**inputs.data, "y": ys[k]}, inputs.coords, inputs.meta)
        result = _fit(prepost_hierarchical, study, "normal", seed=100 + k, inputs=simulated)
        draws = _draws(result, "effect")[::6]  # thin to ~100 near-independent draws
        ranks.append(np.mean(draws < truths[k]))
    ranks = np.array(ranks)
    assert stats.kstest(ranks, "uniform").pvalue > 0.001
    assert np.mean((ranks > 0.025) & (ranks < 0.975)) >= 0.75


# --------------------------------------------------------------------------- cheap checks
def test_rank_groups_enumerate_ties_and_zeros():
    # |d| = 0, 0, 1, 2, 2, 3 -> groups 0, 0, 1, 2, 2, 3 (zeros lowest, ties share)
    changes = np.array([0.0, 2.0, -2.0, 0.0, 3.0, -1.0])
    np.testing.assert_array_equal(signed_rank.rank_groups(changes), [0, 2, 2, 0, 3, 1])
    # the groups order |d| like scipy's average ranks do
    ranks = stats.rankdata(np.abs(changes))
    groups = signed_rank.rank_groups(changes)
    assert all((ranks[i] < ranks[j]) == (groups[i] < groups[j]) for i in range(6) for j in range(6))


def test_paired_change_crosscheck_says_when_it_is_not_informative():
    import xarray as xr

    study = volume_study(effect=15.0)  # t far above 5: posterior of delta far from 0
    inputs = paired_change.inputs(study, "normal")
    prior = get_prior("neutral", study.outcome, "paired_change")
    change = study.change
    rng = np.random.default_rng(4)
    # a stand-in posterior: sigma near the sample SD, delta = mean / sigma
    sigma = change.std(ddof=1) * np.exp(rng.normal(0, 0.15, (2, 500)))
    delta = change.mean() / sigma + rng.normal(0, 0.2, (2, 500))
    posterior = xr.Dataset(
        {"delta": (("chain", "draw"), delta), "sigma": (("chain", "draw"), sigma)}
    )
    out = paired_change.extra_summary(posterior, inputs, prior)
    assert out["t_statistic"] == pytest.approx(stats.ttest_1samp(change, 0.0).statistic)
    assert out["savage_dickey_ess"] < paired_change.CROSSCHECK_MIN_ESS
    assert out["bf10_crosscheck"].startswith("not informative")


def test_signed_rank_bf_text_is_a_bound_when_untrustworthy():
    assert signed_rank.bf10_text(30.0, 20.0, False) == f"BF10 > 10^{math.floor(20 / math.log(10))}"
    assert signed_rank.bf10_text(1.0, 1.0, False) == "BF10 not estimable from these draws"


@pytest.mark.parametrize(
    "module",
    [paired_change, signed_rank, prepost_hierarchical, prepost_bivariate, two_arm, ancova],
)
def test_scripts_have_help(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"models/{module.NAME}.py" in out and module.LIKELIHOODS[0] in out


def test_two_arm_script_on_bundled_data_fails_cleanly(capsys):
    assert two_arm.main([]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: two_arm needs a control arm")
    assert "Traceback" not in captured.err


def test_ancova_script_on_bundled_data_fails_cleanly(capsys):
    assert ancova.main([]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ancova needs a control arm")
    assert "Traceback" not in captured.err


# --------------------------------------------------------------------------- new models
def test_bivariate_log_likelihood_is_scipys_bivariate_normal():
    """At any parameter values each mother's log-likelihood is her pair's 2-d normal density.

    Independent calculation: ``scipy.stats.multivariate_normal`` with the covariance
    written from the sds and the correlation, and the mean (alpha, alpha + tau_i),
    mother by mother (one value each: leave-one-mother-out reads them), at random
    parameter values including strong correlations of either sign and unequal sds.
    """
    study = volume_study(covariates=False)
    prior = get_prior("neutral", study.outcome, "prepost_bivariate")
    model = prepost_bivariate.build(prepost_bivariate.inputs(study, "normal"), prior, "normal")
    per_mother = model.compile_fn(model.logp(vars=[model["y_obs"]], sum=False)[0], point_fn=True)
    pairs = study.table[["pre", "post"]].to_numpy(float)
    rng = np.random.default_rng(8)
    for rho in (*rng.uniform(-0.97, 0.97, 6), 0.0, -0.995, 0.995):
        sd = rng.uniform(0.3, 30.0, 2)
        alpha, beta = rng.normal(10.0, 5.0), rng.normal(5.0, 5.0)
        point = {
            "intercept": np.asarray(alpha),
            "effect": np.asarray(beta),
            "sd_log__": np.log(sd),
            "corr_beta_logodds__": np.asarray(special.logit((rho + 1) / 2)),
        }
        got = per_mother(point)
        cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
        expected = stats.multivariate_normal([alpha, alpha + beta], cov).logpdf(pairs)
        assert got.shape == (study.n,)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_bivariate_weights_multiply_each_mothers_pair_density():
    """Weight w_i makes mother i's pair count w_i times (0: held out, as in LOMO refits).

    The model's log density minus its priors' must be sum_i w_i log N2(pair_i), the
    2-d normal densities from scipy, at random weights that include zeros.
    """
    study = volume_study(covariates=False)
    prior = get_prior("neutral", study.outcome, "prepost_bivariate")
    inputs = prepost_bivariate.inputs(study, "normal")
    rng = np.random.default_rng(12)
    weights = rng.uniform(0.0, 2.0, study.n)
    weights[[3, 17]] = 0.0
    model = prepost_bivariate.build(
        ModelInputs({**inputs.data, "mother_weight": weights}, inputs.coords, inputs.meta),
        prior,
        "normal",
    )
    sd, rho, alpha, beta = np.array([5.0, 9.0]), -0.35, 12.0, 7.0
    point = {
        "intercept": np.asarray(alpha),
        "effect": np.asarray(beta),
        "sd_log__": np.log(sd),
        "corr_beta_logodds__": np.asarray(special.logit((rho + 1) / 2)),
    }
    total = model.compile_logp()(point)
    priors = model.compile_logp(vars=model.free_RVs)(point)
    cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    pairs = study.table[["pre", "post"]].to_numpy(float)
    expected = (weights * stats.multivariate_normal([alpha, alpha + beta], cov).logpdf(pairs)).sum()
    assert float(total - priors) == pytest.approx(expected, rel=1e-10)


def test_bivariate_predictive_pairs_have_the_model_moments(monkeypatch):
    """Posterior-predictive pairs drawn at fixed parameters: simulation with known truth.

    Every draw of the posterior holds alpha = 20, effect 9, sds (4, 8) and correlation
    -0.6, so the replicated pairs (4,000 draws x 24 mothers) must have means (20, 29),
    those sds and that correlation, within a few standard errors of their estimates
    (mean: sd/sqrt(N); sd: sd/sqrt(2N); correlation: (1 - rho^2)/sqrt(N)). The draws
    come from the batched path (the loop is made to fail).
    """
    import xarray as xr

    from milkbayes.engine import predictive

    study = volume_study(covariates=False)
    prior = get_prior("neutral", study.outcome, "prepost_bivariate")
    model = prepost_bivariate.build(prepost_bivariate.inputs(study, "normal"), prior, "normal")
    draws, rho, sd, alpha, beta = 4000, -0.6, np.array([4.0, 8.0]), 20.0, 9.0
    posterior = xr.Dataset(
        {
            "intercept": (("chain", "draw"), np.full((1, draws), alpha)),
            "effect": (("chain", "draw"), np.full((1, draws), beta)),
            "sd": (("chain", "draw", "time"), np.broadcast_to(sd, (1, draws, 2)).copy()),
            "corr_beta": (("chain", "draw"), np.full((1, draws), (rho + 1) / 2)),
        },
        coords={"chain": [0], "draw": np.arange(draws), "time": ["pre", "post"]},
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})

    looped = predictive._looped_predictive

    def layout_only(tree, model, seed, posterior=None):
        # the batched path takes its layout from PyMC's loop run on one draw only
        assert posterior is not None, "the batched predictive fell back to PyMC's loop"
        return looped(tree, model, seed, posterior=posterior)

    monkeypatch.setattr(predictive, "_looped_predictive", layout_only)
    out = predictive.add_posterior_predictive(tree, model, seed=5)
    values = out["posterior_predictive"]["y_obs"]
    assert values.dims == ("chain", "draw", "mother", "time")
    pairs = values.values.reshape(-1, 2)
    n = len(pairs)
    assert np.all(np.abs(pairs.mean(axis=0) - [alpha, alpha + beta]) < 4 * sd / np.sqrt(n))
    assert np.all(np.abs(pairs.std(axis=0) - sd) < 4 * sd / np.sqrt(2 * n))
    corr = np.corrcoef(pairs.T)[0, 1]
    assert corr == pytest.approx(rho, abs=4 * (1 - rho**2) / np.sqrt(n))


def test_bivariate_lkj_prior_is_the_beta_form():
    """LKJ(eta) on a 2x2 correlation has density proportional to (1 - rho^2)^(eta - 1)."""
    rho = np.linspace(-0.9, 0.9, 7)
    eta = 2.0
    beta_form = stats.beta(eta, eta).logpdf((rho + 1) / 2) - np.log(2)
    lkj_kernel = (eta - 1) * np.log1p(-(rho**2))
    differences = beta_form - lkj_kernel
    np.testing.assert_allclose(differences, differences[0], atol=1e-12)
    normaliser = np.log(integrate.quad(lambda r: (1 - r * r) ** (eta - 1), -1, 1)[0])
    assert differences[0] == pytest.approx(-normaliser, abs=1e-10)


@pytest.mark.slow
def test_bivariate_covariance_and_effect_approach_the_sample_values():
    """On 600 simulated mothers, Sigma and the effect approach numpy's estimates.

    Known truth: sds 4 and 8, correlation 0.6, effect 9. With n = 600 the prior is
    negligible, so the posterior means must match the sample covariance
    (``numpy.cov``) and the mean change within a few posterior sds / Monte Carlo error.
    """
    rng = np.random.default_rng(31)
    n, rho = 600, 0.6
    cov = np.array([[16.0, rho * 32.0], [rho * 32.0, 64.0]])
    pairs = rng.multivariate_normal([20.0, 29.0], cov, size=n)
    frame = make_frame(n, rng, pairs[:, 0].round(4), pairs[:, 1].round(4), covariates=False)
    study = study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})
    result = _fit(prepost_bivariate, study)
    sample = np.cov(study.table[["pre", "post"]].to_numpy(float).T)
    sds = _draws(result, "sd").mean(axis=0)
    np.testing.assert_allclose(sds, np.sqrt(np.diag(sample)), rtol=0.03)
    corr = float(_draws(result, "corr").mean())
    assert corr == pytest.approx(sample[0, 1] / np.sqrt(sample[0, 0] * sample[1, 1]), abs=0.02)
    assert float(_draws(result, "effect").mean()) == pytest.approx(study.change.mean(), abs=0.15)
    assert result.summary["sd_ratio"]["ci95_low"] < 2.0 < result.summary["sd_ratio"]["ci95_high"]


def test_ancova_with_flat_priors_is_the_least_squares_ancova():
    """With very wide priors the posterior of the effect is statsmodels' OLS ANCOVA.

    Known truth as well: a randomised two-arm trial with baseline slope 0.6 and
    effect 5; the posterior mean must equal the OLS coefficient of ``post ~ pre +
    massage`` within a tenth of its standard error and the posterior sd its SE within
    15 % (the t posterior of a flat-prior regression has sd SE * sqrt(dof/(dof - 2))).
    """
    import dataclasses

    smf = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(32)
    n = 120
    control = rng.permutation(n) < n // 2
    pre = rng.normal(15.0, 4.0, n)
    post = 6.0 + 0.6 * pre + 5.0 * ~control + rng.normal(0.0, 3.0, n)
    frame = make_frame(n, rng, pre.round(4), post.round(4), control=control, covariates=False)
    study = study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})
    neutral = get_prior("neutral", study.outcome, "ancova")
    flat = dataclasses.replace(
        neutral,
        values=neutral.values
        | {"intercept_sigma": 1e4, "effect_sigma": 1e4, "slope_sigma": 1e3, "sigma": 1e3},
    )
    from milkbayes.engine.fit import fit

    result = fit(
        "ancova",
        study,
        prior=flat,
        seed=5,
        draws=1000,
        tune=500,
        chains=2,
        log_likelihood=False,
        posterior_predictive=False,
    )
    table = study.table.assign(massage=(study.table["group"] == "massage").astype(float))
    ols = smf.ols("post ~ pre + massage", data=table).fit()
    effect = _draws(result, "effect")
    assert effect.mean() == pytest.approx(ols.params["massage"], abs=0.1 * ols.bse["massage"])
    assert effect.std() == pytest.approx(ols.bse["massage"], rel=0.15)
    assert _draws(result, "baseline_slope").mean() == pytest.approx(
        ols.params["pre"], abs=0.1 * ols.bse["pre"]
    )
    assert result.summary["ols_effect"] == pytest.approx(ols.params["massage"], rel=1e-9)
    assert result.summary["ols_effect_se"] == pytest.approx(ols.bse["massage"], rel=1e-9)
    assert _covers(effect, 5.0, prob=0.999)


def test_registry_knows_what_each_model_predicts():
    from milkbayes.models.registry import MODEL_NAMES, load_model, predicts

    for name in MODEL_NAMES:
        load_model(name)  # the contract check
    assert {name: predicts(name) for name in MODEL_NAMES} == {
        "paired_change": "change",
        "signed_rank": "change",
        "prepost_hierarchical": "pre_post",
        "prepost_bivariate": "pre_post",
        "two_arm": "pre_post",
        "ancova": "post_given_pre",
    }


@pytest.mark.slow
def test_bivariate_recovers_effect_modifier_and_unequal_sds():
    """Known truth with covariates: effect 8, long-minus-short -4, sds 3 and 6, rho 0.5."""
    rng = np.random.default_rng(33)
    n = 80
    frame = make_frame(n, rng, np.zeros(n), np.zeros(n))
    long = (frame["work_duration"] == "long").to_numpy(dtype=float)
    cov = np.array([[9.0, 0.5 * 18.0], [0.5 * 18.0, 36.0]])
    noise = rng.multivariate_normal([0.0, 0.0], cov, size=n)
    frame["pre"] = (20.0 + noise[:, 0]).round(3)
    frame["post"] = (20.0 + 8.0 - 4.0 * (long - long.mean()) + noise[:, 1]).round(3)
    study = study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})
    result = _fit(prepost_bivariate, study)
    assert _covers(_draws(result, "effect"), 8.0)
    assert _covers(_draws(result, "modifier_work_duration"), -4.0)
    sd = _draws(result, "sd")
    assert _covers(sd[:, 0], 3.0) and _covers(sd[:, 1], 6.0)
    assert _covers(_draws(result, "corr"), 0.5)
