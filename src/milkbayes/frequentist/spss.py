"""What SPSS prints for the Wilcoxon test, and what its printed "p = .000" implies.

SPSS's "2 Related Samples" procedure reports the signed-rank test by the normal
approximation (average ranks, tie-corrected variance, no continuity correction),
with Z based on the smaller rank sum and p rounded to three decimals. This module
renders those two tables (:func:`spss_tables`, :func:`format_spss_text`), prints p
as SPSS does beside honest forms (:func:`format_p_spss`, :func:`format_p_honest`,
:func:`format_p_exact`), and owns the inverse question: how small must the smaller
rank sum be for SPSS to print p below a threshold (:func:`spss_z_threshold`,
:func:`largest_smaller_rank_sum`). The audit of the paper and the power
simulations of the sensitivity analyses both use that one critical value.

Examples
--------
With 24 untied non-zero differences, SPSS prints ".000" (p < .0005) exactly when
the smaller rank sum is at most 28 of 300:

>>> largest_smaller_rank_sum(24, 0.0005)
28
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from milkbayes.errors import FrequentistOptionError
from milkbayes.frequentist.null_distribution import normal_p_value
from milkbayes.frequentist.wilcoxon import WilcoxonResult
from milkbayes.published import N_PARTICIPANTS, SPSS_P_THRESHOLD

__all__ = [
    "format_p_exact",
    "format_p_honest",
    "format_p_spss",
    "format_spss_text",
    "largest_smaller_rank_sum",
    "spss_tables",
    "spss_z_threshold",
]


# ----------------------------------------------------------------------------- critical value


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise FrequentistOptionError(f"the p threshold must be a number, got {threshold!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise FrequentistOptionError(
            f"the p threshold must lie strictly between 0 and 1, got {threshold!r}"
        )
    return float(threshold)


def spss_z_threshold(threshold: float = SPSS_P_THRESHOLD) -> float:
    r"""|Z| above which a two-sided normal p is below ``threshold`` (SPSS prints .000).

    Parameters
    ----------
    threshold : float
        Bound on the two-sided p-value, in (0, 1); default .0005, below which SPSS
        prints ".000".

    Returns
    -------
    float
        :math:`\Phi^{-1}(1 - t/2)`.

    Raises
    ------
    FrequentistOptionError
        If ``threshold`` is not a number in (0, 1).

    Notes
    -----
    :math:`p = 2\,\Phi(-|Z|) < t \iff |Z| > \Phi^{-1}(1 - t/2)`; for t = .0005
    that is ``norm.isf(0.00025)`` = 3.4808.

    Examples
    --------
    >>> round(spss_z_threshold(), 4)
    3.4808
    """
    from scipy import stats  # here: importing scipy.stats dominates a short command

    return float(stats.norm.isf(_check_threshold(threshold) / 2.0))


def largest_smaller_rank_sum(n: int = N_PARTICIPANTS, threshold: float = SPSS_P_THRESHOLD) -> int:
    r"""Largest smaller rank sum min(W+, W-) for which SPSS's two-sided p is below ``threshold``.

    This is the Wilcoxon critical value of the SPSS procedure; its mirror image,
    the smallest W+ with p below ``threshold`` and post > pre, is
    ``n (n + 1) / 2 - largest_smaller_rank_sum(n, threshold)``.

    Parameters
    ----------
    n : int
        Number of untied, non-zero differences (>= 1).
    threshold : float
        Bound on the two-sided p-value, in (0, 1) (default .0005: SPSS's ".000").

    Returns
    -------
    int
        The largest integer T in 0..floor(n(n+1)/4) whose p is below ``threshold``;
        -1 if even T = 0 (every difference of one sign) does not get there.

    Raises
    ------
    FrequentistOptionError
        If ``n`` is not a positive integer or ``threshold`` not a number in (0, 1).

    Notes
    -----
    For n untied non-zero differences SPSS computes
    :math:`Z = (T - n(n+1)/4) / \sqrt{n(n+1)(2n+1)/24}` from the smaller rank sum
    T and :math:`p = 2\Phi(-|Z|)`. So p < t exactly when
    :math:`T < n(n+1)/4 - z^* \mathrm{sd}` with :math:`z^*` from
    :func:`spss_z_threshold`. The closed form gives the candidate; the p of the
    candidate and of its neighbour then settle it, because SPSS compares the p it
    computes, and where that p equals the threshold to rounding (a threshold such as
    2 Phi(-2) with n = 24, where T = 80 has Z = -2 exactly) the closed form can be
    one off. A p equal to the threshold is not below it.

    Examples
    --------
    With n = 24 the mean is 150, the sd 35, so T < 150 - 35 * 3.4808 = 28.17:

    >>> largest_smaller_rank_sum(24)
    28
    >>> largest_smaller_rank_sum(8)  # even T = 0 gives p = .012 with 8 pairs
    -1
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise FrequentistOptionError(f"n must be a positive whole number, got {n!r}")
    n = int(n)
    z_star = spss_z_threshold(threshold)
    threshold = float(threshold)
    mean = n * (n + 1) / 4.0
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)

    def below(t: int) -> bool:
        return normal_p_value((t - mean) / sd, "two-sided") < threshold

    top = math.floor(mean)
    t = min(max(math.ceil(mean - z_star * sd) - 1, -1), top)
    while t >= 0 and not below(t):
        t -= 1
    while t < top and below(t + 1):
        t += 1
    return t


# ----------------------------------------------------------------------------- printing


def format_p_spss(p: float) -> str:
    """The p-value as SPSS prints it in "Asymp. Sig.": three decimals, no leading zero.

    Examples
    --------
    >>> format_p_spss(1.2e-05), format_p_spss(0.0312), format_p_spss(1.0)
    ('.000', '.031', '1.000')
    """
    text = f"{p:.3f}"
    return text[1:] if text.startswith("0") else text


def format_p_honest(p: float) -> str:
    """The p-value as APA style reports it: ``p < .001`` below a thousandth.

    Examples
    --------
    >>> format_p_honest(1.2e-05), format_p_honest(0.0312)
    ('p < .001', 'p = .031')
    """
    if p < 0.001:
        return "p < .001"
    return "p = " + format_p_spss(p)


def format_p_exact(p: float) -> str:
    """The p-value to three significant digits (two, in scientific notation, below .001).

    Examples
    --------
    >>> format_p_exact(1.234e-05), format_p_exact(0.03125)
    ('1.2e-05', '0.0312')
    """
    return f"{p:.1e}" if p < 0.001 else f"{p:.3g}"


def spss_tables(
    result: WilcoxonResult, *, pre_label: str = "pre", post_label: str = "post"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SPSS "Ranks" and "Test Statistics" tables, as numbers.

    Parameters
    ----------
    result : WilcoxonResult
        Best computed with ``method="spss"`` (zeros dropped, as SPSS does).
    pre_label, post_label : str
        Variable names for the row label ``post - pre``.

    Returns
    -------
    ranks : pandas.DataFrame
        Rows ``Negative Ranks``, ``Positive Ranks``, ``Ties``, ``Total``; columns
        ``N``, ``Mean Rank``, ``Sum of Ranks`` (missing where SPSS leaves a blank)
        and ``footnote`` (``a``, ``b``, ``c``).
    test_statistics : pandas.DataFrame
        Rows ``Z`` and ``Asymp. Sig. (2-tailed)``; the Z row carries SPSS's
        sign (based on the smaller rank sum) and the "Based on ..." footnote.

    Examples
    --------
    >>> from milkbayes.frequentist import wilcoxon_signed_rank
    >>> res = wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 3, 6], method="spss")
    >>> ranks, test = spss_tables(res)
    >>> ranks["N"].tolist()
    [0, 3, 1, 4]
    >>> test.loc["Z", "footnote"]
    'Based on negative ranks.'
    """
    if result.zero_method != "wilcox" or result.correction:
        raise FrequentistOptionError(
            "SPSS tables need zero_method='wilcox' and no continuity correction, as SPSS "
            "computes them; use method='spss'"
        )
    ranks = pd.DataFrame(
        {
            "N": [result.n_negative, result.n_positive, result.n_zero, result.n],
            "Mean Rank": [result.mean_rank_negative, result.mean_rank_positive, np.nan, np.nan],
            "Sum of Ranks": [result.w_minus, result.w_plus, np.nan, np.nan],
            "footnote": ["a", "b", "c", ""],
        },
        index=pd.Index(
            ["Negative Ranks", "Positive Ranks", "Ties", "Total"],
            name=f"{post_label} - {pre_label}",
        ),
    )
    p_two_sided = normal_p_value(result.z_spss, "two-sided")
    test = pd.DataFrame(
        {
            "value": [result.z_spss, p_two_sided],
            "footnote": [f"Based on {result.spss_based_on} ranks.", ""],
        },
        index=pd.Index(["Z", "Asymp. Sig. (2-tailed)"], name=f"{post_label} - {pre_label}"),
    )
    return ranks, test


def format_spss_text(
    result: WilcoxonResult, *, pre_label: str = "pre", post_label: str = "post"
) -> str:
    """Render the two SPSS tables as text, with p in SPSS, honest and unrounded form.

    Examples
    --------
    >>> from milkbayes.frequentist import wilcoxon_signed_rank
    >>> res = wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 3, 6], method="spss")

    Changes 1, 2, 0, 2: ranks 1, 2.5, 2.5 of the non-zero ones, W+ = 6, W- = 0,
    E W+ = 3, Var W+ = (1 + 2.5^2 + 2.5^2)/4 = 3.375, so Z = -3/sqrt(3.375) = -1.633.

    >>> print(format_spss_text(res))  # doctest: +NORMALIZE_WHITESPACE
    Ranks
                                  N  Mean Rank  Sum of Ranks
    post - pre  Negative Ranks    0a       .00           .00
                Positive Ranks    3b      2.00          6.00
                Ties              1c
                Total             4
    a. post < pre
    b. post > pre
    c. post = pre
    <BLANKLINE>
    Test Statistics(a)
                               post - pre
    Z                             -1.633b
    Asymp. Sig. (2-tailed)           .102
    a. Wilcoxon Signed Ranks Test
    b. Based on negative ranks.
    <BLANKLINE>
    p as SPSS prints it: .102 | honest: p = .102 | unrounded: 0.102
    """
    ranks, test = spss_tables(result, pre_label=pre_label, post_label=post_label)
    label = f"{post_label} - {pre_label}"
    width = max(len(label), 10) + 2
    lines = ["Ranks", f"{'':<{width + 16}}{'N':>4} {'Mean Rank':>10}{'Sum of Ranks':>14}"]
    for i, (row, values) in enumerate(ranks.iterrows()):
        head = f"{label if i == 0 else '':<{width}}{row:<16}"
        count = f"{int(values['N']):>4}{values['footnote']:<1}"
        if np.isnan(values["Mean Rank"]):
            lines.append(f"{head}{count}".rstrip())
        else:
            lines.append(
                f"{head}{count}{_spss_number(values['Mean Rank']):>10}"
                f"{_spss_number(values['Sum of Ranks']):>14}"
            )
    lines += [
        f"a. {post_label} < {pre_label}",
        f"b. {post_label} > {pre_label}",
        f"c. {post_label} = {pre_label}",
        "",
        "Test Statistics(a)",
        f"{'':<26}{label:>11}",
    ]
    z_value, p_value = test["value"].tolist()
    lines.append(f"{'Z':<26}{z_value:>11.3f}b")
    lines.append(f"{'Asymp. Sig. (2-tailed)':<26}{format_p_spss(p_value):>11}")
    lines += ["a. Wilcoxon Signed Ranks Test", f"b. {test.loc['Z', 'footnote']}"]
    lines += [
        "",
        f"p as SPSS prints it: {format_p_spss(p_value)} | honest: "
        f"{format_p_honest(p_value)} | unrounded: {format_p_exact(p_value)}",
    ]
    return "\n".join(lines)


def _spss_number(value: float) -> str:
    text = f"{value:.2f}"
    return text[1:] if text.startswith("0.") else text
