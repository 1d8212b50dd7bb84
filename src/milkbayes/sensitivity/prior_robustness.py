"""Robustness to the prior: a grid of effect priors, and the Bayes factor against its width.

:func:`prior_grid` refits the model over prior locations x scales of the effect
(each setting a refit of one compiled model), in the prior family the model uses or,
for the paired designs, in the normal family (``family="normal"``, by quadrature:
a Cauchy prior's heavy tails let any data escape it, so a grid of Cauchy priors
cannot show how much a prior can move the conclusion); :func:`bf_robustness` gives
the JZS Bayes factor against the Cauchy width r in closed form. Figures use a
colour-blind-safe palette (Okabe & Ito 2008; cividis for the heat map).

Examples
--------
>>> len(DELTA_GRID_LOCATIONS) * len(DELTA_GRID_SCALES)
56
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from milkbayes.models.priors import default_mcid
from milkbayes.sensitivity.common import (
    SamplerOptions,
    SensitivityResult,
    benefit_summary,
    fit_quiet,
    massage_changes,
    require,
    study_benefit,
    summary_row,
    without_extra_summary,
)

__all__ = [
    "BF_R_MARKS",
    "DELTA_NORMAL_SCALES",
    "OKABE_ITO",
    "DELTA_GRID_LOCATIONS",
    "DELTA_GRID_SCALES",
    "GRID_SAMPLER",
    "MCID_MULTIPLES_LOCATIONS",
    "MCID_MULTIPLES_SCALES",
    "PRIOR_GRID_KEYS",
    "bf_robustness",
    "informed_t_posterior",
    "prior_grid",
]

OKABE_ITO = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
"""The Okabe-Ito palette: eight colours told apart under every common colour-vision
deficiency (Okabe M, Ito K 2008, Color Universal Design)."""


PRIOR_GRID_KEYS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "paired_change": ("delta_loc", "delta_scale", "standardised effect δ (Cauchy)"),
        "signed_rank": ("delta_loc", "delta_scale", "standardised effect δ (Cauchy)"),
        "prepost_hierarchical": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
        "prepost_bivariate": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
        "two_arm": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
        "ancova": ("effect_mu", "effect_sigma", "effect in outcome units (normal)"),
    }
)
"""For each model, the prior hyperparameters of the effect that the grid varies:
(location key, scale key, what they are a prior on)."""

DELTA_GRID_LOCATIONS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
DELTA_GRID_SCALES = (0.1, 0.2, 0.35, 0.5, math.sqrt(2) / 2, 1.0, math.sqrt(2), 2.0)
"""Default grid on delta: 7 x 8 = 56 settings, from a sceptic's narrow Cauchy at -1
to an ultrawide one at +1 (scales include the JZS defaults 0.707, 1 and 1.414)."""

MCID_MULTIPLES_LOCATIONS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
MCID_MULTIPLES_SCALES = (0.25, 0.5, 1 / 1.6448536269514722, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Default grid on the effect in outcome units, as multiples of the MCID (56 settings).

1/1.645 MCID is the sceptic's scale and 4 MCID the neutral one of
:mod:`milkbayes.models.priors`.
"""

DELTA_NORMAL_SCALES = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
"""Scales of the normal family on delta: 0.05 pins the effect at the prior location,
1.5 leaves the data in charge (7 x 8 = 56 settings with DELTA_GRID_LOCATIONS)."""

GRID_SAMPLER = SamplerOptions(draws=200, tune=150, chains=2)
"""Short runs for each of the grid's settings: each is summarised by a few numbers."""

BF_R_MARKS: Mapping[str, float] = MappingProxyType(
    {"default": math.sqrt(2) / 2, "wide": 1.0, "ultrawide": math.sqrt(2)}
)
"""The Cauchy widths r that JASP and BayesFactor name (Morey & Rouder's ``rscale``)."""


def bf_robustness(study, *, r_grid: Sequence[float] | None = None) -> SensitivityResult:
    """The JZS Bayes factor BF10 against the Cauchy width r of the prior on delta.

    Parameters
    ----------
    study : milkbayes.data.study.Study
        Only the paired t statistic and n of its massage group are used.
    r_grid : sequence of float, optional
        Widths to evaluate (default 0.05 to 2 on a log scale, plus the marks).

    Returns
    -------
    SensitivityResult
        ``table`` with ``r``, ``log_bf10``, ``bf10`` and ``mark`` (default / wide /
        ultrawide or empty); ``summary`` with the BF10 at each mark and the largest
        BF10 over the grid (a "maximum evidence" bound).

    Notes
    -----
    BF10 comes in closed form (one integral) from
    :func:`milkbayes.models.paired_change.jzs_log_bf10`, Rouder et al. (2009) eq. 1,
    so the curve costs no sampling. A Bayes factor that stays on the same side of
    1 (and of 10, 100) over every plausible r is robust to the choice of prior width.

    References
    ----------
    Rouder JN et al. (2009). Bayesian t tests for accepting and rejecting the null
    hypothesis. Psychon Bull Rev 16, 225-237.
    """
    from milkbayes.models.paired_change import jzs_log_bf10, paired_t

    change = massage_changes(study)
    require(
        change.size >= 2 and np.std(change) > 0,
        "the Bayes factor needs at least 2 changes that are not all equal",
    )
    t_stat, n = paired_t(change), int(change.size)
    grid = np.geomspace(0.05, 2.0, 60) if r_grid is None else np.asarray(r_grid, dtype=float)
    require(np.all(grid > 0), "every Cauchy width r must be positive")
    grid = np.unique(np.concatenate([grid, list(BF_R_MARKS.values())]))
    log_bf = np.array([jzs_log_bf10(t_stat, n, float(r)) for r in grid])
    marks = {value: name for name, value in BF_R_MARKS.items()}
    table = pd.DataFrame(
        {
            "r": grid,
            "log_bf10": log_bf,
            "bf10": np.exp(np.minimum(log_bf, 700)),
            "mark": [marks.get(float(r), "") for r in grid],
        }
    )
    summary: dict[str, object] = {"t_statistic": float(t_stat), "n": n}
    for name, value in BF_R_MARKS.items():
        summary[f"log_bf10_{name}"] = float(table.loc[table.r == value, "log_bf10"].iloc[0])
    best = int(np.argmax(log_bf))
    summary["max_log_bf10"], summary["r_at_max"] = float(log_bf[best]), float(grid[best])
    figure = Figure(figsize=(6, 4), layout="constrained")
    _draw_bf_curve(figure.subplots(), table)
    return SensitivityResult(
        name="bf_robustness",
        title="Bayes-factor robustness: BF10 against the prior width r",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        notes=(
            "BF10 is the JZS Bayes factor of the paired t-test (closed form), "
            f"t = {t_stat:.2f}, n = {n}.",
        ),
    )


def _draw_bf_curve(axes, table: pd.DataFrame) -> None:
    axes.plot(table["r"], table["log_bf10"] / math.log(10), color=OKABE_ITO[5])
    marks = (OKABE_ITO[1], OKABE_ITO[3], OKABE_ITO[6])
    for (name, value), colour in zip(BF_R_MARKS.items(), marks, strict=True):
        log10 = float(table.loc[table.r == value, "log_bf10"].iloc[0]) / math.log(10)
        axes.plot([value], [log10], "o", color=colour, label=f"{name} r = {value:.3g}")
    for level, text in ((1, "BF10 = 10"), (2, "100")):
        axes.axhline(level, color="grey", lw=0.7, ls=":")
        axes.annotate(text, (table["r"].iloc[0], level), fontsize=7, color="grey", va="bottom")
    axes.set(
        xscale="log",
        xlabel="Cauchy prior width r on δ",
        ylabel="log10 BF10",
        title="JZS Bayes factor robustness",
    )
    axes.legend(frameon=False, fontsize=8)


def _grid_prior(base, location_key: str, scale_key: str, location: float, scale: float):
    """The base prior set with the effect's location and scale replaced."""
    from dataclasses import fields, replace

    require(
        location_key in base.values and scale_key in base.values,
        f"the prior set has no {location_key!r} and {scale_key!r} to vary; it has "
        f"{', '.join(base.values)}",
    )
    changes = {
        "name": f"grid {location_key}={location:g} {scale_key}={scale:g}",
        "values": {**base.values, location_key: float(location), scale_key: float(scale)},
        "beliefs": [],
        "source": "prior_grid",
    }
    names = {f.name for f in fields(base)}
    return replace(base, **{key: value for key, value in changes.items() if key in names})


def prior_grid(
    study,
    model="paired_change",
    *,
    locations: Sequence[float] | None = None,
    scales: Sequence[float] | None = None,
    mcid: float | None = None,
    likelihood: str | None = None,
    base_prior="neutral",
    prior_keys: tuple[str, str] | None = None,
    sampler: SamplerOptions = GRID_SAMPLER,
    progress: Any = None,
    family: str | None = None,
) -> SensitivityResult:
    """Refit over a grid of prior locations and scales of the effect.

    Parameters
    ----------
    study : milkbayes.data.study.Study
    model : str or module
        A model of :mod:`milkbayes.models` (its effect-prior keys come from
        :data:`PRIOR_GRID_KEYS`) or any module following the model contract
        (then give ``prior_keys``).
    locations, scales : sequence of float, optional
        Prior location and scale of the effect, on the scale the model puts its
        prior on: delta for ``paired_change`` / ``signed_rank`` (defaults
        :data:`DELTA_GRID_LOCATIONS`, :data:`DELTA_GRID_SCALES`), outcome units for
        the others (defaults: :data:`MCID_MULTIPLES_LOCATIONS` x MCID and
        :data:`MCID_MULTIPLES_SCALES` x MCID). The default locations lie on the
        benefit side: for a lower-is-better outcome they are mirrored (x -1), so
        the grid of a fall is the mirror image of the grid of a rise.
    mcid : float, optional
        Minimal clinically important difference in outcome units (default
        :func:`default_mcid`).
    likelihood : str, optional
        The model's likelihood (its default if omitted).
    base_prior : str, path or PriorSet
        The set that supplies every other hyperparameter. With ``"literature"``
        its own effect location and scale join the grid (``summary`` then holds
        ``literature_location``, ``literature_scale`` and its P(effect > MCID)).
    prior_keys : (str, str), optional
        The (location, scale) hyperparameters to vary, for models not in
        :data:`PRIOR_GRID_KEYS`.
    sampler : SamplerOptions
        Small runs: each setting is one refit of the same compiled model.
    progress : callable(stage, done, total), optional
        Told after each fit (e.g. :func:`milkbayes.progress.progress_reporter`'s
        callback), for a progress line with the time left.
    family : {"cauchy", "normal"}, optional
        The prior family of the effect. Default: the model's own (Cauchy on delta
        for ``paired_change`` / ``signed_rank``, normal in outcome units for the
        others). ``"normal"`` for a paired design puts a normal prior on delta and
        computes each setting by quadrature (:func:`informed_t_posterior`; no
        refits), with P(delta > 0.5 SD) as P(effect > MCID) and default scales
        :data:`DELTA_NORMAL_SCALES`.

    Returns
    -------
    SensitivityResult
        ``table``: one row per setting (``location``, ``scale``, the effect's
        median and 95 % interval, P(effect > 0) and P(effect > MCID), and for a
        lower-is-better outcome ``p_benefit`` = P(effect < 0) and
        ``p_benefit_gt_mcid`` = P(effect < -MCID));
        ``extra_tables["bf_robustness"]`` and the right panel of the figure:
        :func:`bf_robustness`; ``summary``: the ranges of the decision quantities
        over the grid and the refit time.

    Notes
    -----
    The grid is what a reader asks next after seeing the three named priors: is
    there any reasonable prior under which the conclusion changes? Each setting only
    swaps ``prior_<location>`` and ``prior_<scale>`` into the compiled model
    (:func:`milkbayes.engine.fit.fit` and its cache), so 56 settings take seconds once the
    model is compiled.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> grid = prior_grid(load_bundled(), mcid=10.0)  # doctest: +SKIP
    >>> grid.summary["n_settings"], grid.summary["p_effect_gt_0_min"]  # doctest: +SKIP
    (56, 1.0)
    """
    import time

    from milkbayes.engine.fit import resolve_prior
    from milkbayes.models.registry import load_model

    module = load_model(model)
    if prior_keys is not None:
        location_key, scale_key = prior_keys
        prior_on = f"{location_key} / {scale_key}"
    else:
        require(
            module.NAME in PRIOR_GRID_KEYS,
            f"the prior grid knows the effect prior of {', '.join(PRIOR_GRID_KEYS)}; "
            f"for model {module.NAME!r} give prior_keys=(location, scale)",
        )
        location_key, scale_key, prior_on = PRIOR_GRID_KEYS[module.NAME]
        require(
            likelihood in (None, "normal", "student_t"),
            f"with the {likelihood} likelihood the effect's prior is on another scale "
            "(log or log-odds); give prior_keys, locations and scales explicitly",
        )
    on_delta = location_key == "delta_loc"
    own = "cauchy" if on_delta else "normal"
    family = own if family is None else str(family).lower()
    require(family in ("cauchy", "normal"), f"family must be cauchy or normal, not {family!r}")
    require(
        family == own or (on_delta and family == "normal"),
        f"model {module.NAME} has a {own} effect prior; the grid offers the {own} family "
        "(and the normal family for the paired designs)",
    )
    benefit = study_benefit(study)
    side = -1.0 if benefit == "decrease" else 1.0
    if family == "normal" and on_delta:
        return _normal_delta_grid(study, module.NAME, locations, scales)
    mcid = default_mcid(study) if mcid is None else float(mcid)
    if locations is None:
        multiples = DELTA_GRID_LOCATIONS if on_delta else MCID_MULTIPLES_LOCATIONS
        locations = [side * m * (1.0 if on_delta else mcid) for m in multiples]
    if scales is None:
        scales = DELTA_GRID_SCALES if on_delta else [m * mcid for m in MCID_MULTIPLES_SCALES]
    require(len(locations) >= 1 and len(scales) >= 1, "give at least one location and scale")
    require(all(float(s) > 0 for s in scales), "every prior scale must be positive")
    base = resolve_prior(base_prior, study, module.NAME)
    literature_point = None
    if base.name == "literature" and location_key in base.values and scale_key in base.values:
        # the literature prior's own effect prior joins the grid, so the heat map
        # shows where the evidence-based prior sits among the alternatives
        literature_point = (float(base.values[location_key]), float(base.values[scale_key]))
        locations = sorted({float(v) for v in locations} | {literature_point[0]})
        scales = sorted({float(v) for v in scales} | {literature_point[1]})
    lean_model = without_extra_summary(module)

    rows, compile_seconds, start = [], 0.0, time.perf_counter()
    for location in locations:
        for scale in scales:
            prior = _grid_prior(base, location_key, scale_key, float(location), float(scale))
            result = fit_quiet(
                lean_model, study, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
            )
            compile_seconds += float(result.compile_seconds)
            rows.append(summary_row(result, location=float(location), scale=float(scale)))
            if progress is not None:
                progress("prior grid", len(rows), len(locations) * len(scales))
    seconds = time.perf_counter() - start - compile_seconds
    table = pd.DataFrame(rows)
    extra_tables, bf_summary, bf_table = {}, {}, None
    if module.NAME in ("paired_change", "signed_rank"):
        robustness = bf_robustness(study)
        extra_tables["bf_robustness"] = bf_table = robustness.table
        bf_summary = {f"bf_{key}": value for key, value in robustness.summary.items()}
    figure = _prior_grid_figure(table, bf_table, prior_on, mcid, benefit)
    summary = {
        "model": module.NAME,
        "likelihood": likelihood,
        "n_settings": len(rows),
        "mcid": mcid,
        "refit_seconds": seconds,
        "compile_seconds": compile_seconds,
        "effect_median_min": float(table.effect_median.min()),
        "effect_median_max": float(table.effect_median.max()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
        **benefit_summary(table, benefit),
        **bf_summary,
    }
    if literature_point is not None:
        at = table[(table.location == literature_point[0]) & (table.scale == literature_point[1])]
        summary["literature_location"], summary["literature_scale"] = literature_point
        summary["literature_p_effect_gt_mcid"] = float(at.p_effect_gt_mcid.iloc[0])
        if benefit == "decrease":
            summary["literature_p_benefit_gt_mcid"] = float(at.p_benefit_gt_mcid.iloc[0])
    notes = (
        f"Prior on the {prior_on}: location x scale, {len(rows)} settings; every other "
        f"hyperparameter from the '{base.name}' set.",
        "Each setting is a short refit of one compiled model; tail probabilities "
        "carry Monte Carlo error of about ±0.03.",
    )
    return SensitivityResult(
        name="prior_grid",
        title="Prior grid: does any reasonable prior change the conclusion?",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        extra_tables=extra_tables,
        notes=notes,
    )


def informed_t_posterior(t: float, n: int, loc: float, scale: float, family: str = "normal"):
    r"""Posterior of delta and BF10 of the paired t-test with an informed prior on delta.

    Parameters
    ----------
    t : float
        The paired t statistic.
    n : int
        Number of pairs.
    loc, scale : float
        Location and scale of the prior on delta.
    family : {"normal", "cauchy"}

    Returns
    -------
    dict
        ``median``, ``ci95_low``, ``ci95_high``, ``p_gt_0``, ``p_gt_mcid`` (P(delta >
        :data:`milkbayes.models.priors.DELTA_MCID`)), ``p_lt_minus_mcid`` (P(delta <
        -DELTA_MCID), the benefit beyond the MCID when lower is better) and
        ``log_bf10``.

    Notes
    -----
    With :math:`\sigma` given the right-Haar prior :math:`1/\sigma`, the likelihood of
    :math:`\delta` is the noncentral t density of the t statistic, :math:`p(t \mid
    \delta) = t_{n-1}(t;\ \delta\sqrt n)`, so the posterior of :math:`\delta` and
    :math:`BF_{10} = \int p(t \mid \delta)\,\pi(\delta)\,d\delta / t_{n-1}(t)` are
    one-dimensional integrals (Gronau, Ly & Wagenmakers 2020, the informed t-test
    of JASP), done here on a grid of 8001 points over the posterior mass.

    References
    ----------
    Gronau QF, Ly A, Wagenmakers E-J (2020). Informed Bayesian t-tests. The American
    Statistician 74(2), 137-143.

    Examples
    --------
    >>> out = informed_t_posterior(3.0, 20, 0.0, 0.707, "cauchy")
    >>> from milkbayes.models.paired_change import jzs_log_bf10
    >>> bool(abs(out["log_bf10"] - jzs_log_bf10(3.0, 20, 0.707)) < 1e-3)
    True
    """
    from scipy import stats

    from milkbayes.models.priors import DELTA_MCID

    prior = stats.norm(loc, scale) if family == "normal" else stats.cauchy(loc, scale)
    centre, spread = t / math.sqrt(n), 1.0 / math.sqrt(n)
    # the posterior lives where both the likelihood (within 12 SE of t / sqrt(n)) and
    # the prior (its central 1 - 2e-7) do; a Cauchy's far tails carry no posterior mass
    low = max(min(prior.ppf(1e-7), centre - 12 * spread), centre - 30.0)
    high = min(max(prior.ppf(1 - 1e-7), centre + 12 * spread), centre + 30.0)
    low, high = min(low, -DELTA_MCID) - 1.0, max(high, DELTA_MCID) + 1.0
    grid = np.union1d(np.linspace(low, high, 8001), [0.0, DELTA_MCID])
    log_joint = stats.nct.logpdf(t, n - 1, grid * math.sqrt(n)) + prior.logpdf(grid)
    top = float(np.max(log_joint))
    density = np.exp(log_joint - top)
    mass = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    total = float(mass[-1])
    cdf = mass / total
    # the prior's mass outside the grid is at most 2e-7: negligible beside the
    # quadrature error of the marginal
    log_marginal = top + math.log(total)
    return {
        "median": float(np.interp(0.5, cdf, grid)),
        "ci95_low": float(np.interp(0.025, cdf, grid)),
        "ci95_high": float(np.interp(0.975, cdf, grid)),
        "p_gt_0": float(1.0 - np.interp(0.0, grid, cdf)),
        "p_gt_mcid": float(1.0 - np.interp(DELTA_MCID, grid, cdf)),
        "p_lt_minus_mcid": float(np.interp(-DELTA_MCID, grid, cdf)),
        "log_bf10": float(log_marginal - stats.t.logpdf(t, n - 1)),
    }


def _normal_delta_grid(study, model_name: str, locations, scales) -> SensitivityResult:
    """The prior grid of a paired design in the normal family on delta (quadrature)."""
    from milkbayes.models.paired_change import paired_t
    from milkbayes.models.priors import DELTA_MCID

    change = massage_changes(study)
    require(
        change.size >= 2 and np.std(change) > 0,
        "the normal-family grid needs at least 2 changes that are not all equal",
    )
    t_stat, n = paired_t(change), int(change.size)
    benefit = study_benefit(study)
    if locations is None:  # on the benefit side, as in prior_grid
        side = -1.0 if benefit == "decrease" else 1.0
        locations = [side * m for m in DELTA_GRID_LOCATIONS]
    scales = DELTA_NORMAL_SCALES if scales is None else scales
    require(all(float(s) > 0 for s in scales), "every prior scale must be positive")
    rows = []
    for location in locations:
        for scale in scales:
            out = informed_t_posterior(t_stat, n, float(location), float(scale), "normal")
            row = {
                "location": float(location),
                "scale": float(scale),
                "effect_median": out["median"],
                "effect_ci95_low": out["ci95_low"],
                "effect_ci95_high": out["ci95_high"],
                "p_effect_gt_0": out["p_gt_0"],
                "p_effect_gt_mcid": out["p_gt_mcid"],
            }
            if benefit == "decrease":
                row["p_benefit"] = 1.0 - out["p_gt_0"]
                row["p_benefit_gt_mcid"] = out["p_lt_minus_mcid"]
            rows.append({**row, "log_bf10": out["log_bf10"]})
    table = pd.DataFrame(rows)
    robustness = bf_robustness(study)
    prior_on = "standardised effect δ (normal)"
    figure = _prior_grid_figure(table, robustness.table, prior_on, DELTA_MCID, benefit)
    summary = {
        "model": model_name,
        "family": "normal",
        "n_settings": len(rows),
        "mcid": DELTA_MCID,
        "mcid_scale": "delta (SD of the change)",
        "effect_median_min": float(table.effect_median.min()),
        "effect_median_max": float(table.effect_median.max()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
        **benefit_summary(table, benefit),
        **{f"bf_{key}": value for key, value in robustness.summary.items()},
    }
    return SensitivityResult(
        name="prior_grid",
        title="Prior grid (normal priors on δ): does any reasonable prior change the conclusion?",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=bool(getattr(study, "reconstructed", False)),
        extra_tables={"bf_robustness": robustness.table},
        notes=(
            f"Normal prior on δ: location x scale, {len(rows)} settings, by quadrature of "
            f"the noncentral-t likelihood of t = {t_stat:.2f} (n = {n}; Gronau, Ly & "
            "Wagenmakers 2020), no sampling. P(effect > MCID) is P(δ > "
            f"{DELTA_MCID:g}), half an SD of the change"
            + (f"; P(benefit > MCID) is P(δ < {-DELTA_MCID:g})." if benefit == "decrease" else "."),
            "A Cauchy prior's tails let data escape any location, so only a family with "
            "light tails shows how far a prior can move the conclusion.",
        ),
    )


def _prior_grid_figure(
    table: pd.DataFrame,
    bf_table: pd.DataFrame | None,
    prior_on: str,
    mcid: float,
    benefit: str = "increase",
) -> Figure:
    """Left: heat map of P(benefit > MCID) over the grid; right: the BF robustness curve.

    For a rise that is P(effect > MCID); for a lower-is-better outcome P(effect < -MCID).
    """
    from milkbayes.comparison.tables import benefit_label

    if bf_table is None:
        figure = Figure(figsize=(6.5, 4.2), layout="constrained")
        left, right = figure.subplots(), None
    else:
        figure = Figure(figsize=(11, 4.2), layout="constrained")
        left, right = figure.subplots(1, 2, width_ratios=(1.2, 1))
    column = "p_benefit_gt_mcid" if benefit == "decrease" else "p_effect_gt_mcid"
    wide = table.pivot(index="location", columns="scale", values=column)
    image = left.imshow(
        wide.to_numpy(), origin="lower", aspect="auto", vmin=0, vmax=1, cmap="cividis"
    )
    left.set_xticks(range(wide.shape[1]), [f"{s:.3g}" for s in wide.columns], rotation=45)
    left.set_yticks(range(wide.shape[0]), [f"{loc:.3g}" for loc in wide.index])
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            # dark text on the light (yellow) end of cividis, light text on the dark end
            value = wide.iat[i, j]
            colour = "black" if value > 0.55 else "white"
            left.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    left.set(
        xlabel="prior scale",
        ylabel="prior location",
        title=f"{benefit_label(benefit, mcid)} by prior on the {prior_on}",
    )
    figure.colorbar(image, ax=left, shrink=0.8)
    if right is not None:
        _draw_bf_curve(right, bf_table)
    return figure
