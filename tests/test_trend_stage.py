"""The prior on the change without massage: a stage's natural trend + regression to the mean.

Checked against values worked out independently: the regression-to-the-mean closed form
of :mod:`milkbayes.simulate.rtm` (Barnett et al. 2005, written with the measurement
error instead of a reliability), a simulation of selective enrolment with a known rise,
the sum of independent normals (and a Monte Carlo of the two-point mixture it stands
for), the literature's quoted numbers (Kent et al. 2006: 12.6 / 76.0 g), and the data's
SD and correlation recomputed with scipy. End to end: ``reanalyze --stage`` on data
whose own stage is unknown, the bundled report (the paper's stage by default), and bad
``--stage`` values as one line with exit status 2.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes.cli import main
from milkbayes.errors import EXIT_USER_ERROR, PriorError
from milkbayes.sensitivity.bias import (
    RTM_P_SELECTED,
    TREND_PRIORS,
    bias_analysis,
    nonmassage_prior,
    resolve_stage,
    rtm_if_selected,
    rtm_prior,
    with_stage_trend,
)

KENT_CV = 12.6 / 76.0  # SD / mean of one feed in established lactation (Kent et al. 2006)
SAINT_RISE = 705.4 / 408.0 - 1.0  # 24-h yield day 3 -> day 5 (Saint et al. 1984)


# ------------------------------------------------------------------ regression to the mean
@pytest.mark.parametrize("cutoff", [10.0, 8.0, 13.0])
def test_rtm_closed_form_equals_the_simulation_modules(cutoff):
    """(1 - rho) sd phi(a)/Phi(a) == simulate.rtm's sigma_m^2/sigma_p phi(a)/Phi(a)."""
    from milkbayes.simulate.dgp import DGPSettings
    from milkbayes.simulate.rtm import expected_rtm_change

    settings = DGPSettings(
        distribution="normal",
        effect=0.0,
        trend=0.0,
        baseline_mean=10.0,
        between_sd=4.0,
        measurement_sd=3.0,
    )
    sd_pre = math.hypot(4.0, 3.0)
    reliability = 4.0**2 / sd_pre**2
    share = stats.norm.cdf((cutoff - 10.0) / sd_pre)
    assert rtm_if_selected(sd_pre, reliability, share) == pytest.approx(
        expected_rtm_change(settings, cutoff), rel=1e-12
    )
    assert rtm_if_selected(sd_pre, reliability, 1.0) == 0.0  # no selection, no rise


def test_rtm_prior_recovers_the_rise_of_a_simulated_selective_enrolment():
    """Known truth: mothers below the median enrolled, no effect, no trend.

    Only the enrolled mothers are seen; the estimate corrects their SD and correlation
    for the selection and must find the rise they show, the population's SD of pre
    (5) and its reliability (16/25).
    """
    rng = np.random.default_rng(19)
    true = rng.normal(10.0, 4.0, 400_000)
    pre = true + rng.normal(0.0, 3.0, true.size)
    post = true + rng.normal(0.0, 3.0, true.size)
    enrolled = pre < 10.0  # the population median: share 0.5
    observed_rise = float(np.mean(post[enrolled] - pre[enrolled]))
    term = rtm_prior(pre[enrolled], post[enrolled], p_selected=1.0, selected_share=0.5)
    assert observed_rise == pytest.approx(3.0**2 / 5.0 * math.sqrt(2 / math.pi), abs=0.02)
    assert term.if_selected == pytest.approx(observed_rise, abs=0.03)
    assert term.reliability == pytest.approx(16.0 / 25.0, abs=0.01)
    assert term.sd_pre_population == pytest.approx(5.0, abs=0.03)
    assert (term.mean, term.sd) == (pytest.approx(term.if_selected), 0.0)  # certain selection


def test_rtm_term_on_the_bundled_data_from_its_sd_and_correlation(bundled_study):
    pre = bundled_study.table["pre"].to_numpy(float)
    post = bundled_study.table["post"].to_numpy(float)
    r = stats.pearsonr(pre, post)[0]
    # below the median: the truncated normal keeps 1 - 2/pi of the variance
    u = 1.0 / math.sqrt(1.0 - 2.0 / math.pi)
    rho = r * u / math.sqrt(1.0 - r**2 + (r * u) ** 2)
    rise = (1.0 - rho) * stats.tstd(pre) * u * math.sqrt(2.0 / math.pi)
    term = rtm_prior(pre, post)
    assert term.if_selected == pytest.approx(rise, rel=1e-9)
    # a two-point mixture, 0 or the rise with probability 1/2 each: mean and SD rise / 2
    assert RTM_P_SELECTED == 0.5
    assert (term.mean, term.sd) == (pytest.approx(rise / 2), pytest.approx(rise / 2))


def test_rtm_prior_refuses_data_it_cannot_use():
    with pytest.raises(PriorError, match="vary"):
        rtm_prior([5.0, 5.0, 5.0], [6.0, 7.0, 8.0])
    with pytest.raises(PriorError, match="at least 3"):
        rtm_prior([5.0, 6.0], [6.0, 7.0])


# ------------------------------------------------------------------ the combined prior
def test_combined_prior_is_the_sum_of_independent_normals(bundled_study):
    pre = bundled_study.table["pre"].to_numpy(float)
    prior = nonmassage_prior(bundled_study, "established")
    assert prior.stage == "established"
    assert (prior.trend.mean, prior.trend.sd) == (0.0, pytest.approx(KENT_CV * pre.mean()))
    assert prior.combined.mean == pytest.approx(prior.trend.mean + prior.rtm.mean)
    assert prior.combined.sd == pytest.approx(math.sqrt(prior.trend.sd**2 + prior.rtm.sd**2))
    # what the normal stands for: the trend plus a 50:50 mixture of 0 and the rise
    rng = np.random.default_rng(5)
    n = 1_000_000
    draws = rng.normal(0.0, prior.trend.sd, n) + prior.rtm.if_selected * (rng.random(n) < 0.5)
    assert draws.mean() == pytest.approx(prior.combined.mean, abs=5 * draws.std() / math.sqrt(n))
    assert draws.std() == pytest.approx(prior.combined.sd, rel=5e-3)
    early = nonmassage_prior(bundled_study, "early")
    assert early.trend.mean == pytest.approx(SAINT_RISE * pre.mean())
    assert early.combined.mean == pytest.approx(SAINT_RISE * pre.mean() + prior.rtm.mean)
    none = nonmassage_prior(bundled_study, "none")
    assert none.rtm is None and none.combined.mean == TREND_PRIORS["volume"].mean == 3.0


def test_resolve_stage(bundled_study, small_study):
    from milkbayes.datasets import load_bundled

    assert resolve_stage(bundled_study) == "established"  # the paper's working mothers
    assert resolve_stage(small_study) is None  # no stage stated for other data
    assert resolve_stage(small_study, "Early") == "early"
    assert resolve_stage(load_bundled("score")) is None
    with pytest.raises(PriorError, match="for volumes"):
        resolve_stage(load_bundled("score"), "established")
    with pytest.raises(PriorError, match="unknown stage"):
        resolve_stage(bundled_study, "late")


def test_bias_analysis_subtracts_the_combined_prior(bundled_study, paired_fit):
    result = bias_analysis(bundled_study, fit_result=paired_fit, mcid=10.0)  # stage auto
    prior = nonmassage_prior(bundled_study, "established")
    summary = result.summary
    assert summary["trend_stage"] == "established"
    assert summary["trend_mean"] == pytest.approx(prior.combined.mean)
    assert summary["trend_sd"] == pytest.approx(prior.combined.sd)
    assert summary["natural_trend_sd"] == pytest.approx(prior.trend.sd)
    assert summary["rtm_mean"] == pytest.approx(prior.rtm.mean)
    # P(mu - T > 0) by Monte Carlo over the posterior draws and the prior of T
    draws = np.asarray(paired_fit.tree["posterior"]["effect"]).ravel()
    rng = np.random.default_rng(3)
    t = rng.normal(prior.combined.mean, prior.combined.sd, (200, draws.size))
    assert summary["p_effect_gt_mcid"] == pytest.approx(np.mean(draws - t > 10.0), abs=0.01)
    assert any("regression to the mean" in note and "Kent" in note for note in result.notes)
    old = bias_analysis(bundled_study, fit_result=paired_fit, mcid=10.0, stage="none")
    assert (old.summary["trend_mean"], old.summary["trend_sd"]) == (3.0, 3.0)
    assert "rtm_mean" not in old.summary


# ------------------------------------------------------------------ fit: the trend parameter
def _two_arm_study():
    from milkbayes.data.study import study_from_frame

    rng = np.random.default_rng(2)
    pre = rng.normal(9.0, 3.0, 20).round(1)
    frame = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(20)],
            "pre": pre,
            "post": (pre + rng.normal(4.0, 3.0, 20)).round(1),
            "group": ["massage"] * 10 + ["control"] * 10,
        }
    )
    return study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})


def test_fit_stage_sets_the_trend_prior_of_the_two_arm_model():
    import pymc as pm

    from milkbayes.models import two_arm
    from milkbayes.models.priors import get_prior

    study = _two_arm_study()
    neutral = get_prior("neutral", study.outcome, "two_arm")
    staged = with_stage_trend(neutral, study, "established")
    prior = nonmassage_prior(study, "established")
    assert staged.values["trend_mu"] == pytest.approx(prior.combined.mean)
    assert staged.values["trend_sigma"] == pytest.approx(prior.combined.sd)
    assert {k: v for k, v in staged.values.items() if not k.startswith("trend")} == {
        k: v for k, v in neutral.values.items() if not k.startswith("trend")
    }
    assert with_stage_trend(neutral, study, "auto") is neutral  # no stage stated
    model = two_arm.build(two_arm.inputs(study), staged)
    with model:
        assert float(pm.draw(model["prior_trend_sigma"])) == pytest.approx(prior.combined.sd)
    paired = get_prior("neutral", study.outcome, "paired_change")
    with pytest.raises(PriorError, match="no natural-trend parameter"):
        with_stage_trend(paired, study, "established")


def test_fit_stage_on_a_one_group_model_is_one_line_exit_2(capsys, tmp_path):
    out = tmp_path / "run"
    code = main(["fit", "paired_change", "--stage", "established", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR == 2
    assert "no natural-trend parameter" in err and err.count("\n") == 1
    assert not out.exists()


# ------------------------------------------------------------------ reanalyze
def test_bundled_report_names_the_stage_and_the_rtm_term(tiny_bundled_report, bundled_study):
    summary = tiny_bundled_report.summary
    prior = nonmassage_prior(bundled_study, "established")
    assert summary["settings"]["trend_stage"] == "established"  # auto: the paper's stage
    rows = {row["name"]: row for row in summary["prior_sources"]["rows"]}
    assert rows["natural trend"]["what"].startswith(f"Normal(0.00, {prior.trend.sd:.2f}) ml")
    assert "established lactation" in rows["natural trend"]["what"]
    assert "Kent et al. 2006" in rows["natural trend"]["source"]
    assert (
        f"Normal({prior.rtm.mean:.2f}, {prior.rtm.sd:.2f}) ml"
        in (rows["regression to the mean"]["what"])
    )
    assert "Barnett" in rows["regression to the mean"]["source"]
    combined = rows["change without massage (bias analysis)"]["what"]
    assert combined.startswith(f"Normal({prior.combined.mean:.2f}, {prior.combined.sd:.2f}) ml")
    bias = next(item for item in summary["sensitivity"] if item["name"] == "bias")
    assert bias["summary"]["trend_sd"] == pytest.approx(prior.combined.sd)
    markdown = tiny_bundled_report.markdown.read_text(encoding="utf-8")
    assert "| regression to the mean |" in markdown
    assert "its regression-to-the-mean part: prior mean" in markdown


def test_reanalyze_stage_option_end_to_end(bundled_study, tmp_path, capsys, monkeypatch):
    """Data with no stated stage (auto: none) analysed as established lactation.

    ``--fast`` runs the tiny settings of the other report tests (the CLI reads
    ``pipeline.FAST`` when it runs): the numbers are not checked, the wiring is.
    """
    import dataclasses

    from _small_runs import TINY
    from milkbayes.reanalysis import pipeline

    monkeypatch.setattr(pipeline, "FAST", dataclasses.replace(TINY, reloo=False, ensemble_k=0))
    data = tmp_path / "volumes.csv"
    bundled_study.table[["id", "pre", "post"]].to_csv(data, index=False)
    out = tmp_path / "report"
    code = main(
        [
            "reanalyze",
            "--data",
            str(data),
            "--kind",
            "volume",
            "--unit",
            "ml",
            "--fast",
            "--stage",
            "established",
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    assert payload["trend_stage"] == "established"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["schema_version"] == "1.3"
    prior = nonmassage_prior(bundled_study, "established")
    bias = next(item for item in summary["sensitivity"] if item["name"] == "bias")["summary"]
    assert bias["trend_stage"] == "established"
    assert bias["rtm_mean"] == pytest.approx(prior.rtm.mean)
    assert bias["natural_trend_sd"] == pytest.approx(prior.trend.sd)
    for page in ("report.md", "report.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert "established lactation" in text and "regression to the mean" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--stage", "late"], "--stage must be one of"),
        (["--scenario", "score", "--stage", "established"], "for volumes"),
    ],
)
def test_bad_stage_is_one_line_exit_2_and_nothing_written(arguments, message, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["reanalyze", "--fast", *arguments, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--stage", "late"], "--stage must be one of"),
        (["--scenario", "score", "--stage", "early"], "for volumes"),
    ],
)
def test_sensitivity_bias_bad_stage_is_one_line_exit_2(arguments, message, capsys):
    code = main(["sensitivity", "bias", *arguments])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
