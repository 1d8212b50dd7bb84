"""The signed-rank model's Bayes factor by quadrature, and its tie handling.

Each value is checked against something computed another way: the closed form of the
likelihood of the ranks at delta = 0, a Monte Carlo estimate of the same probability
at delta != 0, the JZS t-test BF of pingouin on normal data (van Doorn et al. 2020
show the two agree closely there), and the frequentist module's tie groups.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from milkbayes.data import study_from_frame
from milkbayes.datasets import load_bundled
from milkbayes.frequentist import paired_change, signed_ranks
from milkbayes.models import signed_rank


def _log_null_by_hand(change):
    """2^-n times the number of orders within tie groups over n! (exchangeable under 0)."""
    _, sizes = np.unique(np.abs(change), return_counts=True)
    n = change.size
    return -n * math.log(2) + sum(math.lgamma(g + 1) for g in sizes) - math.lgamma(n + 1)


@pytest.mark.parametrize("scenario", ["volume_ml", "score"])
def test_likelihood_of_ranks_at_zero_is_the_closed_form(scenario):
    change = load_bundled(scenario).change
    sign, group = np.sign(change), signed_rank.rank_groups(change)
    expected = _log_null_by_hand(change)
    assert signed_rank.log_null_likelihood(group) == pytest.approx(expected, abs=1e-12)
    # the quadrature (h = 0.005) reproduces it; the score data have groups of 4 ties
    got = signed_rank.log_likelihood_of_ranks(sign, group, 0.0, step=0.005)[0]
    assert got == pytest.approx(expected, abs=0.01)


def test_likelihood_of_ranks_matches_monte_carlo_with_ties_and_a_zero():
    # changes 0, 1, -1, 2: a zero (sign summed out, density 1/2 of |z|'s), a tied pair
    change = np.array([0.0, 1.0, -1.0, 2.0])
    delta, draws = 0.8, 2_000_000
    z = np.random.default_rng(11).normal(delta, 1.0, size=(draws, 4))
    a = np.abs(z)
    ok = (z[:, 1] > 0) & (z[:, 2] < 0) & (z[:, 3] > 0)
    ok &= (a[:, 0] < np.minimum(a[:, 1], a[:, 2])) & (np.maximum(a[:, 1], a[:, 2]) < a[:, 3])
    p = ok.mean() * 0.5  # the zero's summed-out sign: 1/2 of its |z| density
    se = math.sqrt(ok.mean() * (1 - ok.mean()) / draws) * 0.5
    got = math.exp(
        signed_rank.log_likelihood_of_ranks(
            np.sign(change), signed_rank.rank_groups(change), delta, step=0.005
        )[0]
    )
    assert abs(got - p) < 4 * se + 1e-3 * p


def _jzs_bf_by_quad(t, n, low, r=0.7071067811865476):
    """JZS BF from the noncentral t likelihood of t (Gronau, Ly & Wagenmakers 2020)."""
    from scipy import integrate

    prior = stats.cauchy(0, r)
    mass = prior.sf(low) if np.isfinite(low) else 1.0
    null = stats.t.pdf(t, n - 1)
    value = integrate.quad(
        lambda d: stats.nct.pdf(t, n - 1, d * math.sqrt(n)) * prior.pdf(d) / mass / null,
        low,
        np.inf,
        limit=200,
    )[0]
    return value


def _jzs_log_bf_plus0(t, n):
    return math.log(_jzs_bf_by_quad(t, n, 0.0))


@pytest.mark.parametrize(("n", "effect", "seed"), [(60, 0.5, 4), (100, 0.0, 3)])
def test_bf_agrees_with_the_jzs_t_test_bf_on_normal_data(n, effect, seed):
    pg = pytest.importorskip("pingouin")
    x = np.round(np.random.default_rng(seed).normal(effect, 1.0, n), 3)
    t = stats.ttest_1samp(x, 0.0).statistic
    jzs = math.log(float(pg.bayesfactor_ttest(t, n, paired=True)))
    jzs_plus = _jzs_log_bf_plus0(t, n)
    assert math.log(_jzs_bf_by_quad(t, n, -np.inf)) == pytest.approx(jzs, abs=1e-3)
    got = signed_rank.rank_bayes_factor(x)
    # van Doorn et al. (2020), Fig. 4: the rank-based and the t-test BFs agree within
    # about half a unit of log BF at this size (efficiency 3/pi of ranks)
    assert got["log_bf10"] == pytest.approx(jzs, abs=0.5)
    assert got["log_bf_plus0"] == pytest.approx(jzs_plus, abs=0.5)
    assert got["bf10_error_percent"] < signed_rank.MAX_ERROR_PERCENT


def test_one_sided_bfs_average_to_the_two_sided_one():
    # with a prior symmetric about 0, BF10 = (BF+0 + BF-0) / 2 exactly
    change = load_bundled("volume_ml").change
    got = signed_rank.rank_bayes_factor(change)
    both = special.logsumexp([got["log_bf_plus0"], got["log_bf_minus0"]]) - math.log(2)
    assert got["log_bf10"] == pytest.approx(both, abs=1e-6)
    density = got["posterior_density"]
    assert np.trapezoid(density, got["delta_grid"]) == pytest.approx(1.0, abs=0.03)


def test_decimal_ties_tie_in_the_model_as_in_the_frequentist_module():
    import pandas as pd

    # 0.3 - 0.1 and 0.5 - 0.3 differ in binary floating point, as do 7.4 - 3.3 and 4.1
    pre = np.array([0.1, 0.3, 3.3, 0.0, 1.0, 2.0])
    post = np.array([0.3, 0.5, 7.4, 4.1, 2.5, 1.0])
    assert (post - pre)[0] != (post - pre)[1]
    study = study_from_frame(
        pd.DataFrame({"id": list("abcdef"), "pre": pre, "post": post}),
        outcome={"kind": "continuous"},
    )
    np.testing.assert_array_equal(study.change, paired_change(pre, post))
    ranks, _ = signed_ranks(paired_change(pre, post))
    _, counts = np.unique(ranks, return_counts=True)
    meta = signed_rank.inputs(study).meta
    assert meta["n_tie_groups"] == int(np.sum(counts > 1))
    assert meta["n_tied"] == int(counts[counts > 1].sum())
    assert meta["n_tie_groups"] >= 1


def test_bundled_ties_are_the_audit_s_ties():
    study = load_bundled("volume_ml")
    from milkbayes.frequentist.reproduce import paired_rows

    rows = paired_rows(study)
    change = paired_change(rows.pre, rows.post)
    magnitudes = np.abs(change[change != 0])
    _, sizes = np.unique(magnitudes, return_counts=True)
    meta = signed_rank.inputs(study).meta
    assert meta["n_tie_groups"] == int(np.sum(sizes > 1))
    assert meta["n_tied"] == int(sizes[sizes > 1].sum())
    assert meta["n_tie_groups"] == 2  # the two tied pairs of |change| the audit reports


def _study_of(n_pairs, seed=5):
    rng = np.random.default_rng(seed)
    pre = rng.normal(50.0, 10.0, n_pairs).round(1)
    post = (pre + rng.normal(8.0, 6.0, n_pairs)).round(1)
    ids = [f"m{i}" for i in range(n_pairs)]
    return study_from_frame(pd.DataFrame({"id": ids, "pre": pre, "post": post}))


def test_report_gives_the_signed_rank_bf_up_to_its_pair_limit(monkeypatch):
    """The signed-rank BF10 is computed up to the pair limit and skipped beyond it.

    At the limit it is exp(log BF10) of the study's snapped changes; one pair more and
    the quadrature is not run at all (it would dominate the run).
    """
    from milkbayes.reanalysis import pipeline

    seen = []

    def quadrature(change):
        seen.append(np.asarray(change))
        return {"log_bf10": math.log(7.0)}

    monkeypatch.setattr(signed_rank, "rank_bayes_factor", quadrature)
    at_limit = _study_of(pipeline.RANK_BF_MAX_PAIRS)
    assert pipeline.signed_rank_bf10(at_limit) == pytest.approx(7.0, rel=1e-12)
    table = at_limit.table
    expected_change = paired_change(table["pre"].to_numpy(), table["post"].to_numpy())
    np.testing.assert_array_equal(seen[0], expected_change)

    def must_not_run(change):
        raise AssertionError("quadrature run above the pair limit")

    monkeypatch.setattr(signed_rank, "rank_bayes_factor", must_not_run)
    assert pipeline.signed_rank_bf10(_study_of(pipeline.RANK_BF_MAX_PAIRS + 1)) is None
