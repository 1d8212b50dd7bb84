"""The batched posterior predictive draws are PyMC's own, value for value.

:func:`milkbayes.engine.predictive.add_posterior_predictive` draws for every posterior
draw at once; the reference is PyMC's ``sample_posterior_predictive`` (one call per
draw) with the same seed, run on the same posterior: the draws, their dimensions and
coordinates must be identical, for a normal and a Student-t likelihood, a
hierarchical and a one-level model, and a custom bivariate random variable (whose
post values carry a sum rounded differently in the batch: equal to 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from milkbayes.datasets import load_bundled
from milkbayes.engine import predictive
from milkbayes.engine.cache import prepared_model
from milkbayes.engine.fit import fit, load_model, resolve_prior


@pytest.mark.parametrize(
    "model, likelihood",
    [
        ("paired_change", "normal"),
        ("prepost_hierarchical", "student_t"),
        ("prepost_bivariate", "normal"),
    ],
)
def test_batched_draws_equal_pymcs_loop(model, likelihood):
    study = load_bundled("volume_ml")
    result = fit(
        model,
        study,
        likelihood=likelihood,
        draws=30,
        tune=30,
        chains=2,
        seed=3,
        posterior_predictive=False,
        log_likelihood=False,
    )
    module = load_model(model)
    entry, _, _ = prepared_model(
        module, result.inputs, resolve_prior("neutral", study, module.NAME), likelihood
    )
    batched = predictive.add_posterior_predictive(result.tree.copy(), entry.model, 11)
    looped = predictive._looped_predictive(result.tree, entry.model, 11)
    got = batched["posterior_predictive"].to_dataset()
    expected = looped["posterior_predictive"].to_dataset()
    if model == "prepost_bivariate":
        # its post mean adds the subgroup terms, a sum the batched kernel rounds
        # differently (last bits); the pre values are exact
        xr.testing.assert_allclose(got.drop_attrs(), expected.drop_attrs(), rtol=1e-12, atol=0)
        xr.testing.assert_identical(
            got.drop_attrs().isel(time=0), expected.drop_attrs().isel(time=0)
        )
    else:
        xr.testing.assert_identical(got.drop_attrs(), expected.drop_attrs())
    assert got.sizes["chain"] == 2 and got.sizes["draw"] == 30
    name = next(iter(expected.data_vars))
    assert np.unique(got[name].values).size > got[name].size // 2  # draws, not copies
    xr.testing.assert_identical(
        batched["observed_data"].to_dataset().drop_attrs(),
        looped["observed_data"].to_dataset().drop_attrs(),
    )


def test_a_graph_that_cannot_be_batched_falls_back_to_the_loop(monkeypatch):
    study = load_bundled("volume_ml")
    result = fit(
        "paired_change", study, draws=20, tune=20, chains=1, seed=4, posterior_predictive=False
    )
    module = load_model("paired_change")
    entry, _, _ = prepared_model(
        module, result.inputs, resolve_prior("neutral", study, module.NAME), "normal"
    )

    def refuse(*args, **kwargs):
        raise NotImplementedError("no batched version of this graph")

    monkeypatch.setattr(predictive, "_vectorised_predictive", refuse)
    tree = predictive.add_posterior_predictive(result.tree.copy(), entry.model, 5)
    looped = predictive._looped_predictive(result.tree, entry.model, 5)
    xr.testing.assert_identical(
        tree["posterior_predictive"].to_dataset().drop_attrs(),
        looped["posterior_predictive"].to_dataset().drop_attrs(),
    )
