"""The paper's univariate description of a study: :func:`describe`.

The paper reports each covariate as counts and percentages of the 24 mothers;
:func:`describe` gives the same table for any study, with the published percentage
beside the level the paper reports, and summaries (mean, SD, median, quartiles) of
``pre``, ``post`` and the change.

Examples
--------
>>> import pandas as pd
>>> from milkbayes.data.study import study_from_frame
>>> s = study_from_frame(pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 2.0],
...                                    "post": [2.0, 4.0]}))
>>> describe(s).summary.loc["change", "mean"]
np.float64(1.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from milkbayes import published
from milkbayes.data.outcome import Outcome
from milkbayes.data.study import Study


@dataclass(frozen=True, eq=False)
class Description:
    """What :func:`describe` returns: the paper's univariate table and the summaries.

    Attributes
    ----------
    univariate : pandas.DataFrame
        One row per (column, level): ``column``, ``level``, ``count``, ``percent``
        (of n), ``published_percent`` and ``published_count`` (NaN where the paper
        gives none).
    summary : pandas.DataFrame
        Index ``pre``, ``post``, ``change``; columns ``n``, ``mean``, ``sd``
        (ddof = 1), ``median``, ``q1``, ``q3``, ``iqr``, ``min``, ``max``.
    source, n, outcome, outcome_origin, reconstructed, warning, dropped_ids,
    ignored_columns
        As on the :class:`Study`.
    notes : tuple of str
        Sentences a reader must see (undeclared outcome kind, drops, ignored columns).
    group_summary : pandas.DataFrame or None
        With a control arm: the same summaries per group (index ``group``,
        ``variable``); None for one-group data.
    """

    univariate: pd.DataFrame
    summary: pd.DataFrame
    source: str
    n: int
    outcome: Outcome
    outcome_origin: str
    reconstructed: bool
    warning: str | None
    dropped_ids: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    notes: tuple[str, ...]
    group_summary: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""

        def clean(records: list[dict]) -> list[dict]:
            return [
                {
                    k: (
                        None
                        if isinstance(v, float) and math.isnan(v)
                        else (v.item() if isinstance(v, np.generic) else v)
                    )
                    for k, v in r.items()
                }
                for r in records
            ]

        summary = self.summary.reset_index(names="variable")
        by_group = (
            None
            if self.group_summary is None
            else clean(self.group_summary.reset_index().to_dict("records"))
        )
        return {
            "source": self.source,
            "n": self.n,
            "outcome": self.outcome.to_dict(),
            "outcome_origin": self.outcome_origin,
            "reconstructed": self.reconstructed,
            "warning": self.warning,
            "dropped_ids": list(self.dropped_ids),
            "ignored_columns": list(self.ignored_columns),
            "notes": list(self.notes),
            "univariate": clean(self.univariate.to_dict("records")),
            "summary": clean(summary.to_dict("records")),
            "group_summary": by_group,
        }


def describe(study: Study) -> Description:
    """The paper's univariate table (count and % per level) and pre/post/change summaries.

    Notes
    -----
    ``percent`` is ``100 * count / n``. The published percentage (and the count out
    of the published n it stands for) is put beside the level the study's
    description reports (:attr:`Study.description`; the paper's for the bundled
    data); a study without a description has none.
    Quartiles use pandas' default linear interpolation (numpy ``method="linear"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from milkbayes.data import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": list("abcd"), "pre": [1.0, 2, 3, 4],
    ...     "post": [2.0, 4, 3, 8], "parity": ["multipara"] * 3 + ["primipara"]}))
    >>> d = describe(s)
    >>> d.univariate.query("column == 'parity'")[["level", "count", "percent"]].values.tolist()
    [['primipara', 1, 25.0], ['multipara', 3, 75.0]]
    >>> float(d.summary.loc["change", "median"])
    1.5
    """
    rows = []
    # published percentages come from the study's own description (the paper's for
    # the bundled data); a file without one has nothing published beside it
    about = getattr(study, "description", None)
    published_levels = about.covariates if about is not None else {}
    published_n = about.n if about is not None else None
    for column in ("group", *study.covariates):
        counts = study.table[column].value_counts(sort=False)
        for level in published.CATEGORY_LEVELS[column]:
            count = int(counts.get(level, 0))
            percent = published_levels.get(column, {}).get(level)
            rows.append(
                {
                    "column": column,
                    "level": level,
                    "count": count,
                    "percent": 100.0 * count / study.n,
                    "published_percent": math.nan if percent is None else float(percent),
                    "published_count": (
                        float(round(percent * published_n / 100))
                        if percent is not None and published_n
                        else math.nan
                    ),
                }
            )
    univariate = pd.DataFrame(
        rows,
        columns=["column", "level", "count", "percent", "published_percent", "published_count"],
    )
    summary = _summary_table(study.table)
    group_summary = None
    notes = []
    if study.has_control:
        group_summary = pd.concat(
            {
                str(level): _summary_table(part)
                for level, part in study.table.groupby("group", observed=True, sort=True)
            },
            names=["group", "variable"],
        )
        notes.append(
            "The study has a control arm: the overall summaries pool both groups; "
            "see the per-group summaries."
        )
    if study.outcome_origin == "default":
        notes.append(
            "The outcome kind was not declared (no sidecar, no --kind); treated as "
            "'continuous' with no unit."
        )
    if study.dropped_ids:
        notes.append(
            f"Complete-case analysis dropped {len(study.dropped_ids)} participant(s) "
            f"with missing values: {', '.join(study.dropped_ids)}."
        )
    if study.ignored_columns:
        notes.append(f"Ignored column(s): {', '.join(study.ignored_columns)}.")
    return Description(
        univariate=univariate,
        summary=summary,
        source=study.source,
        n=study.n,
        outcome=study.outcome,
        outcome_origin=study.outcome_origin,
        reconstructed=study.reconstructed,
        warning=study.warning,
        dropped_ids=study.dropped_ids,
        ignored_columns=study.ignored_columns,
        notes=tuple(notes),
        group_summary=group_summary,
    )


def _summary_table(table: pd.DataFrame) -> pd.DataFrame:
    pre, post = table["pre"].reset_index(drop=True), table["post"].reset_index(drop=True)
    series = {"pre": pre, "post": post, "change": post - pre}
    summary = pd.DataFrame({name: _summarise(values) for name, values in series.items()}).T
    summary["n"] = summary["n"].astype(int)
    return summary


def _summarise(values: pd.Series) -> dict[str, float]:
    with np.errstate(invalid="ignore", over="ignore"):  # infinite changes: NaN, said in JSON
        q1, median, q3 = (float(values.quantile(q)) for q in (0.25, 0.5, 0.75))
    mean, sd = _mean_and_sd(values)
    return {
        "n": float(values.size),
        "mean": mean,
        "sd": sd,
        "median": median,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _mean_and_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and SD (ddof = 1) that do not overflow for values near the float limit.

    The plain sums overflow for values near 1e308 although the mean, which lies
    between the minimum and the maximum, is representable; then the values are
    divided by the largest magnitude first. Ordinary values take the plain route,
    so their results are exactly pandas'.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean, sd = float(values.mean()), float(values.std())
        finite = bool(np.isfinite(values.to_numpy(dtype=float)).all())
        if finite and values.size > 1 and (math.isinf(mean) or not math.isfinite(sd)):
            scale = float(values.abs().max())
            scaled = values / scale
            mean, sd = scale * float(scaled.mean()), scale * float(scaled.std())
    return mean, sd
