"""Domain errors: one module, so the CLI has one place to catch them.

Every error a user can cause by their input is a :class:`MilkbayesError`. The CLI
prints its message (never a traceback) and exits with :data:`EXIT_USER_ERROR`.
"""

from __future__ import annotations

from typing import Any

EXIT_USER_ERROR = 2
"""Exit status of the CLI for bad input, bad options or a refused overwrite."""

EXIT_DIAGNOSTICS_FAILED = 3
"""Exit status of ``--strict`` runs whose convergence diagnostics failed."""


class MilkbayesError(Exception):
    """Base class for every error caused by the user's input or options."""


class DataError(MilkbayesError):
    """Bad study data, located as precisely as possible.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed instead.
    file : str, optional
        The file the data came from.
    row : int, optional
        1-based line number in the file (the header is line 1), when known.
    column : str, optional
        The column name, when known.

    Examples
    --------
    >>> str(DataError("negative volume -3", file="a.csv", row=4, column="pre"))
    'a.csv, row 4, column "pre": negative volume -3'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ):
        self.message, self.file, self.row, self.column = message, file, row, column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        """The message preceded by the file, row and column that are known."""
        where = [
            part
            for part in (
                self.file,
                f"row {self.row}" if self.row is not None else None,
                f'column "{self.column}"' if self.column is not None else None,
            )
            if part
        ]
        return f"{', '.join(where)}: {self.message}" if where else self.message


class PriorError(MilkbayesError):
    """A prior set (named or from a TOML file) that is unknown or invalid."""


class RunExistsError(MilkbayesError):
    """An output folder already holds a result and ``--force`` was not given."""


class ModelError(MilkbayesError):
    """A model cannot be fitted to these data (e.g. a two-arm model on one group)."""


class CheckpointError(MilkbayesError):
    """A checkpoint file that belongs to a different study or cannot be read."""


class SimulationError(MilkbayesError):
    """Invalid settings for a simulation or a design study."""


class ReportError(MilkbayesError):
    """A run folder or summary that cannot be rendered (missing file, wrong schema)."""


class FrequentistOptionError(MilkbayesError, ValueError):
    """An option of a frequentist test that is not allowed (names the allowed values)."""


class DiagnosticsFailedError(MilkbayesError):
    """``strict`` run whose convergence diagnostics failed (the report is still written)."""

    exit_code = EXIT_DIAGNOSTICS_FAILED

    def __init__(self, message: str, result: Any):
        super().__init__(message)
        self.result = result


class SensitivityError(MilkbayesError):
    """An option of a sensitivity analysis that is out of range or unknown.

    (A subclass of :class:`~milkbayes.errors.MilkbayesError`, so the CLI turns it
    into one line on stderr and exit code 2.)
    """


class OutputError(MilkbayesError):
    """A result that cannot be written (full disk, read-only place, a file in the way)."""


class ReconstructionError(MilkbayesError):
    """A bad option of the reconstruction posterior (ABC), or a missing accepted draw.

    (Out-of-range proposals, seed or prior; an accepted reconstruction asked for by
    an index that does not exist.)
    """


def finite_number(text: str, where: str) -> float:
    """The finite number an option's ``text`` gives, else a :class:`MilkbayesError`.

    ``where`` names the option in the message (``"--set delta_scale"``), so a user
    sees which of several settings was wrong.

    Examples
    --------
    >>> finite_number(" 2.5 ", "--set delta_scale")
    2.5
    >>> finite_number("inf", "--set delta_scale")
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: --set delta_scale: 'inf' is not a finite number
    """
    import math

    try:
        value = float(text)
    except ValueError:
        raise MilkbayesError(f"{where}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise MilkbayesError(f"{where}: {text.strip()!r} is not a finite number")
    return value
