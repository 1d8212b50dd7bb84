"""Real and example pre/post data through the command line, checked independently.

- ``tests/data/sleep_student1908.csv``: Student's (1908) sleep data (R's
  ``datasets::sleep``): extra hours of sleep of 10 patients under two drugs, a paired
  one-group design, public domain by age. Typed from Student's table; the typing is
  checked against the summaries R documents for ``t.test(extra ~ group, data = sleep,
  paired = TRUE)``: mean difference 1.58, t = 4.0621, df = 9, p = 0.002833.
- ``tests/data/acupuncture_vickers2004.csv``: the acupuncture-for-chronic-headache
  trial (Vickers et al. 2004, BMJ 328:744), a randomised two-arm pre/post study whose
  raw data Vickers (2006, Trials 7:15) released under CC BY 2.0: 401 patients, the
  headache score at baseline (``pk1``) and at 12 months (``pk5``, missing for 100),
  the arm and four baseline covariates. Its sidecar and study description
  (``acupuncture_vickers2004.csv.json``, ``.toml``) give source, licence and columns.
  The copy is checked against the published trial: 401 randomised (205/196), 301
  with a 12-month score (161/140), their means and SDs (16.2, 13.7; 22.3, 17.0), the
  34 % and 16 % reductions from baseline, and the adjusted difference 4.6 (95 % CI
  2.2 to 7.0, p = 0.0002), which least squares on baseline, age, sex, diagnosis and
  chronicity reproduces (4.64, 2.20 to 7.08, p = 0.00022; the published upper limit
  is 0.08 lower, a detail of the published model the paper does not give). The
  end-to-end test reads it complete-case, as the trial's primary analysis did.
- ``examples/my_study.csv``: the README's example of a user's file, simulated with a
  control arm (Indonesian column names and labels, mapped by ``examples/my_study.toml``),
  checked against statsmodels' OLS ANCOVA and scipy's tests on the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes.cli import main

ROOT = Path(__file__).resolve().parents[1]
SLEEP = ROOT / "tests/data/sleep_student1908.csv"
EXAMPLE = ROOT / "examples/my_study.csv"
EXAMPLE_STUDY = ROOT / "examples/my_study.toml"


def run_json(capsys, *argv: str) -> dict:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code in (0, 3), err  # 3: the short fast-mode chains may fail a diagnostic
    return json.loads(out)


# ----------------------------------------------------------------------------- sleep
def test_sleep_typing_matches_the_published_summaries():
    frame = pd.read_csv(SLEEP)
    change = frame["post"] - frame["pre"]
    t = stats.ttest_rel(frame["post"], frame["pre"])
    assert change.mean() == pytest.approx(1.58, abs=1e-12)
    assert t.statistic == pytest.approx(4.0621, abs=5e-5) and t.df == 9
    assert t.pvalue == pytest.approx(0.002833, abs=5e-7)
    # group means of R's documentation: 0.75 and 2.33 hours
    assert frame["pre"].mean() == pytest.approx(0.75) and frame["post"].mean() == pytest.approx(
        2.33
    )


def test_sleep_reproduce_matches_scipy(capsys):
    payload = run_json(capsys, "reproduce", "--data", str(SLEEP), "--json")
    frame = pd.read_csv(SLEEP)
    change = (frame["post"] - frame["pre"]).to_numpy()
    exact = payload["wilcoxon_exact"]
    # one patient has no change (dropped, Wilcoxon's zero rule): 9 increases, p = 2/2**9
    assert exact["p_value"] == pytest.approx(2 / 2**9, rel=1e-12)
    assert exact["p_value"] == pytest.approx(
        stats.wilcoxon(change, zero_method="wilcox", method="exact").pvalue, rel=1e-12
    )
    assert payload["paired_t_test"]["t"] == pytest.approx(4.062127683, rel=1e-9)
    assert payload["audit"] == []  # no study description: no paper to audit against


@pytest.mark.slow
def test_sleep_reanalyze_end_to_end(capsys, tmp_path):
    out = tmp_path / "report"
    payload = run_json(
        capsys,
        "reanalyze",
        "--data",
        str(SLEEP),
        "--fast",
        "--draws",
        "200",
        "--out",
        str(out),
        "--json",
    )
    summary = json.loads(Path(payload["summary"]).read_text())
    frame = pd.read_csv(SLEEP)
    change = (frame["post"] - frame["pre"]).to_numpy()
    assert summary["reproduction"]["p_exact"] == pytest.approx(
        stats.wilcoxon(change, method="exact").pvalue, rel=1e-12
    )
    rows = {r["frequentist_label"]: r for r in summary["bayes"]["freq_vs_bayes"]}
    assert rows["mean change"]["frequentist_value"] == pytest.approx(1.58)
    assert summary["study"] is None and summary["design"]["design"] == "one_group"
    text = (out / "report.md").read_text()
    assert text.startswith(f"# Pre/post study {SLEEP}")
    assert "Oxytocin" not in text and "Kubu Raya" not in text and "husband" not in text


# ----------------------------------------------------------------------------- two arms
def exact_signed_rank_p(change: np.ndarray) -> float:
    """Two-sided exact p of W+ by enumerating every sign pattern (2**n, ties exact).

    scipy's exact method assumes untied ranks; the example's changes, written with
    one decimal, tie. The changes are rounded to the file's precision first, so that
    float noise (75.0 - 74.7) does not split a tie.
    """
    change = np.round(change, 6)
    change = change[change != 0]
    ranks = stats.rankdata(np.abs(change))
    observed = ranks[change > 0].sum()
    signs = (np.arange(2**change.size)[:, None] >> np.arange(change.size)) & 1
    w_plus = signs @ ranks
    tail = min((w_plus <= observed + 1e-9).mean(), (w_plus >= observed - 1e-9).mean())
    return float(min(1.0, 2 * tail))


def example_frame() -> pd.DataFrame:
    frame = pd.read_csv(EXAMPLE)
    frame["massage"] = (frame["kelompok"] == "pijat").astype(float)
    return frame


def test_example_ancova_and_arm_tests_match_statsmodels_and_scipy(capsys):
    import statsmodels.formula.api as smf

    from milkbayes.data import load_study
    from milkbayes.frequentist.two_arm import two_arm_analysis

    frame = example_frame()
    ols = smf.ols("sesudah ~ sebelum + massage", data=frame).fit()
    study = load_study(EXAMPLE, description=EXAMPLE_STUDY)
    result = two_arm_analysis(study)
    assert result.ancova == pytest.approx(ols.params["massage"], rel=1e-10)
    assert result.ancova_se == pytest.approx(ols.bse["massage"], rel=1e-10)
    assert result.ancova_p == pytest.approx(ols.pvalues["massage"], rel=1e-8)
    low, high = ols.conf_int().loc["massage"]
    assert (result.ancova_ci_low, result.ancova_ci_high) == pytest.approx((low, high), rel=1e-10)
    for arm, label in zip(result.arms, ("pijat", "kontrol"), strict=True):
        rows = frame[frame["kelompok"] == label]
        change = (rows["sesudah"] - rows["sebelum"]).to_numpy()
        assert arm.n == len(rows)
        assert arm.p_wilcoxon == pytest.approx(exact_signed_rank_p(change), rel=1e-10)
    treated = frame.query("massage == 1")
    control = frame.query("massage == 0")
    did = (treated["sesudah"] - treated["sebelum"]).mean() - (
        control["sesudah"] - control["sebelum"]
    ).mean()
    assert result.did == pytest.approx(did, rel=1e-12)


def test_example_reanalyze_fits_two_arms_and_audits_its_own_description(capsys, tmp_path):
    import statsmodels.formula.api as smf

    out = tmp_path / "report"
    payload = run_json(
        capsys,
        "reanalyze",
        "--data",
        str(EXAMPLE),
        "--study",
        str(EXAMPLE_STUDY),
        "--fast",
        "--draws",
        "150",
        "--out",
        str(out),
        "--json",
        "--rope",
        "2",
        "--prior",
        "SKEPTICAL",
        "--seed",
        "7",
    )
    summary = json.loads(Path(payload["summary"]).read_text())
    # the MCID of the study description (8 ml), the options' ROPE, prior and seed
    settings = summary["settings"]
    assert settings["mcid"] == 8.0 and settings["rope"] == [-2.0, 2.0]
    assert settings["seed"] == 7 and settings["draws"] == 150
    assert summary["bayes"]["reference_prior"] == "skeptical"
    design = summary["design"]
    # ANCOVA leads, the difference in differences is the secondary analysis
    assert design["design"] == "two_arm" and design["main_model"] == "ancova"
    assert (design["n_massage"], design["n_control"]) == (20, 20)
    frame = example_frame()
    ols = smf.ols("sesudah ~ sebelum + massage", data=frame).fit()
    assert design["comparison"]["ancova"] == pytest.approx(ols.params["massage"], rel=1e-10)
    first = summary["bayes"]["freq_vs_bayes"][0]
    assert first["frequentist_value"] == pytest.approx(ols.params["massage"], rel=1e-10)
    assert summary["bayes"]["model"] == "ancova"
    # the lead estimate is ANCOVA's: under the weak neutral prior the posterior median is
    # the least-squares estimate up to Monte Carlo error (2 x 150 draws: MC sd ~0.1 SE)
    # and its 95 % interval is about as wide as the t interval
    neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
    se = ols.bse["massage"]
    assert neutral["median"] == pytest.approx(ols.params["massage"], abs=0.35 * se)
    low, high = ols.conf_int().loc["massage"]
    assert neutral["ci95_high"] - neutral["ci95_low"] == pytest.approx(high - low, rel=0.25)
    secondary = design["secondary"]
    assert secondary["model"] == "two_arm" and "parallel trends" in secondary["assumption"]
    second = summary["bayes"]["freq_vs_bayes"][1]
    assert second["frequentist_value"] == pytest.approx(design["comparison"]["did"], rel=1e-12)
    assert second["bayesian_value"] == secondary["effect_median"]
    # ANCOVA (post given pre) and two_arm (pre, post) are never ranked against each other
    targets = {}
    for row in summary["comparison"]["lomo"]:
        targets.setdefault(row["target"], []).append(row)
    by_model = {row["label"].split("/")[0]: row["target"] for row in summary["comparison"]["lomo"]}
    assert by_model["ancova"] == "post_given_pre" and by_model["two_arm"] == "pre_post"
    for rows in targets.values():
        assert sum(row["weight"] for row in rows) == pytest.approx(1.0)
        assert [row["rank"] for row in rows].count(0) == 1
    # only models that use both arms are compared (two_arm, and ancova where registered)
    from milkbayes.models.contract import model_design
    from milkbayes.models.registry import MODEL_NAMES, load_model

    both_arms = {name for name in MODEL_NAMES if model_design(load_model(name)) == "two_arm"}
    assert "two_arm" in both_arms and "paired_change" not in both_arms
    assert {c[0] for c in summary["settings"]["comparison"]} == both_arms
    # the audit is of the example's own description, and it holds
    audit = {row["check"]: row["status"] for row in summary["reproduction"]["audit"]}
    assert audit == {
        "n": "pass",
        "parity_multipara": "pass",
        "work_duration_long": "pass",
        "reported_p": "pass",
    }
    text = (out / "report.md").read_text()
    assert text.startswith("# Example: oxytocin massage with a control arm")
    assert "What a two-arm design cannot show" in text and "Kubu Raya" not in text
    assert "Why ANCOVA leads" in text and "| secondary |" in text
    # the paper's test, massage arm only, as scipy computes it
    treated = frame.query("massage == 1")
    change = (treated["sesudah"] - treated["sebelum"]).to_numpy()
    assert summary["reproduction"]["p_exact"] == pytest.approx(
        exact_signed_rank_p(change), rel=1e-10
    )


def test_one_group_fit_on_two_arm_data_uses_the_massage_arm(capsys, tmp_path):
    """The brief's trap: pooled, the arms give a mixture; the massage arm gives its change."""
    payload = run_json(
        capsys,
        "fit",
        "paired_change",
        "--data",
        str(EXAMPLE),
        "--study",
        str(EXAMPLE_STUDY),
        "--draws",
        "300",
        "--tune",
        "300",
        "--chains",
        "2",
        "--out",
        str(tmp_path / "run"),
        "--json",
    )
    frame = example_frame()
    treated = frame.query("massage == 1")
    change = (treated["sesudah"] - treated["sebelum"]).to_numpy()
    pooled = (frame["sesudah"] - frame["sebelum"]).mean()
    assert payload["data"]["n"] == 20 and "massage arm only" in payload["design_note"]
    se = change.std(ddof=1) / np.sqrt(change.size)
    assert abs(payload["effect_median"] - change.mean()) < 3 * se
    assert abs(payload["effect_median"] - pooled) > 3 * se  # the pooled answer is excluded


def test_the_example_maps_columns_from_the_command_line_too(capsys):
    argv = ["data", "describe", str(EXAMPLE), "--json"]
    for pair in ("id=no", "pre=sebelum", "post=sesudah", "group=kelompok", "parity=paritas"):
        argv += ["--map", pair]
    argv += ["--map", "work_duration=lama_kerja"]
    for pair in ("group:pijat=massage", "group:KONTROL=control", "work_duration:lama=long"):
        argv += ["--map-level", pair]
    argv += ["--map-level", "work_duration:baru=short"]
    payload = run_json(capsys, *argv)
    assert payload["n"] == 40
    groups = {r["level"]: r["count"] for r in payload["univariate"] if r["column"] == "group"}
    assert groups == {"massage": 20, "control": 20}


# ----------------------------------------------------------------------------- acupuncture
ACUPUNCTURE = ROOT / "tests/data/acupuncture_vickers2004.csv"
ACUPUNCTURE_STUDY = ROOT / "tests/data/acupuncture_vickers2004.toml"


def acupuncture_complete() -> pd.DataFrame:
    """The 301 patients with a 12-month score, as the trial's primary analysis used."""
    return pd.read_csv(ACUPUNCTURE).dropna(subset=["pk5"]).reset_index(drop=True)


def exact_signed_rank_p_by_convolution(change: np.ndarray) -> float:
    """Two-sided exact p of W+ from its null distribution, built by convolution.

    Zeros dropped (Wilcoxon's rule), tied changes share their mid-rank; twice a
    mid-rank is a whole number, so the distribution of twice W+ over the 2**n equally
    likely sign patterns is the convolution of n two-point distributions {0, 2 r_i}.
    Enumeration (:func:`exact_signed_rank_p`) does the same for small n only.
    """
    change = np.round(change, 6)
    change = change[change != 0]
    doubled = np.rint(2 * stats.rankdata(np.abs(change))).astype(np.int64)
    distribution = np.zeros(int(doubled.sum()) + 1)
    distribution[0] = 1.0
    for rank in doubled:
        shifted = np.zeros_like(distribution)
        shifted[rank:] = distribution[:-rank]
        distribution = 0.5 * (distribution + shifted)
    observed = int(doubled[change > 0].sum())
    lower, upper = distribution[: observed + 1].sum(), distribution[observed:].sum()
    return float(min(1.0, 2 * min(lower, upper)))


def welch(treated: np.ndarray, control: np.ndarray) -> tuple[float, float]:
    """Welch's t test by its formulas: (difference of means, two-sided p)."""
    v1, v2 = treated.var(ddof=1) / treated.size, control.var(ddof=1) / control.size
    difference = treated.mean() - control.mean()
    df = (v1 + v2) ** 2 / (v1**2 / (treated.size - 1) + v2**2 / (control.size - 1))
    return float(difference), float(2 * stats.t.sf(abs(difference) / np.sqrt(v1 + v2), df))


def test_acupuncture_copy_matches_the_published_trial():
    """Counts, means, SDs, reductions and the adjusted difference of Vickers et al. 2004."""
    import statsmodels.formula.api as smf

    frame = pd.read_csv(ACUPUNCTURE)
    assert len(frame) == 401 and frame["id"].is_unique
    assert frame["group"].value_counts().to_dict() == {1: 205, 0: 196}
    assert frame.drop(columns="pk5").notna().all().all()
    complete = acupuncture_complete()
    arms = dict(tuple(complete.groupby("group")))
    assert (len(arms[1]), len(arms[0])) == (161, 140)
    # "16.2, SD 13.7, n = 161, 34% reduction" and "22.3, SD 17.0, n = 140, 16% reduction"
    for group, mean, sd, reduction in ((1, 16.2, 13.7, 34), (0, 22.3, 17.0, 16)):
        rows = arms[group]
        assert (round(rows["pk5"].mean(), 1), round(rows["pk5"].std(), 1)) == (mean, sd)
        assert round(100 * (1 - rows["pk5"].mean() / rows["pk1"].mean())) == reduction
    # "The adjusted difference between means is 4.6 (95% CI 2.2 to 7.0; P = 0.0002)"
    adjusted = smf.ols("pk5 ~ pk1 + group + age + sex + migraine + chronicity", complete).fit()
    low, high = adjusted.conf_int().loc["group"]
    assert round(-adjusted.params["group"], 1) == 4.6 and round(-high, 1) == 2.2
    assert abs(-low - 7.0) < 0.1 and round(adjusted.pvalues["group"], 4) == 0.0002


def test_convolution_and_enumeration_give_the_same_exact_p():
    frame = example_frame()
    for label in ("pijat", "kontrol"):
        rows = frame[frame["kelompok"] == label]
        change = (rows["sesudah"] - rows["sebelum"]).to_numpy()
        assert exact_signed_rank_p_by_convolution(change) == pytest.approx(
            exact_signed_rank_p(change), rel=1e-12
        )


def test_acupuncture_columns_map_from_the_command_line(capsys):
    argv = ["data", "describe", str(ACUPUNCTURE), "--json", "--complete-case"]
    argv += ["--map", "pre=pk1", "--map", "post=pk5"]
    argv += ["--map-level", "group:1=massage", "--map-level", "group:0=control"]
    payload = run_json(capsys, *argv)
    assert payload["n"] == 301
    groups = {r["level"]: r["count"] for r in payload["univariate"] if r["column"] == "group"}
    assert groups == {"massage": 161, "control": 140}


@pytest.fixture(scope="module")
def acupuncture_summary(tmp_path_factory) -> tuple[dict, Path]:
    """One fast reanalysis of the trial through the command line, shared by the tests below."""
    out = tmp_path_factory.mktemp("acupuncture") / "report"
    argv = ["reanalyze", "--data", str(ACUPUNCTURE), "--study", str(ACUPUNCTURE_STUDY)]
    argv += ["--complete-case", "--fast", "--draws", "150", "--seed", "11", "--out", str(out)]
    assert main(argv) in (0, 3)  # 3: the short fast-mode chains may fail a diagnostic
    return json.loads((out / "summary.json").read_text()), out


def test_acupuncture_reanalyze_leads_with_an_ancova_that_statsmodels_confirms(
    acupuncture_summary,
):
    import statsmodels.formula.api as smf

    summary, _ = acupuncture_summary
    ols = smf.ols("pk5 ~ pk1 + group", acupuncture_complete()).fit()
    design = summary["design"]
    assert design["design"] == "two_arm" and design["main_model"] == "ancova"
    assert (design["n_massage"], design["n_control"]) == (161, 140)
    comparison = design["comparison"]
    assert comparison["ancova"] == pytest.approx(ols.params["group"], rel=1e-10)
    assert comparison["ancova_se"] == pytest.approx(ols.bse["group"], rel=1e-10)
    assert comparison["ancova_p"] == pytest.approx(ols.pvalues["group"], rel=1e-8)
    assert comparison["ancova_slope"] == pytest.approx(ols.params["pk1"], rel=1e-10)
    low, high = ols.conf_int().loc["group"]
    assert (comparison["ancova_ci_low"], comparison["ancova_ci_high"]) == pytest.approx(
        (low, high), rel=1e-10
    )
    assert summary["bayes"]["model"] == "ancova"
    first = summary["bayes"]["freq_vs_bayes"][0]
    assert first["frequentist_value"] == pytest.approx(ols.params["group"], rel=1e-10)
    # weak neutral prior, 301 patients: the posterior median is the least-squares
    # estimate up to Monte Carlo error (2 x 150 draws)
    neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
    assert neutral["median"] == pytest.approx(ols.params["group"], abs=0.35 * ols.bse["group"])


def test_acupuncture_reanalyze_arm_tests_and_difference_in_changes(acupuncture_summary):
    summary, _ = acupuncture_summary
    complete = acupuncture_complete()
    changes = {}
    for arm, group in zip(summary["design"]["arms"], (1, 0), strict=True):
        rows = complete[complete["group"] == group]
        change = (rows["pk5"] - rows["pk1"]).to_numpy()
        changes[group] = change
        assert arm["n"] == len(rows)
        assert arm["mean_change"] == pytest.approx(change.mean(), rel=1e-12)
        assert arm["p_wilcoxon"] == pytest.approx(
            exact_signed_rank_p_by_convolution(change), rel=1e-9
        )
        assert arm["p_t"] == pytest.approx(
            stats.ttest_rel(rows["pk5"], rows["pk1"]).pvalue, rel=1e-9
        )
    # both arms improved (the headache score fell), acupuncture by more
    assert summary["design"]["arms"][0]["p_wilcoxon"] < 1e-12
    comparison = summary["design"]["comparison"]
    difference, p = welch(changes[1], changes[0])
    assert comparison["did"] == pytest.approx(difference, rel=1e-12)
    assert comparison["did_p"] == pytest.approx(p, rel=1e-9)
    assert comparison["p_mann_whitney"] == pytest.approx(
        stats.mannwhitneyu(changes[1], changes[0]).pvalue, rel=1e-12
    )
    # the secondary model (difference in differences) under its weak prior
    secondary = summary["design"]["secondary"]
    assert secondary["model"] == "two_arm" and secondary["likelihood"] == "normal"
    se = np.sqrt(changes[1].var(ddof=1) / 161 + changes[0].var(ddof=1) / 140)
    assert secondary["effect_median"] == pytest.approx(difference, abs=0.35 * se)


def test_acupuncture_reanalyze_is_complete_case_and_states_two_arm_limits(acupuncture_summary):
    from milkbayes.report.render import ONE_GROUP_LIMITS, TWO_ARM_LIMITS

    summary, out = acupuncture_summary
    frame = pd.read_csv(ACUPUNCTURE)
    missing = frame.loc[frame["pk5"].isna(), "id"].astype(str).tolist()
    assert summary["data"]["n"] == 301 and len(missing) == 100
    assert [str(i) for i in summary["data"]["dropped_ids"]] == missing
    titles = [limit["title"] for limit in summary["design_limits"]]
    assert titles[: len(TWO_ARM_LIMITS)] == [title for title, _ in TWO_ARM_LIMITS]
    assert not {title for title, _ in ONE_GROUP_LIMITS} & set(titles)
    assert {"Lower is better", "Complete cases"} <= set(titles)
    audit = {row["check"]: row["status"] for row in summary["reproduction"]["audit"]}
    assert audit == {"n": "pass"}
    assert summary["reconstructed"] is False and summary["study"]["design"] == "two_arm"
    text = (out / "report.md").read_text()
    assert text.startswith("# Acupuncture for chronic headache in primary care")
    assert "What a two-arm design cannot show" in text and "Kubu Raya" not in text


@pytest.mark.slow
@pytest.mark.parametrize("data", ["acupuncture", "example"])
def test_two_arm_models_converge_at_their_full_defaults(data):
    """The two-arm models, both likelihoods, at ``milkbayes fit``'s defaults, three seeds.

    4 chains x 1000 draws after 1000 warm-up (``reanalyze`` runs 4 x 2000): every
    R-hat <= 1.01, every bulk and tail ESS >= 400, no divergence. The margin is wide
    (seeds 1 to 5 on both files: R-hat <= 1.006, bulk ESS >= 1516), so a failure here
    means a model's geometry changed, not bad luck.
    """
    from milkbayes.data import load_study
    from milkbayes.engine.fit import fit

    if data == "acupuncture":
        study = load_study(ACUPUNCTURE, description=ACUPUNCTURE_STUDY, complete_case=True)
    else:
        study = load_study(EXAMPLE, description=EXAMPLE_STUDY)
    for model in ("ancova", "two_arm"):
        for likelihood in ("normal", "student_t"):
            for seed in (1, 2, 3):
                result = fit(
                    model,
                    study,
                    likelihood=likelihood,
                    seed=seed,
                    log_likelihood=False,
                    posterior_predictive=False,
                )
                report = result.diagnostics
                details = [row.detail for row in report.failures]
                assert report.ok, (model, likelihood, seed, details)
                assert (report.chains, report.draws) == (4, 1000)


def test_acupuncture_reanalyze_reports_the_benefit_of_a_fall(acupuncture_summary):
    """The study TOML says benefit = "decrease": P(benefit) = P(effect < 0), no milk prior."""
    import statsmodels.formula.api as smf

    summary, out = acupuncture_summary
    bayes = summary["bayes"]
    assert bayes["benefit"] == "decrease"
    # the effect keeps the paper's sign: acupuncture lowered the score (ANCOVA < 0)
    ols = smf.ols("pk5 ~ pk1 + group", acupuncture_complete()).fit()
    assert ols.params["group"] < 0 and bayes["effect_median"] < 0
    rows = {row["prior"]: row for row in bayes["priors"]}
    assert list(rows) == ["skeptical", "neutral", "enthusiastic"]  # no literature prior
    mcid = bayes["mcid"]
    for row in rows.values():
        assert row["p_benefit"] == pytest.approx(1.0 - row["p_gt_0"], abs=1e-12)
        assert row["p_benefit_gt_mcid"] <= row["p_benefit"]
    # the ANCOVA's one-sided p is about 1e-4: under the weak prior nearly all draws fall
    assert rows["neutral"]["p_benefit"] > 0.99
    # the enthusiast is centred on -MCID (in SDs of pre on the prior's scale)
    assert rows["enthusiastic"]["beliefs"][:2] == [
        "P(effect < -0.5 SD of pre) = 50.0 %",
        "P(effect > 0) = 5.0 %",
    ]
    evidence = [r for r in bayes["freq_vs_bayes"] if r["quantity"] == "evidence"]
    assert evidence[0]["bayesian_label"] == "P(benefit) = P(effect < 0)"
    assert evidence[1]["bayesian_label"] == f"P(benefit > MCID) = P(effect < {-mcid:.3g})"
    sources = summary["prior_sources"]
    assert sources["literature_fitted"] is False
    assert "breast-milk volume after oxytocin massage" in sources["literature_note"]
    text = (out / "report.md").read_text()
    assert "**Lower is better.**" in text and "P(benefit) = P(effect < 0)" in text
    assert 'id="benefit-direction"' in (out / "report.html").read_text()
    assert summary["data"]["outcome"]["benefit"] == "decrease"
    assert "| outcome | continuous (headache score points), lower is better |" in text
