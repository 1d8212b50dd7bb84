r"""The data options every analysis command takes, defined once.

``--data``, ``--scenario``, ``--study``, ``--kind``, ``--unit``, ``--max-score``,
``--benefit``, ``--complete-case``, ``--encoding``, ``--sep``, ``--decimal``, ``--map`` and
``--map-level`` mean the same thing, with the same default, in ``reproduce``,
``wilcoxon``, ``fit``, ``reanalyze``, ``compare``, ``sensitivity ...`` and
``data validate | describe``: a command declares them with :func:`data_options`,
receives one :class:`DataOptions`, and loads its study with
:meth:`DataOptions.load`, which hands everything to
:func:`milkbayes.data.reading.load_study`. A new data option is added here and
reaches every command.

The shared flag and choice helpers (:func:`flag`, :func:`choice`) also live here:
a flag shows no ``<bool>`` value in the help (it takes none), and a choice is
matched ignoring case.

Examples
--------
>>> parse_column_maps(["pre=sebelum", "post = sesudah"])
{'pre': 'sebelum', 'post': 'sesudah'}
>>> parse_level_maps(["work_duration:lama=long", "work_duration:baru=short"])
{'work_duration': {'lama': 'long', 'baru': 'short'}}
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from milkbayes.errors import MilkbayesError

__all__ = [
    "DataOptions",
    "choice",
    "ci_prob_option",
    "data_options",
    "flag",
    "parse_column_maps",
    "parse_level_maps",
]

SCENARIOS = ("volume_ml", "score")
KINDS = ("volume", "continuous", "score")
BENEFITS = ("increase", "decrease")


def flag(name: str, help: str, *aliases: str, hidden: bool = False) -> Any:
    """A boolean option that takes no value (``--force``), shown without ``<bool>``."""
    return typer.Option(False, name, *aliases, help=help, metavar="", hidden=hidden)


def choice(
    default: Any,
    name: str,
    help: str,
    values: tuple[str, ...],
    *,
    validate: bool = True,
    **kwargs: Any,
) -> Any:
    """A choice option matched ignoring case (``--scenario SCORE`` reads as ``score``).

    The value is lower-cased before the command sees it. With ``validate``, a value
    outside ``values`` is a :class:`~milkbayes.errors.MilkbayesError` (one line and
    exit 2, as every bad input); without, the library called checks it and names
    the parameter itself.
    """

    def normalise(value: Any) -> Any:
        if value is None:
            return None
        lowered = str(value).lower()
        if validate and lowered not in values:
            raise MilkbayesError(f"{name} must be one of {', '.join(values)} (got {value!r})")
        return lowered

    return typer.Option(
        default,
        name,
        help=help,
        metavar="[" + "|".join(values) + "]",
        callback=normalise,
        **kwargs,
    )


def ci_prob_option(help: str, default: float = 0.95, name: str = "--ci-prob") -> Any:
    """The ``--ci-prob P`` option: an interval's probability, strictly between 0 and 1.

    The value is read as text and checked here, so that a bad one (``0``, ``1``,
    ``1.5``, ``abc``) is a :class:`~milkbayes.errors.MilkbayesError`: one line and
    exit 2, before any work starts, as every bad input (click's own float parsing
    would print a usage block instead).
    """

    def parse(value: Any) -> Any:
        if value is None or isinstance(value, float):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise MilkbayesError(f"{name} must be a number in (0, 1), not {value!r}") from None
        if not (0.0 < number < 1.0):  # also refuses nan
            raise MilkbayesError(f"{name} must be strictly between 0 and 1, not {value}")
        return number

    return typer.Option(default, name, help=help, metavar="P", parser=parse)


@dataclass(frozen=True)
class DataOptions:
    """The data options of one command line, and how to load its study."""

    data: Path | None = None
    scenario: str = "volume_ml"
    study: Path | None = None
    kind: str | None = None
    unit: str | None = None
    max_score: int | None = None
    complete_case: bool = False
    encoding: str | None = None
    sep: str | None = None
    decimal: str | None = None
    maps: tuple[str, ...] = field(default=())
    level_maps: tuple[str, ...] = field(default=())
    benefit: str | None = None

    def outcome(self):
        """The ``--kind/--unit/--max-score`` outcome, or None to let the file decide."""
        from milkbayes.data import Outcome

        if self.kind is None:
            if self.unit is not None or self.max_score is not None:
                raise MilkbayesError(
                    "--unit and --max-score need --kind (volume, continuous or score)"
                )
            return None
        return Outcome(self.kind.lower(), unit=self.unit, max_score=self.max_score)

    def load(self):
        """The study: the ``--data`` file read with every option, or the bundled data.

        Raises
        ------
        MilkbayesError
            A file option given without ``--data`` (the bundled data declare their
            own outcome and layout), or a malformed ``--map``.
        """
        from milkbayes.data import load_study

        if self.data is None:
            used = [
                name
                for name, value in (
                    ("--kind", self.kind),
                    ("--study", self.study),
                    ("--encoding", self.encoding),
                    ("--sep", self.sep),
                    ("--decimal", self.decimal),
                    ("--map", self.maps),
                    ("--map-level", self.level_maps),
                )
                if value
            ]
            if used:
                raise MilkbayesError(
                    f"{', '.join(used)}: options that apply to a FILE (--data FILE), not to "
                    "the bundled data, which declare their own outcome and layout"
                )
            if self.benefit not in (None, "increase"):
                raise MilkbayesError(
                    "--benefit decrease applies to a FILE (--data FILE): on the bundled "
                    "data more milk is the benefit"
                )
            from milkbayes.datasets import load_bundled

            return load_bundled(self.scenario.lower())
        return load_study(
            self.data,
            outcome=self.outcome(),
            complete_case=self.complete_case,
            sep=_separator(self.sep),
            decimal=self.decimal,
            encoding=self.encoding,
            columns=parse_column_maps(self.maps),
            levels=parse_level_maps(self.level_maps),
            description=self.study,
            benefit=self.benefit,
        )


_HELP = {
    "data": "Your study file (CSV/TSV/TXT, .xlsx with milkbayes\\[excel], .parquet); "
    "default: the bundled reconstruction.",
    "scenario": "Bundled dataset when no --data is given.",
    "study": "Study description (TOML): title, what was published (n, test, p, "
    "percentages), outcome, MCID, column and level names. The report audits the data "
    "against it; without one, no paper is audited.",
    "kind": "Outcome kind (overrides the study description and the sidecar; default continuous).",
    "unit": "Unit of a volume or continuous outcome, e.g. ml (needs --kind).",
    "max_score": "Maximum of a score outcome: whole numbers 0..max (needs --kind score).",
    "benefit": "Direction of benefit: increase (default; more is better) or decrease "
    "(lower is better, e.g. a pain score). Effects keep the data's sign (post - pre); "
    "the priors and P(benefit) follow this direction. Overrides the study description.",
    "complete_case": "Drop participants with a missing value (and say who) instead of failing.",
    "encoding": "Text encoding of --data (default UTF-8, with or without a byte-order mark).",
    "sep": "Field delimiter of --data (default: detected from the header; 'tab' for tab).",
    "decimal": "Decimal mark of --data (default: detected).",
    "maps": "Column mapping OURS=FILE, repeatable: --map pre=sebelum --map post=sesudah "
    "(our columns: id, pre, post, group, work_duration, parity, occupation, education, "
    "age_group).",
    "level_maps": "Level mapping COLUMN:FILE_LABEL=LEVEL, repeatable: "
    "--map-level work_duration:lama=long --map-level group:kontrol=control.",
}
"""Help text of every data option (a test checks every option has some)."""


def _parameters(data_argument: bool) -> list[inspect.Parameter]:
    def option(name: str, default: Any, annotation: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    data = (
        typer.Argument(None, help=_HELP["data"], metavar="[FILE]")
        if data_argument
        else typer.Option(None, "--data", help=_HELP["data"])
    )
    return [
        option("data", data, Path | None),
        option(
            "scenario",
            choice("volume_ml", "--scenario", _HELP["scenario"], SCENARIOS),
            str,
        ),
        option("study", typer.Option(None, "--study", help=_HELP["study"]), Path | None),
        option("kind", choice(None, "--kind", _HELP["kind"], KINDS), str | None),
        option("unit", typer.Option(None, "--unit", help=_HELP["unit"]), str | None),
        option("max_score", typer.Option(None, "--max-score", help=_HELP["max_score"]), int | None),
        option("benefit", choice(None, "--benefit", _HELP["benefit"], BENEFITS), str | None),
        option("complete_case", flag("--complete-case", _HELP["complete_case"]), bool),
        option("encoding", typer.Option(None, "--encoding", help=_HELP["encoding"]), str | None),
        option("sep", typer.Option(None, "--sep", help=_HELP["sep"]), str | None),
        option(
            "decimal",
            typer.Option(None, "--decimal", help=_HELP["decimal"], metavar="[.|,]"),
            str | None,
        ),
        option(
            "maps",
            typer.Option(None, "--map", help=_HELP["maps"], metavar="OURS=FILE"),
            list[str] | None,
        ),
        option(
            "level_maps",
            typer.Option(
                None, "--map-level", help=_HELP["level_maps"], metavar="COLUMN:LABEL=LEVEL"
            ),
            list[str] | None,
        ),
    ]


_NAMES = ("data", "scenario", "study", "kind", "unit", "max_score", "complete_case")
_NAMES += ("encoding", "sep", "decimal", "maps", "level_maps", "benefit")


def data_options(*, data_argument: bool = False):
    """Decorate a command so that it takes the data options and gets ``options: DataOptions``.

    The command declares a parameter ``options`` (no default); the decorator
    replaces it, in the signature typer reads, by the options of this module, and
    calls the command with one :class:`DataOptions`.

    Parameters
    ----------
    data_argument : bool
        The data file is a positional argument (``milkbayes data describe FILE``),
        not ``--data``.
    """

    def decorate(command):
        hints = typing.get_type_hints(command)
        signature = inspect.signature(command)
        if "options" not in signature.parameters:
            raise TypeError(f"{command.__name__} needs a parameter 'options'")
        kept = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
            if p.name != "options"
        ]
        extra = _parameters(data_argument)
        positional = [p for p in kept if p.kind != inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in kept if p.kind == inspect.Parameter.KEYWORD_ONLY]
        ordered = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in positional] + [
            p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in extra + keyword
        ]
        if data_argument:  # the argument first, as `data describe FILE` reads
            ordered.sort(key=lambda p: p.name != "data")

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            bound = dict(zip([p.name for p in ordered], args, strict=False))
            bound.update(kwargs)
            values = {name: bound.pop(name, None) for name in _NAMES}
            options = DataOptions(
                data=values["data"],
                scenario=values["scenario"] or "volume_ml",
                study=values["study"],
                kind=values["kind"],
                unit=values["unit"],
                max_score=values["max_score"],
                complete_case=bool(values["complete_case"]),
                encoding=values["encoding"],
                sep=values["sep"],
                decimal=values["decimal"],
                maps=tuple(values["maps"] or ()),
                level_maps=tuple(values["level_maps"] or ()),
                benefit=values["benefit"],
            )
            return command(**bound, options=options)

        wrapper.__signature__ = inspect.Signature(ordered)
        annotations = {p.name: p.annotation for p in ordered}
        wrapper.__annotations__ = annotations
        del wrapper.__wrapped__  # typer must read the new signature, not the original
        return wrapper

    return decorate


def parse_column_maps(pairs: tuple[str, ...] | list[str] | None) -> dict[str, str]:
    """``["pre=sebelum"]`` -> ``{"pre": "sebelum"}``; a clear error for a bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        ours, sep, theirs = pair.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise MilkbayesError(f"--map takes OURS=FILE (e.g. --map pre=sebelum), not {pair!r}")
        if ours in out:
            raise MilkbayesError(f"--map gives column {ours!r} twice")
        out[ours] = theirs
    return out


def parse_level_maps(pairs: tuple[str, ...] | list[str] | None) -> dict[str, dict[str, str]]:
    """``["work_duration:lama=long"]`` -> ``{"work_duration": {"lama": "long"}}``."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs or ():
        column, colon, rest = pair.partition(":")
        label, sep, level = rest.partition("=")
        column, label, level = column.strip(), label.strip(), level.strip()
        if not colon or not sep or not column or not label or not level:
            raise MilkbayesError(
                "--map-level takes COLUMN:FILE_LABEL=LEVEL (e.g. "
                f"--map-level work_duration:lama=long), not {pair!r}"
            )
        out.setdefault(column, {})[label] = level
    return out


def _separator(sep: str | None) -> str | None:
    if sep is None:
        return None
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";"}
    sep = named.get(sep.lower(), sep)
    if len(sep) != 1:
        raise MilkbayesError(f"--sep must be one character (got {sep!r})")
    return sep
