"""Tests of `milkbayes reproduce` and `milkbayes wilcoxon`.

Most tests call milkbayes.cli.main(argv) in-process; two run the installed console
script, as a user would, to check the exit status, parseable JSON and a clean stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.cli import main

WILCOXON_KEYS = {
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
}

# Hollander & Wolfe's Hamilton depression data (R's ?wilcox.test): V = 40, p = 0.03906
HAMILTON_PRE = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HAMILTON_POST = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hamilton_csv(tmp_path) -> Path:
    path = tmp_path / "hamilton.csv"
    pd.DataFrame(
        {"id": [f"p{i}" for i in range(9)], "pre": HAMILTON_PRE, "post": HAMILTON_POST}
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def negative_csv(tmp_path) -> Path:
    """Continuous data with negative values, ties and a zero change."""
    path = tmp_path / "negative.csv"
    pre = [-3.5, -1.0, 2.0, -7.25, 0.5, -2.0, 1.0, -4.0]
    post = [-1.5, 0.5, 4.0, -2.0, 0.5, -4.0, 3.0, -3.5]
    pd.DataFrame({"id": list("abcdefgh"), "pre": pre, "post": post}).to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- wilcoxon


def test_wilcoxon_json_matches_r_worked_example(capsys, hamilton_csv):
    code, out, err = run(capsys, "wilcoxon", "--data", str(hamilton_csv), "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert WILCOXON_KEYS <= set(payload)
    assert payload["w_minus"] == 40.0 and payload["method"] == "exact"
    assert round(payload["p_value"], 5) == 0.03906  # R's wilcox.test output
    assert payload["reconstructed"] is False and payload["warning"] is None


@pytest.mark.parametrize("method", ["exact", "asymptotic", "spss"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_wilcoxon_negative_continuous_data_match_scipy(capsys, negative_csv, method, alternative):
    code, out, err = run(
        capsys,
        "wilcoxon",
        "--data",
        str(negative_csv),
        "--method",
        method,
        "--alternative",
        alternative,
        "--zero-method",
        "wilcox",
        "--json",
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    frame = pd.read_csv(negative_csv)
    change = (frame["post"] - frame["pre"]).to_numpy()
    assert payload["n_zero"] == 1 and payload["n"] == 8
    if method == "exact":
        # ties present (|2| three times): scipy's exhaustive permutation test is exact
        ref = stats.wilcoxon(
            change, alternative=alternative, method=stats.PermutationMethod(n_resamples=np.inf)
        )
    else:
        ref = stats.wilcoxon(change, alternative=alternative, method="asymptotic", correction=False)
    assert payload["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_wilcoxon_correction_and_confidence_options(capsys, hamilton_csv):
    code, out, _ = run(
        capsys,
        "wilcoxon",
        "--data",
        str(hamilton_csv),
        "--method",
        "asymptotic",
        "--correction",
        "--confidence",
        "0.9",
        "--zero-method",
        "pratt",
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    change = np.array(HAMILTON_POST) - np.array(HAMILTON_PRE)
    ref = stats.wilcoxon(change, method="asymptotic", correction=True, zero_method="pratt")
    assert payload["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert payload["correction"] is True and payload["confidence"] == 0.9


def test_wilcoxon_text_output(capsys, hamilton_csv):
    code, out, err = run(capsys, "wilcoxon", "--data", str(hamilton_csv))
    assert code == 0 and err == ""
    assert "W+ = 5" in out and "W- = 40" in out and "p = 0.0391" in out
    assert "RECONSTRUCTED" not in out


def test_wilcoxon_text_says_when_the_interval_falls_short(capsys, tmp_path):
    path = tmp_path / "four.csv"
    path.write_text("id,pre,post\na,0,1\nb,0,2\nc,0,4\nd,0,8\n")
    code, out, _ = run(capsys, "wilcoxon", "--data", str(path))
    assert code == 0 and "achieved 87.5%: too few pairs" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--method", "bootstrap"], "method='bootstrap' is not allowed"),
        (["--zero-method", "drop"], "zero_method"),
        (["--alternative", "up"], "alternative"),
        (["--confidence", "95"], "confidence"),
        (["--confidence", "nan"], "confidence=nan must lie strictly between 0 and 1"),
        (["--confidence", "inf"], "confidence=inf must lie strictly between 0 and 1"),
        (["--confidence", "-inf"], "confidence=-inf must lie strictly between 0 and 1"),
        (["--method", "spss", "--correction"], "continuity"),
        (["--group", "control"], "no participant is in the control group"),
    ],
)
def test_wilcoxon_bad_options_one_line_exit_2(capsys, hamilton_csv, argv, fragment):
    code, out, err = run(capsys, "wilcoxon", "--data", str(hamilton_csv), *argv, "--json")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_wilcoxon_bad_file_names_row_and_column(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,pre,post\na,1.0,2.0\nb,1.5,abc\n")
    code, out, err = run(capsys, "wilcoxon", "--data", str(path), "--json")
    assert code == 2 and out == ""
    assert str(path) in err and "row 3" in err and '"post"' in err


def test_wilcoxon_all_zero_changes_is_a_clear_error(capsys, tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("id,pre,post\na,1,1\nb,2,2\nc,3,3\n")
    code, out, err = run(capsys, "wilcoxon", "--data", str(path))
    assert code == 2 and out == "" and "all 3 changes are zero" in err


# ----------------------------------------------------------------------------- reproduce


def test_reproduce_bundled_text_has_spss_tables_exact_p_and_audit(capsys):
    code, out, err = run(capsys, "reproduce")
    assert code == 0 and err == ""
    flat = " ".join(out.split())
    assert " ".join(RECONSTRUCTED_WARNING.split()) in flat
    for fragment in (
        "1. Univariate table",
        "Negative Ranks",
        "Positive Ranks",
        "Ties",
        "Total",
        "a. post < pre",
        "b. post > pre",
        "c. post = pre",
        "Based on negative ranks.",
        "Asymp. Sig. (2-tailed) .000",
        "p < .001",
        "Exact signed-rank p",
        "As the paper prints it: p = 0.000",
        "3. Audit of the published numbers",
        "T <= 28 of 300",
        "|Z| > 3.4808",
        "design_label",
        "aged_14",
        "occupation_contradiction",
    ):
        assert fragment in flat, fragment


def test_reproduce_json_agrees_with_scipy_on_the_bundled_data(capsys):
    from milkbayes.datasets import load_bundled

    code, out, err = run(capsys, "reproduce", "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["reconstructed"] is True and payload["warning"] == RECONSTRUCTED_WARNING
    study = load_bundled("volume_ml")
    change = np.round(study.change, 9)  # decimal ties tie (see frequentist.paired_change)
    ref = stats.wilcoxon(change, method="asymptotic", correction=False)
    spss = payload["wilcoxon_spss"]
    assert spss["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert spss["z_spss"] == pytest.approx(ref.zstatistic, rel=1e-9)
    assert spss["p_value_text"]["spss"] == ".000" and spss["p_value_text"]["honest"] == "p < .001"
    assert spss["p_value_text"]["paper"] == "0.000"
    assert spss["z_based_on"] == "negative ranks"
    assert "Based on negative ranks." in spss["spss_text"]
    assert [row["row"] for row in spss["ranks_table"]] == [
        "Negative Ranks",
        "Positive Ranks",
        "Ties",
        "Total",
    ]
    # the CLI reports the library's exact p (validated by enumeration in test_frequentist)
    from milkbayes.frequentist import wilcoxon_signed_rank

    table = study.table
    exact = wilcoxon_signed_rank(table["pre"], table["post"], method="exact")
    assert payload["wilcoxon_exact"]["p_value"] == exact.p_value
    assert payload["wilcoxon_exact"]["n_zero"] == int((change == 0).sum())
    statuses = {row["check"]: row["status"] for row in payload["audit"]}
    assert statuses["data_spss_p"] == "pass" and statuses["design_label"] == "fail"
    assert {row["column"] for row in payload["univariate"]} >= {"parity", "education"}


def test_reproduce_markdown(capsys):
    code, out, err = run(capsys, "reproduce", "--markdown")
    assert code == 0 and err == ""
    assert out.startswith("# Reproduction of the paper's analysis")
    assert "> **RECONSTRUCTED DATA" in out
    assert "## 3. Audit of the published numbers" in out
    assert "| check | expected | found | status | explanation |" in out
    assert "```" in out and "Based on negative ranks." in out


def test_reproduce_user_file_without_banner(capsys, tmp_path):
    rng = np.random.default_rng(1)
    pre = np.round(rng.uniform(5, 10, 24), 1)
    frame = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(24)],
            "pre": pre,
            "post": np.round(pre + rng.normal(3, 1, 24), 1),
        }
    )
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    code, out, err = run(capsys, "reproduce", "--data", str(path), "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["reconstructed"] is False and payload["warning"] is None
    assert payload["audit"] == []  # no study description: no paper is audited


def test_reproduce_rejects_json_and_markdown_together(capsys):
    code, out, err = run(capsys, "reproduce", "--json", "--markdown")
    assert code == 2 and out == "" and "choose one of --json and --markdown" in err


# ----------------------------------------------------------------------------- entry point


@pytest.mark.parametrize("argv", [["reproduce", "--json"], ["wilcoxon", "--json"]])
def test_installed_entry_point(argv, hamilton_csv):
    exe = shutil.which("milkbayes", path=str(Path(sys.executable).parent))
    assert exe is not None
    if argv[0] == "wilcoxon":
        argv = [*argv, "--data", str(hamilton_csv)]
    done = subprocess.run([exe, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    payload = json.loads(done.stdout)
    assert payload["source"]


def test_installed_entry_point_missing_file_exits_2(tmp_path):
    exe = shutil.which("milkbayes", path=str(Path(sys.executable).parent))
    done = subprocess.run(
        [exe, "wilcoxon", "--data", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- extreme inputs


@pytest.mark.parametrize("command", ["wilcoxon", "reproduce"])
def test_overflowing_change_names_the_file_and_the_participant(capsys, tmp_path, command):
    path = tmp_path / "huge.csv"
    path.write_text("id,pre,post\nm1,1,2\nm2,-1e308,1e308\nm3,2,5\n")
    code, out, err = run(capsys, command, "--data", str(path), "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(path) in err
    assert "participant m2 (participant row 2" in err and "float range" in err


def test_reproduce_refuses_clearly_when_the_exact_p_is_too_costly(
    capsys, hamilton_csv, monkeypatch
):
    from milkbayes.frequentist import null_distribution as frequentist

    monkeypatch.setattr(frequentist, "EXACT_MAX_WORK", 1.0)  # as if n were 200 000
    code, out, err = run(capsys, "reproduce", "--data", str(hamilton_csv), "--json")
    assert code == 2 and out == "" and str(hamilton_csv) in err
    assert f"wilcoxon --data {hamilton_csv} --method asymptotic" in err
    assert "method='asymptotic'" not in err


def test_reproduce_reports_a_finite_dz_interval_for_a_huge_t(capsys, tmp_path):
    # n = 2, changes -16909 and -16908: t = -33817 on 1 df; SciPy's nct gives the limits
    path = tmp_path / "two.csv"
    path.write_text("id,pre,post\na,16909,0\nb,16909,1\n")
    code, out, _ = run(capsys, "reproduce", "--data", str(path), "--json")
    assert code == 0
    t_test = json.loads(out)["paired_t_test"]
    root_n = np.sqrt(2)
    assert stats.nct.cdf(t_test["t"], 1, t_test["dz_ci_low"] * root_n) == pytest.approx(
        0.975, abs=1e-6
    )
    assert stats.nct.cdf(t_test["t"], 1, t_test["dz_ci_high"] * root_n) == pytest.approx(
        0.025, abs=1e-6
    )


def test_reproduce_says_when_the_dz_interval_is_unavailable(capsys, hamilton_csv, monkeypatch):
    from milkbayes.frequentist import ttest as frequentist

    monkeypatch.setattr(frequentist, "_noncentrality_for", lambda *args: float("nan"))
    code, out, _ = run(capsys, "reproduce", "--data", str(hamilton_csv))
    assert code == 0 and "d_z" in out and "95% CI unavailable" in out and "nan" not in out
    code, out, _ = run(capsys, "reproduce", "--data", str(hamilton_csv), "--json")
    t_test = json.loads(out)["paired_t_test"]
    assert code == 0 and t_test["dz_ci_low"] is None and t_test["dz_ci_high"] is None
