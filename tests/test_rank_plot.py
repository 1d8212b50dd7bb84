"""The report's rank plot thins autocorrelated chains before ArviZ's uniformity test.

The truth is known by construction: AR(1) chains x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t
all target N(0, 1), and their effective sample size is n (1 - rho) / (1 + rho).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from milkbayes.reanalysis.figures import chain_figures, rank_thinning_factor


def ar1_chains(rng, rho, chains=4, draws=1000, shift=None):
    """AR(1) chains with stationary law N(0, 1); ``shift[c]`` is added to chain ``c``."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(size=chains)
    noise = rng.normal(size=(chains, draws)) * np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    if shift is not None:
        x += np.asarray(shift)[:, None]
    return x


def as_posterior(**arrays):
    return xr.Dataset(
        {name: (("chain", "draw"), values) for name, values in arrays.items()},
        coords={"chain": np.arange(4), "draw": np.arange(next(iter(arrays.values())).shape[1])},
    )


def uniformity_p(posterior, factor):
    """ArviZ's multi-chain uniformity test on every ``factor``-th draw, as the plot runs it."""
    thinned = posterior.azstats.thin(sample_dims=["draw"], factor=factor)
    ranks = thinned.azstats.compute_ranks(dim=["chain", "draw"], relative=True)
    p_values, _, _ = ranks.azstats.mchain_uniformity_test(dim=["chain", "draw"])
    return {name: float(value) for name, value in p_values.data_vars.items()}


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_thinning_factor_follows_the_ar1_effective_sample_size(rho):
    rng = np.random.default_rng(11)
    posterior = as_posterior(x=ar1_chains(rng, rho, draws=4000))
    closed_form = (1 + rho) / (1 - rho)  # draws per effective sample
    # tail ESS is noisier and smaller than bulk ESS, and the factor is rounded up
    assert closed_form * 0.8 <= rank_thinning_factor(posterior) <= closed_form * 1.6 + 1


def test_the_smallest_ess_among_the_plotted_variables_sets_the_factor():
    rng = np.random.default_rng(12)
    mixed = as_posterior(fast=rng.normal(size=(4, 2000)), slow=ar1_chains(rng, 0.8, draws=2000))
    assert rank_thinning_factor(mixed) == rank_thinning_factor(mixed[["slow"]])
    assert rank_thinning_factor(mixed[["fast"]]) <= 2


def test_constant_draws_are_not_thinned():
    assert rank_thinning_factor(as_posterior(x=np.ones((4, 500)))) == 1


def test_thinned_uniformity_test_keeps_its_level_on_well_mixed_autocorrelated_chains():
    rng = np.random.default_rng(13)
    alpha = 0.01  # the rank plot's level (envelope_prob 0.99)
    posterior = as_posterior(**{f"v{i}": ar1_chains(rng, 0.7) for i in range(20)})
    factor = rank_thinning_factor(posterior)
    unthinned = np.array(list(uniformity_p(posterior, 1).values()))
    thinned = np.array(list(uniformity_p(posterior, factor).values()))
    # without thinning the test flags chains that all target the same law ...
    assert (unthinned < alpha).mean() >= 0.2
    # ... thinned by the ESS it stays near its level
    assert (thinned < alpha).mean() <= 0.05


def test_thinned_uniformity_test_still_flags_a_chain_that_disagrees():
    rng = np.random.default_rng(14)
    posterior = as_posterior(x=ar1_chains(rng, 0.7, shift=[0.0, 0.0, 0.0, 0.6]))
    assert uniformity_p(posterior, rank_thinning_factor(posterior))["x"] < 0.01


def test_chain_figures_draw_the_thinned_rank_plot():
    rng = np.random.default_rng(15)
    posterior = as_posterior(effect=ar1_chains(rng, 0.6), sigma=ar1_chains(rng, 0.3))
    figures = chain_figures(xr.DataTree.from_dict({"posterior": posterior}))
    assert set(figures) == {"trace", "rank"}
    assert all(png.startswith(b"\x89PNG") for png in figures.values())
