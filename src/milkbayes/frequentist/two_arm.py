r"""Frequentist analysis of a study with a control arm: each arm's test and the comparison.

A one-group paper tests the change ``post - pre`` within the treated mothers. With a
control arm the same test, run in each arm, shows how much the untreated mothers
changed too, and the massage effect is a between-arm comparison:

- the difference of the arms' mean changes (difference in differences), with
  Welch's t interval (the arms' change variances need not be equal);
- ANCOVA, ``post = b0 + b1 pre + b2 massage + e`` fitted by ordinary least
  squares: ``b2`` is the massage effect adjusted for the baseline, the usual
  analysis of a randomised pre/post trial (Vickers & Altman 2001), with the
  t interval on :math:`n - 3` degrees of freedom;
- the Mann-Whitney (Wilcoxon rank-sum) test of the changes, the rank analogue.

Numpy's least squares and scipy's distributions are used: no statistics package is
needed for three coefficients.

References
----------
Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and follow
up measurements. BMJ 323:1123-1124.

Examples
--------
>>> from milkbayes.data.study import study_from_csv_text
>>> text = "id,pre,post,group\n" + "".join(
...     f"m{k},{10 + k},{20 + k + k % 3},massage\nc{k},{10 + k},{10 + k + k % 2},control\n"
...     for k in range(1, 9))
>>> result = two_arm_analysis(study_from_csv_text(text))
>>> round(result.did, 4), [a.group for a in result.arms]
(10.625, ['massage', 'control'])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from milkbayes.errors import MilkbayesError
from milkbayes.frequentist.wilcoxon import wilcoxon_signed_rank

if TYPE_CHECKING:  # pragma: no cover
    from milkbayes.data.study import Study

__all__ = ["ArmTest", "TwoArmAnalysis", "arm_test", "two_arm_analysis"]


@dataclass(frozen=True)
class ArmTest:
    """The one-group (paper's) analysis within one arm.

    Attributes
    ----------
    group : str
    n : int
    mean_change, sd_change : float
    p_wilcoxon : float
        Exact two-sided Wilcoxon signed-rank p (ties and zeros handled exactly).
    w_plus : float
    hodges_lehmann, hl_ci_low, hl_ci_high : float
        Median change and its 95 % interval.
    p_t : float
        Paired t-test p (two-sided).
    """

    group: str
    n: int
    mean_change: float
    sd_change: float
    p_wilcoxon: float
    w_plus: float
    hodges_lehmann: float
    hl_ci_low: float
    hl_ci_high: float
    p_t: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class TwoArmAnalysis:
    """Each arm's test and the between-arm comparison.

    Attributes
    ----------
    arms : tuple of ArmTest
        Massage arm first.
    did, did_ci_low, did_ci_high, did_p : float
        Mean change (massage) minus mean change (control), Welch 95 % CI and p.
    ancova, ancova_se, ancova_ci_low, ancova_ci_high, ancova_p : float
        The massage coefficient of ``post ~ pre + massage``, its SE, 95 % CI and p.
    ancova_slope : float
        The coefficient of ``pre``.
    ancova_df : int
        Residual degrees of freedom, n - 3.
    p_mann_whitney : float
        Two-sided Mann-Whitney p of the changes, massage against control.
    """

    arms: tuple[ArmTest, ...]
    did: float
    did_ci_low: float
    did_ci_high: float
    did_p: float
    ancova: float
    ancova_se: float
    ancova_ci_low: float
    ancova_ci_high: float
    ancova_p: float
    ancova_slope: float
    ancova_df: int
    p_mann_whitney: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (arms as a list of dicts)."""
        out = asdict(self)
        out["arms"] = [a.to_dict() for a in self.arms]
        return out


def arm_test(study: Study, group: str) -> ArmTest:
    """The paper's one-group analysis within ``group``.

    Raises
    ------
    MilkbayesError
        When the arm has fewer than 2 participants.
    """
    rows = study.table[study.table["group"] == group]
    if len(rows) < 2:
        raise MilkbayesError(f"the {group} arm has {len(rows)} participant(s); a test needs 2")
    pre = rows["pre"].to_numpy(float)
    post = rows["post"].to_numpy(float)
    change = post - pre
    wilcoxon = wilcoxon_signed_rank(pre, post, method="exact")
    sd = float(np.std(change, ddof=1))
    if sd > 0:
        p_t = float(stats.ttest_rel(post, pre).pvalue)
    else:
        p_t = float("nan")
    return ArmTest(
        group=group,
        n=len(rows),
        mean_change=float(change.mean()),
        sd_change=sd,
        p_wilcoxon=float(wilcoxon.p_value),
        w_plus=float(wilcoxon.w_plus),
        hodges_lehmann=float(wilcoxon.hodges_lehmann),
        hl_ci_low=float(wilcoxon.hl_ci_low),
        hl_ci_high=float(wilcoxon.hl_ci_high),
        p_t=p_t,
    )


def two_arm_analysis(study: Study, confidence: float = 0.95) -> TwoArmAnalysis:
    r"""Each arm's test and the between-arm comparison (difference in differences, ANCOVA).

    ANCOVA by least squares, :math:`X = [1, \text{pre}, \text{massage}]`:
    :math:`\hat b = (X^\top X)^{-1} X^\top y`,
    :math:`\widehat{\text{Var}}(\hat b) = s^2 (X^\top X)^{-1}` with
    :math:`s^2 = \text{RSS} / (n - 3)`, and the interval
    :math:`\hat b_2 \pm t_{n-3, (1+c)/2}\, \text{SE}(\hat b_2)`.

    Raises
    ------
    MilkbayesError
        Without a control arm, or with fewer than 2 participants in an arm.
    """
    if not study.has_control:
        raise MilkbayesError(
            "the study has no control arm: the between-arm analysis needs one "
            "(the one-group analysis is `milkbayes reproduce`)"
        )
    arms = (arm_test(study, "massage"), arm_test(study, "control"))
    table = study.table
    massage = (table["group"] == "massage").to_numpy(float)
    pre = table["pre"].to_numpy(float)
    post = table["post"].to_numpy(float)
    change = post - pre
    treated, control = change[massage == 1], change[massage == 0]
    welch = stats.ttest_ind(treated, control, equal_var=False)
    did = float(treated.mean() - control.mean())
    ci = welch.confidence_interval(confidence)
    design = np.column_stack([np.ones_like(pre), pre, massage])
    coef, *_ = np.linalg.lstsq(design, post, rcond=None)
    df = len(post) - 3
    residual = post - design @ coef
    s2 = float(residual @ residual) / df if df > 0 else float("nan")
    cov = s2 * np.linalg.inv(design.T @ design)
    se = math.sqrt(cov[2, 2]) if df > 0 else float("nan")
    t_crit = stats.t.ppf(0.5 + confidence / 2, df) if df > 0 else float("nan")
    p_ancova = float(2 * stats.t.sf(abs(coef[2] / se), df)) if se > 0 else float("nan")
    return TwoArmAnalysis(
        arms=arms,
        did=did,
        did_ci_low=float(ci.low),
        did_ci_high=float(ci.high),
        did_p=float(welch.pvalue),
        ancova=float(coef[2]),
        ancova_se=se,
        ancova_ci_low=float(coef[2] - t_crit * se),
        ancova_ci_high=float(coef[2] + t_crit * se),
        ancova_p=p_ancova,
        ancova_slope=float(coef[1]),
        ancova_df=int(df),
        p_mann_whitney=float(stats.mannwhitneyu(treated, control, alternative="two-sided").pvalue),
    )
