"""The reconstruction ensemble under varied assumptions, and how the report shows it.

The acceptance of the rejection step is checked against an independent simulation:
the volume generator's formula written out here with numpy, and the SPSS Wilcoxon
test computed by ``scipy.stats.wilcoxon`` (zeros dropped, no continuity correction,
normal approximation), accepted when p < .0005 and the positive ranks outweigh the
negative ones (a rise). The report test renders a tiny reanalysis of the bundled
reconstruction and reads the page a reader gets.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
from scipy import stats

from _small_runs import TINY
from milkbayes import published
from milkbayes.errors import MilkbayesError
from milkbayes.sensitivity import FAST_SAMPLER, Vary, assumption_ensemble, propose_reconstructions


# --------------------------------------------------------------------------- --vary
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("effect_ml=4:20", Vary("effect_ml", 4.0, 20.0)),
        ("effect_ml = -2, 14", Vary("effect_ml", values=(-2.0, 14.0))),
        ("change_sd_ml=3", Vary("change_sd_ml", values=(3.0,))),
    ],
)
def test_vary_parses_ranges_and_lists(text, expected):
    assert Vary.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("effect_ml", "NAME=LOW:HIGH"),
        ("effect_ml=20:4", "LOW must be below HIGH"),
        ("effect_ml=1:2:3", "a range is LOW:HIGH"),
        ("effect_ml=a,2", "'a' is not a number"),
        ("effect_ml=inf:3", "not a finite number"),
    ],
)
def test_vary_refuses_bad_specifications(text, needle):
    with pytest.raises(MilkbayesError, match=re.escape(needle)):
        Vary.parse(text)


def test_unknown_assumptions_and_duplicates_are_refused_before_drawing():
    with pytest.raises(MilkbayesError, match="did you mean 'effect_ml'"):
        propose_reconstructions("volume_ml", 5, vary=["efect_ml=2:4"])
    with pytest.raises(MilkbayesError, match="twice"):
        propose_reconstructions("volume_ml", 5, vary=["effect_ml=2:4", "effect_ml=5,6"])


def test_vary_draws_cover_the_range_uniformly():
    rng = np.random.default_rng(0)
    draws = np.array([Vary("effect_ml", 4.0, 20.0).draw(rng) for _ in range(2000)])
    assert draws.min() >= 4.0 and draws.max() <= 20.0
    assert stats.kstest((draws - 4.0) / 16.0, "uniform").pvalue > 0.01
    picks = [Vary("x", values=(1.0, 2.0)).draw(rng) for _ in range(400)]
    assert set(picks) == {1.0, 2.0} and abs(np.mean(picks) - 1.5) < 0.1


# --------------------------------------------------------------------------- acceptance
def _independent_acceptance(effect_ml: float, n_sets: int, seed: int) -> float:
    """P(a draw matches the paper | effect_ml), by the formula and scipy, other defaults."""
    rng = np.random.default_rng(seed)
    n, n_long, n_primi = published.N_PARTICIPANTS, 13, 3
    accepted = 0
    for _ in range(n_sets):
        is_long = rng.permutation(np.r_[np.ones(n_long), np.zeros(n - n_long)])
        is_primi = rng.permutation(np.r_[np.ones(n_primi), np.zeros(n - n_primi)])
        pre = np.round(np.exp(math.log(6.0) + 0.5 * rng.standard_normal(n)), 1)
        change = effect_ml - 5.0 * is_long - 4.0 * is_primi + 5.0 * rng.standard_normal(n)
        post = np.round(pre + change, 1)
        if (post < 0).any():
            continue
        d = np.round(post - pre, 1)
        nonzero = d[d != 0]
        ranks = stats.rankdata(np.abs(nonzero))
        test = stats.wilcoxon(d, zero_method="wilcox", correction=False, method="asymptotic")
        rose = ranks[nonzero > 0].sum() > ranks[nonzero < 0].sum()
        accepted += bool(test.pvalue < published.SPSS_P_THRESHOLD and rose)
    return accepted / n_sets


def test_acceptance_by_assumed_effect_matches_an_independent_simulation():
    values = (-2.0, 7.0, 14.0)
    members, proposals = propose_reconstructions(
        "volume_ml", 240, 3, vary=[f"effect_ml={','.join(str(v) for v in values)}"]
    )
    assert len(members) == int(proposals.accepted.sum())
    for value in values:
        ours = proposals.loc[proposals.effect_ml == value, "accepted"]
        reference = _independent_acceptance(value, 400, seed=int(10 * value) + 100)
        p = max(reference, 0.02)
        tolerance = 4 * math.sqrt(p * (1 - p) * (1 / len(ours) + 1 / 400))
        assert len(ours) > 50
        assert abs(ours.mean() - reference) < tolerance, (value, ours.mean(), reference)
    # a fall is never accepted, however small its p (the independent simulation agrees)
    assert _independent_acceptance(-2.0, 400, seed=5) == 0.0
    assert not proposals.loc[proposals.effect_ml == -2.0, "accepted"].any()
    assert proposals.loc[proposals.effect_ml == -2.0, "fell"].mean() > 0.9
    assert all(theta["effect_ml"] != -2.0 for _, theta in members)


def test_too_few_accepted_is_an_error_that_names_the_fall():
    with pytest.raises(MilkbayesError, match=r"only 0 of 20 proposals.*FELL"):
        assumption_ensemble("volume_ml", 2, vary=["effect_ml=-3"], max_proposals=20)


# --------------------------------------------------------------------------- refits
@pytest.fixture(scope="module")
def varied():
    return assumption_ensemble(
        "volume_ml",
        8,
        4,
        vary=["effect_ml=11,24"],
        sampler=dataclasses.replace(FAST_SAMPLER, draws=100, tune=100),
    )


def test_ensemble_refits_track_the_data_and_name_the_driving_assumption(varied):
    table = varied.table
    assert len(table) == 8 and set(table.effect_ml) <= {11.0, 24.0}
    assert table.effect_ml.nunique() == 2  # both are accepted (24: ~100 %, 11: ~60 %)
    # the flagship's effect is the sample's average effect: near the mean change
    assert np.all(np.abs(table.effect_median - table.change_mean) < 2.5)
    # independent of the code: the JZS BF of each member from its t statistic
    from milkbayes.models.paired_change import jzs_log_bf10

    row = table.iloc[0]
    t = row.change_mean / (row.change_sd / math.sqrt(24))
    assert row.log10_bf10 == pytest.approx(jzs_log_bf10(t, 24) / math.log(10), rel=1e-9)
    spread = varied.extra_tables["spread"].set_index("quantity")
    assert spread.loc["effect_median", "source"] == "assumption-driven"
    assert spread.loc["effect_median", "driver"] == "effect_ml"
    assert spread.loc["effect_median", "driver_rho"] > 0.7
    assert spread.loc["effect_median", "low"] == pytest.approx(table.effect_median.min())
    assert varied.summary["varied"] == "effect_ml in {11, 24}"


def test_cli_ensemble_with_vary_and_refusal(capsys, varied):
    from milkbayes.cli import main

    code = main(["sensitivity", "ensemble", "--vary", "effect_ml=-2", "--k", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "FELL" in err and "Traceback" not in err
    argv = ["sensitivity", "ensemble", "--vary", "effect_ml=12,16", "--k", "2", "--json"]
    code = main([*argv, "--draws", "60", "--tune", "60", "--chains", "1", "--seed", "2"])
    out = capsys.readouterr()
    assert code == 0, out.err
    payload = json.loads(out.out)
    assert payload["analysis"] == "ensemble" and len(payload["table"]) == 2
    assert {r["source"] for r in payload["extra_tables"]["spread"]} >= {"assumption-driven"}
    assert main(["sensitivity", "ensemble", "--seeds-only", "--vary", "effect_ml=1:2"]) == 2


# --------------------------------------------------------------------------- the report
@pytest.fixture(scope="module")
def tiny_report(varied, tiny_bundled_report):
    """The shared tiny reanalysis of the bundled data (conftest), after ``varied`` compiled."""
    return tiny_bundled_report


def test_report_shows_the_ensemble_with_its_labels(tiny_report):
    html = tiny_report.html.read_text(encoding="utf-8")
    markdown = tiny_report.markdown.read_text(encoding="utf-8")
    ensemble = tiny_report.summary["ensemble"]
    assert ensemble["k"] == TINY.ensemble_k
    rows = {row["quantity"]: row for row in ensemble["rows"]}
    for quantity in ("effect_median", "p_effect_gt_mcid", "log10_bf10", "modifier_parity"):
        assert quantity in rows
    assert rows["n"]["source"] == "data-driven" and rows["delta"]["source"] == "data-driven"
    assert rows["effect_median"]["source"] == "assumption-driven"
    # with 3 members the driver is any of the posterior's assumptions, named by its label
    from milkbayes.sensitivity.ensemble import ASSUMPTION_LABELS

    assert rows["effect_median"]["driver"] in ASSUMPTION_LABELS.values()
    # the worked example is the data analysed above: the reference prior's median
    neutral = next(p for p in tiny_report.summary["bayes"]["priors"] if p["prior"] == "neutral")
    assert rows["effect_median"]["worked_example"] == neutral["median"]
    for page in (html, markdown):
        assert "assumption-driven" in page and "data-driven" in page
        assert "Worked example" in page or "worked example" in page
        assert "Across reconstructions" in page
    assert 'id="ensemble-table"' in html and 'id="worked-example-bayes"' in html
    assert 'class="badge badge-assumption"' in html and 'class="badge badge-data"' in html
    assert "figures/ensemble.png" in markdown


def test_report_sensitivity_has_no_raw_key_dumps(tiny_report):
    html = tiny_report.html.read_text(encoding="utf-8")
    markdown = tiny_report.markdown.read_text(encoding="utf-8")
    sensitivity = markdown[markdown.index("## 7. Sensitivity") :]
    for page in (html, sensitivity):
        for key in ("n_sim", "p_threshold", "critical_w_plus", "bf_log_bf10_default"):
            assert key not in page
        assert "20000.000" not in page and "2000.000" not in page
    # "key: value" lines of the old dump (e.g. "- n_sim: 2000.000")
    assert not re.search(r"^- [a-z0-9]+(_[a-z0-9]+)+: ", sensitivity, re.M)
    threshold = f"{published.SPSS_P_THRESHOLD:g}"
    assert threshold == "0.0005"
    assert f"| published bound on p (SPSS prints 0.000 below it) | {threshold} |" in sensitivity
    assert 'bound on p (SPSS prints 0.000 below it)</th><td class="num">0.0005<' in html
    # Bayes factors: the natural log is labelled as such, with its base-10 log beside it
    assert "ln BF10 = " in sensitivity and "log10 BF10 = " in sensitivity
    assert "From n = 24 and p &lt; 0.0005 alone" in sensitivity


def test_report_ensemble_members_are_draws_of_the_headline_posterior(tiny_report):
    """One posterior: every member's assumptions are one accepted row of the headline's ABC."""
    from milkbayes.reanalysis.headline import headline_posterior

    posterior = headline_posterior(fast=TINY.sensitivity_fast)
    summary = tiny_report.summary
    # the headline summarises this very posterior
    assert summary["published_facts"]["n_proposals"] == posterior.n_proposals
    assert summary["published_facts"]["delta_median"] == pytest.approx(
        float(np.median(posterior.draws["delta"]))
    )
    draws = posterior.draws
    columns = ("delta", "pre_median_ml", "change_sd_ml", "effect_ml", "primipara_modifier_ml")
    matched = set()
    for member in summary["ensemble"]["members"]:
        hit = np.ones(len(draws), dtype=bool)
        for column in columns:
            hit &= np.isclose(draws[column].to_numpy(), member[column], rtol=0, atol=1e-12)
        assert hit.sum() == 1, member
        row = int(np.flatnonzero(hit)[0])
        assert draws.iloc[row]["scenario"] == "volume_ml"
        matched.add(row)
    assert len(matched) == TINY.ensemble_k
    ensemble = summary["ensemble"]
    assert ensemble["n_proposals"] == int((posterior.prior_scenario == "volume_ml").sum())
    assert ensemble["n_accepted"] == int((draws["scenario"] == "volume_ml").sum())
    assert "reconstruction posterior behind the headline" in ensemble["varied"]
    for page in (tiny_report.html, tiny_report.markdown):
        assert "reconstruction posterior behind the headline" in page.read_text(encoding="utf-8")


def test_members_from_the_abc_posterior_match_the_paper_and_carry_their_assumptions():
    pytest.importorskip("milkbayes.reconstruction")
    from milkbayes.datasets import check_constraints
    from milkbayes.sensitivity.ensemble import abc_members

    members, table = abc_members("volume_ml", 3, n_proposals=3000, seed=4)
    assert len(members) == 3 and "mean_change_ml" not in table.columns
    for study, theta in members:
        check = check_constraints(study)
        assert check.satisfied and check.spss_z > 0
        assert theta["effect_ml"] == pytest.approx(study.provenance["assumptions"]["effect_ml"])


def test_reanalyze_prints_the_worked_example_as_one_reconstruction(tiny_report, capsys):
    from milkbayes.cli import main
    from milkbayes.cli.report_commands import _ensemble_json, _ensemble_lines

    lines = _ensemble_lines(tiny_report.summary["ensemble"])
    assert "ONE reconstruction" in lines[0] and "ASSUMPTION-DRIVEN" in lines[1]
    effect = next(
        r for r in tiny_report.summary["ensemble"]["rows"] if r["quantity"] == "effect_median"
    )
    assert f"range [{effect['low']:.2f}, {effect['high']:.2f}]" in lines[1]
    assert _ensemble_json(None) is None and _ensemble_lines(None) == []
    assert main(["reanalyze", "--ensemble-k", "1", "--out", "unused"]) == 2
    assert "--ensemble-k must be 0 (off) or >= 2" in capsys.readouterr().err
