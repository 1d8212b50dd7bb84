"""Published summaries of the oxytocin-massage literature, each number beside its source.

The paper under reanalysis gives no comparison group and its priors needed a source.
This package bundles what other studies published (``studies.toml``): design, sample
sizes, outcome and unit, effects or pre/post means and SDs, the reported p, the stage
of lactation, and, beside each entry, the quoted text its numbers come from and where
that text was read (``provenance``: "abstract", or "as quoted in the review,
unverified" when the source could not be checked). A number that is not in the quote
must be declared ``imputed`` (how, and why) or ``derived`` (from which quoted numbers).

:func:`load_studies` returns the studies as a validated :class:`pandas.DataFrame`
(one row per study, the columns of :data:`STUDY_FIELDS`); :func:`load_references`
the reference facts the priors rest on (natural course of lactation, the MCID rule).
A malformed file raises :class:`~milkbayes.errors.DataError` naming the file, the
entry (as ``row``, 1-based among the file's ``[[study]]`` or ``[[reference]]``
entries) and the field (as ``column``).

Examples
--------
>>> studies = load_studies()
>>> row = studies.loc["rahayuningsih2016"]
>>> row["design"], int(row["n_total"]), float(row["mean_treat"]), float(row["sd_treat"])
('rct', 90, 17.37, 9.7)
>>> sorted(studies.loc[studies.role == "primary"].index)
['anggorowati2016', 'fara2022', 'rahayuningsih2016', 'sulaeman']
>>> load_references()["kent2006"]["values"]["sd_per_feed"]
12.6
"""

from __future__ import annotations

import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from milkbayes.errors import DataError

__all__ = [
    "DESIGNS",
    "NUMBER",
    "ROLES",
    "STAGES",
    "STUDY_FIELDS",
    "bundled_path",
    "load_references",
    "load_studies",
    "numbers_in",
]

DESIGNS = ("rct", "quasi", "one_group", "meta_analysis")
"""Study designs: randomised, non-randomised with a control group, one group pre/post,
and a published pooled estimate."""

ROLES = ("primary", "pooled_review", "anchor")
"""How an entry is used: ``primary`` studies enter the meta-analysis; ``pooled_review``
estimates overlap them and serve as checks; an ``anchor`` is reported beside it."""

STAGES = ("early", "established", "mixed")
"""Stage of lactation: the first postpartum days (secretory activation), established
lactation (about 1 to 6 months), or a mixture (pooled reviews)."""

MEASURES = ("change", "post", "pre_post", "adjusted_difference", "smd", "not_significant")

_TEXT, _INT, _FLOAT = "text", "int", "float"

STUDY_FIELDS: dict[str, tuple[str, bool]] = {
    # field: (type, required)
    "id": (_TEXT, True),
    "citation": (_TEXT, True),
    "url": (_TEXT, False),
    "provenance": (_TEXT, True),
    "design": (_TEXT, True),
    "role": (_TEXT, True),
    "intervention": (_TEXT, True),
    "stage": (_TEXT, True),
    "outcome": (_TEXT, True),
    "unit": (_TEXT, True),
    "measure": (_TEXT, True),
    "n_total": (_INT, False),
    "n_treat": (_INT, False),
    "n_control": (_INT, False),
    "k_studies": (_INT, False),
    "mean_treat": (_FLOAT, False),
    "sd_treat": (_FLOAT, False),
    "mean_control": (_FLOAT, False),
    "sd_control": (_FLOAT, False),
    "pre_mean": (_FLOAT, False),
    "post_mean": (_FLOAT, False),
    "sd_change": (_FLOAT, False),
    "effect": (_FLOAT, False),
    "effect_low": (_FLOAT, False),
    "effect_high": (_FLOAT, False),
    "i2_percent": (_FLOAT, False),
    "p_value": (_FLOAT, False),
    "p_reported": (_TEXT, True),
    "quote": (_TEXT, True),
    "notes": (_TEXT, False),
    "imputed": ("table", False),
    "derived": ("table", False),
}
"""The schema of a ``[[study]]`` entry: each field's type and whether it is required.
Numeric fields that are absent become NaN (floats) or ``<NA>`` (integers)."""

NUMERIC_FIELDS = tuple(k for k, (kind, _) in STUDY_FIELDS.items() if kind in (_INT, _FLOAT))

REFERENCE_FIELDS = {"id", "citation", "provenance", "topic", "unit", "quote", "values", "words"}

NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")
"""A number as printed in a quote (thousands commas allowed: "1,099")."""


def numbers_in(text: str) -> list[float]:
    """Every number printed in ``text``, as floats.

    Examples
    --------
    >>> numbers_in("(mea = 17.37, SD= 9.70) with 1,099 participants; I2 = 87%")
    [17.37, 9.7, 1099.0, 87.0]
    """
    found = []
    for token in NUMBER.findall(text):
        try:
            found.append(float(token.replace(",", "")))
        except ValueError:  # pragma: no cover - the pattern only matches numbers
            continue
    return found


def bundled_path() -> Path:
    """The bundled ``studies.toml``."""
    return Path(str(resources.files("milkbayes.literature") / "studies.toml"))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("literature file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the literature file ({error})", file=str(path)) from None
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"not valid TOML ({error})", file=str(path)) from None


def _check_value(value: Any, kind: str, *, file: str, row: int, column: str, entry: str) -> Any:
    def fail(what: str) -> DataError:
        return DataError(f"study {entry!r}: {what}", file=file, row=row, column=column)

    if kind == _TEXT:
        if not isinstance(value, str):
            raise fail(f"must be text, not {value!r}")
        return value
    if kind == "table":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise fail("must be a table of field = reason (text)")
        unknown = sorted(set(value) - set(NUMERIC_FIELDS) - {"se_md"})
        if unknown:
            raise fail(f"names {unknown[0]!r}, which is not a numeric field")
        return dict(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"must be a number, not {value!r}")
    if not math.isfinite(value):
        raise fail(f"must be finite, not {value!r}")
    if kind == _INT:
        if float(value) != int(value) or value < 1:
            raise fail(f"must be a whole number >= 1, not {value!r}")
        return int(value)
    return float(value)


def _check_study(entry: Any, *, file: str, row: int) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise DataError("each [[study]] must be a table", file=file, row=row)
    name = str(entry.get("id", f"#{row}"))
    unknown = sorted(set(entry) - set(STUDY_FIELDS))
    if unknown:
        raise DataError(
            f"study {name!r}: unknown field; allowed: {', '.join(STUDY_FIELDS)}",
            file=file,
            row=row,
            column=unknown[0],
        )
    record: dict[str, Any] = {}
    for field, (kind, required) in STUDY_FIELDS.items():
        if field not in entry:
            if required:
                raise DataError(
                    f"study {name!r}: missing required field", file=file, row=row, column=field
                )
            record[field] = {} if kind == "table" else (pd.NA if kind == _INT else math.nan)
            if kind == _TEXT:
                record[field] = ""
            continue
        record[field] = _check_value(
            entry[field], kind, file=file, row=row, column=field, entry=name
        )
    for field, allowed in (
        ("design", DESIGNS),
        ("role", ROLES),
        ("stage", STAGES),
        ("measure", MEASURES),
    ):
        if record[field] not in allowed:
            raise DataError(
                f"study {name!r}: {record[field]!r} is not one of {', '.join(allowed)}",
                file=file,
                row=row,
                column=field,
            )
    for field in ("sd_treat", "sd_control", "sd_change"):
        if not math.isnan(record[field]) and record[field] <= 0:
            raise DataError(
                f"study {name!r}: a standard deviation must be > 0",
                file=file,
                row=row,
                column=field,
            )
    if not math.isnan(record["p_value"]) and not 0 < record["p_value"] < 1:
        raise DataError(
            f"study {name!r}: a p-value must lie in (0, 1)", file=file, row=row, column="p_value"
        )
    if not (math.isnan(record["effect_low"]) or math.isnan(record["effect_high"])):
        if not record["effect_low"] <= record["effect"] <= record["effect_high"]:
            raise DataError(
                f"study {name!r}: the effect must lie inside its interval",
                file=file,
                row=row,
                column="effect",
            )
    n_total, n_treat, n_control = (record[k] for k in ("n_total", "n_treat", "n_control"))
    if all(v is not pd.NA for v in (n_total, n_treat, n_control)):
        if n_treat + n_control != n_total:
            raise DataError(
                f"study {name!r}: n_treat + n_control = {n_treat + n_control}, "
                f"but n_total = {n_total}",
                file=file,
                row=row,
                column="n_total",
            )
    return record


def load_studies(path: str | Path | None = None) -> pd.DataFrame:
    """The ``[[study]]`` entries of ``path`` (default: the bundled file), validated.

    Parameters
    ----------
    path : str or Path, optional
        A TOML file following the schema :data:`STUDY_FIELDS`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``id``, one column per field of :data:`STUDY_FIELDS`; integers as
        the nullable ``Int64``; the ``imputed`` and ``derived`` columns hold dicts.

    Raises
    ------
    DataError
        Naming the file, the entry (``row``) and the field (``column``): an unreadable
        file, an unknown or missing field, a wrong type, a category outside the
        allowed values, a non-positive SD, inconsistent sample sizes, a duplicated id.

    Examples
    --------
    >>> float(load_studies().loc["sulaeman", "mean_treat"])
    9.6233
    """
    path = Path(path) if path is not None else bundled_path()
    document = _read(path)
    entries = document.get("study", [])
    if not isinstance(entries, list) or not entries:
        raise DataError("no [[study]] entries", file=str(path))
    records, seen = [], {}
    for row, entry in enumerate(entries, start=1):
        record = _check_study(entry, file=str(path), row=row)
        if record["id"] in seen:
            raise DataError(
                f"study id {record['id']!r} repeats entry {seen[record['id']]}",
                file=str(path),
                row=row,
                column="id",
            )
        seen[record["id"]] = row
        records.append(record)
    frame = pd.DataFrame.from_records(records).set_index("id", drop=False)
    for field, (kind, _) in STUDY_FIELDS.items():
        if kind == _INT:
            frame[field] = frame[field].astype("Int64")
        elif kind == _FLOAT:
            frame[field] = frame[field].astype(float)
    frame.attrs["source"] = str(path)
    return frame


def load_references(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The ``[[reference]]`` entries (facts behind the priors), by id.

    Each holds ``citation``, ``provenance``, ``topic``, ``unit``, ``quote`` and
    ``values`` (a table of numbers that appear in the quote; ``words`` maps a value
    to the word the quote spells it with, as in "one to six months").

    Raises
    ------
    DataError
        Naming file, entry and field, as :func:`load_studies`.
    """
    path = Path(path) if path is not None else bundled_path()
    document = _read(path)
    references: dict[str, dict[str, Any]] = {}
    for row, entry in enumerate(document.get("reference", []), start=1):
        if not isinstance(entry, dict):
            raise DataError("each [[reference]] must be a table", file=str(path), row=row)
        unknown = sorted(set(entry) - REFERENCE_FIELDS)
        if unknown:
            raise DataError("unknown field", file=str(path), row=row, column=unknown[0])
        for field in ("id", "citation", "provenance", "quote", "values"):
            if field not in entry:
                raise DataError("missing required field", file=str(path), row=row, column=field)
        for key, value in entry["values"].items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DataError(
                    f"reference {entry['id']!r}: value {key!r} must be a number",
                    file=str(path),
                    row=row,
                    column=f"values.{key}",
                )
        references[entry["id"]] = dict(entry)
    return references


# --------------------------------------------------------------------------- priors
PAPER_STAGE = "established"
"""The paper's stage of lactation: its 24 mothers were *working* mothers, massaged
before and after work, so back at work after maternity leave and past the first
postpartum weeks; lactation was established (about 1 to 6 months), not starting."""

MCID_SD_FRACTION = 0.5
"""Norman, Sloan & Wyrwich (2003): minimally important differences cluster at half a
standard deviation (mean 0.495 SD over 62 estimates)."""


def literature_mcid() -> dict[str, Any]:
    """The MCID of expressed milk per session with its sources: half the SD of a feed.

    Half a standard deviation (:data:`MCID_SD_FRACTION`, Norman et al. 2003) of the
    volume of one breastfeeding in established lactation, 76.0 ± 12.6 g for infants
    of 1 to 6 months (Kent et al. 2006; 1 g of milk is about 1 ml), gives
    0.5 x 12.6 = 6.3 ml per session. The half-SD rule was found for quality-of-life
    scales; using it for a volume is an analogy, stated as such.

    Returns
    -------
    dict
        ``value`` (ml), ``unit``, ``rule``, ``sources`` (reference ids) and
        ``rationale``.

    Examples
    --------
    >>> literature_mcid()["value"]
    6.3
    """
    references = load_references()
    sd = float(references["kent2006"]["values"]["sd_per_feed"])
    value = round(MCID_SD_FRACTION * sd, 6)
    return {
        "value": value,
        "unit": "ml",
        "rule": "half a standard deviation (Norman, Sloan & Wyrwich 2003)",
        "sources": ["norman2003", "kent2006"],
        "rationale": (
            f"Half a standard deviation is the usual smallest difference that matters "
            f"(Norman et al. 2003: mean 0.495 SD); the SD of one breastfeeding in "
            f"established lactation is {sd:g} g (Kent et al. 2006, infants 1-6 months), "
            f"so the MCID is {value:g} ml per session. An analogy from quality-of-life "
            "scales to a volume, not an anchor-based MCID for milk."
        ),
    }


def stage_trend(stage: str, level: float) -> dict[str, Any]:
    """The natural change over about three days without massage, by stage of lactation.

    Parameters
    ----------
    stage : {"early", "established"}
        ``early``: the first postpartum days; ``established``: about 1 to 6 months.
    level : float
        The typical pre-intervention volume per session (ml) the relative changes
        apply to.

    Returns
    -------
    dict
        ``mean`` and ``sd`` (ml) of a normal prior on the natural change, ``sources``
        and ``rationale``.

    Notes
    -----
    *Early*: yields rise from 37.1 g/24 h on day 1 to 408 on day 3 and 705.4 on day 5
    (Saint et al. 1984). Even the slower second step is +73 % in two days, so the
    prior has mean 0.73 x level and the same SD (the day-1 step, elevenfold, would be
    far larger). *Established*: daily intake is constant from 1 to 6 months (Kent et
    al., secondary summary), so the mean is 0; the SD is the coefficient of variation
    of one feed, 12.6 / 76.0 = 16.6 % of the level (Kent et al. 2006), a generous bound
    for a drift of the mean over three days.

    Examples
    --------
    >>> prior = stage_trend("established", 15.0)
    >>> prior["mean"], round(prior["sd"], 2)
    (0.0, 2.49)
    >>> round(stage_trend("early", 15.0)["mean"], 2)
    10.93
    """
    if stage not in ("early", "established"):
        raise DataError(f"unknown stage of lactation {stage!r}; known: early, established")
    if not (math.isfinite(level) and level > 0):
        raise DataError(f"the level must be a positive volume, not {level!r}")
    references = load_references()
    if stage == "early":
        saint = references["saint1984"]["values"]
        rise = float(saint["day5"]) / float(saint["day3"]) - 1.0
        return {
            "mean": rise * level,
            "sd": rise * level,
            "sources": ["saint1984"],
            "rationale": (
                f"Early lactation: 24-h yield {saint['day1']:g} g on day 1, {saint['day3']:g} "
                f"on day 3, {saint['day5']:g} on day 5 (Saint et al. 1984); even days 3-5 rise "
                f"{100 * rise:.0f} %, so the natural change is Normal({rise:.2f} x level, "
                f"{rise:.2f} x level)."
            ),
        }
    kent = references["kent2006"]["values"]
    cv = float(kent["sd_per_feed"]) / float(kent["mean_per_feed"])
    return {
        "mean": 0.0,
        "sd": cv * level,
        "sources": ["kent_longitudinal", "kent2006"],
        "rationale": (
            "Established lactation: daily intake constant from 1 to 6 months (Kent et al., "
            "secondary summary), so no trend on average; SD the coefficient of variation of "
            f"one feed, {kent['sd_per_feed']:g}/{kent['mean_per_feed']:g} = {100 * cv:.1f} % "
            "of the level (Kent et al. 2006)."
        ),
    }


def derived_prior_path() -> Path:
    """The bundled ``derived_prior.toml`` written by ``milkbayes meta-analysis``."""
    return Path(str(resources.files("milkbayes.literature") / "derived_prior.toml"))


def derived_prior(path: str | Path | None = None) -> dict[str, Any]:
    """The literature-informed prior numbers derived by the meta-analysis.

    Raises
    ------
    DataError
        A missing or malformed file (naming the file and the key).
    """
    path = Path(path) if path is not None else derived_prior_path()
    document = _read(path)
    for section, keys in (
        ("ml", ("mixture_mean", "mixture_sd")),
        ("smd", ("mixture_mean", "mixture_sd", "cauchy_loc", "cauchy_scale")),
        ("meta", ("weight",)),
    ):
        table = document.get(section)
        if not isinstance(table, dict):
            raise DataError(f"missing table [{section}]", file=str(path), column=section)
        for key in keys:
            value = table.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DataError(
                    "missing or not a number", file=str(path), column=f"{section}.{key}"
                )
    return document


META_DRAW_COLUMNS = ("mu", "tau", "one_group_bias", "pet", "theta_new")
"""Columns of ``meta_draws.csv``: the SMD-scale meta-analysis's draws that the paper's
update (:func:`milkbayes.meta_analysis.update.update_with_paper`) reweights."""


def meta_draws_path() -> Path:
    """The bundled ``meta_draws.csv`` (see :func:`meta_draws`)."""
    return Path(str(resources.files("milkbayes.literature") / "meta_draws.csv"))


def meta_draws(path: str | Path | None = None) -> dict[str, Any]:
    """Posterior draws of the SMD-scale meta-analysis, bundled so a report needs no refit.

    The default ``milkbayes meta-analysis`` fit (4 chains x 2000 draws, the seed of
    :func:`milkbayes.meta_analysis.model.fit_meta_analysis`) thinned to every 4th
    draw, written by :func:`milkbayes.meta_analysis.update.bundle_draws`: the
    reanalysis reweights them by the paper's likelihood in milliseconds, where a fit
    costs a compilation (seconds to a minute). A slow test refits and compares.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per :data:`META_DRAW_COLUMNS`.

    Raises
    ------
    DataError
        A missing file, a missing column or a value that is not a finite number
        (naming the file, row and column).

    Examples
    --------
    >>> draws = meta_draws()
    >>> sorted(draws) == sorted(META_DRAW_COLUMNS), len(draws["mu"]) > 1000
    (True, True)
    """
    import numpy as np
    import pandas as pd

    path = Path(path) if path is not None else meta_draws_path()
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read the meta-analysis draws: {error}", file=str(path)) from None
    out = {}
    for column in META_DRAW_COLUMNS:
        if column not in table.columns:
            raise DataError("missing column", file=str(path), column=column)
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(
                f"not a finite number: {table[column].iloc[bad[0]]!r}",
                file=str(path),
                row=int(bad[0]) + 2,
                column=column,
            )
        out[column] = values
    return out
