r"""What was published about a study: :class:`StudyDescription`, read from a TOML file.

A report audits a study only against its own description: the bundled
reconstruction against the paper it reconstructs (:func:`paper_description`,
built from :mod:`milkbayes.published`, the one owner of the paper's facts), a
user's file against the TOML the user wrote, and a file without one against
nothing (the report then describes the user's data and says nothing about any
paper). The same file can say how to read the data: which file column holds
``pre`` or ``group``, and which file labels mean which level.

The format (every table optional but ``[study]``)::

    [study]
    title = "Warm compresses and milk volume"     # the report's title
    citation = "A. Author et al. (2021), Journal 3:14"
    design = "one_group"                           # or "two_arm"
    benefit = "increase"                           # or "decrease": lower is better
    literature = "oxytocin-massage"                # the massage literature's prior applies

    [published]
    n = 30
    test = "Wilcoxon signed-rank"
    reported_p = "p = 0.000"                       # as printed
    [published.means]                              # optional, as reported
    pre = { mean = 40.2, sd = 12.1 }
    post = { mean = 55.0, sd = 14.3 }
    [published.covariates.parity]                  # percentages of n, as printed
    multipara = 60.0

    [outcome]
    kind = "volume"                                # volume, score or continuous
    unit = "ml"

    [mcid]
    value = 10.0
    source = "why 10 ml matters (a reference)"

    [columns]                                      # our name = the file's name
    pre = "sebelum"
    post = "sesudah"

    [levels.work_duration]                         # the file's label = our level
    lama = "long"
    baru = "short"

    [[limits]]                                     # design limits of this study
    title = "Single centre"
    text = "All mothers came from one clinic."

Examples
--------
>>> paper = paper_description()
>>> paper.n, paper.reported_p, paper.is_paper
(24, '0.000', True)
>>> paper.covariates["parity"]
{'multipara': 87.5}
>>> text = '[study]\ntitle = "Mine"\n[columns]\npre = "sebelum"\n'
>>> mine = parse_study_description(text, "mine.toml")
>>> mine.title, dict(mine.columns), mine.is_paper
('Mine', {'pre': 'sebelum'}, False)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milkbayes import published
from milkbayes.errors import DataError

__all__ = [
    "DESIGNS",
    "PAPER_KEY",
    "StudyDescription",
    "paper_description",
    "parse_study_description",
    "read_study_description",
]

DESIGNS = ("one_group", "two_arm")
"""The designs a description may declare."""

PAPER_KEY = "erwhani"
"""The ``[study] key`` of the bundled paper's description."""

_TOP_KEYS = {"study", "published", "outcome", "mcid", "columns", "levels", "limits"}
_STUDY_KEYS = {"title", "citation", "design", "key", "benefit", "literature"}

BENEFITS = ("increase", "decrease")
"""Directions of benefit: a rise of the outcome is the benefit, or a fall."""

LITERATURE_TOPICS = ("oxytocin-massage",)
"""What ``[study] literature`` may declare the outcome to be about."""
_PUBLISHED_KEYS = {"n", "test", "reported_p", "means", "covariates"}


@dataclass(frozen=True)
class StudyDescription:
    """What was published about one study, and how its file is laid out.

    Attributes
    ----------
    title : str
        The study's title, used as the report's title.
    citation : str or None
    design : {"one_group", "two_arm"} or None
        The published design; None when the description does not say.
    key : str or None
        :data:`PAPER_KEY` for the bundled paper; anything else for other studies.
    benefit : {"increase", "decrease"} or None
        Which direction of the outcome is the benefit (``"decrease"``: lower is
        better, e.g. a pain or headache score); None when the description does not
        say (the data's outcome then decides, by default ``"increase"``).
    literature : str or None
        ``"oxytocin-massage"`` when the outcome is breast-milk output after oxytocin
        massage, so that the literature prior (:func:`milkbayes.models.priors.literature_reason`)
        applies to it; None otherwise.
    n : int or None
        Participants analysed, as published.
    test : str or None
        The test the study reported.
    reported_p : str or None
        The p-value as printed (e.g. ``"0.000"``; a leading ``"p ="`` is removed).
    means : dict
        ``{"pre" | "post" | "change": {"mean": m, "sd": s}}`` as reported.
    covariates : dict
        ``{column: {level: percent}}``, the published percentages of ``n``.
    outcome : dict or None
        ``{"kind", "unit", "max_score"}``, as a sidecar's ``"outcome"``.
    mcid : float or None
    mcid_source : str or None
        Where the MCID comes from (a reference, an argument).
    columns : dict
        Our column name -> the file's column name.
    levels : dict
        ``{column: {file label: our level}}``.
    limits : tuple of (str, str)
        Design limits specific to this study (title, text).
    source : str
        The TOML file, or ``"bundled"``.
    """

    title: str
    citation: str | None = None
    design: str | None = None
    key: str | None = None
    n: int | None = None
    test: str | None = None
    reported_p: str | None = None
    means: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)
    outcome: dict | None = None
    mcid: float | None = None
    mcid_source: str | None = None
    columns: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    limits: tuple = ()
    source: str = field(default="bundled", compare=False)
    benefit: str | None = None
    literature: str | None = None

    @property
    def is_paper(self) -> bool:
        """True for the bundled paper's description."""
        return self.key == PAPER_KEY

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (for the report's summary)."""
        return {
            "title": self.title,
            "citation": self.citation,
            "design": self.design,
            "key": self.key,
            "n": self.n,
            "test": self.test,
            "reported_p": self.reported_p,
            "means": self.means,
            "covariates": self.covariates,
            "outcome": self.outcome,
            "mcid": self.mcid,
            "mcid_source": self.mcid_source,
            "source": self.source,
            "benefit": self.benefit,
            "literature": self.literature,
        }


def paper_description() -> StudyDescription:
    """The bundled paper's description, built from :mod:`milkbayes.published`.

    ``examples/erwhani.toml`` holds the same description as a file (a test checks
    they agree); :mod:`milkbayes.published` stays the owner of every number.

    Examples
    --------
    >>> paper_description().test
    'Wilcoxon signed-rank test (SPSS)'
    """
    return StudyDescription(
        title=(
            "Oxytocin massage and breast-milk production in working mothers "
            "(Erwhani et al., Kubu Raya)"
        ),
        citation=published.CITATION,
        design="one_group",
        key=PAPER_KEY,
        n=published.N_PARTICIPANTS,
        test=published.REPORTED_TEST,
        reported_p=published.REPORTED_P_TEXT,
        covariates={
            column: {fact.level: fact.percent} for column, fact in published.COVARIATE_FACTS.items()
        },
    )


def read_study_description(path: str | Path) -> StudyDescription:
    """Read and check a study description TOML file.

    Raises
    ------
    DataError
        For a missing or unreadable file, invalid TOML, an unknown key or a value
        of the wrong type, naming the file and the key.
    """
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise DataError("no such study description (a TOML file)", file=label)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the study description ({error})", file=label) from None
    return parse_study_description(text, label)


def parse_study_description(text: str, label: str = "<text>") -> StudyDescription:
    """A :class:`StudyDescription` from TOML text; errors name ``label`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"not valid TOML ({error})", file=label) from None
    _only(data, _TOP_KEYS, "", label)
    study = _table(data, "study", label, required=True)
    _only(study, _STUDY_KEYS, "study.", label)
    title = _text(study, "title", "study.", label)
    if not title:
        raise DataError("[study] needs a title", file=label)
    design = _text(study, "design", "study.", label)
    if design is not None and design not in DESIGNS:
        raise DataError(
            f"study.design must be one of {', '.join(DESIGNS)} (got {design!r})", file=label
        )
    benefit = _text(study, "benefit", "study.", label)
    if benefit is not None and benefit not in BENEFITS:
        raise DataError(
            f"study.benefit must be one of {', '.join(BENEFITS)} (got {benefit!r})", file=label
        )
    literature = _text(study, "literature", "study.", label)
    if literature is not None and literature not in LITERATURE_TOPICS:
        raise DataError(
            f"study.literature must be one of {', '.join(LITERATURE_TOPICS)} (got {literature!r})",
            file=label,
        )
    pub = _table(data, "published", label)
    _only(pub, _PUBLISHED_KEYS, "published.", label)
    n = pub.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise DataError(f"published.n must be a whole number >= 2 (got {n!r})", file=label)
    reported = _text(pub, "reported_p", "published.", label)
    if reported is not None:
        reported = reported.strip().removeprefix("p").strip().removeprefix("=").strip()
        reported = reported.replace(",", ".")
    means = _table(pub, "means", label, prefix="published.")
    for name, entry in means.items():
        if name not in {"pre", "post", "change"} or not isinstance(entry, Mapping):
            raise DataError(
                f"published.means.{name} must be pre, post or change = {{mean = .., sd = ..}}",
                file=label,
            )
        for key, value in entry.items():
            if key not in {"mean", "sd"}:
                raise DataError(f"published.means.{name}.{key}: only mean and sd", file=label)
            _number(value, f"published.means.{name}.{key}", label)
    covariates = _table(pub, "covariates", label, prefix="published.")
    for column, levels in covariates.items():
        if not isinstance(levels, Mapping):
            raise DataError(f"published.covariates.{column} must be a table", file=label)
        for level, percent in levels.items():
            value = _number(percent, f"published.covariates.{column}.{level}", label)
            if not 0 <= value <= 100:
                raise DataError(
                    f"published.covariates.{column}.{level} is a percentage (0-100)", file=label
                )
    outcome = data.get("outcome")
    if outcome is not None:
        from milkbayes.data.outcome import Outcome

        Outcome.from_dict(outcome, file=label)  # checked now, used by load_study
        outcome = dict(outcome)
    mcid_table = _table(data, "mcid", label)
    _only(mcid_table, {"value", "source"}, "mcid.", label)
    mcid = mcid_table.get("value")
    if mcid is not None:
        mcid = _number(mcid, "mcid.value", label)
        if mcid < 0:
            raise DataError("mcid.value must be >= 0", file=label)
    columns = _table(data, "columns", label)
    for ours, theirs in columns.items():
        if not isinstance(theirs, str) or not theirs:
            raise DataError(f"columns.{ours} must be the file's column name", file=label)
    levels = _table(data, "levels", label)
    for column, mapping in levels.items():
        if not isinstance(mapping, Mapping) or not all(
            isinstance(v, str) for v in mapping.values()
        ):
            raise DataError(f"levels.{column} must map file labels to levels", file=label)
    limits = data.get("limits", [])
    if not isinstance(limits, list) or not all(
        isinstance(x, Mapping)
        and isinstance(x.get("title"), str)
        and isinstance(x.get("text"), str)
        for x in limits
    ):
        raise DataError("[[limits]] entries need a title and a text", file=label)
    return StudyDescription(
        title=title,
        citation=_text(study, "citation", "study.", label),
        design=design,
        key=_text(study, "key", "study.", label),
        n=n,
        test=_text(pub, "test", "published.", label),
        reported_p=reported,
        means={k: dict(v) for k, v in means.items()},
        covariates={k: {lv: float(p) for lv, p in v.items()} for k, v in covariates.items()},
        outcome=outcome,
        mcid=mcid,
        mcid_source=_text(mcid_table, "source", "mcid.", label),
        columns=dict(columns),
        levels={k: dict(v) for k, v in levels.items()},
        limits=tuple((x["title"], x["text"]) for x in limits),
        source=label,
        benefit=benefit,
        literature=literature,
    )


def _only(table: Mapping, allowed: set[str], prefix: str, label: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise DataError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}",
            file=label,
        )


def _table(data: Mapping, key: str, label: str, *, required: bool = False, prefix: str = ""):
    value = data.get(key)
    if value is None:
        if required:
            raise DataError(f"the description needs a [{prefix}{key}] table", file=label)
        return {}
    if not isinstance(value, Mapping):
        raise DataError(f"{prefix}{key} must be a table", file=label)
    return value


def _text(table: Mapping, key: str, prefix: str, label: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{prefix}{key} must be text (got {value!r})", file=label)
    return value


def _number(value: Any, where: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where} must be a finite number (got {value!r})", file=label)
    return float(value)
