r"""What every sensitivity analysis shares: its result, its sampler and the refit helpers.

Each analysis of :mod:`milkbayes.sensitivity` returns a :class:`SensitivityResult`.
The analyses that refit a model do so through :func:`fit_quiet` with
:class:`SamplerOptions`: small nutpie runs of the compiled model held in the cache of
:func:`milkbayes.engine.fit.fit`, one per setting.

Examples
--------
>>> SamplerOptions().draws, FAST_SAMPLER.chains
(500, 1)
>>> mathtext_safe(r"$\frac{1}{$")
'\\$\\frac{1}{\\$'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.errors import SensitivityError

__all__ = [
    "DEFAULT_SAMPLER",
    "FAST_SAMPLER",
    "SamplerOptions",
    "SensitivityResult",
    "benefit_summary",
    "fit_quiet",
    "forest_figure",
    "massage_changes",
    "mathtext_safe",
    "posterior_effect_draws",
    "require",
    "study_benefit",
    "summary_row",
    "whole_number",
    "without_extra_summary",
]


@dataclass(frozen=True)
class SensitivityResult:
    """One sensitivity analysis: a table, a figure and its headline numbers.

    Attributes
    ----------
    name : str
        Stable snake_case key (``"prior_grid"``, ``"bias"``, ...).
    title : str
        One-line human title, for the report and the notebooks.
    table : pandas.DataFrame
        The tidy main table (one row per setting), numbers as numbers.
    figure : matplotlib.figure.Figure
        The figure that goes with the table.
    summary : Mapping[str, object]
        Headline numbers (JSON-friendly scalars) such as a tipping point.
    reconstructed : bool
        True when any input came from reconstructed data; then :attr:`warning`
        carries :data:`milkbayes.RECONSTRUCTED_WARNING`.
    extra_tables : Mapping[str, pandas.DataFrame]
        Further tables (e.g. the Bayes-factor robustness curve of the prior grid).
    notes : tuple of str
        Sentences that say how to read the result and what was assumed.
    """

    name: str
    title: str
    table: pd.DataFrame
    figure: Figure
    summary: Mapping[str, object]
    reconstructed: bool
    extra_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def warning(self) -> str | None:
        """:data:`milkbayes.RECONSTRUCTED_WARNING` for reconstructed inputs, else None."""
        return RECONSTRUCTED_WARNING if self.reconstructed else None


def require(condition: bool, message: str) -> None:
    """Raise :class:`SensitivityError` with ``message`` unless ``condition`` holds.

    Parameters
    ----------
    condition : bool
    message : str
        Says what was wrong and what to give instead.

    Raises
    ------
    SensitivityError
    """
    if not condition:
        raise SensitivityError(message)


@dataclass(frozen=True)
class SamplerOptions:
    """Small nutpie runs for sensitivity refits (many fits, each summarised by a few numbers).

    Attributes
    ----------
    draws, tune, chains : int
        Per chain; the defaults give 1000 draws, enough for medians and tail
        probabilities to about +-0.02.
    seed : int
        The same seed for every setting (common random numbers: the differences
        between settings are less noisy than the settings themselves).
    """

    draws: int = 500
    tune: int = 300
    chains: int = 2
    seed: int = 20241


DEFAULT_SAMPLER = SamplerOptions()
"""The sampler of the analyses that summarise a few refits (likelihood, influence, bias)."""

FAST_SAMPLER = SamplerOptions(draws=150, tune=150, chains=1)
"""The sampler of the notebooks' and tests' FAST mode (rough numbers, same code path)."""


def fit_quiet(model, study, *, prior, likelihood, mcid, sampler: SamplerOptions, inputs=None):
    """One refit that keeps only the posterior (no log-likelihood, no predictive).

    Its tree holds the ``posterior`` group alone (``fit(..., posterior_only=True)``):
    the analyses read a refit through its summary and posterior draws, which are
    those of a full fit, and packaging nutpie's sampler statistics cost about as
    much as the sampling of these short runs.

    Parameters
    ----------
    model : str or module
        A model name of :mod:`milkbayes.models.registry` or a module following the
        model contract.
    study : milkbayes.data.study.Study
    prior, likelihood, mcid
        As :func:`milkbayes.engine.fit.fit` takes them.
    sampler : SamplerOptions
    inputs : milkbayes.models.contract.ModelInputs, optional
        Inputs to use instead of the model's own (e.g. with a mother's weight at 0).

    Returns
    -------
    milkbayes.engine.fit.FitResult
    """
    from milkbayes.engine.fit import fit

    return fit(
        model,
        study,
        prior=prior,
        likelihood=likelihood,
        mcid=mcid,
        draws=sampler.draws,
        tune=sampler.tune,
        chains=sampler.chains,
        seed=sampler.seed,
        log_likelihood=False,
        posterior_predictive=False,
        inputs=inputs,
        posterior_only=True,
    )


def without_extra_summary(model):
    """The model module with its ``extra_summary`` switched off, for grids of refits.

    ``paired_change.extra_summary`` computes an informed Bayes factor by numerical
    integration whenever the prior is not centred on 0, which costs as much as a
    refit and would double the time of a prior grid; the grid needs only the
    posterior. The copy
    keeps the module's name and file, so :func:`milkbayes.engine.fit.fit` finds the same
    compiled model in its cache (its key is the module name), and its provenance
    hash is that of the real script.
    """
    import types

    from milkbayes.models.registry import load_model

    module = load_model(model)
    lean = types.ModuleType(module.__name__, module.__doc__)
    lean.__dict__.update(
        {key: value for key, value in vars(module).items() if not key.startswith("__")}
    )
    lean.__file__ = module.__file__
    lean.extra_summary = lambda posterior, inputs, prior: {}
    return lean


def summary_row(result, **labels) -> dict[str, object]:
    """The decision quantities of one fit, as a flat row.

    Parameters
    ----------
    result : milkbayes.engine.fit.FitResult
    **labels
        Columns that say which setting the row belongs to.

    Returns
    -------
    dict
        ``labels`` plus the effect's median, 95 % interval, P(effect > 0),
        P(effect > MCID) (NaN where the model gives none) and ``log_bf10`` when the
        model reports a Bayes factor. For a lower-is-better outcome (the fit's
        ``benefit`` is ``"decrease"``) also ``p_benefit`` = P(effect < 0) and
        ``p_benefit_gt_mcid`` = P(effect < -MCID); a rise's rows stay as they were,
        since there those are P(effect > 0) and P(effect > MCID) again.
    """
    summary = result.summary
    row: dict[str, object] = dict(labels)
    keys = [
        "effect_median",
        "effect_ci95_low",
        "effect_ci95_high",
        "p_effect_gt_0",
        "p_effect_gt_mcid",
    ]
    if summary.get("benefit") == "decrease":
        keys += ["p_benefit", "p_benefit_gt_mcid"]
    for key in keys:
        row[key] = float(summary[key]) if summary.get(key) is not None else float("nan")
    for key in ("log_bf10_jzs", "log_bf10"):
        if summary.get(key) is not None:
            row["log_bf10"] = float(summary[key])
    return row


def study_benefit(study) -> str:
    """The study's direction of benefit: ``"decrease"`` when lower is better, else ``"increase"``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> study_benefit(SimpleNamespace(outcome=SimpleNamespace(benefit="decrease")))
    'decrease'
    >>> study_benefit(object())
    'increase'
    """
    benefit = getattr(getattr(study, "outcome", None), "benefit", None)
    return "decrease" if benefit == "decrease" else "increase"


def benefit_summary(table: pd.DataFrame, benefit: str) -> dict[str, object]:
    """The ranges of P(benefit) and P(benefit > MCID) over a table of refits.

    Empty for a rise (there they are the P(effect > 0) and P(effect > MCID) ranges the
    summaries already give), so a rise's summaries keep their keys.

    Examples
    --------
    >>> t = pd.DataFrame({"p_benefit": [0.9, 0.99], "p_benefit_gt_mcid": [0.2, 0.4]})
    >>> benefit_summary(t, "decrease")  # doctest: +NORMALIZE_WHITESPACE
    {'benefit': 'decrease', 'p_benefit_min': 0.9, 'p_benefit_gt_mcid_min': 0.2,
     'p_benefit_gt_mcid_max': 0.4}
    >>> benefit_summary(t, "increase")
    {}
    """
    if benefit != "decrease":
        return {}
    return {
        "benefit": "decrease",
        "p_benefit_min": float(table.p_benefit.min()),
        "p_benefit_gt_mcid_min": float(table.p_benefit_gt_mcid.min()),
        "p_benefit_gt_mcid_max": float(table.p_benefit_gt_mcid.max()),
    }


def posterior_effect_draws(result) -> np.ndarray:
    """All posterior draws of the model's effect, flattened over chains.

    Parameters
    ----------
    result : milkbayes.engine.fit.FitResult

    Returns
    -------
    numpy.ndarray
        The draws of the variable the summary names ``effect_variable``.
    """
    name = result.summary["effect_variable"]
    return np.asarray(result.tree["posterior"][name].values, dtype=float).ravel()


def massage_changes(study) -> np.ndarray:
    """Post - pre of the massage group (all rows for single-group data).

    Parameters
    ----------
    study : milkbayes.data.study.Study

    Returns
    -------
    numpy.ndarray
    """
    from milkbayes.frequentist.reproduce import PAPER_GROUP, paired_rows

    return paired_rows(study, PAPER_GROUP).change


def whole_number(value: object) -> bool:
    """Whether ``value`` is a whole number: 24 and 24.0 are, 2.5, True, NaN and "24" are not.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> whole_number(24), whole_number(24.0), whole_number(2.5), whole_number(True)
    (True, True, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(np.isfinite(value)) and float(value).is_integer()


def mathtext_safe(label: object) -> str:
    r"""``label`` as text that matplotlib prints literally, never as mathtext.

    Matplotlib reads text between two ``$`` as mathtext, so an id such as
    ``$\frac{1}{$`` would be parsed (and fail to parse, aborting the figure). An
    escaped dollar ``\$`` is printed as a dollar sign.

    Parameters
    ----------
    label : object
        An id, a label or any value shown on a figure.

    Returns
    -------
    str
        ``str(label)`` with every ``$`` escaped.

    Examples
    --------
    >>> mathtext_safe("M$1"), mathtext_safe(3)
    ('M\\$1', '3')
    """
    return str(label).replace("$", "\\$")


def forest_figure(
    table: pd.DataFrame,
    *,
    label_column: str,
    title: str,
    mcid: float | None,
    reference: float | None = None,
    benefit: str = "increase",
) -> Figure:
    """Median and 95 % interval of the effect, one line per row of ``table``.

    The MCID line is drawn on the benefit side: at -MCID when lower is better.
    """
    height = max(2.5, 0.28 * len(table) + 1.2)
    figure = Figure(figsize=(7, height), layout="constrained")
    axes = figure.subplots()
    y = np.arange(len(table))[::-1]
    axes.errorbar(
        table["effect_median"],
        y,
        xerr=[
            table["effect_median"] - table["effect_ci95_low"],
            table["effect_ci95_high"] - table["effect_median"],
        ],
        fmt="o",
        color="C0",
        capsize=2,
    )
    axes.set_yticks(y, [mathtext_safe(v) for v in table[label_column]])
    axes.axvline(0, color="black", lw=0.8)
    if mcid is not None:
        side = -mcid if benefit == "decrease" else mcid
        axes.axvline(side, color="C1", ls="--", lw=1, label=f"MCID = {mcid:g}")
    if reference is not None:
        axes.axvline(reference, color="grey", ls=":", lw=1, label="all data")
    axes.set(xlabel="massage effect (posterior median, 95 % interval)", title=title)
    if mcid is not None or reference is not None:
        axes.legend(frameon=False, fontsize=8)
    return figure
