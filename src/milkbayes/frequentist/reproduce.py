"""The paper's analysis, reproduced once: what ``milkbayes reproduce`` prints and the report shows.

The paper tests the change ``post - pre`` within the massaged mothers with SPSS's
Wilcoxon signed-rank procedure and prints "p = 0.000". :func:`reproduce` computes
everything a reader needs to judge that number, on the massage group only (a
control arm, when the data have one, is not part of the paper's test):

- the univariate description of the whole study (the paper's Table 1);
- the Wilcoxon test as SPSS computes it (zeros dropped, tie-corrected asymptotic
  Z without continuity correction) and with its exact conditional p-value;
- SPSS's "Ranks" and "Test Statistics" tables and their text;
- the paired t-test and the sign test, for comparison;
- the audit of the published numbers (:mod:`milkbayes.frequentist.audit`).

The command line and the reanalysis report both read a :class:`Reproduction`, so
they cannot disagree on which mothers were tested.

Examples
--------
>>> from milkbayes.datasets import load_bundled
>>> result = reproduce(load_bundled("volume_ml"))
>>> result.group, result.n
('massage', 24)
>>> result.exact.p_value < 0.0005  # SPSS prints .000
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from milkbayes.errors import DataError, FrequentistOptionError, MilkbayesError

if TYPE_CHECKING:
    from milkbayes.data import Description, Study
    from milkbayes.frequentist import (
        PairedTTestResult,
        SignTestResult,
        WilcoxonResult,
    )
    from milkbayes.frequentist.audit import AuditCheck

__all__ = ["GROUPS", "PAPER_GROUP", "PairedRows", "Reproduction", "paired_rows", "reproduce"]

PAPER_GROUP = "massage"
"""The group the paper's Wilcoxon test is computed in."""

GROUPS = ("massage", "control", "all")
"""The groups a paired test can be computed in (``all``: every row, both arms)."""


@dataclass(frozen=True, eq=False)
class PairedRows:
    """The participants of one group and their measurements, in file order.

    Attributes
    ----------
    group : {"massage", "control", "all"}
        Which rows these are.
    ids : tuple of str
        The participants' ids.
    pre, post : numpy.ndarray
        Their measurements (float64, one entry per id).
    """

    group: str
    ids: tuple[str, ...]
    pre: np.ndarray
    post: np.ndarray

    @property
    def n(self) -> int:
        """Number of participants (pairs)."""
        return len(self.ids)

    @property
    def change(self) -> np.ndarray:
        """``post - pre`` of every participant."""
        return self.post - self.pre


def paired_rows(study: Study, group: str = PAPER_GROUP) -> PairedRows:
    r"""The pre and post measurements of the participants in ``group``.

    Parameters
    ----------
    study : Study
        The data; rows without a ``group`` column are all in the massage group.
    group : {"massage", "control", "all"}
        The group to test.

    Returns
    -------
    PairedRows

    Raises
    ------
    MilkbayesError
        For another ``group``, or a group with no participant.
    DataError
        When a change ``post - pre`` leaves the float range, naming the file and the
        participant.

    Examples
    --------
    >>> from milkbayes.data.study import study_from_csv_text
    >>> study = study_from_csv_text(
    ...     "id,pre,post,group\na,1,3,massage\nb,2,1,control\nc,4,9,massage\n"
    ... )
    >>> rows = paired_rows(study)
    >>> rows.ids, rows.change.tolist()
    (('a', 'c'), [2.0, 5.0])
    """
    if group not in GROUPS:
        raise MilkbayesError(f"--group {group!r} is not allowed; choose one of {', '.join(GROUPS)}")
    table = study.table
    if group != "all":
        table = table[table["group"].astype(str) == group]
    if len(table) == 0:
        raise MilkbayesError(f"{study.source}: no participant is in the {group} group")
    pre = table["pre"].to_numpy(dtype=float)
    post = table["post"].to_numpy(dtype=float)
    ids = tuple(str(i) for i in table["id"])
    _refuse_overflowing_changes(study, ids, pre, post)
    return PairedRows(group=group, ids=ids, pre=pre, post=post)


def _refuse_overflowing_changes(
    study: Study, ids: tuple[str, ...], pre: np.ndarray, post: np.ndarray
) -> None:
    """Name the file and the participant whose change ``post - pre`` leaves the float range."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(post - pre))
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"the change post - pre of participant {ids[first]} (participant "
            f"row {first + 1} of the group) is {float(post[first])!r} - {float(pre[first])!r}, "
            f"beyond the float range (about 1.8e308); {bad.size} change(s) overflow. "
            "Express the data in larger units",
            file=study.source,
        )


@dataclass(frozen=True, eq=False)
class Reproduction:
    """The paper's analysis of one study (see the module docstring).

    Attributes
    ----------
    rows : PairedRows
        The participants tested: the massage group (:data:`PAPER_GROUP`).
    description : Description
        The univariate table and summaries of the whole study
        (:func:`milkbayes.data.study.describe`).
    spss : WilcoxonResult
        The Wilcoxon test by SPSS's procedure (``method="spss"``).
    exact : WilcoxonResult
        The same test with its exact conditional p-value, with the Hodges-Lehmann
        estimate and interval.
    ranks : pandas.DataFrame
        SPSS's "Ranks" table (:func:`~milkbayes.frequentist.spss_tables`).
    test_statistics : pandas.DataFrame
        SPSS's "Test Statistics" table (Z and the asymptotic two-sided p).
    spss_text : str
        Both tables as SPSS prints them, with p in SPSS, honest and unrounded form.
    t_test : PairedTTestResult
        The paired t-test of the same pairs.
    sign_test : SignTestResult
        The exact sign test of the same pairs.
    audit : tuple of AuditCheck
        The audit of the published numbers against these data.
    """

    rows: PairedRows
    description: Description
    spss: WilcoxonResult
    exact: WilcoxonResult
    ranks: pd.DataFrame
    test_statistics: pd.DataFrame
    spss_text: str
    t_test: PairedTTestResult
    sign_test: SignTestResult
    audit: tuple[AuditCheck, ...]

    @property
    def group(self) -> str:
        """The group tested."""
        return self.rows.group

    @property
    def n(self) -> int:
        """The number of pairs tested."""
        return self.rows.n

    @property
    def spss_p(self) -> float:
        """SPSS's "Asymp. Sig. (2-tailed)", the p the paper printed as 0.000."""
        return float(self.test_statistics.loc["Asymp. Sig. (2-tailed)", "value"])

    def audit_table(self) -> pd.DataFrame:
        """The audit as a table: ``check``, ``expected``, ``found``, ``status``, ``explanation``."""
        from dataclasses import asdict

        from milkbayes.frequentist.audit import AUDIT_COLUMNS

        return pd.DataFrame([asdict(c) for c in self.audit], columns=list(AUDIT_COLUMNS))


def reproduce(study: Study) -> Reproduction:
    r"""Reproduce the paper's analysis on ``study`` (the massage group is tested).

    Parameters
    ----------
    study : Study
        The data (one group, or a massage and a control arm).

    Returns
    -------
    Reproduction

    Raises
    ------
    MilkbayesError
        When the study has no massaged participant.
    DataError
        When a change overflows the float range.
    FrequentistOptionError
        When the exact p-value would cost too much (very many pairs with ties), naming
        the file and the asymptotic alternative.

    Examples
    --------
    Six massaged mothers who all gain, with different gains, and a control arm that
    does not enter the test: W+ is 1 + ... + 6 = 21, the largest possible, and the
    exact two-sided p is 2 / 2**6.

    >>> from milkbayes.data.study import study_from_csv_text
    >>> text = "id,pre,post,group\n" + "".join(
    ...     f"m{k},10,{10 + k},massage\nc{k},10,{10 - k / 2},control\n" for k in range(1, 7)
    ... )
    >>> result = reproduce(study_from_csv_text(text))
    >>> result.n, result.exact.w_plus, result.exact.p_value
    (6, 21.0, 0.03125)
    """
    from milkbayes.data import describe
    from milkbayes.frequentist import (
        format_spss_text,
        paired_t_test,
        sign_test,
        spss_tables,
        wilcoxon_signed_rank,
    )
    from milkbayes.frequentist.audit import audit_checks

    rows = paired_rows(study, PAPER_GROUP)
    spss = wilcoxon_signed_rank(rows.pre, rows.post, method="spss")
    try:
        exact = wilcoxon_signed_rank(rows.pre, rows.post, method="exact")
    except FrequentistOptionError as error:  # too many pairs for the exact p
        reason = str(error).split("; use ")[0]  # the library's advice names a parameter
        raise FrequentistOptionError(
            f"{study.source}: the reproduction reports the exact Wilcoxon p beside SPSS's, "
            f"and {reason}; for the frequentist test of this file run "
            f"`milkbayes wilcoxon --data {study.source} --method asymptotic` (or "
            "--method spss); the reanalysis itself is limited to studies whose exact p "
            "can be computed"
        ) from None
    ranks, test = spss_tables(spss)
    return Reproduction(
        rows=rows,
        description=describe(study),
        spss=spss,
        exact=exact,
        ranks=ranks,
        test_statistics=test,
        spss_text=format_spss_text(spss),
        t_test=paired_t_test(rows.pre, rows.post),
        sign_test=sign_test(rows.pre, rows.post),
        audit=audit_checks(study),
    )
