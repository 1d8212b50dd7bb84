"""The direction of benefit: "lower is better" outcomes, checked independently.

Effects keep the outcome's sign (post - pre); with ``benefit = "decrease"`` the
priors are calibrated on -MCID and P(benefit) = P(effect < 0). Checked against
scipy's normal and Cauchy distributions (the priors' calibration), the posterior
draws themselves (P(benefit) = 1 - P(effect > 0)) and a mirror image of the data
(post' = -post, pre' = -pre, direction flipped), which must give the mirrored
answers. Also the literature prior's scope (milk volume after oxytocin massage only).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACUPUNCTURE = ROOT / "tests/data/acupuncture_vickers2004.csv"
ACUPUNCTURE_STUDY = ROOT / "tests/data/acupuncture_vickers2004.toml"
SLEEP = ROOT / "tests/data/sleep_student1908.csv"


@pytest.fixture(scope="module")
def acupuncture():
    from milkbayes.data import load_study

    return load_study(ACUPUNCTURE, description=ACUPUNCTURE_STUDY, complete_case=True)


def test_the_acupuncture_description_says_lower_is_better(acupuncture):
    assert acupuncture.description.benefit == "decrease"
    assert acupuncture.outcome.benefit == "decrease"
    # effects keep their sign: the acupuncture arm's mean change is a fall
    frame = pd.read_csv(ACUPUNCTURE).dropna()
    treated = frame[frame["group"] == 1]
    assert (treated["pk5"] - treated["pk1"]).mean() < 0


@pytest.mark.parametrize("model", ["ancova", "two_arm", "prepost_hierarchical"])
def test_normal_triad_is_calibrated_on_minus_mcid_for_a_fall(acupuncture, model):
    from milkbayes.models.priors import ANCHORS, get_prior

    mcid = ANCHORS["continuous"].mcid  # the priors' scale: SDs of pre
    probability = {}
    for name in ("skeptical", "neutral", "enthusiastic"):
        values = get_prior(name, acupuncture.outcome, model).values
        prior = stats.norm(values["effect_mu"], values["effect_sigma"])
        probability[name] = (prior.cdf(-mcid), prior.sf(0.0))  # benefit > MCID, harm
    assert probability["enthusiastic"][0] == pytest.approx(0.50, abs=1e-12)
    assert probability["enthusiastic"][1] == pytest.approx(0.05, abs=1e-12)
    assert probability["skeptical"][0] == pytest.approx(0.05, abs=1e-12)
    assert probability["neutral"][1] == pytest.approx(0.50, abs=1e-12)


def test_cauchy_triad_on_delta_is_mirrored_for_a_fall(acupuncture):
    from milkbayes.models.priors import DELTA_MCID, get_prior

    values = get_prior("enthusiastic", acupuncture.outcome, "paired_change").values
    prior = stats.cauchy(values["delta_loc"], values["delta_scale"])
    assert prior.cdf(-DELTA_MCID) == pytest.approx(0.50, abs=1e-12)
    assert prior.sf(0.0) == pytest.approx(0.05, abs=1e-12)
    sceptic = get_prior("skeptical", acupuncture.outcome, "signed_rank").values
    assert stats.cauchy(sceptic["delta_loc"], sceptic["delta_scale"]).cdf(
        -DELTA_MCID
    ) == pytest.approx(0.05, abs=1e-12)


def test_the_beliefs_state_the_benefit_side(acupuncture):
    from milkbayes.models.priors import get_prior

    beliefs = get_prior("enthusiastic", acupuncture.outcome, "ancova").beliefs
    assert beliefs[0] == "P(effect < -0.5 SD of pre) = 50.0 %"
    assert beliefs[1] == "P(effect > 0) = 5.0 %"


def test_the_default_direction_leaves_every_named_prior_unchanged():
    from milkbayes.data import Outcome
    from milkbayes.models.priors import _delta_cauchy, _effect_normal, get_prior
    from milkbayes.models.registry import MODEL_NAMES

    # the default-direction numbers are the formulas written before the direction
    # existed: enthusiast at +MCID, sceptic and neutral at 0
    assert _effect_normal("enthusiastic", 2.0) == (2.0, 2.0 / stats.norm.ppf(0.95))
    assert _delta_cauchy("enthusiastic")[0] == 0.5
    for model in MODEL_NAMES:
        for name in ("skeptical", "neutral", "enthusiastic"):
            up = get_prior(name, Outcome("continuous"), model).values
            down = get_prior(name, Outcome("continuous", benefit="decrease"), model).values
            assert up.keys() == down.keys()
            for key, value in up.items():
                # only the location keys of the effect flip, and only the enthusiast's
                flips = name == "enthusiastic" and key in ("effect_mu", "delta_loc")
                assert down[key] == (-value if flips else value), (model, name, key)


def test_probabilities_of_benefit_mirror_the_draws():
    from milkbayes.comparison import three_prior_table

    x = np.random.default_rng(3).normal(-1.0, 2.0, 40_001)
    up = three_prior_table({"p": -x}, mcid=1.5, rope=(-1.5, 1.5))[0]
    down = three_prior_table({"p": x}, mcid=1.5, rope=(-1.5, 1.5), benefit="decrease")[0]
    assert down.p_benefit == pytest.approx(np.mean(x < 0), abs=0) == up.p_benefit
    assert down.p_benefit_gt_mcid == pytest.approx(np.mean(x < -1.5), abs=0)
    assert down.p_benefit_gt_mcid == up.p_benefit_gt_mcid
    assert down.p_gt_0 == pytest.approx(1 - down.p_benefit, abs=1e-12)  # no draw is exactly 0
    assert up.p_benefit == up.p_gt_0 and up.p_benefit_gt_mcid == up.p_gt_mcid


def _fit(study, seed=5):
    from milkbayes.engine.fit import fit

    return fit(
        "paired_change",
        study,
        prior="enthusiastic",
        mcid=0.4,
        draws=1000,
        tune=400,
        chains=2,
        seed=seed,
        log_likelihood=False,
        posterior_predictive=False,
    )


@pytest.fixture(scope="module")
def mirrored_fits():
    """Small data where the enthusiastic prior matters, and their mirror image."""
    from milkbayes.data import Outcome
    from milkbayes.data.study import study_from_frame

    rng = np.random.default_rng(20)
    pre = rng.normal(10.0, 2.0, 8)
    post = pre + rng.normal(0.3, 1.0, 8)
    ids = [f"m{i}" for i in range(8)]
    up = study_from_frame(
        pd.DataFrame({"id": ids, "pre": pre, "post": post}), outcome=Outcome("continuous")
    )
    down = study_from_frame(
        pd.DataFrame({"id": ids, "pre": -pre, "post": -post}),
        outcome=Outcome("continuous", benefit="decrease"),
    )
    return _fit(up), _fit(down)


def test_p_benefit_is_read_from_the_posterior_draws(mirrored_fits):
    _, down = mirrored_fits
    draws = np.asarray(down.tree["posterior"]["effect"].values, dtype=float).ravel()
    assert down.summary["benefit"] == "decrease"
    assert down.summary["p_benefit"] == pytest.approx(1.0 - np.mean(draws > 0), abs=1e-12)
    assert down.summary["p_benefit_gt_mcid"] == pytest.approx(np.mean(draws < -0.4), abs=1e-12)
    assert down.summary["p_effect_gt_0"] == pytest.approx(np.mean(draws > 0), abs=1e-12)


def test_a_mirrored_dataset_gives_the_mirrored_answers(mirrored_fits):
    up, down = mirrored_fits
    a, b = up.summary, down.summary
    # Monte Carlo error of a probability from 2000 draws: at most 0.5/sqrt(ESS ~ 800)
    assert b["p_benefit"] == pytest.approx(a["p_benefit"], abs=0.06)
    assert b["p_benefit_gt_mcid"] == pytest.approx(a["p_benefit_gt_mcid"], abs=0.06)
    assert b["effect_median"] == pytest.approx(-a["effect_median"], abs=0.15)
    # the prior pulls each towards its own benefit side: a sign error would put
    # the mirrored enthusiast on the harm side and move P(benefit) far away
    assert a["p_benefit"] > 0.7 and b["p_effect_gt_0"] < 0.3


def test_a_wrong_direction_in_the_toml_or_the_option_is_one_line_exit_2(tmp_path, capsys):
    from milkbayes.data.study_description import parse_study_description
    from milkbayes.errors import DataError

    with pytest.raises(DataError, match="study.benefit must be one of increase, decrease"):
        parse_study_description('[study]\ntitle = "x"\nbenefit = "down"\n', "s.toml")
    for argv in (
        ["wilcoxon", "--data", str(SLEEP), "--benefit", "sideways"],
        ["wilcoxon", "--benefit", "decrease"],  # the bundled data: more milk is better
    ):
        assert main(argv) == 2
        _, err = capsys.readouterr()
        assert len(err.strip().splitlines()) == 1 and "--benefit" in err and "Traceback" not in err


def test_the_option_is_case_insensitive_and_wins_over_the_description(capsys):
    from milkbayes.cli.data_options import DataOptions

    options = DataOptions(
        data=ACUPUNCTURE, study=ACUPUNCTURE_STUDY, complete_case=True, benefit="increase"
    )
    assert options.load().outcome.benefit == "increase"
    assert main(["data", "validate", str(SLEEP), "--benefit", "DECREASE"]) == 0
    capsys.readouterr()


# ----------------------------------------------------------------------------- literature
def test_the_literature_prior_is_only_for_milk(acupuncture):
    from milkbayes.datasets import load_bundled
    from milkbayes.models.priors import literature_reason
    from milkbayes.reanalysis.pipeline import _literature_prior_or_reason

    prior, reason = _literature_prior_or_reason(acupuncture, "ancova")
    assert prior is None
    assert reason.startswith("the literature prior is about breast-milk volume after oxytocin")
    assert "headache score points" in reason
    assert literature_reason(load_bundled("volume_ml")) == ""
    # a study that declares its outcome is milk after oxytocin massage gets it
    description = replace(acupuncture.description, literature="oxytocin-massage")
    prior, reason = _literature_prior_or_reason(replace(acupuncture, description=description))
    assert prior is not None and reason == ""


def test_fit_prior_literature_on_a_headache_score_is_one_line_exit_2(capsys):
    argv = ["fit", "ancova", "--data", str(ACUPUNCTURE), "--study", str(ACUPUNCTURE_STUDY)]
    assert main([*argv, "--complete-case", "--prior", "literature"]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "breast-milk volume" in err


def test_fit_prints_and_returns_p_benefit_for_a_fall(capsys, tmp_path):
    import json

    argv = ["fit", "paired_change", "--data", str(SLEEP), "--benefit", "Decrease"]
    argv += ["--draws", "300", "--tune", "300", "--chains", "2", "--seed", "2", "--mcid", "0.5"]
    assert main([*argv, "--json", "--out", str(tmp_path / "a")]) in (0, 3)
    payload = json.loads(capsys.readouterr().out)
    assert payload["benefit"] == "decrease"
    # the sleep data rose (9 of 10 patients slept longer): a fall is unlikely
    assert payload["p_benefit"] == pytest.approx(1.0 - payload["p_effect_gt_0"], abs=1e-12)
    assert payload["p_benefit"] < 0.05
    assert main([*argv, "--out", str(tmp_path / "b")]) in (0, 3)
    out = capsys.readouterr().out
    assert "P(benefit) = P(effect < 0)" in out and "P(benefit > MCID) = P(effect < -0.5)" in out


def test_bias_tipping_points_of_a_fall_match_the_normal_closed_form():
    from milkbayes.sensitivity.bias import TrendPrior, benefit_side

    m, sd, s, mcid = -10.0, 2.0, 1.5, 4.0
    draws = stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000, m, sd)  # mu ~ N(m, sd^2)
    side = benefit_side(draws, TrendPrior(-1.0, s, "points", ""), mcid, 0.95, 0.5)
    total = np.hypot(sd, s)
    # P(mu - T < -a) = Phi((t - m - a) / total) = p  =>  t* = m + a + z_p * total
    assert side["tipping_point_p_benefit"] == pytest.approx(
        m + stats.norm.ppf(0.95) * total, abs=2e-3
    )
    assert side["tipping_point_p_benefit_gt_mcid"] == pytest.approx(m + mcid, abs=2e-3)
    assert side["p_benefit"] == pytest.approx(stats.norm.cdf((-1.0 - m) / total), abs=1e-4)
    assert side["p_benefit_gt_mcid"] == pytest.approx(
        stats.norm.cdf((-1.0 - m - mcid) / total), abs=1e-4
    )
    assert side["naive_p_benefit"] == pytest.approx(stats.norm.cdf(-m / sd), abs=1e-4)


def test_the_bias_highlight_of_a_fall_speaks_of_a_natural_fall():
    from milkbayes.report.formatting import sensitivity_sentence

    summary = {
        "benefit": "decrease",
        "tipping_point_p_benefit": -6.3,
        "tipping_point_p_benefit_gt_mcid": 1.0,
        "prob_positive_threshold": 0.95,
        "prob_mcid_threshold": 0.5,
    }
    text = sensitivity_sentence({"name": "bias", "summary": summary}, "points")
    assert text.startswith("A natural fall of 6.30 points, with no treatment effect")
    assert "P(benefit > MCID) is below 0.5 even with no natural fall" in text


@pytest.mark.slow
def test_one_group_reanalyze_of_a_fall(tmp_path):
    """A one-group report with --benefit decrease: P(benefit) beside P(effect > 0)."""
    import json

    out = tmp_path / "report"
    argv = ["reanalyze", "--data", str(SLEEP), "--benefit", "decrease", "--fast"]
    assert main([*argv, "--draws", "150", "--seed", "4", "--out", str(out)]) in (0, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bayes"]["benefit"] == "decrease"
    frame = pd.read_csv(SLEEP)
    # the sleep data rose: under the weak prior a fall (the benefit here) is unlikely,
    # as the paired t-test's one-sided p (0.0014) says
    neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
    assert neutral["p_benefit"] == pytest.approx(1.0 - neutral["p_gt_0"], abs=1e-12)
    one_sided = stats.ttest_rel(frame["post"], frame["pre"], alternative="less").pvalue
    assert one_sided > 0.99 and neutral["p_benefit"] < 0.05
    labels = [r["bayesian_label"] for r in summary["bayes"]["freq_vs_bayes"]]
    assert "P(benefit) = P(effect < 0)" in labels
    text = (out / "report.md").read_text()
    assert "| outcome | continuous (hours), lower is better |" in text
    assert text.count("**Lower is better.**") == 2  # the prior table and the highlights
    bias = next(item for item in summary["sensitivity"] if item["name"] == "bias")
    assert bias["summary"]["benefit"] == "decrease"
    # the data rose, so P(effect < 0) is small before any natural change is assumed
    assert bias["summary"]["tipping_point_p_benefit"] > 0
    assert "P(benefit) = P(effect &lt; 0) is below 0.95 even with no natural fall" in text
