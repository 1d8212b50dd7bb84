"""Tests of milkbayes.comparison against closed forms.

The reference values are worked out independently:
- exact leave-one-out predictive densities of the conjugate normal model (known sigma);
- the bivariate normal marginal of a random-intercept model;
- stacking weights that solve the first-order condition by hand;
- normal quantiles from scipy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from milkbayes import comparison as compare
from milkbayes.comparison.lomo import _heldout_loglik
from milkbayes.errors import ModelError

pm = pytest.importorskip("pymc")

PRIOR_SD = 3.0
SIGMA = 1.0


def conjugate_model(y: np.ndarray):
    """y_i ~ N(mu, SIGMA), mu ~ N(0, PRIOR_SD), with a held-out weight per mother."""
    n = y.size
    with pm.Model(coords={"mother": np.arange(n)}) as model:
        weight = pm.Data("mother_weight", np.ones(n), dims="mother")
        y_data = pm.Data("y", y, dims="mother")
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        obs = pm.Normal("obs", mu, SIGMA, observed=y_data, dims="mother")
        # a held-out mother's term is cancelled, leaving the observed RV unweighted
        pm.Potential("held_out", -((1.0 - weight) * pm.logp(obs, y_data)).sum())
    return model


def exact_loo_log_density(y: np.ndarray) -> np.ndarray:
    """Closed form: mu | y_-i ~ N(m, v); y_i | y_-i ~ N(m, v + SIGMA^2)."""
    out = np.empty(y.size)
    for i in range(y.size):
        rest = np.delete(y, i)
        precision = 1 / PRIOR_SD**2 + rest.size / SIGMA**2
        mean = rest.sum() / SIGMA**2 / precision
        out[i] = stats.norm.logpdf(y[i], mean, np.sqrt(1 / precision + SIGMA**2))
    return out


def random_intercept_model(y: np.ndarray):
    """y_it ~ N(mu + tau z_i + beta t, sigma), z_i ~ N(0, 1): two rows per mother."""
    n = y.shape[0]
    with pm.Model(coords={"mother": np.arange(n), "time": [0, 1]}) as model:
        weight = pm.Data("mother_weight", np.ones(n), dims="mother")
        y_data = pm.Data("y", y, dims=("mother", "time"))
        mu = pm.Normal("mu", 10.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0)
        tau = pm.HalfNormal("tau", 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        z = pm.Normal("z", 0.0, 1.0, dims="mother")
        mean = (mu + tau * z)[:, None] + beta * np.array([0.0, 1.0])[None, :]
        obs = pm.Normal("obs", mean, sigma, observed=y_data, dims=("mother", "time"))
        pm.Potential("held_out", -((1.0 - weight)[:, None] * pm.logp(obs, y_data)).sum())
    return model


def _random_intercept_draws(rng, n_draws: int, n_mothers: int) -> dict:
    """Posterior-like draws of the random-intercept models' parameters."""
    return {
        "mu": rng.normal(10, 2, n_draws),
        "beta": rng.normal(3, 1, n_draws),
        "tau": rng.uniform(0.5, 6, n_draws),
        "sigma": rng.uniform(0.5, 3, n_draws),
        "z": rng.normal(size=(n_draws, n_mothers)),
    }


def test_quadrature_matches_bivariate_normal_marginal():
    rng = np.random.default_rng(1)
    y = rng.normal(10, 4, size=(6, 2))
    model = random_intercept_model(y)
    loglik = compare.PointwiseLogLik(model)
    n_draws = 5
    draws = _random_intercept_draws(rng, n_draws, n_mothers=6)
    mother = 2
    rows = np.array([2 * mother, 2 * mother + 1])  # row-major flattening of (mother, time)
    got = _heldout_loglik(loglik, draws, rows, mother, ("z", "mother"), 40)
    for s in range(n_draws):
        tau, sigma = draws["tau"][s], draws["sigma"][s]
        cov = tau**2 * np.ones((2, 2)) + sigma**2 * np.eye(2)
        mean = [draws["mu"][s], draws["mu"][s] + draws["beta"][s]]
        want = stats.multivariate_normal(mean, cov).logpdf(y[mother])
        assert got[s] == pytest.approx(want, abs=1e-8)


def test_quadrature_of_several_held_out_mothers_at_once_matches_each_marginal():
    """K-fold moves every held-out offset in one evaluation: each still its own integral."""
    from milkbayes.comparison.lomo import _heldout_logliks

    rng = np.random.default_rng(2)
    y = rng.normal(10, 4, size=(6, 2))
    loglik = compare.PointwiseLogLik(random_intercept_model(y))
    n_draws = 4
    draws = _random_intercept_draws(rng, n_draws, n_mothers=6)
    held = [0, 3, 5]
    rows = [np.array([2 * m, 2 * m + 1]) for m in held]
    got = _heldout_logliks(loglik, draws, rows, held, ("z", "mother"), 40)
    assert got.shape == (n_draws, len(held))
    for j, mother in enumerate(held):
        for s in range(n_draws):
            tau, sigma = draws["tau"][s], draws["sigma"][s]
            cov = tau**2 * np.ones((2, 2)) + sigma**2 * np.eye(2)
            mean = [draws["mu"][s], draws["mu"][s] + draws["beta"][s]]
            want = stats.multivariate_normal(mean, cov).logpdf(y[mother])
            assert got[s, j] == pytest.approx(want, abs=1e-8)


def long_random_intercept_model(y: np.ndarray):
    """The random-intercept model in long format: data along ``obs``, as the flagship."""
    n = y.shape[0]
    with pm.Model(coords={"mother": np.arange(n), "obs": np.arange(2 * n)}) as model:
        pm.Data("mother_weight", np.ones(n), dims="mother")
        y_data = pm.Data("y", y.reshape(-1), dims="obs")
        mother = pm.Data("mother_idx", np.repeat(np.arange(n), 2), dims="obs")
        time = pm.Data("time", np.tile([0.0, 1.0], n), dims="obs")
        mu = pm.Normal("mu", 10.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0)
        tau = pm.HalfNormal("tau", 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        z = pm.Normal("z", 0.0, 1.0, dims="mother")
        eta = mu + tau * z[mother] + beta * time
        pm.StudentT("obs_y", nu=5.0, mu=eta, sigma=sigma, observed=y_data, dims="obs")
    return model


def test_pointwise_rows_are_the_full_evaluations_columns_bit_for_bit():
    """``PointwiseLogLik.rows``: only some observations, the same bits as all of them.

    References: the full evaluation's columns (bit for bit; the first call checks it
    and keeps the short path, tested by its flag), scipy's Student-t density, and a
    model whose observations are not along one dimension (2-D), which falls back to
    the full evaluation.
    """
    from milkbayes.comparison.lomo import _heldout_logliks

    rng = np.random.default_rng(5)
    y = rng.normal(10, 4, size=(6, 2))
    loglik = compare.PointwiseLogLik(long_random_intercept_model(y))
    n_draws = 7
    draws = _random_intercept_draws(rng, n_draws, n_mothers=6)
    full = loglik(draws)
    for rows in (np.array([6, 7]), np.array([0, 1, 10, 11]), np.array([3])):
        got = loglik.rows(draws, rows)
        assert got.tobytes() == full[:, rows].tobytes()
    assert loglik._rows_exact is True
    mother = np.repeat(np.arange(6), 2)
    eta = (
        draws["mu"][:, None]
        + draws["tau"][:, None] * draws["z"][:, mother]
        + draws["beta"][:, None] * np.tile([0.0, 1.0], 6)
    )
    want = stats.t.logpdf(y.reshape(-1)[[6, 7]], 5.0, eta[:, [6, 7]], draws["sigma"][:, None])
    # (PyMC's Student-t constant agrees with scipy's to about 1e-9)
    np.testing.assert_allclose(loglik.rows(draws, np.array([6, 7])), want, rtol=1e-8)
    # held-out scoring through the short path equals the one through the full one
    short = _heldout_logliks(loglik, draws, [np.array([6, 7])], [3], ("z", "mother"), 20)
    loglik._row_data = None
    assert (
        short.tobytes()
        == _heldout_logliks(loglik, draws, [np.array([6, 7])], [3], ("z", "mother"), 20).tobytes()
    )
    wide = compare.PointwiseLogLik(random_intercept_model(y))
    assert wide._row_data is None
    wide_draws = {k: v for k, v in draws.items()}
    assert (
        wide.rows(wide_draws, np.array([6, 7])).tobytes() == wide(wide_draws)[:, [6, 7]].tobytes()
    )


def test_pointwise_loglik_matches_scipy():
    y = np.array([0.5, -1.0, 2.0])
    loglik = compare.PointwiseLogLik(conjugate_model(y))
    mu = np.array([0.0, 1.5])
    got = loglik({"mu": mu})
    want = stats.norm.logpdf(y[None, :], mu[:, None], SIGMA)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lomo_recovers_exact_loo_of_conjugate_model():
    y = np.random.default_rng(7).normal(2.0, 1.3, 10)
    model = conjugate_model(y)
    exact = exact_loo_log_density(y)
    result = compare.lomo_cv(
        model,
        mother_of_obs=np.arange(10),
        mother_ids=[f"m{i}" for i in range(10)],
        label="conj",
        target="change",
        draws=1000,
        tune=300,
        chains=2,
        seed=3,
    )
    # Monte Carlo error of log mean p over 2000 near-independent draws is ~0.01 per
    # mother here (the predictive sd is ~1.05 and the posterior sd of mu ~0.33).
    np.testing.assert_allclose(result.elpd_i, exact, atol=0.05)
    assert result.elpd == pytest.approx(exact.sum(), abs=0.15)
    assert result.intercept_method == "refit draws"


def test_lomo_rejects_model_without_weight():
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1, observed=np.zeros(3))
    with pytest.raises(ModelError, match="mother_weight"):
        compare.lomo_cv(
            model,
            mother_of_obs=np.arange(3),
            mother_ids=["a", "b", "c"],
            label="x",
            target="change",
        )


def test_stacking_weight_solves_first_order_condition():
    # densities p_A = (2, 1), p_B = (1, 3) at two points; the log score
    # log(1 + w) + log(3 - 2w) is maximised where 1/(1+w) = 2/(3-2w), i.e. w = 1/4.
    elpd_i = np.log(np.array([[2.0, 1.0], [1.0, 3.0]]))
    weights = compare.stacking_weights(elpd_i)
    assert weights[0] == pytest.approx(0.25, abs=1e-3)
    assert weights.sum() == pytest.approx(1.0)


def test_stacking_gives_all_weight_to_a_dominating_model():
    rng = np.random.default_rng(0)
    good = rng.normal(-1.0, 0.1, 24)
    weights = compare.stacking_weights(np.column_stack([good - 3.0, good]))
    assert weights[1] > 0.99


def _two_close_models(seed=3, n=24):
    rng = np.random.default_rng(seed)
    base = rng.normal(-3.0, 1.0, n)
    return np.column_stack([base, base + rng.normal(-0.05, 0.3, n)])


def test_pseudo_bma_without_bootstrap_is_the_closed_form():
    elpd_i = _two_close_models()
    total = elpd_i.sum(axis=0)
    expected = np.exp(total - total.max()) / np.exp(total - total.max()).sum()
    np.testing.assert_allclose(compare.pseudo_bma_weights(elpd_i, bootstrap=False), expected)


def test_pseudo_bma_plus_matches_an_independent_bayesian_bootstrap():
    # Yao et al. (2018) eq. 12, written out with numpy: 1000 Dirichlet(1,...,1)
    # weightings of the pointwise values (the seed ArviZ uses, 124), softmax of
    # n * sum_i alpha_i elpd_ik, averaged
    from scipy import stats

    elpd_i = _two_close_models()
    n = elpd_i.shape[0]
    alpha = stats.dirichlet.rvs(np.ones(n), size=1000, random_state=124)
    z = n * alpha @ elpd_i
    z -= z.max(axis=1, keepdims=True)
    expected = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).mean(axis=0)
    got = compare.pseudo_bma_weights(elpd_i)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # the limiting cases: identical models share equally; a dominating one takes all
    same = np.column_stack([elpd_i[:, 0], elpd_i[:, 0]])
    np.testing.assert_allclose(compare.pseudo_bma_weights(same), [0.5, 0.5])
    far = np.column_stack([elpd_i[:, 0], elpd_i[:, 0] - 2.0])
    assert compare.pseudo_bma_weights(far)[0] > 0.999


def test_close_models_are_within_noise_and_pseudo_bma_does_not_pick_a_winner():
    elpd_i = _two_close_models()
    rows = compare.compare_models(
        [
            compare.LomoResult(
                label=f"m{j}",
                target="change",
                elpd=float(elpd_i[:, j].sum()),
                se=1.0,
                p_lomo=1.0,
                elpd_i=tuple(elpd_i[:, j]),
                mother_ids=tuple(str(i) for i in range(elpd_i.shape[0])),
                n_draws=10,
                intercept_method="none",
            )
            for j in range(2)
        ]
    )
    diff = elpd_i[:, 1] - elpd_i[:, 0]
    assert abs(diff.sum()) < 4  # by construction: a difference within noise
    assert all(row.within_noise for row in rows)
    assert all(0.05 < row.pseudo_bma_weight < 0.95 for row in rows)
    assert sum(row.pseudo_bma_weight for row in rows) == pytest.approx(1.0)


def test_within_noise_rule():
    assert compare.within_noise(-1.31, 0.91)  # the bundled data's two pair models
    assert compare.within_noise(-5.0, 3.0)  # beyond 4 but within 2 SE
    assert not compare.within_noise(-12.0, 3.0)


def test_compare_models_groups_by_target():
    def result(label, target, values):
        return compare.LomoResult(
            label=label,
            target=target,
            elpd=float(np.sum(values)),
            se=1.0,
            p_lomo=1.0,
            elpd_i=tuple(values),
            mother_ids=("a", "b", "c"),
            n_draws=10,
            intercept_method="none",
        )

    rows = compare.compare_models(
        [
            result("A", "change", [-1.0, -1.0, -1.0]),
            result("B", "change", [-2.0, -2.5, -2.0]),
            result("H", "pre_post", [-5.0, -6.0, -5.0]),
        ]
    )
    by = {r.label: r for r in rows}
    assert by["A"].rank == 0 and by["B"].rank == 1
    assert by["B"].elpd_diff == pytest.approx(-6.5 - (-3.0))
    assert by["A"].weight + by["B"].weight == pytest.approx(1.0)
    assert by["H"].weight == 1.0  # alone in its target: not stacked against the others
    assert by["H"].pseudo_bma_weight == 1.0 and not by["H"].within_noise


def test_conditional_and_marginal_change_densities_are_never_ranked_together():
    """p(change | pre) beats p(change) by the information pre carries, not by fit.

    Pre and post bivariate normal; both densities below are the TRUE ones, so neither
    model predicts better, yet the conditional log density exceeds the marginal one by
    -log(1 - rho^2) / 2 per mother on average (rho = corr(pre, change), a closed form).
    So ancova (post given pre) and paired_change (change) must sit in different
    targets of the comparison, and compare_models must not stack them.
    """
    from milkbayes.models.registry import predicts

    rng = np.random.default_rng(5)
    n, sd_pre, sd_post, r = 200_000, 4.0, 6.0, 0.3
    cov = np.array([[sd_pre**2, r * sd_pre * sd_post], [r * sd_pre * sd_post, sd_post**2]])
    pre, post = rng.multivariate_normal([50.0, 60.0], cov, size=n).T
    change = post - pre
    var_d = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    cov_pd = cov[0, 1] - cov[0, 0]
    rho = cov_pd / math.sqrt(cov[0, 0] * var_d)
    marginal = stats.norm.logpdf(change, 10.0, math.sqrt(var_d))
    conditional = stats.norm.logpdf(
        change, 10.0 + cov_pd / cov[0, 0] * (pre - 50.0), math.sqrt(var_d * (1 - rho**2))
    )
    gain = float(np.mean(conditional - marginal))
    assert gain == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)
    assert gain > 0.05  # a real, spurious advantage: 24 mothers would gain > 1 elpd

    targets = {name: predicts(name) for name in ("ancova", "paired_change", "two_arm")}
    assert len(set(targets.values())) == 3

    def result(label, target, values):
        return compare.LomoResult(
            label=label,
            target=target,
            elpd=float(np.sum(values)),
            se=1.0,
            p_lomo=1.0,
            elpd_i=tuple(values),
            mother_ids=("a", "b", "c"),
            n_draws=10,
            intercept_method="none",
        )

    rows = compare.compare_models(
        [
            result("ancova/normal", targets["ancova"], [-1.0, -1.1, -0.9]),
            result("ancova/student_t", targets["ancova"], [-1.2, -1.0, -1.0]),
            result("paired_change/normal", targets["paired_change"], [-3.0, -3.1, -2.9]),
            result("two_arm/normal", targets["two_arm"], [-6.0, -6.5, -6.1]),
        ]
    )
    by = {row.label: row for row in rows}
    # ancova's rows are ranked and weighted among themselves only
    assert by["ancova/normal"].weight + by["ancova/student_t"].weight == pytest.approx(1.0)
    assert by["ancova/student_t"].elpd_diff == pytest.approx(-3.2 - (-3.0))
    for alone in ("paired_change/normal", "two_arm/normal"):
        assert by[alone].rank == 0 and by[alone].weight == 1.0 and by[alone].elpd_diff == 0.0


def test_three_prior_table_matches_normal_quantiles():
    rng = np.random.default_rng(11)
    draws = {"skeptical": rng.normal(4.0, 2.0, 400_000), "neutral": rng.normal(9.0, 3.0, 400_000)}
    rows = compare.three_prior_table(draws, mcid=5.0, rope=(-2.5, 2.5))
    assert [r.prior for r in rows] == ["skeptical", "neutral"]
    sk, ne = rows
    assert sk.ci95_low == pytest.approx(stats.norm.ppf(0.025, 4, 2), abs=0.03)
    assert ne.ci95_high == pytest.approx(stats.norm.ppf(0.975, 9, 3), abs=0.05)
    assert sk.p_gt_0 == pytest.approx(stats.norm.sf(0, 4, 2), abs=0.003)
    assert ne.p_gt_mcid == pytest.approx(stats.norm.sf(5, 9, 3), abs=0.003)
    assert sk.p_in_rope == pytest.approx(
        stats.norm.cdf(2.5, 4, 2) - stats.norm.cdf(-2.5, 4, 2), abs=0.003
    )
    assert "overlaps" in sk.rope_statement and "above" in ne.rope_statement


def test_three_prior_table_rejects_nan_draws():
    with pytest.raises(ModelError, match="neutral"):
        compare.three_prior_table({"neutral": np.array([1.0, np.nan])}, mcid=1, rope=(-1, 1))


@pytest.mark.slow
def test_psis_is_unreliable_by_mother_but_lomo_is_exact_enough():
    """Two observations per mother and a large between-mother sd: PSIS k is high."""
    import nutpie

    rng = np.random.default_rng(5)
    n = 12
    alpha = rng.normal(12, 6, n)
    y = alpha[:, None] + np.array([0.0, 8.0]) + rng.normal(0, 1.0, (n, 2))
    model = random_intercept_model(y)
    compiled = nutpie.compile_pymc_model(model)
    tree = nutpie.sample(compiled, draws=500, tune=500, chains=2, seed=2, progress_bar=False)
    post = tree["posterior"]
    loglik = compare.PointwiseLogLik(model)
    names = loglik.value_names
    matrix = loglik(compare.stacked_draws(post, names))
    mother_of_obs = np.repeat(np.arange(n), 2)
    psis = compare.psis_by_mother(post, matrix, mother_of_obs, n, label="ri")
    assert not psis.reliable and psis.elpd is None
    assert psis.max_k > psis.good_k


def _psis_of_full_fit(model, compiled, n: int, seed: int):
    """PSIS-LOO by mother of a full-data nutpie fit (one observation per mother)."""
    import nutpie

    tree = nutpie.sample(compiled, draws=1000, tune=300, chains=2, seed=seed, progress_bar=False)
    loglik = compare.PointwiseLogLik(model)
    matrix = loglik(compare.stacked_draws(tree["posterior"], loglik.value_names))
    return tree, compare.psis_by_mother(tree["posterior"], matrix, np.arange(n), n, label="conj")


def loo_log_density_mc_se(y: np.ndarray, i: int, n_draws: int) -> float:
    """Delta-method Monte Carlo SE of log(1/S sum_s p(y_i | mu_s)), mu_s ~ p(mu | y_-i).

    With mu ~ N(m, v) and p(y | mu) = N(y; mu, SIGMA^2): E[p] = N(y; m, v + SIGMA^2) and
    p^2 = N(y; mu, SIGMA^2 / 2) / (2 sqrt(pi) SIGMA), so
    E[p^2] = N(y; m, v + SIGMA^2 / 2) / (2 sqrt(pi) SIGMA); the SE is
    sqrt((E[p^2] / E[p]^2 - 1) / S) for S independent draws.
    """
    rest = np.delete(y, i)
    precision = 1 / PRIOR_SD**2 + rest.size / SIGMA**2
    mean, var = rest.sum() / SIGMA**2 / precision, 1 / precision
    first = stats.norm.pdf(y[i], mean, np.sqrt(var + SIGMA**2))
    second = stats.norm.pdf(y[i], mean, np.sqrt(var + SIGMA**2 / 2)) / (2 * np.sqrt(np.pi) * SIGMA)
    return float(np.sqrt((second / first**2 - 1) / n_draws))


def test_reloo_refits_only_high_k_mothers_and_keeps_psis_elsewhere():
    """Reloo = all-refit LOMO where k is high, PSIS-LOO where k is good, both ~ closed form."""
    import nutpie

    # an outlier 6 sd from the others: the importance ratios 1/p(y_i | mu) of that
    # mother have a heavy tail (k ~ 0.85), the others' are light (k < 0.6)
    y = np.concatenate([np.random.default_rng(3).normal(0.0, 1.0, 7), [6.0]])
    n = y.size
    model = conjugate_model(y)
    compiled = nutpie.compile_pymc_model(model)
    ids = [f"m{i}" for i in range(n)]
    _, psis = _psis_of_full_fit(model, compiled, n, seed=4)
    high = [i for i, k in enumerate(psis.pareto_k) if k > psis.good_k]
    assert high == [n - 1], psis.pareto_k  # the premise: only the outlier has a high k
    settings = dict(
        mother_of_obs=np.arange(n),
        mother_ids=ids,
        label="conj",
        target="change",
        draws=1000,
        tune=300,
        chains=2,
        seed=3,
        compiled=compiled,
    )
    everyone = compare.lomo_cv(model, **settings)
    reloo = compare.lomo_cv(model, **settings, psis=psis)
    assert reloo.refitted == ("m7",) and everyone.refitted == tuple(ids)
    assert reloo.method == "psis+refits" and everyone.method == "exact"
    # refitted mother: seed + i either way, so the same draws and the same value
    assert reloo.elpd_i[n - 1] == everyone.elpd_i[n - 1]
    # the others: exactly the PSIS pointwise values
    np.testing.assert_array_equal(reloo.elpd_i[:-1], psis.elpd_i[:-1])
    assert reloo.elpd == pytest.approx(sum(psis.elpd_i[:-1]) + everyone.elpd_i[-1], abs=1e-9)
    # and all of it estimates the closed-form leave-one-out density: PSIS within 0.06
    # (its MC error here, as for test_lomo_recovers_exact_loo_of_conjugate_model),
    # the outlier's refit within 4 Monte Carlo SE of its log-mean estimate
    exact = exact_loo_log_density(y)
    np.testing.assert_allclose(reloo.elpd_i[:-1], exact[:-1], atol=0.06)
    assert reloo.elpd_i[-1] == pytest.approx(
        exact[-1], abs=4 * loo_log_density_mc_se(y, n - 1, 2000)
    )


def test_reloo_rejects_psis_at_the_observation_level():
    y = np.array([0.1, -0.4, 0.3])
    bad = compare.PsisResult(
        label="x",
        level="observation",
        elpd=None,
        se=None,
        pareto_k=(0.1, 0.2, 0.9),
        good_k=0.7,
        n_high_k=1,
        reliable=False,
        note="",
        elpd_i=(-1.0, -1.0, -1.0),
    )
    with pytest.raises(ModelError, match="by mother"):
        compare.lomo_cv(
            conjugate_model(y),
            mother_of_obs=np.arange(3),
            mother_ids=["a", "b", "c"],
            label="x",
            target="change",
            psis=bad,
        )


def test_psis_with_a_flat_log_likelihood_is_reported_unavailable_and_every_mother_refitted():
    # All changes zero can make a model's log-likelihood the same at every draw:
    # ArviZ then cannot fit a Pareto tail ("All tail values are the same").
    import xarray as xr

    from milkbayes.comparison.lomo import _mothers_to_refit

    rng = np.random.default_rng(3)
    post = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(2, 200)))})
    flat = np.full((400, 5), -1.25)
    psis = compare.psis_by_mother(post, flat, np.arange(5), 5, label="flat")
    assert not psis.reliable and psis.elpd is None and psis.se is None
    assert np.isnan(psis.pareto_k).all() and np.isnan(psis.elpd_i).all()
    assert psis.n_high_k == 5 and "could not be computed" in psis.note
    # ArviZ's threshold for S = 400 draws: min(1 - 1/log10(400), 0.7)
    assert psis.good_k == pytest.approx(min(1 - 1 / np.log10(400), 0.7))
    assert _mothers_to_refit(psis, 5, "flat") == [0, 1, 2, 3, 4]


def exact_kfold_log_density(y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Closed form of K-fold: mu | y_(not fold j) ~ N(m, v); y_i ~ N(m, v + SIGMA^2) in fold j."""
    out = np.empty(y.size)
    for j in np.unique(folds):
        rest = y[folds != j]
        precision = 1 / PRIOR_SD**2 + rest.size / SIGMA**2
        mean = rest.sum() / SIGMA**2 / precision
        held = folds == j
        out[held] = stats.norm.logpdf(y[held], mean, np.sqrt(1 / precision + SIGMA**2))
    return out


def test_kfold_recovers_the_closed_form_kfold_density_of_the_conjugate_model():
    y = np.random.default_rng(11).normal(2.0, 1.3, 12)
    k = 3
    result = compare.kfold_cv(
        conjugate_model(y),
        mother_of_obs=np.arange(y.size),
        mother_ids=[f"m{i}" for i in range(y.size)],
        label="conj",
        target="change",
        k=k,
        draws=1000,
        tune=300,
        chains=2,
        seed=5,
    )
    folds = compare.fold_assignment(y.size, k, seed=5)
    exact = exact_kfold_log_density(y, folds)
    # held out 4 of 12: the posterior sd of mu is ~0.35, the predictive sd ~1.06; the
    # Monte Carlo error of log mean p over 2000 draws is ~0.01 per mother
    np.testing.assert_allclose(result.elpd_i, exact, atol=0.05)
    assert result.elpd == pytest.approx(exact.sum(), abs=0.15)
    # and the target is K-fold's, not leave-one-out's: they differ well beyond 0.05
    assert np.max(np.abs(exact - exact_loo_log_density(y))) > 0.3
    assert result.method == "kfold" and result.n_folds == k
    assert result.refitted == tuple(f"m{i}" for i in range(y.size))


def test_fold_assignment_is_balanced_seeded_and_a_partition():
    folds = compare.fold_assignment(2003, 10, seed=20241)
    counts = np.bincount(folds, minlength=10)
    assert counts.sum() == 2003 and set(counts) == {200, 201}  # sizes differ by <= 1
    np.testing.assert_array_equal(folds, compare.fold_assignment(2003, 10, seed=20241))
    assert not np.array_equal(folds, compare.fold_assignment(2003, 10, seed=1))
    with pytest.raises(ValueError, match="2 <= k"):
        compare.fold_assignment(5, 6)


def _psis_with_k(pareto_k) -> compare.PsisResult:
    return compare.PsisResult(
        label="x",
        level="mother",
        elpd=None,
        se=None,
        pareto_k=tuple(pareto_k),
        good_k=0.7,
        n_high_k=int(sum(k > 0.7 for k in pareto_k)),
        reliable=False,
        note="",
        elpd_i=tuple(-1.0 for _ in pareto_k),
    )


def test_choose_method_by_size():
    cap, k = compare.MAX_EXACT_REFITS, compare.KFOLD_K
    # the paper's 24 mothers: always exact, whatever PSIS says
    assert compare.choose_method(24).method == "exact"
    assert compare.choose_method(24).refit == tuple(range(24))
    assert compare.choose_method(24, _psis_with_k([0.9] * 24)).method == "exact"
    # reloo: the bad-k mothers only, while there are at most `cap` of them
    few_bad = [0.9 if i % 100 == 0 else 0.2 for i in range(2000)]  # 20 bad
    choice = compare.choose_method(2000, _psis_with_k(few_bad))
    assert choice.method == "psis+refits" and choice.refit == tuple(range(0, 2000, 100))
    assert choice.n_refits == 20
    # a NaN k is not trusted
    assert compare.choose_method(50, _psis_with_k([float("nan")] + [0.1] * 49)).refit == (0,)
    # beyond the cap: K-fold, K refits
    at_cap = [0.9] * cap + [0.1] * (2000 - cap)
    assert compare.choose_method(2000, _psis_with_k(at_cap)).method == "psis+refits"
    over = [0.9] * (cap + 1) + [0.1] * (2000 - cap - 1)
    choice = compare.choose_method(2000, _psis_with_k(over))
    assert (choice.method, choice.n_folds, choice.n_refits, choice.refit) == ("kfold", k, k, ())
    # without PSIS every mother needs a refit: exact up to the cap, K-fold beyond
    assert compare.choose_method(cap).method == "exact"
    assert compare.choose_method(cap + 1).method == "kfold"
    with pytest.raises(ValueError, match="PSIS has 3 mothers"):
        compare.choose_method(4, _psis_with_k([0.1] * 3))


def test_freq_vs_bayes_table_shows_the_bayesian_signed_rank_bf_beside_wilcoxon():
    from milkbayes.models import signed_rank

    change = np.array([3.0, 5.0, -1.0, 4.0, 6.0, 2.0, 7.0, 5.5, 0.5, 8.0])
    bf = math.exp(signed_rank.rank_bayes_factor(change)["log_bf10"])
    rows = compare.freq_vs_bayes_table(
        hodges_lehmann=4.0,
        hl_ci=(2.0, 6.0),
        mean_change=4.0,
        t_ci=(2.0, 6.0),
        p_wilcoxon=0.004,
        p_t=0.001,
        effect_median=4.0,
        effect_ci=(2.0, 6.0),
        p_effect_gt_0=0.99,
        p_effect_gt_mcid=0.1,
        mcid=10.0,
        bf10=30.0,
        signed_rank_bf10=bf,
    )
    last = rows[-1]
    assert last.frequentist_label == "p (Wilcoxon, exact)" and "signed-rank" in last.bayesian_label
    assert last.bayesian_value == bf > 1


def test_shared_relative_ess_gives_az_loos_own_psis_bit_for_bit():
    """``psis_by_mother(..., reff=relative_ess(post))`` is the default call, bit for bit.

    AR(1) chains (relative ESS well below 1, so a wrong value would move the
    smoothing), a scalar and a vector variable, both levels; one chain gives 1.
    """
    import xarray as xr

    rng = np.random.default_rng(8)
    n, chains, draws = 6, 4, 400

    def ar1(shape):
        x = np.empty(shape)
        x[:, 0] = rng.normal(size=shape[:1] + shape[2:])
        for t in range(1, shape[1]):
            x[:, t] = 0.7 * x[:, t - 1] + rng.normal(size=shape[:1] + shape[2:])
        return x

    mu, alpha = ar1((chains, draws)), ar1((chains, draws, n))
    post = xr.Dataset(
        {"mu": (("chain", "draw"), mu), "alpha": (("chain", "draw", "mother"), alpha)}
    )
    y = rng.normal(size=(n, 2))
    location = (mu[..., None] + alpha).reshape(chains * draws, n)
    matrix = -0.5 * (y.ravel()[None, :] - np.repeat(location, 2, axis=1)) ** 2
    mother_of_obs = np.repeat(np.arange(n), 2)
    reff = compare.relative_ess(post)
    assert 0.05 < reff < 0.9
    for level in ("mother", "observation"):
        default = compare.psis_by_mother(post, matrix, mother_of_obs, n, label="ar", level=level)
        shared = compare.psis_by_mother(
            post, matrix, mother_of_obs, n, label="ar", level=level, reff=reff
        )
        assert np.asarray(shared.pareto_k).tobytes() == np.asarray(default.pareto_k).tobytes()
        assert np.asarray(shared.elpd_i).tobytes() == np.asarray(default.elpd_i).tobytes()
        assert (shared.elpd, shared.se) == (default.elpd, default.se)
    assert compare.relative_ess(post.isel(chain=[0])) == 1.0
