r"""Each published study as one effect estimate and its standard error.

Two scales:

- ``"smd"``: the standardised mean difference, Hedges' *g* (Hedges 1981), the
  difference in means over the pooled SD (of the change scores when the study reports
  change scores), with the small-sample factor
  :math:`J = 1 - 3 / (4 (n_1 + n_2) - 9)` and variance
  :math:`J^2 \{(n_1 + n_2)/(n_1 n_2) + d^2 / (2 (n_1 + n_2))\}`
  (Borenstein et al. 2009, ch. 4). A one-group pre/post study gives the standardised
  mean change :math:`d = \bar{c} / s_c` with variance :math:`1/n + d^2/(2n)`.
- ``"ml"``: the raw difference in ml and its standard error.

How each reported form becomes an estimate (``measure``):

- ``change`` (means and SDs of the change in both arms): directly;
- ``post`` with a reported two-sided *p* of an independent t-test and no SDs: the
  standard error of the difference is :math:`|\Delta| / t_{1-p/2,\,n-2}`, and the
  pooled SD is that over :math:`\sqrt{1/n_1 + 1/n_2}`;
- ``adjusted_difference`` and ``pre_post`` without SDs: the SD of the change is the
  imputed ``sd_change`` (the study's ``imputed`` table says from where), flagged.

References
----------
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
estimators. J Educ Stat 6(2), 107-128.
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to
Meta-Analysis. Wiley.
Higgins JPT et al. (eds.) (2023). Cochrane Handbook for Systematic Reviews of
Interventions, version 6.4, section 6.5.2 (obtaining SDs from p-values; imputing SDs).

Examples
--------
>>> from milkbayes.literature import load_studies
>>> table = study_effects(load_studies(), scale="ml")
>>> round(float(table.loc["rahayuningsih2016", "y"]), 2)  # 17.37 - 1.58
15.79
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from milkbayes.errors import DataError

__all__ = ["SCALES", "hedges_g", "study_effects"]

SCALES = ("smd", "ml")


def hedges_g(d: float, n1: int, n2: int) -> tuple[float, float]:
    """Hedges' g and its standard error from Cohen's d and the two group sizes.

    Examples
    --------
    >>> g, se = hedges_g(0.5, 20, 20)
    >>> round(g, 4), round(se, 4)   # J = 1 - 3/151; var = J^2 (40/400 + 0.25/80)
    (0.4901, 0.3148)
    """
    n = n1 + n2
    j = 1.0 - 3.0 / (4.0 * n - 9.0)
    variance = j**2 * (n / (n1 * n2) + d**2 / (2.0 * n))
    return j * d, math.sqrt(variance)


def _flags(row: pd.Series) -> str:
    fields = sorted(set(row["imputed"]) | set(row["derived"]))
    return ", ".join(fields)


def _one(row: pd.Series, scale: str, file: str, number: int) -> dict:
    measure = row["measure"]

    def need(field: str) -> float:
        value = row[field]
        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            raise DataError(
                f"study {row['id']!r} ({measure}) needs {field} to compute an effect",
                file=file,
                row=number,
                column=field,
            )
        return float(value)

    if measure == "change":
        n1, n2 = need("n_treat"), need("n_control")
        s1, s2 = need("sd_treat"), need("sd_control")
        md = need("mean_treat") - need("mean_control")
        se_md = math.sqrt(s1**2 / n1 + s2**2 / n2)
        pooled = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    elif measure == "post":
        n1, n2 = need("n_treat"), need("n_control")
        md = need("mean_treat") - need("mean_control")
        t = float(stats.t.isf(need("p_value") / 2.0, n1 + n2 - 2))
        se_md = abs(md) / t
        pooled = se_md / math.sqrt(1.0 / n1 + 1.0 / n2)
    elif measure == "adjusted_difference":
        n1, n2 = need("n_treat"), need("n_control")
        md, pooled = need("effect"), need("sd_change")
        se_md = pooled * math.sqrt(1.0 / n1 + 1.0 / n2)
    elif measure == "pre_post":
        n = need("n_treat")
        md, sd = need("post_mean") - need("pre_mean"), need("sd_change")
        se_md = sd / math.sqrt(n)
        d = md / sd
        smd, se_smd = d, math.sqrt(1.0 / n + d**2 / (2.0 * n))
        y, se = (smd, se_smd) if scale == "smd" else (md, se_md)
        return {"y": y, "se": se, "n": int(n), "md": md, "se_md": se_md, "sd": sd}
    else:
        raise DataError(
            f"study {row['id']!r}: measure {measure!r} gives no effect estimate",
            file=file,
            row=number,
            column="measure",
        )
    g, se_g = hedges_g(md / pooled, int(n1), int(n2))
    y, se = (g, se_g) if scale == "smd" else (md, se_md)
    return {"y": y, "se": se, "n": int(n1 + n2), "md": md, "se_md": se_md, "sd": pooled}


def study_effects(
    studies: pd.DataFrame, *, scale: str = "smd", roles: tuple[str, ...] = ("primary",)
) -> pd.DataFrame:
    """One row per study of ``roles``: the estimate ``y``, its standard error ``se``.

    Parameters
    ----------
    studies : pandas.DataFrame
        From :func:`milkbayes.literature.load_studies`.
    scale : {"smd", "ml"}
        Hedges' g, or the raw difference in ml (studies in other units are refused).
    roles : tuple of str
        Which entries enter (default: the primary studies).

    Returns
    -------
    pandas.DataFrame
        Indexed by study id: ``y``, ``se``, ``n``, ``design``, ``stage``, ``md``
        (ml), ``se_md``, ``sd`` (the SD that standardises), ``flags`` (the imputed or
        derived fields, empty when everything is as published).

    Raises
    ------
    DataError
        An unknown scale, a study in the wrong unit, or a study missing a number its
        ``measure`` needs (naming the file, the entry and the field).
    """
    if scale not in SCALES:
        raise DataError(f"unknown effect scale {scale!r}; known: {', '.join(SCALES)}")
    file = str(studies.attrs.get("source", "studies"))
    rows = []
    for number, (_, row) in enumerate(studies.iterrows(), start=1):
        if row["role"] not in roles:
            continue
        if row["unit"] != "ml":
            raise DataError(
                f"study {row['id']!r} is in {row['unit']!r}; the meta-analysis pools ml",
                file=file,
                row=number,
                column="unit",
            )
        values = _one(row, scale, file, number)
        rows.append(
            {
                "id": row["id"],
                "design": row["design"],
                "stage": row["stage"],
                "provenance": row["provenance"],
                "flags": _flags(row),
                **values,
            }
        )
    table = pd.DataFrame(rows).set_index("id")
    if not np.all(np.isfinite(table[["y", "se"]].to_numpy())) or (table["se"] <= 0).any():
        raise DataError("an effect or standard error is not a finite positive number")
    table.attrs["scale"] = scale
    return table
