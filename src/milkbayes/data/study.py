"""The validated study: :class:`Study`, and studies made from in-memory tables.

A study is one row per participant (wide format): ``id``, ``pre``, ``post``, an
optional ``group`` (``massage``/``control``; all ``massage`` when absent) and any of
the covariates ``work_duration``, ``parity``, ``occupation``, ``education`` and
``age_group``, whose allowed levels are :data:`milkbayes.published.CATEGORY_LEVELS`.

A table in memory is validated exactly as a file is: it is written to its
canonical CSV (:func:`canonical_csv`) and parsed by the same code
(:mod:`milkbayes.data.validation`). Files are read by
:func:`milkbayes.data.reading.load_study`.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"id": ["a", "b", "c"], "pre": [5.0, 7.5, 6.0],
...                       "post": [9.0, 8.0, 6.5], "parity": ["primipara", "multipara",
...                                                           "multipara"]})
>>> study = study_from_frame(table, outcome=Outcome("volume", unit="ml"))
>>> study.n, study.covariates, study.has_control
(3, ('parity',), False)
>>> study.change.tolist()
[4.0, 0.5, 0.5]
>>> study.long()[["id", "mother", "time", "y"]].head(2).to_dict("list")
{'id': ['a', 'a'], 'mother': [0, 0], 'time': [0, 1], 'y': [5.0, 9.0]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.data.change import paired_change
from milkbayes.data.outcome import Outcome, resolve_outcome
from milkbayes.data.validation import (
    COVARIATE_COLUMNS,
    check_participants,
    read_text_cells,
    validate_cells,
)
from milkbayes.errors import DataError


@dataclass(frozen=True, eq=False)
class Study:
    """A validated pre/post study, one row per participant.

    Attributes
    ----------
    table : pandas.DataFrame
        Wide table: ``id`` (str), ``pre``, ``post`` (float64), ``group``
        (categorical, levels ``massage``, ``control``) and any covariates present
        (categorical with the levels of :data:`published.CATEGORY_LEVELS`, in order).
    outcome : Outcome
    source : str
        The file path, ``"bundled:<scenario>"`` or ``"<DataFrame>"``.
    reconstructed : bool
        True when the data are a reconstruction, not measurements.
    dropped_ids : tuple of str
        Participants dropped by complete-case analysis, in file order.
    sha256 : str
        SHA-256 of the file's bytes (of the canonical CSV for in-memory data).
    outcome_origin : {"option", "sidecar", "default"}
        Where :attr:`outcome` came from.
    ignored_columns : tuple of str
        Columns of the file that the loader does not use.
    provenance : dict
        The sidecar's contents (generator, seed and assumptions for reconstructed data).
    description : StudyDescription or None
        What was published about the study (:mod:`milkbayes.data.study_description`);
        None for a user's file without one: nothing to audit the data against.

    Notes
    -----
    Studies compare by identity (a DataFrame has no single truth value, so ``==``
    on tables cannot be a field-wise equality); compare :attr:`sha256` for content.
    """

    table: pd.DataFrame
    outcome: Outcome
    source: str
    reconstructed: bool
    dropped_ids: tuple[str, ...] = ()
    sha256: str = ""
    outcome_origin: str = "option"
    ignored_columns: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict, compare=False)
    description: Any = field(default=None, compare=False)

    @property
    def change(self) -> np.ndarray:
        """``post - pre`` for every row (both groups), as float64, snapped.

        The same numbers as the frequentist tests rank (:func:`milkbayes.data.change.
        paired_change`): decimal ties such as ``0.3 - 0.1`` and ``0.5 - 0.3`` tie.
        """
        return paired_change(self.table["pre"], self.table["post"])

    @property
    def n(self) -> int:
        """Number of participants."""
        return len(self.table)

    @property
    def ids(self) -> tuple[str, ...]:
        """Participant ids in table order."""
        return tuple(self.table["id"])

    @property
    def covariates(self) -> tuple[str, ...]:
        """Covariate columns present, in :data:`COVARIATE_COLUMNS` order."""
        return tuple(name for name in COVARIATE_COLUMNS if name in self.table.columns)

    @property
    def has_control(self) -> bool:
        """True when at least one participant is in the control group."""
        return bool((self.table["group"] == "control").any())

    @property
    def design(self) -> str:
        """``"two_arm"`` with a control arm, else ``"one_group"``."""
        return "two_arm" if self.has_control else "one_group"

    def arm(self, group: str) -> Study:
        """The participants of one arm (``"massage"`` or ``"control"``) as a study.

        Raises
        ------
        DataError
            When that arm has fewer than 2 participants.
        """
        return self.subset(self.table.loc[self.table["group"] == group, "id"].tolist())

    @property
    def warning(self) -> str | None:
        """:data:`milkbayes.RECONSTRUCTED_WARNING` for reconstructed data, else None."""
        return RECONSTRUCTED_WARNING if self.reconstructed else None

    def long(self) -> pd.DataFrame:
        """Long format for the models: two rows per participant.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``mother`` (int code 0..n-1 in table order), ``time``
            (0 = pre, 1 = post), ``y``, ``group`` and the covariates; rows ordered by
            mother, then time.

        Examples
        --------
        >>> import pandas as pd
        >>> s = study_from_frame(pd.DataFrame({"id": ["x", "y"], "pre": [1.0, 2.0],
        ...                                    "post": [3.0, 5.0]}))
        >>> s.long()[["mother", "time", "y"]].to_numpy().tolist()
        [[0.0, 0.0, 1.0], [0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [1.0, 1.0, 5.0]]
        """
        base = self.table.reset_index(drop=True)
        extra = ["group", *self.covariates]
        frames = []
        for time, column in ((0, "pre"), (1, "post")):
            part = pd.DataFrame(
                {
                    "id": base["id"],
                    "mother": np.arange(len(base), dtype=np.int64),
                    "time": np.full(len(base), time, dtype=np.int64),
                    "y": base[column].to_numpy(dtype=float),
                }
            )
            for name in extra:
                part[name] = base[name]
            frames.append(part)
        long = pd.concat(frames, ignore_index=True)
        return long.sort_values(["mother", "time"], kind="stable").reset_index(drop=True)

    def subset(self, ids: Iterable[str]) -> Study:
        """The study restricted to ``ids`` (kept in table order).

        Raises
        ------
        DataError
            If an id is unknown or fewer than 2 participants would remain.
        """
        wanted = list(ids)
        unknown = [i for i in wanted if i not in set(self.table["id"])]
        if unknown:
            raise DataError(
                f"unknown id(s): {', '.join(map(str, unknown))}", file=self.source, column="id"
            )
        table = self.table[self.table["id"].isin(wanted)].reset_index(drop=True)
        check_participants(table, self.source)
        return replace(self, table=table)

    def without(self, participant_id: str) -> Study:
        """The study without one participant (for leave-one-mother-out)."""
        if participant_id not in set(self.table["id"]):
            raise DataError(f"unknown id {participant_id!r}", file=self.source, column="id")
        return self.subset([i for i in self.table["id"] if i != participant_id])


def study_from_frame(
    frame: pd.DataFrame,
    *,
    outcome: Outcome | Mapping | None = None,
    source: str = "<DataFrame>",
    reconstructed: bool = False,
    complete_case: bool = False,
    provenance: Mapping | None = None,
) -> Study:
    """Validate an in-memory wide table exactly as a file is validated.

    The frame is written to its canonical CSV (:func:`canonical_csv`) and parsed by
    the same code as a file read by :func:`~milkbayes.data.reading.load_study`, so
    errors give the row of that CSV (header = row 1, first participant = row 2) and
    :attr:`Study.sha256` hashes it.

    Examples
    --------
    >>> import pandas as pd
    >>> study_from_frame(pd.DataFrame({"id": ["a"], "pre": [1.0], "post": [2.0]}))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    milkbayes.errors.DataError: <DataFrame>: fewer than 2 participants (found 1); ...
    """
    return study_from_csv_text(
        canonical_csv(frame),
        outcome=outcome,
        source=source,
        reconstructed=reconstructed,
        complete_case=complete_case,
        provenance=provenance,
    )


def study_from_csv_text(
    text: str,
    *,
    outcome: Outcome | Mapping | None = None,
    source: str = "<text>",
    reconstructed: bool = False,
    complete_case: bool = False,
    provenance: Mapping | None = None,
) -> Study:
    r"""Validate comma-separated, dot-decimal CSV text exactly as a file is validated.

    :attr:`Study.sha256` is the SHA-256 of the UTF-8 text, so a study made here and
    the file holding the same text have the same hash.

    Examples
    --------
    >>> study_from_csv_text("id,pre,post\na,1,2\nb,2,2.5\n").change.tolist()
    [1.0, 0.5]
    """
    resolved, origin = resolve_outcome(outcome, {}, None)
    cells = read_text_cells(text, sep=",", label=source)
    table, dropped, ignored = validate_cells(
        cells, source, resolved, complete_case=complete_case, decimal="."
    )
    return Study(
        table=table,
        outcome=resolved,
        source=source,
        reconstructed=reconstructed,
        dropped_ids=dropped,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        outcome_origin=origin,
        ignored_columns=ignored,
        provenance=dict(provenance or {}),
    )


def canonical_csv(frame: pd.DataFrame, *, float_format: str | None = None) -> str:
    r"""The table as CSV text: comma-separated, ``\n`` line endings, no index.

    Floats are written with ``float_format`` (e.g. ``"%.1f"``) or, when None, with
    the shortest text that reads back to the same float (Python's ``repr``).

    Examples
    --------
    >>> import pandas as pd
    >>> canonical_csv(pd.DataFrame({"id": ["a"], "pre": [0.1], "post": [2.0]}))
    'id,pre,post\na,0.1,2.0\n'
    """
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype(object)
        elif pd.api.types.is_float_dtype(out[name].dtype):
            fmt = float_format
            out[name] = [
                ("" if pd.isna(v) else (fmt % v if fmt else repr(float(v)))) for v in out[name]
            ]
    return out.to_csv(index=False, lineterminator="\n")
