"""Reading a user's file into a :class:`~milkbayes.data.study.Study`: :func:`load_study`.

This module knows about files: decoding (UTF-8 with or without a byte-order mark,
or the encoding given), detecting the delimiter from the header line, spreadsheets
and parquet, and the sidecar JSON beside the data that declares the outcome and
whether the data are a reconstruction. The cells it reads are validated by
:mod:`milkbayes.data.validation`, so every problem names the file, the row and the
column.

A sidecar is ``<file>.json`` (e.g. ``study.csv.json``) or, failing that, the same
stem with ``.json`` (``study.json``), holding
``{"outcome": {"kind": ..., "unit": ..., "max_score": ...}, "reconstructed": ...}``.

Examples
--------
>>> [p.name for p in sidecar_paths("data/study.csv")]
['study.csv.json', 'study.json']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from milkbayes.data.outcome import Outcome, resolve_outcome
from milkbayes.data.study import Study
from milkbayes.data.study_description import StudyDescription, read_study_description
from milkbayes.data.validation import (
    DELIMITERS,
    Cells,
    frame_to_cells,
    read_text_cells,
    validate_cells,
)
from milkbayes.errors import DataError


def load_study(
    path: str | Path,
    *,
    outcome: Outcome | Mapping | None = None,
    complete_case: bool = False,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
    levels: Mapping[str, Mapping[str, str]] | None = None,
    description: str | Path | StudyDescription | None = None,
    benefit: str | None = None,
) -> Study:
    r"""Load and validate a study file.

    Parameters
    ----------
    path : str or Path
        Delimited text (``.csv``, ``.tsv``, ``.txt``; any delimiter in
        :data:`DELIMITERS`), ``.parquet`` (pyarrow), or a spreadsheet
        (``.xlsx``/``.xlsm`` need openpyxl, ``.xls`` xlrd, ``.ods`` odfpy; a clear
        error says so when the package is missing). Any other suffix is read as
        delimited text. (``.json`` is reserved for sidecars.)
    outcome : Outcome or mapping, optional
        Overrides the sidecar; :mod:`milkbayes.data.outcome` gives the order of precedence.
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
    columns : mapping of str to str, optional
        Our column name -> the file's (``{"pre": "sebelum"}``); wins over the
        description's ``[columns]``.
    levels : mapping of str to mapping, optional
        ``{column: {file label: our level}}`` (``{"work_duration": {"lama": "long"}}``);
        labels match exactly, else ignoring case. Wins over the description's ``[levels]``.
    description : path or StudyDescription, optional
        What was published about the study (:mod:`milkbayes.data.study_description`):
        its outcome (below the ``outcome`` option, above the sidecar), its column
        and level names, and what the report audits the data against.
    benefit : {"increase", "decrease"}, optional
        Which direction of the outcome is the benefit; wins over the description's
        ``[study] benefit``, which wins over the outcome's own (sidecar ``"benefit"``);
        default ``"increase"``.

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
    >>> _ = (folder / "s.csv").write_text("id;pre;post\n1;5,6;16,8\n2;4,0;12,5\n")
    >>> study = load_study(folder / "s.csv")
    >>> study.table["post"].tolist(), study.outcome.kind, study.outcome_origin
    ([16.8, 12.5], 'continuous', 'default')
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise DataError("no such file", file=label)
    if not path.is_file():
        raise DataError("not a file (a folder or a device); give the study's file", file=label)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror})", file=label) from None
    if not raw.strip():
        raise DataError("the file is empty", file=label)
    if description is not None and not isinstance(description, StudyDescription):
        description = read_study_description(description)
    sidecar, sidecar_path = _read_sidecar(path)
    from_description = outcome is None and description is not None and description.outcome
    resolved, origin = resolve_outcome(
        description.outcome if from_description else outcome, sidecar, sidecar_path
    )
    if from_description:
        origin = "study"
    direction = benefit or (description.benefit if description is not None else None)
    if direction is not None:
        try:
            resolved = replace(resolved, benefit=str(direction).lower())
        except DataError as error:
            raise DataError(error.message, file=label) from None
    cells = _read_cells(path, raw, sep=sep, encoding=encoding)
    cells = map_cells(
        cells,
        {**(description.columns if description else {}), **dict(columns or {})},
        _merge_levels(description.levels if description else {}, levels or {}),
    )
    table, dropped, ignored = validate_cells(
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
        description=description,
    )


def _merge_levels(base: Mapping, extra: Mapping) -> dict[str, dict[str, str]]:
    merged = {column: dict(mapping) for column, mapping in base.items()}
    for column, mapping in extra.items():
        merged.setdefault(column, {}).update(mapping)
    return merged


def map_cells(
    cells: Cells, columns: Mapping[str, str], levels: Mapping[str, Mapping[str, str]]
) -> Cells:
    r"""Rename the file's columns to ours and its labels to our levels.

    Parameters
    ----------
    cells : Cells
        As read from the file.
    columns : mapping
        Our column name -> the file's column name.
    levels : mapping
        ``{our column: {file label: our level}}``; a label matches exactly, else
        ignoring case; labels not listed are kept (and validated as levels).

    Raises
    ------
    DataError
        A mapped column that the file lacks, or a mapping onto a column the file
        already has, naming the file and the column.

    Examples
    --------
    >>> from milkbayes.data.validation import read_text_cells
    >>> cells = read_text_cells("id,sebelum,sesudah,lama\na,1,2,Lama\n", sep=",", label="f")
    >>> mapped = map_cells(cells, {"pre": "sebelum", "post": "sesudah",
    ...                            "work_duration": "lama"}, {"work_duration": {"lama": "long"}})
    >>> list(mapped.columns), mapped.columns["work_duration"]
    (['id', 'pre', 'post', 'work_duration'], ['long'])
    """
    label = cells.label
    renamed = {theirs: ours for ours, theirs in columns.items()}
    for ours, theirs in columns.items():
        if theirs not in cells.columns:
            raise DataError(
                f"the mapping {ours}={theirs} names a column the file does not have "
                f"(columns: {', '.join(list(cells.columns)[:12])})",
                file=label,
                row=1,
                column=theirs,
            )
        if ours in cells.columns and ours != theirs and ours not in renamed:
            raise DataError(
                f"the mapping {ours}={theirs} would make a second {ours!r} column; "
                f"the file already has one",
                file=label,
                row=1,
                column=ours,
            )
    out = {renamed.get(name, name): values for name, values in cells.columns.items()}
    for column, mapping in levels.items():
        if column not in out:
            raise DataError(
                f"a level mapping is given for column {column!r}, which the data do not have",
                file=label,
                column=column,
            )
        lowered = {str(k).lower(): v for k, v in mapping.items()}
        out[column] = [mapping.get(v, lowered.get(v.lower(), v)) for v in out[column]]
    return replace(cells, columns=out)


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


# ----------------------------------------------------------------------------- files
def _read_cells(path: Path, raw: bytes, *, sep: str | None, encoding: str | None) -> Cells:
    label = str(path)
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        return _read_excel_cells(path)
    if suffix == ".parquet":
        return _read_parquet_cells(path)
    text = _decode(raw, encoding, label)
    if sep is None:
        sep = "\t" if suffix == ".tsv" else _detect_delimiter(text)
    return read_text_cells(text, sep=sep, label=label)


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


_SPREADSHEET_ENGINES = {".xlsx": "openpyxl", ".xlsm": "openpyxl", ".xls": "xlrd", ".ods": "odf"}


def _read_excel_cells(path: Path) -> Cells:
    import importlib

    engine = _SPREADSHEET_ENGINES[path.suffix.lower()]
    try:
        importlib.import_module(engine)
    except ImportError:
        extra = (
            "pip install 'milkbayes[excel]'" if engine == "openpyxl" else f"pip install {engine}"
        )
        raise DataError(
            f"reading {path.suffix} files needs the optional package {engine!r}, "
            f"which is not installed: {extra} (or save the sheet as CSV)",
            file=str(path),
        ) from None
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine=engine)
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad file
        raise DataError(f"cannot read the spreadsheet ({error})", file=str(path)) from None
    return frame_to_cells(frame, str(path))


def _read_parquet_cells(path: Path) -> Cells:
    try:
        frame = pd.read_parquet(path)
    except ImportError as error:
        raise DataError(f"reading parquet needs pyarrow ({error})", file=str(path)) from None
    except Exception as error:  # noqa: BLE001
        raise DataError(f"cannot read the parquet file ({error})", file=str(path)) from None
    # repr keeps every float's exact value when it becomes text.
    frame = frame.astype(object).map(lambda v: repr(v) if isinstance(v, float) else v)
    return frame_to_cells(frame, str(path))
