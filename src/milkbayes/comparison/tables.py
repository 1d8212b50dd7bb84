"""The tables that put the reanalysis beside the paper.

Frequentist versus Bayesian, the three priors side by side, and Kruschke's ROPE
statement.

Examples
--------
>>> rope_statement(3.0, 9.0, (-2.0, 2.0))
'CrI entirely above the ROPE [-2, 2]: practically positive'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from milkbayes.errors import ModelError

__all__ = [
    "FreqVsBayesRow",
    "PriorRow",
    "freq_vs_bayes_table",
    "level_label",
    "rope_statement",
    "three_prior_table",
]


def level_label(ci_prob: float) -> str:
    """An interval's probability as a label (``0.9`` -> ``90 %``), for table cells.

    Examples
    --------
    >>> level_label(0.9), level_label(0.95)
    ('90 %', '95 %')
    """
    return f"{100 * float(ci_prob):.10g} %"


def rope_statement(
    ci_low: float, ci_high: float, rope: tuple[float, float], benefit: str = "increase"
) -> str:
    """Kruschke's HDI+ROPE decision rule, applied to a 95 % credible interval.

    Parameters
    ----------
    ci_low, ci_high : float
        The 95 % credible interval of the effect.
    rope : (float, float)
        Region of practical equivalence to zero, in outcome units.
    benefit : {"increase", "decrease"}
        With ``"decrease"`` (lower is better) a side outside the ROPE also says
        whether it is the benefit or harm.

    Returns
    -------
    str
        One sentence.

    Examples
    --------
    >>> rope_statement(3.0, 9.0, (-2.0, 2.0))
    'CrI entirely above the ROPE [-2, 2]: practically positive'
    >>> rope_statement(-1.0, 1.0, (-2.0, 2.0))
    'CrI inside the ROPE [-2, 2]: practically equivalent to no effect'
    >>> rope_statement(1.0, 9.0, (-2.0, 2.0))
    'CrI overlaps the ROPE [-2, 2]: undecided'
    >>> rope_statement(-9.0, -3.0, (-2.0, 2.0), benefit="decrease")
    'CrI entirely below the ROPE [-2, 2]: practically negative, a benefit (lower is better)'
    """
    lo, hi = rope
    where = f"the ROPE [{lo:g}, {hi:g}]"
    fall = benefit == "decrease"
    if ci_low > hi:
        tail = ", harm (lower is better)" if fall else ""
        return f"CrI entirely above {where}: practically positive{tail}"
    if ci_high < lo:
        tail = ", a benefit (lower is better)" if fall else ""
        return f"CrI entirely below {where}: practically negative{tail}"
    if lo <= ci_low and ci_high <= hi:
        return f"CrI inside {where}: practically equivalent to no effect"
    return f"CrI overlaps {where}: undecided"


@dataclass(frozen=True)
class FreqVsBayesRow:
    """One line of the frequentist-versus-Bayesian table.

    Attributes
    ----------
    quantity : str
        ``"estimate"``, ``"interval"`` or ``"evidence"``.
    frequentist_label, frequentist_value : str, float or tuple
    bayesian_label, bayesian_value : str, float or tuple
    """

    quantity: str
    frequentist_label: str
    frequentist_value: float | tuple[float, float]
    bayesian_label: str
    bayesian_value: float | tuple[float, float]


def freq_vs_bayes_table(
    *,
    hodges_lehmann: float,
    hl_ci: tuple[float, float],
    mean_change: float,
    t_ci: tuple[float, float],
    p_wilcoxon: float,
    p_t: float | None,
    effect_median: float,
    effect_ci: tuple[float, float],
    p_effect_gt_0: float,
    p_effect_gt_mcid: float,
    mcid: float,
    bf10: float | None,
    bf10_text: str | None = None,
    signed_rank_bf10: float | None = None,
    ci_prob: float = 0.95,
    benefit: str = "increase",
) -> list[FreqVsBayesRow]:
    """Estimate, interval and evidence side by side.

    Parameters
    ----------
    hodges_lehmann, hl_ci : float, (float, float)
        Hodges-Lehmann median change and its exact 95 % CI.
    mean_change, t_ci : float, (float, float)
        Mean change and the paired-t 95 % CI.
    p_wilcoxon, p_t : float
        Exact Wilcoxon p and paired-t p (two-sided).
    effect_median, effect_ci : float, (float, float)
        Posterior median and equal-tailed credible interval (at ``ci_prob``) of the effect.
    p_effect_gt_0, p_effect_gt_mcid, mcid : float
    bf10 : float or None
        Bayes factor in favour of an effect (None if the model gives none).
    bf10_text : str, optional
        A textual bound when BF10 overflows (e.g. ``"BF10 > 10^5"``).
    signed_rank_bf10 : float, optional
        BF10 of the Bayesian signed-rank test (van Doorn et al. 2020), the Bayesian
        counterpart of the Wilcoxon test; a row of its own when given.
    ci_prob : float
        Level of ``effect_ci``, printed in its label; the frequentist intervals stay
        at 95 % and say so.
    benefit : {"increase", "decrease"}
        The direction of benefit. For ``"decrease"`` (lower is better) pass
        P(effect < 0) and P(effect < -MCID) as ``p_effect_gt_0`` and
        ``p_effect_gt_mcid``: the rows are then labelled "P(benefit) = P(effect < 0)"
        and "P(benefit > MCID) = P(effect < -MCID)".

    Returns
    -------
    list of FreqVsBayesRow

    Examples
    --------
    >>> rows = freq_vs_bayes_table(hodges_lehmann=10.0, hl_ci=(7.0, 13.0), mean_change=10.5,
    ...     t_ci=(8.0, 13.0), p_wilcoxon=1e-5, p_t=1e-7, effect_median=10.2,
    ...     effect_ci=(7.5, 12.9), p_effect_gt_0=1.0, p_effect_gt_mcid=0.55, mcid=10.0,
    ...     bf10=2e4)
    >>> [r.quantity for r in rows]
    ['estimate', 'estimate', 'interval', 'interval', 'evidence', 'evidence', 'evidence']
    """
    rows = [
        FreqVsBayesRow(
            "estimate",
            "Hodges-Lehmann median change",
            hodges_lehmann,
            "posterior median of the effect",
            effect_median,
        ),
        FreqVsBayesRow(
            "estimate", "mean change", mean_change, "posterior median of the effect", effect_median
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (Hodges-Lehmann, exact)",
            tuple(hl_ci),
            f"{level_label(ci_prob)} credible interval",
            tuple(effect_ci),
        ),
        FreqVsBayesRow(
            "interval",
            "95 % CI (paired t)",
            tuple(t_ci),
            f"{level_label(ci_prob)} credible interval",
            tuple(effect_ci),
        ),
        FreqVsBayesRow(
            "evidence",
            "p (Wilcoxon, exact)",
            p_wilcoxon,
            bf10_text or "BF10",
            float("nan") if bf10 is None else bf10,
        ),
        FreqVsBayesRow(
            "evidence",
            "p (paired t)",
            float("nan") if p_t is None else p_t,
            benefit_label(benefit),
            p_effect_gt_0,
        ),
        FreqVsBayesRow(
            "evidence",
            "p (Wilcoxon, exact)",
            p_wilcoxon,
            benefit_label(benefit, mcid),
            p_effect_gt_mcid,
        ),
    ]
    if signed_rank_bf10 is not None:
        rows.append(
            FreqVsBayesRow(
                "evidence",
                "p (Wilcoxon, exact)",
                p_wilcoxon,
                "BF10 (Bayesian signed-rank, van Doorn et al. 2020)",
                signed_rank_bf10,
            )
        )
    return rows


def benefit_label(benefit: str = "increase", mcid: float | None = None) -> str:
    """How a probability of benefit is printed, on the effect's own signed scale.

    Examples
    --------
    >>> benefit_label(), benefit_label("increase", 6.3)
    ('P(effect > 0)', 'P(effect > MCID = 6.3)')
    >>> benefit_label("decrease"), benefit_label("decrease", 2.0)
    ('P(benefit) = P(effect < 0)', 'P(benefit > MCID) = P(effect < -2)')
    """
    if benefit == "decrease":
        if mcid is None:
            return "P(benefit) = P(effect < 0)"
        return f"P(benefit > MCID) = P(effect < {-mcid:.3g})"
    return "P(effect > 0)" if mcid is None else f"P(effect > MCID = {mcid:g})"


@dataclass(frozen=True)
class PriorRow:
    """One prior set in the three-prior table.

    ``p_benefit`` and ``p_benefit_gt_mcid`` are P(effect > 0) and P(effect > MCID)
    when a rise is the benefit, P(effect < 0) and P(effect < -MCID) when a fall is.
    """

    prior: str
    median: float
    ci95_low: float
    ci95_high: float
    p_gt_0: float
    p_gt_mcid: float
    p_in_rope: float
    rope_statement: str
    p_benefit: float = float("nan")
    p_benefit_gt_mcid: float = float("nan")


def three_prior_table(
    effect_draws: Mapping[str, np.ndarray],
    *,
    mcid: float,
    rope: tuple[float, float],
    ci_prob: float = 0.95,
    benefit: str = "increase",
) -> list[PriorRow]:
    """Median, central CrI at ``ci_prob``, P(> 0), P(> MCID) and a ROPE statement, per prior.

    Parameters
    ----------
    effect_draws : mapping prior name -> 1-D array of posterior draws of the effect
    mcid : float
        Minimal clinically important difference, outcome units.
    rope : (float, float)
        Region of practical equivalence.
    ci_prob : float
        Probability of the central interval, in (0, 1); ``ci95_low``/``ci95_high``
        keep their names (summary schema 1.x) whatever the level.
    benefit : {"increase", "decrease"}
        Which side is the benefit (``p_benefit``, ``p_benefit_gt_mcid``); the
        effect's own ``p_gt_0``/``p_gt_mcid`` do not depend on it.

    Returns
    -------
    list of PriorRow
        In the mapping's order (skeptical, neutral, enthusiastic by convention).

    Notes
    -----
    The interval is equal-tailed (quantiles :math:`(1 - P)/2` and :math:`(1 + P)/2`,
    2.5 % and 97.5 % at the default), as ``az.summary(..., ci_prob=P)`` gives with
    ``ci_kind="eti"``. P(> c) is the
    share of draws above c.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(10.0, 2.0, 200_000)
    >>> row = three_prior_table({"neutral": draws}, mcid=10.0, rope=(-2.0, 2.0))[0]
    >>> round(row.median, 1), round(row.p_gt_mcid, 2), round(row.ci95_low, 1)
    (10.0, 0.5, 6.1)
    """
    sign = -1.0 if benefit == "decrease" else 1.0
    rows = []
    for name, draws in effect_draws.items():
        x = np.asarray(draws, dtype=float).ravel()
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise ModelError(f"prior {name!r}: effect draws are empty or not finite")
        low, med, high = np.quantile(x, [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
        rows.append(
            PriorRow(
                prior=name,
                median=float(med),
                ci95_low=float(low),
                ci95_high=float(high),
                p_gt_0=float((x > 0).mean()),
                p_gt_mcid=float((x > mcid).mean()),
                p_in_rope=float(((x >= rope[0]) & (x <= rope[1])).mean()),
                rope_statement=rope_statement(float(low), float(high), rope, benefit),
                p_benefit=float((sign * x > 0).mean()),
                p_benefit_gt_mcid=float((sign * x > mcid).mean()),
            )
        )
    return rows
