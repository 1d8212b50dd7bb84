r"""From cells of text to a validated study table, every problem located.

Every cell is read as text first and parsed here, so that each problem is reported
as a :class:`~milkbayes.errors.DataError` naming the file, the row (the 1-based line
number in the file; the header is line 1) and the column. Nothing is silently
dropped or coerced: missing values are an error unless ``complete_case=True``, and
then the dropped ids are returned.

What is refused, and why:

- a quoted field that runs over lines looking like rows (an unmatched ``"`` would
  otherwise swallow participants);
- numbers that are not ASCII digits with an optional point and exponent: Python's
  ``float`` reads ``1_000``, Arabic-Indic and full-width digits, which no study
  file writes on purpose;
- ids and column names that are not printable text (:meth:`str.isprintable`):
  control characters, ANSI escapes, bidirectional overrides and zero-width
  characters would corrupt the terminal, make two ids look alike, or (NUL) break
  the files a run writes;
- unknown category levels, missing ids, duplicate ids, fewer than two participants.

Examples
--------
>>> from milkbayes.data.outcome import DEFAULT_OUTCOME
>>> cells = read_text_cells("id,pre,post\na,1,2\nb,2,3.5\n", sep=",", label="t.csv")
>>> table, dropped, ignored = validate_cells(
...     cells, "t.csv", DEFAULT_OUTCOME, complete_case=False, decimal="."
... )
>>> table["post"].tolist(), dropped, ignored
([2.0, 3.5], (), ())
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from milkbayes import published
from milkbayes.data.outcome import Outcome
from milkbayes.errors import DataError

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


# ----------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Cells:
    """Every cell as stripped text, with the file line of each row."""

    columns: dict[str, list[str]]  # header order; every cell stripped text
    lines: list[int]  # 1-based line number of each row
    label: str
    sep: str | None


def read_text_cells(text: str, *, sep: str, label: str) -> Cells:
    """Split delimited text into :class:`Cells`, checking the header and the quoting.

    Parameters
    ----------
    text : str
        The decoded file.
    sep : str
        The field delimiter (one character).
    label : str
        The file's name, for errors.

    Returns
    -------
    Cells
        Blank lines skipped; each row padded to the header's width; every cell
        stripped; each row's line number in the file.

    Raises
    ------
    DataError
        For an empty file, a bad header, a wrong delimiter, a row with more fields
        than the header, or an unmatched double quote.
    """
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
    return Cells(columns=columns, lines=body_lines, label=label, sep=sep)


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


def frame_to_cells(frame: pd.DataFrame, label: str) -> Cells:
    """A spreadsheet's or parquet file's table as :class:`Cells` (row 2 = first row).

    Every missing marker pandas may hold (None, NaN, ``pd.NA``, ``NaT``) becomes an
    empty cell, so the missing-value rules apply as for a text file.
    """
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
    return Cells(columns=columns, lines=[i + 2 for i in keep], label=label, sep=None)


# ----------------------------------------------------------------------------- validation
def validate_cells(
    cells: Cells, label: str, outcome: Outcome, *, complete_case: bool, decimal: str | None
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Check every cell and build the study table.

    Parameters
    ----------
    cells : Cells
        From :func:`read_text_cells` or :func:`frame_to_cells`.
    label : str
        The file's name, for errors.
    outcome : Outcome
        Decides which values are allowed (e.g. no negative volume).
    complete_case : bool
        Drop participants with a missing value instead of raising.
    decimal : {".", ","} or None
        The decimal mark; None detects it (a comma only when the delimiter is not
        a comma and no number uses a dot).

    Returns
    -------
    table : pandas.DataFrame
        ``id``, ``pre``, ``post``, ``group`` and the covariates present.
    dropped : tuple of str
        Ids dropped by complete-case analysis.
    ignored : tuple of str
        Columns the loader does not use.

    Raises
    ------
    DataError
        The first problem, naming the file, the row and the column.
    """
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
    check_participants(table, label, dropped)
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
        # Compared in Unicode's composed form (NFC): "José" typed with a combining
        # accent is the same id to a reader, and must not be a second mother.
        key = unicodedata.normalize("NFC", value)
        if key in first_seen:
            raise DataError(
                f"duplicate id {value!r} (first on row {first_seen[key]})",
                file=label,
                row=int(line),
                column="id",
            )
        first_seen[key] = int(line)


def _unprintable(text: str) -> str:
    r"""Describe the first character of ``text`` that is not printable.

    Printable is :meth:`str.isprintable`: no control characters (C0, C1, DEL), no
    format characters (zero-width, bidirectional overrides), no line or paragraph
    separators, and no space other than the ordinary one.

    Examples
    --------
    >>> _unprintable("a\x1bb")
    'the non-printable character U+001B (a control character)'
    >>> _unprintable("a\u202eb")
    'the non-printable character U+202E (RIGHT-TO-LEFT OVERRIDE)'
    """
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
    if value == 0.0 and re.search("[1-9]", cleaned.lower().partition("e")[0]):
        # e.g. 1e-400: below the smallest float (about 5e-324), it would read as an
        # exact 0, which a paired test counts as "no change".
        raise DataError(
            f"{text!r} is too small for a float and would read as 0",
            file=label,
            row=line,
            column=column,
        )
    return value


def _echo(text: str) -> str:
    r"""``text`` quoted for an error message, safe for any terminal.

    Shortened, and with every non-ASCII or non-printable character escaped, so that
    a cell can neither flood nor restyle the user's terminal, and an Arabic-Indic
    or full-width digit is seen for what it is.

    Examples
    --------
    >>> print(_echo("\x1b[2J1"))
    '\x1b[2J1'
    >>> print(_echo("\uff13"))
    '\uff13'
    """
    return ascii(_shortened(text))


def _digit_hint(text: str) -> str:
    """Name the first non-ASCII digit in ``text``, if any (e.g. an Arabic-Indic 3)."""
    for character in text:
        if character.isdigit() and not character.isascii():
            name = unicodedata.name(character, "a digit")
            return f" (digits must be ASCII 0-9; found U+{ord(character):04X} {name})"
    if "_" in text:
        return " (write digits without '_' separators)"
    if any(c in text for c in "\u2212\u2013\u2010\ufe63\uff0d"):
        return " (write the minus sign as the ASCII hyphen-minus '-')"
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


def check_participants(table: pd.DataFrame, label: str, dropped: tuple[str, ...] = ()) -> None:
    """Refuse a table of fewer than two participants (a paired analysis needs two)."""
    if len(table) < 2:
        after = (
            f" after dropping {len(dropped)} incomplete ({', '.join(dropped)})" if dropped else ""
        )
        raise DataError(
            f"fewer than 2 participants{after} (found {len(table)}); a paired "
            "analysis needs at least 2",
            file=label,
        )
