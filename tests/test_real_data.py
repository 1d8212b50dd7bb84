"""Real and example pre/post data through the command line, checked independently.

- ``tests/data/sleep_student1908.csv``: Student's (1908) sleep data (R's
  ``datasets::sleep``): extra hours of sleep of 10 patients under two drugs, a paired
  one-group design, public domain by age. Typed from Student's table; the typing is
  checked against the summaries R documents for ``t.test(extra ~ group, data = sleep,
  paired = TRUE)``: mean difference 1.58, t = 4.0621, df = 9, p = 0.002833.
- ``examples/my_study.csv``: the README's example of a user's file, simulated with a
  control arm (Indonesian column names and labels, mapped by ``examples/my_study.toml``).
  No public-domain two-arm pre/post dataset was at hand: MASS's ``anorexia`` (Hand et
  al. 1994) carries a copyright notice of its contributor and MASS is GPL, so it is not
  shipped. The example's numbers are checked against statsmodels' OLS ANCOVA and
  scipy's tests on the same file.
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
    assert design["design"] == "two_arm" and design["main_model"] == "two_arm"
    assert (design["n_massage"], design["n_control"]) == (20, 20)
    frame = example_frame()
    ols = smf.ols("sesudah ~ sebelum + massage", data=frame).fit()
    assert design["comparison"]["ancova"] == pytest.approx(ols.params["massage"], rel=1e-10)
    first = summary["bayes"]["freq_vs_bayes"][0]
    assert first["frequentist_value"] == pytest.approx(ols.params["massage"], rel=1e-10)
    assert summary["bayes"]["model"] == "two_arm"
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
