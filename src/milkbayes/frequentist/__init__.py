"""The frequentist reproduction of the paper, and the audit of its published numbers.

The Wilcoxon signed-rank test as SPSS computes it and exactly, effect sizes with
intervals, and the paired t and sign tests for comparison.

Every test works on plain NumPy arrays (the change is always ``post - pre``); the
CLI and the report format the numbers. One module per idea:

=====================  =================================================================
module                 what it owns
=====================  =================================================================
``_inputs``            the validated, snapped change :func:`paired_change`; option checks
``null_distribution``  the null distribution of W+: exact with ties and zeros, and normal
``wilcoxon``           :func:`signed_ranks`, :func:`wilcoxon_signed_rank`,
                       :func:`wilcoxon_many`
``walsh``              :func:`hodges_lehmann`: the median of the Walsh averages, exact CI
``ttest``              :func:`paired_t_test` with the mean change and Cohen's d_z
``sign``               :func:`sign_test`
``spss``               SPSS's tables and p formats; the critical value
                       :func:`largest_smaller_rank_sum`
``audit``              :func:`audit_published`: what the paper's numbers imply
=====================  =================================================================

Examples
--------
>>> from milkbayes.frequentist import wilcoxon_signed_rank
>>> wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 6, 9], method="exact").p_value
0.125
"""

from milkbayes.frequentist._inputs import ALTERNATIVES, paired_change
from milkbayes.frequentist.audit import AuditCheck, audit_checks, audit_published
from milkbayes.frequentist.null_distribution import EXACT_MAX_WORK, exact_null_distribution
from milkbayes.frequentist.sign import SignTestResult, sign_test
from milkbayes.frequentist.spss import (
    format_p_exact,
    format_p_honest,
    format_p_spss,
    format_spss_text,
    largest_smaller_rank_sum,
    spss_tables,
    spss_z_threshold,
)
from milkbayes.frequentist.ttest import PairedTTestResult, paired_t_test
from milkbayes.frequentist.walsh import HL_EXACT_MAX_N, HL_WALSH_MAX_N, hodges_lehmann
from milkbayes.frequentist.wilcoxon import (
    METHODS,
    ZERO_METHODS,
    WilcoxonResult,
    signed_ranks,
    wilcoxon_many,
    wilcoxon_signed_rank,
)

__all__ = [
    "ALTERNATIVES",
    "EXACT_MAX_WORK",
    "HL_EXACT_MAX_N",
    "HL_WALSH_MAX_N",
    "METHODS",
    "ZERO_METHODS",
    "AuditCheck",
    "PairedTTestResult",
    "SignTestResult",
    "WilcoxonResult",
    "audit_checks",
    "audit_published",
    "exact_null_distribution",
    "format_p_exact",
    "format_p_honest",
    "format_p_spss",
    "format_spss_text",
    "hodges_lehmann",
    "largest_smaller_rank_sum",
    "paired_change",
    "paired_t_test",
    "sign_test",
    "signed_ranks",
    "spss_tables",
    "spss_z_threshold",
    "wilcoxon_many",
    "wilcoxon_signed_rank",
]
