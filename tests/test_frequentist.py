"""Tests of milkbayes.frequentist against scipy, pingouin, published examples and enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from milkbayes.errors import DataError, FrequentistOptionError, MilkbayesError
from milkbayes.frequentist import (
    exact_null_distribution,
    format_p_exact,
    format_p_honest,
    format_p_spss,
    format_spss_text,
    hodges_lehmann,
    paired_change,
    paired_t_test,
    sign_test,
    signed_ranks,
    spss_tables,
    wilcoxon_many,
    wilcoxon_signed_rank,
)

# Hollander & Wolfe (1973, p. 29f), Hamilton depression scale factor of 9 patients at
# the first (x) and second (y) visit; the example of R's ?wilcox.test, whose output is
# "V = 40, p-value = 0.03906" for wilcox.test(x, y, paired = TRUE) (exact, two-sided).
HAMILTON_PRE = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HAMILTON_POST = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]

# Darwin's Zea mays height differences (Fisher 1935, The Design of Experiments, ch. 3),
# the example of scipy.stats.wilcoxon's docstring: statistic 24, p = 0.041259765625
# two-sided and 0.0206298828125 for alternative="greater" (exact).
DARWIN = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]

# Changes with ties (|2| three times, |5| twice) and two zeros: every zero method differs.
TIED = np.array([0, 2, -2, 5, 3, 0, 2, 7, -5, 1, 9, 4, -1, 6], dtype=float)
UNTIED = np.array([0.3, -1.2, 2.5, 1.7, -0.4, 3.1, 2.2, 0.9, 1.4, -0.6, 2.8, 1.1])
DATASETS = {"tied_with_zeros": TIED, "untied": UNTIED, "darwin": np.array(DARWIN, float)}

ALL_ZERO_METHODS = ("wilcox", "pratt", "zsplit")
ALL_ALTERNATIVES = ("two-sided", "greater", "less")


def run(change, **options):
    change = np.asarray(change, dtype=float)
    return wilcoxon_signed_rank(np.zeros_like(change), change, **options)


# ----------------------------------------------------------------------------- scipy


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("zero_method", ALL_ZERO_METHODS)
@pytest.mark.parametrize("alternative", ALL_ALTERNATIVES)
@pytest.mark.parametrize("correction", [False, True])
def test_asymptotic_matches_scipy(name, zero_method, alternative, correction):
    change = DATASETS[name]
    ours = run(
        change,
        method="asymptotic",
        zero_method=zero_method,
        alternative=alternative,
        correction=correction,
    )
    ref = stats.wilcoxon(
        change,
        zero_method=zero_method,
        correction=correction,
        alternative=alternative,
        method="asymptotic",
    )
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-15)
    # scipy reports -|z| two-sided and the signed z of W+ one-sided
    expected_z = -abs(ours.z) if alternative == "two-sided" else ours.z
    assert expected_z == pytest.approx(ref.zstatistic, rel=1e-12)
    statistic = min(ours.w_plus, ours.w_minus) if alternative == "two-sided" else ours.w_plus
    assert statistic == pytest.approx(ref.statistic)


@pytest.mark.parametrize("alternative", ALL_ALTERNATIVES)
@pytest.mark.parametrize("name", ["untied", "darwin"])
def test_exact_matches_scipy_exact_without_ties(name, alternative):
    change = DATASETS[name]
    ours = run(change, method="exact", alternative=alternative)
    ref = stats.wilcoxon(change, alternative=alternative, method="exact")
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_darwin_published_p_values():
    # values printed in scipy.stats.wilcoxon's docstring (see DARWIN above)
    assert run(DARWIN, method="exact").p_value == pytest.approx(0.041259765625, rel=1e-12)
    assert run(DARWIN, method="exact", alternative="greater").p_value == pytest.approx(
        0.0206298828125, rel=1e-12
    )


@pytest.mark.parametrize("zero_method", ALL_ZERO_METHODS)
@pytest.mark.parametrize("alternative", ALL_ALTERNATIVES)
def test_exact_with_ties_and_zeros_matches_scipy_exhaustive_permutation(zero_method, alternative):
    change = TIED  # 12 non-zero changes: 4096 sign flips, enumerated by scipy
    ours = run(change, method="exact", zero_method=zero_method, alternative=alternative)
    ref = stats.wilcoxon(
        change,
        zero_method=zero_method,
        alternative=alternative,
        method=stats.PermutationMethod(n_resamples=np.inf),
    )
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_scipy_exact_path_is_not_exact_with_ties():
    """SciPy's method="exact" with ties is not the exact p; ours is (enumeration).

    SciPy 1.18 does not refuse ties: it rounds W+ and uses the untied distribution.
    """
    change = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 4], dtype=float)
    change[[0, 4]] *= -1
    scipy_exact = stats.wilcoxon(change, method="exact").pvalue
    enumerated = brute_force_p(change, "two-sided")
    assert run(change, method="exact").p_value == pytest.approx(enumerated, rel=1e-12)
    assert abs(scipy_exact - enumerated) > 1e-3


# ----------------------------------------------------------------------------- pingouin


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("alternative", ALL_ALTERNATIVES)
def test_matches_pingouin(name, alternative):
    pingouin = pytest.importorskip("pingouin")
    change = DATASETS[name]
    post, pre = change, np.zeros_like(change)
    table = pingouin.wilcoxon(
        post, pre, alternative=alternative, method="asymptotic", correction=False
    )
    ours = run(change, method="asymptotic", alternative=alternative)
    assert ours.p_value == pytest.approx(float(table["p_val"].iloc[0]), rel=1e-12)
    # pingouin flips the sign of its RBC for alternative="less"
    sign = -1.0 if alternative == "less" else 1.0
    assert sign * ours.rank_biserial == pytest.approx(float(table["RBC"].iloc[0]), rel=1e-12)


# ----------------------------------------------------------------------------- published


def test_hamilton_exact_two_sided_matches_r():
    res = wilcoxon_signed_rank(HAMILTON_PRE, HAMILTON_POST, method="exact")
    assert res.w_minus == 40.0  # R's V for x - y = pre - post
    assert res.w_plus == 5.0
    assert round(res.p_value, 5) == 0.03906  # R: p-value = 0.03906
    # by hand: 10 subsets of {1..9} sum to <= 5, so p = 2 * 10 / 2^9
    assert res.p_value == pytest.approx(20 / 512, rel=1e-12)
    ref = stats.wilcoxon(HAMILTON_PRE, HAMILTON_POST, method="exact")
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_hamilton_one_sided_and_large_sample_approximation():
    # R's ?wilcox.test: wilcox.test(y - x, alternative = "less") gives p = 0.01953 and
    # the "H&W large sample approximation" (exact = FALSE, correct = FALSE) p = 0.01908.
    exact = wilcoxon_signed_rank(HAMILTON_PRE, HAMILTON_POST, method="exact", alternative="less")
    assert round(exact.p_value, 5) == 0.01953
    approx = wilcoxon_signed_rank(
        HAMILTON_PRE, HAMILTON_POST, method="asymptotic", alternative="less"
    )
    assert round(approx.p_value, 5) == 0.01908
    # closed form: z = (5 - 22.5) / sqrt(9 * 10 * 19 / 24)
    assert approx.z == pytest.approx((5 - 22.5) / math.sqrt(9 * 10 * 19 / 24), rel=1e-12)


def test_hodges_lehmann_is_median_of_walsh_averages_by_enumeration():
    change = np.array(HAMILTON_POST) - np.array(HAMILTON_PRE)
    walsh = [(a + b) / 2 for a, b in itertools.combinations_with_replacement(change, 2)]
    estimate, *_ = hodges_lehmann(change)
    assert estimate == pytest.approx(float(np.median(walsh)), abs=1e-12)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_hodges_lehmann_interval_inverts_scipy_exact_test(confidence):
    """Theta lies inside the exact interval iff the exact test of d - theta does not reject.

    SciPy's exact test at level 1 - confidence (Hollander, Wolfe & Chicken 2014, sec. 3.3).
    """
    change = np.array(HAMILTON_POST) - np.array(HAMILTON_PRE)
    _, low, high, method, _ = hodges_lehmann(change, confidence)
    assert method == "exact"
    walsh = np.unique([(a + b) / 2 for a, b in itertools.combinations_with_replacement(change, 2)])
    thetas = (walsh[1:] + walsh[:-1]) / 2  # between Walsh averages: no ties, no zeros
    for theta in thetas:
        p = stats.wilcoxon(change - theta, method="exact").pvalue
        assert (p > 1 - confidence) == (low < theta < high), theta


def test_hodges_lehmann_interval_reaches_nominal_coverage():
    rng = np.random.default_rng(2024)
    sims, n, truth = 2000, 12, 3.0
    hits, achieved = 0, None
    for _ in range(sims):
        change = truth + rng.standard_t(4, size=n)  # symmetric about the true shift
        _, low, high, _, achieved = hodges_lehmann(change, 0.95)
        hits += low <= truth <= high
    coverage = hits / sims
    # for continuous symmetric data the exact interval's coverage is its achieved level
    mc_error = math.sqrt(achieved * (1 - achieved) / sims)
    assert achieved >= 0.95
    assert abs(coverage - achieved) < 4 * mc_error


def test_hodges_lehmann_with_too_few_pairs_says_it_falls_short():
    # n = 4: P(T <= 0) = 1/16 > 0.025, so no Walsh interval reaches 95 %; the widest,
    # [min, max], covers unless all four signs agree: 1 - 2/16
    estimate, low, high, _, achieved = hodges_lehmann([1.0, 2.0, 4.0, 8.0], 0.95)
    assert (low, high) == (1.0, 8.0)
    assert achieved == 1 - 2 / 16


def test_hodges_lehmann_asymptotic_for_large_n_is_close_to_exact_rule():
    rng = np.random.default_rng(3)
    change = rng.normal(1.0, 2.0, size=600)
    estimate, low, high, method, achieved = hodges_lehmann(change, 0.95)
    assert method == "asymptotic"
    assert achieved == pytest.approx(0.95, abs=0.002)
    assert low < estimate < high
    # the normal-theory interval of a mean from the same data has a similar width
    half = 1.96 * change.std(ddof=1) / math.sqrt(change.size)
    assert (high - low) / (2 * half) == pytest.approx(1.0, abs=0.15)


# ----------------------------------------------------------------------------- enumeration


def brute_force_distribution(ranks):
    """W+ over all 2^n sign assignments, by enumeration."""
    sums = {}
    for signs in itertools.product((0, 1), repeat=len(ranks)):
        w = float(np.dot(signs, ranks))
        sums[w] = sums.get(w, 0) + 1
    values = np.array(sorted(sums))
    return values, np.array([sums[v] for v in values]) / 2 ** len(ranks)


def brute_force_p(change, alternative, zero_method="wilcox"):
    ranks, _ = signed_ranks(change, zero_method)
    nonzero = change != 0
    r = ranks[nonzero]
    observed = ranks[change > 0].sum()
    values, pmf = brute_force_distribution(r)
    upper, lower = pmf[values >= observed - 1e-9].sum(), pmf[values <= observed + 1e-9].sum()
    return {"greater": upper, "less": lower, "two-sided": min(1.0, 2 * min(upper, lower))}[
        alternative
    ]


small_changes = st.lists(st.integers(-4, 4), min_size=1, max_size=10).filter(
    lambda xs: any(x != 0 for x in xs)
)


@settings(max_examples=60, deadline=None)
@given(small_changes, st.sampled_from(ALL_ZERO_METHODS))
def test_exact_distribution_equals_enumeration(changes, zero_method):
    change = np.array(changes, dtype=float)
    ranks, _ = signed_ranks(change, zero_method)
    r = ranks[change != 0]
    values, pmf = exact_null_distribution(r)
    expected_values, expected_pmf = brute_force_distribution(r)
    np.testing.assert_allclose(values, expected_values)
    np.testing.assert_allclose(pmf, expected_pmf, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(small_changes, st.sampled_from(ALL_ZERO_METHODS), st.sampled_from(ALL_ALTERNATIVES))
def test_exact_p_equals_enumeration(changes, zero_method, alternative):
    change = np.array(changes, dtype=float)
    res = run(change, method="exact", zero_method=zero_method, alternative=alternative)
    assert res.p_value == pytest.approx(brute_force_p(change, alternative, zero_method), rel=1e-12)


# ----------------------------------------------------------------------------- properties

real_pairs = (
    st.integers(2, 15)
    .flatmap(
        lambda n: st.tuples(
            st.lists(
                st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 1)),
                min_size=n,
                max_size=n,
            ),
            st.lists(
                st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 1)),
                min_size=n,
                max_size=n,
            ),
        )
    )
    .filter(lambda pair: any(a != b for a, b in zip(*pair, strict=True)))
)


@settings(max_examples=60, deadline=None)
@given(
    real_pairs,
    st.sampled_from(("exact", "asymptotic")),
    st.sampled_from(ALL_ZERO_METHODS),
    st.sampled_from(ALL_ALTERNATIVES),
    st.booleans(),
)
def test_swapping_pre_and_post_flips_the_statistics(
    pair, method, zero_method, alternative, correction
):
    pre, post = pair
    mirrored = {"greater": "less", "less": "greater", "two-sided": "two-sided"}[alternative]
    forward = wilcoxon_signed_rank(
        pre,
        post,
        method=method,
        zero_method=zero_method,
        alternative=alternative,
        correction=correction,
    )
    backward = wilcoxon_signed_rank(
        post,
        pre,
        method=method,
        zero_method=zero_method,
        alternative=mirrored,
        correction=correction,
    )
    assert (forward.n_positive, forward.n_negative) == (backward.n_negative, backward.n_positive)
    assert forward.w_plus == pytest.approx(backward.w_minus)
    assert forward.z == pytest.approx(-backward.z, abs=1e-12)
    assert forward.p_value == pytest.approx(backward.p_value, rel=1e-9, abs=1e-15)
    assert forward.rank_biserial == pytest.approx(-backward.rank_biserial, abs=1e-12)
    assert forward.hodges_lehmann == pytest.approx(-backward.hodges_lehmann, abs=1e-9)
    assert forward.hl_ci_low == pytest.approx(-backward.hl_ci_high, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(
    real_pairs,
    st.sampled_from(("exact", "asymptotic")),
    st.sampled_from(ALL_ZERO_METHODS),
    st.sampled_from(ALL_ALTERNATIVES),
    st.booleans(),
)
def test_p_value_lies_in_unit_interval(pair, method, zero_method, alternative, correction):
    res = wilcoxon_signed_rank(
        *pair,
        method=method,
        zero_method=zero_method,
        alternative=alternative,
        correction=correction,
    )
    assert 0.0 <= res.p_value <= 1.0
    assert res.hl_ci_low <= res.hodges_lehmann <= res.hl_ci_high
    assert -1.0 <= res.rank_biserial <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 20).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(-3, 3).map(float), min_size=n, max_size=n), min_size=1, max_size=8
        )
    ),
    st.sampled_from(ALL_ALTERNATIVES),
    st.booleans(),
)
def test_wilcoxon_many_matches_single_test_row_by_row(rows, alternative, correction):
    changes = np.array(rows)
    z, p = wilcoxon_many(changes, alternative=alternative, correction=correction)
    for i, row in enumerate(changes):
        if not row.any():
            assert (z[i], p[i]) == (0.0, 1.0)
            continue
        single = run(row, method="asymptotic", alternative=alternative, correction=correction)
        assert z[i] == pytest.approx(single.z, abs=1e-12)
        assert p[i] == pytest.approx(single.p_value, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("chunk_cells", [None, 50])  # 50 cells: 2 rows per chunk
def test_wilcoxon_many_matches_scipy_vectorised(monkeypatch, chunk_cells):
    if chunk_cells is not None:
        monkeypatch.setattr("milkbayes.frequentist.wilcoxon._MANY_CHUNK_CELLS", chunk_cells)
    rng = np.random.default_rng(7)
    changes = np.round(rng.normal(0.4, 1.0, size=(500, 24)), 1)  # ties and zeros
    z, p = wilcoxon_many(changes)
    ref = stats.wilcoxon(changes, axis=1, method="asymptotic", alternative="greater")
    np.testing.assert_allclose(z, ref.zstatistic, rtol=1e-12)
    np.testing.assert_allclose(p, 2 * stats.norm.sf(np.abs(ref.zstatistic)), rtol=1e-12)


# ----------------------------------------------------------------------------- effect sizes


def test_rank_biserial_and_r_closed_forms():
    res = run(TIED, method="asymptotic")
    assert res.rank_biserial == pytest.approx(
        (res.w_plus - res.w_minus) / (res.w_plus + res.w_minus)
    )
    # Kerby's simple difference: share of favourable minus unfavourable rank sum
    nonzero = TIED[TIED != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    assert res.rank_biserial == pytest.approx(
        (ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum()
    )
    assert res.r == pytest.approx(res.z / math.sqrt(TIED.size))


def test_counts_and_mean_ranks():
    res = run(TIED, method="spss")
    assert (res.n, res.n_positive, res.n_negative, res.n_zero) == (14, 9, 3, 2)
    nonzero = TIED[TIED != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    assert res.mean_rank_positive == pytest.approx(ranks[nonzero > 0].mean())
    assert res.mean_rank_negative == pytest.approx(ranks[nonzero < 0].mean())
    assert res.w_plus + res.w_minus == 12 * 13 / 2


def test_paired_t_test_matches_scipy():
    res = paired_t_test(HAMILTON_PRE, HAMILTON_POST)
    ref = stats.ttest_rel(HAMILTON_POST, HAMILTON_PRE)
    assert res.t == pytest.approx(ref.statistic, rel=1e-9)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    interval = ref.confidence_interval(0.95)
    assert (res.mean_ci_low, res.mean_ci_high) == pytest.approx((interval.low, interval.high))
    change = np.array(HAMILTON_POST) - np.array(HAMILTON_PRE)
    assert res.cohens_dz == pytest.approx(change.mean() / change.std(ddof=1))


def test_dz_interval_limits_put_observed_t_at_the_tail_quantiles():
    res = paired_t_test(HAMILTON_PRE, HAMILTON_POST, confidence=0.9)
    root_n = math.sqrt(res.n)
    assert stats.nct.cdf(res.t, res.df, res.dz_ci_low * root_n) == pytest.approx(0.95, abs=1e-8)
    assert stats.nct.cdf(res.t, res.df, res.dz_ci_high * root_n) == pytest.approx(0.05, abs=1e-8)


@pytest.mark.slow
def test_dz_interval_reaches_nominal_coverage():
    rng = np.random.default_rng(11)
    sims, n, delta = 600, 8, 0.7
    hits = 0
    for _ in range(sims):
        change = delta + rng.normal(size=n)  # sd 1, so the true d_z is delta
        res = paired_t_test(np.zeros(n), change)
        hits += res.dz_ci_low <= delta <= res.dz_ci_high
    assert abs(hits / sims - 0.95) < 4 * math.sqrt(0.95 * 0.05 / sims)


def test_sign_test_closed_form():
    # Hamilton: pre - post has 7 positive and 2 negative differences, so post < pre 7 times
    res = sign_test(HAMILTON_PRE, HAMILTON_POST)
    assert (res.n_positive, res.n_negative, res.n_zero) == (2, 7, 0)
    expected = 2 * sum(math.comb(9, k) for k in range(3)) / 2**9
    assert res.p_value == pytest.approx(expected, rel=1e-12)
    less = sign_test(HAMILTON_PRE, HAMILTON_POST, alternative="less")
    assert less.p_value == pytest.approx(sum(math.comb(9, k) for k in range(3)) / 2**9)


# ----------------------------------------------------------------------------- inputs


def test_decimal_ties_tie_after_subtraction():
    # 0.5 - 0.3 and 0.3 - 0.1 differ in binary floating point; they must share a rank
    change = paired_change([0.1, 0.3, 0.0], [0.3, 0.5, -1.0])
    ranks, _ = signed_ranks(change)
    assert ranks.tolist() == [1.5, 1.5, 3.0]


@pytest.mark.parametrize(
    "pre, post, fragment",
    [
        ([1, 2, 3], [1, 2], "pre has 3 values but post has 2"),
        ([1, np.nan, 3], [1, 2, 3], "position 2"),
        ([1, 2, 3], [1, 2, np.inf], "not a finite number"),
        ([1, 2, 3], [1, 2, 3], "all 3 changes are zero"),
        ([], [], "no pairs"),
    ],
)
def test_bad_data_raise_data_error(pre, post, fragment):
    with pytest.raises(DataError, match=fragment):
        wilcoxon_signed_rank(pre, post)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"method": "permutation"}, "method='permutation' is not allowed"),
        ({"zero_method": "drop"}, "zero_method"),
        ({"alternative": "two_sided"}, "alternative"),
        ({"confidence": 1.5}, "confidence"),
        ({"method": "spss", "zero_method": "pratt"}, "drops zeros"),
        ({"method": "spss", "correction": True}, "continuity"),
    ],
)
def test_bad_options_raise_milkbayes_errors(options, fragment):
    with pytest.raises(FrequentistOptionError, match=fragment) as info:
        wilcoxon_signed_rank([1, 2, 3], [2, 4, 5], **options)
    assert isinstance(info.value, MilkbayesError)


def test_exact_refuses_work_that_would_take_minutes():
    change = np.round(np.random.default_rng(0).normal(0.1, 1.0, 5000), 1)
    with pytest.raises(FrequentistOptionError, match="method='asymptotic'"):
        run(change, method="exact")


def test_negative_continuous_values_are_accepted():
    res = wilcoxon_signed_rank([-3.5, -1.0, 2.0, -7.25], [-1.5, 0.5, 4.5, -2.0], method="exact")
    assert res.n_positive == 4 and res.p_value == pytest.approx(2 / 16)


# ----------------------------------------------------------------------------- SPSS


def test_spss_p_formats():
    assert format_p_spss(0.00049) == ".000"
    assert format_p_spss(0.00051) == ".001"
    assert format_p_honest(0.00049) == "p < .001"
    assert format_p_exact(1.2e-05) == "1.2e-05"


def test_spss_tables_for_an_all_positive_study():
    # 24 untied positive changes: W- = 0, Z = -(300 - 150) / sqrt(24*25*49/24) = -4.286
    change = np.arange(1.0, 25.0)
    res = run(change, method="spss")
    ranks, test = spss_tables(res)
    assert ranks.loc["Positive Ranks", "N"] == 24
    assert ranks.loc["Positive Ranks", "Mean Rank"] == 12.5
    assert ranks.loc["Positive Ranks", "Sum of Ranks"] == 300
    assert test.loc["Z", "value"] == pytest.approx(-150 / math.sqrt(24 * 25 * 49 / 24))
    assert test.loc["Z", "footnote"] == "Based on negative ranks."
    text = format_spss_text(res)
    for fragment in (
        "a. post < pre",
        "b. post > pre",
        "c. post = pre",
        "-4.286b",
        "Based on negative ranks.",
        ".000",
        "p < .001",
        "1.8e-05",
    ):
        assert fragment in text


def test_spss_bases_z_on_positive_ranks_when_post_falls():
    res = wilcoxon_signed_rank(HAMILTON_PRE, HAMILTON_POST, method="spss")
    _, test = spss_tables(res)
    assert test.loc["Z", "footnote"] == "Based on positive ranks."
    assert test.loc["Z", "value"] == pytest.approx(-abs(res.z))


def test_spss_tables_refuse_results_spss_cannot_produce():
    for options in ({"zero_method": "pratt"}, {"correction": True}):
        with pytest.raises(FrequentistOptionError, match="method='spss'"):
            spss_tables(run(TIED, method="asymptotic", **options))


def test_result_tables_are_tidy():
    res = run(TIED)
    frame = res.to_frame()
    assert frame.shape[0] == 1
    for key in (
        "n",
        "n_positive",
        "n_negative",
        "n_zero",
        "w_plus",
        "w_minus",
        "z",
        "p_value",
        "method",
        "hodges_lehmann",
        "hl_ci_low",
        "hl_ci_high",
        "rank_biserial",
        "r",
    ):
        assert key in frame.columns
    assert res.to_dict()["z_spss"] == -abs(res.z)


# ----------------------------------------------------------------------------- extreme values
# Overflowing and subnormal changes, t of 1e4, 200 000 participants.


def test_overflowing_change_is_refused_naming_the_participant_row():
    # 1e308 - (-1e308) is beyond the float range; snapping it would zero the small changes
    with pytest.raises(DataError, match=r"participant row 2 .*beyond the float range"):
        paired_change([1.0, -1e308, 1.0], [2.0, 1e308, 5.0])


def test_extreme_but_representable_changes_keep_their_small_ones():
    # 8e307 - (-8e307) = 1.6e308 fits; Walsh sums of two such changes would overflow
    # without the power-of-two scaling, so the HL estimate checks that too
    pre, post = [-8e307, 7e307, 0.0, 0.0], [8e307, -7e307, 1e296, 3e296]
    res = wilcoxon_signed_rank(pre, post, method="exact")
    change = np.array(post) / 2 - np.array(pre) / 2  # halving keeps order and ties
    ref = stats.wilcoxon(change, method="exact")
    assert res.n_zero == 0 and res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert math.isfinite(res.hodges_lehmann) and math.isfinite(res.hl_ci_high)


def test_subnormal_changes_are_ranked_as_scipy_ranks_them_rescaled():
    pre, post = [5e-324, 0.0, 5e-324, 1e-320], [1e-323, 5e-324, 2e-323, 4e-320]
    res = wilcoxon_signed_rank(pre, post, method="exact")
    rescaled = np.array(post) * 2.0**1000 - np.array(pre) * 2.0**1000  # exact
    ref = stats.wilcoxon(rescaled, method="exact")
    ranks = stats.rankdata(np.abs(rescaled))
    assert res.n_zero == 0 and res.w_plus == ranks[rescaled > 0].sum()
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    # subnormal changes are halved exactly once scaled: the estimate is a Walsh average
    walsh = sorted((a + b) / 2 for i, a in enumerate(rescaled) for b in rescaled[i:])
    assert res.hodges_lehmann * 2.0**1000 == pytest.approx(np.median(walsh), rel=1e-12)


@pytest.mark.parametrize("exponent", [-1020, -600, 600, 1000])
def test_paired_t_test_is_unchanged_by_a_power_of_two_rescaling(exponent):
    # a power-of-two scale is exact, so t, p and d_z must be the same floats; the
    # mean and sd scale with the data (this is where subnormal squares used to vanish)
    base = paired_t_test(HAMILTON_PRE, HAMILTON_POST)
    scaled = paired_t_test(np.ldexp(HAMILTON_PRE, exponent), np.ldexp(HAMILTON_POST, exponent))
    assert (scaled.t, scaled.p_value, scaled.cohens_dz) == pytest.approx(
        (base.t, base.p_value, base.cohens_dz), rel=1e-12
    )
    assert (scaled.dz_ci_low, scaled.dz_ci_high) == pytest.approx(
        (base.dz_ci_low, base.dz_ci_high), rel=1e-9
    )
    assert scaled.mean_change == pytest.approx(math.ldexp(base.mean_change, exponent), rel=1e-12)


@pytest.mark.parametrize("t_obs, df", [(0.4, 3), (-2.5, 5), (3.0, 23), (12.0, 7), (-40.0, 30)])
def test_noncentrality_limits_solve_scipy_nct_at_moderate_t(t_obs, df):
    from milkbayes.frequentist.ttest import _noncentrality_interval

    low, high = _noncentrality_interval(t_obs, df, 0.95)
    assert stats.nct.cdf(t_obs, df, low) == pytest.approx(0.975, abs=1e-8)
    assert stats.nct.cdf(t_obs, df, high) == pytest.approx(0.025, abs=1e-8)


@pytest.mark.parametrize(
    "t_obs, df", [(1e4, 23), (117487.1, 23), (-33817.0, 1), (5e5, 3), (-1e6, 1)]
)
def test_noncentrality_limits_at_extreme_t_approach_the_chi_square_limit(t_obs, df):
    # For |t| >> 1, T = (Z + ncp) / sqrt(V/df) ~ ncp / sqrt(V/df): the limits are
    # t sqrt(chi2_q / df); SciPy's nct cdf is NaN here for some of these
    from milkbayes.frequentist.ttest import _noncentrality_interval

    low, high = _noncentrality_interval(t_obs, df, 0.95)
    sign = 1.0 if t_obs > 0 else -1.0
    q_low, q_high = (0.025, 0.975) if t_obs > 0 else (0.975, 0.025)
    expected_low = t_obs * math.sqrt(stats.chi2.ppf(q_low, df) / df)
    expected_high = t_obs * math.sqrt(stats.chi2.ppf(q_high, df) / df)
    assert sign * low < sign * t_obs < sign * high or sign * high < sign * t_obs
    assert (low, high) == pytest.approx((expected_low, expected_high), rel=2e-3)


@pytest.mark.parametrize(
    "t_obs, df, ncp",
    [(1.5, 4, 2.0), (-3.0, 9, -1.0), (30.0, 23, 28.0), (200.0, 2, 150.0), (-5.0, 1, 3.0)],
)
def test_nct_quadrature_equals_scipy_where_scipy_is_finite(monkeypatch, t_obs, df, ncp):
    from milkbayes.frequentist import ttest as frequentist

    expected = stats.nct.cdf(t_obs, df, ncp)
    # the module imports scipy.stats inside the function: patch the distribution itself
    monkeypatch.setattr(stats.nct, "cdf", lambda *args: math.nan)
    assert frequentist._nct_cdf(t_obs, df, ncp) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "pre, post",
    [
        ([20.0 + i for i in range(24)], [30.0 + i + 0.001 * (i % 3) for i in range(24)]),
        ([16909.0, 16909.0], [0.0, 1.0]),
    ],
)
def test_paired_t_test_with_huge_t_gives_a_finite_interval(pre, post):
    res = paired_t_test(pre, post)
    assert abs(res.t) > 1e4
    assert res.dz_ci_low < res.cohens_dz < res.dz_ci_high
    assert math.isfinite(res.dz_ci_low) and math.isfinite(res.dz_ci_high)


def _walsh_order_statistics_by_counts(values, ks):
    """k-th smallest Walsh average from the counts of each distinct value (O(K^2))."""
    distinct, counts = np.unique(values, return_counts=True)
    pairs = {}
    for a, (u, cu) in enumerate(zip(distinct, counts, strict=True)):
        pairs[(u + u) / 2] = pairs.get((u + u) / 2, 0) + cu * (cu + 1) // 2
        for v, cv in zip(distinct[a + 1 :], counts[a + 1 :], strict=True):
            pairs[(u + v) / 2] = pairs.get((u + v) / 2, 0) + cu * cv
    averages = sorted(pairs)
    cumulative = np.cumsum([pairs[w] for w in averages])
    return [averages[int(np.searchsorted(cumulative, k))] for k in ks]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(1, 40),
    confidence=st.sampled_from([0.8, 0.95, 0.99]),
)
def test_hodges_lehmann_by_selection_equals_the_full_sort(n, seed, levels, confidence):
    from milkbayes.frequentist import walsh as frequentist

    rng = np.random.default_rng(seed)
    change = rng.integers(-levels, levels + 1, n) * 0.1  # many ties and decimal fractions
    continuous = rng.random(n) < 0.3
    change[continuous] += rng.normal(size=int(continuous.sum()))
    full = hodges_lehmann(change, confidence)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frequentist, "HL_WALSH_MAX_N", 0)
        assert hodges_lehmann(change, confidence) == full  # the very same floats


def test_hodges_lehmann_for_large_n_needs_little_memory_and_matches_counting():
    import tracemalloc

    rng = np.random.default_rng(5)
    change = rng.integers(-30, 61, 20_000) * 0.5  # 181 distinct values
    tracemalloc.start()
    estimate, low, high, method, _ = hodges_lehmann(change, 0.95)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6  # all 200 010 000 Walsh averages would take 1.6 GB
    n = change.size
    m = n * (n + 1) // 2
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    c = math.floor(m / 2.0 - stats.norm.isf(0.025) * sd)
    middle_low, middle_high, lower, upper = _walsh_order_statistics_by_counts(
        change, [m // 2, m // 2 + 1, c, m - c + 1]
    )
    assert method == "asymptotic"
    assert estimate == (middle_low + middle_high) / 2 and (low, high) == (lower, upper)


def test_small_changes_beside_huge_ones_are_not_rounded_away():
    # 8e307 - (-8e307) fits, and the changes 1 and 3 of small pairs must stay 1 and 3:
    # each change is snapped at its own pair's scale, not the data's largest
    pre, post = [-8e307, 7e307, 1.0, 2.0], [8e307, -7e307, 2.0, 5.0]
    res = wilcoxon_signed_rank(pre, post, method="exact")
    halved = np.array(post) / 2 - np.array(pre) / 2  # the same order, signs and ties
    ref = stats.wilcoxon(halved, method="exact")
    assert res.n_zero == 0 and res.w_plus == 1 + 2 + 4
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert paired_change(pre, post)[2:].tolist() == [1.0, 3.0]
