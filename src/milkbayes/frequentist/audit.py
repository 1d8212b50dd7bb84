"""Audit of the published numbers: what the paper's figures imply, and where they clash.

The paper reports five percentages, n = 24 and "p = 0.000". :func:`audit_published`
checks each percentage against n (which integer counts round to it), derives what
SPSS's "0.000" implies about the test statistic, checks data at hand against those
bounds and counts, and lists the paper's own contradictions
(:data:`milkbayes.published.INCONSISTENCIES`). Every bound is computed, never typed
in; the critical value of the SPSS procedure comes from
:func:`milkbayes.frequentist.spss.largest_smaller_rank_sum`.

Examples
--------
>>> table = audit_published()
>>> table.set_index("check").loc["p_zero_implies_z", "found"]
'|Z| > 3.4808'
>>> exact_p_of_smaller_rank_sum(28, 24) < 0.0005
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from milkbayes import published
from milkbayes.frequentist._inputs import paired_change
from milkbayes.frequentist.null_distribution import exact_null_distribution
from milkbayes.frequentist.reproduce import PAPER_GROUP, paired_rows
from milkbayes.frequentist.spss import (
    format_p_exact,
    largest_smaller_rank_sum,
    spss_z_threshold,
)
from milkbayes.frequentist.wilcoxon import wilcoxon_signed_rank

if TYPE_CHECKING:  # pragma: no cover
    from milkbayes.data.study import Study

__all__ = [
    "AuditCheck",
    "audit_checks",
    "audit_published",
    "counts_rounding_to",
    "exact_p_of_smaller_rank_sum",
]

Status = Literal["pass", "fail", "info"]
AUDIT_COLUMNS = ("check", "expected", "found", "status", "explanation")


@dataclass(frozen=True)
class AuditCheck:
    """One row of the audit.

    Attributes
    ----------
    check : str
        Stable snake_case name.
    expected : str
        What the paper (or arithmetic) says should hold.
    found : str
        What was computed or read.
    status : {"pass", "fail", "info"}
        ``fail`` marks an error or a contradiction; ``info`` a derived fact or a
        check that cannot be made with the data at hand.
    explanation : str
        One or two sentences a reader can act on.
    """

    check: str
    expected: str
    found: str
    status: Status
    explanation: str


# ----------------------------------------------------------------------------- arithmetic


def counts_rounding_to(
    percent: float, n: int = published.N_PARTICIPANTS, decimals: int = 1
) -> tuple[int, ...]:
    """Integer counts k in 0..n whose percentage 100 k / n rounds to ``percent``.

    Rounding is half-up at ``decimals`` places, in exact rational arithmetic.

    Examples
    --------
    >>> counts_rounding_to(45.8), counts_rounding_to(45.9), counts_rounding_to(50.0, n=40)
    ((11,), (), (20,))
    """
    target = Fraction(str(percent))
    scale = 10**decimals
    return tuple(
        k
        for k in range(n + 1)
        if Fraction(math.floor(Fraction(100 * k, n) * scale + Fraction(1, 2)), scale) == target
    )


def exact_p_of_smaller_rank_sum(t: int, n: int = published.N_PARTICIPANTS) -> float:
    """Exact two-sided p of a smaller rank sum ``t`` with n untied non-zero differences.

    Examples
    --------
    >>> exact_p_of_smaller_rank_sum(0, 5) == 2 / 2 ** 5
    True
    """
    values, pmf = exact_null_distribution(np.arange(1, n + 1))
    return float(min(1.0, 2.0 * pmf[values <= t].sum()))


# ----------------------------------------------------------------------------- checks


def _percentage_checks() -> list[AuditCheck]:
    rows = []
    n = published.N_PARTICIPANTS
    for column, fact in published.COVARIATE_FACTS.items():
        counts = counts_rounding_to(fact.percent, n)
        found = ", ".join(f"{k}/{n}" for k in counts) if counts else f"no count out of {n}"
        if not counts:
            status, why = (
                "fail",
                (
                    f"{fact.percent} % is not k/{n} rounded for any integer k: "
                    "the percentage or n is wrong."
                ),
            )
        elif counts == (fact.count,):
            status, why = (
                "pass",
                (
                    f"{fact.percent} % can only be {fact.count} of {n} mothers "
                    f"({100 * fact.count / n:.4g} %)."
                ),
            )
        else:
            status, why = "info", f"{fact.percent} % fits several counts out of {n}."
        rows.append(
            AuditCheck(
                f"percent_{column}",
                f"{fact.percent} % of {n} ({fact.level})",
                found,
                status,
                f"{why} Source: {fact.where}.",
            )
        )
    return rows


def _p_value_checks() -> list[AuditCheck]:
    n = published.N_PARTICIPANTS
    threshold = published.SPSS_P_THRESHOLD
    z_star = spss_z_threshold(threshold)
    t_max = largest_smaller_rank_sum(n, threshold)
    total = n * (n + 1) // 2
    exact_at_bound = exact_p_of_smaller_rank_sum(t_max, n)
    values, pmf = exact_null_distribution(np.arange(1, n + 1))
    exact_two_sided = 2.0 * np.cumsum(pmf)  # at T = values, for T below the mean
    exact_bound = int(values[exact_two_sided < threshold].max(initial=-1))
    return [
        AuditCheck(
            "p_zero_implies_p",
            f'SPSS prints "{published.REPORTED_P_TEXT}"',
            f"p < {threshold:g}",
            "info",
            "SPSS rounds p to three decimals, so .000 means p < .0005, not p = 0. Report "
            '"p < .001" (APA) instead.',
        ),
        AuditCheck(
            "p_zero_implies_z",
            f"p < {threshold:g} (two-sided normal approximation)",
            f"|Z| > {z_star:.4f}",
            "info",
            f"2 * (1 - Phi(|Z|)) < {threshold:g} exactly when |Z| > norm.isf({threshold / 2:g})"
            f" = {z_star:.4f}; SPSS's Z uses average ranks, a tie-corrected variance and no "
            "continuity correction.",
        ),
        AuditCheck(
            "p_zero_implies_rank_sum",
            f"smaller rank sum for |Z| > {z_star:.2f} with {n} untied non-zero differences",
            f"T <= {t_max} of {total}",
            "pass" if t_max >= 0 else "fail",
            f"p = .000 is attainable with {n} pairs"
            f"{'' if t_max >= 0 else ' only if T < 0: it is not'}. "
            f"E(T) = {n * (n + 1) / 4:g}, sd(T) = "
            f"{math.sqrt(n * (n + 1) * (2 * n + 1) / 24):.4g}; T = {t_max} is the largest "
            f"smaller rank sum SPSS would print as .000 (its exact p is "
            f"{format_p_exact(exact_at_bound)}; the exact test would allow T <= {exact_bound})."
            " Ties and zeros move this bound.",
        ),
    ]


def _data_checks(study: Study) -> list[AuditCheck]:
    n_paper = published.N_PARTICIPANTS
    rows = [
        AuditCheck(
            "data_n",
            f"{n_paper} mothers",
            f"{study.n} participants",
            "pass" if study.n == n_paper else "fail",
            "The paper analysed 24 mothers; the counts and bounds below assume n = 24.",
        )
    ]
    rows_tested = paired_rows(study, PAPER_GROUP)
    pre, post = rows_tested.pre, rows_tested.post
    result = wilcoxon_signed_rank(pre, post, method="spss")
    threshold = published.SPSS_P_THRESHOLD
    z_star = spss_z_threshold(threshold)
    smaller = min(result.w_plus, result.w_minus)
    rows.append(
        AuditCheck(
            "data_spss_p",
            f"p < {threshold:g} (SPSS prints {published.REPORTED_P_TEXT})",
            f"Z = {result.z_spss:.3f}, p = {format_p_exact(result.p_value)}",
            "pass" if result.p_value < threshold else "fail",
            f"The SPSS procedure on these data (massage group, n = {result.n}, "
            f"{result.n_zero} zero change(s)); |Z| must exceed {z_star:.4f}.",
        )
    )
    # the snapped change, so that 0.2 and -0.2 tie as they do in the ranks above
    magnitudes = np.abs(paired_change(pre, post))
    untied = result.n_ranked == n_paper and len(np.unique(magnitudes)) == n_paper
    if untied:
        bound = largest_smaller_rank_sum(n_paper, threshold)
        rows.append(
            AuditCheck(
                "data_rank_sum",
                f"smaller rank sum <= {bound}",
                f"{smaller:g}",
                "pass" if smaller <= bound else "fail",
                f"{n_paper} untied non-zero differences, so the bound derived above applies.",
            )
        )
    else:
        _, sizes = np.unique(magnitudes[magnitudes > 0], return_counts=True)
        ties = int(sizes[sizes > 1].sum())
        rows.append(
            AuditCheck(
                "data_rank_sum",
                f"smaller rank sum <= {largest_smaller_rank_sum(n_paper)} "
                f"(bound for {n_paper} untied non-zero differences)",
                f"{smaller:g}",
                "info",
                f"{result.n_ranked} non-zero differences, {ties} of them in tie groups, and "
                f"{result.n_zero} zero(s): the untied bound on T does not apply exactly; the Z "
                "check above (tie-corrected) is the one that decides.",
            )
        )
    for column, fact in published.COVARIATE_FACTS.items():
        if column not in study.table.columns:
            rows.append(
                AuditCheck(
                    f"data_count_{column}",
                    f"{fact.count} {fact.level}",
                    "column absent",
                    "info",
                    f"The data have no {column} column to compare.",
                )
            )
            continue
        count = int((study.table[column].astype(str) == fact.level).sum())
        rows.append(
            AuditCheck(
                f"data_count_{column}",
                f"{fact.count} of {n_paper} {fact.level}",
                f"{count} of {study.n}",
                "pass" if count == fact.count else "fail",
                f"Published {fact.percent} % of {n_paper}.",
            )
        )
    rows.append(
        AuditCheck(
            "data_groups",
            "one group (as the methods describe)",
            "control arm present" if study.has_control else "one group",
            "info",
            "A control arm would allow the nonequivalent-control-group analysis the title "
            "promises (model two_arm)."
            if study.has_control
            else "Single-group data: the pre/post difference mixes the massage with time.",
        )
    )
    return rows


_CONTRADICTIONS = {
    # key: (check name, expected, found, status)
    "design_label": (
        "design_label",
        "a nonequivalent control group",
        "one group, no comparison",
        "fail",
    ),
    "univariate_difference": (
        "univariate_mislabel",
        "a bivariate (paired) analysis",
        "'univariate analysis found a difference'",
        "fail",
    ),
    "occupation": (
        "occupation_contradiction",
        "farm labourers the largest group (37.5 %)",
        "'most were entrepreneurs'",
        "fail",
    ),
    "aged_14": ("aged_14", "95.8 % adult (23 of 24)", "'most aged 14'", "fail"),
    "mean_vs_rank": (
        "mean_vs_rank_wording",
        "a statement about ranks or medians",
        "'difference in mean production'",
        "fail",
    ),
    "outcome_names": ("outcome_unit", "one outcome with a unit", "three names, no unit", "info"),
}


def _inconsistency_checks() -> list[AuditCheck]:
    rows = []
    for fact in published.INCONSISTENCIES:
        name, expected, found, status = _CONTRADICTIONS.get(
            fact.key, (fact.key, "consistent text", "inconsistent", "fail")
        )
        rows.append(
            AuditCheck(
                name, expected, found, status, f'{fact.statement} ({fact.where}: "{fact.quote}")'
            )
        )
    return rows


def audit_checks(study: Study | None = None) -> tuple[AuditCheck, ...]:
    """Every check of the audit, in reading order (see :func:`audit_published`)."""
    rows = [*_percentage_checks(), *_p_value_checks()]
    if study is not None:
        rows += _data_checks(study)
    rows += _inconsistency_checks()
    return tuple(rows)


def audit_published(study: Study | None = None) -> pd.DataFrame:
    r"""The audit of the published numbers as a table of checks.

    Parameters
    ----------
    study : milkbayes.data.study.Study, optional
        Data to check against the published bounds and counts (the massage group is
        tested). Without it only the paper is audited.

    Returns
    -------
    pandas.DataFrame
        Columns ``check``, ``expected``, ``found``, ``status`` (``pass``, ``fail``
        or ``info``) and ``explanation``; one row per check.

    Notes
    -----
    - Percentages: every count k in 0..24 with round(100 k / 24, 1) equal to the
      published value; a percentage no count reaches is a ``fail``.
    - "p = 0.000": SPSS prints three decimals, so p < .0005; under the SPSS
      procedure that is :math:`|Z| > \Phi^{-1}(1 - .00025) = 3.4808`, and with 24
      untied non-zero differences a smaller rank sum T <= 28 of 300
      (E T = 150, sd T = 35).
    - The paper's contradictions come from
      :data:`milkbayes.published.INCONSISTENCIES`.

    References
    ----------
    IBM SPSS Statistics Algorithms, "NPAR TESTS" (Wilcoxon: asymptotic Z, no
    continuity correction).

    Examples
    --------
    >>> table = audit_published()
    >>> table.set_index("check").loc["p_zero_implies_rank_sum", "found"]
    'T <= 28 of 300'
    >>> sorted(set(table["status"]))
    ['fail', 'info', 'pass']
    """
    return pd.DataFrame([asdict(row) for row in audit_checks(study)], columns=list(AUDIT_COLUMNS))
