"""Study data: load a pre/post table from a file into a validated :class:`Study`.

A study is one row per participant (wide format): ``id``, ``pre``, ``post``, an
optional ``group`` (``massage``/``control``; all ``massage`` when absent) and any of
the covariates ``work_duration``, ``parity``, ``occupation``, ``education`` and
``age_group``, whose allowed levels are :data:`milkbayes.published.CATEGORY_LEVELS`.

Every cell is read as text first and parsed here, so that each problem is reported
as a :class:`~milkbayes.errors.DataError` naming the file, the row (the 1-based line
number in the file; the header is line 1) and the column. Nothing is silently
dropped or coerced: missing values are an error unless ``complete_case=True``, and
then :attr:`Study.dropped_ids` says who was dropped.

The outcome's kind travels with the data
-----------------------------------------
The outcome is described by an :class:`Outcome` (``volume`` with a unit,
``continuous``, or ``score`` with a maximum). It is taken, in this order, from

1. the ``outcome=`` argument (the CLI's ``--kind/--unit/--max-score``);
2. a sidecar JSON file next to the data: ``<file>.json`` (e.g. ``study.csv.json``)
   or, failing that, the same stem with ``.json`` (``study.json``), holding
   ``{"outcome": {"kind": ..., "unit": ..., "max_score": ...}, "reconstructed": ...}``;
3. otherwise the kind is ``continuous`` (any real number).

The default never guesses from the values (a table of non-negative numbers is not
thereby a volume): ``continuous`` is the one kind whose checks cannot reject a valid
file, and :attr:`Study.outcome_origin` records ``"default"`` so that
:func:`describe` and the CLI say the kind was not declared.

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

import difflib
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from milkbayes import RECONSTRUCTED_WARNING, published
from milkbayes.errors import DataError

OutcomeKind = Literal["volume", "continuous", "score"]

OUTCOME_KINDS: tuple[str, ...] = ("volume", "continuous", "score")
"""The allowed outcome kinds."""

REQUIRED_COLUMNS: tuple[str, ...] = ("id", "pre", "post")
"""Columns every study file must have."""

COVARIATE_COLUMNS: tuple[str, ...] = tuple(
    name for name in published.CATEGORY_LEVELS if name != "group"
)
"""Optional categorical covariates, in the order of :data:`published.CATEGORY_LEVELS`."""

KNOWN_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, "group", *COVARIATE_COLUMNS)
"""Every column the loader understands; others are ignored and reported."""

MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
"""Cell texts read as a missing value (compared case-insensitively, after stripping).

``"."`` is SPSS's system-missing value as it appears in exported files.
"""

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
"""Delimiters the loader detects from the header line."""

_COMMA_DECIMAL = re.compile(r"^[+-]?[0-9]*,[0-9]+([eE][+-]?[0-9]+)?$")
_DOT_DECIMAL = re.compile(r"^[+-]?[0-9]*\.[0-9]+([eE][+-]?[0-9]+)?$")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A number as a study file may write it: ASCII digits, one optional point, exponent.

Python's ``float`` also reads ``1_000``, Arabic-Indic or full-width digits and
``infinity``; a spreadsheet never writes those, so such a cell is more likely a
typing or export accident than a number, and it is refused, not coerced.
"""
_INFINITY_WORDS = frozenset({"inf", "infinity"})


# ----------------------------------------------------------------------------- outcome
@dataclass(frozen=True)
class Outcome:
    """What ``pre`` and ``post`` measure.

    Parameters
    ----------
    kind : {"volume", "continuous", "score"}
        ``volume``: a non-negative amount with a unit (e.g. ml of expressed milk);
        ``continuous``: any real number; ``score``: whole numbers from 0 to
        ``max_score`` (e.g. indicators met on a checklist).
    unit : str, optional
        Required for ``volume``; optional for ``continuous``; must be None for ``score``.
    max_score : int, optional
        Required for ``score`` (a positive integer), None otherwise.

    Raises
    ------
    DataError
        If the combination is not allowed.

    Examples
    --------
    >>> Outcome("volume", unit="ml").label
    'volume (ml)'
    >>> Outcome("score", max_score=10).label
    'score (0-10)'
    >>> Outcome("volume")
    Traceback (most recent call last):
    ...
    milkbayes.errors.DataError: outcome kind "volume" needs a unit (e.g. "ml")
    """

    kind: OutcomeKind
    unit: str | None = None
    max_score: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in OUTCOME_KINDS:
            raise DataError(
                f"unknown outcome kind {self.kind!r}; allowed: " + ", ".join(OUTCOME_KINDS)
            )
        if self.unit is not None and (
            not isinstance(self.unit, str) or not self.unit or not self.unit.isprintable()
        ):
            # The unit is printed in every table and report title.
            raise DataError(f"the unit must be printable text, e.g. \"ml\" (got {self.unit!r})")
        if self.kind == "volume" and not self.unit:
            raise DataError('outcome kind "volume" needs a unit (e.g. "ml")')
        if self.kind == "score":
            if self.unit is not None:
                raise DataError(f'outcome kind "score" takes no unit (got {self.unit!r})')
            if (
                isinstance(self.max_score, bool)
                or not isinstance(self.max_score, int)
                or self.max_score < 1
            ):
                raise DataError(
                    'outcome kind "score" needs max_score, a whole number >= 1 '
                    f"(got {self.max_score!r})"
                )
        elif self.max_score is not None:
            raise DataError(f"max_score applies only to scores, not to kind {self.kind!r}")

    @property
    def label(self) -> str:
        """Short human description, e.g. ``'volume (ml)'``."""
        if self.kind == "score":
            return f"score (0-{self.max_score})"
        return f"{self.kind} ({self.unit})" if self.unit else self.kind

    def to_dict(self) -> dict[str, Any]:
        """The sidecar/JSON form ``{"kind", "unit", "max_score"}``."""
        return {"kind": self.kind, "unit": self.unit, "max_score": self.max_score}

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], *, file: str | None = None) -> Outcome:
        """Build from a sidecar's ``"outcome"`` mapping; errors name ``file``.

        Examples
        --------
        >>> Outcome.from_dict({"kind": "score", "max_score": 10})
        Outcome(kind='score', unit=None, max_score=10)
        """
        if not isinstance(mapping, Mapping):
            raise DataError(
                '"outcome" must be an object with "kind", "unit", "max_score"', file=file
            )
        unknown = set(mapping) - {"kind", "unit", "max_score"}
        if unknown:
            raise DataError(
                f'unknown key(s) in "outcome": {", ".join(sorted(unknown))}; '
                "allowed: kind, unit, max_score",
                file=file,
            )
        try:
            return cls(
                kind=mapping.get("kind"),
                unit=mapping.get("unit"),
                max_score=mapping.get("max_score"),
            )
        except DataError as error:
            raise DataError(error.message, file=file) from None


DEFAULT_OUTCOME = Outcome("continuous")
"""The outcome assumed when neither an option nor a sidecar declares one."""


# ----------------------------------------------------------------------------- study
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

    @property
    def change(self) -> np.ndarray:
        """``post - pre`` for every row (both groups), as float64."""
        return (self.table["post"] - self.table["pre"]).to_numpy(dtype=float)

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
        _check_participants(table, self.source)
        return replace(self, table=table)

    def without(self, participant_id: str) -> Study:
        """The study without one participant (for leave-one-mother-out)."""
        if participant_id not in set(self.table["id"]):
            raise DataError(f"unknown id {participant_id!r}", file=self.source, column="id")
        return self.subset([i for i in self.table["id"] if i != participant_id])


# ----------------------------------------------------------------------------- loading
def load_study(
    path: str | Path,
    *,
    outcome: Outcome | Mapping | None = None,
    complete_case: bool = False,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
) -> Study:
    """Load and validate a study file.

    Parameters
    ----------
    path : str or Path
        Delimited text (``.csv``, ``.tsv``, ``.txt``; any delimiter in
        :data:`DELIMITERS`), ``.parquet`` (pyarrow), or a spreadsheet
        (``.xlsx``/``.xlsm`` need openpyxl, ``.xls`` xlrd, ``.ods`` odfpy; a clear
        error says so when the package is missing). Any other suffix is read as
        delimited text. (``.json`` is reserved for sidecars.)
    outcome : Outcome or mapping, optional
        Overrides the sidecar; see the module docstring for the order of precedence.
    complete_case : bool, default False
        Drop participants with a missing value instead of raising.
    sep : str, optional
        Field delimiter; detected from the header line when None (the delimiter of
        :data:`DELIMITERS` occurring most often; tab for ``.tsv``).
    decimal : {".", ","}, optional
        Decimal mark; when None, a comma is accepted as the decimal mark if the
        delimiter is not a comma and the numeric cells use commas and never dots.
    encoding : str, optional
        Text encoding; default UTF-8, with or without a byte-order mark.

    Returns
    -------
    Study

    Raises
    ------
    DataError
        For every problem in the file, naming file, row and column where they apply.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.csv").write_text("id;pre;post\\n1;5,6;16,8\\n2;4,0;12,5\\n")
    >>> study = load_study(folder / "s.csv")
    >>> study.table["post"].tolist(), study.outcome.kind, study.outcome_origin
    ([16.8, 12.5], 'continuous', 'default')
    """
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise DataError("no such file", file=label)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("the file is empty", file=label)
    sidecar, sidecar_path = _read_sidecar(path)
    resolved, origin = _resolve_outcome(outcome, sidecar, sidecar_path)
    cells = _read_cells(path, raw, sep=sep, encoding=encoding)
    table, dropped, ignored = _validate_cells(
        cells, label, resolved, complete_case=complete_case, decimal=decimal
    )
    return Study(
        table=table,
        outcome=resolved,
        source=label,
        reconstructed=bool(sidecar.get("reconstructed", False)),
        dropped_ids=dropped,
        sha256=hashlib.sha256(raw).hexdigest(),
        outcome_origin=origin,
        ignored_columns=ignored,
        provenance=sidecar,
    )


def study_from_frame(
    frame: pd.DataFrame,
    *,
    outcome: Outcome | Mapping | None = None,
    source: str = "<DataFrame>",
    reconstructed: bool = False,
    complete_case: bool = False,
    provenance: Mapping | None = None,
) -> Study:
    """Validate an in-memory wide table exactly as :func:`load_study` validates a file.

    The frame is written to its canonical CSV (:func:`canonical_csv`) and parsed by
    the same code as a file, so errors give the row of that CSV (header = row 1,
    first participant = row 2) and :attr:`Study.sha256` hashes it.

    Examples
    --------
    >>> import pandas as pd
    >>> study_from_frame(pd.DataFrame({"id": ["a"], "pre": [1.0], "post": [2.0]}))
    Traceback (most recent call last):
    ...
    milkbayes.errors.DataError: <DataFrame>: fewer than 2 participants (found 1); a paired analysis needs at least 2
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
    """Validate comma-separated, dot-decimal CSV text as :func:`load_study` validates a file.

    :attr:`Study.sha256` is the SHA-256 of the UTF-8 text, so a study made here and
    the file holding the same text have the same hash.

    Examples
    --------
    >>> study_from_csv_text("id,pre,post\\na,1,2\\nb,2,2.5\\n").change.tolist()
    [1.0, 0.5]
    """
    resolved, origin = _resolve_outcome(outcome, {}, None)
    cells = _read_text_cells(text, sep=",", label=source)
    table, dropped, ignored = _validate_cells(
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
    """The table as CSV text: comma-separated, ``\\n`` line endings, no index.

    Floats are written with ``float_format`` (e.g. ``"%.1f"``) or, when None, with
    the shortest text that reads back to the same float (Python's ``repr``).

    Examples
    --------
    >>> import pandas as pd
    >>> canonical_csv(pd.DataFrame({"id": ["a"], "pre": [0.1], "post": [2.0]}))
    'id,pre,post\\na,0.1,2.0\\n'
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


# ----------------------------------------------------------------------------- sidecar
def sidecar_paths(path: str | Path) -> tuple[Path, Path]:
    """The two places a sidecar may be: ``<file>.json`` then ``<stem>.json``.

    Examples
    --------
    >>> [p.name for p in sidecar_paths("data/study.csv")]
    ['study.csv.json', 'study.json']
    """
    path = Path(path)
    return path.with_name(path.name + ".json"), path.with_suffix(".json")


def _read_sidecar(path: Path) -> tuple[dict, str | None]:
    for candidate in sidecar_paths(path):
        if candidate == path or not candidate.is_file():
            continue
        content = _parse_sidecar(candidate)
        if not isinstance(content, dict):
            raise DataError("sidecar must be a JSON object", file=str(candidate))
        if "reconstructed" in content and not isinstance(content["reconstructed"], bool):
            raise DataError('"reconstructed" must be true or false', file=str(candidate))
        return content, str(candidate)
    return {}, None


def _parse_sidecar(candidate: Path) -> Any:
    """The JSON in ``candidate``, or a :class:`DataError` naming it.

    Python's parser raises ``RecursionError`` on deeply nested arrays and
    ``ValueError`` on integers of more than 4300 digits (the interpreter's limit);
    neither belongs in a sidecar, and both must read as a bad file, not a crash.
    """
    file = str(candidate)
    try:
        text = candidate.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"sidecar is not UTF-8 text ({error.reason})", file=file) from None
    except OSError as error:
        raise DataError(f"cannot read the sidecar ({error.strerror})", file=file) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"sidecar is not valid JSON ({error})", file=file) from None
    except RecursionError:
        raise DataError("sidecar is nested too deeply to be a sidecar", file=file) from None
    except ValueError:
        raise DataError(
            "sidecar holds a number with more digits than Python reads (4300)", file=file
        ) from None


def _resolve_outcome(
    outcome: Outcome | Mapping | None, sidecar: Mapping, sidecar_path: str | None
) -> tuple[Outcome, str]:
    if isinstance(outcome, Outcome):
        return outcome, "option"
    if outcome is not None:
        return Outcome.from_dict(outcome), "option"
    if "outcome" in sidecar:
        return Outcome.from_dict(sidecar["outcome"], file=sidecar_path), "sidecar"
    return DEFAULT_OUTCOME, "default"


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class _Cells:
    """Every cell as stripped text, with the file line of each row."""

    columns: dict[str, list[str]]  # header order; every cell stripped text
    lines: list[int]  # 1-based line number of each row
    label: str
    sep: str | None


def _read_cells(path: Path, raw: bytes, *, sep: str | None, encoding: str | None) -> _Cells:
    label = str(path)
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        return _read_excel_cells(path)
    if suffix == ".parquet":
        return _read_parquet_cells(path)
    text = _decode(raw, encoding, label)
    if sep is None:
        sep = "\t" if suffix == ".tsv" else _detect_delimiter(text)
    return _read_text_cells(text, sep=sep, label=label)


def _decode(raw: bytes, encoding: str | None, label: str) -> str:
    # utf-8-sig reads plain UTF-8 too, and removes a byte-order mark if present.
    chosen = encoding or "utf-8-sig"
    try:
        text = raw.decode(chosen)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"cannot decode byte {raw[error.start]:#04x} as {chosen}; "
            "pass the file's encoding (e.g. --encoding latin-1)",
            file=label,
            row=line,
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding {chosen!r}", file=label) from None
    return text.removeprefix("\ufeff")


def _detect_delimiter(text: str) -> str:
    header = text.lstrip("\r\n").splitlines()[0] if text.strip() else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_text_cells(text: str, *, sep: str, label: str) -> _Cells:
    import csv

    # csv.reader gives one list per record; track the physical line where each starts
    # (a quoted field may span lines).
    lines, line, records = [], 1, []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        for record in reader:
            lines.append(line)
            records.append(record)
            line = reader.line_num + 1
    except csv.Error as error:
        raise DataError(f"unreadable CSV ({error})", file=label, row=reader.line_num) from None
    if not records or all(not any(cell.strip() for cell in r) for r in records):
        raise DataError("the file is empty", file=label)
    # Skip leading blank lines before the header.
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
        lines.pop(0)
    header = [cell.strip() for cell in records[0]]
    _check_header(header, sep, label, lines[0])
    _check_quoting(text, records, lines, header, sep, label)
    body, body_lines = [], []
    for number, record in zip(lines[1:], records[1:], strict=True):
        if not any(cell.strip() for cell in record):
            continue  # a blank line is not a participant
        if len(record) > len(header):
            extra = [c for c in record[len(header) :] if c.strip()]
            if extra:
                raise DataError(
                    f"{len(record)} fields but the header has {len(header)}; "
                    "check the delimiter and quoting",
                    file=label,
                    row=number,
                )
            record = record[: len(header)]
        if len(record) == 1 and len(header) > 1 and _looks_delimited(record[0], sep):
            raise DataError(
                f"wrong delimiter: the row is one field {record[0]!r} while the "
                f"header uses {_name(sep)}",
                file=label,
                row=number,
            )
        body.append([cell.strip() for cell in record] + [""] * (len(header) - len(record)))
        body_lines.append(number)
    columns = {name: [row[j] for row in body] for j, name in enumerate(header)}
    return _Cells(columns=columns, lines=body_lines, label=label, sep=sep)


def _check_quoting(
    text: str,
    records: list[list[str]],
    lines: list[int],
    header: list[str],
    sep: str,
    label: str,
) -> None:
    """Refuse a quoted field that swallowed rows: the mark of an unmatched double quote.

    A quoted field may hold line breaks (a note typed with Alt-Enter). But when a
    field runs over a line that has a full row's worth of delimiters, or a quote is
    still open at the end of the file, the file most likely has a stray ``"``, and
    reading on would silently analyse fewer participants than the file holds.
    """
    needed = max(len(header) - 1, 1)
    for index in range(1, len(records)):
        line = lines[index]
        for position, cell in enumerate(records[index]):
            if "\n" not in cell and "\r" not in cell:
                continue
            pieces = io.StringIO(cell, newline="").readlines()
            swallowed = [
                line + k for k, part in enumerate(pieces[1:], start=1) if part.count(sep) >= needed
            ]
            is_last = index == len(records) - 1
            if swallowed or (is_last and _open_quote_at_end(text, lines[index], sep)):
                where = (
                    f"over line(s) that look like rows of their own ({swallowed[0]}"
                    + (f"-{swallowed[-1]}" if len(swallowed) > 1 else "")
                    + ")"
                    if swallowed
                    else "to the end of the file"
                )
                raise DataError(
                    f"a double quote opens a field here that runs on {where}; an "
                    "unmatched double quote? Close or remove it",
                    file=label,
                    row=line,
                    column=_shortened(header[position]) if position < len(header) else None,
                )
            line += sum(1 for piece in pieces if piece.endswith(("\n", "\r")))


def _open_quote_at_end(text: str, start: int, sep: str) -> bool:
    """True when the record starting on line ``start`` ends the file inside quotes."""
    import csv

    tail = "".join(io.StringIO(text, newline="").readlines()[start - 1 :])
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=sep, strict=True):
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _looks_delimited(cell: str, sep: str) -> bool:
    return any(d in cell for d in DELIMITERS if d != sep)


def _name(sep: str | None) -> str:
    return {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}.get(sep or "", repr(sep))


def _check_header(header: list[str], sep: str | None, label: str, line: int) -> None:
    if len(header) == 1:
        others = [d for d in DELIMITERS if d != sep and d in header[0]]
        if others:
            raise DataError(
                f"wrong delimiter: the header is one column {header[0]!r}; the file "
                f"looks {_name(others[0])}-separated, not {_name(sep)} "
                f"(pass --sep {_name(others[0])})",
                file=label,
                row=line,
            )
        if re.search(r"\S\s+\S", header[0]):
            raise DataError(
                f"wrong delimiter: the header is one column {header[0]!r}; the file "
                f"looks separated by spaces, not {_name(sep)}; save it as CSV "
                "(comma or semicolon)",
                file=label,
                row=line,
            )
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataError(f"header cell(s) {blank} have no column name", file=label, row=line)
    for name in header:
        if not name.isprintable():
            raise DataError(
                f"the column name {_shortened(name)!r} holds {_unprintable(name)}; "
                "column names must be printable text",
                file=label,
                row=line,
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(
                "column name appears twice in the header", file=label, row=line, column=name
            )
        seen.add(name)


def _frame_to_cells(frame: pd.DataFrame, label: str) -> _Cells:
    header = [str(c).strip() for c in frame.columns]
    _check_header(header, None, label, 1)

    def as_text(value: Any) -> str:
        # None, NaN, pandas NA and NaT are all "no value": pandas' nullable columns
        # (Int64, string) hold NA, whose text "<NA>" must not pass as a value.
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return ""
        return str(value).strip()

    rows = [[as_text(v) for v in record] for record in frame.itertuples(index=False)]
    keep = [i for i, row in enumerate(rows) if any(row)]  # blank rows are not participants
    columns = {name: [rows[i][j] for i in keep] for j, name in enumerate(header)}
    return _Cells(columns=columns, lines=[i + 2 for i in keep], label=label, sep=None)


_SPREADSHEET_ENGINES = {".xlsx": "openpyxl", ".xlsm": "openpyxl", ".xls": "xlrd", ".ods": "odf"}


def _read_excel_cells(path: Path) -> _Cells:
    import importlib.util

    engine = _SPREADSHEET_ENGINES[path.suffix.lower()]
    if importlib.util.find_spec(engine) is None:
        raise DataError(
            f"reading {path.suffix} files needs the optional package {engine!r}, "
            "which is not installed; save the sheet as CSV instead",
            file=str(path),
        )
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine=engine)
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad file
        raise DataError(f"cannot read the spreadsheet ({error})", file=str(path)) from None
    return _frame_to_cells(frame, str(path))


def _read_parquet_cells(path: Path) -> _Cells:
    try:
        frame = pd.read_parquet(path)
    except ImportError as error:
        raise DataError(f"reading parquet needs pyarrow ({error})", file=str(path)) from None
    except Exception as error:  # noqa: BLE001
        raise DataError(f"cannot read the parquet file ({error})", file=str(path)) from None
    # repr keeps every float's exact value when it becomes text.
    frame = frame.astype(object).map(lambda v: repr(v) if isinstance(v, float) else v)
    return _frame_to_cells(frame, str(path))


# ----------------------------------------------------------------------------- validation
def _validate_cells(
    cells: _Cells, label: str, outcome: Outcome, *, complete_case: bool, decimal: str | None
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    # Plain lists, not a DataFrame: simulations validate thousands of small studies.
    found = list(cells.columns)
    _check_columns(found, label)
    lines = list(cells.lines)
    if not lines:
        raise DataError("the file has a header but no participants", file=label)
    ignored = tuple(c for c in found if c not in KNOWN_COLUMNS)
    used = [c for c in KNOWN_COLUMNS if c in cells.columns]
    columns = {c: cells.columns[c] for c in used}

    missing = {c: [v.lower() in MISSING_TOKENS for v in columns[c]] for c in used}
    _check_ids(columns["id"], missing["id"], lines, label)
    incomplete = [any(missing[c][i] for c in used) for i in range(len(lines))]
    dropped: tuple[str, ...] = ()
    if any(incomplete):
        if not complete_case:
            i = incomplete.index(True)
            column = next(c for c in used if missing[c][i])
            raise DataError(
                f"missing value ({sum(incomplete)} row(s) have one); pass "
                "--complete-case (complete_case=True) to drop those participants",
                file=label,
                row=lines[i],
                column=column,
            )
        dropped = tuple(v for v, bad in zip(columns["id"], incomplete, strict=True) if bad)
        keep = [i for i, bad in enumerate(incomplete) if not bad]
        columns = {c: [values[i] for i in keep] for c, values in columns.items()}
        lines = [lines[i] for i in keep]

    mark = decimal if decimal is not None else _detect_decimal(columns, lines, cells.sep, label)
    if mark not in {".", ","}:
        raise DataError(f"decimal mark must be '.' or ',' (got {mark!r})", file=label)
    table = pd.DataFrame({"id": pd.array(columns["id"], dtype="str")})
    for column in ("pre", "post"):
        values = np.array(
            [
                _parse_number(v, mark, label, line, column)
                for v, line in zip(columns[column], lines, strict=True)
            ],
            dtype=np.float64,
        )
        _check_outcome_values(values, outcome, lines, label, column)
        table[column] = values
    for column in ("group", *COVARIATE_COLUMNS):
        if column in columns:
            table[column] = _parse_category(columns[column], lines, label, column)
        elif column == "group":
            table[column] = pd.Categorical(
                ["massage"] * len(table), categories=published.CATEGORY_LEVELS["group"]
            )
    _check_groups(table, lines, label)
    _check_participants(table, label, dropped)
    return table, dropped, ignored


def _check_columns(found: list[str], label: str) -> None:
    absent = [name for name in REQUIRED_COLUMNS if name not in found]
    if absent:
        hints = []
        for name in absent:
            close = [c for c in _close_names(name, found) if c not in KNOWN_COLUMNS]
            if close:
                hints.append(f"found {close[0]!r} - did you mean {name!r}?")
        found_text = ", ".join(repr(_shortened(c)) for c in found[:MAX_ECHOED_COLUMNS])
        if len(found) > MAX_ECHOED_COLUMNS:
            found_text += f" and {len(found) - MAX_ECHOED_COLUMNS} more"
        hint = "; ".join(hints) if hints else f"found: {found_text}"
        raise DataError(
            f"missing required column(s) {', '.join(repr(a) for a in absent)}; {hint}",
            file=label,
            row=1,
            column=absent[0],
        )
    for name in found:
        if name in KNOWN_COLUMNS:
            continue
        close = [c for c in _close_names(name, KNOWN_COLUMNS) if c not in found]
        if close:
            raise DataError(
                f"unknown column {_shortened(name)!r}; did you mean "
                f"{close[0]!r}? (rename it, or it would be ignored)",
                file=label,
                row=1,
                column=_shortened(name),
            )


MAX_ECHOED_CHARACTERS = 60
MAX_ECHOED_COLUMNS = 8


def _shortened(text: str, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for echoing in errors.

    A binary file read as CSV has a "header" of kilobytes of noise; the error should
    name the file, not repeat the noise.

    Examples
    --------
    >>> _shortened("id")
    'id'
    >>> len(_shortened("x" * 4000))
    60
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _close_names(name: str, candidates: Iterable[str], cutoff: float = 0.75) -> list[str]:
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=cutoff)
    return [lowered[h] for h in hits]


def _check_ids(ids: list[str], missing: list[bool], lines: list[int], label: str) -> None:
    first_seen: dict[str, int] = {}
    for value, is_missing, line in zip(ids, missing, lines, strict=True):
        if is_missing:
            raise DataError(
                "missing id (every participant needs one, even with "
                "--complete-case, so that drops can be reported)",
                file=label,
                row=int(line),
                column="id",
            )
        if not value.isprintable():
            raise DataError(
                f"the id {_shortened(value)!r} holds {_unprintable(value)}; ids must be "
                "printable text (letters, digits, punctuation and spaces)",
                file=label,
                row=int(line),
                column="id",
            )
        if value in first_seen:
            raise DataError(
                f"duplicate id {value!r} (first on row {first_seen[value]})",
                file=label,
                row=int(line),
                column="id",
            )
        first_seen[value] = int(line)


def _unprintable(text: str) -> str:
    """Describe the first character of ``text`` that is not printable.

    Printable is :meth:`str.isprintable`: no control characters (C0, C1, DEL), no
    format characters (zero-width, bidirectional overrides), no line or paragraph
    separators, and no space other than the ordinary one.

    Examples
    --------
    >>> _unprintable("a\\x1bb")
    'the non-printable character U+001B (a control character)'
    >>> _unprintable("a\\u202eb")
    'the non-printable character U+202E (RIGHT-TO-LEFT OVERRIDE)'
    """
    import unicodedata

    character = next(c for c in text if not c.isprintable())
    name = unicodedata.name(character, "a control character")
    return f"the non-printable character U+{ord(character):04X} ({name})"


def _detect_decimal(
    columns: dict[str, list[str]], lines: list[int], sep: str | None, label: str
) -> str:
    cells = [
        (v, line, c) for c in ("pre", "post") for v, line in zip(columns[c], lines, strict=True)
    ]
    comma = [x for x in cells if _COMMA_DECIMAL.match(x[0])]
    if not comma or sep == ",":
        return "."
    dot = [x for x in cells if _DOT_DECIMAL.match(x[0])]
    if dot:
        value, line, column = dot[0]
        raise DataError(
            f"mixed decimal marks: {value!r} uses '.', but row {comma[0][1]} "
            f"uses ',' ({comma[0][0]!r}); pass --decimal",
            file=label,
            row=line,
            column=column,
        )
    return ","


def _parse_number(text: str, mark: str, label: str, line: int, column: str) -> float:
    cleaned = text.strip()
    if mark == ",":
        if "." in cleaned:
            raise DataError(
                f"{cleaned!r} has a '.' but the decimal mark is ','",
                file=label,
                row=line,
                column=column,
            )
        cleaned = cleaned.replace(",", ".")
    if cleaned.lower().lstrip("+-") in _INFINITY_WORDS:
        raise DataError(f"infinite value {text!r}", file=label, row=line, column=column)
    if not _NUMBER.fullmatch(cleaned):
        raise DataError(
            f"not a number: {_echo(text)}{_digit_hint(text)}", file=label, row=line, column=column
        )
    value = float(cleaned)
    if math.isinf(value):
        raise DataError(
            f"infinite value {text!r} (beyond the float range)", file=label, row=line, column=column
        )
    return value


def _echo(text: str) -> str:
    """``text`` quoted for an error message: shortened, with every non-ASCII or
    non-printable character escaped, so that a cell can neither flood nor restyle
    the user's terminal.

    Examples
    --------
    >>> _echo("\\x1b[2J1")
    "'\\\\x1b[2J1'"
    >>> _echo("\\uff13")
    "'\\\\uff13'"
    """
    return ascii(_shortened(text))


def _digit_hint(text: str) -> str:
    """Name the first non-ASCII digit in ``text``, if any (e.g. an Arabic-Indic 3)."""
    import unicodedata

    for character in text:
        if character.isdigit() and not character.isascii():
            name = unicodedata.name(character, "a digit")
            return f" (digits must be ASCII 0-9; found U+{ord(character):04X} {name})"
    if "_" in text:
        return " (write digits without '_' separators)"
    return ""


def _check_outcome_values(
    values: np.ndarray, outcome: Outcome, lines: list[int], label: str, column: str
) -> None:
    if outcome.kind == "volume":
        bad = np.flatnonzero(values < 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"negative volume {values[i]:g} (a volume in {outcome.unit} is >= 0)",
                file=label,
                row=lines[i],
                column=column,
            )
    elif outcome.kind == "score":
        fractional = values != np.floor(values)
        outside = (values < 0) | (values > outcome.max_score)
        bad = np.flatnonzero(fractional | outside)
        if bad.size:
            i = int(bad[0])
            problem = (
                "is not a whole number" if fractional[i] else f"is outside 0..{outcome.max_score}"
            )
            raise DataError(
                f"score {values[i]:g} {problem}", file=label, row=lines[i], column=column
            )


def _parse_category(values: list[str], lines: list[int], label: str, column: str) -> pd.Categorical:
    levels = published.CATEGORY_LEVELS[column]
    for value, line in zip(values, lines, strict=True):
        if value not in levels:
            close = _close_names(value, levels, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(
                f"unknown level {value!r}{hint}; allowed: {', '.join(levels)}",
                file=label,
                row=int(line),
                column=column,
            )
    return pd.Categorical(values, categories=levels)


def _check_groups(table: pd.DataFrame, lines: list[int], label: str) -> None:
    groups = set(table["group"].astype(str))
    if "control" in groups and "massage" not in groups:
        raise DataError(
            "every participant is in the control group; a control group needs "
            "a massage group to compare with",
            file=label,
            row=int(lines[0]),
            column="group",
        )


def _check_participants(table: pd.DataFrame, label: str, dropped: tuple[str, ...] = ()) -> None:
    if len(table) < 2:
        after = (
            f" after dropping {len(dropped)} incomplete ({', '.join(dropped)})" if dropped else ""
        )
        raise DataError(
            f"fewer than 2 participants{after} (found {len(table)}); a paired "
            "analysis needs at least 2",
            file=label,
        )


# ----------------------------------------------------------------------------- describe
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
    of :data:`published.N_PARTICIPANTS` it stands for) is put beside the level the
    paper reports; it is comparable only when the study is the paper's (n = 24).
    Quartiles use pandas' default linear interpolation (numpy ``method="linear"``).

    Examples
    --------
    >>> import pandas as pd
    >>> s = study_from_frame(pd.DataFrame({"id": list("abcd"), "pre": [1.0, 2, 3, 4],
    ...     "post": [2.0, 4, 3, 8], "parity": ["multipara"] * 3 + ["primipara"]}))
    >>> d = describe(s)
    >>> d.univariate.query("column == 'parity'")[["level", "count", "percent"]].values.tolist()
    [['primipara', 1, 25.0], ['multipara', 3, 75.0]]
    >>> float(d.summary.loc["change", "median"])
    1.5
    """
    rows = []
    for column in ("group", *study.covariates):
        counts = study.table[column].value_counts(sort=False)
        fact = published.COVARIATE_FACTS.get(column)
        for level in published.CATEGORY_LEVELS[column]:
            count = int(counts.get(level, 0))
            is_fact = fact is not None and fact.level == level
            rows.append(
                {
                    "column": column,
                    "level": level,
                    "count": count,
                    "percent": 100.0 * count / study.n,
                    "published_percent": fact.percent if is_fact else math.nan,
                    "published_count": float(fact.count) if is_fact else math.nan,
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
