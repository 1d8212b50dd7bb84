"""The exact sign test of a paired change: the number of increases against Binomial(n, 1/2).

Examples
--------
>>> sign_test([0, 0, 0], [1, 2, -1]).n_positive
2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from milkbayes.errors import DataError
from milkbayes.frequentist._inputs import ALTERNATIVES, Alternative, check_choice, paired_change

__all__ = ["SignTestResult", "sign_test"]


@dataclass(frozen=True)
class SignTestResult:
    """Exact sign test of post - pre: the number of increases against Binomial(n, 1/2).

    Attributes
    ----------
    n_positive, n_negative, n_zero : int
        Zeros are dropped, as in the classical sign test.
    p_value : float
    alternative : str
    proportion_positive : float
        n_positive / (n_positive + n_negative).
    """

    n_positive: int
    n_negative: int
    n_zero: int
    p_value: float
    alternative: str
    proportion_positive: float

    def to_dict(self) -> dict:
        """Plain-Python dictionary of every field."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy table."""
        return pd.DataFrame([self.to_dict()])


def sign_test(pre, post, *, alternative: Alternative = "two-sided") -> SignTestResult:
    """Exact sign test (binomial test of the share of increases, zeros dropped).

    Parameters
    ----------
    pre, post : array_like of float
    alternative : {"two-sided", "greater", "less"}
        ``greater``: more increases than decreases.

    Returns
    -------
    SignTestResult

    Notes
    -----
    Under H0, K = number of increases ~ Binomial(n_positive + n_negative, 1/2);
    :func:`scipy.stats.binomtest` computes the exact p-value (two-sided: the sum of
    the probabilities no larger than that of the observed K).

    References
    ----------
    Conover, W. J. (1999). *Practical Nonparametric Statistics*, 3rd ed., section 3.4.

    Examples
    --------
    7 increases and 2 decreases: p = 2 (1 + 9 + 36) / 2^9.

    >>> res = sign_test([0] * 9, [1, 2, 3, 4, 5, 6, 7, -1, -2])
    >>> res.p_value == 2 * (1 + 9 + 36) / 2 ** 9
    True
    """
    from scipy import stats  # here: importing scipy.stats dominates a short command

    check_choice("alternative", alternative, ALTERNATIVES)
    change = paired_change(pre, post)
    n_positive, n_negative = int((change > 0).sum()), int((change < 0).sum())
    trials = n_positive + n_negative
    if trials == 0:
        raise DataError(f"all {change.size} changes are zero: the sign test has nothing to count")
    test = stats.binomtest(n_positive, trials, 0.5, alternative=alternative)
    return SignTestResult(
        n_positive=n_positive,
        n_negative=n_negative,
        n_zero=int(change.size - trials),
        p_value=float(test.pvalue),
        alternative=alternative,
        proportion_positive=n_positive / trials,
    )
