"""The reconstruction posterior (rejection ABC on the published facts), against exact values."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from milkbayes.datasets import check_constraints
from milkbayes.errors import ReconstructionError
from milkbayes.reconstruction import ReconstructionPrior, abc_posterior, rejection_abc
from milkbayes.reconstruction.abc import chunk_rng, score_delta
from milkbayes.sensitivity.power import power_curve

N = 24
T_CRIT = stats.t.isf(0.0005 / 2, N - 1)  # two-sided p < .0005 with t > 0

DELTA_ONLY = ReconstructionPrior(
    p_volume=1.0,
    pre_median_ml=1000.0,
    pre_median_log_sd=0.0,
    change_sd_ml=50.0,
    change_sd_log_sd=0.0,
    modifier_sd_ml=0.0,
    correlation_limit=0.0,
)
"""Volumes only, no modifiers, no baseline correlation, a large baseline and spread
(no volume near 0, ties from 0.1 ml rounding negligible): acceptance then depends
on delta alone, and the changes are normal."""


def _t_test_simulator(prior_mean: float, prior_sd: float):
    """Prior delta ~ Normal; changes ~ Normal(delta, 1); event: paired t p < .0005, mean > 0."""

    def simulate(rng, size):
        delta = prior_mean + prior_sd * rng.standard_normal(size)
        x = delta[:, None] + rng.standard_normal((size, N))
        t = x.mean(axis=1) / (x.std(axis=1, ddof=1) / math.sqrt(N))
        return pd.DataFrame({"delta": delta}), t > T_CRIT

    return simulate


def test_rejection_abc_matches_the_exact_posterior_of_a_t_test_event():
    """Posterior of delta given "t-test p < .0005, mean rose" = prior x noncentral-t power."""
    prior = stats.norm(0.8, 0.6)
    result = rejection_abc(_t_test_simulator(0.8, 0.6), 60_000, seed=11, chunk_size=7_000)
    grid = np.linspace(-2.5, 4.5, 4001)
    # exact acceptance probability: P(T > t_crit | ncp = delta sqrt(n)), scipy's noncentral t
    likelihood = stats.nct.sf(T_CRIT, N - 1, grid * math.sqrt(N))
    unnormalised = prior.pdf(grid) * likelihood
    evidence = integrate.trapezoid(unnormalised, grid)
    cdf = integrate.cumulative_trapezoid(unnormalised, grid, initial=0.0) / evidence
    accepted = result.accepted["delta"].to_numpy()
    n_acc = accepted.size
    # the acceptance rate is the evidence P(A)
    assert n_acc / result.n_proposals == pytest.approx(
        evidence, abs=4 * math.sqrt(evidence / 60_000)
    )
    for point in (0.6, 0.9, 1.2, 1.6):
        exact = float(np.interp(point, grid, cdf))
        se = math.sqrt(exact * (1 - exact) / n_acc)
        assert float((accepted <= point).mean()) == pytest.approx(exact, abs=5 * se + 1e-3)


def test_volume_abc_matches_prior_times_wilcoxon_power():
    """With modifiers off and no floor or ties, acceptance depends on delta only.

    The likelihood is then the Wilcoxon test's power (post > pre), computed by
    :func:`power_curve` from Walsh-average order statistics: another algorithm on
    other random numbers than the ABC's rank test.
    """
    post = abc_posterior(n_proposals=60_000, seed=3, prior=DELTA_ONLY)
    grid = np.arange(-1.5, 4.0 + 1e-9, 0.01)
    power = power_curve(grid, N, n_sim=20_000, seed=9)
    cauchy = stats.cauchy(0, math.sqrt(2) / 2)
    unnormalised = cauchy.pdf(grid) * power
    high_tail = float(cauchy.sf(grid[-1])) * power[-1]
    evidence = integrate.trapezoid(unnormalised, grid) + high_tail
    cdf = integrate.cumulative_trapezoid(unnormalised, grid, initial=0.0) / evidence
    delta = post.draws["delta"].to_numpy()
    assert post.acceptance_rate == pytest.approx(evidence, rel=0.04)
    for point in (0.8, 1.0, 1.3, 2.0):
        exact = float(np.interp(point, grid, cdf))
        se = math.sqrt(exact * (1 - exact) / delta.size)
        assert float((delta <= point).mean()) == pytest.approx(exact, abs=5 * se + 0.006)


def test_accepted_datasets_are_remade_and_satisfy_every_published_fact():
    post = abc_posterior(n_proposals=5_000, seed=8, chunk_size=1_500)
    scenarios = set()
    for i in (0, 1, post.n_accepted // 2, post.n_accepted - 1):
        study = post.dataset(i)
        check = check_constraints(study)
        assert check.satisfied and check.spss_z > 0
        assert check.spss_z == pytest.approx(post.draws["spss_z"].iloc[i], abs=1e-12)
        assert study.change.mean() == pytest.approx(post.draws["sample_mean_change"].iloc[i])
        assert study.reconstructed and study.provenance["seed"] == 8
        scenarios.add(study.provenance["scenario"])
        assert post.dataset(i).sha256 == study.sha256
    with pytest.raises(ReconstructionError, match="does not exist"):
        post.dataset(post.n_accepted)


def test_kept_datasets_are_the_chunks_re_run_from_their_seeds():
    # dataset(i) reads the values the run kept; the independent route re-runs the
    # chunk from its stream (chunk_rng), as a posterior without kept values does
    import dataclasses

    from milkbayes.reconstruction.abc import _simulate

    post = abc_posterior(n_proposals=4_000, seed=11, chunk_size=1_500)
    assert sorted(post.accepted_data) == [0, 1, 2]
    remade = dataclasses.replace(post, accepted_data=None)
    for i in np.linspace(0, post.n_accepted - 1, 7).astype(int):
        kept, again = post.dataset(int(i)), remade.dataset(int(i))
        pd.testing.assert_frame_equal(kept.table, again.table)
        assert kept.sha256 == again.sha256 and kept.provenance == again.provenance
        record = post.draws.iloc[int(i)]
        chunk, row = int(record["chunk"]), int(record["row"])
        size = [1_500, 1_500, 1_000][chunk]
        made = _simulate(chunk_rng(11, chunk), size, post.prior)
        unit = 10.0 if record["scenario"] == "volume_ml" else 1.0
        np.testing.assert_array_equal(kept.table["pre"].to_numpy(), made.pre[row] / unit)
        np.testing.assert_array_equal(kept.table["post"].to_numpy(), made.post[row] / unit)


def test_run_is_a_function_of_seed_and_independent_of_progress():
    calls = []
    a = abc_posterior(
        n_proposals=3_000, seed=5, chunk_size=1_000, progress=lambda d, t: calls.append((d, t))
    )
    b = abc_posterior(n_proposals=3_000, seed=5, chunk_size=1_000)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert calls == [(1_000, 3_000), (2_000, 3_000), (3_000, 3_000)]
    # every accepted row met the event
    assert (a.draws["spss_p"] < 0.0005).all() and (a.draws["sample_mean_change"] > 0).all()


def test_score_delta_against_simulation_with_known_truth():
    rng = np.random.default_rng(0)
    m = 400_000
    values = dict(p0=0.3, sa=0.8, eta=1.1, gl=-0.6, gp=0.4, tau=0.7)
    long = rng.random(m) < 13 / 24
    primi = rng.random(m) < 3 / 24
    a = stats.logistic.ppf(values["p0"]) + values["sa"] * rng.standard_normal(m)
    shift = values["eta"] + values["gl"] * long + values["gp"] * primi
    shift = shift + values["tau"] * rng.standard_normal(m)
    change = rng.binomial(10, stats.logistic.cdf(a + shift)) - rng.binomial(
        10, stats.logistic.cdf(a)
    )
    simulated = change.mean() / change.std()
    assert float(score_delta(*values.values())[0]) == pytest.approx(simulated, abs=0.01)


def test_bad_options_are_refused():
    with pytest.raises(ReconstructionError, match="proposals"):
        abc_posterior(n_proposals=0)
    with pytest.raises(ReconstructionError, match="seed"):
        abc_posterior(n_proposals=10, seed=-1)
    with pytest.raises(ReconstructionError, match="p_volume"):
        abc_posterior(n_proposals=10, prior=ReconstructionPrior(p_volume=2.0))


def test_chunk_streams_differ_and_repeat():
    assert chunk_rng(1, 0).random() == chunk_rng(1, 0).random()
    assert chunk_rng(1, 0).random() != chunk_rng(1, 1).random()


# ----------------------------------------------------------------------------- published-facts BF
def _upper_tail_by_subset_counting(n: int, at_least: int) -> float:
    """P(W+ >= at_least) for n untied ranks: count the subsets of 1..n by their sum."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    return sum(counts[at_least:]) / 2**n


def test_null_probability_and_upper_bound_are_exact():
    from milkbayes.sensitivity.published_p import (
        null_probability_of_published_event,
        published_facts_bayes_factor,
    )

    # the smallest W+ SPSS calls p < .0005 with 24 untied changes: Z of 271 is below 3.4808
    z = lambda w: (w - 150) / math.sqrt(24 * 25 * 49 / 24)  # noqa: E731
    assert 2 * stats.norm.sf(z(272)) < 0.0005 <= 2 * stats.norm.sf(z(271))
    exact = _upper_tail_by_subset_counting(24, 272)
    assert exact == pytest.approx(8.8e-5, abs=0.05e-5)
    # scipy's exact signed-rank test of data with W+ = 272 (negative ranks 4 and 24)
    ranks = np.arange(1.0, 25.0)
    data = np.where(np.isin(ranks, [4, 24]), -ranks, ranks)
    scipy_p = stats.wilcoxon(data, alternative="greater", method="exact").pvalue
    assert scipy_p == pytest.approx(exact, rel=1e-12)
    assert null_probability_of_published_event(24) == pytest.approx(exact, rel=1e-12)
    bf = published_facts_bayes_factor(n_sim=2_000, seed=4)
    assert bf.upper_bound == pytest.approx(1 / exact, rel=1e-12)
    assert all(value < bf.upper_bound for value in bf.bf10.values())


def test_point_alternative_bf_is_power_over_null_probability():
    from milkbayes.sensitivity.published_p import published_facts_bf_point

    delta, sims = 0.9, 20_000
    rng = np.random.default_rng(21)
    x = delta + rng.standard_normal((sims, 24))
    # scipy's asymptotic test without continuity correction = SPSS's; two-sided p < .0005
    # with a rise is the one-sided "greater" p < .00025
    p = stats.wilcoxon(x, axis=1, alternative="greater", method="asymptotic", correction=False)
    power = float((p.pvalue < 0.00025).mean())
    bf = float(published_facts_bf_point(delta, n_sim=20_000, seed=5)[0])
    exact_null = _upper_tail_by_subset_counting(24, 272)
    se = math.sqrt(power * (1 - power) / sims) * math.sqrt(2)
    assert bf * exact_null == pytest.approx(power, abs=4 * se)


def test_bf_under_the_cauchy_prior_is_the_abc_evidence_over_the_null_probability():
    """The ABC's acceptance rate with a Cauchy prior on delta is P(A | H1): BF10 x P(A | H0)."""
    from milkbayes.sensitivity.published_p import published_facts_bayes_factor

    post = abc_posterior(n_proposals=40_000, seed=12, prior=DELTA_ONLY)
    bf = published_facts_bayes_factor(n_sim=20_000, seed=6)
    exact_null = _upper_tail_by_subset_counting(24, 272)
    rate = post.acceptance_rate
    se = math.sqrt(rate * (1 - rate) / post.n_proposals)
    assert bf.bf10["cauchy_0.707_two_sided"] * exact_null == pytest.approx(rate, abs=4 * se + 0.003)


# ----------------------------------------------------------------------------- CLI
def test_cli_writes_the_draws_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    from milkbayes.cli import main

    out = tmp_path / "abc"
    assert (
        main(["reconstruct", "posterior", "--proposals", "3000", "--seed", "3", "--out", str(out)])
        == 0
    )
    captured = capsys.readouterr()
    assert "proposals 3,000/3,000" in captured.err
    assert "P(delta > 0.8)" in captured.out and "RECONSTRUCTED DATA" in captured.out
    draws = pd.read_csv(out / "draws.csv", comment="#")
    expected = abc_posterior(n_proposals=3000, seed=3).draws
    assert len(draws) == len(expected)
    np.testing.assert_allclose(draws["delta"], expected["delta"], rtol=1e-12)
    before = (out / "draws.csv").read_bytes()
    assert main(["reconstruct", "posterior", "--proposals", "2000", "--out", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (out / "draws.csv").read_bytes() == before
    assert main(["reconstruct", "posterior", "--proposals", "-5"]) == 2
    assert "proposals must be" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the headline
@pytest.fixture(scope="module")
def headline():
    from milkbayes.reanalysis.headline import published_facts_section

    return published_facts_section(fast=True, data_bf10=8.9e4)


def test_headline_numbers_come_from_the_abc_and_the_exact_bound(headline):
    exact_null = _upper_tail_by_subset_counting(24, 272)
    assert headline.bf10_upper_bound == pytest.approx(1 / exact_null, rel=1e-12)
    assert headline.bf10 < headline.bf10_upper_bound < headline.data_bf10
    post = abc_posterior(n_proposals=headline.n_proposals, seed=headline.seed)
    delta = post.draws["delta"].to_numpy()
    assert headline.p_delta_gt_0_8 == pytest.approx(float((delta > 0.8).mean()), abs=1e-12)
    assert headline.delta_median == pytest.approx(float(np.median(delta)), abs=1e-12)
    # the facts move P(delta > 0.8) far from the prior's, but leave the top to the prior
    assert headline.prior_p_delta_gt_0_8 < 0.35 < 0.9 < headline.p_delta_gt_0_8
    text = headline.bottom_line
    assert f"{headline.p_delta_gt_0_8:.2f}" in text and "11,398" in text
    assert "above that bound" in text and "no control group" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked on Linux only")
def test_headline_evidence_of_a_forked_helper_is_the_in_process_one_bit_for_bit():
    """A helper's headline evidence, adopted, is the one this process computes.

    The reanalysis computes the headline in a helper forked at its start and adopts
    it: the posterior and evidence must be those of the in-process path.
    """
    import functools

    from milkbayes.engine.forked_call import ForkedCall
    from milkbayes.reanalysis import headline as hl

    seed = 13  # a seed no other test caches: the helper computes it afresh
    assert hl._settings(True, seed)[:2] not in hl._POSTERIORS
    call = ForkedCall.start(functools.partial(hl.headline_evidence, fast=True, seed=seed))
    forked = call.result()
    assert call.computed_by == "helper"
    here = hl.headline_evidence(fast=True, seed=seed)  # computed in this process now
    assert forked.posterior is not here.posterior
    assert forked.settings == here.settings
    assert forked.evidence == here.evidence
    mine, theirs = here.posterior, forked.posterior
    pd.testing.assert_frame_equal(theirs.draws, mine.draws, check_exact=True)
    for column in mine.draws.select_dtypes("number"):
        assert theirs.draws[column].to_numpy().tobytes() == mine.draws[column].to_numpy().tobytes()
    for name in ("prior_delta", "prior_scenario"):
        got, want = np.asarray(getattr(theirs, name)), np.asarray(getattr(mine, name))
        assert got.dtype == want.dtype and np.array_equal(got, want)
    for name in ("n_proposals", "seed", "chunk_size", "prior"):
        assert getattr(theirs, name) == getattr(mine, name)
    assert theirs.accepted_data.keys() == mine.accepted_data.keys()
    for chunk, rows in mine.accepted_data.items():
        for name in ("rows", "pre", "post", "long", "primi"):
            got, want = getattr(theirs.accepted_data[chunk], name), getattr(rows, name)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    # adopted, it is what the section and the ensemble's posterior read
    hl.adopt(forked)
    assert hl.headline_posterior(fast=True, seed=seed) is forked.posterior
    section = hl.published_facts_section(fast=True, seed=seed)
    assert section.delta_median == float(np.median(forked.posterior.draws["delta"]))


def _render_with(headline_section):
    from milkbayes.report import render as report
    from test_report import summary_fixture

    summary = summary_fixture()
    summary["published_facts"] = headline_section.to_dict()
    return report.render_html(summary, {}), report.render_markdown(summary)


def test_report_leads_with_the_bottom_line_before_any_table(headline):
    html, markdown = _render_with(headline)
    bottom = html.index('id="bottom-line"')
    assert bottom < html.index("<table") and bottom < html.index('id="data"')
    assert "upper bound for any alternative: 11398" in html
    assert "default Cauchy prior on δ, scale 0.707, one-sided" in markdown
    first_table = markdown.index("\n|")
    assert markdown.index("What the published facts alone support") < first_table
    assert markdown.index("P(δ > 0.8) = ") < first_table


def test_cli_last_line_states_the_published_facts(headline):
    from milkbayes.cli.report_commands import _published_facts_line

    line = _published_facts_line(headline.to_dict())
    assert line.startswith("published facts alone")
    assert f"P(delta > 0.8) = {headline.p_delta_gt_0_8:.3f}" in line
    assert "at most 11,398 for any alternative" in line


def test_cli_json_is_one_object_with_the_delta_summary(capsys):
    import json

    from milkbayes.cli import main

    assert main(["reconstruct", "posterior", "--proposals", "2000", "--seed", "4", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    expected = abc_posterior(n_proposals=2000, seed=4).delta_summary()
    assert payload["delta"]["p_gt_0_8"] == pytest.approx(expected["p_gt_0_8"], abs=1e-12)
    assert payload["n_proposals"] == 2000 and "RECONSTRUCTED" in payload["warning"]


def test_the_ensemble_table_gives_the_headline_delta_not_a_second_value(headline):
    from milkbayes.reanalysis.pipeline import _published_rows

    rows = {row["quantity"]: row for row in _published_rows((), headline)}
    assert (rows["delta"]["median"], rows["delta"]["low"], rows["delta"]["high"]) == (
        headline.delta_median,
        headline.delta_ci95_low,
        headline.delta_ci95_high,
    )


def test_cli_set_changes_the_prior_as_the_library_does(capsys):
    import json

    from milkbayes.cli import main

    argv = ["reconstruct", "posterior", "--proposals", "2000", "--seed", "4", "--json"]
    assert main([*argv, "--set", "p_volume=1", "--set", "delta_scale=1.0"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert main([*argv[:-1], "--set", "delta_scale=1.0"]) == 0
    assert "prior: the defaults but --set delta_scale=1.0" in capsys.readouterr().out
    prior = ReconstructionPrior(p_volume=1.0, delta_scale=1.0)
    expected = abc_posterior(n_proposals=2000, seed=4, prior=prior)
    assert payload["prior"]["delta"].startswith("Cauchy(0, 1)")
    assert "with probability 1," in payload["prior"]["outcome"]
    assert payload["delta"]["median"] == pytest.approx(
        expected.delta_summary()["median"], abs=1e-12
    )
    # a volume with probability 1: no proposal reads the outcome as a score
    assert set(expected.draws["scenario"]) == {"volume_ml"}
    # a reconstruction drawn from it says how to draw it again, prior included
    command = expected.dataset(0).provenance["command"]
    assert command.endswith("--seed 4 --set p_volume=1.0 --set delta_scale=1.0")


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("width=2", "not a setting of the reconstruction's prior"),
        ("delta_scale", "takes NAME=NUMBER"),
        ("delta_scale=wide", "is not a number"),
        ("delta_scale=inf", "is not a finite number"),
        ("p_volume=2", "p_volume must be in [0, 1]"),
        ("change_sd_ml=-1", "change_sd_ml must be > 0"),
    ],
)
def test_cli_set_refuses_a_bad_prior_before_drawing(setting, says, capsys, tmp_path):
    from milkbayes.cli import main

    out = tmp_path / "abc"
    argv = ["reconstruct", "posterior", "--proposals", "2000", "--out", str(out)]
    assert main([*argv, "--set", setting]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and "proposals 2," not in err
    assert not out.exists()
