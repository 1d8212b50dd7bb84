r"""The report's figures, drawn from the fits and the data, as PNG bytes.

Every figure is a matplotlib :class:`~matplotlib.figure.Figure` made without pyplot
(no global state, safe in a worker process) or an arviz_plots ``PlotCollection``,
converted by :func:`milkbayes.storage.figure_bytes`. Captions are in :data:`FIGURE_CAPTIONS`.

Examples
--------
>>> from matplotlib.figure import Figure
>>> fig = Figure(figsize=(1, 1))
>>> _ = fig.subplots().plot([0, 1], [0, 1])
>>> from milkbayes.storage import figure_bytes
>>> figure_bytes(fig)[:8]
b'\x89PNG\r\n\x1a\n'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from milkbayes.reanalysis.settings import REFERENCE_PRIOR
from milkbayes.storage import figure_bytes

__all__ = [
    "CHAIN_VARIABLES",
    "DELTA_RANGE",
    "FIGURE_CAPTIONS",
    "chain_figures",
    "chain_tree",
    "comparison_figure",
    "delta_density_curves",
    "draw_figures",
    "forest_figure",
    "published_facts_caption",
    "published_facts_figure",
    "rank_thinning_factor",
]

DELTA_RANGE = (-1.0, 5.0)
"""The x range of the published-facts figure. The prior of delta is a Cauchy and the
posterior keeps its right tail (a tiny p-value cannot tell a large effect from a huge
one): drawn in full, the region where the facts act (0 to 2) would be a sliver."""

COHEN_MEDIUM, COHEN_LARGE = 0.5, 0.8
"""Cohen's medium and large standardised effects, the thresholds the headline uses."""

FIGURE_CAPTIONS = {
    "data": "Pre and post measurement of every mother (one line each).",
    "priors": "Posterior of the effect under the three named priors and, where it exists, "
    "the literature prior (black: no change; dashed red: the MCID).",
    "forest": "Effect in each subgroup (black line: no change; dashed red: the MCID): "
    "posterior medians with 95 % (thin) and 50 % (thick) credible intervals.",
    "trace": "Trace and marginal plots of the main parameters (neutral prior).",
    "rank": "Rank plots of the main parameters, thinned to about one draw per effective "
    "sample: flat, overlapping ECDF differences mean the chains agree; p is the "
    "multi-chain uniformity test, black dots the draws that drive a small p.",
    "ppc": "Posterior predictive check of the mean change and the share of positive "
    "changes (red: observed).",
    "prior_ppc": "Prior predictive check (neutral prior): what the model expects before "
    "seeing the data (red: observed).",
    "compare": "Leave-one-mother-out elpd (higher is better; PSIS-LOO where Pareto k is "
    "good, exact refits elsewhere) with stacking weights, within each prediction "
    "target.",
}
"""The caption of each figure of the main stages, by figure name."""


def forest_figure(posterior: Any, names: Sequence[str], mcid: float, unit: str | None) -> Any:
    """The average effect and the effect in each subgroup, one labelled row each.

    Drawn with matplotlib from the draws rather than with ``az.plot_forest``, whose
    labels of many level coordinates overlap: a reader must see "parity: primipara"
    beside its interval. Thin line 95 %, thick line 50 %, dot the median.

    Parameters
    ----------
    posterior : xarray.Dataset
        The posterior group of the fit.
    names : sequence of str
        The effect variable first, then the ``effect_*`` variables of the subgroups
        (one level dimension each).
    mcid : float
        Drawn as a dashed red line.
    unit : str or None
        Unit of the effect, for the axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    rows = []
    for name in names:
        draws = posterior[name]
        level_dims = [d for d in draws.dims if d not in ("chain", "draw")]
        if not level_dims:
            rows.append(("average effect", draws.values.ravel()))
            continue
        dim = level_dims[0]
        covariate = name.removeprefix("effect_")
        for level in draws[dim].values:
            rows.append((f"{covariate}: {level}", draws.sel({dim: level}).values.ravel()))
    fig = Figure(figsize=(6.5, 0.32 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    for y, (_, values) in enumerate(rows):
        q025, q25, q50, q75, q975 = np.quantile(values, [0.025, 0.25, 0.5, 0.75, 0.975])
        colour = "#1f3b73" if y == 0 else "#4c72b0"
        ax.plot([q025, q975], [y, y], color=colour, linewidth=1)
        ax.plot([q25, q75], [y, y], color=colour, linewidth=3.5)
        ax.plot([q50], [y], "o", color="white", markeredgecolor=colour, markersize=5)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(mcid, color="#d62728", linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"effect of the massage period ({unit or 'outcome units'})")
    return fig


def draw_figures(
    study: Any,
    fits: Mapping[str, Any],
    simulated: tuple[Any, Any],
    comparison_rows: Sequence[Any],
    mcid: float,
    chain: Mapping[str, bytes] | Callable[[], Mapping[str, bytes]] | None = None,
) -> dict[str, bytes]:
    """The figures of the main stages, by name (the keys of :data:`FIGURE_CAPTIONS`).

    Parameters
    ----------
    study : Study
        The data.
    fits : mapping of prior name to FitResult
        The main fits; the reference prior's fit gives the diagnostics plots.
    simulated : (prior, posterior)
        Predictive draws of the changes (:func:`milkbayes.diagnostics.simulated_changes`
        results, or None each), for the predictive checks.
    comparison_rows : sequence of ComparisonRow
        The model comparison (no figure when empty).
    mcid : float
        The minimal clinically important difference, marked on the effect plots.
    chain : mapping of str to bytes, or callable returning one, optional
        The ``trace`` and ``rank`` figures when drawn elsewhere (:func:`chain_figures`
        of :func:`chain_tree` of the reference fit, e.g. by another process), or a
        function that collects them, called after the figures before them are drawn
        (which gives the other process time); drawn here otherwise.

    Returns
    -------
    dict of str to bytes
        PNG files; the predictive and comparison figures only when their inputs exist.
    """
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az
    from matplotlib.figure import Figure

    from milkbayes.diagnostics import predictive_figure

    figures: dict[str, bytes] = {}
    # data: one line per mother
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    pre, post = study.table["pre"].to_numpy(float), study.table["post"].to_numpy(float)
    for a, b in zip(pre, post, strict=True):
        ax.plot([0, 1], [a, b], color="#4c72b0", alpha=0.5, marker="o", markersize=3)
    ax.set_xticks([0, 1], ["pre", "post"])
    ax.set_ylabel(study.outcome.unit or "outcome")
    ax.set_title("Each mother's pre and post measurement", fontsize=10)
    figures["data"] = figure_bytes(fig)

    reference = fits[REFERENCE_PRIOR]
    effect = reference.summary.get("effect_variable", "effect")
    pc = az.plot_dist(
        {name: r.tree for name, r in fits.items()},
        var_names=[effect],
        backend="matplotlib",
        figure_kwargs={"figsize": (6.5, 3.6)},
    )
    pc.add_legend("model")
    axis = pc.get_viz("figure").axes[0]
    axis.axvline(0.0, color="black", linewidth=1)
    axis.axvline(mcid, color="#d62728", linestyle="--", linewidth=1)
    figures["priors"] = figure_bytes(pc)

    posterior = reference.tree["posterior"]
    forest_vars = [effect] + [
        v
        for v in posterior.data_vars
        if v.startswith("effect_") and v not in ("effect_mother", "effect_pct", "effect_base")
    ]
    figures["forest"] = figure_bytes(
        forest_figure(posterior, forest_vars, mcid, study.outcome.unit)
    )
    if callable(chain):  # drawn elsewhere, collected now (see the parameter)
        chain = chain()
    figures.update(chain if chain is not None else chain_figures(chain_tree(reference)))

    prior_simulated, posterior_simulated = simulated
    if prior_simulated is not None:
        figures["prior_ppc"] = figure_bytes(predictive_figure(*prior_simulated, kind="prior"))
    if posterior_simulated is not None:
        figures["ppc"] = figure_bytes(predictive_figure(*posterior_simulated, kind="posterior"))
    if comparison_rows:
        figures["compare"] = comparison_figure(comparison_rows)
    return figures


CHAIN_VARIABLES = ("intercept", "sigma", "mother_sd")
"""The variables of the trace and rank plots besides the effect, where the model has them."""


def chain_tree(result: Any) -> Any:
    """The part of a fit the trace and rank plots draw: a small DataTree that pickles fast.

    The effect and :data:`CHAIN_VARIABLES` of ``result``'s posterior, and its
    ``sample_stats`` (the trace plot marks divergent draws).
    """
    import xarray as xr

    effect = result.summary.get("effect_variable", "effect")
    posterior = result.tree["posterior"].to_dataset()
    core = [v for v in (effect, *CHAIN_VARIABLES) if v in posterior.data_vars]
    groups = {"posterior": posterior[core]}
    if "sample_stats" in result.tree.children:
        groups["sample_stats"] = result.tree["sample_stats"].to_dataset()
    return xr.DataTree.from_dict(groups)


def chain_figures(tree: Any) -> dict[str, bytes]:
    """The ``trace`` and ``rank`` figures of :func:`draw_figures`, from :func:`chain_tree`.

    ArviZ's trace plot with the posterior densities, and its rank plot
    (fractional-rank Δ-ECDF per chain, with the multi-chain uniformity test that
    marks suspicious draws; Säilynoja et al. 2022), of every posterior variable
    of ``tree``. The rank plot draws the chains thinned by
    :func:`rank_thinning_factor`: its test assumes independent draws. A function of
    its own so that either process of a reanalysis may draw them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az

    core = list(tree["posterior"].data_vars)
    factor = rank_thinning_factor(tree["posterior"].to_dataset())
    rank_plot = az.plot_rank(
        tree,
        var_names=core,
        thin=True,
        stats={"thin": {"factor": factor}},
        backend="matplotlib",
    )
    return {
        "trace": figure_bytes(az.plot_trace_dist(tree, var_names=core, backend="matplotlib")),
        "rank": figure_bytes(rank_plot),
    }


def rank_thinning_factor(posterior: Any) -> int:
    r"""Keep every k-th draw of each chain so that the draws left are about independent.

    .. math::

        k = \left\lceil \frac{D}{\min_{c, v} \min(\mathrm{ESS}_{\mathrm{bulk}}(c, v),
        \mathrm{ESS}_{\mathrm{tail}}(c, v))} \right\rceil

    where ``D`` is the number of draws per chain and ESS(c, v) the effective sample
    size of chain ``c`` alone for variable ``v`` (one factor for all variables, since
    the rank plot's panels share the draw axis).

    Why thin: the multi-chain uniformity test that ArviZ's rank plot draws
    (hypergeometric counts combined by a Cauchy combination) treats the draws of a
    chain as independent. On autocorrelated chains that all target the same
    distribution it rejects far more often than its level: on AR(1) chains with
    correlation 0.7 it flags most variables at alpha = 0.01, and on the flagship's
    chains (R-hat 1.003, bulk ESS about a fifth of the draws) it printed p = 0.00
    for ``mother_sd`` on most seeds. Thinned by ``k`` the test keeps its level
    (tests). This is the thinning Säilynoja et al. (2022) use for rank ECDF tests.

    Why each chain alone: ArviZ's ``thin_factor`` takes the multi-chain ESS, which
    collapses when a chain disagrees with the others, so the factor would grow and
    thin away the very disagreement the test is there to find (a chain shifted by
    one standard deviation left five draws per chain and p = 0.5). The within-chain
    ESS measures only the autocorrelation that thinning has to remove.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dimensions ``chain`` and ``draw``.

    Returns
    -------
    int
        The thinning factor, at least 1 (1 when no ESS is finite, e.g. constant draws).
        It is rounded up, so independent draws whose estimated ESS falls just short
        of ``D`` lose every second draw.

    References
    ----------
    Säilynoja, T., Bürkner, P.-C. and Vehtari, A. (2022). Graphical test for discrete
    uniformity and its applications in goodness-of-fit evaluation and multiple sample
    comparison. *Statistics and Computing* 32, 32.

    Examples
    --------
    AR(1) draws with correlation 0.8 have an ESS of about ``(1 - 0.8) / (1 + 0.8)``
    of the draws, so about every 9th is kept (a little less often: the factor
    follows the smallest of eight noisy estimates); independent draws keep all or
    every second draw:

    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> iid = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(4, 2000)))})
    >>> rank_thinning_factor(iid) <= 2
    True
    >>> ar = np.empty((4, 2000)); ar[:, 0] = rng.normal(size=4)
    >>> for t in range(1, 2000):
    ...     ar[:, t] = 0.8 * ar[:, t - 1] + rng.normal(size=4) * 0.6
    >>> 8 <= rank_thinning_factor(xr.Dataset({"x": (("chain", "draw"), ar)})) <= 16
    True
    """
    import arviz as az

    smallest = np.inf
    for chain in range(posterior.sizes["chain"]):
        one_chain = posterior.isel(chain=[chain])
        for method in ("bulk", "tail"):
            ess = az.ess(one_chain, method=method).to_array().values
            smallest = np.nanmin(ess, initial=smallest)
    if not np.isfinite(smallest) or smallest <= 0:
        return 1
    return max(1, int(np.ceil(posterior.sizes["draw"] / smallest)))


def comparison_figure(comparison_rows: Sequence[Any]) -> bytes:
    """The ``compare`` figure of :func:`draw_figures` alone, as PNG bytes.

    The reanalysis draws the other figures before the comparison is complete (they
    do not need it) and this one after.
    """
    return figure_bytes(_comparison_figure(comparison_rows))


def _comparison_figure(comparison_rows: Sequence[Any]) -> Any:
    """Leave-one-mother-out elpd with its SE, one panel per prediction target."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 0.6 + 0.45 * len(comparison_rows)), layout="constrained")
    targets = list(dict.fromkeys(r.target for r in comparison_rows))
    axes = np.atleast_1d(fig.subplots(len(targets), 1, squeeze=False)[:, 0])
    for axis, target in zip(axes, targets, strict=True):
        group = [r for r in comparison_rows if r.target == target]
        y = np.arange(len(group))[::-1]
        axis.errorbar(
            [r.elpd for r in group],
            y,
            xerr=[r.se for r in group],
            fmt="o",
            color="#4c72b0",
            capsize=3,
        )
        axis.set_yticks(y, [f"{r.label} (w={r.weight:.2f})" for r in group], fontsize=8)
        axis.set_title(f"predicts: {target}", fontsize=9)
    axes[-1].set_xlabel("elpd, leave-one-mother-out (± SE)")
    return fig


def delta_density_curves(
    posterior: Any, delta_range: tuple[float, float] = DELTA_RANGE, grid_len: int = 512
) -> dict[str, Any]:
    r"""The prior and posterior densities of delta that the published-facts figure draws.

    Each density is ArviZ's KDE (``arviz_stats`` ``kde``, boundary-corrected) of the
    draws inside ``delta_range``, scaled by their share, so that the area under each
    drawn curve is the probability of the plotted range and

    .. math:: P(\delta > c) \approx \int_c^{b} \hat f(x)\,dx + P(\delta > b)

    for ``c`` inside the range ``[a, b]``; the shares outside the range are returned
    (and stated in the caption) rather than hidden by a clipped axis.

    Parameters
    ----------
    posterior : ReconstructionPosterior
        The headline's reconstruction posterior
        (:func:`milkbayes.reanalysis.headline.headline_posterior`): ``draws["delta"]``
        are the accepted proposals, ``prior_delta`` all proposals.
    delta_range : (float, float), default :data:`DELTA_RANGE`
    grid_len : int, default 512
        Points of the KDE grid (bin centres of the range).

    Returns
    -------
    dict
        ``grid``; ``prior`` and ``posterior`` (densities on the grid, scaled by the
        share inside the range); ``prior_below``, ``prior_above``, ``posterior_below``,
        ``posterior_above`` (shares of the draws outside the range); ``range``,
        ``n_accepted``, ``n_proposals``.

    Examples
    --------
    >>> from milkbayes.reanalysis.headline import published_facts_posterior
    >>> curves = delta_density_curves(published_facts_posterior(2000, 1))
    >>> bool(curves["posterior_below"] < curves["prior_below"])
    True
    """
    from arviz_stats.base import array_stats

    low, high = (float(x) for x in delta_range)
    if not low < high:
        raise ValueError(f"delta_range must be increasing (got {delta_range})")
    out: dict[str, Any] = {"range": (low, high)}
    for name, draws in (
        ("prior", np.asarray(posterior.prior_delta, dtype=float)),
        ("posterior", posterior.draws["delta"].to_numpy(dtype=float)),
    ):
        inside = draws[(draws >= low) & (draws <= high)]
        out[f"{name}_below"] = float((draws < low).mean())
        out[f"{name}_above"] = float((draws > high).mean())
        grid, pdf, _ = array_stats.kde(inside, custom_lims=(low, high), grid_len=grid_len)
        out["grid"] = np.asarray(grid, dtype=float)
        out[name] = np.asarray(pdf, dtype=float) * inside.size / draws.size
    out["n_accepted"] = int(posterior.n_accepted)
    out["n_proposals"] = int(posterior.n_proposals)
    return out


def published_facts_figure(curves: Mapping[str, Any]) -> bytes:
    """The prior and the posterior of delta given the published facts, as PNG bytes.

    Parameters
    ----------
    curves : mapping
        :func:`delta_density_curves`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from milkbayes.sensitivity.prior_robustness import OKABE_ITO

    grid = curves["grid"]
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(grid, curves["prior"], color=OKABE_ITO[0], linestyle="--", label="prior")
    ax.plot(
        grid,
        curves["posterior"],
        color=OKABE_ITO[5],
        linewidth=2,
        label="given the published facts",
    )
    ax.fill_between(grid, curves["posterior"], color=OKABE_ITO[5], alpha=0.15, linewidth=0)
    ax.axvline(
        COHEN_MEDIUM, color=OKABE_ITO[1], linestyle=":", linewidth=1.2, label="δ = 0.5 (medium)"
    )
    ax.axvline(
        COHEN_LARGE, color=OKABE_ITO[6], linestyle="-.", linewidth=1.2, label="δ = 0.8 (large)"
    )
    ax.axvline(0.0, color="grey", linewidth=0.6)
    ax.set_xlim(*curves["range"])
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("standardised effect δ (mean change / SD of the changes)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)
    return figure_bytes(fig)


def _percent(x: float) -> str:
    """A share as the report writes it: 9.4 %, 0.02 %, or 0 %."""
    if x == 0:
        return "0 %"
    return f"{100 * x:.1f} %" if x >= 0.001 else f"{100 * x:.2g} %"


def published_facts_caption(curves: Mapping[str, Any]) -> str:
    """The caption of :func:`published_facts_figure`, with the shares beyond its range.

    Examples
    --------
    >>> from milkbayes.reanalysis.headline import published_facts_posterior
    >>> curves = delta_density_curves(published_facts_posterior(2000, 1))
    >>> "beyond" in published_facts_caption(curves)
    True
    """
    low, high = curves["range"]
    return (
        "The standardised effect δ before the published facts (dashed: the prior of "
        "the reconstruction, a Cauchy for a volume) and given them alone (solid: rejection ABC, "
        f"{curves['n_accepted']:,} of {curves['n_proposals']:,} simulated studies "
        'reproduced n = 24, the five percentages and SPSS\'s "p = 0.000" with a rise). '
        "It rests on no single reconstruction's measurements. Densities are ArviZ kernel density "
        f"estimates, drawn only on [{low:g}, {high:g}]: the Cauchy tails run beyond, "
        f"{_percent(curves['posterior_above'])} of the posterior and "
        f"{_percent(curves['prior_above'])} of the prior lie above {high:g}, "
        f"{_percent(curves['posterior_below'])} of the posterior and "
        f"{_percent(curves['prior_below'])} of the prior below {low:g}. Vertical lines: "
        "δ = 0.5 and δ = 0.8, Cohen's medium and large effects."
    )
