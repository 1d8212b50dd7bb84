"""What a study's ``pre`` and ``post`` measure, and where that was declared.

The outcome is described by an :class:`Outcome` (``volume`` with a unit,
``continuous``, or ``score`` with a maximum). :func:`resolve_outcome` takes it, in
this order, from

1. the ``outcome=`` argument (the CLI's ``--kind/--unit/--max-score``);
2. the ``"outcome"`` object of the data file's sidecar JSON (see
   :func:`milkbayes.data.reading.sidecar_paths`);
3. otherwise :data:`DEFAULT_OUTCOME`, kind ``continuous`` (any real number).

The default never guesses from the values (a table of non-negative numbers is not
thereby a volume): ``continuous`` is the one kind whose checks cannot reject a valid
file, and the origin ``"default"`` is recorded so that
:func:`milkbayes.data.describe` and the CLI say the kind was not declared.

Examples
--------
>>> resolve_outcome(None, {"outcome": {"kind": "score", "max_score": 10}}, "s.json")
(Outcome(kind='score', unit=None, max_score=10), 'sidecar')
>>> resolve_outcome(None, {}, None)[1]
'default'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from milkbayes.errors import DataError

OutcomeKind = Literal["volume", "continuous", "score"]

OUTCOME_KINDS: tuple[str, ...] = ("volume", "continuous", "score")
"""The allowed outcome kinds."""

BENEFITS: tuple[str, ...] = ("increase", "decrease")
"""Directions of benefit: a rise of the outcome is the benefit (default), or a fall."""


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
        Required for ``volume``; optional for ``continuous``; must be None for
        ``score``. Non-empty printable text: it titles every table and report.
    max_score : int, optional
        Required for ``score`` (a positive integer), None otherwise.
    benefit : {"increase", "decrease"}, default "increase"
        Which direction of change is the benefit: ``"decrease"`` when lower is
        better (a pain or headache score). Effects keep the outcome's own sign
        (post - pre; a fall is negative); what follows the direction is which side
        the priors and the probabilities of benefit look at
        (:func:`milkbayes.models.priors.benefit_sign`).

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
    benefit: str = "increase"

    def __repr__(self) -> str:
        """The dataclass repr, naming the benefit only when it is not the default rise."""
        extra = "" if self.benefit == "increase" else f", benefit={self.benefit!r}"
        return (
            f"Outcome(kind={self.kind!r}, unit={self.unit!r}, max_score={self.max_score!r}{extra})"
        )

    def __post_init__(self) -> None:
        """Refuse a combination of kind, unit and maximum that is not allowed."""
        if self.benefit not in BENEFITS:
            raise DataError(
                f"the direction of benefit must be one of {', '.join(BENEFITS)} "
                f"(got {self.benefit!r})"
            )
        if self.kind not in OUTCOME_KINDS:
            raise DataError(
                f"unknown outcome kind {self.kind!r}; allowed: " + ", ".join(OUTCOME_KINDS)
            )
        if self.unit is not None and (
            not isinstance(self.unit, str) or not self.unit or not self.unit.isprintable()
        ):
            # The unit is printed in every table and report title.
            raise DataError(f'the unit must be printable text, e.g. "ml" (got {self.unit!r})')
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
        """Short human description, e.g. ``'volume (ml)'``; a fall as benefit says so.

        Examples
        --------
        >>> Outcome("continuous", "points", benefit="decrease").label
        'continuous (points), lower is better'
        """
        if self.kind == "score":
            text = f"score (0-{self.max_score})"
        else:
            text = f"{self.kind} ({self.unit})" if self.unit else self.kind
        return text + (", lower is better" if self.benefit == "decrease" else "")

    def to_dict(self) -> dict[str, Any]:
        """The sidecar/JSON form ``{"kind", "unit", "max_score"}`` (+ ``"benefit"`` for a fall).

        The default direction (a rise) is left out, so files and summaries written
        before the direction existed read and compare the same.
        """
        out: dict[str, Any] = {"kind": self.kind, "unit": self.unit, "max_score": self.max_score}
        if self.benefit != "increase":
            out["benefit"] = self.benefit
        return out

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
        unknown = set(mapping) - {"kind", "unit", "max_score", "benefit"}
        if unknown:
            raise DataError(
                f'unknown key(s) in "outcome": {", ".join(sorted(unknown))}; '
                "allowed: kind, unit, max_score, benefit",
                file=file,
            )
        try:
            return cls(
                kind=mapping.get("kind"),
                unit=mapping.get("unit"),
                max_score=mapping.get("max_score"),
                benefit=mapping.get("benefit", "increase"),
            )
        except DataError as error:
            raise DataError(error.message, file=file) from None


DEFAULT_OUTCOME = Outcome("continuous")
"""The outcome assumed when neither an option nor a sidecar declares one."""


def resolve_outcome(
    outcome: Outcome | Mapping | None, sidecar: Mapping, sidecar_path: str | None
) -> tuple[Outcome, str]:
    """The study's outcome and where it came from: the option, the sidecar, or the default.

    Parameters
    ----------
    outcome : Outcome or mapping or None
        Given by the caller (the CLI's ``--kind``); wins over the sidecar.
    sidecar : mapping
        The sidecar's contents (empty when there is none).
    sidecar_path : str or None
        The sidecar's path, for errors.

    Returns
    -------
    tuple of (Outcome, str)
        The outcome, and ``"option"``, ``"sidecar"`` or ``"default"``.
    """
    if isinstance(outcome, Outcome):
        return outcome, "option"
    if outcome is not None:
        return Outcome.from_dict(outcome), "option"
    if "outcome" in sidecar:
        return Outcome.from_dict(sidecar["outcome"], file=sidecar_path), "sidecar"
    return DEFAULT_OUTCOME, "default"
