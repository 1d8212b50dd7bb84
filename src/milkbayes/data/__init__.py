"""Study data: reading a user's file, validating it, and describing it.

One idea per module:

- :mod:`~milkbayes.data.outcome`: :class:`Outcome`, what ``pre`` and ``post``
  measure, and where it was declared;
- :mod:`~milkbayes.data.validation`: cells of text to a validated table, every
  problem a :class:`~milkbayes.errors.DataError` naming file, row and column;
- :mod:`~milkbayes.data.change`: :func:`paired_change`, the validated change
  ``post - pre`` snapped so that decimal ties tie (one owner for tests and models);
- :mod:`~milkbayes.data.study`: :class:`Study` and studies from in-memory tables;
- :mod:`~milkbayes.data.reading`: :func:`load_study` (files, encodings, delimiters,
  spreadsheets, parquet, sidecars);
- :mod:`~milkbayes.data.describe`: :func:`describe`, the paper's univariate table;
- :mod:`~milkbayes.data.study_description`: :class:`StudyDescription`, what was
  published about a study (the TOML a report audits the data against).

Every public name is importable from here; other modules import from
``milkbayes.data``.

Examples
--------
>>> from milkbayes.data import load_study, Study
>>> Study.__name__
'Study'
"""

from milkbayes.data.change import paired_change
from milkbayes.data.describe import Description, describe
from milkbayes.data.outcome import DEFAULT_OUTCOME, OUTCOME_KINDS, Outcome
from milkbayes.data.reading import load_study, sidecar_paths
from milkbayes.data.study import Study, canonical_csv, study_from_csv_text, study_from_frame
from milkbayes.data.study_description import (
    StudyDescription,
    paper_description,
    read_study_description,
)
from milkbayes.data.validation import (
    COVARIATE_COLUMNS,
    DELIMITERS,
    KNOWN_COLUMNS,
    MISSING_TOKENS,
    REQUIRED_COLUMNS,
)

__all__ = [
    "COVARIATE_COLUMNS",
    "DEFAULT_OUTCOME",
    "DELIMITERS",
    "KNOWN_COLUMNS",
    "MISSING_TOKENS",
    "OUTCOME_KINDS",
    "REQUIRED_COLUMNS",
    "Description",
    "Outcome",
    "Study",
    "StudyDescription",
    "canonical_csv",
    "describe",
    "load_study",
    "paired_change",
    "paper_description",
    "read_study_description",
    "sidecar_paths",
    "study_from_csv_text",
    "study_from_frame",
]
