"""Matplotlib figures of the simulation studies, for reports and notebooks.

Every function returns a :class:`matplotlib.figure.Figure` and draws nothing on
screen; save it with ``fig.savefig(path)``.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from milkbayes.simulate.sbc import SBCResult
>>> r = SBCResult(model="m", likelihood="normal", prior="neutral", widen=1.0, n_sims=100,
...               L=99, ranks={"delta": tuple(range(100))}, chi2={"delta": 0.0},
...               p_value={"delta": 1.0}, bins=20, alpha=0.05, passed=True, divergences=0)
>>> fig = plot_sbc_ranks(r)
>>> len(fig.axes)
2
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _figure(ncols: int = 1, width: float = 4.0, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def plot_sbc_ranks(result, band: float = 0.99):
    """Rank histograms of an SBC study, and the ECDF differences with their bands.

    Top row: the ranks binned, with the grey band holding ``band`` of the bin counts
    of uniform ranks: Binomial(N, 1/B) quantiles (Talts et al. 2018, figure 1).
    Bottom row: the ECDF of the fractional ranks minus the uniform CDF, inside the
    simultaneous band that decides the study (Säilynoja et al. 2022), at the
    study's level ``1 - alpha / k``.
    """
    from matplotlib.figure import Figure

    from milkbayes.simulate.sbc import ecdf_uniformity

    names = list(result.ranks)
    fig = Figure(figsize=(4.0 * len(names), 5.6), layout="constrained")
    grid = fig.subplots(2, len(names), squeeze=False)
    low, high = stats.binom.interval(band, result.n_sims, 1 / result.bins)
    level = 1.0 - result.alpha / len(names)
    for column, name in enumerate(names):
        axis, lower_axis = grid[0][column], grid[1][column]
        ranks = np.asarray(result.ranks[name])
        edges = np.linspace(0, result.L + 1, result.bins + 1)
        axis.axhspan(low, high, color="0.85", zorder=0)
        axis.axhline(result.n_sims / result.bins, color="0.5", lw=0.8)
        inside = result.ecdf_inside.get(name, result.passed)
        # Okabe-Ito blue / vermillion: distinguishable with colour-blindness
        colour = "#0072B2" if inside else "#D55E00"
        axis.hist(ranks, bins=edges, color=colour, zorder=1)
        axis.set_title(f"{name}: chi-square p = {result.p_value[name]:.3g}", fontsize=9)
        axis.set_xlabel(f"rank of the true value among {result.L} draws")
        diff = ecdf_uniformity(ranks, result.L, level)
        lower_axis.fill_between(diff["x"], diff["lower_diff"], diff["upper_diff"], color="0.85")
        lower_axis.plot(diff["x"], diff["ecdf_diff"], color=colour)
        lower_axis.axhline(0.0, color="0.5", lw=0.8)
        lower_axis.set_xlabel("fractional rank")
        lower_axis.set_title(
            f"ECDF difference: {'inside' if inside else 'OUTSIDE'} the {level:.3g} band",
            fontsize=9,
        )
    grid[0][0].set_ylabel("simulations")
    grid[1][0].set_ylabel("ECDF - uniform CDF")
    verdict = "passes" if result.passed else "FAILS"
    fig.suptitle(
        f"SBC of {result.model} (simulating prior x{result.widen:g}): {verdict}", fontsize=10
    )
    return fig


def plot_power(result):
    """Power (or assurance) of each decision rule with 95 % Monte Carlo intervals."""
    fig, (axis,) = _figure(width=4.5)
    rules = list(result.power)
    values = np.array([result.power[r] for r in rules])
    errors = 1.96 * np.array([result.mc_se[r] for r in rules])
    axis.bar(rules, values, yerr=errors, color="C0", capsize=4)
    axis.set_ylim(0, 1)
    label = "assurance" if result.design_prior else "power"
    axis.set_ylabel(label)
    axis.set_title(
        f"{label} with n = {result.settings['n']} ({result.n_sims} simulations)", fontsize=10
    )
    return fig


def plot_power_curve(curve):
    """Power of each rule against the number of mothers, with 95 % Monte Carlo bands.

    ``curve`` is :func:`milkbayes.simulate.design.power_curve`'s table. Okabe-Ito
    colours (readable with colour-vision deficiencies); the dotted line marks 0.8.
    """
    palette = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000")
    fig, (axis,) = _figure(width=5.5, height=3.8)
    for colour, (rule, rows) in zip(palette, curve.groupby("rule", sort=False), strict=False):
        rows = rows.sort_values("n")
        axis.plot(rows["n"], rows["power"], "o-", color=colour, ms=3, label=rule)
        axis.fill_between(
            rows["n"],
            rows["power"] - 1.96 * rows["mc_se"],
            rows["power"] + 1.96 * rows["mc_se"],
            color=colour,
            alpha=0.2,
            lw=0,
        )
    axis.axhline(0.8, color="grey", lw=0.7, ls=":")
    axis.set(xlabel="mothers in the massage arm", ylabel="power (significant and favourable)")
    axis.set_ylim(0, 1)
    axis.legend(frameon=False, fontsize=8)
    return fig


def plot_type_sm(simulated, closed_form):
    """Type S rate and exaggeration ratio: simulation beside the closed form."""
    fig, axes = _figure(2, width=3.2)
    for axis, field, label in (
        (axes[0], "type_s", "Type S rate"),
        (axes[1], "exaggeration", "exaggeration ratio (Type M)"),
    ):
        values = [getattr(simulated, field)] + (
            [getattr(closed_form, field)] if closed_form else []
        )
        axis.bar(["simulated", "closed form"][: len(values)], values, color=["C0", "C1"])
        axis.set_title(label, fontsize=10)
    return fig


def plot_rtm(result):
    """Mean change after enrolment for low output: one group against control-adjusted."""
    fig, (axis,) = _figure(width=4.5)
    labels = ["massage arm\n(one-group design)"]
    values = [result.mean_change_massage]
    errors = [1.96 * result.mc_se_massage]
    if result.mean_difference is not None:
        labels.append("massage - control")
        values.append(result.mean_difference)
        errors.append(1.96 * result.mc_se_difference)
    axis.bar(labels, values, yerr=errors, color=["C3", "C2"][: len(values)], capsize=4)
    axis.axhline(result.true_effect, color="k", ls="--", lw=1, label="true effect")
    axis.axhline(
        result.expected_change,
        color="C3",
        ls=":",
        lw=1,
        label="closed form E[post - pre | pre < c]",
    )
    axis.set_ylabel("mean change")
    axis.legend(fontsize=8, loc="center right")
    axis.set_title(f"enrolled when pre < {result.cutoff:g}", fontsize=10)
    return fig


def plot_precision(points, half_width: float):
    """Simulated mean half-width of the 95 % interval against the sample size."""
    fig, (axis,) = _figure(width=4.5)
    sizes = [p.n for p in points]
    axis.plot(sizes, [p.mean_half_width for p in points], "o-", label="mean half-width")
    axis.axhline(half_width, color="k", ls="--", lw=1, label="target")
    axis.set_xlabel("mothers")
    axis.set_ylabel("half-width of the 95 % interval")
    axis.legend(fontsize=8)
    return fig
