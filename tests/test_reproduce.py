"""One reproduction of the paper's test, shared by ``milkbayes reproduce`` and the report.

The paper tests the change within the massaged mothers. On a file with six massaged
mothers (all gaining, by different amounts) and six controls, the command line and
the reanalysis report must both give the massage-only result: W+ = 1 + ... + 6 = 21,
the largest possible, and the exact two-sided p = 2 / 2**6 = 0.03125, as
:func:`scipy.stats.wilcoxon` computes on those six rows. Every row together would give
another answer, which the tests check too, so that they cannot pass by accident.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from _small_runs import TINY
from milkbayes.cli import main
from milkbayes.data import load_study
from milkbayes.frequentist.reproduce import paired_rows, reproduce
from milkbayes.reanalysis.pipeline import DiagnosticsFailedError, run_reanalysis

MASSAGE_PRE = [50.0, 47.0, 60.0, 55.0, 49.0, 58.0]
MASSAGE_CHANGE = [1.5, 2.5, 3.0, 4.5, 5.0, 6.5]  # all positive, no ties
CONTROL_PRE = [51.0, 53.0, 57.0, 46.0, 59.0, 50.0]
CONTROL_CHANGE = [-2.0, -3.5, -5.5, -7.0, 0.5, 8.0]

# small fits: the reproduction does not depend on them


@pytest.fixture(scope="module")
def two_arm_csv(tmp_path_factory):
    """Six massaged mothers, then six controls, interleaved in the file."""
    rows = ["id,pre,post,group"]
    for k in range(6):
        pre, change = MASSAGE_PRE[k], MASSAGE_CHANGE[k]
        rows.append(f"m{k + 1},{pre},{pre + change},massage")
        pre, change = CONTROL_PRE[k], CONTROL_CHANGE[k]
        rows.append(f"c{k + 1},{pre},{pre + change},control")
    path = tmp_path_factory.mktemp("two_arm") / "two_arm.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def summary(two_arm_csv, tmp_path_factory):
    """The JSON summary of a small reanalysis of the two-arm file."""
    out = tmp_path_factory.mktemp("report") / "report"
    try:
        result = run_reanalysis(
            load_study(two_arm_csv), out, settings=TINY, sensitivity=False, strict=True
        )
    except DiagnosticsFailedError as failed:  # 200 draws: the diagnostics may fail
        result = failed.result
    assert result.json.is_file()
    return json.loads(result.json.read_text())


def cli_json(capsys, *argv: str) -> dict:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def massage_change() -> np.ndarray:
    return np.array(MASSAGE_CHANGE)


def test_the_scipy_reference_values_are_those_of_the_massage_rows():
    """21 and 2/64 are scipy's; all twelve rows give another p (the tests can fail)."""
    change = massage_change()
    result = stats.wilcoxon(change, method="exact")
    w_plus = stats.rankdata(np.abs(change))[change > 0].sum()
    assert w_plus == 21 and result.pvalue == pytest.approx(2 / 64, abs=1e-15)
    every_row = np.concatenate([change, CONTROL_CHANGE])
    assert stats.wilcoxon(every_row, method="exact").pvalue > 0.1


def test_paired_rows_are_the_massaged_mothers_in_file_order(two_arm_csv):
    rows = paired_rows(load_study(two_arm_csv))
    assert rows.group == "massage" and rows.ids == tuple(f"m{k}" for k in range(1, 7))
    np.testing.assert_allclose(rows.change, MASSAGE_CHANGE, atol=1e-12)


def test_cli_reproduce_tests_the_massage_rows(two_arm_csv, capsys):
    payload = cli_json(capsys, "reproduce", "--data", str(two_arm_csv), "--json")
    exact = payload["wilcoxon_exact"]
    assert payload["group"] == "massage" and exact["n"] == 6
    assert exact["w_plus"] == 21
    assert exact["p_value"] == pytest.approx(
        stats.wilcoxon(massage_change(), method="exact").pvalue, rel=1e-12
    )
    assert exact["p_value"] == pytest.approx(0.03125, rel=1e-12)


def test_report_reproduction_tests_the_massage_rows(summary):
    reproduction = summary["reproduction"]
    assert reproduction["w_plus"] == 21 and reproduction["w_minus"] == 0
    assert reproduction["p_exact"] == pytest.approx(
        stats.wilcoxon(massage_change(), method="exact").pvalue, rel=1e-12
    )
    ranks = {row["row"]: row["n"] for row in reproduction["spss_ranks"]}
    assert ranks == {"Negative Ranks": 0, "Positive Ranks": 6, "Ties": 0, "Total": 6}


def test_report_and_cli_agree_with_scipy_on_every_test(two_arm_csv, summary, capsys):
    """The command line and the report give scipy's numbers for the six massaged mothers.

    SPSS's Z (no continuity correction), the paired t, the sign test and the
    Hodges-Lehmann estimate (the median of the Walsh averages).
    """
    change = massage_change()
    payload = cli_json(capsys, "reproduce", "--data", str(two_arm_csv), "--json")
    reproduction = summary["reproduction"]
    asymptotic = stats.wilcoxon(change, method="asymptotic", correction=False)
    t_test = stats.ttest_1samp(change, 0.0)
    sign_p = stats.binomtest(6, 6).pvalue
    assert reproduction["z_spss"] == pytest.approx(asymptotic.zstatistic, rel=1e-9)
    assert payload["wilcoxon_spss"]["z_spss"] == pytest.approx(asymptotic.zstatistic, rel=1e-9)
    assert reproduction["p_asymptotic"] == pytest.approx(asymptotic.pvalue, rel=1e-9)
    assert reproduction["t_test"]["t"] == pytest.approx(t_test.statistic, rel=1e-9)
    assert payload["paired_t_test"]["t"] == pytest.approx(t_test.statistic, rel=1e-9)
    assert reproduction["sign_test_p"] == pytest.approx(sign_p, rel=1e-12)
    assert payload["sign_test"]["p_value"] == pytest.approx(sign_p, rel=1e-12)
    walsh = [(a + b) / 2 for i, a in enumerate(change) for b in change[i:]]
    assert reproduction["hodges_lehmann"]["estimate"] == pytest.approx(np.median(walsh))


def test_bayes_factor_of_the_massage_pairs_is_not_given_for_two_arms(summary):
    """With a control arm both columns of the table estimate the between-arm effect.

    The JZS Bayes factor tests one group's change (Rouder et al. 2009), so it is not
    given; the frequentist column is ANCOVA, post ~ pre + arm, by least squares
    (computed here with numpy's lstsq on the same rows).
    """
    assert summary["bayes"]["bf10"] is None and summary["bayes"]["model"] == "two_arm"
    pre = np.array(MASSAGE_PRE + CONTROL_PRE)
    post = pre + np.array(MASSAGE_CHANGE + CONTROL_CHANGE)
    arm = np.array([1.0] * 6 + [0.0] * 6)
    design = np.column_stack([np.ones(12), pre, arm])
    coefficient = np.linalg.lstsq(design, post, rcond=None)[0][2]
    first = summary["bayes"]["freq_vs_bayes"][0]
    assert first["frequentist_value"] == pytest.approx(coefficient, rel=1e-9)


def test_reproduce_is_the_object_both_read(two_arm_csv, summary):
    result = reproduce(load_study(two_arm_csv))
    assert result.n == 6 and result.exact.w_plus == summary["reproduction"]["w_plus"]
    # a user's file without a study description is audited against nothing
    assert summary["reproduction"]["audit"] == [] and summary["study"] is None
    assert "No study description" in summary["reproduction"]["audit_note"]
