"""The frequentist reproduction: the Wilcoxon signed-rank test as SPSS computes it
and exactly, effect sizes with intervals, the paired t and sign tests, and the audit
of the published numbers.

Examples
--------
>>> from milkbayes.frequentist import wilcoxon_signed_rank
>>> wilcoxon_signed_rank([1, 2, 3, 4], [2, 4, 6, 9], method="exact").p_value
0.125
"""

from milkbayes.frequentist.audit import audit_published
from milkbayes.frequentist.paired_tests import (
    format_spss_text,
    hodges_lehmann,
    paired_t_test,
    sign_test,
    wilcoxon_many,
    wilcoxon_signed_rank,
)

__all__ = [
    "audit_published",
    "format_spss_text",
    "hodges_lehmann",
    "paired_t_test",
    "sign_test",
    "wilcoxon_many",
    "wilcoxon_signed_rank",
]
