r"""The audit of a study against its own description (a user's study TOML).

The bundled paper has its own, richer audit (:mod:`milkbayes.frequentist.audit`);
any other study is checked against what its description says was published, and
only that: n, the covariate percentages, the printed p (against the exact p of
the same test on the data, as SPSS would print it), and the reported means and
SDs. A description that says nothing about a quantity produces no row for it.

Examples
--------
>>> from milkbayes.data.study import study_from_csv_text
>>> from milkbayes.data.study_description import parse_study_description
>>> study = study_from_csv_text("id,pre,post\na,1,2\nb,2,4\nc,3,5\n")
>>> about = parse_study_description('[study]\ntitle = "t"\n[published]\nn = 4\n')
>>> [(c.check, c.status) for c in audit_description(study, about)]
[('n', 'fail')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from milkbayes.frequentist.audit import AuditCheck
from milkbayes.frequentist.spss import format_p_spss

if TYPE_CHECKING:  # pragma: no cover
    from milkbayes.data.study import Study
    from milkbayes.data.study_description import StudyDescription

__all__ = ["audit_description", "audit_for"]

MEAN_TOLERANCE = 0.05
"""Reported means and SDs agree when within half a unit of their last decimal, or 5 %."""


def audit_description(
    study: Study, description: StudyDescription, p_value: float | None = None
) -> tuple[AuditCheck, ...]:
    """Check the data against what ``description`` says was published.

    Parameters
    ----------
    study : Study
        The data (for two-arm data: the massage arm is what a one-group paper tested).
    description : StudyDescription
    p_value : float, optional
        The exact p of the published test on these data, compared with the printed p
        at the printed precision.

    Returns
    -------
    tuple of AuditCheck
    """
    rows: list[AuditCheck] = []
    n = study.n
    if description.n is not None:
        rows.append(
            AuditCheck(
                "n",
                str(description.n),
                str(n),
                "pass" if description.n == n else "fail",
                "participants analysed, as published against as found in the file",
            )
        )
    for column, levels in description.covariates.items():
        for level, percent in levels.items():
            if column not in study.table.columns:
                rows.append(
                    AuditCheck(
                        f"{column}_{level}",
                        f"{percent:g} %",
                        "column absent",
                        "info",
                        f"the file has no {column!r} column to check the percentage against",
                    )
                )
                continue
            count = int((study.table[column].astype(str) == level).sum())
            found = 100 * count / n
            decimals = _decimals(percent)
            ok = round(found, decimals) == round(percent, decimals)
            rows.append(
                AuditCheck(
                    f"{column}_{level}",
                    f"{percent:g} %",
                    f"{count}/{n} = {found:.{decimals}f} %",
                    "pass" if ok else "fail",
                    "published percentage against the file's count, at the printed precision",
                )
            )
    if description.reported_p is not None and p_value is not None:
        printed = description.reported_p
        decimals = _decimals(printed)
        computed = f"{p_value:.{decimals}f}"
        try:
            agrees = abs(float(printed) - float(computed)) < 10 ** (-decimals) / 2 + 1e-12
        except ValueError:
            agrees = False
        rows.append(
            AuditCheck(
                "reported_p",
                f"p = {printed}" + (f" ({description.test})" if description.test else ""),
                f"exact p = {p_value:.3g} (printed as {format_p_spss(p_value)})",
                "pass" if agrees else "fail",
                "the printed p against the exact p of the same test on the data",
            )
        )
    for name, reported in description.means.items():
        values = (
            (study.table["post"] - study.table["pre"]) if name == "change" else study.table[name]
        )
        values = np.asarray(values, dtype=float)
        found = {"mean": float(values.mean()), "sd": float(values.std(ddof=1))}
        for statistic, value in reported.items():
            close = abs(found[statistic] - value) <= max(
                10 ** (-_decimals(str(value))) / 2 + 1e-9, MEAN_TOLERANCE * abs(value)
            )
            rows.append(
                AuditCheck(
                    f"{name}_{statistic}",
                    f"{value:g}",
                    f"{found[statistic]:.4g}",
                    "pass" if close else "fail",
                    f"reported {statistic} of {name} against the file's",
                )
            )
    return tuple(rows)


def audit_for(study: Study, reproduction) -> tuple[tuple[AuditCheck, ...], str]:
    """The audit of ``study`` against its own description, and a note for the reader.

    The bundled paper keeps its full audit (``reproduction.audit``); a user's
    description gets :func:`audit_description`; no description, no audit.

    Parameters
    ----------
    study : Study
    reproduction : milkbayes.frequentist.reproduce.Reproduction
        The one-group analysis of ``study`` (its exact p is compared with the printed p).
    """
    description = getattr(study, "description", None)
    if description is None:
        return (), (
            "No study description (--study) was given, so nothing published is audited: "
            "the numbers describe these data only."
        )
    if description.is_paper:
        return tuple(reproduction.audit), ""
    checks = audit_description(study, description, float(reproduction.exact.p_value))
    note = "" if checks else f"{description.source} states nothing to check the data against."
    return checks, note


def _decimals(value: float | str) -> int:
    """Decimals a number was printed with ("87.5" -> 1, "0.000" -> 3, 24 -> 0)."""
    text = str(value)
    return len(text.split(".", 1)[1]) if "." in text else 0
